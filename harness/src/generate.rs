//! Test generation from the model: action sequences that cover every transition the model
//! reaches within a depth.
//!
//! A breadth-first walk of the spec from the initial state, one grant, the model checker's
//! action alphabet (`LifecycleModel::steps`) cut to what the target can do ([`Reach`]:
//! restarts added when the target can restart, narrowing left out for a client registered
//! for fewer than two resource scopes and every named scope for one with none
//! ([`Scopes`]), revocation,
//! introspection and resource calls for a target without that endpoint), so the
//! transitions counted are the ones the target can reach.
//! A transition is (state, action, outcome); for each one first reached, the walk keeps the
//! action path that reaches it; paths that are prefixes of other kept paths are dropped,
//! since the longer one covers them. Each sequence starts from a fresh grant, so sequences
//! are independent on the server. Which transitions a run covers depends on the server's
//! choices (a server that always rotates never takes the `rotation = "any"` keep branch),
//! so the runner reports coverage as transitions seen over transitions reachable.
//! Clauses: every clause the spec encodes (see `tokenlife_model::spec`).

use std::collections::{HashMap, HashSet, VecDeque};

use tokenlife_model::dpop::ProofFault;
use tokenlife_model::explore::fingerprint;
use tokenlife_model::model::{Bounds, LifecycleModel, Step};
use tokenlife_model::observe::observe;
use tokenlife_model::spec::TokenRef;
use tokenlife_model::state::Scope;
use tokenlife_model::{Action, ClientType, Outcome, Policy, Spec, State};

/// A transition: the fingerprint of the state before, the action, the outcome.
pub type Transition = (u64, Action, Outcome);

/// What the walk found.
#[derive(Clone, Debug)]
pub struct Generated {
    /// The depth (actions per sequence at most).
    pub depth: u16,
    /// The sequences to run.
    pub sequences: Vec<Vec<Action>>,
    /// Every transition the target can reach within the depth.
    pub transitions: HashSet<Transition>,
    /// How many transitions the model reaches within the depth with every capability (as
    /// many as `transitions` for a target that has them all).
    pub model_transitions: usize,
}

/// How the model's two resource scopes (`read`, `write`) stand on a client's registration.
///
/// The model's whole scope is always the client's whole resource registration. RFC 6749 §6
/// gives a refresh two ways to name a scope other than the grant's: narrowing (a strict
/// subset of the grant) and widening (a scope "not originally granted", refused). Widening
/// needs a scope the grant does not hold, which any registration has (a scope it was never
/// granted, see `wire::scope_names`); narrowing needs a strict subset of the grant, which a
/// grant of one resource scope does not have. So one resource scope leaves out only
/// narrowing a whole grant; none leaves out every named scope.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Scopes {
    /// No resource scope (only `openid` / `offline_access`, the userinfo endpoint as the
    /// protected resource): a grant is the whole registration and no `scope` can be named.
    None,
    /// One resource scope: it is the model's whole scope, and a `read` grant's too.
    One,
    /// Two or more: the first two are `read` and `write`.
    #[default]
    Two,
}

impl Scopes {
    /// The scopes of a registration with `n` resource scopes.
    pub fn of(n: usize) -> Scopes {
        match n {
            0 => Scopes::None,
            1 => Scopes::One,
            _ => Scopes::Two,
        }
    }

    /// Whether a client registered so can be authorized for `scope`.
    pub fn can_authorize(self, scope: Scope) -> bool {
        self != Scopes::None || scope == Scope::ALL
    }

    /// Whether it can name `scope` on a refresh of a grant of `grant`: anything with two
    /// resource scopes, nothing with none, and with one anything but narrowing.
    pub fn can_refresh(self, grant: Scope, scope: Scope) -> bool {
        match self {
            Scopes::Two => true,
            Scopes::One => scope == grant || !scope.is_subset(grant),
            Scopes::None => false,
        }
    }
}

/// What a target lets a walk do beyond the model's own choices.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reach {
    /// The target can be restarted: `Restart` once a grant exists.
    pub restarts: bool,
    /// What each client's registration lets it ask for, `[confidential, public]`.
    pub scopes: [Scopes; 2],
    /// It has a revocation endpoint (RFC 7009): `Revoke`.
    pub revocation: bool,
    /// It has an introspection endpoint (RFC 7662): `Introspect`.
    pub introspection: bool,
    /// It has a protected resource: `UseAccess`.
    pub resource: bool,
}

impl Reach {
    /// A target that can do everything the model can (two resource scopes per client),
    /// restartable or not.
    pub fn full(restarts: bool) -> Reach {
        Reach {
            restarts,
            scopes: [Scopes::Two, Scopes::Two],
            revocation: true,
            introspection: true,
            resource: true,
        }
    }

