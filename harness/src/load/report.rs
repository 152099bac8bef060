//! What a load run found: throughput, latency, the checker's cost, and every violation with
//! its family's minimal history as a readable timeline and a mermaid sequence diagram.
//!
//! The minimal history of a violation is the requests that show it, the requests that
//! issued the tokens they name, and the crash-restarts in between; times are milliseconds
//! from the family's code exchange. No token value appears anywhere: tokens are named
//! `RT0`, `AT3` in the order their family first saw them.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::check::Violation;
use super::driver::Restart;
use super::history::{Actor, History, Micros, Request, Response};
use crate::checks::Check;

/// How many violations are written out in full (all are counted).
pub const SHOWN: usize = 20;

/// One violation, written out.
#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    /// The check id, from the shared catalogue (`race.linearizable`).
    pub id: &'static str,
    /// The clause it breaks.
    pub clause: &'static str,
    /// The check, as a sentence.
    pub check: &'static str,
    /// The family.
    pub family: u32,
    /// What happened.
    pub message: String,
    /// The family's minimal history, one line per event.
    pub timeline: Vec<String>,
    /// The same as a mermaid `sequenceDiagram` (without the code fence).
    pub mermaid: String,
}

/// What a load run found.
#[derive(Clone, Debug, Serialize)]
pub struct LoadReport {
    /// The tool and its version.
    pub tool: String,
    /// What was loaded and how.
    #[serde(flatten)]
    pub header: Header,
    /// Seconds the load ran.
    pub seconds: f64,
    /// Requests recorded.
    pub requests: u64,
    /// Requests per second.
    pub requests_per_second: f64,
    /// Refresh grants sent.
    pub refreshes: u64,
    /// Refresh grants answered 200.
    pub refreshes_ok: u64,
    /// Refresh grants answered 200, per second.
    pub refreshes_per_second: f64,
    /// Median latency of an answered refresh grant.
    pub p50_ms: f64,
    /// 99th percentile latency of an answered refresh grant.
    pub p99_ms: f64,
    /// The slowest answered refresh grant.
    pub max_ms: f64,
    /// Requests without an answer (unknown outcome).
    pub unknown: u64,
    /// Requests that could not connect (a server down between a crash and its restart).
    pub not_sent: u64,
    /// Families whose start failed (authorization or code exchange).
    pub setup_failures: u64,
    /// The first few of those failures.
    pub setup_errors: Vec<String>,
    /// Histories checked: one per token family.
    pub families: usize,
    /// Requests in those histories.
    pub operations_checked: usize,
    /// Seconds the checker took for all of them.
    pub checker_seconds: f64,
    /// Histories checked per second.
    pub histories_per_second: f64,
    /// Requests checked per second.
    pub operations_per_second: f64,
    /// Crash-restarts survived.
    pub restarts: usize,
    /// The longest time a crashed instance took to accept requests again, in ms.
    pub max_restart_ms: f64,
    /// Violations found.
    pub violations: usize,
    /// Families with a violation.
    pub violating_families: usize,
    /// Violations by check id.
    pub by_check: BTreeMap<&'static str, usize>,
    /// The first violations, written out (at most [`SHOWN`]; the first of each check first).
    pub findings: Vec<Finding>,
    /// The 1-minute load average at the end.
    pub load_average: Option<f64>,
    /// CPU the load generator's threads used, in cores (CPU seconds per second), when the
    /// caller measured it.
    pub load_generator_cores: Option<f64>,
}

/// The descriptive part of a report, from whoever set the load up.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Header {
    /// What was loaded.
    pub target: String,
    /// How the server ran.
    pub server: String,
    /// The policy profile the histories were judged by.
    pub profile: String,
    /// Injected defects (reference server only).
    pub defects: Vec<String>,
    /// The seed of every random choice.
    pub seed: u64,
    /// Live families at any time.
    pub live_families: usize,
    /// Concurrent clients.
    pub concurrency: usize,
}

/// The `q`-quantile of sorted microseconds, in milliseconds.
pub fn quantile_ms(sorted_us: &[u32], q: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let i = ((sorted_us.len() as f64 * q).ceil() as usize).clamp(1, sorted_us.len()) - 1;
    f64::from(sorted_us[i]) / 1000.0
}

fn ms(t: Micros, origin: Micros) -> String {
    format!("{:+.2} ms", (t as f64 - origin as f64) / 1000.0)
}

