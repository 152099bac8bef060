//! Lifetimes measured against a live target: the probes of
//! `tokenlife_model::infer::lifetimes` run from fresh grants, and the searches that plan
//! them, before any discrete knob is inferred (RFC 6749 §5.1 `expires_in`, RFC 9700 §4.14.2
//! idle timeouts, the browser-apps draft's absolute cap, a grace window).
//!
//! A probe is read by nothing but whether the token was honoured: no lifetime is known
//! yet, so the answers are bound to model ids under a *probe policy* that lets every token
//! live and every refresh rotate or not, and a refusal simply ends the probe.
//!
//! With the endpoint clock a probe moves the clock by exactly its offset and the reading is
//! exact; the clock only moves forward, which does not matter since every probe has its own
//! grant. With a real clock the probes of one round run side by side, each sleeping to its
//! offset, and each reading is widened as [`crate::oracle::StateSet::sync`] widens a
//! deadline: by the declared skew, and by the seconds the exchanges took (the server acted
//! somewhere between sending and answering), so the interval a search ends with always
//! holds the true lifetime.

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

use tokenlife_model::infer::lifetimes::{
    Measured, Probe, RefreshDeadlines, Search, CLAUSE_ACCESS, CLAUSE_GRACE, HORIZON,
};
use tokenlife_model::infer::{Found, Lifetimes};
use tokenlife_model::policy::Rotation;
use tokenlife_model::spec::TokenRef;
use tokenlife_model::state::{AtId, RtId, Scope};
use tokenlife_model::{Action, Actor, ClientType, Policy};

use super::exchange::Exchange;
use super::harness::Harness;
use super::protocol::Protocol;
use super::state::Session;
use super::time::Advance;
use crate::oracle::{Judgement, Observed, StateSet};
use crate::report::ScenarioResult;
use crate::target::ClockConfig;

/// How a search ended.
struct Searched {
    /// Why it stopped before it was done, if it did.
    stop: Option<String>,
    /// Whether the probes' first refresh rotated, as last seen.
    rotated: Option<bool>,
}

/// What one probe gave.
#[derive(Clone, Debug, Default)]
pub struct ProbeRun {
    /// Whether the token was honoured at the probe's offset; `None`: the probe could not
    /// be read (`problem` says why).
    pub alive: Option<bool>,
    /// The reading widened by the clock's uncertainty: alive, the lifetime is longer than
    /// this; dead, at most this.
    pub bound: u32,
    /// Whether the probe's first refresh rotated (a `Renewed` or `Grace` probe).
    pub rotated: Option<bool>,
    /// The grant's `expires_in`.
    pub expires_in: Option<i64>,
    /// Why the probe could not be read.
    pub problem: Option<String>,
    /// HTTP exchanges made (clock moves included).
    pub requests: usize,
}

/// What the measurement gave.
#[derive(Clone, Debug, Default)]
pub struct LifetimesRun {
    /// The lifetimes, one entry per knob measured.
    pub lifetimes: Lifetimes,
    /// HTTP exchanges made.
    pub requests: usize,
    /// Probes run.
    pub probes: usize,
}

/// The policy probes are read under: every token lives, every refresh may rotate or not.
fn probe_policy() -> Policy {
    let mut p = Policy::profile("rfc6749").unwrap_or_default();
    p.rotation_public = Rotation::Any;
    p.rotation_confidential = Rotation::Any;
    p.access_ttl = tokenlife_model::policy::Seconds(HORIZON.saturating_mul(2));
    p.refresh_ttl = None;
    p.absolute_cap = None;
    p.idle_timeout = None;
    p.grace = None;
    p.offline_access_required = false;
    p
}

/// Seconds, whole, rounded down.
fn secs(d: std::time::Duration) -> u32 {
    u32::try_from(d.as_secs()).unwrap_or(u32::MAX)
}

/// One exchange's times.
#[derive(Clone, Copy)]
struct Timed {
    sent: tokio::time::Instant,
    answered: tokio::time::Instant,
}

impl Harness {
    /// The uncertainty of a real clock's reading (its declared skew); `None`: the endpoint
    /// clock, whose readings are exact.
    pub fn real_clock_skew(&self) -> Option<u32> {
        match &self.target.clock {
            ClockConfig::Real { skew } => Some(skew.get()),
            ClockConfig::Endpoint { .. } => None,
        }
    }

