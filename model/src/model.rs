//! The stateright model over the spec, its bounds and its properties.
//!
//! Two clients (one confidential, one public) and an attacker. Bounds: the number of grants
//! and a budget of successful refreshes (a token-count bound would be unfair across policies:
//! no rotation spends fewer tokens). Verdicts are "at bound k".
//!
//! Properties are named as sentences and tagged with their clause. Invariants must hold under
//! every built-in profile; characteristics tell policies apart; `sometimes` properties prove
//! each interesting situation reachable where the policy allows it, so none is vacuous.

use serde::Serialize;
use stateright::{Model, Property};

use crate::dpop::ProofFault;
use crate::observe::{flag, observe, pending_observations, query_flags, rt_live_unconsumed};
use crate::policy::{ClientType, Narrowing, Policy, Rotation};
use crate::spec::{Action, Actor, Hint, Outcome, Spec, TokenRef};
use crate::state::{
    seen_grant, AtId, Event, GrantId, RtId, Scope, State, MAX_GRANTS, MAX_TOKENS, NONE,
};

/// How far the model checker looks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Bounds {
    /// Grants (authorizations) at most.
    pub grants: u8,
    /// Successful refreshes at most, over all grants.
    pub refreshes: u8,
    /// Actions per path at most (`None`: no limit but the others).
    pub depth: Option<u16>,
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds {
            grants: 1,
            refreshes: 4,
            depth: None,
        }
    }
}

impl Bounds {
    /// Checks the bounds fit the state's fixed arrays.
    pub fn validate(&self) -> Result<(), String> {
        if self.grants == 0 {
            return Err("--grants must be at least 1".into());
        }
        if self.grants as usize > MAX_GRANTS {
            return Err(format!("--grants must be at most {MAX_GRANTS}"));
        }
        let tokens = self.grants as usize + self.refreshes as usize;
        if tokens > MAX_TOKENS {
            return Err(format!(
                "--grants + --refreshes must be at most {MAX_TOKENS} (each issues at most one token of each kind)"
            ));
        }
        Ok(())
    }
}

/// One step of the model checker: a spec action and which of the allowed outcomes happens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Step {
    /// The action.
    pub action: Action,
    /// Index into the spec's allowed outcomes.
    pub choice: u8,
}

/// The lifecycle model: a spec (policy + optional test mutation) and bounds.
#[derive(Clone, Debug)]
pub struct LifecycleModel {
    /// The abstract server.
    pub spec: Spec,
    /// The bounds.
    pub bounds: Bounds,
}

/// `always`, `sometimes` or `eventually`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Must hold in every reachable state.
    Always,
    /// Must hold in some reachable state.
    Sometimes,
    /// Must hold eventually on every path.
    Eventually,
}

/// Invariant or characteristic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Group {
    /// Must hold under every conformant policy; a violation is a failure.
    Invariant,
    /// Tells policies apart; a violation is a finding about the policy.
    Characteristic,
}

/// A property with its metadata.
#[derive(Clone, Copy)]
pub struct PropertyInfo {
    /// The property, as a sentence.
    pub name: &'static str,
    /// A short, stable id. stateright knows properties by this id: its checker looks every
    /// property up by name in a hash map for every state, and hashing a sentence there
    /// cost a fifth of the checking time.
    pub id: &'static str,
    /// Always / sometimes.
    pub kind: Kind,
    /// Invariant / characteristic.
    pub group: Group,
    /// The clause it is tagged with.
    pub clause: &'static str,
    /// Whether it applies under a policy (a `sometimes` that the policy makes impossible
    /// does not).
    pub applies: fn(&Policy) -> bool,
    /// The condition: for `always` it must hold, for `sometimes` it is the witness.
    pub condition: fn(&LifecycleModel, &State) -> bool,
}

impl std::fmt::Debug for PropertyInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

fn any(_: &Policy) -> bool {
    true
}

