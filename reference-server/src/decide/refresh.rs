//! The refresh-token grant's decision (RFC 6749 §6): from the presented token's row, its
//! grant and (under a grace policy) its successor's row, whether to refuse, rotate, keep
//! the token, or honour a grace reuse, and exactly what to write.
//!
//! The order of checks: the token exists; it is bound to its client (RFC 6749 §10.4: under
//! `reuse_presenter = "any-client"` another client's request is then read as the owner's
//! only to revoke the family where that would be a refused replay); it and its grant are not
//! revoked; then reuse (a consumed token outside its grace window,
//! refused and, under reuse detection, its family revoked: RFC 9700 §4.14.2), expiry (cap,
//! TTL, idle deadline) and the scope (RFC 6749 §6, `invalid_scope` §5.2) in the order of the
//! policy's `check_order`; then a grace reuse, or rotation as the policy says.

use tokenlife_model::policy::{
    GraceSuccessor, Narrowing, OrderedCheck, RefreshEndsAccess, ReusePresenter, Rotation,
    SuccessorLifetime,
};
use tokenlife_model::{ClientType, Policy};

use super::{
    dead_rt, effective_status, in_grace, plus, refresh_deadline, rt_expiry, Issued, Refusal,
    SeenRefresh,
};
use crate::clock::UnixTime;
use crate::defects::{Defect, Defects};
use crate::scope::{Scope, OFFLINE_ACCESS};
use crate::secret::{Secret, SecretExt, TokenHash};
use crate::store::{
    AccessRow, GraceSlide, GrantId, RefreshChange, RefreshRow, RefreshWrite, RtStatus,
};

/// What the flow read for one refresh.
#[derive(Debug, Clone)]
pub struct RefreshRows {
    /// The presented token and its grant, if the token exists.
    pub token: Option<SeenRefresh>,
    /// The token's successor, read when [`super::needs_successor`] says so.
    pub successor: Option<SeenRefresh>,
    /// The client type of the token's owner (the caller's, if the owner is not registered).
    pub owner_type: ClientType,
}

/// A refresh request, from an authenticated (or identified public) client.
#[derive(Debug, Clone, Copy)]
pub struct RefreshRequest<'a> {
    /// The client that asked.
    pub client_id: &'a str,
    /// The `scope` parameter, if sent.
    pub requested: Option<&'a Scope>,
    /// The thumbprint of the key of the request's DPoP proof, if it came with a valid one
    /// (RFC 9449): checked against a bound token's key, and the new access token's key.
    pub dpop_jkt: Option<&'a str>,
}

/// New token values the decision may hand out, made by the caller.
#[derive(Debug, Clone)]
pub struct NewTokens {
    /// The access token.
    pub access: Secret,
    /// A random refresh token, for a successor not derived from the presented token.
    pub fresh: Secret,
    /// The successor derived from the presented token, when [`super::needs_derived`].
    pub derived: Option<Secret>,
}

/// What a refresh does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshDecision {
    /// Refuse; with reuse detection, the family is revoked first.
    Refuse {
        /// The answer.
        error: Refusal,
        /// Revoke this grant and every token of it before answering.
        revoke_family: Option<GrantId>,
    },
    /// Rotate or keep the presented token: one compare-and-set transaction.
    Grant(Box<GrantPlan>),
    /// A consumed token honoured again inside its grace window.
    Reuse(Box<ReusePlan>),
    /// Refuse, after recording a use of the presented token: its idle deadline moves
    /// (`idle-refreshed-by-refused`).
    RefuseTouching {
        /// The answer.
        error: Refusal,
        /// The presented token.
        token: TokenHash,
        /// Its new idle deadline.
        idle_deadline: Option<UnixTime>,
    },
}

/// What a lost compare-and-set means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LostRace {
    /// Read again and decide afresh (the token is then seen consumed: a replay).
    Retry,
    /// Answer this (`race-500`).
    Fail(Refusal),
}

/// A refresh that rotates or keeps the presented token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantPlan {
    /// The transaction.
    pub write: RefreshWrite,
    /// The answer once it committed.
    pub issued: Issued,
    /// Whether the presented token is rotated.
    pub rotated: bool,
    /// What to do when the compare-and-set lost.
    pub on_lost_race: LostRace,
    /// Remember the presented token as consumed in memory only (`restart-forgets`).
    pub forget_presented: bool,
    /// Wait before writing, as a slow server does (the race defects widen the window).
    pub widen_race_window: bool,
}

/// A grace reuse: count it (compare-and-set on the count), store a new successor if the
/// policy mints one, store the access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReusePlan {
    /// The presented (consumed) token.
    pub presented: TokenHash,
    /// The most reuses allowed, if limited.
    pub limit: Option<i64>,
    /// Whether the window restarts (`grace-slides`, `grace-too-wide`).
    pub slide: GraceSlide,
    /// A new successor to store (`grace_successor = "new"`).
    pub new_successor: Option<RefreshRow>,
    /// The new access token.
    pub access: AccessRow,
    /// The answer once it committed.
    pub issued: Issued,
    /// Wait before writing (the race defects).
    pub widen_race_window: bool,
}

/// What the scope of a refresh comes to: the access token's and the new refresh token's.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ScopePlan {
    granted: Scope,
    rt_scope: Scope,
}

fn refuse(error: Refusal) -> RefreshDecision {
    RefreshDecision::Refuse {
        error,
        revoke_family: None,
    }
}

