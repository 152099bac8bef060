//! Every SQL text of the store, written once, and the refresh grant's transaction as a list
//! of statements with their arguments, so that the sqlx path (PostgreSQL, SQLite in memory)
//! and the SQLite file's writer thread run the very same statements in the same order.
//!
//! Placeholders are `$N` (PostgreSQL's form; sqlx's SQLite driver and the writer bind them
//! by number).

use std::borrow::Cow;

use crate::scope::Scope;
use crate::secret::TokenHash;

use super::rows::{AccessRow, GrantRow, RefreshChange, RefreshRow, RefreshWrite, RtStatus};

/// The columns `rows::refresh_row` decodes, in its order.
macro_rules! refresh_columns {
    ($p:literal) => {
        concat!(
            $p,
            "hash, ",
            $p,
            "grant_id, ",
            $p,
            "client_id, ",
            $p,
            "scope, ",
            $p,
            "issued_at, ",
            $p,
            "expires_at, ",
            $p,
            "idle_deadline, ",
            $p,
            "status, ",
            $p,
            "consumed_at, ",
            $p,
            "reuse_count, ",
            $p,
            "successor_hash"
        )
    };
}

/// The columns `rows::grant_row` decodes, in its order.
macro_rules! grant_columns {
    ($p:literal) => {
        concat!(
            $p,
            "id, ",
            $p,
            "client_id, ",
            $p,
            "subject, ",
            $p,
            "scope, ",
            $p,
            "created_at, ",
            $p,
            "cap_at, ",
            $p,
            "revoked, ",
            $p,
            "dpop_jkt"
        )
    };
}

/// The refresh grant's lookup: the token with this digest and its grant, one statement.
pub(super) const READ_REFRESH_WITH_GRANT: &str = concat!(
    "SELECT ",
    refresh_columns!("r."),
    ", ",
    grant_columns!("g."),
    " FROM refresh_tokens r LEFT JOIN grants g ON g.id = r.grant_id WHERE r.hash = $1"
);

/// A refresh token by digest.
pub(super) const READ_REFRESH: &str = concat!(
    "SELECT ",
    refresh_columns!(""),
    " FROM refresh_tokens WHERE hash = $1"
);

/// A grant by id.
pub(super) const READ_GRANT: &str =
    concat!("SELECT ", grant_columns!(""), " FROM grants WHERE id = $1");

/// An access token by digest, in `rows::access_row`'s order.
pub(super) const READ_ACCESS: &str = "SELECT hash, grant_id, client_id, scope, expires_at, revoked, refresh_hash, dpop_jkt FROM access_tokens WHERE hash = $1";

/// An authorization code by digest, in `rows::code_row`'s order.
pub(super) const READ_CODE: &str = "SELECT hash, client_id, subject, redirect_uri, scope, code_challenge, expires_at, used, grant_id FROM authorization_codes WHERE hash = $1";

/// The live grants of a subject.
pub(super) const GRANTS_OF_SUBJECT: &str =
    "SELECT id FROM grants WHERE subject = $1 AND revoked = 0";

/// A value of the `server_state` table.
pub(super) const READ_STATE: &str = "SELECT value FROM server_state WHERE name = $1";

/// Sets a value of the `server_state` table, unless it is set (the successor key).
pub(super) const INSERT_STATE_ONCE: &str = "INSERT INTO server_state (name, value) VALUES ('successor_key', $1) ON CONFLICT (name) DO NOTHING";

/// Sets a value of the `server_state` table.
pub(super) const UPSERT_STATE: &str = "INSERT INTO server_state (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = excluded.value";

/// A DPoP proof's `jti` seen for its key, until its window ends; nothing when it was
/// seen already (a replay).
pub(super) const RECORD_PROOF: &str = "INSERT INTO dpop_proofs (jkt, jti, until) VALUES ($1, $2, $3) ON CONFLICT (jkt, jti) DO NOTHING";

/// Forgets the DPoP proofs whose window has ended.
pub(super) const FORGET_PROOFS: &str = "DELETE FROM dpop_proofs WHERE until <= $1";

/// A new authorization code.
pub(super) const INSERT_CODE: &str = "INSERT INTO authorization_codes (hash, client_id, subject, redirect_uri, scope, code_challenge, expires_at, used, grant_id) VALUES ($1, $2, $3, $4, $5, $6, $7, 0, NULL)";

/// Marks a code exchanged, compare-and-set on `used = 0`.
pub(super) const USE_CODE_ONCE: &str =
    "UPDATE authorization_codes SET used = 1, grant_id = $2 WHERE hash = $1 AND used = 0";

