//! The server's decisions, as pure functions of the policy, the injected defects, the rows
//! the flow read, the request and the time: no store, no clock, no randomness (new token
//! values come in as arguments). [`crate::flow`] reads the rows, calls a decision and writes
//! what it says; every `Defect` that changes an answer is an input here, not a check
//! scattered through I/O code.
//!
//! - [`refresh`]: the refresh-token grant (RFC 6749 §6, RFC 9700 §4.14.2);
//! - [`revoke`]: revocation (RFC 7009 §2.1, §2.2);
//! - [`code`]: the authorization-code exchange (RFC 6749 §4.1.3, RFC 7636 §4.6);
//! - [`dpop`]: a refresh token's DPoP key binding (RFC 9449 §5);
//! - here: what they share, and the small decisions of introspection (RFC 7662 §2.2) and
//!   the protected resource (RFC 6750 §3.1).
//!
//! This is the server's own reading of the RFCs, independent of the model's transition
//! logic: it uses the model's `Policy` and `ErrorCode` only.

use std::borrow::Cow;

use axum::http::StatusCode;
use tokenlife_model::policy::{GraceSuccessor, RefreshTtlAnchor, Seconds};
use tokenlife_model::{ErrorCode, Policy};

use crate::clock::UnixTime;
use crate::defects::{Defect, Defects};
use crate::error::{AppError, OAuthError};
use crate::scope::Scope;
use crate::secret::{Secret, TokenHash};
use crate::store::{AccessRow, GrantRow, RefreshRow, RtStatus};

pub mod code;
pub mod dpop;
pub mod refresh;
pub mod revoke;

/// What a successful token request issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    /// The access token.
    pub access: Secret,
    /// Its remaining lifetime in seconds (`expires_in`).
    pub expires_in: i64,
    /// The refresh token in the response, if any.
    pub refresh: Option<Secret>,
    /// The scope of the access token.
    pub scope: Scope,
}

/// Why a request is refused: an OAuth error response, or an internal failure (an opaque 500).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// An OAuth 2.0 error response.
    OAuth(OAuthError),
    /// A 500.
    Internal(&'static str),
}

impl Refusal {
    fn bad(code: ErrorCode, description: &'static str) -> Refusal {
        Refusal::OAuth(OAuthError {
            status: StatusCode::BAD_REQUEST,
            code,
            description: Cow::Borrowed(description),
            basic_challenge: false,
        })
    }

    /// 400 `invalid_grant`.
    pub fn invalid_grant(description: &'static str) -> Refusal {
        Refusal::bad(ErrorCode::InvalidGrant, description)
    }

    /// 400 `invalid_request`.
    pub fn invalid_request(description: &'static str) -> Refusal {
        Refusal::bad(ErrorCode::InvalidRequest, description)
    }

    /// 400 `invalid_scope`.
    pub fn invalid_scope(description: &'static str) -> Refusal {
        Refusal::bad(ErrorCode::InvalidScope, description)
    }
}

impl From<Refusal> for AppError {
    fn from(r: Refusal) -> AppError {
        match r {
            Refusal::OAuth(e) => AppError::OAuth(e),
            Refusal::Internal(what) => AppError::internal(what),
        }
    }
}

/// A refresh token as the flow read it: its row, its grant (absent only if the store is
/// inconsistent), and whether the server remembers consuming it in memory only
/// (`restart-forgets`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenRefresh {
    /// The token.
    pub row: RefreshRow,
    /// Its grant.
    pub grant: Option<GrantRow>,
    /// Consumed according to the server's memory, whatever the store says.
    pub forgotten: bool,
}

/// `now` plus a policy duration, if there is one.
pub fn plus(now: UnixTime, s: Option<Seconds>) -> Option<UnixTime> {
    s.map(|v| now + i64::from(v.get()))
}

/// When a refresh token issued at `now` dies of its lifetime, if it does: `refresh_ttl` from
/// its issue, or from the expiry of the access token issued with it (`refresh_ttl_anchor =
/// "access-expiry"`, as django-oauth-toolkit counts it).
pub fn refresh_deadline(policy: &Policy, now: UnixTime) -> Option<UnixTime> {
    let from = match policy.refresh_ttl_anchor {
        RefreshTtlAnchor::Issue => now,
        RefreshTtlAnchor::AccessExpiry => now + i64::from(policy.access_ttl.get()),
    };
    plus(from, policy.refresh_ttl)
}