/// Decides a refresh (RFC 6749 §6) at `now`.
pub fn decide_refresh(
    policy: &Policy,
    defects: &Defects,
    rows: &RefreshRows,
    request: RefreshRequest<'_>,
    tokens: NewTokens,
    now: UnixTime,
) -> RefreshDecision {
    let Some(seen) = &rows.token else {
        return refuse(dead_rt(defects, "unknown refresh token"));
    };
    let row = &seen.row;
    if row.client_id != *request.client_id && !defects.has(Defect::CrossClient) {
        // RFC 6749 §10.4: bound to its client, never honoured for another.
        let other = dead_rt(defects, "the refresh token was issued to another client");
        if policy.reuse_presenter != ReusePresenter::AnyClient {
            // The token itself is left alone.
            return refuse(other);
        }
        // RFC 9700 §4.14.2: any presentation of an invalidated token tells of a breach. Read
        // the request as its owner's: where the owner would be refused a replay, the family
        // goes as it would then; whatever else the owner would get, nothing changes.
        let owners = RefreshRequest {
            client_id: row.client_id.as_str(),
            ..request
        };
        return match decide_owned(policy, defects, rows, seen, owners, tokens, now) {
            RefreshDecision::Refuse {
                revoke_family: Some(grant),
                ..
            } => RefreshDecision::Refuse {
                error: other,
                revoke_family: Some(grant),
            },
            _ => refuse(other),
        };
    }
    decide_owned(policy, defects, rows, seen, request, tokens, now)
}

/// Decides a refresh by the token's own client: everything after the binding check.
fn decide_owned(
    policy: &Policy,
    defects: &Defects,
    rows: &RefreshRows,
    seen: &SeenRefresh,
    request: RefreshRequest<'_>,
    tokens: NewTokens,
    now: UnixTime,
) -> RefreshDecision {
    let row = &seen.row;
    let Some(grant) = &seen.grant else {
        return refuse(Refusal::Internal("a refresh token without its grant"));
    };
    // RFC 9449 §5: a bound token with another key's proof changes nothing, before any
    // reuse or rotation is looked at.
    if let Err(e) =
        super::dpop::refresh_key(policy, defects, rows.owner_type, grant, request.dpop_jkt)
    {
        return refuse(e);
    }
    let status = effective_status(defects, seen);
    let revocation_ignored = defects.has(Defect::RevokedStillRefreshes);
    if (grant.revoked || status == RtStatus::Revoked) && !revocation_ignored {
        return refuse(dead_rt(defects, "the refresh token was revoked"));
    }
    let expired = rt_expiry(defects, row, grant, now);
    let derived = tokens.derived.as_ref().map(SecretExt::digest);
    let consumed = status == RtStatus::Consumed && !defects.has(Defect::ReplayAccepted);
    // `expiry-only-at-rotation`: the token's own deadlines are read on the rotation path
    // only, so a consumed token goes to the grace path unchecked.
    let own_expiry_skipped = consumed && defects.has(Defect::ExpiryOnlyAtRotation);
    let grace = consumed
        && (expired.is_none() || own_expiry_skipped)
        && in_grace(
            policy,
            defects,
            row,
            derived.as_ref(),
            rows.successor.as_ref(),
            now,
        );
    let expired = if grace && own_expiry_skipped {
        None
    } else {
        expired
    };
    let scope = plan_scope(policy, defects, &row.scope, request.requested);
    // Reuse, expiry and scope in the order the policy says this server checks them.
    for check in policy.check_order.checks() {
        match check {
            OrderedCheck::Reuse if consumed && !grace => {
                // RFC 9700 §4.14.2: an invalidated refresh token came back; someone holds a copy.
                let revoke = policy.reuse_detection && !defects.has(Defect::NoFamilyRevocation);
                return RefreshDecision::Refuse {
                    error: dead_rt(defects, "the refresh token was already used"),
                    revoke_family: revoke.then(|| grant.id.clone()),
                };
            }
            OrderedCheck::Expiry => {
                if let Some(why) = expired {
                    return refuse(dead_rt(defects, why));
                }
            }
            OrderedCheck::Scope => {
                if let Err(e) = &scope {
                    // `idle-refreshed-by-refused`: a live token's use is recorded once its
                    // own checks passed, before the scope is read.
                    let touched = defects.has(Defect::IdleRefreshedByRefused)
                        && status == RtStatus::Active
                        && expired.is_none()
                        && policy.idle_timeout.is_some();
                    if touched {
                        return RefreshDecision::RefuseTouching {
                            error: e.clone(),
                            token: row.hash.clone(),
                            idle_deadline: plus(now, policy.idle_timeout),
                        };
                    }
                    return refuse(e.clone());
                }
            }
            OrderedCheck::Reuse => {}
        }
    }
    let plan = match scope {
        Ok(plan) => plan,
        Err(e) => return refuse(e),
    };
    // Widen the window between the read and the write, as a slow real server has.
    let widen_race_window = defects.has(Defect::RaceDoubleSpend) || defects.has(Defect::Race500);
    // Under `refresh_ends_access = "presented"` every access token remembers the refresh
    // token it was issued with, and this refresh ends those of the presented one.
    let ends_access = policy.refresh_ends_access == RefreshEndsAccess::Presented;
    let access_row = |issued_with: TokenHash| AccessRow {
        hash: tokens.access.digest(),
        grant_id: grant.id.clone(),
        client_id: row.client_id.clone(),
        scope: plan.granted.clone(),
        expires_at: now + i64::from(policy.access_ttl.get()),
        revoked: false,
        refresh_hash: ends_access.then_some(issued_with),
        // Bound to the key this request proved (a confidential client may move to a new
        // one, RFC 9449 §5), or a Bearer token.
        dpop_jkt: request.dpop_jkt.map(str::to_string),
    };
    let issued = |refresh: Option<Secret>| Issued {
        access: tokens.access.clone(),
        expires_in: i64::from(policy.access_ttl.get()),
        refresh,
        scope: plan.granted.clone(),
    };
    if grace {
        let Some(g) = policy.grace else {
            return refuse(Refusal::Internal("grace reuse without a grace window"));
        };
        let (refresh, new_successor) = match (g.successor, tokens.derived.clone()) {
            (GraceSuccessor::Same, Some(same)) => (same, None),
            (GraceSuccessor::Same, None) => {
                return refuse(Refusal::Internal(
                    "grace reuse without the derived successor",
                ))
            }
            (GraceSuccessor::New, _) => {
                let fresh = tokens.fresh.clone();
                let successor = successor_row(policy, row, &fresh, &plan.rt_scope, now);
                (fresh, Some(successor))
            }
        };
        return RefreshDecision::Reuse(Box::new(ReusePlan {
            presented: row.hash.clone(),
            limit: g.max_reuse.map(i64::from),
            slide: if defects.has(Defect::GraceTooWide) {
                GraceSlide::RestartAnyStatus(now)
            } else if defects.has(Defect::GraceSlides) {
                GraceSlide::Restart(now)
            } else {
                GraceSlide::Kept
            },
            new_successor,
            // The presented token's own access tokens ended with its first refresh.
            access: access_row(refresh.digest()),
            issued: issued(Some(refresh)),
            widen_race_window,
        }));
    }
    // `any`: this server always rotates, the choice RFC 9700 recommends.
    let rotated = policy.rotation(rows.owner_type) != Rotation::Never;
    let mut allowed = vec![RtStatus::Active];
    if defects.has(Defect::ReplayAccepted) || defects.has(Defect::RaceDoubleSpend) {
        allowed.push(RtStatus::Consumed);
    }
    if revocation_ignored {
        allowed.push(RtStatus::Revoked);
    }
    let (change, refresh) = if rotated {
        let same = policy
            .grace
            .is_some_and(|g| g.successor == GraceSuccessor::Same);
        // A successor derived from the presented token can be handed out again on a
        // grace reuse; a token rotated a second time (only through a defect) gets a random one.
        let successor = match &tokens.derived {
            Some(derived) if same && row.successor_hash.is_none() => derived.clone(),
            _ => tokens.fresh.clone(),
        };
        let cap = (defects.has(Defect::CapExtended) && policy.absolute_cap.is_some())
            .then(|| (grant.id.clone(), plus(now, policy.absolute_cap)));
        // `reuse-count-reset`: the count is kept for the grant's last used token, so using
        // another one starts it again.
        let reset_reuse_of = (defects.has(Defect::ReuseCountReset)
            && policy.grace.is_some_and(|g| g.max_reuse.is_some()))
        .then(|| grant.id.clone());
        let change = RefreshChange::Rotate {
            now,
            successor: Box::new(successor_row(policy, row, &successor, &plan.rt_scope, now)),
            keep_status: defects.has(Defect::RestartForgets),
            ignore_lost_race: defects.has(Defect::RaceDoubleSpend),
            cap,
            reset_reuse_of,
        };
        (change, Some(successor))
    } else {
        let change = RefreshChange::Touch {
            idle_deadline: plus(now, policy.idle_timeout),
        };
        (change, None)
    };
    let on_lost_race = if rotated && defects.has(Defect::Race500) {
        LostRace::Fail(Refusal::Internal("concurrent refresh: lost the race"))
    } else {
        LostRace::Retry
    };
    // Without rotation the new access token is issued with the presented token itself.
    let access = access_row(refresh.as_ref().map_or(row.hash.clone(), SecretExt::digest));
    RefreshDecision::Grant(Box::new(GrantPlan {
        write: RefreshWrite {
            presented: row.hash.clone(),
            allowed,
            change,
            access,
            end_access_of: ends_access.then(|| row.hash.clone()),
        },
        issued: issued(refresh),
        rotated,
        on_lost_race,
        forget_presented: rotated && defects.has(Defect::RestartForgets),
        widen_race_window,
    }))
}

