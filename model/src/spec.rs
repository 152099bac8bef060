//! The abstract token server: a pure function from (state, action) to the set of
//! (outcome, next state) pairs a conformant server may produce under a [`Policy`].
//!
//! This is the oracle. More than one pair means the server may choose (rotation `any`,
//! introspection of a live refresh token, a refused cross-client revocation); the harness
//! keeps every state consistent with what it saw. The spec writes only the server's
//! bookkeeping and the public deadlines; observations are `observe`'s.
//!
//! Clauses: RFC 6749 §4.1.2, §5.1, §5.2, §6, §10.4; RFC 6750 §3.1; RFC 7009 §2.1, §2.2;
//! RFC 7662 §2.2; RFC 9700 §4.14.2; OIDC Core §11.

use crate::policy::{
    ClientType, GraceSuccessor, Narrowing, OrderedCheck, Policy, RefreshEndsAccess, ReusePresenter,
    Rotation, SuccessorLifetime,
};
use crate::state::{
    AccessToken, AtId, Event, Grant, RefreshToken, RtId, RtStatus, Scope, State, NEVER, NONE,
};

pub use crate::action::{Action, Actor, Hint, Outcome, TokenRef};
pub use crate::rule::{cascade, Cascade, Expiry, Rule};

/// Deliberate spec bugs, for the suite's own tests: each must be caught by some property
/// under the policies where it is observable. Never used outside tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Mutation {
    /// A rotated refresh token is not marked consumed.
    ForgetConsume,
    /// A token presented by another client is treated as the presenter's.
    IgnoreBinding,
    /// Reuse detection revokes the refresh tokens but leaves the access tokens alive.
    ReplayKeepsAccess,
    /// A rotated refresh token takes the narrowed scope of the request.
    NarrowRotatedToken,
    /// Revoking an access token answers 200 but stores nothing.
    ForgetAccessRevocation,
    /// A refresh with a faulty DPoP proof is taken as its owner's good one.
    IgnoreProof,
    /// A `use_dpop_nonce` challenge consumes the refresh token it refuses.
    NonceConsumes,
}

impl Mutation {
    /// Every mutation.
    pub const ALL: [Mutation; 7] = [
        Mutation::ForgetConsume,
        Mutation::IgnoreBinding,
        Mutation::ReplayKeepsAccess,
        Mutation::NarrowRotatedToken,
        Mutation::ForgetAccessRevocation,
        Mutation::IgnoreProof,
        Mutation::NonceConsumes,
    ];
}

/// Why a step cannot be taken at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// The action names a token or grant that does not exist in the state.
    #[error("the action names {0}, which does not exist yet")]
    UnknownId(String),
    /// The state has no room for another token or grant.
    #[error("failed to issue: the model holds at most {0} tokens or grants per run")]
    Capacity(usize),
    /// A proof fault for a token whose client type does not use DPoP under the policy.
    #[error("the {}'s tokens are not DPoP-bound under this policy (sender_constraint)", Actor::Client(*.0))]
    NoDpop(ClientType),
    /// A proof fault that does not go with that kind of token (`wrong-ath` at the token
    /// endpoint, a replayed or nonce-less proof at the resource).
    #[error("{0} does not go with {1}")]
    FaultMisplaced(crate::dpop::ProofFault, TokenRef),
}

/// The abstract server: a policy (and, in tests, a deliberate bug).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Spec {
    /// The policy the server follows.
    pub policy: Policy,
    /// A deliberate bug, for the suite's own tests.
    pub mutation: Option<Mutation>,
}

impl Spec {
    /// A correct server under `policy`.
    pub fn new(policy: Policy) -> Spec {
        Spec {
            policy,
            mutation: None,
        }
    }

    /// A server with a deliberate bug (tests only).
    pub fn mutated(policy: Policy, mutation: Mutation) -> Spec {
        Spec {
            policy,
            mutation: Some(mutation),
        }
    }

    fn bug(&self, m: Mutation) -> bool {
        self.mutation == Some(m)
    }

    /// Every (outcome, next state) a conformant server may produce. Observation fields of
    /// the next state are left as they were; `observe::observe` fills them in.
    pub fn step(&self, s: &State, a: &Action) -> Result<Vec<(Outcome, State)>, SpecError> {
        let mut outs = Vec::with_capacity(2);
        let mut choice = 0;
        while let Some(pair) = self.step_choice(s, a, choice)? {
            outs.push(pair);
            choice += 1;
        }
        Ok(outs)
    }

