//! Human-readable reports: property verdicts, counterexamples as numbered steps and as a
//! mermaid `sequenceDiagram`, and the profile matrix.

use std::fmt::Write;

use tokenlife_model::check::{CheckReport, PropertyReport, Status};
use tokenlife_model::explore::TraceStep;
use tokenlife_model::model::{Group, Kind};
use tokenlife_model::spec::{Action, Actor, Outcome, TokenRef};
use tokenlife_model::ClientType;

fn who(actor: Actor) -> &'static str {
    match actor {
        Actor::Client(ClientType::Confidential) => "Confidential",
        Actor::Client(ClientType::Public) => "Public",
        Actor::Attacker => "Attacker",
    }
}

/// A counterexample or witness as a mermaid `sequenceDiagram` block.
pub fn mermaid(steps: &[TraceStep]) -> String {
    let mut m = String::from("```mermaid\nsequenceDiagram\n");
    m.push_str("    participant Confidential\n    participant Public\n    participant Attacker\n");
    m.push_str("    participant Server as Authorization server\n    participant Resource\n");
    for (i, s) in steps.iter().enumerate() {
        let n = i + 1;
        let (from, to) = match s.action {
            Action::Authorize { client, .. } => (who(Actor::Client(client)), "Server"),
            Action::Refresh { by, .. } | Action::Revoke { by, .. } => (who(by), "Server"),
            Action::RefreshLost { .. }
            | Action::ReplayCode { .. }
            | Action::Introspect { .. }
            | Action::Unproven {
                token: TokenRef::Refresh(_),
                ..
            } => ("Confidential", "Server"),
            Action::UseAccess { .. }
            | Action::Unproven {
                token: TokenRef::Access(_),
                ..
            } => ("Confidential", "Resource"),
            Action::Tick | Action::Advance { .. } | Action::Restart => {
                let _ = writeln!(m, "    Note over Server: {n}. {}", s.action);
                continue;
            }
            Action::Steal { .. } => {
                let _ = writeln!(m, "    Note over Attacker: {n}. {}", s.action);
                continue;
            }
        };
        // The sender of a lost, replayed or introspection request depends on the grant; the
        // text of the step names it.
        let _ = writeln!(m, "    {from}->>{to}: {n}. {}", s.action);
        if matches!(s.action, Action::RefreshLost { .. }) {
            let _ = writeln!(m, "    {to}--x{from}: {} (lost)", s.outcome);
        } else if s.outcome != Outcome::Nothing {
            let _ = writeln!(m, "    {to}-->>{from}: {}", s.outcome);
        }
    }
    m.push_str("```\n");
    m
}

/// Numbered steps.
pub fn steps(steps: &[TraceStep], indent: &str) -> String {
    let mut out = String::new();
    for (i, s) in steps.iter().enumerate() {
        let _ = writeln!(out, "{indent}{}. {} → {}", i + 1, s.action, s.outcome);
    }
    out
}

fn mark(p: &PropertyReport) -> &'static str {
    match p.status {
        Status::Holds | Status::Discovered => "✓",
        Status::Violated if p.group == Group::Characteristic => "✗",
        Status::Violated | Status::Undiscovered => "✗",
        Status::NotApplicable => "-",
    }
}