macro_rules! flag_prop {
    ($f:ident, $flag:expr) => {
        fn $f(_: &LifecycleModel, s: &State) -> bool {
            s.violations & $flag == 0
        }
    };
}
flag_prop!(no_dead_at, flag::AT_DEAD);
flag_prop!(no_dead_rt, flag::RT_DEAD);
flag_prop!(rt_keeps_scope, flag::RT_SCOPE);
flag_prop!(no_widening, flag::WIDENED);
flag_prop!(no_other_client, flag::OTHER_CLIENT);
flag_prop!(replay_revokes, flag::REPLAY_SURVIVED);
flag_prop!(theft_bound, flag::THEFT);
flag_prop!(lost_liveness, flag::LOST);
flag_prop!(proof_binding, flag::UNPROVEN);
flag_prop!(nonce_keeps_token, flag::NONCE_LOST);

fn one_live_rt(m: &LifecycleModel, s: &State) -> bool {
    (0..s.n_grants).all(|g| {
        (0..s.n_rts)
            .filter(|&r| {
                s.rts[r as usize].family == g && rt_live_unconsumed(&m.spec.policy, s, RtId(r))
            })
            .count()
            <= 1
    })
}

macro_rules! event_prop {
    ($f:ident, $e:expr) => {
        fn $f(_: &LifecycleModel, s: &State) -> bool {
            s.events & $e.bit() != 0
        }
    };
}
event_prop!(ev_refresh_after_expiry, Event::RefreshAfterAccessExpired);
event_prop!(ev_rotated, Event::Rotated);
event_prop!(ev_kept, Event::Kept);
event_prop!(ev_grace, Event::GraceReuse);
event_prop!(ev_reuse, Event::ReuseDetected);
event_prop!(ev_rt_expired, Event::RefreshExpired);
event_prop!(ev_cap, Event::CapReached);
event_prop!(ev_idle, Event::IdleExpired);
event_prop!(ev_revoked, Event::RevokedRefresh);
event_prop!(ev_cascade_at, Event::CascadeToAccess);
event_prop!(ev_cascade_rt, Event::CascadeToRefresh);
event_prop!(ev_narrowed, Event::Narrowed);
event_prop!(ev_narrow_ignored, Event::NarrowingIgnored);
event_prop!(ev_narrow_refused, Event::NarrowingRefused);
event_prop!(ev_code_replay, Event::CodeReplayRevoked);
event_prop!(ev_attacker, Event::AttackerHonoured);
event_prop!(ev_no_offline, Event::NoRefreshWithoutOffline);
event_prop!(ev_lost_kept, Event::LostRetryKeptAccess);
event_prop!(ev_bound_key_refused, Event::BoundKeyRefused);
event_prop!(ev_key_moved, Event::KeyMoved);
event_prop!(ev_nonce_retry, Event::NonceRetryHonoured);

