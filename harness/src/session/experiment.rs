//! One inference experiment against a live target: the model's steps (requests and waits
//! of concrete seconds, see `tokenlife_model::infer::product`) run from a fresh grant, each
//! answer read as the outcome the candidate policies allow.
//!
//! No policy is known yet, so no answer is judged: each is matched against the outcomes of
//! every candidate policy's state set (as the oracle matches them under one policy), and the
//! candidates that cannot read it are left out of the rest. An answer none can read ends the
//! experiment: the inference loop takes the missing answer as one every candidate forbids.
//! A token response without `scope` granted the scope requested (RFC 6749 §5.1: the member
//! is optional only then), so it is read as that scope: otherwise it would fit narrowing
//! `allowed` and `ignored` alike and the first candidate would decide.
//! With the endpoint clock a wait moves the server's clock by exactly its seconds. With a
//! real clock the experiment sleeps, landing each wait clear of every candidate's deadlines
//! by the skew ([`landing`]), and reads the clock before and after each request as a
//! scenario does ([`StateSet::sync`], [`StateSet::answered`]). Where a deadline still falls
//! within the skew of a request, the sets keep both readings; the decision loop, though,
//! reads the answers on exact waits, so such an experiment is reported as not run: its
//! answers could have been given either side of the deadline, and no knob is decided by
//! them.

use tokenlife_model::infer::Step;
use tokenlife_model::{Action, Outcome, Policy, State};

use super::exchange::Exchange;
use super::harness::Harness;
use super::time::{landing, whole_seconds, Advance};
use crate::oracle::{Judgement, Observed, StateSet};
use crate::report::ScenarioResult;
use crate::target::ClockConfig;
use std::time::Duration;

/// What one experiment gave.
#[derive(Clone, Debug, Default)]
pub struct ExperimentRun {
    /// The answers read, one per step, up to where it stopped.
    pub answers: Vec<Outcome>,
    /// Why it stopped before its last step, if it did: an answer no candidate reads, or a
    /// step naming a token the server never issued (the answers say so).
    pub stopped: Option<String>,
    /// Why it could not run, if it could not: no answer, a capability the target lacks, a
    /// wait on a real clock. Its answers tell nothing.
    pub not_run: Option<String>,
    /// The transcript, tokens redacted.
    pub transcript: Vec<String>,
    /// HTTP exchanges made (clock moves included).
    pub requests: usize,
    /// On a real clock, the steps as they were run, aligned with `answers`: each wait the
    /// seconds that actually passed (a wait lands clear of the deadlines, and requests take
    /// time, so the designed waits are not what the server saw), and a wait inserted before
    /// a request that began a whole second or more after the one before it. The answers
    /// are read against these, never against the designed waits. `None` on the endpoint
    /// clock, which moves exactly as designed.
    pub as_run: Option<Vec<Step>>,
}

/// The steps a real clock ran: the model time of the last step recorded, and the steps.
struct AsRun {
    at: u32,
    steps: Vec<Step>,
}

impl AsRun {
    /// Records that model time `now` was reached before the next step: a wait of the
    /// seconds since the last one (none when no whole second passed), with its answer.
    fn reach(&mut self, now: u32, answers: &mut Vec<Outcome>) {
        if now > self.at {
            self.steps.push(Step::Wait {
                seconds: now - self.at,
            });
            answers.push(Outcome::Nothing);
            self.at = now;
        }
    }
}