/// A successor of `row`: same grant and client, the original scope, and the lifetime the
/// policy gives successors (a fresh TTL, or what remained of `row`'s).
fn successor_row(
    p: &Policy,
    row: &RefreshRow,
    token: &Secret,
    scope: &Scope,
    now: UnixTime,
) -> RefreshRow {
    RefreshRow {
        hash: token.digest(),
        grant_id: row.grant_id.clone(),
        client_id: row.client_id.clone(),
        scope: scope.clone(),
        issued_at: now,
        expires_at: match p.successor_lifetime {
            SuccessorLifetime::Fresh => refresh_deadline(p, now),
            SuccessorLifetime::Inherited => row.expires_at,
        },
        idle_deadline: plus(now, p.idle_timeout),
        status: RtStatus::Active,
        consumed_at: None,
        reuse_count: 0,
        successor_hash: None,
    }
}

/// RFC 6749 §6: the requested scope must be within the original; omitted means the
/// original; the new refresh token keeps the original whatever the access token gets.
fn plan_scope(
    policy: &Policy,
    defects: &Defects,
    original: &Scope,
    requested: Option<&Scope>,
) -> Result<ScopePlan, Refusal> {
    let granted = match requested {
        None if defects.has(Defect::OmittedScopeShrinks) => shrink(original),
        None => original.clone(),
        Some(r) if !r.is_subset(original) => {
            if defects.has(Defect::ScopeWidening) {
                r.clone()
            } else {
                return Err(Refusal::invalid_scope(
                    "the requested scope exceeds the scope originally granted",
                ));
            }
        }
        Some(r) if r == original => r.clone(),
        Some(r) => match policy.narrowing {
            Narrowing::Allowed => r.clone(),
            Narrowing::Ignored => original.clone(),
            Narrowing::Refused => {
                return Err(Refusal::invalid_scope(
                    "this server does not narrow the scope on refresh",
                ))
            }
        },
    };
    let rt_scope = if defects.has(Defect::NarrowingShrinksRt) {
        granted.clone()
    } else {
        original.clone()
    };
    Ok(ScopePlan { granted, rt_scope })
}

