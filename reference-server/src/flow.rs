//! The token lifecycle: code exchange, refresh, revocation and validation, given a time.
//!
//! This is the server's own reading of the RFCs and of the policy knobs, independent of the
//! model's transition logic:
//! - RFC 6749 §4.1.3 (code exchange; `redirect_uri` and client must match), §4.1.2 (a code is
//!   used once; a replay SHOULD revoke what it issued), RFC 7636 §4.6 (PKCE S256);
//! - RFC 6749 §6 (refresh: client binding, scope ⊆ original, new RT keeps the original
//!   scope, rotation MAY), §5.2 (`invalid_grant`, `invalid_scope`), §10.4 (binding);
//! - RFC 9700 §4.14.2 (rotation, reuse detection revoking the grant, idle timeout), the
//!   browser-apps draft's absolute cap, and the grace windows real servers ship;
//! - RFC 7009 §2.1 (revocation cascades), RFC 7662 §2.2, RFC 6750 §3.1 (liveness).
//!
//! Every race is settled in the store by a compare-and-set; a loser reads again and is
//! judged on what it then sees (a consumed token: a replay).

use std::time::Duration;

use tokenlife_model::policy::{CheckOrder, GraceSuccessor, Narrowing, Rotation, SuccessorLifetime};
use tokenlife_model::ErrorCode;

use axum::http::StatusCode;

use crate::clock::UnixTime;
use crate::config::Client;
use crate::defects::Defect;
use crate::error::{AppError, OAuthError};
use crate::scope::{Scope, OFFLINE_ACCESS};
use crate::secret::{s256_challenge, Secret, SecretExt as _, TokenHash};
use crate::state::AppState;
use crate::store::{tx, AccessRow, GrantRow, RefreshChange, RefreshRow, RefreshWrite, RtStatus};

/// How long an authorization code lives (RFC 6749 §4.1.2 recommends at most 10 minutes).
pub const CODE_TTL: i64 = 120;

/// How often a request that lost a compare-and-set reads again before giving up.
const MAX_ATTEMPTS: usize = 16;

/// What a successful token request issued.
#[derive(Debug)]
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

/// A random identifier (grants): 128 bits, hex.
fn new_id() -> String {
    let token = Secret::generate();
    token.digest().as_str()[..32].to_string()
}

fn plus(now: UnixTime, s: Option<tokenlife_model::policy::Seconds>) -> Option<UnixTime> {
    s.map(|v| now + i64::from(v.get()))
}

/// The answer for a refresh token that cannot be used: 400 `invalid_grant`
/// (RFC 6749 §5.2), unless a defect says otherwise.
fn dead_rt(state: &AppState, why: &'static str) -> AppError {
    if state.has(Defect::WrongErrorCode) {
        return AppError::invalid_request(why);
    }
    if state.has(Defect::WrongStatus) {
        return AppError::OAuth(OAuthError {
            status: StatusCode::FORBIDDEN,
            code: ErrorCode::InvalidGrant,
            description: why.into(),
            basic_challenge: false,
        });
    }
    AppError::invalid_grant(why)
}

/// Why a refresh token is past a deadline, if it is (dead at any `now >= deadline`).
fn rt_expiry(
    state: &AppState,
    t: &RefreshRow,
    g: &GrantRow,
    now: UnixTime,
) -> Option<&'static str> {
    if g.cap_at.is_some_and(|c| now >= c) {
        Some("the grant reached its absolute lifetime")
    } else if t.expires_at.is_some_and(|e| now >= e) && !state.has(Defect::ExpiredRtAccepted) {
        Some("the refresh token expired")
    } else if t.idle_deadline.is_some_and(|d| now >= d) {
        Some("the refresh token expired after inactivity")
    } else {
        None
    }
}

