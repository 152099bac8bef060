//! Histories of a correct server, made by the model itself: requests on one family take
//! effect one after another through [`Spec`] (the oracle), each inside an interval that
//! overlaps its neighbours, some answers are lost, some requests never take effect.
//!
//! The checker must accept every such history (it may flag only what no order allows), so
//! the tests run it on thousands of them for every profile; `tokenlife load
//! --bench-checker` times the checker on them.

use rand::{Rng, RngCore};
use tokenlife_model::spec::{Hint, Mutation, TokenRef};
use tokenlife_model::state::{AtId, RtId, Scope};
use tokenlife_model::{Action, Actor as ModelActor, ClientType, Outcome, Policy, Spec, State};

use super::history::{Actor, At, History, Micros, Op, Request, Response, Rt};

/// How a simulated history is made.
#[derive(Clone, Copy, Debug)]
pub struct SimOptions {
    /// Requests after the code exchange (the model's token capacity may end it earlier).
    pub steps: usize,
    /// The largest gap between two effects, in microseconds.
    pub gap: Micros,
    /// How far a request's sending and answer may lie from its effect.
    pub spread: Micros,
    /// The share of answers lost (the request took effect).
    pub lost_answers: f64,
    /// The share of requests that never took effect (and got no answer).
    pub never_applied: f64,
    /// A deliberate bug of the simulated server (the checker's own tests).
    pub mutation: Option<Mutation>,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            steps: 12,
            gap: 1_000,
            spread: 3_000,
            lost_answers: 0.1,
            never_applied: 0.05,
            mutation: None,
        }
    }
}

fn response(o: Outcome) -> Response {
    match o {
        Outcome::Tokens {
            access, refresh, ..
        } => Response::Tokens {
            access: At(u32::from(access.0)),
            refresh: refresh.map(|r| Rt(u32::from(r.0))),
        },
        Outcome::Error { status, error } => Response::Refused { status, error },
        Outcome::Resource { ok }
        | Outcome::Revocation { ok }
        | Outcome::Introspection { active: ok } => {
            if ok {
                Response::Honoured
            } else {
                Response::Denied
            }
        }
        Outcome::Nothing => Response::Unknown,
    }
}

/// A history of one family of a `client` under `policy`, as a correct server makes it.
pub fn simulate(
    policy: &Policy,
    client: ClientType,
    rng: &mut dyn RngCore,
    o: SimOptions,
) -> History {
    let spec = match o.mutation {
        Some(m) => Spec::mutated(policy.clone(), m),
        None => Spec::new(policy.clone()),
    };
    let mut s = State::default();
    let mut h = History::new(0, client);
    let authorize = Action::Authorize {
        client,
        scope: Scope::ALL,
        offline: true,
    };
    let Ok(Some(first)) = spec.apply(&mut s, &authorize, 0) else {
        return h;
    };
    h.ops.push(Op {
        actor: Actor::Client(0),
        request: Request::Exchange,
        response: response(first),
        invoked: 0,
        completed: Some(10),
        instance: 0,
    });
    // When the client learned each token (it presents only tokens it has).
    let mut rts: Vec<(RtId, Micros)> = Vec::new();
    let mut ats: Vec<(AtId, Micros)> = Vec::new();
    let learn = |out: &Outcome,
                 at: Micros,
                 rts: &mut Vec<(RtId, Micros)>,
                 ats: &mut Vec<(AtId, Micros)>| {
        if let Outcome::Tokens {
            access, refresh, ..
        } = *out
        {
            ats.push((access, at));
            if let Some(r) = refresh {
                if !rts.iter().any(|&(x, _)| x == r) {
                    rts.push((r, at));
                }
            }
        }
    };
    learn(&first, 10, &mut rts, &mut ats);
    let mut t: Micros = 10;
    for _ in 0..o.steps {
        t += rng.random_range(1..=o.gap);
        let known_rts: Vec<(RtId, Micros)> = rts.iter().copied().filter(|&(_, a)| a < t).collect();
        let known_ats: Vec<(AtId, Micros)> = ats.iter().copied().filter(|&(_, a)| a < t).collect();
        let (Some(&latest), Some(&latest_at)) = (known_rts.last(), known_ats.last()) else {
            continue;
        };
        let any_rt = known_rts[rng.random_range(0..known_rts.len())];
        let any_at = known_ats[rng.random_range(0..known_ats.len())];
        let by = ModelActor::Client(client);
        let roll = rng.random_range(0..100);
        let (action, request, learned) = match roll {
            0..=54 => (
                Action::Refresh {
                    by,
                    rt: latest.0,
                    scope: None,
                },
                Request::Refresh(Rt(u32::from(latest.0 .0))),
                latest.1,
            ),
            55..=69 => (
                Action::Refresh {
                    by,
                    rt: any_rt.0,
                    scope: None,
                },
                Request::Refresh(Rt(u32::from(any_rt.0 .0))),
                any_rt.1,
            ),
            70..=79 => {
                let a = if rng.random_bool(0.5) {
                    latest_at
                } else {
                    any_at
                };
                (
                    Action::UseAccess { at: a.0 },
                    Request::UseAccess(At(u32::from(a.0 .0))),
                    a.1,
                )
            }
            80..=83 => (
                Action::Revoke {
                    by,
                    token: TokenRef::Refresh(any_rt.0),
                    hint: Hint::Right,
                },
                Request::RevokeRefresh(Rt(u32::from(any_rt.0 .0))),
                any_rt.1,
            ),
            84..=86 => (
                Action::Revoke {
                    by,
                    token: TokenRef::Access(latest_at.0),
                    hint: Hint::Right,
                },
                Request::RevokeAccess(At(u32::from(latest_at.0 .0))),
                latest_at.1,
            ),
            _ => (
                Action::Introspect {
                    token: TokenRef::Refresh(any_rt.0),
                },
                Request::IntrospectRefresh(Rt(u32::from(any_rt.0 .0))),
                any_rt.1,
            ),
        };
        let applied = !rng.random_bool(o.never_applied);
        let outcome = if applied {
            let Ok(outs) = spec.step(&s, &action) else {
                break; // the model's token capacity: the history ends here
            };
            if outs.is_empty() {
                continue;
            }
            let (out, next) = outs[rng.random_range(0..outs.len())].clone();
            s = next;
            Some(out)
        } else {
            None
        };
        let answered = outcome.filter(|_| !rng.random_bool(o.lost_answers));
        let invoked = rng.random_range(learned.max(t.saturating_sub(o.spread)) + 1..=t);
        let completed = answered.map(|_| t + rng.random_range(0..=o.spread));
        if let (Some(out), Some(done)) = (answered, completed) {
            learn(&out, done, &mut rts, &mut ats);
        }
        h.ops.push(Op {
            actor: Actor::Client(rng.random_range(0..4)),
            request,
            response: answered.map_or(Response::Unknown, response),
            invoked,
            completed,
            instance: 0,
        });
    }
    h
}
