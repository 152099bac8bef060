//! Concurrent requests on one token family, judged with stateright's linearizability
//! tester against the oracle: the answers pass when some total order of the requests,
//! consistent with their real-time order (a request answered before another was sent
//! comes first), gives answers the model allows one after another.
//!
//! The reference object is the oracle itself: a set of model states plus the token
//! bindings, so the server's hidden choices (grace reuse, which outcome a policy allows)
//! stay open until an answer settles them. A request without an answer (still in flight
//! at the end) may or may not have taken effect: every outcome the model allows is kept.
//! Clauses: RFC 9700 §4.14.2 (rotation under concurrency), RFC 7009 §2.

use std::time::Instant;

use stateright::semantics::{ConsistencyTester as _, LinearizabilityTester, SequentialSpec};
use tokenlife_model::{Action, Outcome};

use crate::oracle::{Bindings, Judgement, Observed, StateSet};
use crate::secret::Secret;

/// The answer to one request as the tester sees it.
#[derive(Clone, Debug, PartialEq)]
pub enum Ret {
    /// What came back.
    Seen(Observed),
    /// Nothing came back: the request may or may not have happened.
    Unknown,
}

/// The sequential reference object: the oracle's state set and bindings.
#[derive(Clone, Debug)]
pub struct Reference {
    set: StateSet,
    bindings: Bindings,
    presented: Secret,
    outcomes: Vec<Outcome>,
}

impl Reference {
    fn step(&mut self, op: &Action, ret: &Ret) -> bool {
        let observed = match ret {
            Ret::Seen(o) => o,
            Ret::Unknown => {
                self.set.steal(op);
                return true;
            }
        };
        match self
            .set
            .judge(op, observed, &self.bindings, Some(&self.presented))
        {
            Ok(Judgement::Allowed { outcome, bindings }) => {
                if let Some((id, v)) = bindings.at {
                    self.bindings.bind_at(id, v);
                }
                if let Some((id, v)) = bindings.rt {
                    self.bindings.bind_rt(id, v);
                }
                self.outcomes.push(outcome);
                true
            }
            _ => false,
        }
    }
}

impl SequentialSpec for Reference {
    type Op = Action;
    type Ret = Ret;

    /// An operation still in flight when the history ends: any allowed outcome.
    fn invoke(&mut self, op: &Action) -> Ret {
        self.step(op, &Ret::Unknown);
        Ret::Unknown
    }

    fn is_valid_step(&mut self, op: &Action, ret: &Ret) -> bool {
        self.step(op, ret)
    }
}

/// One request of a concurrent history: what it did, when it was sent, and its answer
/// with the time it arrived (`None`: no answer).
#[derive(Clone, Debug)]
pub struct Call {
    /// The model action.
    pub action: Action,
    /// When the request was sent.
    pub sent: Instant,
    /// When its answer arrived, and what it was.
    pub answered: Option<(Instant, Observed)>,
}