    /// The `choice`-th of the pairs `step` returns, or `None` past the last; this is what
    /// the model checker calls, so it builds one next state only.
    pub fn step_choice(
        &self,
        s: &State,
        a: &Action,
        choice: u8,
    ) -> Result<Option<(Outcome, State)>, SpecError> {
        let mut next = s.clone();
        Ok(self.apply(&mut next, a, choice)?.map(|o| (o, next)))
    }

    /// `step_choice` in place: `s` is the state before, and after an `Ok(Some(outcome))`
    /// the state after. After `Ok(None)` or an error it may be partly changed.
    pub fn apply(
        &self,
        s: &mut State,
        a: &Action,
        choice: u8,
    ) -> Result<Option<Outcome>, SpecError> {
        self.check_ids(s, a)?;
        if let Some((first, second)) = self.query(s, a) {
            return Ok(match choice {
                0 => Some(first),
                1 => second,
                _ => None,
            });
        }
        let only = |o: Outcome| if choice == 0 { Some(o) } else { None };
        Ok(match *a {
            Action::Authorize {
                client,
                scope,
                offline,
            } => {
                if choice > 0 {
                    return Ok(None);
                }
                Some(self.authorize(s, client, scope, offline)?)
            }
            Action::ReplayCode { grant } => {
                if self.policy.code_replay_revokes {
                    revoke_grant(s, grant.0);
                }
                only(Outcome::invalid_grant())
            }
            Action::Refresh { by, rt, scope } => self.refresh(s, by, rt, scope, choice)?,
            Action::Unproven {
                token: TokenRef::Refresh(rt),
                fault,
            } => match proof::unproven_refresh_rule(&self.policy, self.mutation, s, rt, fault) {
                Rule::ProofRefused {
                    fault,
                    token_refused,
                } => self.proof_refusal(s, rt, fault, token_refused, choice)?,
                _ => {
                    let owner = s.rt_grant(rt).client;
                    self.refresh(s, Actor::Client(owner), rt, None, choice)?
                }
            },
            Action::RefreshLost { rt } => {
                let owner = s.rt_grant(rt).client;
                self.refresh(s, Actor::Client(owner), rt, None, choice)?
            }
            Action::Revoke { by, token, hint: _ } => self.revoke(s, by, token, choice),
            Action::Tick | Action::Advance { .. } => {
                // An `Advance` to a deadline not pending (passed, or none): no step.
                let Some(by) = time_passing(s, a).or(matches!(a, Action::Tick).then_some(0)) else {
                    return Ok(None);
                };
                advance(s, by);
                only(Outcome::Nothing)
            }
            Action::UseAccess { .. }
            | Action::Unproven {
                token: TokenRef::Access(_),
                ..
            }
            | Action::Introspect { .. }
            | Action::Restart
            | Action::Steal { .. } => only(Outcome::Nothing),
        })
    }

    /// The outcomes of an action that never changes the server's state (a resource call,
    /// an introspection, a restart), without building next states; `None` for other actions.
    /// The caller must have checked the ids (as `step` does).
    pub fn query(&self, s: &State, a: &Action) -> Option<(Outcome, Option<Outcome>)> {
        match *a {
            Action::UseAccess { at } => Some((Outcome::Resource { ok: at_live(s, at) }, None)),
            // RFC 9449 §7.1: a DPoP-bound access token needs a proof for its key.
            Action::Unproven {
                token: TokenRef::Access(at),
                ..
            } => Some((
                Outcome::Resource {
                    ok: self.bug(Mutation::IgnoreProof) && at_live(s, at),
                },
                None,
            )),
            Action::Introspect {
                token: TokenRef::Access(at),
            } => Some((
                Outcome::Introspection {
                    active: at_live(s, at),
                },
                None,
            )),
            // RFC 7662 lets a server decline to say a refresh token is active.
            Action::Introspect {
                token: TokenRef::Refresh(rt),
            } => Some(if rt_usable(s, rt) {
                (
                    Outcome::Introspection { active: true },
                    Some(Outcome::Introspection { active: false }),
                )
            } else {
                (Outcome::Introspection { active: false }, None)
            }),
            Action::Restart => Some((Outcome::Nothing, None)),
            _ => None,
        }
    }