/// The answer for a refresh token that cannot be used: 400 `invalid_grant`
/// (RFC 6749 §5.2), unless `wrong-error-code` or `wrong-status` says otherwise.
pub fn dead_rt(defects: &Defects, why: &'static str) -> Refusal {
    if defects.has(Defect::WrongErrorCode) {
        return Refusal::invalid_request(why);
    }
    if defects.has(Defect::WrongStatus) {
        return Refusal::OAuth(OAuthError {
            status: StatusCode::FORBIDDEN,
            code: ErrorCode::InvalidGrant,
            description: Cow::Borrowed(why),
            basic_challenge: false,
        });
    }
    Refusal::invalid_grant(why)
}

/// Why a refresh token is past a deadline, if it is (dead at any `now >= deadline`); the
/// absolute cap first, then the TTL (ignored by `expired-rt-accepted`), then idleness.
pub fn rt_expiry(
    defects: &Defects,
    t: &RefreshRow,
    g: &GrantRow,
    now: UnixTime,
) -> Option<&'static str> {
    if g.cap_at.is_some_and(|c| now >= c) {
        Some("the grant reached its absolute lifetime")
    } else if t.expires_at.is_some_and(|e| now >= e) && !defects.has(Defect::ExpiredRtAccepted) {
        Some("the refresh token expired")
    } else if t.idle_deadline.is_some_and(|d| now >= d) {
        Some("the refresh token expired after inactivity")
    } else {
        None
    }
}

/// The status of a refresh token, with `restart-forgets`' in-memory consumption applied.
pub fn effective_status(defects: &Defects, t: &SeenRefresh) -> RtStatus {
    if defects.has(Defect::RestartForgets) && t.row.status == RtStatus::Active && t.forgotten {
        return RtStatus::Consumed;
    }
    t.row.status
}

/// Whether a refresh token would be honoured now (not counting grace reuse).
pub fn rt_usable(defects: &Defects, t: &SeenRefresh, now: UnixTime) -> bool {
    let Some(g) = &t.grant else {
        return false;
    };
    effective_status(defects, t) == RtStatus::Active
        && !g.revoked
        && rt_expiry(defects, &t.row, g, now).is_none()
}

/// Whether a consumed token may still be honoured: inside the window, under the reuse
/// count, and only while the successor its rotation issued is still active and alive.
/// `derived` is the successor derived from the presented token (needed when grace reuse
/// hands out the same successor); `successor` the row of `row.successor_hash`, if read.
/// `grace-too-wide` skips the successor's check, so older generations pass.
pub fn in_grace(
    policy: &Policy,
    defects: &Defects,
    row: &RefreshRow,
    derived: Option<&TokenHash>,
    successor: Option<&SeenRefresh>,
    now: UnixTime,
) -> bool {
    let Some(g) = policy.grace else {
        return false;
    };
    let Some(consumed_at) = row.consumed_at else {
        return false;
    };
    if g.window
        .is_some_and(|w| now >= consumed_at + i64::from(w.get()))
    {
        return false;
    }
    if g.max_reuse.is_some_and(|m| row.reuse_count >= i64::from(m)) {
        return false;
    }
    let Some(successor_hash) = &row.successor_hash else {
        return false;
    };
    if g.successor == GraceSuccessor::Same && derived != Some(successor_hash) {
        // Rotated under another policy: there is no successor to hand out again.
        return false;
    }
    if defects.has(Defect::GraceTooWide) {
        return true;
    }
    successor.is_some_and(|s| rt_usable(defects, s, now))
}

/// Whether the flow must read the successor of `row` for [`in_grace`]: only under a grace
/// policy, and only for a token that was rotated.
pub fn needs_successor(policy: &Policy, row: &RefreshRow) -> bool {
    policy.grace.is_some() && row.successor_hash.is_some()
}

/// Whether grace reuse hands out the successor derived from the presented token, so the
/// flow must derive it.
pub fn needs_derived(policy: &Policy) -> bool {
    policy
        .grace
        .is_some_and(|g| g.successor == GraceSuccessor::Same)
}

/// Whether an access token is honoured now (RFC 6750 §3.1; RFC 7009 cascades through the
/// grant).
pub fn at_live(t: &AccessRow, grant: Option<&GrantRow>, now: UnixTime) -> bool {
    grant.is_some_and(|g| !t.revoked && !g.revoked && now < t.expires_at)
}