    /// What client type `t` can ask for.
    pub fn scopes(&self, t: ClientType) -> Scopes {
        self.scopes[match t {
            ClientType::Confidential => 0,
            ClientType::Public => 1,
        }]
    }

    /// Whether every capability the model has is there (the walk is the model's own).
    pub fn is_full(&self) -> bool {
        *self == Reach::full(self.restarts)
    }

    /// Whether the target can take `a` in `s`.
    pub fn allows(&self, s: &State, a: &Action) -> bool {
        match *a {
            Action::Authorize { client, scope, .. } => self.scopes(client).can_authorize(scope),
            Action::Refresh {
                rt,
                scope: Some(scope),
                ..
            } => {
                let g = s.rt_grant(rt);
                self.scopes(g.client).can_refresh(g.scope, scope)
            }
            Action::Revoke { .. } => self.revocation,
            Action::Introspect { .. } => self.introspection,
            Action::UseAccess { .. }
            | Action::Unproven {
                token: TokenRef::Access(_),
                ..
            } => self.resource,
            _ => true,
        }
    }
}

/// The model checker's action alphabet for one grant, bounded to `depth` actions: what
/// every generator (exhaustive, all sequences, random) walks.
pub struct Walker {
    model: LifecycleModel,
    /// The spec, to step.
    pub spec: Spec,
    reach: Reach,
    steps: Vec<Step>,
}

impl Walker {
    /// A walker under `policy`, cut to what the target can `reach`.
    pub fn new(policy: &Policy, depth: u16, reach: Reach) -> Walker {
        Walker {
            model: LifecycleModel::new(
                policy.clone(),
                Bounds {
                    grants: 1,
                    refreshes: depth.min(8) as u8,
                    depth: Some(depth),
                },
            ),
            spec: Spec::new(policy.clone()),
            reach,
            steps: Vec::new(),
        }
    }

    /// The distinct actions enabled in `s`.
    pub fn enabled(&mut self, s: &State) -> Vec<Action> {
        self.steps.clear();
        self.model.steps(s, &mut self.steps);
        let mut actions: Vec<Action> = Vec::new();
        for st in &self.steps {
            // The model checks a proof's faults by their kinds of answer; over the wire
            // each fault is its own request: a replayed proof beside a missing one, a wrong
            // `ath` and a bearer call beside another key at the resource.
            let wire_faults: &[ProofFault] = match st.action {
                Action::Unproven {
                    token: TokenRef::Refresh(_),
                    fault: ProofFault::NoProof,
                } => &[ProofFault::NoProof, ProofFault::Replayed],
                Action::Unproven {
                    token: TokenRef::Access(_),
                    ..
                } => &[
                    ProofFault::OtherKey,
                    ProofFault::NoProof,
                    ProofFault::WrongAth,
                ],
                _ => &[],
            };
            let mut add = |a: Action| {
                if !actions.contains(&a) && self.reach.allows(s, &a) {
                    actions.push(a);
                }
            };
            match st.action {
                Action::Unproven { token, .. } if !wire_faults.is_empty() => {
                    for &fault in wire_faults {
                        add(Action::Unproven { token, fault });
                    }
                }
                a => add(a),
            }
        }
        if self.reach.restarts && s.n_grants > 0 {
            actions.push(Action::Restart);
        }
        actions
    }

    /// [`Walker::enabled`] with time as the aimed search moves it: instead of `Tick` (to the
    /// next deadline), a jump to every pending deadline of a live token and to one second
    /// before it, one action per distinct number of seconds.
    pub fn enabled_timed(&mut self, s: &State) -> Vec<Action> {
        let mut actions = self.enabled(s);
        actions.retain(|a| *a != Action::Tick);
        actions.extend(advances(s));
        actions
    }
}

/// Every jump of time to a pending deadline of a live token of `s`, or to one second
/// before it, one per distinct number of seconds (the first deadline found names it).
pub fn advances(s: &State) -> Vec<Action> {
    use tokenlife_model::action::Deadline;
    use tokenlife_model::spec::TokenRef;
    use tokenlife_model::state::{AtId, RtId, RtStatus};
    let mut seconds: Vec<u32> = Vec::new();
    let mut out = Vec::new();
    let mut add = |to: Deadline, token: TokenRef| {
        let Some(d) = to.remaining(s, token) else {
            return;
        };
        for before in [false, true] {
            let by = if before { d - 1 } else { d };
            if by > 0 && !seconds.contains(&by) {
                seconds.push(by);
                out.push(Action::Advance { to, token, before });
            }
        }
    };
    for r in 0..s.n_rts {
        let t = &s.rts[r as usize];
        if t.status == RtStatus::Revoked || s.grants[t.family as usize].revoked {
            continue;
        }
        for to in [
            Deadline::GraceEnd,
            Deadline::RefreshExpiry,
            Deadline::IdleTimeout,
            Deadline::AbsoluteCap,
        ] {
            add(to, TokenRef::Refresh(RtId(r)));
        }
    }
    for a in 0..s.n_ats {
        let t = &s.ats[a as usize];
        if t.delivered && !t.revoked && !s.grants[t.family as usize].revoked {
            add(Deadline::AccessExpiry, TokenRef::Access(AtId(a)));
        }
    }
    out
}