    fn check_ids(&self, s: &State, a: &Action) -> Result<(), SpecError> {
        let rt = |r: RtId| {
            if s.has_rt(r) {
                Ok(())
            } else {
                Err(SpecError::UnknownId(r.to_string()))
            }
        };
        let at = |t: AtId| {
            if s.has_at(t) {
                Ok(())
            } else {
                Err(SpecError::UnknownId(t.to_string()))
            }
        };
        match *a {
            Action::ReplayCode { grant } if !s.has_grant(grant) => {
                Err(SpecError::UnknownId(grant.to_string()))
            }
            Action::Refresh { rt: r, .. }
            | Action::RefreshLost { rt: r }
            | Action::Steal { rt: r } => rt(r),
            Action::UseAccess { at: t } => at(t),
            Action::Revoke { token, .. }
            | Action::Introspect { token }
            | Action::Advance { token, .. } => match token {
                TokenRef::Refresh(r) => rt(r),
                TokenRef::Access(t) => at(t),
            },
            Action::Unproven { token, .. } => {
                match token {
                    TokenRef::Refresh(r) => rt(r)?,
                    TokenRef::Access(t) => at(t)?,
                }
                proof::check(&self.policy, s, a)
            }
            _ => Ok(()),
        }
    }

    fn authorize(
        &self,
        s: &mut State,
        client: ClientType,
        scope: Scope,
        offline: bool,
    ) -> Result<Outcome, SpecError> {
        if !s.room_for_grant() || !s.room_for_tokens() {
            return Err(SpecError::Capacity(crate::state::MAX_GRANTS));
        }
        let p = &self.policy;
        let g = s.n_grants;
        s.grants[g as usize] = Grant {
            client,
            scope,
            cap: p.absolute_cap.map_or(NEVER, |c| c.get()),
            ..Grant::default()
        };
        s.n_grants += 1;
        let access = mint_at(s, g, p);
        let refresh = if offline || !p.offline_access_required {
            Some(mint_rt(
                s,
                g,
                scope,
                p.refresh_lifetime().map_or(NEVER, |t| t.get()),
                p,
            ))
        } else {
            None
        };
        if let Some(r) = refresh {
            pair(s, access, r, p);
        }
        Ok(Outcome::Tokens {
            access,
            refresh,
            refresh_is_new: refresh.is_some(),
            scope,
        })
    }

    fn refresh(
        &self,
        s: &mut State,
        by: Actor,
        rt: RtId,
        req: Option<Scope>,
        choice: u8,
    ) -> Result<Option<Outcome>, SpecError> {
        let p = &self.policy;
        // Every refusal below is a single outcome: only choice 0 exists.
        let refuse = |o: Outcome| Ok(if choice == 0 { Some(o) } else { None });
        let rule = refresh_rule(p, self.mutation, s, by, rt, req);
        let token = s.rts[rt.0 as usize];
        let fam = token.family;
        let grace_reuse = match rule {
            Rule::ClientUnauthenticated => return refuse(Outcome::invalid_client()),
            Rule::ReuseRefused { .. } | Rule::ReuseByOtherClient => {
                if cascade(p, rule) == Cascade::Grant {
                    if self.bug(Mutation::ReplayKeepsAccess) {
                        kill_family_rts(s, fam);
                    } else {
                        revoke_grant(s, fam);
                    }
                }
                return refuse(Outcome::invalid_grant());
            }
            Rule::ScopeRefused { .. } => return refuse(Outcome::invalid_scope()),
            Rule::ProofRefused {
                fault,
                token_refused,
            } => return self.proof_refusal(s, rt, fault, token_refused, choice),
            Rule::GraceReuse { .. } => true,
            Rule::Refreshed { .. } => false,
            // Binding, revocation, expiry: refused, the token unaffected.
            _ => return refuse(Outcome::invalid_grant()),
        };
        // Scope (RFC 6749 §6): a subset of the original (refused above otherwise); omitted
        // means the original.
        let granted = match req {
            None => token.scope,
            Some(r) if r == token.scope => r,
            Some(r) => match p.narrowing {
                Narrowing::Allowed => r,
                Narrowing::Ignored | Narrowing::Refused => token.scope,
            },
        };
        if !s.room_for_tokens() {
            return Err(SpecError::Capacity(crate::state::MAX_TOKENS));
        }
        let rt_scope = if self.bug(Mutation::NarrowRotatedToken) {
            granted
        } else {
            token.scope
        };
        let inherit = |t: &RefreshToken| match p.successor_lifetime {
            SuccessorLifetime::Fresh => p.refresh_lifetime().map_or(NEVER, |v| v.get()),
            SuccessorLifetime::Inherited => t.exp,
        };
        // Only an honoured refresh ends anything; before the new access token exists.
        end_presented_access(s, rt, p);
        if grace_reuse {
            let g = p
                .grace
                .unwrap_or_else(|| unreachable!("grace reuse without grace"));
            s.rts[rt.0 as usize].reuses += 1;
            let access = mint_at(s, fam, p);
            let (refresh, is_new) = match g.successor {
                GraceSuccessor::Same => (RtId(token.successor), false),
                GraceSuccessor::New => (mint_rt(s, fam, rt_scope, inherit(&token), p), true),
            };
            pair(s, access, refresh, p);
            let out = Outcome::Tokens {
                access,
                refresh: Some(refresh),
                refresh_is_new: is_new,
                scope: granted,
            };
            return refuse(out);
        }
        let owner = s.grants[fam as usize].client;
        // Rotation `any`: choice 0 rotates, choice 1 keeps.
        let rotate = match (p.rotation(owner), choice) {
            (Rotation::Never, 0) => false,
            (Rotation::Always, 0) | (Rotation::Any, 0) => true,
            (Rotation::Any, 1) => false,
            _ => return Ok(None),
        };
        {
            let n = s;
            let access = mint_at(n, fam, p);
            let refresh = if rotate {
                let succ = mint_rt(n, fam, rt_scope, inherit(&token), p);
                let t = &mut n.rts[rt.0 as usize];
                t.successor = succ.0;
                t.grace = match p.grace {
                    Some(g) => g.window.map_or(NEVER, |w| w.get()),
                    None => 0,
                };
                if !self.bug(Mutation::ForgetConsume) {
                    t.status = RtStatus::Consumed;
                    if consumed_deadlines_idle(p) {
                        // A consumed token's deadlines no longer change any answer: collapse them.
                        t.exp = 0;
                        t.idle = 0;
                    }
                }
                Some(succ)
            } else {
                if let Some(idle) = p.idle_timeout {
                    n.rts[rt.0 as usize].idle = idle.get();
                }
                None
            };
            pair(n, access, refresh.unwrap_or(rt), p);
            let out = Outcome::Tokens {
                access,
                refresh,
                refresh_is_new: refresh.is_some(),
                scope: granted,
            };
            Ok(Some(out))
        }
    }