/// The status of a refresh token, with `restart-forgets`' in-memory consumption applied.
fn effective_status(state: &AppState, t: &RefreshRow) -> RtStatus {
    if state.has(Defect::RestartForgets) && t.status == RtStatus::Active {
        let forgotten = state
            .inner()
            .forgotten
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if forgotten.contains(&t.hash) {
            return RtStatus::Consumed;
        }
    }
    t.status
}

/// Whether a refresh token would be honoured now (not counting grace reuse).
async fn rt_usable(state: &AppState, t: &RefreshRow, now: UnixTime) -> Result<bool, AppError> {
    let Some(g) = state.store().grant(&t.grant_id).await? else {
        return Ok(false);
    };
    Ok(effective_status(state, t) == RtStatus::Active
        && !g.revoked
        && rt_expiry(state, t, &g, now).is_none())
}

/// Whether an access token is honoured now.
async fn at_live(state: &AppState, t: &AccessRow, now: UnixTime) -> Result<bool, AppError> {
    let Some(g) = state.store().grant(&t.grant_id).await? else {
        return Ok(false);
    };
    Ok(!t.revoked && !g.revoked && now < t.expires_at)
}

async fn revoke_grant(state: &AppState, grant_id: &str) -> Result<(), AppError> {
    let mut tx = state.store().begin().await?;
    tx::revoke_grant(&mut tx, grant_id).await?;
    tx.commit().await?;
    Ok(())
}