/// Sequences covering every transition within `depth` actions under `policy` that the
/// target can `reach`.
pub fn exhaustive(policy: &Policy, depth: u16, reach: Reach) -> Generated {
    let mut g = cover(policy, depth, reach);
    if !reach.is_full() {
        g.model_transitions = cover(policy, depth, Reach::full(reach.restarts))
            .transitions
            .len();
    }
    g
}

/// [`exhaustive`] for one reach (`model_transitions` counts that reach's transitions).
fn cover(policy: &Policy, depth: u16, reach: Reach) -> Generated {
    let mut walker = Walker::new(policy, depth, reach);
    let mut transitions: HashSet<Transition> = HashSet::new();
    let mut kept: Vec<Vec<Action>> = Vec::new();
    let mut seen: HashMap<State, ()> = HashMap::new();
    let mut queue: VecDeque<(State, Vec<Action>)> = VecDeque::new();
    let init = State::default();
    seen.insert(init.clone(), ());
    queue.push_back((init, Vec::new()));
    while let Some((s, path)) = queue.pop_front() {
        if path.len() >= depth as usize {
            continue;
        }
        let actions = walker.enabled(&s);
        let fp = fingerprint(&s);
        for a in actions {
            let Ok(outs) = walker.spec.step(&s, &a) else {
                continue;
            };
            let mut next_path = path.clone();
            next_path.push(a);
            for (o, mut post) in outs {
                observe(policy, &s, &a, &o, &mut post);
                if transitions.insert((fp, a, o)) {
                    kept.push(next_path.clone());
                }
                if !seen.contains_key(&post) {
                    seen.insert(post.clone(), ());
                    queue.push_back((post, next_path.clone()));
                }
            }
        }
    }
    kept.sort();
    kept.dedup();
    // Drop every sequence that is a prefix of the next one (sorted order puts a prefix
    // right before some extension of it, if any).
    let mut sequences: Vec<Vec<Action>> = Vec::with_capacity(kept.len());
    for (i, seq) in kept.iter().enumerate() {
        let extended = kept
            .get(i + 1)
            .is_some_and(|next| next.len() > seq.len() && next.starts_with(seq));
        if !extended {
            sequences.push(seq.clone());
        }
    }
    Generated {
        depth,
        sequences,
        model_transitions: transitions.len(),
        transitions,
    }
}