    fn revoke(&self, s: &mut State, by: Actor, token: TokenRef, choice: u8) -> Option<Outcome> {
        let only = |o: Outcome| if choice == 0 { Some(o) } else { None };
        let rule = revoke_rule(&self.policy, self.mutation, s, by, token);
        match (rule, token) {
            (Rule::ClientUnauthenticated, _) => return only(Outcome::invalid_client()),
            // RFC 7009 §2.1: not revoked; servers answer 200 or refuse.
            (Rule::RevokeByOtherClient, _) => {
                return match choice {
                    0 => Some(Outcome::Revocation { ok: true }),
                    1 => Some(Outcome::Revocation { ok: false }),
                    _ => None,
                }
            }
            (Rule::RefreshRevoked, TokenRef::Refresh(r)) => {
                let fam = s.rts[r.0 as usize].family;
                kill_rt(&mut s.rts[r.0 as usize]);
                end(s, fam, cascade(&self.policy, rule));
            }
            // Revoking a consumed token changes something only where the policy says it
            // ends more than the (already dead) token.
            (Rule::ConsumedRevoked, TokenRef::Refresh(r))
                if cascade(&self.policy, rule) != Cascade::None =>
            {
                let fam = s.rts[r.0 as usize].family;
                kill_rt(&mut s.rts[r.0 as usize]);
                end(s, fam, cascade(&self.policy, rule));
            }
            (Rule::AccessRevoked, TokenRef::Access(a))
                if !self.bug(Mutation::ForgetAccessRevocation) =>
            {
                let fam = s.ats[a.0 as usize].family;
                let t = &mut s.ats[a.0 as usize];
                t.revoked = true;
                t.exp = 0;
                end(s, fam, cascade(&self.policy, rule));
            }
            // RFC 7009 §2.1: revoking an access token MAY revoke the respective refresh token
            // as well. A server whose policy cascades from a live access token may do the
            // same from one that has only expired (django-oauth-toolkit deletes the row
            // whatever its expiry, and a refresh token without its access token is refused),
            // or treat it as invalid (§2.2): both are allowed, and the answer is the same.
            (Rule::DeadTokenRevoked, TokenRef::Access(a))
                if expired_only(s, a)
                    && cascade(&self.policy, Rule::AccessRevoked) != Cascade::None =>
            {
                match choice {
                    0 => {}
                    1 => {
                        let fam = s.ats[a.0 as usize].family;
                        end(s, fam, cascade(&self.policy, Rule::AccessRevoked));
                    }
                    _ => return None,
                }
                return Some(Outcome::Revocation { ok: true });
            }
            // A dead token is "invalid" and nothing happens (RFC 7009 §2.2).
            _ => {}
        }
        only(Outcome::Revocation { ok: true })
    }
}