    /// Sends `action` and binds what it issued; the answer and its times.
    async fn probe_step(
        &self,
        s: &mut Session<'_>,
        action: Action,
        run: &mut ProbeRun,
    ) -> Result<(Observed, Protocol, Timed), String> {
        let state = s.set.first().clone();
        run.requests += 1;
        let sent = tokio::time::Instant::now();
        let exchanged = self.exchange(s, &state, &action).await;
        let answered = tokio::time::Instant::now();
        let (observed, presented, protocol) = match exchanged {
            Ok(x) => x,
            Err(Exchange::Stop(_)) => return Err(format!("{action} cannot be sent here")),
            Err(Exchange::Unanswered(m) | Exchange::Broken(_, m)) => {
                return Err(format!("{action}: {}", s.redactor.apply(&m)))
            }
        };
        if let Ok(Judgement::Allowed { bindings, .. }) =
            s.set
                .judge(&action, &observed, &s.bindings, presented.as_ref())
        {
            s.bind_new(&bindings);
        }
        Ok((observed, protocol, Timed { sent, answered }))
    }

    /// Waits until `at` seconds after `from` (a real clock), or moves the endpoint clock by
    /// `by` seconds.
    async fn probe_wait(
        &self,
        from: tokio::time::Instant,
        at: u32,
        by: u32,
        run: &mut ProbeRun,
    ) -> Result<(), String> {
        if self.real_clock_skew().is_some() {
            tokio::time::sleep_until(from + std::time::Duration::from_secs(u64::from(at))).await;
            return Ok(());
        }
        if by == 0 {
            return Ok(());
        }
        run.requests += 1;
        self.advance(by).await.map_err(|e| match e {
            Advance::Unanswered(m) | Advance::Refused(m) => m,
        })
    }

    /// Runs one probe from a fresh grant of `client`.
    pub async fn run_probe(&self, probe: Probe, client: ClientType) -> ProbeRun {
        let mut run = ProbeRun::default();
        let mut r = ScenarioResult::new("infer lifetimes", "");
        let mut s = self.session(&mut r);
        s.set = StateSet::new(probe_policy());
        if let Err(why) = self.probe_in(&mut s, probe, client, &mut run).await {
            run.alive = None;
            run.problem = Some(why);
        }
        if self.options.cleanup {
            self.cleanup(&s).await;
        }
        run
    }