/// Marks a code exchanged whatever it was (the `code-replay` defect).
pub(super) const USE_CODE_AGAIN: &str =
    "UPDATE authorization_codes SET used = 1, grant_id = $2 WHERE hash = $1";

/// A new grant.
pub(super) const INSERT_GRANT: &str = "INSERT INTO grants (id, client_id, subject, scope, created_at, cap_at, revoked, dpop_jkt) VALUES ($1, $2, $3, $4, $5, $6, 0, $7)";

/// A new refresh token.
pub(super) const INSERT_REFRESH: &str = "INSERT INTO refresh_tokens (hash, grant_id, client_id, scope, issued_at, expires_at, idle_deadline, status, consumed_at, reuse_count, successor_hash, version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, 0, NULL, 0)";

/// A new access token.
pub(super) const INSERT_ACCESS: &str = "INSERT INTO access_tokens (hash, grant_id, client_id, scope, expires_at, revoked, refresh_hash, dpop_jkt) VALUES ($1, $2, $3, $4, $5, 0, $6, $7)";

/// Ends the access tokens issued with a refresh token (`refresh_ends_access = "presented"`).
pub(super) const END_ACCESS_OF_REFRESH: &str =
    "UPDATE access_tokens SET revoked = 1 WHERE refresh_hash = $1 AND revoked = 0";

/// Moves a grant's absolute cap (the `cap-extended` defect).
pub(super) const SET_CAP: &str = "UPDATE grants SET cap_at = $2 WHERE id = $1";

/// A grace reuse counted, compare-and-set on the count.
pub(super) const COUNT_REUSE: &str = "UPDATE refresh_tokens SET reuse_count = reuse_count + 1, version = version + 1 WHERE hash = $1 AND status = 'consumed' AND reuse_count < $2";

/// A grace reuse counted that restarts the window, compare-and-set on the count and the
/// status (the `grace-slides` defect).
pub(super) const COUNT_REUSE_RESTARTING: &str = "UPDATE refresh_tokens SET reuse_count = reuse_count + 1, consumed_at = $3, version = version + 1 WHERE hash = $1 AND status = 'consumed' AND reuse_count < $2";

/// Sets the grace reuse count of a grant's tokens but one back to zero (the
/// `reuse-count-reset` defect). `$1` the grant, `$2` the token left alone.
pub(super) const RESET_REUSE_COUNTS: &str = "UPDATE refresh_tokens SET reuse_count = 0, version = version + 1 WHERE grant_id = $1 AND hash <> $2 AND reuse_count > 0";

/// A grace reuse counted that restarts the window (the `grace-too-wide` defect).
pub(super) const COUNT_REUSE_SLIDING: &str = "UPDATE refresh_tokens SET reuse_count = reuse_count + 1, consumed_at = $3, version = version + 1 WHERE hash = $1 AND reuse_count < $2";

/// Consumes an active refresh token of a client without a successor (the
/// `dpop-nonce-consumes-token` defect). `$1` digest, `$2` now, `$3` the client.
pub(super) const CONSUME_UNROTATED: &str = "UPDATE refresh_tokens SET status = 'consumed', consumed_at = $2, version = version + 1 WHERE hash = $1 AND status = 'active' AND client_id = $3";

/// Revokes a grant.
pub(super) const REVOKE_GRANT: &str = "UPDATE grants SET revoked = 1 WHERE id = $1";

/// Revokes every refresh token of a grant.
pub(super) const REVOKE_REFRESH_OF_GRANT: &str =
    "UPDATE refresh_tokens SET status = 'revoked', version = version + 1 WHERE grant_id = $1";

/// Revokes a consumed refresh token.
pub(super) const REVOKE_CONSUMED_REFRESH: &str = "UPDATE refresh_tokens SET status = 'revoked', version = version + 1 WHERE hash = $1 AND status = 'consumed'";

/// Revokes an active refresh token.
pub(super) const REVOKE_ACTIVE_REFRESH: &str = "UPDATE refresh_tokens SET status = 'revoked', version = version + 1 WHERE hash = $1 AND status = 'active'";

/// Revokes every access token of a grant.
pub(super) const REVOKE_ACCESS_OF_GRANT: &str =
    "UPDATE access_tokens SET revoked = 1 WHERE grant_id = $1 AND revoked = 0";

/// Revokes an access token.
pub(super) const REVOKE_ACCESS: &str =
    "UPDATE access_tokens SET revoked = 1 WHERE hash = $1 AND revoked = 0";

