//! What a client learns from each response, and the judgement of it.
//!
//! Properties are judged from observations, never from the spec's bookkeeping, so a wrong
//! spec cannot hide behind its own state. The observer knows only what crossed the wire
//! (every response, including one a client lost), the clock (public deadlines, which follow
//! from the declared policy and the observed issuance times) and the declared policy. From
//! those it infers which tokens must be dead, independently of the spec's transition code,
//! and raises a flag when a response honours one. It also records the step's [`Event`] for
//! `sometimes` properties and keeps who holds which token.

use crate::dpop::ProofFault;
use crate::policy::{
    ClientType, OrderedCheck, Policy, RefreshEndsAccess, ReusePresenter, RevokeCascade,
};
use crate::spec::{expiry_reason, refresh_fault_applies, Action, Actor, Outcome, TokenRef};
use crate::state::{seen_grant, seen_rt, AtId, Event, RtId, Scope, State, NONE};
use crate::ErrorCode;

/// Violation flags (`State::violations`), one per always-property.
pub mod flag {
    /// An access token was honoured after it expired or was revoked.
    pub const AT_DEAD: u16 = 1 << 0;
    /// A refresh token was honoured after it was consumed, revoked or expired.
    pub const RT_DEAD: u16 = 1 << 1;
    /// A rotated refresh token lost scope.
    pub const RT_SCOPE: u16 = 1 << 2;
    /// A refresh granted a scope beyond the grant.
    pub const WIDENED: u16 = 1 << 3;
    /// A token was honoured for a client it was not issued to.
    pub const OTHER_CLIENT: u16 = 1 << 4;
    /// A token of a family revoked for reuse was honoured.
    pub const REPLAY_SURVIVED: u16 = 1 << 5;
    /// A DPoP-bound token was honoured without a valid proof for its key, or a DPoP
    /// client's refresh without a valid proof (RFC 9449 §5, §7.1).
    pub const UNPROVEN: u16 = 1 << 6;
    /// A refresh token challenged for a DPoP nonce was refused when its owner retried at
    /// once (RFC 9449 §8: the challenge must leave it as it was).
    pub const NONCE_LOST: u16 = 1 << 7;
    /// Characteristic: the attacker was honoured after the legitimate client's refresh.
    pub const THEFT: u16 = 1 << 8;
    /// Characteristic: a retried lost refresh left the client without access.
    pub const LOST: u16 = 1 << 9;
}

fn rt_expired(s: &State, rt: RtId) -> bool {
    expiry_reason(s, rt).is_some()
}

fn rt_revoked_seen(s: &State, rt: RtId) -> bool {
    let t = &s.rts[rt.0 as usize];
    t.seen & seen_rt::REVOKED != 0 || s.grants[t.family as usize].seen & seen_grant::DEAD != 0
}

fn rt_consumed_seen(s: &State, rt: RtId) -> bool {
    s.rts[rt.0 as usize].seen & seen_rt::CONSUMED != 0
}

/// The declared policy allows honouring this consumed token once more.
fn grace_allows(p: &Policy, s: &State, rt: RtId) -> bool {
    let Some(g) = p.grace else { return false };
    let t = &s.rts[rt.0 as usize];
    if t.grace == 0 || g.max_reuse.is_some_and(|m| t.seen_reuses >= m) || t.seen_successor == NONE {
        return false;
    }
    let succ = RtId(t.seen_successor);
    !rt_consumed_seen(s, succ) && !rt_revoked_seen(s, succ) && !rt_expired(s, succ)
}

/// A refresh token the observer knows must be refused.
pub fn rt_known_dead(p: &Policy, s: &State, rt: RtId) -> bool {
    rt_expired(s, rt)
        || rt_revoked_seen(s, rt)
        || (rt_consumed_seen(s, rt) && !grace_allows(p, s, rt))
}

