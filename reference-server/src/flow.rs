//! The token lifecycle's I/O: code exchange, refresh, revocation and validation, given a
//! time. Each flow reads the rows it needs, asks [`crate::decide`] what to do, and writes
//! what the decision says; nothing here judges a token.
//!
//! Every race is settled in the store by a compare-and-set; a loser reads again and is
//! judged on what it then sees (a consumed token: a replay).

use std::time::Duration;

use crate::config::Client;
use crate::decide::code::{decide_code_exchange, CodeDecision, CodeRequest, NewGrant, Replay};
use crate::decide::refresh::{
    decide_refresh, LostRace, NewTokens, RefreshDecision, RefreshRequest, RefreshRows,
};
use crate::decide::revoke::{decide_revoke, Cascade, FoundToken, RevokeDecision};
use crate::decide::{self, SeenRefresh, TokenKind};
use crate::error::AppError;
use crate::scope::Scope;
use crate::secret::{Secret, SecretExt as _, TokenHash};
use crate::state::AppState;
use crate::store::{tx, AccessRow, GrantId, GrantRow, RefreshRow};

pub use crate::decide::code::pkce_syntax_ok;
pub use crate::decide::Issued;

/// How long an authorization code lives (RFC 6749 §4.1.2 recommends at most 10 minutes).
pub const CODE_TTL: i64 = 120;

/// How often a request that lost a compare-and-set reads again before giving up.
const MAX_ATTEMPTS: usize = 16;

/// How long the race defects hold a refresh between its read and its write.
const RACE_WINDOW: Duration = Duration::from_millis(50);

/// A random identifier (grants): 128 bits, hex.
fn new_id() -> GrantId {
    let token = Secret::generate();
    GrantId::from(&token.digest().as_str()[..32])
}

/// Whether the server remembers consuming `hash` in memory (`restart-forgets`).
fn forgotten(state: &AppState, hash: &TokenHash) -> bool {
    let set = state
        .inner()
        .forgotten
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    !set.is_empty() && set.contains(hash)
}

/// A refresh token as read, with its grant and what memory says of it.
fn seen(state: &AppState, row: RefreshRow, grant: Option<GrantRow>) -> SeenRefresh {
    let forgotten = forgotten(state, &row.hash);
    SeenRefresh {
        row,
        grant,
        forgotten,
    }
}

/// The successor of `token`, if the decision needs it (a grace policy, a rotated token).
async fn successor_of(
    state: &AppState,
    token: &RefreshRow,
) -> Result<Option<SeenRefresh>, AppError> {
    let Some(hash) = token
        .successor_hash
        .as_ref()
        .filter(|_| decide::needs_successor(state.policy(), token))
    else {
        return Ok(None);
    };
    Ok(state
        .store()
        .refresh_token_with_grant(hash)
        .await?
        .map(|(row, grant)| seen(state, row, grant)))
}

/// The successor derived from `presented`, if grace reuse may hand it out.
fn derived(state: &AppState, presented: &Secret) -> Option<Secret> {
    decide::needs_derived(state.policy()).then(|| state.inner().key.successor_of(presented))
}

async fn revoke_grant(state: &AppState, grant_id: &GrantId) -> Result<(), AppError> {
    let mut tx = state.store().begin().await?;
    tx::revoke_grant(&mut tx, grant_id).await?;
    tx.commit().await?;
    Ok(())
}