/// `status IN (…)` for a compare-and-set; the statuses are constants, never input.
fn status_in(allowed: &[RtStatus]) -> String {
    let list: Vec<String> = allowed
        .iter()
        .map(|s| format!("'{}'", s.as_str()))
        .collect();
    format!("status IN ({})", list.join(", "))
}

/// Rotation's compare-and-set: consumes the token (or, with `keep_status`, only records the
/// consumption) if its status is one of `allowed`. `$1` digest, `$2` now, `$3` successor.
pub(super) fn consume_refresh(allowed: &[RtStatus], keep_status: bool) -> String {
    let set = if keep_status {
        "consumed_at = $2, successor_hash = $3, reuse_count = 0, version = version + 1"
    } else {
        "status = 'consumed', consumed_at = $2, successor_hash = $3, reuse_count = 0, version = version + 1"
    };
    format!(
        "UPDATE refresh_tokens SET {set} WHERE hash = $1 AND {}",
        status_in(allowed)
    )
}

/// A refresh without rotation, compare-and-set on the status. `$1` digest, `$2` deadline.
pub(super) fn touch_refresh(allowed: &[RtStatus]) -> String {
    format!(
        "UPDATE refresh_tokens SET idle_deadline = $2, version = version + 1 WHERE hash = $1 AND {}",
        status_in(allowed)
    )
}

/// A value bound to a placeholder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Arg<'a> {
    /// `TEXT`.
    Text(&'a str),
    /// `BIGINT`.
    Int(i64),
    /// Nullable `BIGINT`.
    OptInt(Option<i64>),
    /// Nullable `TEXT`.
    OptText(Option<&'a str>),
    /// A scope, stored as its `Display` text.
    Scope(&'a Scope),
}

/// A statement and its arguments, `$1` first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Stmt<'a> {
    /// The SQL text.
    pub(super) sql: Cow<'static, str>,
    /// The arguments, in placeholder order.
    pub(super) args: Vec<Arg<'a>>,
}

impl<'a> Stmt<'a> {
    fn new(sql: impl Into<Cow<'static, str>>, args: Vec<Arg<'a>>) -> Stmt<'a> {
        Stmt {
            sql: sql.into(),
            args,
        }
    }
}

/// Stores a new refresh token.
pub(super) fn insert_refresh(t: &RefreshRow) -> Stmt<'_> {
    Stmt::new(
        INSERT_REFRESH,
        vec![
            Arg::Text(t.hash.as_str()),
            Arg::Text(t.grant_id.as_str()),
            Arg::Text(t.client_id.as_str()),
            Arg::Scope(&t.scope),
            Arg::Int(t.issued_at),
            Arg::OptInt(t.expires_at),
            Arg::OptInt(t.idle_deadline),
            Arg::Text(t.status.as_str()),
        ],
    )
}

/// Stores a new access token.
pub(super) fn insert_access(t: &AccessRow) -> Stmt<'_> {
    Stmt::new(
        INSERT_ACCESS,
        vec![
            Arg::Text(t.hash.as_str()),
            Arg::Text(t.grant_id.as_str()),
            Arg::Text(t.client_id.as_str()),
            Arg::Scope(&t.scope),
            Arg::Int(t.expires_at),
            Arg::OptText(t.refresh_hash.as_ref().map(TokenHash::as_str)),
            Arg::OptText(t.dpop_jkt.as_deref()),
        ],
    )
}

/// The statements of a refresh grant that end what it ends and store its access token:
/// the access tokens issued with the presented refresh token first (before the new one,
/// which may be issued with that same token), then the new one.
fn access_steps(w: &RefreshWrite) -> Vec<Stmt<'_>> {
    let mut steps = Vec::with_capacity(2);
    if let Some(rt) = &w.end_access_of {
        steps.push(Stmt::new(
            END_ACCESS_OF_REFRESH,
            vec![Arg::Text(rt.as_str())],
        ));
    }
    steps.push(insert_access(&w.access));
    steps
}

/// Stores a new grant.
pub(super) fn insert_grant(g: &GrantRow) -> Stmt<'_> {
    Stmt::new(
        INSERT_GRANT,
        vec![
            Arg::Text(g.id.as_str()),
            Arg::Text(g.client_id.as_str()),
            Arg::Text(&g.subject),
            Arg::Scope(&g.scope),
            Arg::Int(g.created_at),
            Arg::OptInt(g.cap_at),
            Arg::OptText(g.dpop_jkt.as_deref()),
        ],
    )
}

/// A refresh grant's transaction: the compare-and-set, then what follows when it won (or
/// lost, if `proceed_if_lost`). The access token is always the last insert.
#[derive(Debug)]
pub(super) struct RefreshSteps<'a> {
    /// The compare-and-set on the presented token's status (one row affected: won).
    pub(super) compare_and_set: Stmt<'a>,
    /// What follows it.
    pub(super) then: Vec<Stmt<'a>>,
    /// Run `then` and commit even when the compare-and-set lost (`race-double-spend`).
    pub(super) proceed_if_lost: bool,
}

