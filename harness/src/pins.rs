//! A scenario's pins checked against the model alone, with no server: every answer a
//! server following the declared policy may give is followed, and a pin (`expect`) the
//! model contradicts on any of them is the scenario error a run would stop on (exit 3).
//! A shipped scenario must never make a valid target exit 3, whatever its lifetimes; the
//! test below draws lifetimes at random for every built-in profile and checks them all.
//!
//! The walk keeps, like the runner's [`StateSet`](crate::oracle::StateSet), the set of
//! states consistent with the answers so far, and splits it by the outcome a server may
//! answer: a pin is judged against every outcome the set allows, as the runner does.

use std::collections::{BTreeMap, HashSet};

use tokenlife_model::observe::observe;
use tokenlife_model::spec::{self, Hint, TokenRef};
use tokenlife_model::state::{GrantId, RtId};
use tokenlife_model::{Action, Actor, Outcome, Policy, Spec, State};

use crate::deadline;
use crate::oracle::owner_of;
use crate::scenario::{Scenario, Step, StepKind};
use crate::session::actor;

/// The most branches one scenario may open (a scenario whose answers multiply past it is
/// checked on the first ones).
const MAX_BRANCHES: usize = 4096;

/// A name's model id.
#[derive(Clone, Copy, Debug)]
enum Named {
    Grant(GrantId),
    Token(TokenRef),
}

/// One reading of the run so far: the states consistent with it, all at one model time
/// (time moves only when a step says so), and the ids the scenario's names stand for.
#[derive(Clone)]
struct Branch {
    states: Vec<State>,
    names: BTreeMap<String, Named>,
}

/// Checks every pin of `sc` under `policy` (whose `[requires]` the caller has checked):
/// `Err` names the step and why, as a run would stop with.
pub fn check(policy: &Policy, sc: &Scenario) -> Result<(), String> {
    let spec = Spec::new(policy.clone());
    let mut branches = vec![Branch {
        states: vec![State::default()],
        names: BTreeMap::new(),
    }];
    for (i, step) in sc.steps.iter().enumerate() {
        let n = i + 1;
        let mut next = Vec::new();
        for b in branches {
            next.extend(one_step(&spec, b, n, step)?);
        }
        next.truncate(MAX_BRANCHES);
        branches = next;
    }
    Ok(())
}

fn one_step(spec: &Spec, b: Branch, n: usize, step: &Step) -> Result<Vec<Branch>, String> {
    let err = |m: String| format!("step {n}: {m}");
    let token = |name: &str| match b.names.get(name) {
        Some(Named::Token(t)) => Ok(*t),
        _ => Err(err(format!("`{name}` was never issued"))),
    };
    let rt = |name: &str| match token(name)? {
        TokenRef::Refresh(r) => Ok(r),
        TokenRef::Access(_) => Err(err(format!("`{name}` is not a refresh token"))),
    };
    let first = b.states[0].clone();
    let action = match &step.kind {
        StepKind::Authorize {
            client,
            scope,
            offline,
            ..
        } => Action::Authorize {
            client: *client,
            scope: *scope,
            offline: *offline,
        },
        StepKind::ReplayCode { grant } => match b.names.get(grant) {
            Some(Named::Grant(g)) => Action::ReplayCode { grant: *g },
            _ => return Err(err(format!("`{grant}` was never issued"))),
        },
        StepKind::Refresh {
            rt: r,
            proof: Some(fault),
            ..
        } => Action::Unproven {
            token: TokenRef::Refresh(rt(r)?),
            fault: *fault,
        },
        StepKind::Refresh {
            rt: r, by, scope, ..
        } => {
            let r = rt(r)?;
            Action::Refresh {
                by: actor(*by, first.rt_grant(r).client),
                rt: r,
                scope: *scope,
            }
        }
        StepKind::RefreshLost { rt: r, .. } => Action::RefreshLost { rt: rt(r)? },
        StepKind::UseAccess { at, proof } => match token(at)? {
            TokenRef::Access(a) => match proof {
                Some(fault) => Action::Unproven {
                    token: TokenRef::Access(a),
                    fault: *fault,
                },
                None => Action::UseAccess { at: a },
            },
            TokenRef::Refresh(_) => return Err(err(format!("`{at}` is not an access token"))),
        },
        StepKind::Revoke { token: t, by, hint } => {
            let t = token(t)?;
            Action::Revoke {
                by: actor(*by, owner_of(&first, t)),
                token: t,
                hint: *hint,
            }
        }
        StepKind::Introspect { token: t } => Action::Introspect { token: token(t)? },
        StepKind::Tick { until, advance } => {
            let target = until.as_deref().map(token).transpose()?;
            let by = match advance {
                Some(adv) => {
                    let t = token(&adv.token)?;
                    let times = vec![0; b.states.len()];
                    deadline::due(&b.states, &times, adv, t, true).map_err(err)?
                }
                None => ticks(&b.states, target).map_err(err)?,
            };
            return Ok(vec![Branch {
                states: b.states.iter().map(|s| tick(spec, s, by)).collect(),
                names: b.names,
            }]);
        }
        StepKind::Restart => {
            let states = b.states.iter().map(|s| {
                let mut post = s.clone();
                observe(
                    &spec.policy,
                    s,
                    &Action::Restart,
                    &Outcome::Nothing,
                    &mut post,
                );
                post
            });
            return Ok(vec![Branch {
                states: states.collect(),
                names: b.names,
            }]);
        }
        StepKind::Race {
            rt: r,
            count,
            revoke,
        } => {
            let states = race(spec, &b.states, rt(r)?, *count, *revoke).map_err(err)?;
            return Ok(vec![Branch {
                states,
                names: b.names,
            }]);
        }
        StepKind::RevokeUnknown | StepKind::IntrospectUnknown => return Ok(vec![b]),
    };
    let mut by_outcome: Vec<(Outcome, Vec<State>)> = Vec::new();
    for s in &b.states {
        for (o, mut post) in spec.step(s, &action).map_err(|e| err(e.to_string()))? {
            observe(&spec.policy, s, &action, &o, &mut post);
            match by_outcome.iter_mut().find(|(k, _)| *k == o) {
                Some((_, v)) => v.push(post),
                None => by_outcome.push((o, vec![post])),
            }
        }
    }
    if let Some(x) = step.expect {
        if !by_outcome.iter().any(|(o, _)| x.allows(o)) {
            let allowed: Vec<String> = by_outcome.iter().map(|(o, _)| o.to_string()).collect();
            return Err(format!(
                "step {n} pins `{x}`, but under policy {} the model allows only: {}",
                spec.policy.profile,
                allowed.join(" | ")
            ));
        }
    }
    Ok(by_outcome
        .into_iter()
        .map(|(o, states)| {
            let mut names = b.names.clone();
            name_minted(&mut names, &step.kind, &o, &states[0]);
            Branch {
                states: dedup(states),
                names,
            }
        })
        .collect())
}