    async fn probe_in(
        &self,
        s: &mut Session<'_>,
        probe: Probe,
        client: ClientType,
        run: &mut ProbeRun,
    ) -> Result<(), String> {
        let refresh = |rt: u8| Action::Refresh {
            by: Actor::Client(client),
            rt: RtId(rt),
            scope: None,
        };
        let authorize = Action::Authorize {
            client,
            scope: Scope::ALL,
            offline: true,
        };
        let (o, protocol, grant) = self.probe_step(s, authorize, run).await?;
        if let Protocol::Token(x, _) = &protocol {
            run.expires_in = x.expires_in;
        }
        let has_rt = matches!(
            o,
            Observed::Tokens {
                refresh: Some(_),
                ..
            }
        );
        if !matches!(o, Observed::Tokens { .. }) {
            return Err("the authorization gave no tokens".into());
        }
        // The refresh token the last refresh left the client with.
        let latest = |s: &Session<'_>| s.set.first().n_rts.saturating_sub(1);
        let (anchor, last, alive) = match probe {
            Probe::Access { at } => {
                let action = if self.endpoints.resource.is_some() {
                    Action::UseAccess { at: AtId(0) }
                } else if self.endpoints.introspection.is_some() {
                    Action::Introspect {
                        token: TokenRef::Access(AtId(0)),
                    }
                } else {
                    return Err("the target has neither a resource nor an introspection endpoint: an access token's death cannot be seen".into());
                };
                self.probe_wait(grant.answered, at, at, run).await?;
                let (o, _, t) = self.probe_step(s, action, run).await?;
                let alive = matches!(
                    o,
                    Observed::Resource { ok: true } | Observed::Introspection { active: true }
                );
                (grant, t, alive)
            }
            Probe::Refresh { at } => {
                if !has_rt {
                    return Err("the authorization gave no refresh token".into());
                }
                self.probe_wait(grant.answered, at, at, run).await?;
                let (o, _, t) = self.probe_step(s, refresh(0), run).await?;
                (grant, t, matches!(o, Observed::Tokens { .. }))
            }
            Probe::Renewed { renew, at } => {
                if !has_rt {
                    return Err("the authorization gave no refresh token".into());
                }
                self.probe_wait(grant.answered, renew, renew, run).await?;
                let (o, _, _) = self.probe_step(s, refresh(0), run).await?;
                if !matches!(o, Observed::Tokens { .. }) {
                    return Err(format!("the refresh {renew} s after the grant was refused"));
                }
                run.rotated = Some(latest(s) > 0);
                self.probe_wait(grant.answered, at, at.saturating_sub(renew), run)
                    .await?;
                let (o, _, t) = self.probe_step(s, refresh(latest(s)), run).await?;
                (grant, t, matches!(o, Observed::Tokens { .. }))
            }
            Probe::Grace { at } => {
                if !has_rt {
                    return Err("the authorization gave no refresh token".into());
                }
                let (o, _, first) = self.probe_step(s, refresh(0), run).await?;
                if !matches!(o, Observed::Tokens { .. }) {
                    return Err("the first refresh was refused".into());
                }
                let rotated = latest(s) > 0;
                run.rotated = Some(rotated);
                if !rotated {
                    return Err("the refresh did not rotate: no consumed token to present".into());
                }
                self.probe_wait(first.answered, at, at, run).await?;
                let (o, _, t) = self.probe_step(s, refresh(0), run).await?;
                (first, t, matches!(o, Observed::Tokens { .. }))
            }
        };
        run.alive = Some(alive);
        run.bound = match self.real_clock_skew() {
            None => probe.at(),
            // Alive: the server judged it no earlier than the request left, after a token
            // issued no later than its answer came. Dead: the other way round.
            Some(skew) if alive => {
                secs(last.sent.saturating_duration_since(anchor.answered)).saturating_sub(skew)
            }
            Some(skew) => secs(last.answered.saturating_duration_since(anchor.sent)) + skew,
        };
        Ok(())
    }

    /// Runs `probes` (ascending offsets): one after another with the endpoint clock (it is
    /// shared), side by side with a real clock. Once one finds its token refused, those at
    /// longer offsets tell nothing more and are dropped unanswered (`None`).
    pub async fn run_probes(&self, probes: &[Probe], client: ClientType) -> Vec<Option<ProbeRun>> {
        if self.real_clock_skew().is_none() {
            let mut out = Vec::new();
            let mut refused = false;
            for p in probes {
                if refused {
                    out.push(None);
                    continue;
                }
                let r = self.run_probe(*p, client).await;
                refused = r.alive == Some(false);
                out.push(Some(r));
            }
            return out;
        }
        join_ascending(probes.iter().map(|p| self.run_probe(*p, client)).collect()).await
    }