/// Every property of the model, in report order.
pub const PROPERTIES: &[PropertyInfo] = &[
    PropertyInfo {
        name: "no access token is honoured after it expired or was revoked",
        id: "dead-access-token",
        kind: Kind::Always,
        group: Group::Invariant,
        clause: "RFC6750-3.1",
        applies: any,
        condition: no_dead_at,
    },
    PropertyInfo {
        name: "no refresh token is honoured after it was consumed, revoked or expired, or its family was revoked",
        id: "dead-refresh-token",
        kind: Kind::Always,
        group: Group::Invariant,
        clause: "RFC6749-5.2",
        applies: any,
        condition: no_dead_rt,
    },
    PropertyInfo {
        name: "a rotated refresh token keeps the scope of the presented one",
        id: "rotated-keeps-scope",
        kind: Kind::Always,
        group: Group::Invariant,
        clause: "RFC6749-6",
        applies: any,
        condition: rt_keeps_scope,
    },
    PropertyInfo {
        name: "no refresh widens the scope of the grant",
        id: "no-widening",
        kind: Kind::Always,
        group: Group::Invariant,
        clause: "RFC6749-6",
        applies: any,
        condition: no_widening,
    },
    PropertyInfo {
        name: "no token is honoured for a client it was not issued to",
        id: "client-binding",
        kind: Kind::Always,
        group: Group::Invariant,
        clause: "RFC6749-10.4",
        applies: any,
        condition: no_other_client,
    },
    PropertyInfo {
        name: "replay of a consumed refresh token revokes its family where the policy detects reuse",
        id: "replay-revokes-family",
        kind: Kind::Always,
        group: Group::Invariant,
        clause: "RFC9700-4.14.2",
        applies: any,
        condition: replay_revokes,
    },
    PropertyInfo {
        name: "a stolen refresh token stops working once the client refreshes (theft bound)",
        id: "theft-bound",
        kind: Kind::Always,
        group: Group::Characteristic,
        clause: "RFC9700-4.14.2",
        applies: any,
        condition: theft_bound,
    },
    PropertyInfo {
        name: "a client that lost a refresh response and retries at once keeps access",
        id: "lost-response-liveness",
        kind: Kind::Always,
        group: Group::Characteristic,
        clause: "RFC9700-4.14.2",
        applies: any,
        condition: lost_liveness,
    },
    PropertyInfo {
        name: "no DPoP-bound token is honoured without a valid proof for its key",
        id: "dpop-binding",
        kind: Kind::Always,
        group: Group::Invariant,
        clause: "RFC9449-5",
        applies: Policy::any_dpop,
        condition: proof_binding,
    },
    PropertyInfo {
        name: "a refresh token challenged for a DPoP nonce is honoured when its client retries at once",
        id: "nonce-keeps-token",
        kind: Kind::Always,
        group: Group::Invariant,
        clause: "RFC9449-8",
        applies: |p| p.dpop_nonce,
        condition: nonce_keeps_token,
    },
    PropertyInfo {
        name: "a family has at most one live unconsumed refresh token",
        id: "one-live-refresh-token",
        kind: Kind::Always,
        group: Group::Characteristic,
        clause: "RFC9700-4.14.2",
        applies: any,
        condition: one_live_rt,
    },
    PropertyInfo {
        name: "a client refreshes after its access token expired",
        id: "refresh-after-access-expiry",
        kind: Kind::Sometimes,
        group: Group::Invariant,
        clause: "RFC6749-6",
        applies: any,
        condition: ev_refresh_after_expiry,
    },
    PropertyInfo {
        name: "a refresh rotates the refresh token",
        id: "rotation",
        kind: Kind::Sometimes,
        group: Group::Invariant,
        clause: "RFC6749-6",
        applies: Policy::may_rotate,
        condition: ev_rotated,
    },
    PropertyInfo {
        name: "a refresh keeps the refresh token",
        id: "no-rotation",
        kind: Kind::Sometimes,
        group: Group::Invariant,
        clause: "RFC6749-6",
        applies: Policy::may_keep,
        condition: ev_kept,
    },
    PropertyInfo {
        name: "a consumed refresh token is honoured inside the grace window",
        id: "grace-reuse",
        kind: Kind::Sometimes,
        group: Group::Invariant,
        clause: "RFC9700-4.14.2",
        applies: |p| p.grace.is_some(),
        condition: ev_grace,
    },
    PropertyInfo {
        name: "a replayed refresh token gets its family revoked",
        id: "reuse-detected",
        kind: Kind::Sometimes,
        group: Group::Invariant,
        clause: "RFC9700-4.14.2",
        applies: |p| p.reuse_detection && p.may_rotate(),
        condition: ev_reuse,
    },
    PropertyInfo {
        name: "a refresh token is refused because it expired",
        id: "refresh-token-expired",
        kind: Kind::Sometimes,
        group: Group::Invariant,
        clause: "RFC6749-5.2",
        applies: |p| p.refresh_ttl.is_some(),
        condition: ev_rt_expired,
    },
    PropertyInfo {
        name: "a refresh token is refused at the family's absolute cap",
        id: "absolute-cap",
        kind: Kind::Sometimes,
        group: Group::Invariant,
        clause: "browser-apps draft",
        applies: |p| p.absolute_cap.is_some(),
        condition: ev_cap,
    },
    PropertyInfo {
        name: "a refresh token dies of inactivity",
        id: "idle-timeout",
        kind: Kind::Sometimes,
        group: Group::Invariant,
        clause: "RFC9700-4.14.2",
        applies: |p| p.idle_timeout.is_some(),
        condition: ev_idle,
    },
    PropertyInfo {
        name: "a client revokes its refresh token",
        id: "revocation",
        kind: Kind::Sometimes,
        group: Group::Invariant,
        clause: "RFC7009-2",
        applies: any,
        condition: ev_revoked,
    },
    PropertyInfo {
        name: "revoking a refresh token cuts off the grant's access tokens",
        id: "cascade-to-access",
        kind: Kind::Sometimes,
        group: Group::Invariant,
        clause: "RFC7009-2.1",
        applies: |p| p.revoke_refresh_cascades.ends_access_tokens(),
        condition: ev_cascade_at,
    },
    PropertyInfo {
        name: "revoking an access token cuts off its refresh token",
        id: "cascade-to-refresh",
        kind: Kind::Sometimes,
        group: Group::Invariant,
        clause: "RFC7009-2.1",
        applies: |p| p.revoke_access_cascades.ends_refresh_tokens(),
        condition: ev_cascade_rt,
    },
    PropertyInfo {
        name: "a refresh is granted a narrower scope",
        id: "narrowing-granted",
        kind: Kind::Sometimes,
        group: Group::Invariant,
        clause: "RFC6749-6",
        applies: |p| p.narrowing == Narrowing::Allowed,
        condition: ev_narrowed,
    },
    PropertyInfo {
        name: "a refresh asking a narrower scope gets the original one",
        id: "narrowing-ignored",
        kind: Kind::Sometimes,
        group: Group::Invariant,
        clause: "RFC6749-6",
        applies: |p| p.narrowing == Narrowing::Ignored,
        condition: ev_narrow_ignored,
    },
    PropertyInfo {
        name: "a refresh asking a narrower scope is refused",
        id: "narrowing-refused",
        kind: Kind::Sometimes,
        group: Group::Invariant,
        clause: "RFC6749-6",
        applies: |p| p.narrowing == Narrowing::Refused,
        condition: ev_narrow_refused,
    },
    PropertyInfo {
        name: "a replayed authorization code revokes its tokens",
        id: "code-replay-revokes",
        kind: Kind::Sometimes,
        group: Group::Invariant,
        clause: "RFC6749-4.1.2",
        applies: |p| p.code_replay_revokes,
        condition: ev_code_replay,
    },
    PropertyInfo {
        name: "a stolen refresh token is honoured for the attacker",
        id: "attacker-honoured",
        kind: Kind::Sometimes,
        group: Group::Invariant,
        clause: "RFC9700-4.14.2",
        applies: |p| p.public_clients && !p.binds_refresh_token(ClientType::Public),
        condition: ev_attacker,
    },
    PropertyInfo {
        name: "an authorization without offline_access gets no refresh token",
        id: "no-offline-no-refresh",
        kind: Kind::Sometimes,
        group: Group::Invariant,
        clause: "OIDC-11",
        applies: |p| p.offline_access_required,
        condition: ev_no_offline,
    },
    PropertyInfo {
        name: "a client that lost a refresh response keeps access by retrying",
        id: "lost-retry-keeps-access",
        kind: Kind::Sometimes,
        group: Group::Invariant,
        clause: "RFC9700-4.14.2",
        applies: |p| p.grace.is_some() || p.may_keep() || !p.reuse_detection,
        condition: ev_lost_kept,
    },
    PropertyInfo {
        name: "a DPoP-bound refresh token is refused with another key",
        id: "bound-key-refused",
        kind: Kind::Sometimes,
        group: Group::Invariant,
        clause: "RFC9449-5",
        applies: |p| p.public_clients && p.binds_refresh_token(ClientType::Public),
        condition: ev_bound_key_refused,
    },
    PropertyInfo {
        name: "a confidential client's refresh with a new DPoP key is honoured",
        id: "dpop-key-moved",
        kind: Kind::Sometimes,
        group: Group::Invariant,
        clause: "RFC9449-5",
        applies: |p| p.uses_dpop(ClientType::Confidential),
        condition: ev_key_moved,
    },
    PropertyInfo {
        name: "a refresh retried after a DPoP nonce challenge is honoured",
        id: "nonce-retry",
        kind: Kind::Sometimes,
        group: Group::Invariant,
        clause: "RFC9449-8",
        applies: |p| p.dpop_nonce,
        condition: ev_nonce_retry,
    },
];