impl Harness {
    /// Runs `steps` from a fresh grant, reading each answer under the policies `readers`.
    pub async fn run_experiment(&self, steps: &[Step], readers: &[Policy]) -> ExperimentRun {
        let mut run = ExperimentRun::default();
        let skew = match &self.target.clock {
            ClockConfig::Real { skew } => Some(skew.get()),
            ClockConfig::Endpoint { .. } => None,
        };
        let mut r = ScenarioResult::new("infer", "");
        let mut s = self.session(&mut r);
        let mut sets: Vec<StateSet> = readers.iter().cloned().map(StateSet::new).collect();
        // A real clock read both ways somewhere: the answers decide nothing.
        let mut straddled: Option<usize> = None;
        // A real clock's answers are recorded against the steps as run (see `as_run`).
        // The step it stopped at, if it did: the steps as run end with it, unanswered.
        let mut stopped_at: Option<usize> = None;
        let mut as_run = skew.map(|_| AsRun {
            at: 0,
            steps: Vec::new(),
        });
        for (i, step) in steps.iter().enumerate() {
            let n = i + 1;
            let Some(first) = sets.first() else {
                break;
            };
            let state = first.first().clone();
            match step {
                Step::Wait { seconds } if skew.is_some() => {
                    let skew = skew.unwrap_or(0);
                    let now = s.elapsed();
                    let deadlines: Vec<u32> =
                        sets.iter().flat_map(StateSet::deadlines_at).collect();
                    let slack = sets.iter().map(StateSet::slack).max().unwrap_or(0);
                    let at = landing(now, *seconds, &deadlines, skew + slack + 1);
                    tokio::time::sleep_until(s.started + Duration::from_secs(u64::from(at))).await;
                    let now = s.elapsed();
                    if sync_all(&mut sets, now, None, skew) {
                        straddled.get_or_insert(n);
                    }
                    s.line(format!("{n}. {seconds} s pass (slept to {at} s)"));
                    if let Some(r) = as_run.as_mut() {
                        r.reach(now, &mut run.answers);
                    }
                }
                Step::Wait { seconds } => {
                    run.requests += 1;
                    if let Err(e) = self.advance(*seconds).await {
                        run.not_run = Some(match e {
                            Advance::Unanswered(m) | Advance::Refused(m) => m,
                        });
                        break;
                    }
                    for set in &mut sets {
                        set.advance(*seconds);
                    }
                    s.line(format!("{n}. {seconds} s pass"));
                    run.answers.push(Outcome::Nothing);
                }
                Step::Act { action } => {
                    if matches!(
                        action,
                        Action::Tick
                            | Action::Advance { .. }
                            | Action::Restart
                            | Action::Steal { .. }
                    ) {
                        run.not_run = Some(format!("step {n}: {action} is no request"));
                        break;
                    }
                    if let Some(id) = unbound(action, &s.bindings) {
                        stopped_at = Some(i);
                        run.stopped = Some(format!("step {n}: the server never issued {id}"));
                        break;
                    }
                    run.requests += 1;
                    let state = match skew {
                        Some(skew) => {
                            let now = s.elapsed();
                            if sync_all(&mut sets, now, None, skew) {
                                straddled.get_or_insert(n);
                            }
                            if let Some(r) = as_run.as_mut() {
                                r.reach(now, &mut run.answers);
                            }
                            sets.first().map_or(state, |f| f.first().clone())
                        }
                        None => state,
                    };
                    let sent = tokio::time::Instant::now();
                    let exchanged = self.exchange(&mut s, &state, action).await;
                    if let Some(skew) = skew {
                        let took = whole_seconds(sent.elapsed());
                        if sync_all(&mut sets, s.elapsed(), Some(took), skew) {
                            straddled.get_or_insert(n);
                        }
                    }
                    let (observed, presented) = match exchanged {
                        Ok((o, p, _)) => (requested_if_omitted(o, &state, action), p),
                        Err(Exchange::Stop(_)) => {
                            run.not_run = Some(format!("step {n}: {action} cannot be sent here"));
                            break;
                        }
                        Err(Exchange::Unanswered(m)) => {
                            run.not_run = Some(format!("step {n}: {}", s.redactor.apply(&m)));
                            break;
                        }
                        // Not an OAuth answer at all: no candidate allows it.
                        Err(Exchange::Broken(_, m)) => {
                            stopped_at = Some(i);
                            run.stopped = Some(format!("step {n}: {}", s.redactor.apply(&m)));
                            break;
                        }
                    };
                    // Every set judges against the bindings before this answer: the first
                    // that reads it says what it is, and binds the tokens it minted.
                    let mut read: Option<(Outcome, crate::oracle::NewBindings)> = None;
                    let mut kept = Vec::new();
                    for mut set in sets {
                        let j = set.judge(action, &observed, &s.bindings, presented.as_ref());
                        if let Ok(Judgement::Allowed { outcome, bindings }) = j {
                            if read.is_none() {
                                read = Some((outcome, bindings));
                            }
                            if read.as_ref().is_some_and(|(o, _)| *o == outcome) {
                                kept.push(set);
                            }
                        }
                    }
                    let read = read.map(|(outcome, bindings)| {
                        s.bind_new(&bindings);
                        outcome
                    });
                    sets = kept;
                    let Some(outcome) = read else {
                        let got = s.describe(&observed);
                        s.line(format!("{n}. {action} → {got}  (no candidate allows it)"));
                        stopped_at = Some(i);
                        run.stopped = Some(format!(
                            "step {n}: {action} → {got}, which no candidate policy allows"
                        ));
                        break;
                    };
                    s.line(format!("{n}. {action} → {outcome}"));
                    run.answers.push(outcome);
                    if let Some(r) = as_run.as_mut() {
                        r.steps.push(Step::Act { action: *action });
                    }
                }
            }
        }
        run.as_run = as_run.map(|mut r| {
            if let Some(step) = stopped_at.and_then(|i| steps.get(i)) {
                r.steps.push(*step);
            }
            r.steps
        });
        if let (Some(n), None) = (straddled, &run.not_run) {
            run.not_run = Some(format!(
                "step {n}: a deadline fell within the real clock's skew, so the answers could have come from either side of it"
            ));
        }
        if self.options.cleanup {
            self.cleanup(&s).await;
        }
        drop(s);
        run.transcript = std::mem::take(&mut r.transcript);
        run
    }
}