    /// Runs `search` with probes made by `make` until it is done, the budget is spent
    /// (`deadline`) or a probe cannot be read; the probes and answers.
    async fn search(
        &self,
        search: &mut Search,
        make: impl Fn(u32) -> Probe,
        client: ClientType,
        deadline: std::time::Instant,
        out: &mut LifetimesRun,
        answers: &mut Vec<(Probe, bool)>,
    ) -> Searched {
        // A real clock probes many offsets at once (the later ones dropped once one is
        // refused): a round costs the wall time of its first refusal.
        let width = if self.real_clock_skew().is_some() {
            16
        } else {
            1
        };
        let mut rotated = None;
        loop {
            let mut next = search.next(width);
            if next.is_empty() {
                return Searched {
                    stop: None,
                    rotated,
                };
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if self.real_clock_skew().is_some() {
                next.retain(|x| u64::from(*x) < left.as_secs());
            }
            if next.is_empty() || left.is_zero() {
                return Searched {
                    stop: Some("the budget is spent".into()),
                    rotated,
                };
            }
            let probes: Vec<Probe> = next.iter().map(|x| make(*x)).collect();
            let runs = self.run_probes(&probes, client).await;
            out.probes += runs.iter().flatten().count();
            for (p, r) in probes.iter().zip(runs) {
                let Some(r) = r else { continue };
                out.requests += r.requests;
                rotated = r.rotated.or(rotated);
                match r.alive {
                    Some(alive) => {
                        search.record(p.at(), alive, r.bound);
                        answers.push((*p, alive));
                    }
                    None => {
                        return Searched {
                            stop: r.problem,
                            rotated,
                        }
                    }
                }
            }
        }
    }

    /// Measures the lifetimes of the target's tokens within `deadline` (the budget): the
    /// access token's, the refresh token's first deadline and whether a refresh moves it,
    /// and the grace window when a consumed token is honoured again.
    pub async fn measure_lifetimes(&self, deadline: std::time::Instant) -> LifetimesRun {
        let mut out = LifetimesRun::default();
        let real = self.real_clock_skew();
        let margin = real.unwrap_or(0);
        let client = if self.target.client_of(ClientType::Confidential).is_some() {
            ClientType::Confidential
        } else {
            ClientType::Public
        };
        // What a real clock may wait for one search: a share of what is left (its rounds
        // end by the same share of the budget).
        let limit = |share: u32| match real {
            None => HORIZON,
            Some(_) => {
                let left = secs(deadline.saturating_duration_since(std::time::Instant::now()));
                (left / share).saturating_sub(margin + 1).max(1)
            }
        };
        let until = |share: u32| match real {
            None => deadline,
            Some(_) => {
                let now = std::time::Instant::now();
                now + deadline.saturating_duration_since(now) / share
            }
        };
        // The access token: its `expires_in`, then confirmed.
        let first = self.run_probe(Probe::Access { at: 0 }, client).await;
        out.probes += 1;
        out.requests += first.requests;
        let hint = first
            .expires_in
            .and_then(|e| u32::try_from(e).ok())
            .filter(|e| *e > 0);
        let shown =
            |e: Option<u32>| e.map_or("no expires_in".to_string(), |e| format!("expires_in {e}"));
        let access = match (&first.problem, first.alive) {
            (Some(why), _) => Measured {
                knob: "access_ttl",
                value: hint,
                found: None,
                how: format!("{}; not confirmed: {why}", shown(hint)),
                answers: Vec::new(),
                clause: CLAUSE_ACCESS,
            },
            (None, _) => {
                let lim = limit(3);
                if let Some(e) = hint.filter(|e| *e > lim) {
                    Measured {
                        knob: "access_ttl",
                        value: Some(e),
                        found: Some(Found::Beyond { seconds: lim }),
                        how: format!(
                            "expires_in {e}; not confirmed: longer than the budget allows to wait ({lim} s)"
                        ),
                        answers: Vec::new(),
                        clause: CLAUSE_ACCESS,
                    }
                } else {
                    let mut search = Search::new(hint, lim, margin);
                    let mut answers = Vec::new();
                    let stop = self
                        .search(
                            &mut search,
                            |at| Probe::Access { at },
                            client,
                            until(3),
                            &mut out,
                            &mut answers,
                        )
                        .await
                        .stop;
                    let found = search.found();
                    let value = found.seconds().or(hint);
                    let confirmed = match (hint, found) {
                        (Some(e), f) if f.seconds() == Some(e) => "confirmed".to_string(),
                        (Some(e), Found::Beyond { seconds }) => {
                            format!("alive after {seconds} s, expires_in {e} kept")
                        }
                        (Some(e), f) => format!("the server said {e} s, the probes {f}"),
                        (None, Found::Beyond { seconds }) => format!(
                            "alive after {seconds} s: no figure to write, the declared value is kept"
                        ),
                        (None, f) => format!("measured {f}"),
                    };
                    Measured {
                        knob: "access_ttl",
                        value,
                        found: Some(found),
                        how: format!(
                            "{}; {} by {} probes{}",
                            shown(hint),
                            confirmed,
                            answers.len(),
                            stop.map_or(String::new(), |w| format!(" (stopped: {w})"))
                        ),
                        answers,
                        clause: CLAUSE_ACCESS,
                    }
                }
            }
        };
        out.lifetimes.knobs.push(access);
        // The refresh token's first deadline, unused.
        let mut search = Search::new(None, limit(2), margin);
        let mut answers = Vec::new();
        let stop = self
            .search(
                &mut search,
                |at| Probe::Refresh { at },
                client,
                until(2),
                &mut out,
                &mut answers,
            )
            .await
            .stop;
        let first = search.found();
        if let (Some(why), true) = (&stop, answers.is_empty()) {
            out.lifetimes.knobs.push(Measured {
                knob: "refresh_ttl",
                value: None,
                found: None,
                how: format!("not measured: {why}"),
                answers,
                clause: tokenlife_model::infer::lifetimes::CLAUSE_REFRESH,
            });
            return out;
        }
        // Whether a refresh just before that deadline moves it.
        let res = search.resolution();
        let renewed_at = match first.seconds() {
            Some(f) if real.is_none() && f >= 2 => Some(f - 1),
            Some(f) if real.is_some() && f / 2 > 2 * res => Some(f / 2),
            _ => None,
        }
        .filter(|renew| {
            real.is_none()
                || u64::from(renew + first.seconds().unwrap_or(0) + res)
                    < deadline
                        .saturating_duration_since(std::time::Instant::now())
                        .as_secs()
        });
        // Under rotation a deadline the refresh moved reads two ways (an idle timeout, or a
        // lifetime each successor gets afresh); a client that keeps its token tells them
        // apart, so when the first client rotated and the deadline moved, the other client's
        // renewal is measured too, and read instead when it kept its token.
        let mut renewal_by = None;
        let mut renewed = None;
        if let (Some(renew), Some(f)) = (renewed_at, first.seconds()) {
            let other = match client {
                ClientType::Confidential => ClientType::Public,
                ClientType::Public => ClientType::Confidential,
            };
            for by in [client, other] {
                if by != client && self.target.client_of(by).is_none() {
                    break;
                }
                // Two hypotheses: the deadline stays (absolute) or moves with the refresh.
                let mut s2 = Search::new(Some(f), renew + f + res, margin)
                    .also(renew + f)
                    .from(renew);
                let mut more = Vec::new();
                let searched = self
                    .search(
                        &mut s2,
                        |at| Probe::Renewed { renew, at },
                        by,
                        deadline,
                        &mut out,
                        &mut more,
                    )
                    .await;
                answers.extend(more);
                let this = searched
                    .rotated
                    .filter(|_| !s2.answers().is_empty())
                    .map(|rot| (renew, rot, s2.found()));
                let moved = |found: Found| match found {
                    Found::Exact { seconds } | Found::Within { seconds, .. } => seconds > f,
                    Found::Beyond { .. } | Found::Inconsistent => false,
                };
                match this {
                    Some((_, false, _)) if by != client => {
                        renewed = this;
                        renewal_by = Some(by);
                        break;
                    }
                    _ if by != client => break,
                    Some((_, true, found)) if moved(found) => renewed = this,
                    _ => {
                        renewed = this;
                        break;
                    }
                }
            }
        }
        let d = RefreshDeadlines { first, renewed };
        let mut knobs = Lifetimes::interpret(&d, answers);
        if let (Some(by), Some(k)) = (renewal_by, knobs.first_mut()) {
            let kind = match by {
                ClientType::Confidential => "confidential",
                ClientType::Public => "public",
            };
            k.how.push_str(&format!(
                " (the renewal read from the {kind} client, which kept its token: the other \
                 client rotated, under which an idle timeout and a lifetime each successor \
                 gets afresh give the same answers)"
            ));
        }
        // `refresh_ttl` counts from its anchor; what was measured counts from the issue.
        let access = out.lifetimes.get("access_ttl").and_then(|m| m.value);
        if let (Some(a), Some(k)) = (access, knobs.iter_mut().find(|k| k.knob == "refresh_ttl")) {
            if let Some(l) = k.value.filter(|l| *l > a) {
                k.how.push_str(&format!(
                    "; counted from the issue (refresh_ttl_anchor = \"issue\"): anchored at the access token's expiry the same tokens have refresh_ttl = \"{}s\"",
                    l - a
                ));
            }
        }
        if let (Some(why), Some(k)) = (&stop, knobs.first_mut()) {
            k.how.push_str(&format!(" (stopped: {why})"));
        }
        out.lifetimes.knobs.extend(knobs);
        // The grace window: a consumed token presented again, at once and then later.
        self.measure_grace(first, margin, deadline, &mut out).await;
        out
    }

    async fn measure_grace(
        &self,
        first: Found,
        margin: u32,
        deadline: std::time::Instant,
        out: &mut LifetimesRun,
    ) {
        let mut tried = Vec::new();
        for client in [ClientType::Confidential, ClientType::Public] {
            if self.target.client_of(client).is_none() {
                continue;
            }
            let kind = match client {
                ClientType::Confidential => "confidential",
                ClientType::Public => "public",
            };
            let at_once = self.run_probe(Probe::Grace { at: 0 }, client).await;
            out.probes += 1;
            out.requests += at_once.requests;
            match (at_once.alive, at_once.problem) {
                (Some(false), _) => {
                    out.lifetimes.knobs.push(Measured {
                        knob: "grace_window",
                        value: None,
                        found: None,
                        how: format!(
                            "a rotated refresh token of the {kind} client presented again at once was refused: no grace window"
                        ),
                        answers: vec![(Probe::Grace { at: 0 }, false)],
                        clause: CLAUSE_GRACE,
                    });
                    return;
                }
                (Some(true), _) => {
                    // A window no longer than the token's own deadline can be seen.
                    let cap = first.seconds().unwrap_or(HORIZON);
                    let limit = match self.real_clock_skew() {
                        None => cap,
                        Some(_) => cap.min(
                            secs(deadline.saturating_duration_since(std::time::Instant::now()))
                                .saturating_sub(margin + 1)
                                .max(1),
                        ),
                    };
                    let mut search = Search::new(None, limit, margin);
                    search.record(0, true, 0);
                    let mut answers = vec![(Probe::Grace { at: 0 }, true)];
                    let stop = self
                        .search(
                            &mut search,
                            |at| Probe::Grace { at },
                            client,
                            deadline,
                            out,
                            &mut answers,
                        )
                        .await
                        .stop;
                    let found = search.found();
                    let value = match found {
                        Found::Beyond { seconds } => seconds.max(1),
                        f => f.seconds().unwrap_or(1),
                    };
                    let how = match found {
                        Found::Beyond { seconds } => format!(
                            "a consumed refresh token of the {kind} client was honoured again up to {seconds} s after its rotation, as far as probed{}: written as the window",
                            stop.map_or(String::new(), |w| format!(" ({w})"))
                        ),
                        f => format!(
                            "a consumed refresh token of the {kind} client is honoured again for {f} after its rotation, by {} probes (the reuse count is not measured)",
                            answers.len()
                        ),
                    };
                    out.lifetimes.grace_window = Some(value);
                    out.lifetimes.knobs.push(Measured {
                        knob: "grace_window",
                        value: Some(value),
                        found: Some(found),
                        how,
                        answers,
                        clause: CLAUSE_GRACE,
                    });
                    return;
                }
                (None, why) => tried.push(format!(
                    "{kind} client: {}",
                    why.unwrap_or_else(|| "no answer".into())
                )),
            }
        }
        out.lifetimes.knobs.push(Measured {
            knob: "grace_window",
            value: None,
            found: None,
            how: format!("not measured: {}", tried.join("; ")),
            answers: Vec::new(),
            clause: CLAUSE_GRACE,
        });
    }
}

/// The probes of `futures` (ascending offsets), polled side by side on this task; their
/// runs in order. Once one finds its token refused, every later one still running is
/// dropped (`None`): a longer offset would be refused too.
async fn join_ascending<F: Future<Output = ProbeRun>>(futures: Vec<F>) -> Vec<Option<ProbeRun>> {
    let mut futures: Vec<Option<Pin<Box<F>>>> =
        futures.into_iter().map(|f| Some(Box::pin(f))).collect();
    let mut outputs: Vec<Option<ProbeRun>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for i in 0..futures.len() {
            let Some(f) = futures[i].as_mut() else {
                continue;
            };
            match f.as_mut().poll(cx) {
                Poll::Ready(run) => {
                    futures[i] = None;
                    if run.alive == Some(false) {
                        for later in futures.iter_mut().skip(i + 1) {
                            *later = None;
                        }
                    }
                    outputs[i] = Some(run);
                }
                Poll::Pending => pending = true,
            }
        }
        if pending && futures.iter().any(Option::is_some) {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    outputs
}