/// A live refresh token no one has rotated away yet.
pub fn rt_live_unconsumed(p: &Policy, s: &State, rt: RtId) -> bool {
    !rt_consumed_seen(s, rt) && !rt_known_dead(p, s, rt)
}

/// An access token the observer knows must be refused.
pub fn at_known_dead(s: &State, at: AtId) -> bool {
    let t = &s.ats[at.0 as usize];
    t.exp == 0 || t.seen_revoked || s.grants[t.family as usize].seen & seen_grant::DEAD != 0
}

fn family_has_live_at(s: &State, fam: u8) -> bool {
    (0..s.n_ats).any(|a| s.ats[a as usize].family == fam && !at_known_dead(s, AtId(a)))
}

fn family_has_live_rt(p: &Policy, s: &State, fam: u8) -> bool {
    (0..s.n_rts).any(|r| s.rts[r as usize].family == fam && rt_live_unconsumed(p, s, RtId(r)))
}

/// Whether `by` speaks for the client that owns a family of `owner`: the client itself, or
/// anyone without a secret for a public client.
fn speaks_for(by: Actor, owner: ClientType) -> bool {
    match by {
        Actor::Client(c) => c == owner,
        Actor::Attacker => owner == ClientType::Public,
    }
}

/// Updates the observation fields of `post` (a next state the spec allowed from `pre` under
/// `action` with `outcome`): seen bits, holdings, violation flags and the step's event.
pub fn observe(p: &Policy, pre: &State, action: &Action, outcome: &Outcome, post: &mut State) {
    post.events = 0;
    // A lost response is retried "at once" only by the very next action.
    for g in post.grants[..post.n_grants as usize].iter_mut() {
        g.seen &=
            !(seen_grant::LOST_PENDING | seen_grant::LOST_ENDED_ACCESS | seen_grant::NONCE_PENDING);
    }
    match *action {
        Action::Authorize { scope, offline, .. } => {
            if let Outcome::Tokens {
                access, refresh, ..
            } = *outcome
            {
                let g = (post.n_grants - 1) as usize;
                post.grants[g].seen = 0;
                post.grants[g].legit_at = access.0;
                post.ats[access.0 as usize].delivered = true;
                post.grants[g].scope = scope;
                match refresh {
                    Some(r) => {
                        seen_pair(p, post, access, r);
                        post.grants[g].legit_rt = r.0;
                        post.rts[r.0 as usize].seen |= seen_rt::DELIVERED;
                    }
                    None if !offline => post.events |= Event::NoRefreshWithoutOffline.bit(),
                    None => {}
                }
            }
        }
        Action::ReplayCode { grant } => {
            let fam = grant.0;
            if matches!(outcome, Outcome::Tokens { .. }) {
                // A second exchange must never succeed; its tokens count as honoured dead ones.
                post.violations |= flag::RT_DEAD;
            }
            if p.code_replay_revokes && pre.grants[fam as usize].seen & seen_grant::DEAD == 0 {
                if family_has_live_at(pre, fam) || family_has_live_rt(p, pre, fam) {
                    post.events |= Event::CodeReplayRevoked.bit();
                }
                post.grants[fam as usize].seen |= seen_grant::DEAD_CODE;
            }
        }
        Action::Refresh { by, rt, scope } => refresh(p, pre, by, rt, scope, false, outcome, post),
        Action::RefreshLost { rt } => {
            let owner = pre.rt_grant(rt).client;
            refresh(p, pre, Actor::Client(owner), rt, None, true, outcome, post)
        }
        Action::UseAccess { .. }
        | Action::Introspect { .. }
        | Action::Unproven {
            token: TokenRef::Access(_),
            ..
        } => {
            post.violations |= query_flags(p, pre, action, outcome);
        }
        Action::Unproven {
            token: TokenRef::Refresh(rt),
            fault,
        } => unproven_refresh(p, pre, rt, fault, outcome, post),
        Action::Revoke { by, token, .. } => {
            let fam = match token {
                TokenRef::Refresh(r) => pre.rts[r.0 as usize].family,
                TokenRef::Access(a) => pre.ats[a.0 as usize].family,
            } as usize;
            if !matches!(outcome, Outcome::Revocation { ok: true })
                || !speaks_for(by, pre.grants[fam].client)
            {
                return;
            }
            match token {
                TokenRef::Refresh(r) => {
                    // A token the server may still honour (live, or consumed inside its grace
                    // window) is revoked; a dead one is "invalid" and stays as it is (§2.2),
                    // unless the policy has a consumed token's revocation end more.
                    if !rt_known_dead(p, pre, r) {
                        post.rts[r.0 as usize].seen |= seen_rt::REVOKED;
                        post.events |= Event::RevokedRefresh.bit();
                        cascade_seen(p, pre, post, fam, p.revoke_refresh_cascades, false);
                    } else if consumed_unexpired(pre, r)
                        && p.revoke_consumed_cascades != RevokeCascade::None
                    {
                        post.rts[r.0 as usize].seen |= seen_rt::REVOKED;
                        cascade_seen(p, pre, post, fam, p.revoke_consumed_cascades, false);
                    }
                }
                TokenRef::Access(a) => {
                    if !at_known_dead(pre, a) {
                        post.ats[a.0 as usize].seen_revoked = true;
                        cascade_seen(p, pre, post, fam, p.revoke_access_cascades, true);
                    }
                }
            }
        }
        Action::Tick | Action::Advance { .. } | Action::Restart => {}
        Action::Steal { rt } => {
            let g = &mut post.grants[pre.rts[rt.0 as usize].family as usize];
            g.seen |= seen_grant::STOLEN;
            g.atk_rt = rt.0;
        }
    }
}