/// RFC 7636 §4.1: 43 to 128 characters of `[A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~"`.
pub fn pkce_syntax_ok(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// The authorization-code grant (RFC 6749 §4.1.3), for an authenticated `client`.
pub async fn exchange_code(
    state: &AppState,
    client: &Client,
    code: &str,
    redirect_uri: Option<&str>,
    verifier: Option<&str>,
) -> Result<Issued, AppError> {
    let now = state.now();
    let p = state.policy();
    let hash = TokenHash::of(code);
    let Some(row) = state.store().code(&hash).await? else {
        return Err(AppError::invalid_grant("unknown authorization code"));
    };
    if row.client_id != client.id {
        return Err(AppError::invalid_grant(
            "the authorization code was issued to another client",
        ));
    }
    let replay = async {
        // RFC 6749 §4.1.2: refuse, and revoke what the code issued.
        if p.code_replay_revokes {
            let used = state.store().code(&hash).await?;
            if let Some(grant_id) = used.and_then(|c| c.grant_id) {
                tracing::warn!(grant = %grant_id, "authorization code replayed; grant revoked");
                revoke_grant(state, &grant_id).await?;
            }
        }
        Err::<Issued, AppError>(AppError::invalid_grant(
            "the authorization code was already used",
        ))
    };
    let replayable = state.has(Defect::CodeReplay);
    if row.used && !replayable {
        return replay.await;
    }
    if now >= row.expires_at {
        return Err(AppError::invalid_grant("the authorization code expired"));
    }
    if !row.redirect_uri.is_empty() {
        match redirect_uri {
            None => {
                return Err(AppError::invalid_request(
                    "redirect_uri is required: the authorization request included it",
                ))
            }
            Some(r) if r != row.redirect_uri => {
                return Err(AppError::invalid_grant(
                    "redirect_uri does not match the authorization request",
                ))
            }
            Some(_) => {}
        }
    } else if redirect_uri.is_some_and(|r| r != client.redirect_uri) {
        return Err(AppError::invalid_grant(
            "redirect_uri does not match the registered one",
        ));
    }
    match (&row.code_challenge, verifier) {
        (Some(_), None) => return Err(AppError::invalid_grant("code_verifier is missing")),
        (None, Some(_)) => {
            // RFC 9700 §2.1.1: a verifier without a challenge is a downgrade attempt.
            return Err(AppError::invalid_grant(
                "code_verifier sent, but the authorization request had no code_challenge",
            ));
        }
        (Some(challenge), Some(v)) => {
            if !pkce_syntax_ok(v) || !Secret::new(s256_challenge(v)).ct_eq(challenge) {
                return Err(AppError::invalid_grant(
                    "code_verifier does not match the code_challenge",
                ));
            }
        }
        (None, None) => {}
    }
    let scope = Scope::parse(&row.scope).unwrap_or_default();
    let grant = GrantRow {
        id: new_id(),
        client_id: client.id.clone(),
        subject: row.subject.clone(),
        scope: scope.to_string(),
        created_at: now,
        cap_at: plus(now, p.absolute_cap),
        revoked: false,
    };
    let access = Secret::generate();
    let refresh =
        (scope.contains(OFFLINE_ACCESS) || !p.offline_access_required).then(Secret::generate);
    let mut tx = state.store().begin().await?;
    if !tx::use_code(&mut tx, &hash, &grant.id, !replayable).await? {
        tx.rollback().await?;
        return replay.await;
    }
    tx::insert_grant(&mut tx, &grant).await?;
    tx::insert_access(
        &mut tx,
        &AccessRow {
            hash: access.digest(),
            grant_id: grant.id.clone(),
            client_id: client.id.clone(),
            scope: scope.to_string(),
            expires_at: now + i64::from(p.access_ttl.get()),
            revoked: false,
        },
    )
    .await?;
    if let Some(rt) = &refresh {
        tx::insert_refresh(
            &mut tx,
            &RefreshRow {
                hash: rt.digest(),
                grant_id: grant.id.clone(),
                client_id: client.id.clone(),
                scope: scope.to_string(),
                issued_at: now,
                expires_at: plus(now, p.refresh_ttl),
                idle_deadline: plus(now, p.idle_timeout),
                status: RtStatus::Active,
                consumed_at: None,
                reuse_count: 0,
                successor_hash: None,
            },
        )
        .await?;
    }
    tx.commit().await?;
    tracing::info!(grant = %grant.id, client = %client.id, refresh = refresh.is_some(), "authorization code exchanged");
    Ok(Issued {
        access,
        expires_in: i64::from(p.access_ttl.get()),
        refresh,
        scope,
    })
}

/// What a refresh request asked for, decided before anything is written.
struct Plan {
    granted: Scope,
    rt_scope: Scope,
}

/// The refresh-token grant (RFC 6749 §6), for an authenticated (or identified public)
/// `client`.
pub async fn refresh(
    state: &AppState,
    client: &Client,
    presented: &Secret,
    requested: Option<Scope>,
) -> Result<Issued, AppError> {
    let hash = presented.digest();
    for _ in 0..MAX_ATTEMPTS {
        if let Some(issued) =
            refresh_once(state, client, presented, &hash, requested.as_ref()).await?
        {
            return Ok(issued);
        }
    }
    Err(AppError::internal(
        "a refresh lost its compare-and-set too many times",
    ))
}

/// One attempt; `Ok(None)` when a concurrent request changed the token first.
async fn refresh_once(
    state: &AppState,
    client: &Client,
    presented: &Secret,
    hash: &TokenHash,
    requested: Option<&Scope>,
) -> Result<Option<Issued>, AppError> {
    let p = state.policy();
    let store = state.store();
    let now = state.now();
    // The token and its grant in one read (one snapshot).
    let Some((row, grant)) = store.refresh_token_with_grant(hash).await? else {
        return Err(dead_rt(state, "unknown refresh token"));
    };
    if row.client_id != client.id && !state.has(Defect::CrossClient) {
        // RFC 6749 §10.4: bound to its client; the token itself is left alone.
        return Err(dead_rt(
            state,
            "the refresh token was issued to another client",
        ));
    }
    let Some(grant) = grant else {
        return Err(AppError::internal("a refresh token without its grant"));
    };
    let status = effective_status(state, &row);
    let revocation_ignored = state.has(Defect::RevokedStillRefreshes);
    if (grant.revoked || status == RtStatus::Revoked) && !revocation_ignored {
        return Err(dead_rt(state, "the refresh token was revoked"));
    }
    let expired = rt_expiry(state, &row, &grant, now);
    let mut grace = false;
    if status == RtStatus::Consumed && !state.has(Defect::ReplayAccepted) {
        if expired.is_none() && in_grace(state, &row, presented, now).await? {
            grace = true;
        } else if let (Some(why), CheckOrder::ExpiryBeforeReuse) = (expired, p.check_order) {
            return Err(dead_rt(state, why));
        } else {
            // RFC 9700 §4.14.2: an invalidated refresh token came back; someone holds a copy.
            if p.reuse_detection && !state.has(Defect::NoFamilyRevocation) {
                tracing::warn!(grant = %grant.id, client = %row.client_id, "refresh token reuse detected; grant revoked");
                revoke_grant(state, &grant.id).await?;
            }
            return Err(dead_rt(state, "the refresh token was already used"));
        }
    } else if let Some(why) = expired {
        return Err(dead_rt(state, why));
    }
    let plan = plan_scope(state, &row, requested)?;
    if state.has(Defect::RaceDoubleSpend) || state.has(Defect::Race500) {
        // Widen the window between the read and the write, as a slow real server has.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if grace {
        return grace_reuse(state, &row, presented, &plan, now).await;
    }
    let owner_type = state.client(&row.client_id).unwrap_or(client).client_type();
    // `any`: this server always rotates, the choice RFC 9700 recommends.
    let rotate = p.rotation(owner_type) != Rotation::Never;
    let mut allowed = vec![RtStatus::Active];
    if state.has(Defect::ReplayAccepted) || state.has(Defect::RaceDoubleSpend) {
        allowed.push(RtStatus::Consumed);
    }
    if revocation_ignored {
        allowed.push(RtStatus::Revoked);
    }
    let access = Secret::generate();
    let access_row = AccessRow {
        hash: access.digest(),
        grant_id: grant.id.clone(),
        client_id: row.client_id.clone(),
        scope: plan.granted.to_string(),
        expires_at: now + i64::from(p.access_ttl.get()),
        revoked: false,
    };
    let (change, refresh) = if rotate {
        let same = matches!(p.grace, Some(g) if g.successor == GraceSuccessor::Same);
        // A successor derived from the presented token can be handed out again on a
        // grace reuse; a token rotated a second time (only through a defect) gets a random one.
        let successor = if same && row.successor_hash.is_none() {
            state.inner().key.successor_of(presented)
        } else {
            Secret::generate()
        };
        let cap = (state.has(Defect::CapExtended) && p.absolute_cap.is_some())
            .then(|| (grant.id.clone(), plus(now, p.absolute_cap)));
        let change = RefreshChange::Rotate {
            now,
            successor: Box::new(successor_row(p, &row, &successor, &plan.rt_scope, now)),
            keep_status: state.has(Defect::RestartForgets),
            ignore_lost_race: state.has(Defect::RaceDoubleSpend),
            cap,
        };
        (change, Some(successor))
    } else {
        let change = RefreshChange::Touch {
            idle_deadline: plus(now, p.idle_timeout),
        };
        (change, None)
    };
    // One transaction: the compare-and-set on the presented token's status, then the
    // successor and the access token; nothing is written when the compare-and-set lost.
    let written = store
        .write_refresh(RefreshWrite {
            presented: hash.clone(),
            allowed,
            change,
            access: access_row,
        })
        .await?;
    if !written {
        if rotate && state.has(Defect::Race500) {
            return Err(AppError::internal("concurrent refresh: lost the race"));
        }
        return Ok(None);
    }
    if rotate && state.has(Defect::RestartForgets) {
        state
            .inner()
            .forgotten
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(hash.clone());
    }
    tracing::info!(grant = %grant.id, client = %row.client_id, rotated = rotate, "refresh token grant");
    Ok(Some(Issued {
        access,
        expires_in: i64::from(p.access_ttl.get()),
        refresh,
        scope: plan.granted,
    }))
}

/// A successor of `row`: same grant and client, the original scope, and the lifetime the
/// policy gives successors (a fresh TTL, or what remained of `row`'s).
fn successor_row(
    p: &tokenlife_model::Policy,
    row: &RefreshRow,
    token: &Secret,
    scope: &Scope,
    now: UnixTime,
) -> RefreshRow {
    RefreshRow {
        hash: token.digest(),
        grant_id: row.grant_id.clone(),
        client_id: row.client_id.clone(),
        scope: scope.to_string(),
        issued_at: now,
        expires_at: match p.successor_lifetime {
            SuccessorLifetime::Fresh => plus(now, p.refresh_ttl),
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
    state: &AppState,
    row: &RefreshRow,
    requested: Option<&Scope>,
) -> Result<Plan, AppError> {
    let original = Scope::parse(&row.scope).unwrap_or_default();
    let granted = match requested {
        None if state.has(Defect::OmittedScopeShrinks) => shrink(&original),
        None => original.clone(),
        Some(r) if !r.is_subset(&original) => {
            if state.has(Defect::ScopeWidening) {
                r.clone()
            } else {
                return Err(AppError::invalid_scope(
                    "the requested scope exceeds the scope originally granted",
                ));
            }
        }
        Some(r) if *r == original => r.clone(),
        Some(r) => match state.policy().narrowing {
            Narrowing::Allowed => r.clone(),
            Narrowing::Ignored => original.clone(),
            Narrowing::Refused => {
                return Err(AppError::invalid_scope(
                    "this server does not narrow the scope on refresh",
                ))
            }
        },
    };
    let rt_scope = if state.has(Defect::NarrowingShrinksRt) {
        granted.clone()
    } else {
        original
    };
    Ok(Plan { granted, rt_scope })
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

/// Whether a consumed token may still be honoured: inside the window, under the reuse
/// count, and only while the successor its rotation issued is still active and alive.
async fn in_grace(
    state: &AppState,
    row: &RefreshRow,
    presented: &Secret,
    now: UnixTime,
) -> Result<bool, AppError> {
    let Some(g) = state.policy().grace else {
        return Ok(false);
    };
    let Some(consumed_at) = row.consumed_at else {
        return Ok(false);
    };
    if g.window
        .is_some_and(|w| now >= consumed_at + i64::from(w.get()))
    {
        return Ok(false);
    }
    if g.max_reuse.is_some_and(|m| row.reuse_count >= i64::from(m)) {
        return Ok(false);
    }
    let Some(successor) = &row.successor_hash else {
        return Ok(false);
    };
    if g.successor == GraceSuccessor::Same
        && state.inner().key.successor_of(presented).digest().as_str() != successor
    {
        // Rotated under another policy: there is no successor to hand out again.
        return Ok(false);
    }
    if state.has(Defect::GraceTooWide) {
        return Ok(true);
    }
    let succ = state
        .store()
        .refresh_token(&TokenHash::from_stored(successor.clone()))
        .await?;
    match succ {
        Some(s) => rt_usable(state, &s, now).await,
        None => Ok(false),
    }
}

/// A refresh with a consumed token inside its grace window: a new access token, and the
/// same successor again or a new one, as the policy says.
async fn grace_reuse(
    state: &AppState,
    row: &RefreshRow,
    presented: &Secret,
    plan: &Plan,
    now: UnixTime,
) -> Result<Option<Issued>, AppError> {
    let p = state.policy();
    let Some(g) = p.grace else {
        return Err(AppError::internal("grace reuse without a grace window"));
    };
    let access = Secret::generate();
    let slide = state.has(Defect::GraceTooWide).then_some(now);
    let mut tx = state.store().begin().await?;
    if !tx::count_reuse(&mut tx, &row.hash, g.max_reuse.map(i64::from), slide).await? {
        tx.rollback().await?;
        return Ok(None);
    }
    let refresh = match g.successor {
        GraceSuccessor::Same => state.inner().key.successor_of(presented),
        GraceSuccessor::New => {
            let fresh = Secret::generate();
            tx::insert_refresh(&mut tx, &successor_row(p, row, &fresh, &plan.rt_scope, now))
                .await?;
            fresh
        }
    };
    tx::insert_access(
        &mut tx,
        &AccessRow {
            hash: access.digest(),
            grant_id: row.grant_id.clone(),
            client_id: row.client_id.clone(),
            scope: plan.granted.to_string(),
            expires_at: now + i64::from(p.access_ttl.get()),
            revoked: false,
        },
    )
    .await?;
    tx.commit().await?;
    tracing::info!(grant = %row.grant_id, client = %row.client_id, "refresh token reused inside its grace window");
    Ok(Some(Issued {
        access,
        expires_in: i64::from(p.access_ttl.get()),
        refresh: Some(refresh),
        scope: plan.granted.clone(),
    }))
}

/// A token found by revocation or introspection.
enum Found {
    Refresh(RefreshRow),
    Access(AccessRow),
}

async fn find(
    state: &AppState,
    token: &str,
    hint: Option<&str>,
) -> Result<Option<Found>, AppError> {
    let hash = TokenHash::of(token);
    let access_first = hint == Some("access_token");
    let hinted_only = state.has(Defect::HintIgnoredWrongly)
        && matches!(hint, Some("access_token" | "refresh_token"));
    let store = state.store();
    // RFC 7009 §2.1: a hint only orders the search; a miss extends it to every type.
    let order: &[bool] = match (access_first, hinted_only) {
        (true, true) => &[true],
        (false, true) => &[false],
        (true, false) => &[true, false],
        (false, false) => &[false, true],
    };
    for &access in order {
        if access {
            if let Some(t) = store.access_token(&hash).await? {
                return Ok(Some(Found::Access(t)));
            }
        } else if let Some(t) = store.refresh_token(&hash).await? {
            return Ok(Some(Found::Refresh(t)));
        }
    }
    Ok(None)
}

/// RFC 7009 §2.1 revocation by `client`. `Ok(())` is a 200, also for unknown tokens and for
/// other clients' tokens (which are left alone).
pub async fn revoke(
    state: &AppState,
    client: &Client,
    token: &str,
    hint: Option<&str>,
) -> Result<(), AppError> {
    let now = state.now();
    let p = state.policy();
    let Some(found) = find(state, token, hint).await? else {
        if state.has(Defect::RevokeWrongResponse) {
            return Err(AppError::invalid_request("unknown token"));
        }
        return Ok(());
    };
    let (owner, grant_id) = match &found {
        Found::Refresh(t) => (t.client_id.clone(), t.grant_id.clone()),
        Found::Access(t) => (t.client_id.clone(), t.grant_id.clone()),
    };
    if owner != client.id && !state.has(Defect::RevokeOtherClient) {
        tracing::info!(client = %client.id, "revocation of another client's token ignored");
        return Ok(());
    }
    if state.has(Defect::RevokeTooMuch) {
        if let Some(g) = state.store().grant(&grant_id).await? {
            for id in state.store().grants_of_subject(&g.subject).await? {
                revoke_grant(state, &id).await?;
            }
        }
        return Ok(());
    }
    match found {
        Found::Refresh(t) => {
            // A token still honoured is revoked: a live one, or a consumed one whose grace
            // reuse would still be honoured. A dead one is "invalid" and left alone (§2.2).
            let usable = rt_usable(state, &t, now).await?;
            let in_grace_window = !usable
                && effective_status(state, &t) == RtStatus::Consumed
                && match state.store().grant(&t.grant_id).await? {
                    Some(g) => !g.revoked && rt_expiry(state, &t, &g, now).is_none(),
                    None => false,
                }
                && in_grace(state, &t, &Secret::new(token), now).await?;
            if !usable && !in_grace_window {
                return Ok(());
            }
            let mut tx = state.store().begin().await?;
            if in_grace_window {
                tx::revoke_consumed_refresh(&mut tx, &t.hash).await?;
            } else {
                tx::revoke_refresh(&mut tx, &t.hash).await?;
            }
            if p.revoke_refresh_cascades {
                if state.has(Defect::RevokeKeepsAccess) {
                    tx::revoke_refresh_of_grant(&mut tx, &grant_id).await?;
                } else {
                    tx::revoke_grant(&mut tx, &grant_id).await?;
                }
            }
            tx.commit().await?;
            tracing::info!(grant = %grant_id, cascade = p.revoke_refresh_cascades, "refresh token revoked");
        }
        Found::Access(t) => {
            if !at_live(state, &t, now).await? {
                return Ok(());
            }
            let mut tx = state.store().begin().await?;
            tx::revoke_access(&mut tx, &t.hash).await?;
            if p.revoke_access_cascades {
                tx::revoke_refresh_of_grant(&mut tx, &grant_id).await?;
            }
            tx.commit().await?;
            tracing::info!(grant = %grant_id, cascade = p.revoke_access_cascades, "access token revoked");
        }
    }
    Ok(())
}

/// What introspection says about a live token (RFC 7662 §2.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Introspection {
    /// The token's scope.
    pub scope: String,
    /// The client it was issued to.
    pub client_id: String,
    /// When it dies (the earliest of its deadlines), if ever.
    pub exp: Option<UnixTime>,
    /// `Bearer` or `refresh_token`.
    pub token_type: &'static str,
}

/// RFC 7662 introspection by `caller`: `None` for a dead or unknown token, or one a public
/// caller may not see (a public client only learns about its own tokens).
pub async fn introspect(
    state: &AppState,
    caller: &Client,
    token: &str,
    hint: Option<&str>,
) -> Result<Option<Introspection>, AppError> {
    let now = state.now();
    let stale = state.has(Defect::IntrospectStale);
    let public = caller.auth == crate::config::AuthMethod::None;
    let Some(found) = find(state, token, hint).await? else {
        return Ok(None);
    };
    let answer = match found {
        Found::Access(t) => {
            let live = if stale {
                now < t.expires_at
            } else {
                at_live(state, &t, now).await?
            };
            live.then_some(Introspection {
                scope: t.scope,
                client_id: t.client_id,
                exp: Some(t.expires_at),
                token_type: "Bearer",
            })
        }
        Found::Refresh(t) => {
            let Some(g) = state.store().grant(&t.grant_id).await? else {
                return Ok(None);
            };
            let live = if stale {
                rt_expiry(state, &t, &g, now).is_none()
            } else {
                rt_usable(state, &t, now).await?
            };
            let exp = [t.expires_at, t.idle_deadline, g.cap_at]
                .into_iter()
                .flatten()
                .min();
            live.then_some(Introspection {
                scope: t.scope,
                client_id: t.client_id,
                exp,
                token_type: "refresh_token",
            })
        }
    };
    Ok(answer.filter(|i| !public || i.client_id == caller.id))
}

/// What the protected resource learns from a live access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bearer {
    /// The resource owner.
    pub subject: String,
    /// The client.
    pub client_id: String,
    /// The token's scope.
    pub scope: String,
}

/// RFC 6750 §3.1: the access token's grant, if the token is honoured now.
pub async fn validate_access(state: &AppState, token: &str) -> Result<Option<Bearer>, AppError> {
    let now = state.now();
    let Some(t) = state.store().access_token(&TokenHash::of(token)).await? else {
        return Ok(None);
    };
    let Some(g) = state.store().grant(&t.grant_id).await? else {
        return Ok(None);
    };
    let in_time = now < t.expires_at || state.has(Defect::ExpiredAccessAccepted);
    Ok((!t.revoked && !g.revoked && in_time).then_some(Bearer {
        subject: g.subject,
        client_id: t.client_id,
        scope: t.scope,
    }))
}