/// The rule the spec applies to `a` in state `s` under `policy` (no deliberate bug): the
/// same for every outcome the action may have. The caller must have checked the ids (as
/// [`Spec::step`] does).
pub fn rule(policy: &Policy, s: &State, a: &Action) -> Rule {
    decide(policy, None, s, a)
}

impl Spec {
    /// The rule this server applies to `a` in state `s` (with its deliberate bug, if any).
    pub fn rule(&self, s: &State, a: &Action) -> Result<Rule, SpecError> {
        self.check_ids(s, a)?;
        Ok(decide(&self.policy, self.mutation, s, a))
    }
}

fn decide(p: &Policy, bug: Option<Mutation>, s: &State, a: &Action) -> Rule {
    match *a {
        Action::Authorize { .. } => Rule::CodeExchanged,
        Action::ReplayCode { .. } => Rule::CodeReplayRefused,
        Action::Refresh { by, rt, scope } => refresh_rule(p, bug, s, by, rt, scope),
        Action::RefreshLost { rt } => {
            let owner = s.rt_grant(rt).client;
            refresh_rule(p, bug, s, Actor::Client(owner), rt, None)
        }
        Action::Unproven {
            token: TokenRef::Refresh(rt),
            fault,
        } => proof::unproven_refresh_rule(p, bug, s, rt, fault),
        Action::Unproven {
            token: TokenRef::Access(at),
            fault,
        } => {
            if bug == Some(Mutation::IgnoreProof) {
                return decide(p, bug, s, &Action::UseAccess { at });
            }
            Rule::AccessProofRefused { fault }
        }
        Action::UseAccess { at } if at_live(s, at) => Rule::AccessHonoured,
        Action::UseAccess { at } => {
            let t = &s.ats[at.0 as usize];
            Rule::AccessRefused {
                grant_revoked: s.grants[t.family as usize].revoked,
                token_revoked: t.revoked,
            }
        }
        Action::Revoke { by, token, hint: _ } => revoke_rule(p, bug, s, by, token),
        Action::Introspect { token } => {
            let live = match token {
                TokenRef::Refresh(r) => rt_usable(s, r),
                TokenRef::Access(at) => at_live(s, at),
            };
            if live {
                Rule::IntrospectedLive
            } else {
                Rule::IntrospectedDead
            }
        }
        Action::Tick | Action::Advance { .. } => Rule::TimePasses,
        Action::Restart => Rule::Restarted,
        Action::Steal { .. } => Rule::Stolen,
    }
}

/// The client a request speaks for, or `None` when it fails client authentication (no
/// client's secret, for a confidential client's token: RFC 6749 §6).
fn presenter(bug: Option<Mutation>, by: Actor, owner: ClientType) -> Option<ClientType> {
    match by {
        Actor::Client(c) => Some(c),
        Actor::Attacker
            if owner == ClientType::Confidential && bug != Some(Mutation::IgnoreBinding) =>
        {
            None
        }
        Actor::Attacker => Some(ClientType::Public),
    }
}