/// `omitted-scope-shrinks`: the scope a buggy server falls back to.
fn shrink(original: &Scope) -> Scope {
    if original.contains(OFFLINE_ACCESS) && original.iter().count() > 1 {
        return original.without(OFFLINE_ACCESS);
    }
    match original.iter().last() {
        Some(last) if original.iter().count() > 1 => original.without(last),
        _ => original.clone(),
    }
}

#[cfg(test)]
mod tests {
    use tokenlife_model::policy::{CheckOrder, Grace, RefreshTtlAnchor, Seconds};

    use super::super::fixtures::*;
    use super::*;
    use crate::error::OAuthError;

    fn never() -> Policy {
        Policy {
            rotation_public: Rotation::Never,
            rotation_confidential: Rotation::Never,
            idle_timeout: Some(Seconds(60)),
            ..profile("bcp")
        }
    }

    fn with(p: Policy, f: impl FnOnce(&mut Policy)) -> Policy {
        let mut p = p;
        f(&mut p);
        p
    }

    fn ends(p: Policy) -> Policy {
        with(p, |p| p.refresh_ends_access = RefreshEndsAccess::Presented)
    }

    fn any_client(p: Policy) -> Policy {
        with(p, |p| p.reuse_presenter = ReusePresenter::AnyClient)
    }

    fn grace_new(max_reuse: Option<u8>) -> Policy {
        with(profile("grace-new"), |p| {
            p.grace = Some(Grace {
                window: Some(Seconds(30)),
                successor: GraceSuccessor::New,
                max_reuse,
            });
        })
    }

    /// bcp with an idle timeout of 450 s.
    fn idle() -> Policy {
        with(profile("bcp"), |p| p.idle_timeout = Some(Seconds(450)))
    }

    fn live() -> Option<SeenRefresh> {
        Some(seen(rt("t")))
    }

    fn token(f: impl FnOnce(&mut SeenRefresh)) -> Option<SeenRefresh> {
        let mut t = seen(rt("t"));
        f(&mut t);
        Some(t)
    }

    /// `t`, consumed `ago` seconds ago, rotated to `successor`.
    fn consumed_to(ago: i64, successor: &str) -> Option<SeenRefresh> {
        Some(seen(consumed("t", ago, &TokenHash::of(successor))))
    }

    /// The successor `name`, as read: active, or changed by `f`.
    fn succ(name: &str, f: impl FnOnce(&mut SeenRefresh)) -> Option<SeenRefresh> {
        let mut s = seen(rt(name));
        f(&mut s);
        s.row.issued_at = NOW - 5;
        Some(s)
    }

    fn describe(e: &Refusal) -> String {
        match e {
            Refusal::OAuth(OAuthError { description, .. }) => {
                format!("{} ({description})", refusal(e))
            }
            Refusal::Internal(_) => refusal(e),
        }
    }

    /// A decision as one line of the table.
    fn render(d: &RefreshDecision) -> String {
        match d {
            RefreshDecision::Refuse {
                error,
                revoke_family,
            } => {
                let family = if revoke_family.is_some() {
                    " +revoke-family"
                } else {
                    ""
                };
                format!("refuse {}{family}", describe(error))
            }
            RefreshDecision::RefuseTouching {
                error,
                token,
                idle_deadline,
            } => {
                let idle = idle_deadline.map_or("none".into(), |d| format!("+{}", d - NOW));
                format!(
                    "refuse {} +touch={} idle={idle}",
                    describe(error),
                    name_of(token)
                )
            }
            RefreshDecision::Grant(p) => {
                let mut s = match &p.write.change {
                    RefreshChange::Rotate {
                        successor,
                        keep_status,
                        ignore_lost_race,
                        cap,
                        reset_reuse_of,
                        ..
                    } => {
                        let which = if successor.hash == TokenHash::of("DERIVED") {
                            "derived"
                        } else {
                            assert_eq!(successor.hash, TokenHash::of("FRESH"));
                            "fresh"
                        };
                        let mut s = format!("rotate to {which} rt=[{}]", successor.scope);
                        if let Some(e) = successor.expires_at {
                            s += &format!(" exp=+{}", e - NOW);
                        }
                        for (on, flag) in [
                            (*keep_status, " +keep-status"),
                            (*ignore_lost_race, " +ignore-lost-race"),
                            (cap.is_some(), " +cap"),
                            (reset_reuse_of.is_some(), " +reset-reuse"),
                        ] {
                            if on {
                                s += flag;
                            }
                        }
                        s
                    }
                    RefreshChange::Touch { idle_deadline } => match idle_deadline {
                        Some(d) => format!("keep idle=+{}", d - NOW),
                        None => "keep".into(),
                    },
                };
                s += &format!(" at=[{}]", p.issued.scope);
                if p.write.allowed != [RtStatus::Active] {
                    let list: Vec<_> = p.write.allowed.iter().map(|a| a.as_str()).collect();
                    s += &format!(" allow={}", list.join(","));
                }
                if let LostRace::Fail(e) = &p.on_lost_race {
                    s += &format!(" lost={}", describe(e));
                }
                if p.forget_presented {
                    s += " +forget";
                }
                if p.widen_race_window {
                    s += " +wide";
                }
                if let Some(h) = &p.write.end_access_of {
                    s += &format!(" +end-access-of={}", name_of(h));
                }
                if let Some(h) = &p.write.access.refresh_hash {
                    s += &format!(" at-with={}", name_of(h));
                }
                assert_eq!(p.issued.access, Secret::new("AT"));
                assert_eq!(p.write.access.hash, TokenHash::of("AT"));
                assert_eq!(p.write.access.expires_at, NOW + 300);
                s
            }
            RefreshDecision::Reuse(p) => {
                let which = match &p.new_successor {
                    Some(s) => format!("new rt=[{}]", s.scope),
                    None => "same".into(),
                };
                let mut s = format!("reuse {which} at=[{}]", p.issued.scope);
                if let Some(l) = p.limit {
                    s += &format!(" limit={l}");
                }
                match p.slide {
                    GraceSlide::Kept => {}
                    GraceSlide::Restart(at) => {
                        assert_eq!(at, NOW);
                        s += " +restart";
                    }
                    GraceSlide::RestartAnyStatus(at) => {
                        assert_eq!(at, NOW);
                        s += " +slide";
                    }
                }
                if let Some(h) = &p.access.refresh_hash {
                    s += &format!(" at-with={}", name_of(h));
                }
                s
            }
        }
    }