/// The requests a violation's timeline shows: its witnesses, the requests that issued the
/// tokens they name, and the code exchange; in sending order.
pub fn minimal(h: &History, v: &Violation) -> Vec<usize> {
    let issuer_of = |want: &dyn Fn(Response) -> bool| {
        h.ops
            .iter()
            .enumerate()
            .filter(|(_, o)| want(o.response))
            .min_by_key(|(_, o)| o.invoked)
            .map(|(i, _)| i)
    };
    let mut keep: Vec<usize> = v.ops.clone();
    for &i in &v.ops {
        let issuer = match h.ops[i].request {
            Request::Refresh(r) | Request::RevokeRefresh(r) | Request::IntrospectRefresh(r) => {
                issuer_of(
                    &|resp| matches!(resp, Response::Tokens { refresh: Some(x), .. } if x == r),
                )
            }
            Request::UseAccess(a) | Request::RevokeAccess(a) => {
                issuer_of(&|resp| matches!(resp, Response::Tokens { access, .. } if access == a))
            }
            Request::Exchange => None,
        };
        keep.extend(issuer);
    }
    keep.extend(h.ops.iter().position(|o| o.request == Request::Exchange));
    keep.sort_by_key(|&i| (h.ops[i].invoked, i));
    keep.dedup();
    keep
}

/// One line per request and per crash-restart in the window, times from the exchange.
pub fn timeline(h: &History, ops: &[usize], restarts: &[Restart], instances: usize) -> Vec<String> {
    let origin = h
        .ops
        .iter()
        .find(|o| o.request == Request::Exchange)
        .map_or(0, |o| o.invoked);
    let last = ops
        .iter()
        .map(|&i| h.ops[i].done().min(h.ops[i].invoked + 60_000_000))
        .max()
        .unwrap_or(origin);
    let mut lines: Vec<(Micros, String)> = Vec::new();
    for &i in ops {
        let o = &h.ops[i];
        let answered = o
            .completed
            .map_or_else(|| "(no answer)".to_string(), |d| ms(d, origin));
        let via = if instances > 1 {
            format!(" [instance {}]", o.instance + 1)
        } else {
            String::new()
        };
        lines.push((
            o.invoked,
            format!(
                "{} → {}  {}{via}: {} → {}",
                ms(o.invoked, origin),
                answered,
                o.actor,
                o.request,
                o.response
            ),
        ));
    }
    for r in restarts
        .iter()
        .filter(|r| r.killed >= origin && r.killed <= last)
    {
        lines.push((
            r.killed,
            format!(
                "{}  instance {} killed (SIGKILL), accepting requests again at {}",
                ms(r.killed, origin),
                r.instance + 1,
                ms(r.back, origin)
            ),
        ));
    }
    lines.sort_by_key(|(t, _)| *t);
    lines.into_iter().map(|(_, l)| l).collect()
}

fn mermaid_text(s: &str) -> String {
    s.replace(['"', ';', '#', ':'], "'").replace('→', "->")
}

fn participant(a: Actor) -> String {
    match a {
        Actor::Client(n) => format!("C{n}"),
        Actor::Attacker => "A".into(),
        Actor::Audit => "Audit".into(),
    }
}

/// A mermaid `sequenceDiagram` of a minimal history: sends and answers in time order.
pub fn mermaid(h: &History, ops: &[usize], restarts: &[Restart]) -> String {
    let origin = h
        .ops
        .iter()
        .find(|o| o.request == Request::Exchange)
        .map_or(0, |o| o.invoked);
    let mut out = String::from("sequenceDiagram\n");
    let mut actors: Vec<Actor> = Vec::new();
    for &i in ops {
        if !actors.contains(&h.ops[i].actor) {
            actors.push(h.ops[i].actor);
        }
    }
    for a in &actors {
        let _ = writeln!(out, "    participant {} as {}", participant(*a), a);
    }
    out.push_str("    participant S as Server\n");
    // (time, order, line): a send before an answer at the same time.
    let mut events: Vec<(Micros, u8, String)> = Vec::new();
    for &i in ops {
        let o = &h.ops[i];
        let p = participant(o.actor);
        events.push((
            o.invoked,
            0,
            format!(
                "    {p}->>S: {} ({})",
                mermaid_text(&o.request.to_string()),
                mermaid_text(&ms(o.invoked, origin))
            ),
        ));
        match o.completed {
            Some(d) => events.push((
                d,
                1,
                format!(
                    "    S-->>{p}: {} ({})",
                    mermaid_text(&o.response.to_string()),
                    mermaid_text(&ms(d, origin))
                ),
            )),
            None => events.push((o.invoked, 1, format!("    S--x{p}: no answer"))),
        }
    }
    let last = events.iter().map(|e| e.0).max().unwrap_or(origin);
    for r in restarts
        .iter()
        .filter(|r| r.killed >= origin && r.killed <= last)
    {
        events.push((
            r.killed,
            2,
            format!(
                "    Note over S: instance {} killed (SIGKILL) and restarted",
                r.instance + 1
            ),
        ));
    }
    events.sort_by_key(|e| (e.0, e.1));
    for (_, _, l) in events {
        out.push_str(&l);
        out.push('\n');
    }
    out
}