/// The order of checks of a refresh (RFC 6749 §6, §5.2, §10.4; RFC 9700 §4.14.2): client
/// authentication before anything about the token, then binding, revocation, expiry and
/// reuse in the policy's order, grace, and the requested scope.
///
/// Another client's token is always refused. Under `reuse_presenter = "any-client"` (with
/// reuse detection) it is [`Rule::ReuseByOtherClient`] exactly where the owner's same
/// request would be [`Rule::ReuseRefused`]: the grant not revoked, the token not revoked,
/// consumed and outside any grace, and reuse the first refusal the policy's order reaches
/// (an expired token under expiry first, or a refused scope under scope first, is no reuse).
/// Whatever else the owner would get (honoured, a grace reuse, another refusal), nothing
/// changes: [`Rule::OtherClientsToken`].
fn refresh_rule(
    p: &Policy,
    bug: Option<Mutation>,
    s: &State,
    by: Actor,
    rt: RtId,
    req: Option<Scope>,
) -> Rule {
    let token = &s.rts[rt.0 as usize];
    let owner = s.grants[token.family as usize].client;
    let Some(presenter) = presenter(bug, by, owner) else {
        return Rule::ClientUnauthenticated;
    };
    if presenter != owner && bug != Some(Mutation::IgnoreBinding) {
        // RFC 6749 §10.4 / §5.2: issued to another client, never honoured for it. The token
        // is unaffected unless the policy acts on reuse whoever presents it: then the
        // request is read as its owner's, and only where that reading is a refused replay
        // (not revoked, consumed outside any grace, reuse the first refusal the policy's
        // order reaches for this request's scope and the token's deadlines) does reuse
        // detection's cascade follow. An active token, one inside its grace, an expired one
        // the policy refuses for expiry first, a revoked grant, a policy without reuse
        // detection: nothing changes.
        let owners_reuse = || {
            matches!(
                refresh_rule(p, bug, s, Actor::Client(owner), rt, req),
                Rule::ReuseRefused { .. }
            )
        };
        if p.reuse_presenter == ReusePresenter::AnyClient && p.reuse_detection && owners_reuse() {
            return Rule::ReuseByOtherClient;
        }
        return Rule::OtherClientsToken;
    }
    // RFC 9449 §5: the attacker holds the token, not the key its owner's proofs are signed
    // with; it proves possession of a key of its own.
    if by == Actor::Attacker && p.binds_refresh_token(owner) && bug != Some(Mutation::IgnoreProof) {
        let owners = refresh_rule(p, bug, s, Actor::Client(owner), rt, req);
        return Rule::ProofRefused {
            fault: crate::dpop::ProofFault::OtherKey,
            token_refused: !matches!(owners, Rule::Refreshed { .. } | Rule::GraceReuse { .. }),
        };
    }
    let grant_revoked = s.grants[token.family as usize].revoked;
    if grant_revoked || token.status == RtStatus::Revoked {
        return Rule::RevokedRefused {
            grant: grant_revoked,
            token: token.status == RtStatus::Revoked,
        };
    }
    // Reuse, expiry and scope in the policy's order: the first that applies is the answer.
    let expired = expiry(s, rt);
    let consumed = token.status == RtStatus::Consumed;
    let in_grace = consumed && expired.is_none() && in_grace_window(p, s, rt);
    let widening = req.is_some_and(|r| !r.is_subset(token.scope));
    let narrower_asked = req.is_some_and(|r| r != token.scope);
    let scope_refused = widening || (narrower_asked && p.narrowing == Narrowing::Refused);
    let first = p.check_order.first(|c| match c {
        OrderedCheck::Reuse => consumed && !in_grace,
        OrderedCheck::Expiry => expired.is_some(),
        OrderedCheck::Scope => scope_refused,
    });
    match (first, expired) {
        (Some(OrderedCheck::Reuse), _) => Rule::ReuseRefused {
            expired,
            in_window: p.grace.is_some() && token.grace > 0,
        },
        (Some(OrderedCheck::Expiry), Some(e)) => Rule::ExpiredRefused(e),
        (Some(OrderedCheck::Scope), _) => Rule::ScopeRefused { widening, in_grace },
        // (Expiry applies only with a deadline passed.)
        (None | Some(OrderedCheck::Expiry), _) if in_grace => Rule::GraceReuse { narrower_asked },
        (None | Some(OrderedCheck::Expiry), _) => Rule::Refreshed { narrower_asked },
    }
}

/// Whether a consumed token's deadlines can no longer change any answer, so the spec may
/// collapse them (fewer states): no grace window, no cascade when it is revoked (which
/// applies to unexpired tokens only), and no refusal of it that depends on
/// whether it expired (reuse is checked first, or, without reuse detection, expiry and reuse
/// give the same answer and no scope check sits between them).
fn consumed_deadlines_idle(p: &Policy) -> bool {
    use OrderedCheck::{Expiry, Reuse, Scope};
    let o = p.check_order;
    let scope_between = o.before(Expiry, Scope) && o.before(Scope, Reuse);
    let same_answer = !p.reuse_detection && !scope_between;
    p.grace.is_none()
        && p.revoke_consumed_cascades == Cascade::None
        && (o.before(Reuse, Expiry) || same_answer)
}

/// Whether a consumed token may still be honoured: inside its window, under the reuse
/// count, and only while its first successor is the family's unconsumed latest.
fn in_grace_window(p: &Policy, s: &State, rt: RtId) -> bool {
    let Some(g) = p.grace else {
        return false;
    };
    let t = &s.rts[rt.0 as usize];
    if t.grace == 0 || g.max_reuse.is_some_and(|m| t.reuses >= m) || t.successor == NONE {
        return false;
    }
    let succ = &s.rts[t.successor as usize];
    succ.status == RtStatus::Active && expiry(s, RtId(t.successor)).is_none()
}

