//! The rows of the store as the rest of the server sees them: typed ids, a parsed
//! [`Scope`], a closed [`RtStatus`]. Columns are turned into these types here, at the store's
//! edge, once for both engines (sqlx and the SQLite writer's rusqlite connections).

use std::fmt;

use sqlx::any::AnyRow;
use sqlx::Row;

use crate::clock::UnixTime;
use crate::scope::Scope;
use crate::secret::TokenHash;

/// The id of a grant (a token family): random, 128 bits in hex.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GrantId(String);

/// The `client_id` a token or grant was issued to.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClientId(String);

macro_rules! string_id {
    ($t:ident) => {
        impl $t {
            /// The id as stored and logged.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl From<String> for $t {
            fn from(s: String) -> $t {
                $t(s)
            }
        }

        impl From<&str> for $t {
            fn from(s: &str) -> $t {
                $t(s.to_string())
            }
        }

        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($t), self.0)
            }
        }

        impl PartialEq<str> for $t {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }
    };
}

string_id!(GrantId);
string_id!(ClientId);

/// The status of a refresh token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RtStatus {
    /// Usable (subject to its deadlines and its grant).
    Active,
    /// Rotated: a successor was issued for it.
    Consumed,
    /// Revoked (RFC 7009, reuse detection, code replay).
    Revoked,
}

impl RtStatus {
    /// The stored form.
    pub const fn as_str(self) -> &'static str {
        match self {
            RtStatus::Active => "active",
            RtStatus::Consumed => "consumed",
            RtStatus::Revoked => "revoked",
        }
    }

    pub(super) fn parse(s: &str) -> Result<RtStatus, sqlx::Error> {
        match s {
            "active" => Ok(RtStatus::Active),
            "consumed" => Ok(RtStatus::Consumed),
            "revoked" => Ok(RtStatus::Revoked),
            other => Err(sqlx::Error::Decode(
                format!("unknown refresh token status `{other}`").into(),
            )),
        }
    }
}

/// A grant (a token family): what one authorization-code exchange started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantRow {
    /// Random id.
    pub id: GrantId,
    /// The client it was issued to.
    pub client_id: ClientId,
    /// The resource owner.
    pub subject: String,
    /// The granted scope.
    pub scope: Scope,
    /// When the code was exchanged.
    pub created_at: UnixTime,
    /// No refresh token of the grant is usable at or after this time (absolute cap).
    pub cap_at: Option<UnixTime>,
    /// The whole grant is revoked, every token of it included.
    pub revoked: bool,
    /// The RFC 7638 thumbprint of the DPoP key its code exchange proved (RFC 9449): a
    /// public client's refresh tokens of this grant are bound to it.
    pub dpop_jkt: Option<String>,
}

/// An authorization code (RFC 6749 §4.1.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeRow {
    /// Digest of the code.
    pub hash: TokenHash,
    /// The client it was issued to.
    pub client_id: ClientId,
    /// The resource owner who approved.
    pub subject: String,
    /// The redirect URI of the authorization request (empty when the request had none).
    pub redirect_uri: String,
    /// The approved scope.
    pub scope: Scope,
    /// The PKCE S256 challenge, if one was sent (RFC 7636).
    pub code_challenge: Option<String>,
    /// Dead at or after this time.
    pub expires_at: UnixTime,
    /// Already exchanged.
    pub used: bool,
    /// The grant its exchange created.
    pub grant_id: Option<GrantId>,
}

/// A refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshRow {
    /// Digest of the token.
    pub hash: TokenHash,
    /// Its grant (family).
    pub grant_id: GrantId,
    /// The client it was issued to (RFC 6749 §10.4 binding).
    pub client_id: ClientId,
    /// Its scope: always the grant's original scope (RFC 6749 §6).
    pub scope: Scope,
    /// When it was issued.
    pub issued_at: UnixTime,
    /// Its TTL deadline.
    pub expires_at: Option<UnixTime>,
    /// Its idle-timeout deadline (RFC 9700 §4.14.2).
    pub idle_deadline: Option<UnixTime>,
    /// Active, consumed or revoked.
    pub status: RtStatus,
    /// When it was rotated (start of its grace window).
    pub consumed_at: Option<UnixTime>,
    /// How many grace reuses it has had.
    pub reuse_count: i64,
    /// Digest of the successor its rotation issued.
    pub successor_hash: Option<TokenHash>,
}