/// The property with this name (the sentence) or id.
pub fn property(name_or_id: &str) -> Option<&'static PropertyInfo> {
    PROPERTIES
        .iter()
        .find(|p| p.name == name_or_id || p.id == name_or_id)
}

impl LifecycleModel {
    /// A model of a correct server under `policy` at `bounds`.
    pub fn new(policy: Policy, bounds: Bounds) -> LifecycleModel {
        LifecycleModel {
            spec: Spec::new(policy),
            bounds,
        }
    }

    /// The policy.
    pub fn policy(&self) -> &Policy {
        &self.spec.policy
    }

    /// The checker's actions in `s`, each with every outcome index the spec allows.
    pub fn steps(&self, s: &State, out: &mut Vec<Step>) {
        let p = self.policy();
        let one = |out: &mut Vec<Step>, action: Action| out.push(Step { action, choice: 0 });
        if s.n_grants < self.bounds.grants {
            for client in p.client_types() {
                for scope in [Scope::ALL, Scope::READ] {
                    one(
                        out,
                        Action::Authorize {
                            client,
                            scope,
                            offline: true,
                        },
                    );
                    if p.offline_access_required {
                        one(
                            out,
                            Action::Authorize {
                                client,
                                scope,
                                offline: false,
                            },
                        );
                    }
                }
            }
        }
        let budget_left = s.refreshes < self.bounds.refreshes;
        let refresh_choices = |owner: ClientType| -> u8 {
            match p.rotation(owner) {
                Rotation::Any => 2,
                _ => 1,
            }
        };
        for g in 0..s.n_grants {
            let grant = &s.grants[g as usize];
            let owner = grant.client;
            let other = match owner {
                ClientType::Confidential => ClientType::Public,
                ClientType::Public => ClientType::Confidential,
            };
            // Without revocation a replayed code changes nothing: no step.
            if !grant.revoked && p.code_replay_revokes {
                one(out, Action::ReplayCode { grant: GrantId(g) });
            }
            if grant.legit_rt != NONE {
                let rt = RtId(grant.legit_rt);
                // Omitted, then narrower (or, for a narrow grant, wider than granted).
                let other_scope = if grant.scope == Scope::ALL {
                    Scope::READ
                } else {
                    Scope::ALL
                };
                for scope in [None, Some(other_scope)] {
                    for choice in 0..refresh_choices(owner) {
                        out.push(Step {
                            action: Action::Refresh {
                                by: Actor::Client(owner),
                                rt,
                                scope,
                            },
                            choice,
                        });
                    }
                }
                if budget_left {
                    for choice in 0..refresh_choices(owner) {
                        out.push(Step {
                            action: Action::RefreshLost { rt },
                            choice,
                        });
                    }
                }
                let other_served = p.client_types().any(|c| c == other);
                if other_served {
                    one(
                        out,
                        Action::Refresh {
                            by: Actor::Client(other),
                            rt,
                            scope: None,
                        },
                    );
                }
                let token = TokenRef::Refresh(rt);
                if p.uses_dpop(owner) {
                    // Every outcome the spec allows: the refusal codes, the owner's own
                    // refusal, or (another key for an unbound token) the owner's refresh.
                    for fault in [
                        ProofFault::OtherKey,
                        ProofFault::NoProof,
                        ProofFault::NoNonce,
                    ] {
                        if fault == ProofFault::NoNonce && !p.dpop_nonce {
                            continue;
                        }
                        for choice in 0..4 {
                            out.push(Step {
                                action: Action::Unproven { token, fault },
                                choice,
                            });
                        }
                    }
                }
                one(
                    out,
                    Action::Revoke {
                        by: Actor::Client(owner),
                        token,
                        hint: Hint::None,
                    },
                );
                if other_served {
                    one(
                        out,
                        Action::Revoke {
                            by: Actor::Client(other),
                            token,
                            hint: Hint::None,
                        },
                    );
                }
                one(out, Action::Introspect { token });
                if owner == ClientType::Public && grant.seen & seen_grant::STOLEN == 0 {
                    one(out, Action::Steal { rt });
                }
            }
            if grant.atk_rt != NONE {
                for choice in 0..refresh_choices(owner) {
                    out.push(Step {
                        action: Action::Refresh {
                            by: Actor::Attacker,
                            rt: RtId(grant.atk_rt),
                            scope: None,
                        },
                        choice,
                    });
                }
            }
            if grant.legit_at != NONE {
                let token = TokenRef::Access(AtId(grant.legit_at));
                one(
                    out,
                    Action::Revoke {
                        by: Actor::Client(owner),
                        token,
                        hint: Hint::None,
                    },
                );
                one(out, Action::Introspect { token });
            }
        }
        for a in 0..s.n_ats {
            if s.ats[a as usize].delivered {
                one(out, Action::UseAccess { at: AtId(a) });
                if p.uses_dpop(s.at_grant(AtId(a)).client) {
                    one(
                        out,
                        Action::Unproven {
                            token: TokenRef::Access(AtId(a)),
                            fault: ProofFault::OtherKey,
                        },
                    );
                }
            }
        }
        if crate::spec::next_deadline(s).is_some() {
            one(out, Action::Tick);
        }
    }