/// The owner's refresh of `rt` with a faulty proof: honoured only where the fault is none
/// under the policy (another key for a confidential client's unbound token); a nonce
/// challenge of the client's current token is to be retried at once.
fn unproven_refresh(
    p: &Policy,
    pre: &State,
    rt: RtId,
    fault: ProofFault,
    outcome: &Outcome,
    post: &mut State,
) {
    let fam = pre.rts[rt.0 as usize].family as usize;
    let owner = pre.grants[fam].client;
    let by = Actor::Client(owner);
    if !refresh_fault_applies(p, owner, fault) {
        refresh(p, pre, by, rt, None, false, outcome, post);
        if fault == ProofFault::OtherKey && matches!(outcome, Outcome::Tokens { .. }) {
            post.events |= Event::KeyMoved.bit();
        }
        return;
    }
    match *outcome {
        Outcome::Tokens { .. } => {
            post.violations |= flag::UNPROVEN;
            refresh(p, pre, by, rt, None, false, outcome, post);
        }
        // A challenge of the token the client holds: its retry must be honoured.
        Outcome::Error {
            error: ErrorCode::UseDpopNonce,
            ..
        } if pre.grants[fam].legit_rt == rt.0 && rt_live_unconsumed(p, pre, rt) => {
            post.grants[fam].seen |= seen_grant::NONCE_PENDING;
        }
        Outcome::Error { .. } if fault == ProofFault::OtherKey && !rt_known_dead(p, pre, rt) => {
            post.events |= Event::BoundKeyRefused.bit();
        }
        _ => {}
    }
}

/// Under `refresh_ends_access = "presented"`: `at` came in one response with `rt` (or
/// kept `rt`), so a refresh with `rt` will end it.
fn seen_pair(p: &Policy, post: &mut State, at: AtId, rt: RtId) {
    if p.refresh_ends_access == RefreshEndsAccess::Presented {
        post.ats[at.0 as usize].seen_rt = rt.0;
    }
}