/// Whether the protected resource accepts an access token (`expired-access-accepted`
/// ignores its TTL).
pub fn bearer_accepted(defects: &Defects, t: &AccessRow, g: &GrantRow, now: UnixTime) -> bool {
    let in_time = now < t.expires_at || defects.has(Defect::ExpiredAccessAccepted);
    !t.revoked && !g.revoked && in_time
}

/// Whether introspection calls an access token active (`introspect-stale` only looks at
/// its TTL).
pub fn access_active(
    defects: &Defects,
    t: &AccessRow,
    grant: Option<&GrantRow>,
    now: UnixTime,
) -> bool {
    if defects.has(Defect::IntrospectStale) {
        now < t.expires_at
    } else {
        at_live(t, grant, now)
    }
}

/// Whether introspection calls a refresh token active (`introspect-stale` only looks at
/// its deadlines, not its status or its grant's).
pub fn refresh_active(defects: &Defects, t: &SeenRefresh, g: &GrantRow, now: UnixTime) -> bool {
    if defects.has(Defect::IntrospectStale) {
        rt_expiry(defects, &t.row, g, now).is_none()
    } else {
        rt_usable(defects, t, now)
    }
}

/// A kind of token the revocation and introspection endpoints look up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// An access token.
    Access,
    /// A refresh token.
    Refresh,
}

/// Where to look for a token, in order. RFC 7009 §2.1: a hint only orders the search; a miss
/// extends it to every type (`hint-ignored-wrongly` stops at the hinted type).
pub fn lookup_order(defects: &Defects, hint: Option<&str>) -> &'static [TokenKind] {
    use TokenKind::{Access, Refresh};
    let access_first = hint == Some("access_token");
    let hinted_only = defects.has(Defect::HintIgnoredWrongly)
        && matches!(hint, Some("access_token" | "refresh_token"));
    match (access_first, hinted_only) {
        (true, true) => &[Access],
        (false, true) => &[Refresh],
        (true, false) => &[Access, Refresh],
        (false, false) => &[Refresh, Access],
    }
}