    /// The next state for a step, with the outcome, or `None` when the step is not allowed
    /// (outside the refresh budget) or changes nothing.
    pub fn next(&self, s: &State, step: &Step) -> Option<(Outcome, State)> {
        // Fast path: a query that changes nothing is no step; skip building a state.
        if !pending_observations(s) {
            if let Some((first, second)) = self.spec.query(s, &step.action) {
                let outcome = if step.choice == 0 {
                    Some(first)
                } else {
                    second
                };
                let outcome = outcome?;
                if query_flags(self.policy(), s, &step.action, &outcome) == 0 {
                    return None;
                }
            }
        }
        let mut n = s.clone();
        let outcome = self.spec.apply(&mut n, &step.action, step.choice).ok()??;
        let is_refresh = matches!(
            step.action,
            Action::Refresh { .. }
                | Action::RefreshLost { .. }
                | Action::Unproven {
                    token: TokenRef::Refresh(_),
                    ..
                }
        );
        if is_refresh
            && matches!(outcome, Outcome::Tokens { .. })
            && s.refreshes >= self.bounds.refreshes
        {
            return None;
        }
        observe(self.policy(), s, &step.action, &outcome, &mut n);
        if n.events == 0 {
            // A step that changes nothing but forgetting the last step's events is no step.
            n.events = s.events;
            if n == *s {
                return None;
            }
            n.events = 0;
        }
        Some((outcome, n))
    }