/// A refresh with `rt` was honoured: under `refresh_ends_access = "presented"` the access
/// tokens seen issued with `rt` are dead from now on.
fn seen_refresh_ends(p: &Policy, post: &mut State, rt: RtId) {
    if p.refresh_ends_access != RefreshEndsAccess::Presented {
        return;
    }
    for t in post.ats[..post.n_ats as usize]
        .iter_mut()
        .filter(|t| t.seen_rt == rt.0)
    {
        t.seen_revoked = true;
        t.seen_ended = true;
        t.seen_rt = NONE;
    }
}

/// A consumed token, dead only because it was consumed: not seen revoked, unexpired, its
/// grant not seen dead.
fn consumed_unexpired(s: &State, rt: RtId) -> bool {
    rt_consumed_seen(s, rt) && !rt_revoked_seen(s, rt) && !rt_expired(s, rt)
}

/// What the client learns from a 200 revocation whose policy ends `c` of grant `fam` too.
/// The events are those of the `sometimes` properties: a refresh token's revocation cutting
/// off a live access token, an access token's cutting off a live refresh token.
fn cascade_seen(
    p: &Policy,
    pre: &State,
    post: &mut State,
    fam: usize,
    c: RevokeCascade,
    of_access: bool,
) {
    if c.ends_access_tokens() && !of_access && family_has_live_at(pre, fam as u8) {
        post.events |= Event::CascadeToAccess.bit();
    }
    if c.ends_refresh_tokens() && of_access && family_has_live_rt(p, pre, fam as u8) {
        post.events |= Event::CascadeToRefresh.bit();
    }
    if c == RevokeCascade::Grant {
        post.grants[fam].seen |= seen_grant::DEAD_REVOKE;
        return;
    }
    if c.ends_refresh_tokens() {
        for t in post.rts[..post.n_rts as usize].iter_mut() {
            if t.family as usize == fam {
                t.seen |= seen_rt::REVOKED;
            }
        }
    }
    if c.ends_access_tokens() {
        for t in post.ats[..post.n_ats as usize].iter_mut() {
            if t.family as usize == fam {
                t.seen_revoked = true;
            }
        }
    }
}

/// The violation flags a resource call or an introspection raises.
pub fn query_flags(p: &Policy, pre: &State, action: &Action, outcome: &Outcome) -> u16 {
    let mut flags = 0;
    let (dead, grant) = match (*action, *outcome) {
        (
            Action::Unproven {
                token: TokenRef::Access(at),
                ..
            },
            Outcome::Resource { ok: true },
        ) => {
            flags |= flag::UNPROVEN;
            if at_known_dead(pre, at) {
                flags |= flag::AT_DEAD;
            }
            (flags, pre.at_grant(at))
        }
        (Action::UseAccess { at }, Outcome::Resource { ok: true })
        | (
            Action::Introspect {
                token: TokenRef::Access(at),
            },
            Outcome::Introspection { active: true },
        ) => {
            if at_known_dead(pre, at) {
                flags |= flag::AT_DEAD;
            }
            (flags, pre.at_grant(at))
        }
        (
            Action::Introspect {
                token: TokenRef::Refresh(rt),
            },
            Outcome::Introspection { active: true },
        ) => {
            if rt_known_dead(p, pre, rt) {
                flags |= flag::RT_DEAD;
            }
            (flags, pre.rt_grant(rt))
        }
        _ => return 0,
    };
    if grant.seen & seen_grant::DEAD_REPLAY != 0 {
        dead | flag::REPLAY_SURVIVED
    } else {
        dead
    }
}

/// Whether an action after `s` changes observations even when the server does nothing.
pub fn pending_observations(s: &State) -> bool {
    s.events != 0
        || s.grants()
            .iter()
            .any(|g| g.seen & (seen_grant::LOST_PENDING | seen_grant::NONCE_PENDING) != 0)
}