    /// The name of a refresh token of the table by its digest.
    fn name_of(h: &TokenHash) -> &'static str {
        ["t", "FRESH", "DERIVED"]
            .into_iter()
            .find(|n| TokenHash::of(n) == *h)
            .unwrap_or("?")
    }

    const ALL: &str = "offline_access read write";

    /// (case, policy, defects, the token as read, its successor as read, caller, scope
    /// requested, expected decision)
    type Row = (
        &'static str,
        Policy,
        Vec<Defect>,
        Option<SeenRefresh>,
        Option<SeenRefresh>,
        &'static str,
        Option<&'static str>,
        String,
    );

    #[test]
    fn the_refresh_table() {
        let used = "refuse 400 invalid_grant (the refresh token was already used)";
        let rotated = "rotate to fresh rt=[offline_access read write] exp=+600 at=[offline_access read write]";
        use Defect::*;
        use OrderedCheck::{Expiry, Reuse, Scope};
        let order = |checks| CheckOrder::new(checks).unwrap();
        #[rustfmt::skip]
        let table: Vec<Row> = vec![
            ("unknown token", profile("bcp"), vec![], None, None, "a", None,
                "refuse 400 invalid_grant (unknown refresh token)".into()),
            ("unknown token, wrong-error-code", profile("bcp"), vec![WrongErrorCode], None, None, "a", None,
                "refuse 400 invalid_request (unknown refresh token)".into()),
            ("unknown token, wrong-status", profile("bcp"), vec![WrongStatus], None, None, "a", None,
                "refuse 403 invalid_grant (unknown refresh token)".into()),
            ("rotation always", profile("bcp"), vec![], live(), None, "a", None, rotated.into()),
            ("rotation any rotates", profile("rfc6749"), vec![], live(), None, "a", None, rotated.into()),
            ("rotation never keeps the token and moves its idle deadline", never(), vec![], live(), None, "a", None,
                format!("keep idle=+60 at=[{ALL}]")),
            ("an inherited lifetime keeps the presented token's deadline",
                with(profile("bcp"), |p| p.successor_lifetime = SuccessorLifetime::Inherited), vec![], live(), None, "a", None,
                format!("rotate to fresh rt=[{ALL}] exp=+590 at=[{ALL}]")),
            ("cross-client", profile("bcp"), vec![], live(), None, "b", None,
                "refuse 400 invalid_grant (the refresh token was issued to another client)".into()),
            ("cross-client, defect", profile("bcp"), vec![CrossClient], live(), None, "b", None, rotated.into()),
            ("another client's replay, reuse_presenter owner: nothing changes", profile("bcp"), vec![],
                consumed_to(5, "S1"), None, "b", None,
                "refuse 400 invalid_grant (the refresh token was issued to another client)".into()),
            ("another client's replay, any-client: the family is revoked", any_client(profile("bcp")), vec![],
                consumed_to(5, "S1"), None, "b", None,
                "refuse 400 invalid_grant (the refresh token was issued to another client) +revoke-family".into()),
            ("another client's live token, any-client: nothing changes", any_client(profile("bcp")), vec![],
                live(), None, "b", None,
                "refuse 400 invalid_grant (the refresh token was issued to another client)".into()),
            ("another client's replay inside the grace window, any-client: nothing changes",
                any_client(profile("grace-same")), vec![], consumed_to(5, "DERIVED"), succ("DERIVED", |_| {}), "b", None,
                "refuse 400 invalid_grant (the refresh token was issued to another client)".into()),
            ("another client's replay, any-client without reuse detection: nothing changes",
                any_client(profile("rfc6749")), vec![], consumed_to(5, "S1"), None, "b", None,
                "refuse 400 invalid_grant (the refresh token was issued to another client)".into()),
            ("another client's replay of an expired token, expiry first, any-client: nothing changes",
                any_client(with(profile("bcp"), |p| p.check_order = CheckOrder::EXPIRY_BEFORE_REUSE)), vec![],
                token(|t| { t.row = consumed("t", 5, &TokenHash::of("S1")); t.row.expires_at = Some(NOW); }), None, "b", None,
                "refuse 400 invalid_grant (the refresh token was issued to another client)".into()),
            ("another client's replay, any-client, no-family-revocation", any_client(profile("bcp")), vec![NoFamilyRevocation],
                consumed_to(5, "S1"), None, "b", None,
                "refuse 400 invalid_grant (the refresh token was issued to another client)".into()),
            ("a token without its grant", profile("bcp"), vec![], token(|t| t.grant = None), None, "a", None,
                "refuse 500 a refresh token without its grant".into()),
            ("revoked token", profile("bcp"), vec![], token(|t| t.row.status = RtStatus::Revoked), None, "a", None,
                "refuse 400 invalid_grant (the refresh token was revoked)".into()),
            ("revoked grant", profile("bcp"), vec![], token(|t| t.grant.as_mut().unwrap().revoked = true), None, "a", None,
                "refuse 400 invalid_grant (the refresh token was revoked)".into()),
            ("revoked token, revoked-still-refreshes", profile("bcp"), vec![RevokedStillRefreshes],
                token(|t| t.row.status = RtStatus::Revoked), None, "a", None, format!("{rotated} allow=active,revoked")),
            ("expired", profile("bcp"), vec![], token(|t| t.row.expires_at = Some(NOW)), None, "a", None,
                "refuse 400 invalid_grant (the refresh token expired)".into()),
            ("expired, expired-rt-accepted", profile("bcp"), vec![ExpiredRtAccepted],
                token(|t| t.row.expires_at = Some(NOW)), None, "a", None, rotated.into()),
            ("idle", profile("bcp"), vec![], token(|t| t.row.idle_deadline = Some(NOW)), None, "a", None,
                "refuse 400 invalid_grant (the refresh token expired after inactivity)".into()),
            ("capped", profile("bcp"), vec![], token(|t| t.grant.as_mut().unwrap().cap_at = Some(NOW)), None, "a", None,
                "refuse 400 invalid_grant (the grant reached its absolute lifetime)".into()),
            ("a second use is reuse: the family is revoked", profile("bcp"), vec![], consumed_to(5, "S1"), None, "a", None,
                format!("{used} +revoke-family")),
            ("reuse without reuse detection", profile("rfc6749"), vec![], consumed_to(5, "S1"), None, "a", None, used.into()),
            ("reuse, no-family-revocation", profile("bcp"), vec![NoFamilyRevocation], consumed_to(5, "S1"), None, "a", None, used.into()),
            ("reuse, replay-accepted", profile("bcp"), vec![ReplayAccepted], consumed_to(5, "S1"), None, "a", None,
                format!("{rotated} allow=active,consumed")),
            ("consumed and expired, reuse before expiry", profile("bcp"), vec![],
                token(|t| { t.row = consumed("t", 5, &TokenHash::of("S1")); t.row.expires_at = Some(NOW); }), None, "a", None,
                format!("{used} +revoke-family")),
            ("consumed and expired, expiry before reuse", profile("rfc6749"), vec![],
                token(|t| { t.row = consumed("t", 5, &TokenHash::of("S1")); t.row.expires_at = Some(NOW); }), None, "a", None,
                "refuse 400 invalid_grant (the refresh token expired)".into()),
            ("scope before reuse: a replay asking too much is refused for its scope, the family kept",
                with(profile("bcp"), |p| p.check_order = order([Scope, Reuse, Expiry])), vec![], consumed_to(5, "S1"), None, "a", Some("admin read"),
                "refuse 400 invalid_scope (the requested scope exceeds the scope originally granted)".into()),
            ("reuse before scope: the same replay is reuse", profile("bcp"), vec![], consumed_to(5, "S1"), None, "a", Some("admin read"),
                format!("{used} +revoke-family")),
            ("reuse before scope, narrowing refused: a narrower replay is reuse",
                with(profile("bcp"), |p| { p.narrowing = Narrowing::Refused; p.check_order = order([Reuse, Scope, Expiry]); }), vec![],
                consumed_to(5, "S1"), None, "a", Some("read"), format!("{used} +revoke-family")),
            ("scope before expiry: an expired token asking too much is refused for its scope",
                with(profile("bcp"), |p| p.check_order = order([Scope, Expiry, Reuse])), vec![], token(|t| t.row.expires_at = Some(NOW)), None, "a",
                Some("admin read"), "refuse 400 invalid_scope (the requested scope exceeds the scope originally granted)".into()),
            ("expiry before scope: it is expired", with(profile("bcp"), |p| p.check_order = order([Expiry, Scope, Reuse])), vec![],
                token(|t| t.row.expires_at = Some(NOW)), None, "a", Some("admin read"), "refuse 400 invalid_grant (the refresh token expired)".into()),
            ("expiry, scope, reuse: a consumed, unexpired token with a good scope is reuse",
                with(profile("bcp"), |p| p.check_order = order([Expiry, Scope, Reuse])), vec![], consumed_to(5, "S1"), None, "a", None,
                format!("{used} +revoke-family")),
            ("a lifetime anchored at the access token's expiry: the successor lives access_ttl + refresh_ttl",
                with(profile("bcp"), |p| p.refresh_ttl_anchor = RefreshTtlAnchor::AccessExpiry), vec![], live(), None, "a", None,
                format!("rotate to fresh rt=[{ALL}] exp=+900 at=[{ALL}]")),
            ("a refresh ends the presented token's access tokens; the new one is issued with the successor",
                ends(profile("bcp")), vec![], live(), None, "a", None, format!("{rotated} +end-access-of=t at-with=FRESH")),
            ("without rotation the new access token is issued with the presented token",
                ends(never()), vec![], live(), None, "a", None, format!("keep idle=+60 at=[{ALL}] +end-access-of=t at-with=t")),
            ("a refused refresh ends nothing", ends(profile("bcp")), vec![], consumed_to(5, "S1"), None, "a", None,
                format!("{used} +revoke-family")),
            ("a grace reuse: its access token is issued with the same successor", ends(profile("grace-same")), vec![],
                consumed_to(5, "DERIVED"), succ("DERIVED", |_| {}), "a", None, format!("reuse same at=[{ALL}] at-with=DERIVED")),
            ("grace same: rotation derives the successor", profile("grace-same"), vec![], live(), None, "a", None,
                format!("rotate to derived rt=[{ALL}] exp=+600 at=[{ALL}]")),
            ("grace same: reuse inside the window", profile("grace-same"), vec![], consumed_to(5, "DERIVED"), succ("DERIVED", |_| {}), "a", None,
                format!("reuse same at=[{ALL}]")),
            ("grace same: the window closed", profile("grace-same"), vec![], consumed_to(30, "DERIVED"), succ("DERIVED", |_| {}), "a", None,
                format!("{used} +revoke-family")),
            ("grace same: the successor was used", profile("grace-same"), vec![], consumed_to(5, "DERIVED"),
                succ("DERIVED", |s| s.row.status = RtStatus::Consumed), "a", None, format!("{used} +revoke-family")),
            ("grace same: the successor was not found", profile("grace-same"), vec![], consumed_to(5, "DERIVED"), None, "a", None,
                format!("{used} +revoke-family")),
            ("grace same: rotated under another policy", profile("grace-same"), vec![], consumed_to(5, "S1"), succ("S1", |_| {}), "a", None,
                format!("{used} +revoke-family")),
            ("grace same, grace-too-wide: the successor is not looked at, the window slides", profile("grace-same"), vec![GraceTooWide],
                consumed_to(5, "DERIVED"), succ("DERIVED", |s| s.row.status = RtStatus::Consumed), "a", None,
                format!("reuse same at=[{ALL}] +slide")),
            ("grace same: an expired consumed token is reuse", profile("grace-same"), vec![],
                token(|t| { t.row = consumed("t", 5, &TokenHash::of("DERIVED")); t.row.expires_at = Some(NOW); }), succ("DERIVED", |_| {}), "a", None,
                format!("{used} +revoke-family")),
            ("grace new: reuse mints a successor", profile("grace-new"), vec![], consumed_to(5, "S1"), succ("S1", |_| {}), "a", None,
                format!("reuse new rt=[{ALL}] at=[{ALL}]")),
            ("grace new: under the reuse count", grace_new(Some(1)), vec![], consumed_to(5, "S1"), succ("S1", |_| {}), "a", None,
                format!("reuse new rt=[{ALL}] at=[{ALL}] limit=1")),
            ("grace new: the reuse count is spent", grace_new(Some(1)), vec![],
                token(|t| { t.row = consumed("t", 5, &TokenHash::of("S1")); t.row.reuse_count = 1; }), succ("S1", |_| {}), "a", None,
                format!("{used} +revoke-family")),
            ("grace new: a narrower reuse keeps the refresh token's scope", profile("grace-new"), vec![], consumed_to(5, "S1"), succ("S1", |_| {}), "a", Some("read"),
                format!("reuse new rt=[{ALL}] at=[read]")),
            ("narrowing allowed", profile("bcp"), vec![], live(), None, "a", Some("read"),
                format!("rotate to fresh rt=[{ALL}] exp=+600 at=[read]")),
            ("narrowing ignored", with(profile("bcp"), |p| p.narrowing = Narrowing::Ignored), vec![], live(), None, "a", Some("read"), rotated.into()),
            ("narrowing refused", with(profile("bcp"), |p| p.narrowing = Narrowing::Refused), vec![], live(), None, "a", Some("read"),
                "refuse 400 invalid_scope (this server does not narrow the scope on refresh)".into()),
            ("narrowing refused, the same scope is fine", with(profile("bcp"), |p| p.narrowing = Narrowing::Refused), vec![], live(), None, "a",
                Some(ALL), rotated.into()),
            ("narrowing, narrowing-shrinks-rt", profile("bcp"), vec![NarrowingShrinksRt], live(), None, "a", Some("read"),
                "rotate to fresh rt=[read] exp=+600 at=[read]".into()),
            ("widening", profile("bcp"), vec![], live(), None, "a", Some("admin read"),
                "refuse 400 invalid_scope (the requested scope exceeds the scope originally granted)".into()),
            ("widening, scope-widening", profile("bcp"), vec![ScopeWidening], live(), None, "a", Some("admin read"),
                format!("rotate to fresh rt=[{ALL}] exp=+600 at=[admin read]")),
            ("omitted scope, omitted-scope-shrinks", profile("bcp"), vec![OmittedScopeShrinks], live(), None, "a", None,
                format!("rotate to fresh rt=[{ALL}] exp=+600 at=[read write]")),
            ("cap-extended moves the cap", profile("strict"), vec![CapExtended],
                token(|t| t.grant.as_mut().unwrap().cap_at = Some(NOW + 100)), None, "a", None, format!("rotate to fresh rt=[{ALL}] exp=+600 +cap at=[{ALL}]")),
            ("cap-extended without a cap does nothing", profile("bcp"), vec![CapExtended], live(), None, "a", None, rotated.into()),
            ("race-double-spend", profile("bcp"), vec![RaceDoubleSpend], live(), None, "a", None,
                format!("rotate to fresh rt=[{ALL}] exp=+600 +ignore-lost-race at=[{ALL}] allow=active,consumed +wide")),
            ("race-500", profile("bcp"), vec![Race500], live(), None, "a", None,
                format!("{rotated} lost=500 concurrent refresh: lost the race +wide")),
            ("race-500 without rotation retries", never(), vec![Race500], live(), None, "a", None,
                format!("keep idle=+60 at=[{ALL}] +wide")),
            ("restart-forgets keeps the status, remembers in memory", profile("bcp"), vec![RestartForgets], live(), None, "a", None,
                format!("rotate to fresh rt=[{ALL}] exp=+600 +keep-status at=[{ALL}] +forget")),
            ("restart-forgets: a remembered token is consumed", profile("bcp"), vec![RestartForgets],
                token(|t| t.forgotten = true), None, "a", None, format!("{used} +revoke-family")),
            ("memory is only read under restart-forgets", profile("bcp"), vec![], token(|t| t.forgotten = true), None, "a", None, rotated.into()),
            // The deep defects: each decisive case beside the clean server's decision.
            ("grace same, grace-slides: a reuse restarts the window", profile("grace-same"), vec![GraceSlides],
                consumed_to(5, "DERIVED"), succ("DERIVED", |_| {}), "a", None, format!("reuse same at=[{ALL}] +restart")),
            ("grace same, grace-slides: the successor is still looked at", profile("grace-same"), vec![GraceSlides],
                consumed_to(5, "DERIVED"), succ("DERIVED", |s| s.row.status = RtStatus::Consumed), "a", None,
                format!("{used} +revoke-family")),
            ("grace same, grace-slides: a closed window stays closed", profile("grace-same"), vec![GraceSlides],
                consumed_to(30, "DERIVED"), succ("DERIVED", |_| {}), "a", None, format!("{used} +revoke-family")),
            ("grace new with a reuse count: rotation resets no count", grace_new(Some(1)), vec![], live(), None, "a", None,
                rotated.into()),
            ("grace new with a reuse count, reuse-count-reset: rotation resets the grant's other counts",
                grace_new(Some(1)), vec![ReuseCountReset], live(), None, "a", None,
                format!("rotate to fresh rt=[{ALL}] exp=+600 +reset-reuse at=[{ALL}]")),
            ("grace new without a reuse count, reuse-count-reset: there is no count to reset",
                profile("grace-new"), vec![ReuseCountReset], live(), None, "a", None, rotated.into()),
            ("grace new, reuse-count-reset: a spent count is still spent", grace_new(Some(1)), vec![ReuseCountReset],
                token(|t| { t.row = consumed("t", 5, &TokenHash::of("S1")); t.row.reuse_count = 1; }), succ("S1", |_| {}), "a", None,
                format!("{used} +revoke-family")),
            ("idle timeout: a widening refresh is refused and changes nothing", idle(), vec![],
                token(|t| t.row.idle_deadline = Some(NOW + 100)), None, "a", Some("admin read"),
                "refuse 400 invalid_scope (the requested scope exceeds the scope originally granted)".into()),
            ("idle timeout, idle-refreshed-by-refused: the refused refresh moves the idle deadline", idle(),
                vec![IdleRefreshedByRefused], token(|t| t.row.idle_deadline = Some(NOW + 100)), None, "a", Some("admin read"),
                "refuse 400 invalid_scope (the requested scope exceeds the scope originally granted) +touch=t idle=+450".into()),
            ("idle-refreshed-by-refused: an idle token stays dead", idle(), vec![IdleRefreshedByRefused],
                token(|t| t.row.idle_deadline = Some(NOW)), None, "a", Some("admin read"),
                "refuse 400 invalid_grant (the refresh token expired after inactivity)".into()),
            ("idle-refreshed-by-refused, scope first: an idle token asking too much is not touched",
                with(idle(), |p| p.check_order = order([Scope, Reuse, Expiry])), vec![IdleRefreshedByRefused],
                token(|t| t.row.idle_deadline = Some(NOW)), None, "a", Some("admin read"),
                "refuse 400 invalid_scope (the requested scope exceeds the scope originally granted)".into()),
            ("idle-refreshed-by-refused: a replay is refused untouched", idle(), vec![IdleRefreshedByRefused],
                consumed_to(5, "S1"), None, "a", Some("admin read"), format!("{used} +revoke-family")),
            ("grace same, expiry-only-at-rotation: an expired consumed token is a grace reuse", profile("grace-same"),
                vec![ExpiryOnlyAtRotation],
                token(|t| { t.row = consumed("t", 5, &TokenHash::of("DERIVED")); t.row.expires_at = Some(NOW); }), succ("DERIVED", |_| {}), "a", None,
                format!("reuse same at=[{ALL}]")),
            ("expiry-only-at-rotation: rotation reads the expiry", profile("grace-same"), vec![ExpiryOnlyAtRotation],
                token(|t| t.row.expires_at = Some(NOW)), None, "a", None, "refuse 400 invalid_grant (the refresh token expired)".into()),
            ("grace same, expiry-only-at-rotation: outside the grace an expired consumed token is reuse", profile("grace-same"),
                vec![ExpiryOnlyAtRotation],
                token(|t| { t.row = consumed("t", 30, &TokenHash::of("DERIVED")); t.row.expires_at = Some(NOW); }), succ("DERIVED", |_| {}), "a", None,
                format!("{used} +revoke-family")),
            ("grace same, expiry-only-at-rotation: the successor's expiry is still read", profile("grace-same"),
                vec![ExpiryOnlyAtRotation],
                token(|t| { t.row = consumed("t", 5, &TokenHash::of("DERIVED")); t.row.expires_at = Some(NOW); }),
                succ("DERIVED", |s| s.row.expires_at = Some(NOW)), "a", None, format!("{used} +revoke-family")),
        ];
        for (name, policy, d, token, successor, client, requested, expected) in table {
            let rows = RefreshRows {
                token,
                successor,
                owner_type: ClientType::Confidential,
            };
            let requested = requested.map(scope);
            let request = RefreshRequest {
                client_id: client,
                requested: requested.as_ref(),
                dpop_jkt: None,
            };
            let tokens = NewTokens {
                access: Secret::new("AT"),
                fresh: Secret::new("FRESH"),
                derived: super::super::needs_derived(&policy).then(|| Secret::new("DERIVED")),
            };
            let got = decide_refresh(&policy, &defects(&d), &rows, request, tokens, NOW);
            assert_eq!(render(&got), expected, "{name}");
        }
    }

    #[test]
    fn rotation_follows_the_owners_client_type() {
        let policy = Policy {
            rotation_public: Rotation::Always,
            rotation_confidential: Rotation::Never,
            ..profile("bcp")
        };
        for (owner, rotated) in [
            (ClientType::Public, true),
            (ClientType::Confidential, false),
        ] {
            let rows = RefreshRows {
                token: live(),
                successor: None,
                owner_type: owner,
            };
            let request = RefreshRequest {
                client_id: "a",
                requested: None,
                dpop_jkt: None,
            };
            let tokens = NewTokens {
                access: Secret::new("AT"),
                fresh: Secret::new("FRESH"),
                derived: None,
            };
            match decide_refresh(&policy, &Defects::none(), &rows, request, tokens, NOW) {
                RefreshDecision::Grant(p) => {
                    assert_eq!(p.rotated, rotated, "{owner:?}");
                    assert_eq!(p.issued.refresh.is_some(), rotated, "{owner:?}");
                }
                other => panic!("{owner:?}: {other:?}"),
            }
        }
    }
}