/// Every distinct action sequence of exactly `depth` actions (or shorter where nothing can
/// follow), following every outcome the spec allows; with the transitions of
/// [`exhaustive`] for coverage. Explodes quickly: for small depths.
pub fn all_sequences(policy: &Policy, depth: u16, reach: Reach) -> Generated {
    let mut walker = Walker::new(policy, depth, reach);
    let mut out: std::collections::BTreeSet<Vec<Action>> = std::collections::BTreeSet::new();
    let mut stack: Vec<(State, Vec<Action>)> = vec![(State::default(), Vec::new())];
    while let Some((s, path)) = stack.pop() {
        if path.len() >= depth as usize {
            out.insert(path);
            continue;
        }
        let actions = walker.enabled(&s);
        let mut extended = false;
        for a in actions {
            let Ok(outs) = walker.spec.step(&s, &a) else {
                continue;
            };
            for (o, mut post) in outs {
                observe(policy, &s, &a, &o, &mut post);
                let mut next = path.clone();
                next.push(a);
                stack.push((post, next));
                extended = true;
            }
        }
        if !extended && !path.is_empty() {
            out.insert(path);
        }
    }
    let cover = exhaustive(policy, depth, reach);
    Generated {
        depth,
        sequences: out.into_iter().collect(),
        transitions: cover.transitions,
        model_transitions: cover.model_transitions,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sequence_starts_with_an_authorization_and_fits_the_depth() {
        let none = Reach::full(false);
        let g = exhaustive(&Policy::profile("bcp").unwrap_or_default(), 3, none);
        assert!(!g.sequences.is_empty());
        assert!(g.transitions.len() >= g.sequences.len());
        for s in &g.sequences {
            assert!(matches!(s[0], Action::Authorize { .. }), "{s:?}");
            assert!(s.len() <= 3);
        }
        let deeper = exhaustive(&Policy::profile("bcp").unwrap_or_default(), 4, none);
        assert!(deeper.transitions.len() > g.transitions.len());
        let all = all_sequences(&Policy::profile("bcp").unwrap_or_default(), 2, none);
        let cover = exhaustive(&Policy::profile("bcp").unwrap_or_default(), 2, none);
        assert!(all.sequences.len() >= cover.sequences.len());
        assert!(all.sequences.iter().all(|s| s.len() <= 2));
    }

    #[test]
    fn a_client_without_a_resource_scope_is_walked_without_scope_choices() {
        let p = Policy::profile("bcp").unwrap_or_default();
        let full = exhaustive(&p, 3, Reach::full(false));
        let reach = Reach {
            scopes: [Scopes::None, Scopes::Two],
            ..Reach::full(false)
        };
        let cut = exhaustive(&p, 3, reach);
        assert!(cut.transitions.len() < full.transitions.len());
        let mut s = State::default();
        for seq in &cut.sequences {
            for a in seq {
                match *a {
                    Action::Authorize {
                        client: ClientType::Confidential,
                        scope,
                        ..
                    } => assert_eq!(scope, Scope::ALL, "{seq:?}"),
                    Action::Authorize { client, .. } => assert_eq!(client, ClientType::Public),
                    _ => {}
                }
            }
            // Replayed on the spec, no confidential grant's refresh names a scope.
            s = State::default();
            let spec = Spec::new(p.clone());
            for a in seq {
                if let Action::Refresh {
                    rt, scope: Some(_), ..
                } = *a
                {
                    assert_eq!(s.rt_grant(rt).client, ClientType::Public, "{seq:?}");
                }
                let Ok(mut outs) = spec.step(&s, a) else {
                    break;
                };
                if outs.is_empty() {
                    break;
                }
                s = outs.swap_remove(0).1;
            }
        }
        assert!(s.n_grants <= 1);
    }

    #[test]
    fn a_missing_endpoint_removes_just_its_actions() {
        let p = Policy::profile("bcp").unwrap_or_default();
        let reach = Reach {
            revocation: false,
            introspection: false,
            ..Reach::full(false)
        };
        let cut = exhaustive(&p, 3, reach);
        let all: Vec<&Action> = cut.sequences.iter().flatten().collect();
        assert!(!all
            .iter()
            .any(|a| matches!(a, Action::Revoke { .. } | Action::Introspect { .. })));
        assert!(all.iter().any(|a| matches!(a, Action::UseAccess { .. })));
        assert!(all.iter().any(|a| matches!(a, Action::Refresh { .. })));
    }

    #[test]
    fn one_resource_scope_walks_everything_but_narrowing() {
        let p = Policy::profile("bcp").unwrap_or_default();
        let full = exhaustive(&p, 3, Reach::full(false));
        let one = Reach {
            scopes: [Scopes::One, Scopes::One],
            ..Reach::full(false)
        };
        assert!(!one.is_full() && Reach::full(true).is_full());
        let cut = exhaustive(&p, 3, one);
        assert!(cut.transitions.len() < full.transitions.len());
        assert!(cut.transitions.len() * 10 > full.transitions.len() * 8);
        assert_eq!(cut.model_transitions, full.transitions.len());
        assert_eq!(full.model_transitions, full.transitions.len());
        let mut widened = false;
        for seq in &cut.sequences {
            let mut s = State::default();
            let spec = Spec::new(p.clone());
            for a in seq {
                if let Action::Refresh {
                    rt, scope: Some(r), ..
                } = *a
                {
                    let grant = s.rt_grant(rt).scope;
                    assert!(r == grant || !r.is_subset(grant), "narrowing in {seq:?}");
                    widened |= !r.is_subset(grant);
                }
                let Ok(mut outs) = spec.step(&s, a) else {
                    break;
                };
                if outs.is_empty() {
                    break;
                }
                let (o, mut post) = outs.swap_remove(0);
                observe(&p, &s, a, &o, &mut post);
                s = post;
            }
        }
        assert!(widened, "widening is walked with one resource scope");
        let none = Reach {
            scopes: [Scopes::None, Scopes::None],
            ..Reach::full(false)
        };
        assert!(exhaustive(&p, 3, none).transitions.len() < cut.transitions.len());
        assert!(Scopes::One.can_refresh(Scope::READ, Scope::ALL));
        assert!(!Scopes::One.can_refresh(Scope::ALL, Scope::READ));
        assert!(!Scopes::None.can_refresh(Scope::ALL, Scope::ALL));
        assert!(Scopes::One.can_authorize(Scope::READ));
        assert!(!Scopes::None.can_authorize(Scope::READ));
        assert_eq!(Scopes::of(1), Scopes::One);
    }
}