/// The report of one `check`.
pub fn report(r: &CheckReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "tokenlife check: profile {}, at bound grants={} refreshes={}{}",
        r.profile,
        r.bounds.grants,
        r.bounds.refreshes,
        r.bounds
            .depth
            .map(|d| format!(" depth={d}"))
            .unwrap_or_default()
    );
    let _ = writeln!(
        out,
        "{} unique states in {:.2} s ({:.0} states/s)\n",
        r.unique_states, r.seconds, r.states_per_second
    );
    type Pick = fn(&PropertyReport) -> bool;
    let sections: [(&str, Pick); 3] = [
        ("invariants", |p| {
            p.kind == Kind::Always && p.group == Group::Invariant
        }),
        (
            "characteristics (findings about the policy, not failures)",
            |p| p.kind == Kind::Always && p.group == Group::Characteristic,
        ),
        ("reachable situations (sometimes)", |p| {
            p.kind == Kind::Sometimes
        }),
    ];
    for (title, pick) in sections {
        let _ = writeln!(out, "{title}");
        for p in r.properties.iter().filter(|p| pick(p)) {
            let _ = writeln!(
                out,
                "  {} {:<14} {} [{}]",
                mark(p),
                p.status.as_str(),
                p.name,
                p.clause
            );
            if p.status == Status::Violated {
                if let Some(c) = &p.counterexample {
                    let _ = writeln!(out, "      shortest counterexample, {} steps:", c.len());
                    out.push_str(&steps(c, "      "));
                    for line in mermaid(c).lines() {
                        let _ = writeln!(out, "      {line}");
                    }
                }
            }
        }
        out.push('\n');
    }
    let failures: Vec<&PropertyReport> = r.properties.iter().filter(|p| p.is_failure()).collect();
    if failures.is_empty() {
        let _ = writeln!(
            out,
            "result: pass — every invariant holds and every applicable situation is reachable at bound {}/{}",
            r.bounds.grants, r.bounds.refreshes
        );
    } else {
        let _ = writeln!(
            out,
            "result: FAIL — {} propert{} failed:",
            failures.len(),
            if failures.len() == 1 { "y" } else { "ies" }
        );
        for p in failures {
            let _ = writeln!(out, "  - {} ({})", p.name, p.status.as_str());
        }
    }
    out
}

fn cell(p: &PropertyReport) -> String {
    let n = p.counterexample.as_ref().map_or(0, Vec::len);
    match p.status {
        Status::Holds => "✓".into(),
        Status::Violated => format!("✗{n}"),
        Status::Discovered => format!("✓@{n}"),
        Status::Undiscovered => "MISSING".into(),
        Status::NotApplicable => "-".into(),
    }
}

/// The matrix of `check --all-profiles`: properties down, profiles across.
pub fn matrix(reports: &[CheckReport]) -> String {
    let mut out = String::new();
    let Some(first) = reports.first() else {
        return out;
    };
    let _ = writeln!(
        out,
        "tokenlife check --all-profiles, at bound grants={} refreshes={}",
        first.bounds.grants, first.bounds.refreshes
    );
    let _ = writeln!(out, "✓ holds · ✗n violated, shortest counterexample n steps · ✓@n reachable in n steps · - not applicable\n");
    let tagged = |p: &PropertyReport| {
        let tag = match (p.kind, p.group) {
            (Kind::Sometimes, _) => "(sometimes) ",
            (_, Group::Characteristic) => "(characteristic) ",
            _ => "",
        };
        format!("{tag}{}", p.name)
    };
    let width = first
        .properties
        .iter()
        .map(|p| tagged(p).chars().count())
        .max()
        .unwrap_or(10)
        + 2;
    let _ = write!(out, "{:<width$}", "property");
    for r in reports {
        let _ = write!(out, "{:>12}", r.profile);
    }
    out.push('\n');
    for (i, p) in first.properties.iter().enumerate() {
        let _ = write!(out, "{:<width$}", tagged(p));
        for r in reports {
            let _ = write!(
                out,
                "{:>12}",
                r.properties.get(i).map(cell).unwrap_or_default()
            );
        }
        out.push('\n');
    }
    let _ = write!(out, "{:<width$}", "unique states");
    for r in reports {
        let _ = write!(out, "{:>12}", r.unique_states);
    }
    out.push('\n');
    let failed: Vec<&str> = reports
        .iter()
        .filter(|r| !r.passed())
        .map(|r| r.profile.as_str())
        .collect();
    if failed.is_empty() {
        let _ = writeln!(out, "\nresult: pass — every invariant holds and every applicable situation is reachable under every profile");
    } else {
        let _ = writeln!(out, "\nresult: FAIL under {}", failed.join(", "));
    }
    out
}