/// The order of checks of a revocation (RFC 7009 §2.1, §2.2): client authentication, then
/// the token's client, then whether the token is still honoured.
fn revoke_rule(p: &Policy, bug: Option<Mutation>, s: &State, by: Actor, token: TokenRef) -> Rule {
    let fam = match token {
        TokenRef::Refresh(r) => s.rts[r.0 as usize].family,
        TokenRef::Access(a) => s.ats[a.0 as usize].family,
    };
    let owner = s.grants[fam as usize].client;
    let Some(presenter) = presenter(bug, by, owner) else {
        return Rule::ClientUnauthenticated;
    };
    if presenter != owner && bug != Some(Mutation::IgnoreBinding) {
        return Rule::RevokeByOtherClient;
    }
    let honoured = match token {
        // A token still honoured (live, or consumed but inside its grace window) is revoked;
        // a dead one is "invalid".
        TokenRef::Refresh(r) => {
            let consumed = s.rts[r.0 as usize].status == RtStatus::Consumed;
            rt_usable(s, r)
                || (consumed
                    && !s.grants[fam as usize].revoked
                    && expiry(s, r).is_none()
                    && in_grace_window(p, s, r))
        }
        TokenRef::Access(a) => at_live(s, a),
    };
    let consumed_revoked = match token {
        // Consumed outside any grace (else it is honoured), unexpired, of a live grant.
        TokenRef::Refresh(r) => {
            s.rts[r.0 as usize].status == RtStatus::Consumed
                && !s.grants[fam as usize].revoked
                && expiry(s, r).is_none()
        }
        TokenRef::Access(_) => false,
    };
    match (honoured, token) {
        (false, _) if consumed_revoked => Rule::ConsumedRevoked,
        (false, _) => Rule::DeadTokenRevoked,
        (true, TokenRef::Refresh(_)) => Rule::RefreshRevoked,
        (true, TokenRef::Access(_)) => Rule::AccessRevoked,
    }
}

/// Ends what a cascade reaches in grant `fam`.
fn end(s: &mut State, fam: u8, c: Cascade) {
    match c {
        Cascade::None => {}
        Cascade::RefreshTokens => kill_family_rts(s, fam),
        Cascade::AccessTokens => {
            for t in s.ats[..s.n_ats as usize]
                .iter_mut()
                .filter(|t| t.family == fam)
            {
                t.revoked = true;
                t.exp = 0;
            }
        }
        Cascade::Grant => revoke_grant(s, fam),
    }
}

fn kill_family_rts(s: &mut State, fam: u8) {
    for i in 0..s.n_rts as usize {
        if s.rts[i].family == fam {
            kill_rt(&mut s.rts[i]);
        }
    }
}

fn kill_rt(t: &mut RefreshToken) {
    t.status = RtStatus::Revoked;
    t.exp = 0;
    t.idle = 0;
    t.grace = 0;
}

/// Revokes a grant and every token of it; their deadlines collapse.
fn revoke_grant(s: &mut State, fam: u8) {
    let g = &mut s.grants[fam as usize];
    if g.revoked {
        return;
    }
    g.revoked = true;
    g.cap = 0;
    for t in s.rts[..s.n_rts as usize]
        .iter_mut()
        .filter(|t| t.family == fam)
    {
        kill_rt(t);
    }
    for t in s.ats[..s.n_ats as usize]
        .iter_mut()
        .filter(|t| t.family == fam)
    {
        t.revoked = true;
        t.exp = 0;
    }
}

/// Records `rt` as the refresh token `at` was issued with, where a refresh with `rt` will
/// end it (`refresh_ends_access = "presented"`).
fn pair(s: &mut State, at: AtId, rt: RtId, p: &Policy) {
    if p.refresh_ends_access == RefreshEndsAccess::Presented {
        s.ats[at.0 as usize].rt = rt.0;
    }
}

/// A refresh with `rt` was honoured: under `refresh_ends_access = "presented"` every access
/// token issued with `rt` ends (django-oauth-toolkit deletes it: RFC 6749 §6 allows it).
fn end_presented_access(s: &mut State, rt: RtId, p: &Policy) {
    if p.refresh_ends_access != RefreshEndsAccess::Presented {
        return;
    }
    for t in s.ats[..s.n_ats as usize]
        .iter_mut()
        .filter(|t| t.rt == rt.0)
    {
        t.revoked = true;
        t.exp = 0;
        // Nothing ends it twice: forget the pairing, so dead tokens merge into fewer states.
        t.rt = NONE;
    }
}