/// An access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessRow {
    /// Digest of the token.
    pub hash: TokenHash,
    /// Its grant.
    pub grant_id: GrantId,
    /// The client it was issued to.
    pub client_id: ClientId,
    /// Its scope (possibly narrower than the grant's).
    pub scope: Scope,
    /// Dead at or after this time.
    pub expires_at: UnixTime,
    /// Revoked by itself (RFC 7009); it is dead as well when its grant is revoked.
    pub revoked: bool,
    /// The refresh token it was issued with, kept only under `refresh_ends_access =
    /// "presented"` (a refresh with that token ends it).
    pub refresh_hash: Option<TokenHash>,
    /// The thumbprint of the DPoP key it is bound to (RFC 9449 §6: its `cnf.jkt`); `None`
    /// for a Bearer token.
    pub dpop_jkt: Option<String>,
}

/// What a counted grace reuse does to the presented token's window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraceSlide {
    /// The window stays where its rotation put it.
    Kept,
    /// The window restarts at this time; the count's compare-and-set still asks for a
    /// consumed token (`grace-slides`).
    Restart(UnixTime),
    /// The window restarts at this time, whatever the token's status (`grace-too-wide`).
    RestartAnyStatus(UnixTime),
}

/// What a refresh grant writes: one transaction that starts with the compare-and-set on the
/// presented token's status, then stores the successor (when rotating) and the access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshWrite {
    /// Digest of the presented refresh token.
    pub presented: TokenHash,
    /// The statuses the compare-and-set accepts.
    pub allowed: Vec<RtStatus>,
    /// Rotate or only touch the presented token.
    pub change: RefreshChange,
    /// The new access token.
    pub access: AccessRow,
    /// End the access tokens issued with this refresh token first (the presented one, under
    /// `refresh_ends_access = "presented"`).
    pub end_access_of: Option<TokenHash>,
}

/// How a refresh changes the presented token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshChange {
    /// Rotation: the presented token is consumed and `successor` issued.
    Rotate {
        /// The time of the rotation (start of a grace window).
        now: UnixTime,
        /// The successor refresh token.
        successor: Box<RefreshRow>,
        /// Record the consumption but leave the status active (`restart-forgets`).
        keep_status: bool,
        /// Write even when the compare-and-set lost (`race-double-spend`).
        ignore_lost_race: bool,
        /// Move the grant's absolute cap (`cap-extended`): grant id and new cap.
        cap: Option<(GrantId, Option<UnixTime>)>,
        /// Set the grace reuse count of every other token of this grant back to zero
        /// (`reuse-count-reset`).
        reset_reuse_of: Option<GrantId>,
    },
    /// No rotation: the presented token stays, its idle deadline moves.
    Touch {
        /// The new idle deadline.
        idle_deadline: Option<UnixTime>,
    },
}

/// A stored scope: written by [`Scope`]'s `Display`, so parsing it gives the same set back
/// (an empty text is the empty scope).
pub(super) fn scope_of(text: &str) -> Scope {
    Scope::parse(text).unwrap_or_default()
}

/// A rusqlite error as the store's error type (no bound value is ever in it).
pub(super) fn to_sqlx(e: rusqlite::Error) -> sqlx::Error {
    sqlx::Error::Io(std::io::Error::other(format!("sqlite writer: {e}")))
}

/// One result row, read by column index: the same decoding for sqlx's rows and for the
/// SQLite writer's rusqlite rows.
pub(super) trait Columns {
    /// A `TEXT NOT NULL` column.
    fn text(&self, i: usize) -> Result<String, sqlx::Error>;
    /// A nullable `TEXT` column.
    fn opt_text(&self, i: usize) -> Result<Option<String>, sqlx::Error>;
    /// A `BIGINT NOT NULL` column.
    fn int(&self, i: usize) -> Result<i64, sqlx::Error>;
    /// A nullable `BIGINT` column.
    fn opt_int(&self, i: usize) -> Result<Option<i64>, sqlx::Error>;
}