/// The seconds a plain `tick` moves: to the next deadline of any state, or (`until`) on
/// from deadline to deadline until the token is past one in every state.
fn ticks(states: &[State], until: Option<TokenRef>) -> Result<u32, String> {
    let dead = |s: &State| match until {
        None => true,
        Some(TokenRef::Access(a)) => s.ats[a.0 as usize].exp == 0,
        Some(TokenRef::Refresh(r)) => spec::expiry_reason(s, r).is_some(),
    };
    let mut now: Vec<State> = states.to_vec();
    let mut total = 0u32;
    for _ in 0..32 {
        let Some(d) = now.iter().filter_map(spec::next_deadline).min() else {
            break;
        };
        now.iter_mut().for_each(|s| spec::advance(s, d));
        total += d;
        if now.iter().all(dead) {
            return Ok(total);
        }
    }
    match (until, total) {
        (None, 0) => Err("no deadline is left to tick to".into()),
        (None, _) => Ok(total),
        (Some(_), _) => Err("the token never dies under this policy".into()),
    }
}

fn tick(spec: &Spec, s: &State, by: u32) -> State {
    let mut post = s.clone();
    spec::advance(&mut post, by);
    observe(&spec.policy, s, &Action::Tick, &Outcome::Nothing, &mut post);
    post
}

/// Every state a race may leave: `count` refreshes of `rt` by its owner, one of them a
/// revocation when `revoke`, in any order the server may serialize them (the refreshes are
/// alike, so the orders differ only in where the revocation falls), with every answer.
fn race(
    spec: &Spec,
    states: &[State],
    rt: RtId,
    count: u8,
    revoke: bool,
) -> Result<Vec<State>, String> {
    let owner = Actor::Client(states[0].rt_grant(rt).client);
    let refresh = Action::Refresh {
        by: owner,
        rt,
        scope: None,
    };
    let revocation = Action::Revoke {
        by: owner,
        token: TokenRef::Refresh(rt),
        hint: Hint::Right,
    };
    let slots: Vec<Option<u8>> = if revoke {
        (0..count).map(Some).collect()
    } else {
        vec![None]
    };
    let mut out = Vec::new();
    for slot in slots {
        let mut now = states.to_vec();
        for i in 0..count {
            let a = if slot == Some(i) {
                &revocation
            } else {
                &refresh
            };
            let mut next = Vec::new();
            for s in &now {
                for (o, mut post) in spec.step(s, a).map_err(|e| e.to_string())? {
                    observe(&spec.policy, s, a, &o, &mut post);
                    next.push(post);
                }
            }
            now = dedup(next);
        }
        out.extend(now);
    }
    Ok(dedup(out))
}

fn dedup(states: Vec<State>) -> Vec<State> {
    let mut seen = HashSet::with_capacity(states.len());
    states
        .into_iter()
        .filter(|s| seen.insert(s.clone()))
        .collect()
}

/// The names a step gives to what an answer minted, as the runner gives them (a refresh
/// that kept its token names the token it presented).
fn name_minted(
    names: &mut BTreeMap<String, Named>,
    kind: &StepKind,
    outcome: &Outcome,
    post: &State,
) {
    let Outcome::Tokens {
        access: a,
        refresh: r,
        ..
    } = outcome
    else {
        return;
    };
    let (grant, access, refresh, held) = match kind {
        StepKind::Authorize {
            grant,
            access,
            refresh,
            ..
        } => (
            grant,
            access,
            refresh,
            r.map(|r| Named::Token(TokenRef::Refresh(r))),
        ),
        StepKind::Refresh {
            rt,
            access,
            refresh,
            ..
        }
        | StepKind::RefreshLost {
            rt,
            access,
            refresh,
            ..
        } => (
            &None,
            access,
            refresh,
            match r {
                Some(r) => Some(Named::Token(TokenRef::Refresh(*r))),
                None => names.get(rt).copied(),
            },
        ),
        _ => return,
    };
    let given = [
        (
            grant,
            Some(Named::Grant(GrantId(post.n_grants.saturating_sub(1)))),
        ),
        (access, Some(Named::Token(TokenRef::Access(*a)))),
        (refresh, held),
    ];
    for (name, id) in given {
        if let (Some(n), Some(id)) = (name, id) {
            names.insert(n.clone(), id);
        }
    }
}

#[cfg(test)]
mod tests;