/// A linearization of `calls` from the oracle's `set` and `bindings`, where `presented`
/// is the refresh token every call sent: the set, bindings and outcomes it leads to.
/// `None` when no order consistent with real time is allowed by the model.
pub fn linearize(
    set: &StateSet,
    bindings: &Bindings,
    presented: &Secret,
    calls: &[Call],
) -> Option<(StateSet, Bindings, Vec<Outcome>)> {
    let init = Reference {
        set: set.clone(),
        bindings: bindings.clone(),
        presented: presented.clone(),
        outcomes: Vec::new(),
    };
    // Events in real-time order; at equal instants invocations come first (concurrent).
    let mut events: Vec<(Instant, u8, usize)> = Vec::with_capacity(calls.len() * 2);
    for (i, c) in calls.iter().enumerate() {
        events.push((c.sent, 0, i));
        if let Some((at, _)) = &c.answered {
            events.push((*at, 1, i));
        }
    }
    events.sort_by_key(|e| (e.0, e.1, e.2));
    let mut tester = LinearizabilityTester::new(init.clone());
    for (_, kind, i) in events {
        let c = &calls[i];
        let fed = if kind == 0 {
            tester.on_invoke(i, c.action).map(|_| ())
        } else {
            let ret = c
                .answered
                .as_ref()
                .map_or(Ret::Unknown, |(_, o)| Ret::Seen(o.clone()));
            tester.on_return(i, ret).map(|_| ())
        };
        fed.ok()?;
    }
    let order = tester.serialized_history()?;
    let mut r = init;
    for (op, ret) in &order {
        if !r.step(op, ret) {
            return None;
        }
    }
    Some((r.set, r.bindings, r.outcomes))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokenlife_model::spec::{Hint, TokenRef};
    use tokenlife_model::state::{RtId, Scope};
    use tokenlife_model::{Actor, ClientType, ErrorCode, Policy};

    use super::*;

    fn tokens(a: &str, r: &str) -> Observed {
        Observed::Tokens {
            access: Secret::new(a),
            refresh: Some(Secret::new(r)),
            scope: Some(Scope::ALL),
        }
    }

    fn invalid_grant() -> Observed {
        Observed::Error {
            status: 400,
            error: ErrorCode::InvalidGrant,
        }
    }

    /// A set and bindings after one authorization (RT0, AT0) under `profile`.
    fn granted(profile: &str) -> (StateSet, Bindings) {
        let mut set = StateSet::new(Policy::profile(profile).unwrap());
        let mut b = Bindings::default();
        let authorize = Action::Authorize {
            client: ClientType::Confidential,
            scope: Scope::ALL,
            offline: true,
        };
        let Ok(Judgement::Allowed { bindings, .. }) =
            set.judge(&authorize, &tokens("at0", "rt0"), &b, None)
        else {
            panic!("authorization not allowed")
        };
        let (a, av) = bindings.at.unwrap();
        let (r, rv) = bindings.rt.unwrap();
        b.bind_at(a, av);
        b.bind_rt(r, rv);
        (set, b)
    }

    const REFRESH: Action = Action::Refresh {
        by: Actor::Client(ClientType::Confidential),
        rt: RtId(0),
        scope: None,
    };

    fn call(action: Action, sent: u64, answered: u64, o: Observed, t0: Instant) -> Call {
        Call {
            action,
            sent: t0 + Duration::from_millis(sent),
            answered: Some((t0 + Duration::from_millis(answered), o)),
        }
    }

    #[test]
    fn overlapping_refreshes_linearize_in_either_order() {
        let (set, b) = granted("strict");
        let t0 = Instant::now();
        // The refused one answered first, but both were in flight together.
        let calls = [
            call(REFRESH, 0, 5, invalid_grant(), t0),
            call(REFRESH, 0, 9, tokens("at1", "rt1"), t0),
        ];
        let (set, b, outcomes) = linearize(&set, &b, &Secret::new("rt0"), &calls).unwrap();
        assert_eq!(outcomes.len(), 2);
        assert!(
            matches!(outcomes[0], Outcome::Tokens { .. }),
            "{outcomes:?}"
        );
        assert_eq!(b.rt(RtId(1)), Some(&Secret::new("rt1")));
        assert!(!set.states().is_empty());
    }

    #[test]
    fn real_time_order_is_respected() {
        let (set, b) = granted("strict");
        let t0 = Instant::now();
        // The refusal came back before the successful request was even sent: no order
        // puts the success first, and a live token refused is not allowed.
        let calls = [
            call(REFRESH, 0, 5, invalid_grant(), t0),
            call(REFRESH, 6, 9, tokens("at1", "rt1"), t0),
        ];
        assert!(linearize(&set, &b, &Secret::new("rt0"), &calls).is_none());
    }

    #[test]
    fn two_successors_of_one_token_are_a_double_spend_under_strict_rotation() {
        let (set, b) = granted("strict");
        let t0 = Instant::now();
        let calls = [
            call(REFRESH, 0, 5, tokens("at1", "rt1"), t0),
            call(REFRESH, 0, 6, tokens("at2", "rt2"), t0),
        ];
        assert!(linearize(&set, &b, &Secret::new("rt0"), &calls).is_none());
        // Under a grace window with new successors the same answers are allowed.
        let (set, b) = granted("grace-new");
        assert!(linearize(&set, &b, &Secret::new("rt0"), &calls).is_some());
    }

    #[test]
    fn a_refresh_racing_its_revocation_and_an_unanswered_request() {
        let (set, b) = granted("bcp");
        let t0 = Instant::now();
        let revoke = Action::Revoke {
            by: Actor::Client(ClientType::Confidential),
            token: TokenRef::Refresh(RtId(0)),
            hint: Hint::Right,
        };
        // Revoked first, then the refresh is refused.
        let calls = [
            call(revoke, 0, 3, Observed::Revocation { ok: true }, t0),
            call(REFRESH, 0, 4, invalid_grant(), t0),
        ];
        assert!(linearize(&set, &b, &Secret::new("rt0"), &calls).is_some());
        // A refresh with no answer may have happened or not: both answers stay possible.
        let calls = [
            Call {
                action: REFRESH,
                sent: t0,
                answered: None,
            },
            call(REFRESH, 1, 4, tokens("at1", "rt1"), t0),
        ];
        assert!(linearize(&set, &b, &Secret::new("rt0"), &calls).is_some());
    }
}