/// The statements of a [`RefreshWrite`], for either engine.
pub(super) fn refresh_steps(w: &RefreshWrite) -> RefreshSteps<'_> {
    match &w.change {
        RefreshChange::Rotate {
            now,
            successor,
            keep_status,
            ignore_lost_race,
            cap,
            reset_reuse_of,
        } => {
            let mut then = vec![insert_refresh(successor)];
            if let Some((grant, cap)) = cap {
                then.push(Stmt::new(
                    SET_CAP,
                    vec![Arg::Text(grant.as_str()), Arg::OptInt(*cap)],
                ));
            }
            if let Some(grant) = reset_reuse_of {
                then.push(Stmt::new(
                    RESET_REUSE_COUNTS,
                    vec![Arg::Text(grant.as_str()), Arg::Text(w.presented.as_str())],
                ));
            }
            then.extend(access_steps(w));
            RefreshSteps {
                compare_and_set: Stmt::new(
                    consume_refresh(&w.allowed, *keep_status),
                    vec![
                        Arg::Text(w.presented.as_str()),
                        Arg::Int(*now),
                        Arg::Text(successor.hash.as_str()),
                    ],
                ),
                then,
                proceed_if_lost: *ignore_lost_race,
            }
        }
        RefreshChange::Touch { idle_deadline } => RefreshSteps {
            compare_and_set: Stmt::new(
                touch_refresh(&w.allowed),
                vec![Arg::Text(w.presented.as_str()), Arg::OptInt(*idle_deadline)],
            ),
            then: access_steps(w),
            proceed_if_lost: false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The highest `$N` in `sql`, and whether every `$1..=$N` occurs.
    fn placeholders(sql: &str) -> (usize, bool) {
        let mut seen = Vec::new();
        let bytes = sql.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'$' {
                let digits: String = sql[i + 1..]
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .collect();
                if let Ok(n) = digits.parse::<usize>() {
                    seen.push(n);
                }
            }
            i += 1;
        }
        let max = seen.iter().copied().max().unwrap_or(0);
        (max, (1..=max).all(|n| seen.contains(&n)))
    }

    #[test]
    fn the_reads_list_the_columns_their_decoders_expect() {
        assert_eq!(
            READ_REFRESH_WITH_GRANT,
            "SELECT r.hash, r.grant_id, r.client_id, r.scope, r.issued_at, r.expires_at, r.idle_deadline, r.status, r.consumed_at, r.reuse_count, r.successor_hash, g.id, g.client_id, g.subject, g.scope, g.created_at, g.cap_at, g.revoked, g.dpop_jkt FROM refresh_tokens r LEFT JOIN grants g ON g.id = r.grant_id WHERE r.hash = $1"
        );
        assert_eq!(
            READ_REFRESH.matches(", ").count() + 1,
            super::super::rows::REFRESH_WIDTH
        );
    }

    #[test]
    fn every_statement_numbers_its_placeholders_without_gaps() {
        let all = [
            READ_REFRESH_WITH_GRANT,
            READ_REFRESH,
            READ_GRANT,
            READ_ACCESS,
            READ_CODE,
            GRANTS_OF_SUBJECT,
            READ_STATE,
            INSERT_STATE_ONCE,
            UPSERT_STATE,
            RECORD_PROOF,
            FORGET_PROOFS,
            INSERT_CODE,
            USE_CODE_ONCE,
            USE_CODE_AGAIN,
            INSERT_GRANT,
            INSERT_REFRESH,
            INSERT_ACCESS,
            SET_CAP,
            COUNT_REUSE,
            COUNT_REUSE_RESTARTING,
            RESET_REUSE_COUNTS,
            COUNT_REUSE_SLIDING,
            CONSUME_UNROTATED,
            REVOKE_GRANT,
            REVOKE_REFRESH_OF_GRANT,
            REVOKE_CONSUMED_REFRESH,
            REVOKE_ACTIVE_REFRESH,
            REVOKE_ACCESS_OF_GRANT,
            REVOKE_ACCESS,
        ];
        for sql in all {
            assert!(placeholders(sql).1, "{sql}");
        }
        let consume = consume_refresh(&[RtStatus::Active], true);
        assert_eq!(placeholders(&consume), (3, true));
        assert_eq!(placeholders(&touch_refresh(&[RtStatus::Active])), (2, true));
    }
}