/// Shared fixtures for the decision tables.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;
    use crate::store::{ClientId, GrantId};

    /// Unix time of "now" in every table.
    pub const NOW: UnixTime = 1_000_000;

    /// A scope from its text.
    pub fn scope(text: &str) -> Scope {
        Scope::parse(text).unwrap_or_default()
    }

    /// A built-in profile.
    pub fn profile(name: &str) -> Policy {
        Policy::profile(name).expect("a built-in profile")
    }

    /// A set of defects.
    pub fn defects(list: &[Defect]) -> Defects {
        list.iter().copied().collect()
    }

    /// The grant `g1` of client `a`, scope `read write offline_access`.
    pub fn grant() -> GrantRow {
        GrantRow {
            id: GrantId::from("g1"),
            client_id: ClientId::from("a"),
            subject: "alice".into(),
            scope: scope("read write offline_access"),
            created_at: NOW - 100,
            cap_at: None,
            revoked: false,
            dpop_jkt: None,
        }
    }

    /// An active refresh token `name` of grant `g1`, issued 10 s ago, TTL 600 s.
    pub fn rt(name: &str) -> RefreshRow {
        RefreshRow {
            hash: TokenHash::of(name),
            grant_id: GrantId::from("g1"),
            client_id: ClientId::from("a"),
            scope: scope("read write offline_access"),
            issued_at: NOW - 10,
            expires_at: Some(NOW + 590),
            idle_deadline: None,
            status: RtStatus::Active,
            consumed_at: None,
            reuse_count: 0,
            successor_hash: None,
        }
    }

    /// `rt(name)` as read, with its grant.
    pub fn seen(row: RefreshRow) -> SeenRefresh {
        SeenRefresh {
            row,
            grant: Some(grant()),
            forgotten: false,
        }
    }

    /// `name` consumed `ago` seconds ago by a rotation to `successor`.
    pub fn consumed(name: &str, ago: i64, successor: &TokenHash) -> RefreshRow {
        RefreshRow {
            status: RtStatus::Consumed,
            consumed_at: Some(NOW - ago),
            successor_hash: Some(successor.clone()),
            ..rt(name)
        }
    }

    /// What a refusal looks like in a table: `STATUS code`.
    pub fn refusal(r: &Refusal) -> String {
        match r {
            Refusal::OAuth(e) => format!("{} {}", e.status.as_u16(), e.code.as_str()),
            Refusal::Internal(what) => format!("500 {what}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::*;

    #[test]
    fn a_dead_refresh_token_is_invalid_grant_unless_a_defect_says_otherwise() {
        let table = [
            (vec![], "400 invalid_grant"),
            (vec![Defect::WrongErrorCode], "400 invalid_request"),
            (vec![Defect::WrongStatus], "403 invalid_grant"),
        ];
        for (d, expected) in table {
            assert_eq!(refusal(&dead_rt(&defects(&d), "x")), expected, "{d:?}");
        }
    }

    #[test]
    fn a_refresh_token_lives_from_its_issue_or_from_its_access_tokens_expiry() {
        let mut p = profile("bcp");
        assert_eq!(refresh_deadline(&p, NOW), Some(NOW + 600));
        p.refresh_ttl_anchor = RefreshTtlAnchor::AccessExpiry;
        assert_eq!(refresh_deadline(&p, NOW), Some(NOW + 300 + 600));
        p.refresh_ttl = None;
        assert_eq!(refresh_deadline(&p, NOW), None);
    }

    #[test]
    fn expiry_reads_the_cap_then_the_ttl_then_idleness() {
        let mut g = grant();
        let mut t = rt("t");
        let none = Defects::none();
        assert_eq!(rt_expiry(&none, &t, &g, NOW), None);
        t.idle_deadline = Some(NOW);
        assert_eq!(
            rt_expiry(&none, &t, &g, NOW),
            Some("the refresh token expired after inactivity")
        );
        t.expires_at = Some(NOW);
        assert_eq!(
            rt_expiry(&none, &t, &g, NOW),
            Some("the refresh token expired")
        );
        assert_eq!(
            rt_expiry(&defects(&[Defect::ExpiredRtAccepted]), &t, &g, NOW),
            Some("the refresh token expired after inactivity")
        );
        g.cap_at = Some(NOW);
        assert_eq!(
            rt_expiry(&none, &t, &g, NOW),
            Some("the grant reached its absolute lifetime")
        );
    }

    #[test]
    fn the_lookup_order_follows_the_hint_and_only_a_defect_stops_at_it() {
        use TokenKind::{Access, Refresh};
        let none = Defects::none();
        let wrong = defects(&[Defect::HintIgnoredWrongly]);
        assert_eq!(lookup_order(&none, None), [Refresh, Access]);
        assert_eq!(lookup_order(&none, Some("access_token")), [Access, Refresh]);
        assert_eq!(
            lookup_order(&none, Some("refresh_token")),
            [Refresh, Access]
        );
        assert_eq!(lookup_order(&wrong, Some("access_token")), [Access]);
        assert_eq!(lookup_order(&wrong, Some("refresh_token")), [Refresh]);
        assert_eq!(lookup_order(&wrong, Some("other")), [Refresh, Access]);
    }

    #[test]
    fn introspection_and_the_resource_judge_access_tokens() {
        let g = grant();
        let t = AccessRow {
            hash: TokenHash::of("at"),
            grant_id: g.id.clone(),
            client_id: g.client_id.clone(),
            scope: scope("read"),
            expires_at: NOW,
            revoked: false,
            refresh_hash: None,
            dpop_jkt: None,
        };
        let none = Defects::none();
        // At its deadline it is dead, unless a defect ignores the TTL.
        assert!(!bearer_accepted(&none, &t, &g, NOW));
        assert!(bearer_accepted(
            &defects(&[Defect::ExpiredAccessAccepted]),
            &t,
            &g,
            NOW
        ));
        assert!(at_live(&t, Some(&g), NOW - 1));
        assert!(!at_live(&t, None, NOW - 1));
        let revoked = GrantRow {
            revoked: true,
            ..g.clone()
        };
        assert!(!access_active(&none, &t, Some(&revoked), NOW - 1));
        assert!(access_active(
            &defects(&[Defect::IntrospectStale]),
            &t,
            Some(&revoked),
            NOW - 1
        ));
    }

    #[test]
    fn restart_forgets_turns_a_remembered_token_consumed() {
        let mut t = seen(rt("t"));
        t.forgotten = true;
        assert_eq!(effective_status(&Defects::none(), &t), RtStatus::Active);
        let forgets = defects(&[Defect::RestartForgets]);
        assert_eq!(effective_status(&forgets, &t), RtStatus::Consumed);
        assert!(!rt_usable(&forgets, &t, NOW));
        let g = grant();
        assert!(!refresh_active(&forgets, &t, &g, NOW));
        assert!(refresh_active(
            &defects(&[Defect::RestartForgets, Defect::IntrospectStale]),
            &t,
            &g,
            NOW
        ));
    }
}