/// The authorization-code grant (RFC 6749 §4.1.3), for an authenticated `client`; its
/// tokens bound to the DPoP key `dpop_jkt` when the request proved one (RFC 9449 §5).
pub async fn exchange_code(
    state: &AppState,
    client: &Client,
    code: &str,
    redirect_uri: Option<&str>,
    verifier: Option<&str>,
    dpop_jkt: Option<&str>,
) -> Result<Issued, AppError> {
    let now = state.now();
    let hash = TokenHash::of(code);
    let row = state.store().code(&hash).await?;
    let request = CodeRequest {
        client_id: &client.id,
        registered_redirect_uri: &client.redirect_uri,
        redirect_uri,
        verifier,
        dpop_jkt,
    };
    let new = NewGrant {
        grant_id: new_id(),
        access: Secret::generate(),
        refresh: Secret::generate(),
    };
    let p = state.policy();
    let plan = match decide_code_exchange(p, state.defects(), row.as_ref(), request, new, now) {
        CodeDecision::Refuse(e) => return Err(e.into()),
        CodeDecision::Replay(r) => return replay(state, &hash, r).await,
        CodeDecision::Issue(plan) => plan,
    };
    let mut tx = state.store().begin().await?;
    if !tx::use_code(&mut tx, &hash, &plan.grant.id, plan.compare).await? {
        tx.rollback().await?;
        return replay(state, &hash, plan.on_lost_race).await;
    }
    tx::insert_grant(&mut tx, &plan.grant).await?;
    tx::insert_access(&mut tx, &plan.access).await?;
    if let Some(rt) = &plan.refresh {
        tx::insert_refresh(&mut tx, rt).await?;
    }
    tx.commit().await?;
    tracing::info!(grant = %plan.grant.id, client = %client.id, refresh = plan.refresh.is_some(), "authorization code exchanged");
    Ok(plan.issued)
}

/// A used code came back (RFC 6749 §4.1.2): revoke what it issued if told to, and refuse.
async fn replay(state: &AppState, hash: &TokenHash, r: Replay) -> Result<Issued, AppError> {
    if r.revoke {
        // Read again: a concurrent exchange that won may have recorded its grant just now.
        let used = state.store().code(hash).await?;
        if let Some(grant_id) = used.and_then(|c| c.grant_id) {
            tracing::warn!(grant = %grant_id, "authorization code replayed; grant revoked");
            revoke_grant(state, &grant_id).await?;
        }
    }
    Err(r.error.into())
}

/// The refresh-token grant (RFC 6749 §6), for an authenticated (or identified public)
/// `client`, with the key `dpop_jkt` of the request's DPoP proof if it came with one
/// (RFC 9449 §5).
pub async fn refresh(
    state: &AppState,
    client: &Client,
    presented: &Secret,
    requested: Option<Scope>,
    dpop_jkt: Option<&str>,
) -> Result<Issued, AppError> {
    let hash = presented.digest();
    for _ in 0..MAX_ATTEMPTS {
        if let Some(issued) = refresh_once(
            state,
            client,
            presented,
            &hash,
            requested.as_ref(),
            dpop_jkt,
        )
        .await?
        {
            return Ok(issued);
        }
    }
    Err(AppError::internal(
        "a refresh lost its compare-and-set too many times",
    ))
}

