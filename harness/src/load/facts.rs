//! The facts of one family's history, gathered in one pass for the checker (`check`): when
//! each token was surely issued, consumed, revoked, or possibly so, and when the family
//! surely died. Each fact is bounded from the side that makes it certain: a request takes
//! effect somewhere between being sent and being answered.
//!
//! What a refused replay or a revocation does to the rest of the family is read once from
//! the spec's cascade table (RFC 9700 §4.14.2, RFC 7009 §2.1).

use tokenlife_model::policy::{RefreshEndsAccess, Seconds, SuccessorLifetime};
use tokenlife_model::spec::{cascade, Cascade, Rule};
use tokenlife_model::{ErrorCode, Policy};

use super::history::{At, History, Micros, Op, Request, Response, Rt};

/// How the server's clock relates to the load's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clock {
    /// Wall time on both sides; a deadline may come `tolerance` early or late (the server
    /// counts whole seconds, and its clock is not ours).
    Real {
        /// The tolerance around every deadline.
        tolerance: Micros,
    },
    /// The server's clock does not move (a frozen test clock): nothing expires.
    Frozen,
}

impl Clock {
    /// The real clock with a tolerance in seconds.
    pub fn real(seconds: u32) -> Clock {
        Clock::Real {
            tolerance: micros(Seconds(seconds)),
        }
    }
}

pub(super) fn micros(s: Seconds) -> Micros {
    u64::from(s.get()) * 1_000_000
}

pub(super) const NEVER: Micros = Micros::MAX;

/// The earliest time of some event and the request behind it.
#[derive(Clone, Copy, Debug)]
pub(super) struct First {
    pub(super) at: Micros,
    pub(super) op: usize,
}

impl First {
    pub(super) const NONE: First = First { at: NEVER, op: 0 };

    pub(super) fn offer(&mut self, at: Micros, op: usize) {
        if at < self.at {
            *self = First { at, op };
        }
    }

    pub(super) fn min(self, other: First) -> First {
        if other.at < self.at {
            other
        } else {
            self
        }
    }

    /// Whether it happened strictly before `t`.
    pub(super) fn before(self, t: Micros) -> bool {
        self.at < t
    }
}

#[derive(Clone, Debug)]
pub(super) struct RtFacts {
    /// The earliest time it can have been issued (the sending of a request that returned it).
    pub(super) issued: Micros,
    /// The first request (by sending time) that returned it.
    pub(super) issuer: Option<usize>,
    /// 200s of it that returned another refresh token (each consumed it).
    pub(super) rotations: Vec<usize>,
    /// The earliest answer of one of those: it is surely consumed from then on.
    pub(super) rotated: First,
    /// 200s of it that returned no refresh token or itself.
    pub(super) keeps: Vec<usize>,
    /// The earliest sending of a request that may have consumed it.
    pub(super) consumer: First,
    /// The earliest sending of a refresh of it without a definite answer.
    pub(super) uncertain: First,
    /// Its revocations.
    pub(super) revocation: Revocation,
    /// Refreshes of it answered with tokens or without a definite answer: each may have
    /// ended the access tokens issued with it (`refresh_ends_access = "presented"`).
    pub(super) refreshes: Vec<usize>,
}