#[allow(clippy::too_many_arguments)]
fn refresh(
    p: &Policy,
    pre: &State,
    by: Actor,
    rt: RtId,
    req: Option<Scope>,
    lost: bool,
    outcome: &Outcome,
    post: &mut State,
) {
    let fam = pre.rts[rt.0 as usize].family as usize;
    let grant = pre.grants[fam];
    let owner = grant.client;
    let legit = by == Actor::Client(owner);
    let processed = speaks_for(by, owner);
    // The attacker has no key for a DPoP-bound token: its refusal may be the proof's, so
    // nothing is read from it about reuse.
    let unproven = by == Actor::Attacker && p.binds_refresh_token(owner);
    // Another authenticated client's refused presentation is read for reuse only, and only
    // where the declared policy acts on reuse whoever presents (`reuse_presenter`).
    let reuse_from_any = p.reuse_presenter == ReusePresenter::AnyClient
        && matches!(by, Actor::Client(c) if c != owner);
    let was_consumed = rt_consumed_seen(pre, rt);
    let dead_before = rt_known_dead(p, pre, rt);
    // The legitimate client's attempt counts once the server judged the token itself
    // (a scope refusal leaves the token untouched).
    let judged_token = matches!(
        outcome,
        Outcome::Tokens { .. }
            | Outcome::Error {
                error: ErrorCode::InvalidGrant,
                ..
            }
    );
    if legit && judged_token && grant.seen & seen_grant::STOLEN != 0 {
        post.grants[fam].seen |= seen_grant::LEGIT_TRIED;
    }
    let retry_of_lost = legit
        && !lost
        && req.is_none()
        && grant.seen & seen_grant::LOST_PENDING != 0
        && grant.legit_rt == rt.0;
    if legit && !lost && req.is_none() && grant.seen & seen_grant::NONCE_PENDING != 0 {
        match outcome {
            Outcome::Tokens { .. } => post.events |= Event::NonceRetryHonoured.bit(),
            Outcome::Error {
                error: ErrorCode::InvalidGrant,
                ..
            } if !dead_before => post.violations |= flag::NONCE_LOST,
            _ => {}
        }
    }
    match *outcome {
        Outcome::Tokens {
            access,
            refresh,
            refresh_is_new,
            scope: granted,
        } => {
            if !processed {
                post.violations |= flag::OTHER_CLIENT;
            }
            if unproven {
                post.violations |= flag::UNPROVEN;
            }
            if dead_before {
                post.violations |= flag::RT_DEAD;
            }
            if grant.seen & seen_grant::DEAD_REPLAY != 0 {
                post.violations |= flag::REPLAY_SURVIVED;
            }
            if !granted.is_subset(grant.scope) {
                post.violations |= flag::WIDENED;
            }
            if (req.is_none() || req == Some(grant.scope)) && granted != grant.scope {
                post.violations |= flag::RT_SCOPE;
            }
            if by == Actor::Attacker && grant.seen & seen_grant::LEGIT_TRIED != 0 {
                post.violations |= flag::THEFT;
            }
            seen_refresh_ends(p, post, rt);
            seen_pair(p, post, access, refresh.unwrap_or(rt));
            post.refreshes = post.refreshes.saturating_add(1);
            post.events |= if was_consumed {
                post.rts[rt.0 as usize].seen_reuses += 1;
                Event::GraceReuse.bit()
            } else if refresh_is_new {
                Event::Rotated.bit()
            } else {
                Event::Kept.bit()
            };
            if let Some(new) = refresh.filter(|_| refresh_is_new) {
                let t = &mut post.rts[rt.0 as usize];
                if t.seen & seen_rt::CONSUMED == 0 {
                    t.seen |= seen_rt::CONSUMED;
                    t.seen_successor = new.0;
                }
            }
            match req {
                Some(r) if r != grant.scope && granted == r => post.events |= Event::Narrowed.bit(),
                Some(r) if r != grant.scope && r.is_subset(grant.scope) => {
                    post.events |= Event::NarrowingIgnored.bit();
                }
                _ => {}
            }
            if !lost {
                post.ats[access.0 as usize].delivered = true;
                if let Some(r) = refresh {
                    post.rts[r.0 as usize].seen |= seen_rt::DELIVERED;
                }
                if legit {
                    if pre.grants[fam].legit_at != NONE
                        && pre.ats[pre.grants[fam].legit_at as usize].exp == 0
                    {
                        post.events |= Event::RefreshAfterAccessExpired.bit();
                    }
                    post.grants[fam].legit_at = access.0;
                    if let Some(r) = refresh {
                        post.grants[fam].legit_rt = r.0;
                    }
                } else if by == Actor::Attacker {
                    post.events |= Event::AttackerHonoured.bit();
                    if let Some(r) = refresh {
                        post.grants[fam].atk_rt = r.0;
                    }
                }
            } else {
                post.grants[fam].seen |= seen_grant::LOST_PENDING;
                let held = pre.grants[fam].legit_at;
                if held != NONE
                    && !at_known_dead(pre, AtId(held))
                    && at_known_dead(post, AtId(held))
                {
                    post.grants[fam].seen |= seen_grant::LOST_ENDED_ACCESS;
                }
            }
        }
        // Nothing is read about reuse from a refusal that may be the proof's.
        Outcome::Error { .. } if unproven => {
            post.events |= if dead_before {
                0
            } else {
                Event::BoundKeyRefused.bit()
            };
        }
        Outcome::Error { .. } if processed || reuse_from_any => {
            // A refused replay of a consumed token is reuse; where the declared policy detects
            // reuse, the family is now dead, unless a check the policy puts first (expiry,
            // scope) refused it.
            let expired = rt_expired(pre, rt);
            let widening = req.is_some_and(|r| !r.is_subset(grant.scope));
            let narrowing_refused = req
                .is_some_and(|r| r != grant.scope && r.is_subset(grant.scope))
                && p.narrowing == crate::policy::Narrowing::Refused;
            let scope_bad = widening || narrowing_refused;
            let first = |reuse: bool| {
                p.check_order.first(|c| match c {
                    OrderedCheck::Scope => scope_bad,
                    OrderedCheck::Expiry => expired,
                    OrderedCheck::Reuse => reuse,
                })
            };
            if was_consumed
                && dead_before
                && !rt_revoked_seen(pre, rt)
                && p.reuse_detection
                && first(true) == Some(OrderedCheck::Reuse)
            {
                if family_has_live_at(pre, fam as u8) || family_has_live_rt(p, pre, fam as u8) {
                    post.events |= Event::ReuseDetected.bit();
                }
                post.grants[fam].seen |= seen_grant::DEAD_REPLAY;
            } else if processed && !was_consumed && !rt_revoked_seen(pre, rt) {
                match (first(false), expiry_reason(pre, rt)) {
                    (Some(OrderedCheck::Expiry), Some(reason)) => post.events |= reason.bit(),
                    (Some(OrderedCheck::Scope), _) if narrowing_refused => {
                        post.events |= Event::NarrowingRefused.bit();
                    }
                    _ => {}
                }
            }
        }
        _ => {}
    }
    if retry_of_lost {
        // Access is lost when the refused retry leaves the client without the access it had
        // before it lost the response: the retry killed the access token it still held, or
        // the lost refresh itself ended that token (`refresh_ends_access`) and the retry got
        // nothing in its place.
        let honoured = matches!(outcome, Outcome::Tokens { .. });
        let at = grant.legit_at;
        let had_access = (at != NONE && !at_known_dead(pre, AtId(at)))
            || grant.seen & seen_grant::LOST_ENDED_ACCESS != 0;
        let has_access = honoured || (at != NONE && !at_known_dead(post, AtId(at)));
        if has_access || !had_access {
            post.events |= Event::LostRetryKeptAccess.bit();
        } else {
            post.violations |= flag::LOST;
        }
    }
}