impl Columns for AnyRow {
    fn text(&self, i: usize) -> Result<String, sqlx::Error> {
        self.try_get(i)
    }
    fn opt_text(&self, i: usize) -> Result<Option<String>, sqlx::Error> {
        self.try_get(i)
    }
    fn int(&self, i: usize) -> Result<i64, sqlx::Error> {
        self.try_get(i)
    }
    fn opt_int(&self, i: usize) -> Result<Option<i64>, sqlx::Error> {
        self.try_get(i)
    }
}

impl Columns for rusqlite::Row<'_> {
    fn text(&self, i: usize) -> Result<String, sqlx::Error> {
        self.get(i).map_err(to_sqlx)
    }
    fn opt_text(&self, i: usize) -> Result<Option<String>, sqlx::Error> {
        self.get(i).map_err(to_sqlx)
    }
    fn int(&self, i: usize) -> Result<i64, sqlx::Error> {
        self.get(i).map_err(to_sqlx)
    }
    fn opt_int(&self, i: usize) -> Result<Option<i64>, sqlx::Error> {
        self.get(i).map_err(to_sqlx)
    }
}

/// A refresh token from the refresh columns of the store's reads, starting at column `at`.
pub(super) fn refresh_row(r: &impl Columns, at: usize) -> Result<RefreshRow, sqlx::Error> {
    Ok(RefreshRow {
        hash: TokenHash::from_stored(r.text(at)?),
        grant_id: GrantId(r.text(at + 1)?),
        client_id: ClientId(r.text(at + 2)?),
        scope: scope_of(&r.text(at + 3)?),
        issued_at: r.int(at + 4)?,
        expires_at: r.opt_int(at + 5)?,
        idle_deadline: r.opt_int(at + 6)?,
        status: RtStatus::parse(&r.text(at + 7)?)?,
        consumed_at: r.opt_int(at + 8)?,
        reuse_count: r.int(at + 9)?,
        successor_hash: r.opt_text(at + 10)?.map(TokenHash::from_stored),
    })
}

/// How many columns [`refresh_row`] reads.
pub(super) const REFRESH_WIDTH: usize = 11;

/// A grant from the grant columns of the store's reads, starting at column `at`; `None` when its id
/// is NULL (the outer join found no grant).
pub(super) fn grant_row(r: &impl Columns, at: usize) -> Result<Option<GrantRow>, sqlx::Error> {
    let Some(id) = r.opt_text(at)? else {
        return Ok(None);
    };
    Ok(Some(GrantRow {
        id: GrantId(id),
        client_id: ClientId(r.text(at + 1)?),
        subject: r.text(at + 2)?,
        scope: scope_of(&r.text(at + 3)?),
        created_at: r.int(at + 4)?,
        cap_at: r.opt_int(at + 5)?,
        revoked: r.int(at + 6)? != 0,
        dpop_jkt: r.opt_text(at + 7)?,
    }))
}

/// An access token, columns in the order of the store's access-token read.
pub(super) fn access_row(r: &impl Columns) -> Result<AccessRow, sqlx::Error> {
    Ok(AccessRow {
        hash: TokenHash::from_stored(r.text(0)?),
        grant_id: GrantId(r.text(1)?),
        client_id: ClientId(r.text(2)?),
        scope: scope_of(&r.text(3)?),
        expires_at: r.int(4)?,
        revoked: r.int(5)? != 0,
        refresh_hash: r.opt_text(6)?.map(TokenHash::from_stored),
        dpop_jkt: r.opt_text(7)?,
    })
}

/// An authorization code, columns in the order of the store's code read.
pub(super) fn code_row(r: &impl Columns) -> Result<CodeRow, sqlx::Error> {
    Ok(CodeRow {
        hash: TokenHash::from_stored(r.text(0)?),
        client_id: ClientId(r.text(1)?),
        subject: r.text(2)?,
        redirect_uri: r.text(3)?,
        scope: scope_of(&r.text(4)?),
        code_challenge: r.opt_text(5)?,
        expires_at: r.int(6)?,
        used: r.int(7)? != 0,
        grant_id: r.opt_text(8)?.map(GrantId),
    })
}