fn mint_at(s: &mut State, fam: u8, p: &Policy) -> AtId {
    let id = s.n_ats;
    s.ats[id as usize] = AccessToken {
        family: fam,
        exp: p.access_ttl.get(),
        ..AccessToken::default()
    };
    s.n_ats += 1;
    AtId(id)
}

fn mint_rt(s: &mut State, fam: u8, scope: Scope, exp: u32, p: &Policy) -> RtId {
    let id = s.n_rts;
    s.rts[id as usize] = RefreshToken {
        family: fam,
        scope,
        exp,
        idle: p.idle_timeout.map_or(NEVER, |v| v.get()),
        ..RefreshToken::default()
    };
    s.n_rts += 1;
    RtId(id)
}

/// Which deadline of a refresh token has passed, if any (the cap first, then its lifetime,
/// then the idle timeout).
pub fn expiry(s: &State, rt: RtId) -> Option<Expiry> {
    let t = &s.rts[rt.0 as usize];
    if s.grants[t.family as usize].cap == 0 {
        Some(Expiry::Cap)
    } else if t.exp == 0 {
        Some(Expiry::Lifetime)
    } else if t.idle == 0 {
        Some(Expiry::Idle)
    } else {
        None
    }
}

/// Why a refresh token is past one of its deadlines, if it is, as the event it shows.
pub fn expiry_reason(s: &State, rt: RtId) -> Option<Event> {
    expiry(s, rt).map(|e| match e {
        Expiry::Cap => Event::CapReached,
        Expiry::Lifetime => Event::RefreshExpired,
        Expiry::Idle => Event::IdleExpired,
    })
}

/// The server would refresh with this token (ignoring grace reuse of consumed ones).
pub fn rt_usable(s: &State, rt: RtId) -> bool {
    let t = &s.rts[rt.0 as usize];
    t.status == RtStatus::Active
        && !s.grants[t.family as usize].revoked
        && expiry_reason(s, rt).is_none()
}

/// This access token is dead only because it expired: not revoked, its grant live.
fn expired_only(s: &State, at: AtId) -> bool {
    let t = &s.ats[at.0 as usize];
    !t.revoked && t.exp == 0 && !s.grants[t.family as usize].revoked
}

/// The server honours this access token.
pub fn at_live(s: &State, at: AtId) -> bool {
    let t = &s.ats[at.0 as usize];
    !t.revoked && t.exp > 0 && !s.grants[t.family as usize].revoked
}

/// The next deadline that changes some answer, relative to now.
pub fn next_deadline(s: &State) -> Option<u32> {
    let mut best = NEVER;
    let mut consider = |d: u32| {
        if d > 0 && d < best {
            best = d;
        }
    };
    for g in s.grants() {
        if !g.revoked {
            consider(g.cap);
        }
    }
    for t in s.rts() {
        if t.status != RtStatus::Revoked {
            consider(t.exp);
            consider(t.idle);
            consider(t.grace);
        }
    }
    for t in s.ats() {
        if !t.revoked {
            consider(t.exp);
        }
    }
    (best != NEVER).then_some(best)
}

/// The seconds a move of time lets pass in `s`: a `Tick` to the next deadline, an
/// `Advance` to its deadline or one second before it; `None` for any other action, a tick
/// with no deadline left, or an advance to a deadline not pending.
pub fn time_passing(s: &State, a: &Action) -> Option<u32> {
    match *a {
        Action::Tick => next_deadline(s),
        Action::Advance { to, token, before } => {
            to.remaining(s, token)
                .map(|d| if before { d - 1 } else { d })
        }
        _ => None,
    }
}

/// Moves every deadline `by` seconds closer; passed ones become 0.
pub fn advance(s: &mut State, by: u32) {
    let dec = |d: &mut u32| {
        if *d != NEVER {
            *d = d.saturating_sub(by);
        }
    };
    for g in s.grants[..s.n_grants as usize].iter_mut() {
        dec(&mut g.cap);
    }
    for t in s.rts[..s.n_rts as usize].iter_mut() {
        dec(&mut t.exp);
        dec(&mut t.idle);
        dec(&mut t.grace);
    }
    for t in s.ats[..s.n_ats as usize].iter_mut() {
        dec(&mut t.exp);
    }
}

mod proof;
pub use proof::{refresh_fault_applies, refusal_codes};

#[cfg(test)]
mod tests;