    /// The properties that apply under this model's policy.
    pub fn applicable(&self) -> impl Iterator<Item = &'static PropertyInfo> + '_ {
        PROPERTIES.iter().filter(|p| (p.applies)(self.policy()))
    }
}

impl Model for LifecycleModel {
    type State = State;
    type Action = Step;

    fn init_states(&self) -> Vec<State> {
        vec![State::default()]
    }

    fn actions(&self, s: &State, actions: &mut Vec<Step>) {
        self.steps(s, actions);
    }

    fn next_state(&self, s: &State, step: Step) -> Option<State> {
        self.next(s, &step).map(|(_, n)| n)
    }

    fn format_action(&self, step: &Step) -> String {
        step.action.to_string()
    }

    fn format_step(&self, s: &State, step: Step) -> Option<String> {
        self.next(s, &step)
            .map(|(outcome, n)| format!("{} → {outcome}\n\n{n:#?}", step.action))
    }

    fn properties(&self) -> Vec<Property<Self>> {
        self.applicable()
            .map(|p| match p.kind {
                Kind::Always => Property::always(p.id, p.condition),
                Kind::Sometimes => Property::sometimes(p.id, p.condition),
                Kind::Eventually => Property::eventually(p.id, p.condition),
            })
            .collect()
    }

    fn within_boundary(&self, _s: &State) -> bool {
        true
    }
}