/// One attempt: read, decide, write; `Ok(None)` when a concurrent request changed the token
/// first.
async fn refresh_once(
    state: &AppState,
    client: &Client,
    presented: &Secret,
    hash: &TokenHash,
    requested: Option<&Scope>,
    dpop_jkt: Option<&str>,
) -> Result<Option<Issued>, AppError> {
    let store = state.store();
    let now = state.now();
    // The token and its grant in one read (one snapshot).
    let token = store
        .refresh_token_with_grant(hash)
        .await?
        .map(|(row, grant)| seen(state, row, grant));
    let successor = match &token {
        Some(t) => successor_of(state, &t.row).await?,
        None => None,
    };
    let owner_type = token
        .as_ref()
        .and_then(|t| state.client(t.row.client_id.as_str()))
        .unwrap_or(client)
        .client_type();
    let rows = RefreshRows {
        token,
        successor,
        owner_type,
    };
    let request = RefreshRequest {
        client_id: &client.id,
        requested,
        dpop_jkt,
    };
    let tokens = NewTokens {
        access: Secret::generate(),
        fresh: Secret::generate(),
        derived: derived(state, presented),
    };
    match decide_refresh(state.policy(), state.defects(), &rows, request, tokens, now) {
        RefreshDecision::Refuse {
            error,
            revoke_family,
        } => {
            if let Some(grant_id) = revoke_family {
                let client = rows
                    .token
                    .as_ref()
                    .map(|t| t.row.client_id.to_string())
                    .unwrap_or_default();
                tracing::warn!(grant = %grant_id, client = %client, "refresh token reuse detected; grant revoked");
                revoke_grant(state, &grant_id).await?;
            }
            Err(error.into())
        }
        RefreshDecision::RefuseTouching {
            error,
            token,
            idle_deadline,
        } => {
            let mut tx = store.begin().await?;
            tx::touch_idle(&mut tx, &token, idle_deadline).await?;
            tx.commit().await?;
            Err(error.into())
        }
        RefreshDecision::Reuse(plan) => {
            if plan.widen_race_window {
                tokio::time::sleep(RACE_WINDOW).await;
            }
            let mut tx = store.begin().await?;
            if !tx::count_reuse(&mut tx, &plan.presented, plan.limit, plan.slide).await? {
                tx.rollback().await?;
                return Ok(None);
            }
            if let Some(successor) = &plan.new_successor {
                tx::insert_refresh(&mut tx, successor).await?;
            }
            tx::insert_access(&mut tx, &plan.access).await?;
            tx.commit().await?;
            let AccessRow {
                grant_id,
                client_id,
                ..
            } = &plan.access;
            tracing::info!(grant = %grant_id, client = %client_id, "refresh token reused inside its grace window");
            Ok(Some(plan.issued))
        }
        RefreshDecision::Grant(plan) => {
            if plan.widen_race_window {
                tokio::time::sleep(RACE_WINDOW).await;
            }
            let (grant_id, client_id) = (
                plan.write.access.grant_id.clone(),
                plan.write.access.client_id.clone(),
            );
            // One transaction: the compare-and-set on the presented token's status, then the
            // successor and the access token; nothing is written when the compare-and-set lost.
            if !store.write_refresh(plan.write).await? {
                return match plan.on_lost_race {
                    LostRace::Retry => Ok(None),
                    LostRace::Fail(e) => Err(e.into()),
                };
            }
            if plan.forget_presented {
                state
                    .inner()
                    .forgotten
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(hash.clone());
            }
            tracing::info!(grant = %grant_id, client = %client_id, rotated = plan.rotated, "refresh token grant");
            Ok(Some(plan.issued))
        }
    }
}

/// `dpop-nonce-consumes-token`: a refresh refused for its DPoP nonce consumes the presented
/// token all the same (as a server that checks the nonce after using the token does).
pub async fn consume_unrotated(
    state: &AppState,
    client: &Client,
    presented: &Secret,
) -> Result<(), AppError> {
    let mut tx = state.store().begin().await?;
    let consumed =
        tx::consume_unrotated(&mut tx, &presented.digest(), &client.id, state.now()).await?;
    tx.commit().await?;
    if consumed {
        tracing::info!(client = %client.id, "refresh token consumed by a refresh refused for its DPoP nonce");
    }
    Ok(())
}