impl RtFacts {
    pub(super) fn new() -> RtFacts {
        RtFacts {
            issued: NEVER,
            issuer: None,
            rotations: Vec::new(),
            rotated: First::NONE,
            keeps: Vec::new(),
            consumer: First::NONE,
            uncertain: First::NONE,
            revocation: Revocation::NONE,
            refreshes: Vec::new(),
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub(super) struct AtFacts {
    pub(super) issued: Micros,
    pub(super) issuer: Option<usize>,
    pub(super) revocation: Revocation,
    /// The refresh token its first response issued it with (that response's, or the
    /// presented one when the response kept it).
    pub(super) issued_with: Option<Rt>,
}

/// The revocations of one token.
#[derive(Clone, Copy, Debug)]
pub(super) struct Revocation {
    /// The earliest answer of one answered 200: the token is dead from then on.
    pub(super) sure: First,
    /// The earliest sending of one that may have taken effect.
    pub(super) maybe: First,
}

impl Revocation {
    pub(super) const NONE: Revocation = Revocation {
        sure: First::NONE,
        maybe: First::NONE,
    };

    pub(super) fn note(&mut self, r: Response, inv: Micros, done: Micros, op: usize) {
        if r == Response::Honoured {
            self.sure.offer(done, op);
        }
        self.maybe.offer(inv, op);
    }
}

/// The two earliest possible replays with different tokens, so that "the earliest one not
/// of token x" is one comparison.
#[derive(Clone, Copy, Debug)]
pub(super) struct Replays {
    pub(super) first: First,
    pub(super) first_token: Option<Rt>,
    pub(super) other: First,
}

impl Replays {
    pub(super) fn offer(&mut self, at: Micros, op: usize, rt: Rt) {
        if at < self.first.at {
            if self.first_token != Some(rt) {
                self.other = self.first;
            }
            self.first = First { at, op };
            self.first_token = Some(rt);
        } else if self.first_token != Some(rt) {
            self.other.offer(at, op);
        }
    }

    pub(super) fn any(&self) -> First {
        self.first
    }

    pub(super) fn not_of(&self, rt: Rt) -> First {
        if self.first_token == Some(rt) {
            self.other
        } else {
            self.first
        }
    }
}

/// What the policy's cascades do, read once from the spec's table ([`cascade`]).
#[derive(Clone, Copy, Debug)]
pub(super) struct Cascades {
    /// A refused replay of a consumed refresh token revokes the grant (reuse detection).
    pub(super) replay: bool,
    /// What revoking a live refresh token ends.
    pub(super) refresh: Cascade,
    /// What revoking a live access token ends.
    pub(super) access: Cascade,
    /// What revoking a consumed refresh token ends.
    pub(super) consumed: Cascade,
}

impl Cascades {
    pub(super) fn of(p: &Policy) -> Cascades {
        let replay = Rule::ReuseRefused {
            expired: None,
            in_window: false,
        };
        Cascades {
            replay: cascade(p, replay) == Cascade::Grant,
            refresh: cascade(p, Rule::RefreshRevoked),
            access: cascade(p, Rule::AccessRevoked),
            consumed: cascade(p, Rule::ConsumedRevoked),
        }
    }

    /// Revoking a refresh token (live or consumed) may end other refresh tokens.
    pub(super) fn rt_revocation_ends_rts(self) -> bool {
        self.refresh.ends_refresh_tokens() || self.consumed.ends_refresh_tokens()
    }

    /// Revoking a refresh token (live or consumed) may end access tokens.
    pub(super) fn rt_revocation_ends_ats(self) -> bool {
        self.refresh.ends_access_tokens() || self.consumed.ends_access_tokens()
    }

    /// Some revocation may end refresh tokens without the grant: then a refused refresh
    /// token proves nothing about its family.
    fn ends_rts_without_grant(self) -> bool {
        [self.refresh, self.consumed, self.access].contains(&Cascade::RefreshTokens)
    }
}

/// The facts of one history, gathered in one pass.
pub(super) struct Facts<'a> {
    pub(super) policy: &'a Policy,
    pub(super) cascades: Cascades,
    pub(super) clock: Clock,
    pub(super) ops: &'a [Op],
    pub(super) created: Micros,
    pub(super) rts: Vec<RtFacts>,
    pub(super) ats: Vec<AtFacts>,
    /// Refreshes refused or without a definite answer: each may be a replay.
    pub(super) replays: Replays,
    /// The earliest sending of any refresh-token revocation that may have taken effect.
    pub(super) rt_revoke_any: First,
    /// The earliest sending of any access-token revocation that may have taken effect.
    pub(super) at_revoke_any: First,
}

pub(super) fn max_ids(ops: &[Op]) -> (usize, usize) {
    let (mut rts, mut ats) = (0usize, 0usize);
    let mut rt = |r: Rt| rts = rts.max(r.0 as usize + 1);
    let mut at = |a: At| ats = ats.max(a.0 as usize + 1);
    for op in ops {
        match op.request {
            Request::Refresh(r) | Request::RevokeRefresh(r) | Request::IntrospectRefresh(r) => {
                rt(r)
            }
            Request::UseAccess(a) | Request::RevokeAccess(a) => at(a),
            Request::Exchange => {}
        }
        if let Response::Tokens { access, refresh } = op.response {
            at(access);
            if let Some(r) = refresh {
                rt(r);
            }
        }
    }
    (rts, ats)
}

impl<'a> Facts<'a> {
    pub(super) fn gather(policy: &'a Policy, clock: Clock, h: &'a History) -> Facts<'a> {
        let ops = &h.ops[..];
        let (n_rt, n_at) = max_ids(ops);
        let mut f = Facts {
            policy,
            cascades: Cascades::of(policy),
            clock,
            ops,
            created: ops
                .iter()
                .filter(|o| o.request == Request::Exchange)
                .map(|o| o.invoked)
                .min()
                .unwrap_or(0),
            rts: vec![RtFacts::new(); n_rt],
            ats: vec![
                AtFacts {
                    issued: NEVER,
                    issuer: None,
                    revocation: Revocation::NONE,
                    issued_with: None,
                };
                n_at
            ],
            replays: Replays {
                first: First::NONE,
                first_token: None,
                other: First::NONE,
            },
            rt_revoke_any: First::NONE,
            at_revoke_any: First::NONE,
        };
        for (i, op) in ops.iter().enumerate() {
            let (inv, done) = (op.invoked, op.done());
            if let Response::Tokens { access, refresh } = op.response {
                let a = &mut f.ats[access.0 as usize];
                if inv < a.issued {
                    a.issued = inv;
                    a.issuer = Some(i);
                    a.issued_with = match op.request {
                        Request::Refresh(x) => Some(refresh.unwrap_or(x)),
                        _ => refresh,
                    };
                }
                if let Some(r) = refresh {
                    let t = &mut f.rts[r.0 as usize];
                    if inv < t.issued {
                        t.issued = inv;
                        t.issuer = Some(i);
                    }
                }
            }
            let took_effect =
                matches!(op.response, Response::Honoured) || op.response.is_uncertain();
            match (op.request, op.response) {
                (Request::Refresh(x), Response::Tokens { refresh, .. }) => {
                    let t = &mut f.rts[x.0 as usize];
                    t.refreshes.push(i);
                    if refresh.is_some_and(|y| y != x) {
                        t.rotations.push(i);
                        t.rotated.offer(done, i);
                        t.consumer.offer(inv, i);
                    } else {
                        t.keeps.push(i);
                    }
                }
                (Request::Refresh(x), r) => {
                    if r.is_uncertain() {
                        let t = &mut f.rts[x.0 as usize];
                        t.refreshes.push(i);
                        t.consumer.offer(inv, i);
                        t.uncertain.offer(inv, i);
                    }
                    f.replays.offer(inv, i, x);
                }
                (Request::RevokeRefresh(x), r) if took_effect => {
                    f.rts[x.0 as usize].revocation.note(r, inv, done, i);
                    f.rt_revoke_any.offer(inv, i);
                }
                (Request::RevokeAccess(a), r) if took_effect => {
                    f.ats[a.0 as usize].revocation.note(r, inv, done, i);
                    f.at_revoke_any.offer(inv, i);
                }
                _ => {}
            }
        }
        f
    }

    /// Whether refresh token `x` may be past one of its deadlines at time `t`.
    pub(super) fn rt_may_expire(&self, x: Rt, t: Micros) -> bool {
        let Clock::Real { tolerance } = self.clock else {
            return false;
        };
        let p = self.policy;
        let born = match self.rts[x.0 as usize].issued {
            NEVER => self.created,
            b => b,
        };
        let mut earliest = NEVER;
        let mut after = |from: Micros, s: Option<Seconds>| {
            if let Some(s) = s {
                earliest = earliest.min(from.saturating_add(micros(s)));
            }
        };
        let ttl_from = match p.successor_lifetime {
            SuccessorLifetime::Fresh => born,
            SuccessorLifetime::Inherited => self.created,
        };
        after(ttl_from, p.refresh_lifetime());
        after(self.created, p.absolute_cap);
        after(born, p.idle_timeout);
        t.saturating_add(tolerance) >= earliest
    }

    /// Whether access token `a` may be past its lifetime at time `t`.
    pub(super) fn at_may_expire(&self, a: At, t: Micros) -> bool {
        let Clock::Real { tolerance } = self.clock else {
            return false;
        };
        let born = match self.ats[a.0 as usize].issued {
            NEVER => self.created,
            b => b,
        };
        t.saturating_add(tolerance) >= born.saturating_add(micros(self.policy.access_ttl))
    }

    /// The refreshes with the refresh token access token `a` was issued with, other than the
    /// one that issued it (`refresh_ends_access = "presented"`; none under other policies),
    /// and the request that issued `a`.
    fn refreshes_of_issuer(&self, a: At) -> (impl Iterator<Item = usize> + '_, usize) {
        let t = &self.ats[a.0 as usize];
        let on = self.policy.refresh_ends_access == RefreshEndsAccess::Presented;
        let issuer = t.issuer.unwrap_or(0);
        let refreshes = t
            .issued_with
            .filter(|_| on && t.issuer.is_some())
            .into_iter()
            .flat_map(move |r| self.rts[r.0 as usize].refreshes.iter().copied())
            .filter(move |&i| i != issuer);
        (refreshes, issuer)
    }

    /// Whether a refresh sent before `t` may have ended access token `a`: one that may have
    /// taken effect after `a` was issued (a refresh ends only the tokens issued before it).
    pub(super) fn at_may_be_ended_by_refresh(&self, a: At, t: Micros) -> bool {
        let (mut refreshes, issuer) = self.refreshes_of_issuer(a);
        let issued = self.ops[issuer].invoked;
        refreshes.any(|i| self.ops[i].invoked < t && self.ops[i].done() > issued)
    }

    /// When access token `a` is surely ended by a refresh: the earliest answer with tokens
    /// of a refresh with the refresh token it was issued with, sent after `a` was answered.
    pub(super) fn at_ended_by_refresh(&self, a: At) -> First {
        let (refreshes, issuer) = self.refreshes_of_issuer(a);
        let issued = self.ops[issuer].done();
        let mut first = First::NONE;
        for i in refreshes {
            let o = &self.ops[i];
            if matches!(o.response, Response::Tokens { .. }) && o.invoked > issued {
                first.offer(o.done(), i);
            }
        }
        first
    }

    /// The successor a rotation returned.
    pub(super) fn successor(&self, op: usize) -> Option<Rt> {
        match self.ops[op].response {
            Response::Tokens { refresh, .. } => refresh,
            _ => None,
        }
    }

    /// When the family is surely revoked: a refused replay under reuse detection, or a 200
    /// revocation of a refresh token that was surely still honoured, or of an unexpired
    /// access token, under a cascade to the grant.
    pub(super) fn family_death(&self) -> First {
        let cascades = self.cascades;
        let mut dead = First::NONE;
        // A revocation that may have ended refresh tokens without the grant, before `t`.
        let partial_before = |t: Micros| {
            cascades.ends_rts_without_grant()
                && (self.rt_revoke_any.before(t) || self.at_revoke_any.before(t))
        };
        // Its own revocation ends the grant, or (consumed, nothing cascading) leaves the
        // token consumed, so that a refusal is a replay.
        let own_kills_grant = cascades.refresh == Cascade::Grant
            && matches!(cascades.consumed, Cascade::None | Cascade::Grant);
        for (i, op) in self.ops.iter().enumerate() {
            let t = op.done();
            let at_cascade_before = (cascades.access.ends_refresh_tokens()
                && self.at_revoke_any.before(t))
                || partial_before(t);
            match (op.request, op.response) {
                (
                    Request::Refresh(x),
                    Response::Refused {
                        status: 400,
                        error: ErrorCode::InvalidGrant,
                    },
                ) if cascades.replay && !at_cascade_before && !self.rt_may_expire(x, t) => {
                    // The token was dead when this refusal took effect. Consumed: this was a
                    // replay, and reuse detection revoked the grant. Revoked by its own
                    // revocation: that cascaded to the grant. Its grant revoked: dead already.
                    let f = &self.rts[x.0 as usize];
                    let surely_consumed = f.rotated.before(op.invoked);
                    let own_ok = own_kills_grant || !f.revocation.maybe.before(t);
                    if own_ok && (cascades.refresh == Cascade::Grant || surely_consumed) {
                        dead.offer(t, i);
                    }
                }
                // An access token's revocation that ends the grant (node-oidc-provider), of a
                // token nothing else may have ended first.
                (Request::RevokeAccess(a), Response::Honoured)
                    if cascades.access == Cascade::Grant
                        && !self.at_may_expire(a, t)
                        && !(self.at_may_be_ended_by_refresh(a, t)
                            || (cascades.rt_revocation_ends_ats()
                                && self.rt_revoke_any.before(t))) =>
                {
                    dead.offer(t, i);
                }
                (Request::RevokeRefresh(x), Response::Honoured)
                    if cascades.refresh == Cascade::Grant
                        && !at_cascade_before
                        && !self.rts[x.0 as usize].consumer.before(t)
                        && !self.rt_may_expire(x, t) =>
                {
                    dead.offer(t, i);
                }
                _ => {}
            }
        }
        dead
    }

    /// When every refresh token of the family is surely dead: the family's death, or a 200
    /// revocation of an unexpired access token under the access-token cascade.
    pub(super) fn refresh_death(&self, family: First) -> First {
        let mut dead = family;
        let c = self.cascades;
        if !c.access.ends_refresh_tokens() {
            return dead;
        }
        for (i, op) in self.ops.iter().enumerate() {
            if let (Request::RevokeAccess(a), Response::Honoured) = (op.request, op.response) {
                // The access token may have been ended already by a cascade that left the
                // refresh tokens alive: then this revocation ended nothing.
                let ended_before = (c.rt_revocation_ends_ats()
                    && self.rt_revoke_any.before(op.done()))
                    || (c.access.ends_access_tokens()
                        && self.at_revoke_any.op != i
                        && self.at_revoke_any.before(op.done()));
                let ended_before = ended_before || self.at_may_be_ended_by_refresh(a, op.done());
                if !self.at_may_expire(a, op.done()) && !ended_before {
                    dead.offer(op.done(), i);
                }
            }
        }
        dead
    }
}