/// Brings every set to model time `now` (after an exchange that `took` seconds: see
/// [`StateSet::answered`]); whether some set now holds two readings of a deadline.
fn sync_all(sets: &mut [StateSet], now: u32, took: Option<u32>, skew: u32) -> bool {
    let mut split = false;
    for set in sets {
        let before = set.states().len();
        match took {
            Some(t) => set.answered(now, t, skew),
            None => set.sync(now, skew),
        }
        split |= set.states().len() > before;
    }
    split
}

/// The token `action` names that no answer issued, if any.
fn unbound(action: &Action, bindings: &crate::oracle::Bindings) -> Option<String> {
    use tokenlife_model::spec::TokenRef;
    let rt = |r: tokenlife_model::state::RtId| bindings.rt(r).is_none().then(|| r.to_string());
    let at = |a: tokenlife_model::state::AtId| bindings.at(a).is_none().then(|| a.to_string());
    match *action {
        Action::Refresh { rt: r, .. } | Action::RefreshLost { rt: r } => rt(r),
        Action::UseAccess { at: a } => at(a),
        Action::Revoke { token, .. } | Action::Introspect { token } => match token {
            TokenRef::Refresh(r) => rt(r),
            TokenRef::Access(a) => at(a),
        },
        _ => None,
    }
}

/// `observed` with an omitted `scope` read as the scope `action` requested (the token's own
/// when a refresh names none).
fn requested_if_omitted(observed: Observed, state: &State, action: &Action) -> Observed {
    let Observed::Tokens {
        access,
        refresh,
        scope: None,
    } = observed
    else {
        return observed;
    };
    let requested = match *action {
        Action::Authorize { scope, .. } => Some(scope),
        Action::Refresh { scope: Some(s), .. } => Some(s),
        Action::Refresh {
            rt, scope: None, ..
        }
        | Action::RefreshLost { rt } => state.rts().get(rt.0 as usize).map(|t| t.scope),
        _ => None,
    };
    Observed::Tokens {
        access,
        refresh,
        scope: requested,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokenlife_model::state::{RtId, Scope};
    use tokenlife_model::{Actor, ClientType, Spec};

    #[test]
    fn an_omitted_scope_is_the_one_requested() {
        let spec = Spec::new(Policy::default());
        let authorize = Action::Authorize {
            client: ClientType::Confidential,
            scope: Scope::ALL,
            offline: true,
        };
        let state = spec.step(&State::default(), &authorize).expect("a step")[0]
            .1
            .clone();
        let tokens = |scope| Observed::Tokens {
            access: crate::Secret::new("a"),
            refresh: None,
            scope,
        };
        let scope_of = |o: Observed| match o {
            Observed::Tokens { scope, .. } => scope,
            _ => None,
        };
        let narrow = Action::Refresh {
            by: Actor::Client(ClientType::Confidential),
            rt: RtId(0),
            scope: Some(Scope::READ),
        };
        let plain = Action::Refresh {
            by: Actor::Client(ClientType::Confidential),
            rt: RtId(0),
            scope: None,
        };
        assert_eq!(
            scope_of(requested_if_omitted(tokens(None), &state, &narrow)),
            Some(Scope::READ)
        );
        assert_eq!(
            scope_of(requested_if_omitted(tokens(None), &state, &plain)),
            Some(Scope::ALL)
        );
        // A scope the server wrote stays as written.
        assert_eq!(
            scope_of(requested_if_omitted(
                tokens(Some(Scope::ALL)),
                &state,
                &narrow
            )),
            Some(Scope::ALL)
        );
    }
}