/// Looks `token` up where the decision says to, in order.
async fn find(
    state: &AppState,
    token: &str,
    hint: Option<&str>,
) -> Result<Option<FoundToken>, AppError> {
    let hash = TokenHash::of(token);
    let store = state.store();
    for kind in decide::lookup_order(state.defects(), hint) {
        match kind {
            TokenKind::Access => {
                if let Some(t) = store.access_token(&hash).await? {
                    let grant = store.grant(&t.grant_id).await?;
                    return Ok(Some(FoundToken::Access(t, grant)));
                }
            }
            TokenKind::Refresh => {
                if let Some(t) = store.refresh_token(&hash).await? {
                    let grant = store.grant(&t.grant_id).await?;
                    let token = seen(state, t, grant);
                    let successor = successor_of(state, &token.row).await?;
                    return Ok(Some(FoundToken::Refresh { token, successor }));
                }
            }
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
    // A decision read a token that a concurrent request changed before the write (a refresh
    // rotated it, a cascade revoked it): its cascade would be the wrong one, so decide again
    // on a fresh read. Each retry follows another request's write, so a few suffice.
    for _ in 0..REVOKE_ATTEMPTS {
        if revoke_once(state, client, token, hint).await? {
            return Ok(());
        }
    }
    Err(AppError::internal("revocation: the token kept changing"))
}

/// How often a revocation decides again after losing a race.
const REVOKE_ATTEMPTS: usize = 8;

/// One attempt at a revocation: `Ok(false)` when the token changed between the read and the
/// write (nothing was written).
async fn revoke_once(
    state: &AppState,
    client: &Client,
    token: &str,
    hint: Option<&str>,
) -> Result<bool, AppError> {
    let now = state.now();
    let found = find(state, token, hint).await?;
    let derived = derived(state, &Secret::new(token)).map(|s| s.digest());
    let decision = decide_revoke(
        state.policy(),
        state.defects(),
        found.as_ref(),
        &client.id,
        derived.as_ref(),
        now,
    );
    let store = state.store();
    match decision {
        RevokeDecision::Nothing => {}
        RevokeDecision::Refuse(e) => return Err(e.into()),
        RevokeDecision::OtherClients => {
            tracing::info!(client = %client.id, "revocation of another client's token ignored");
        }
        RevokeDecision::EveryGrantOf { subject } => {
            for id in store.grants_of_subject(&subject).await? {
                revoke_grant(state, &id).await?;
            }
        }
        RevokeDecision::Refresh {
            hash,
            consumed,
            grant_id,
            cascade,
        } => {
            let mut tx = store.begin().await?;
            let revoked = if consumed {
                tx::revoke_consumed_refresh(&mut tx, &hash).await?
            } else {
                tx::revoke_refresh(&mut tx, &hash).await?
            };
            if !revoked {
                // Rolled back on drop.
                return Ok(false);
            }
            end(&mut tx, &grant_id, cascade).await?;
            tx.commit().await?;
            tracing::info!(grant = %grant_id, consumed, cascade = ?cascade, "refresh token revoked");
        }
        RevokeDecision::Access {
            hash,
            grant_id,
            cascade,
        } => {
            let mut tx = store.begin().await?;
            if !tx::revoke_access(&mut tx, &hash).await? {
                return Ok(false);
            }
            end(&mut tx, &grant_id, cascade).await?;
            tx.commit().await?;
            tracing::info!(grant = %grant_id, cascade = ?cascade, "access token revoked");
        }
    }
    Ok(true)
}

/// Writes what a revocation's cascade ends in `grant_id`, in the revocation's transaction.
async fn end(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    grant_id: &GrantId,
    cascade: Option<Cascade>,
) -> Result<(), AppError> {
    match cascade {
        Some(Cascade::RefreshOnly) => tx::revoke_refresh_of_grant(tx, grant_id).await?,
        Some(Cascade::AccessOnly) => tx::revoke_access_of_grant(tx, grant_id).await?,
        Some(Cascade::Grant) => tx::revoke_grant(tx, grant_id).await?,
        None => {}
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
    pub exp: Option<crate::clock::UnixTime>,
    /// `Bearer`, `DPoP` or `refresh_token`.
    pub token_type: &'static str,
    /// The thumbprint of the DPoP key an access token is bound to (RFC 9449 §6.2: its
    /// `cnf.jkt`).
    pub jkt: Option<String>,
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
    let defects = state.defects();
    let public = caller.auth == crate::config::AuthMethod::None;
    let Some(found) = find(state, token, hint).await? else {
        return Ok(None);
    };
    let answer = match found {
        FoundToken::Access(t, g) => {
            decide::access_active(defects, &t, g.as_ref(), now).then(|| Introspection {
                scope: t.scope.to_string(),
                client_id: t.client_id.to_string(),
                exp: Some(t.expires_at),
                token_type: if t.dpop_jkt.is_some() {
                    "DPoP"
                } else {
                    "Bearer"
                },
                jkt: t.dpop_jkt.clone(),
            })
        }
        FoundToken::Refresh { token: t, .. } => {
            let Some(g) = &t.grant else {
                return Ok(None);
            };
            let exp = [t.row.expires_at, t.row.idle_deadline, g.cap_at]
                .into_iter()
                .flatten()
                .min();
            decide::refresh_active(defects, &t, g, now).then(|| Introspection {
                scope: t.row.scope.to_string(),
                client_id: t.row.client_id.to_string(),
                exp,
                token_type: "refresh_token",
                jkt: None,
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
    /// The thumbprint of the DPoP key the token is bound to, if it is (RFC 9449 §6).
    pub dpop_jkt: Option<String>,
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
    Ok(
        decide::bearer_accepted(state.defects(), &t, &g, now).then(|| Bearer {
            subject: g.subject,
            client_id: t.client_id.to_string(),
            scope: t.scope.to_string(),
            dpop_jkt: t.dpop_jkt.clone(),
        }),
    )
}