/// Writes the first [`SHOWN`] violations out, the first of each check before the rest.
pub fn findings(
    histories: &[History],
    found: &[(usize, Violation)],
    restarts: &[Restart],
    instances: usize,
) -> Vec<Finding> {
    let mut order: Vec<usize> = Vec::new();
    let mut seen: Vec<Check> = Vec::new();
    for (n, (_, v)) in found.iter().enumerate() {
        if !seen.contains(&v.check) {
            seen.push(v.check);
            order.push(n);
        }
    }
    for n in 0..found.len() {
        if order.len() >= SHOWN {
            break;
        }
        if !order.contains(&n) {
            order.push(n);
        }
    }
    order.truncate(SHOWN);
    order
        .into_iter()
        .map(|n| {
            let (h, v) = (&histories[found[n].0], &found[n].1);
            let ops = minimal(h, v);
            Finding {
                id: v.check.id,
                clause: v.check.clause,
                check: v.check.title,
                family: h.family,
                message: v.message.clone(),
                timeline: timeline(h, &ops, restarts, instances),
                mermaid: mermaid(h, &ops, restarts),
            }
        })
        .collect()
}

impl LoadReport {
    /// Whether no violation was found.
    pub fn clean(&self) -> bool {
        self.violations == 0
    }

    /// The report for people.
    pub fn human(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "tokenlife load: {} ({}), profile {}{}, {} live families, {} clients, {:.1} s, seed {}",
            self.header.target,
            self.header.server,
            self.header.profile,
            if self.header.defects.is_empty() {
                String::new()
            } else {
                format!(", DEFECTS {}", self.header.defects.join(", "))
            },
            self.header.live_families,
            self.header.concurrency,
            self.seconds,
            self.header.seed
        );
        let _ = writeln!(
            s,
            "  requests        {} ({:.0}/s); {} without an answer, {} not sent (server down)",
            self.requests, self.requests_per_second, self.unknown, self.not_sent
        );
        let _ = writeln!(
            s,
            "  refresh grants  {} answered 200 of {} ({:.0}/s)   p50 {:.2} ms   p99 {:.2} ms   max {:.2} ms",
            self.refreshes_ok, self.refreshes, self.refreshes_per_second, self.p50_ms, self.p99_ms, self.max_ms
        );
        let _ = writeln!(
            s,
            "  checker         {} histories ({} requests) in {:.1} ms: {:.0} histories/s, {:.0} requests/s",
            self.families,
            self.operations_checked,
            self.checker_seconds * 1000.0,
            self.histories_per_second,
            self.operations_per_second
        );
        if let Some(c) = self.load_generator_cores {
            let _ = writeln!(
                s,
                "  machine         load generator {c:.2} cores{}",
                self.load_average
                    .map(|l| format!(", load average {l:.2} at the end"))
                    .unwrap_or_default()
            );
        }
        if self.restarts > 0 {
            let _ = writeln!(
                s,
                "  restarts        {} crash-restarts (SIGKILL) survived; the slowest back after {:.0} ms",
                self.restarts, self.max_restart_ms
            );
        }
        if self.setup_failures > 0 {
            let _ = writeln!(
                s,
                "  setup           {} families could not start: {}",
                self.setup_failures,
                self.setup_errors.first().map_or("", String::as_str)
            );
        }
        let _ = writeln!(
            s,
            "  violations      {} in {} families{}",
            self.violations,
            self.violating_families,
            if self.by_check.is_empty() {
                String::new()
            } else {
                format!(
                    " ({})",
                    self.by_check
                        .iter()
                        .map(|(k, n)| format!("{k}: {n}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        );
        for f in &self.findings {
            let _ = writeln!(
                s,
                "\nVIOLATION {} ({}) in family {}: {}",
                f.id, f.clause, f.family, f.message
            );
            let _ = writeln!(
                s,
                "  {}; the family's minimal history (ms from its code exchange):",
                f.check
            );
            for l in &f.timeline {
                let _ = writeln!(s, "    {l}");
            }
        }
        if !self.clean() {
            let _ = writeln!(s, "\nreplay with --seed {} (the load is concurrent: a replay is similar, not identical)", self.header.seed);
        }
        s
    }

    /// The Markdown report, with a mermaid diagram per violation.
    pub fn markdown(&self) -> String {
        let mut s = String::from("# tokenlife load\n\n");
        let _ = writeln!(s, "- tool: {}", self.tool);
        let _ = writeln!(
            s,
            "- target: {} ({})",
            self.header.target, self.header.server
        );
        let _ = writeln!(s, "- profile: `{}`", self.header.profile);
        if !self.header.defects.is_empty() {
            let _ = writeln!(s, "- injected defects: {}", self.header.defects.join(", "));
        }
        let _ = writeln!(s, "- seed: {}", self.header.seed);
        let _ = writeln!(
            s,
            "- {} live families, {} clients, {:.1} s\n",
            self.header.live_families, self.header.concurrency, self.seconds
        );
        s.push_str("| figure | value |\n|---|---|\n");
        let rows = [
            (
                "requests",
                format!("{} ({:.0}/s)", self.requests, self.requests_per_second),
            ),
            (
                "refresh grants answered 200",
                format!("{} ({:.0}/s)", self.refreshes_ok, self.refreshes_per_second),
            ),
            (
                "refresh latency",
                format!("p50 {:.2} ms, p99 {:.2} ms", self.p50_ms, self.p99_ms),
            ),
            ("requests without an answer", self.unknown.to_string()),
            (
                "histories checked",
                format!(
                    "{} ({} requests, {:.0} histories/s)",
                    self.families, self.operations_checked, self.histories_per_second
                ),
            ),
            ("crash-restarts", self.restarts.to_string()),
            (
                "violations",
                format!(
                    "{} in {} families",
                    self.violations, self.violating_families
                ),
            ),
        ];
        for (k, v) in rows {
            let _ = writeln!(s, "| {k} | {v} |");
        }
        for f in &self.findings {
            let _ = writeln!(
                s,
                "\n## `{}` in family {}\n\n{} — **{}**: {}\n",
                f.id, f.family, f.clause, f.check, f.message
            );
            s.push_str("```\n");
            for l in &f.timeline {
                let _ = writeln!(s, "{l}");
            }
            s.push_str("```\n\n```mermaid\n");
            s.push_str(&f.mermaid);
            s.push_str("```\n");
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use tokenlife_model::{ClientType, ErrorCode};

    use super::super::history::{At, Op, Rt};
    use super::*;

    fn op(actor: Actor, request: Request, response: Response, from: u64, to: Option<u64>) -> Op {
        Op {
            actor,
            request,
            response,
            invoked: from * 1000,
            completed: to.map(|t| t * 1000),
            instance: 0,
        }
    }

    #[test]
    fn the_timeline_and_the_diagram_show_the_minimal_history() {
        let tokens = |a, r| Response::Tokens {
            access: At(a),
            refresh: Some(Rt(r)),
        };
        let mut h = History::new(3, ClientType::Confidential);
        h.ops = vec![
            op(
                Actor::Client(0),
                Request::Exchange,
                tokens(0, 0),
                10,
                Some(11),
            ),
            op(
                Actor::Client(1),
                Request::UseAccess(At(0)),
                Response::Honoured,
                12,
                Some(13),
            ),
            op(
                Actor::Client(2),
                Request::Refresh(Rt(0)),
                tokens(1, 1),
                14,
                Some(20),
            ),
            op(
                Actor::Attacker,
                Request::Refresh(Rt(0)),
                tokens(2, 2),
                15,
                Some(21),
            ),
            op(
                Actor::Client(2),
                Request::Refresh(Rt(2)),
                Response::Refused {
                    status: 400,
                    error: ErrorCode::InvalidGrant,
                },
                22,
                None,
            ),
        ];
        let v = Violation {
            check: crate::checks::RACE,
            ops: vec![2, 3],
            message: "m".into(),
        };
        let ops = minimal(&h, &v);
        assert_eq!(ops, vec![0, 2, 3]);
        let restarts = [Restart {
            instance: 0,
            killed: 16_000,
            back: 18_000,
        }];
        let t = timeline(&h, &ops, &restarts, 1);
        assert_eq!(
            t,
            vec![
                "+0.00 ms → +1.00 ms  client 0: code exchange → 200 AT0 + RT0",
                "+4.00 ms → +10.00 ms  client 2: refresh RT0 → 200 AT1 + RT1",
                "+5.00 ms → +11.00 ms  attacker: refresh RT0 → 200 AT2 + RT2",
                "+6.00 ms  instance 1 killed (SIGKILL), accepting requests again at +8.00 ms",
            ]
        );
        let m = mermaid(&h, &ops, &restarts);
        assert!(m.contains("participant A as attacker"), "{m}");
        assert!(m.contains("C2->>S: refresh RT0 (+4.00 ms)"), "{m}");
        assert!(m.contains("S-->>A: 200 AT2 + RT2 (+11.00 ms)"), "{m}");
        assert!(m.contains("Note over S: instance 1 killed"), "{m}");
        assert!(m.find("C2->>S").unwrap() < m.find("Note over S").unwrap());
    }

    #[test]
    fn quantiles() {
        let v: Vec<u32> = (1..=1000).collect();
        assert_eq!(quantile_ms(&v, 0.5), 0.5);
        assert_eq!(quantile_ms(&v, 0.99), 0.99);
        assert_eq!(quantile_ms(&[], 0.99), 0.0);
    }
}
