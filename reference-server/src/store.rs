//! The token store: SQLite (a file, or in memory) or PostgreSQL, through sqlx at run time.
//!
//! Token values are never stored, only their SHA-256 digests (RFC 6749 §10.3, §10.4;
//! RFC 9700 §4.14). Every state change a client may race on is a compare-and-set inside one
//! transaction (`UPDATE … WHERE status = 'active'` and a check of the rows affected), so
//! concurrent refreshes of one refresh token give exactly one rotation, on SQLite and on
//! PostgreSQL shared by several server processes. Every transaction starts with its write,
//! so SQLite takes the write lock first and never has to upgrade a stale read snapshot.
//!
//! Schema migrations are embedded SQL files run by sqlx's migrator.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use sqlx::{Any, AnyConnection, AnyPool, Executor, Row, Transaction};

use crate::clock::UnixTime;
use crate::secret::{DerivationKey, TokenHash};

mod writer;

/// Why the store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL names no supported database.
    #[error("unsupported database URL `{0}`: use sqlite:PATH, sqlite::memory: or postgres://…")]
    UnsupportedUrl(String),
    /// Connecting failed.
    #[error("failed to connect to the database: {0}")]
    Connect(#[source] sqlx::Error),
    /// Migrating the schema failed.
    #[error("failed to migrate the database schema: {0}")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    /// A query failed while setting up.
    #[error("failed to set up the database: {0}")]
    Setup(#[source] sqlx::Error),
}

/// Which database engine a store uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite in a file.
    SqliteFile,
    /// SQLite in memory (lost at shutdown).
    SqliteMemory,
    /// PostgreSQL.
    Postgres,
}

impl Backend {
    /// The backend a database URL names.
    pub fn of_url(url: &str) -> Option<Backend> {
        if url.starts_with("sqlite:") {
            if url.contains(":memory:") || url.contains("mode=memory") {
                Some(Backend::SqliteMemory)
            } else {
                Some(Backend::SqliteFile)
            }
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Backend::Postgres)
        } else {
            None
        }
    }
}

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

    fn parse(s: &str) -> Result<RtStatus, sqlx::Error> {
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
    pub id: String,
    /// The client it was issued to.
    pub client_id: String,
    /// The resource owner.
    pub subject: String,
    /// The granted scope.
    pub scope: String,
    /// When the code was exchanged.
    pub created_at: UnixTime,
    /// No refresh token of the grant is usable at or after this time (absolute cap).
    pub cap_at: Option<UnixTime>,
    /// The whole grant is revoked, every token of it included.
    pub revoked: bool,
}

/// An authorization code (RFC 6749 §4.1.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeRow {
    /// Digest of the code.
    pub hash: TokenHash,
    /// The client it was issued to.
    pub client_id: String,
    /// The resource owner who approved.
    pub subject: String,
    /// The redirect URI of the authorization request.
    pub redirect_uri: String,
    /// The approved scope.
    pub scope: String,
    /// The PKCE S256 challenge, if one was sent (RFC 7636).
    pub code_challenge: Option<String>,
    /// Dead at or after this time.
    pub expires_at: UnixTime,
    /// Already exchanged.
    pub used: bool,
    /// The grant its exchange created.
    pub grant_id: Option<String>,
}

/// A refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshRow {
    /// Digest of the token.
    pub hash: TokenHash,
    /// Its grant (family).
    pub grant_id: String,
    /// The client it was issued to (RFC 6749 §10.4 binding).
    pub client_id: String,
    /// Its scope: always the grant's original scope (RFC 6749 §6).
    pub scope: String,
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
    pub successor_hash: Option<String>,
}

/// An access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessRow {
    /// Digest of the token.
    pub hash: TokenHash,
    /// Its grant.
    pub grant_id: String,
    /// The client it was issued to.
    pub client_id: String,
    /// Its scope (possibly narrower than the grant's).
    pub scope: String,
    /// Dead at or after this time.
    pub expires_at: UnixTime,
    /// Revoked by itself (RFC 7009); it is dead as well when its grant is revoked.
    pub revoked: bool,
}

/// The database, with separate pools for reads and for writes (the same pool except for a
/// SQLite file, where one writer connection avoids lock contention: WAL with a single writer).
///
/// On a SQLite file, the refresh grant's transaction ([`Store::write_refresh`], the hot path)
/// runs on a dedicated thread that owns its own connection: one hand-off per transaction
/// instead of one per statement through sqlx's connection worker.
#[derive(Clone, Debug)]
pub struct Store {
    read: AnyPool,
    write: AnyPool,
    backend: Backend,
    writer: Option<Arc<writer::Writer>>,
}

/// What a refresh grant writes: one transaction that starts with the compare-and-set on the
/// presented token's status, then stores the successor (when rotating) and the access token.
#[derive(Debug, Clone)]
pub struct RefreshWrite {
    /// Digest of the presented refresh token.
    pub presented: TokenHash,
    /// The statuses the compare-and-set accepts.
    pub allowed: Vec<RtStatus>,
    /// Rotate or only touch the presented token.
    pub change: RefreshChange,
    /// The new access token.
    pub access: AccessRow,
}

/// How a refresh changes the presented token.
#[derive(Debug, Clone)]
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
        cap: Option<(String, Option<UnixTime>)>,
    },
    /// No rotation: the presented token stays, its idle deadline moves.
    Touch {
        /// The new idle deadline.
        idle_deadline: Option<UnixTime>,
    },
}

/// The migrations, embedded in the binary.
#[derive(Debug)]
struct Embedded;

const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "tokens", include_str!("../migrations/0001_tokens.sql")),
    (
        2,
        "access tokens by grant",
        include_str!("../migrations/0002_access_tokens_by_grant.sql"),
    ),
];

impl<'s> MigrationSource<'s> for Embedded {
    fn resolve(
        self,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<Migration>, BoxDynError>> + Send + 's>> {
        Box::pin(async move {
            Ok(MIGRATIONS
                .iter()
                .map(|(v, d, sql)| {
                    Migration::new(
                        *v,
                        Cow::Borrowed(*d),
                        MigrationType::Simple,
                        Cow::Borrowed(*sql),
                        false,
                    )
                })
                .collect())
        })
    }
}

fn sqlite_url(url: &str) -> String {
    // Create the file when it does not exist yet.
    if url.contains('?') || url.contains(":memory:") {
        url.to_string()
    } else {
        format!("{url}?mode=rwc")
    }
}

async fn sqlite_pool(url: &str, connections: u32, wal: bool) -> Result<AnyPool, sqlx::Error> {
    let memory = !wal;
    AnyPoolOptions::new()
        .max_connections(connections)
        // A SQLite connection cannot go stale: no ping (a round trip to the connection's
        // worker thread) before every use.
        .test_before_acquire(false)
        .min_connections(if memory { 1 } else { 0 })
        .idle_timeout(if memory {
            None
        } else {
            Some(Duration::from_secs(600))
        })
        .max_lifetime(None)
        .acquire_timeout(Duration::from_secs(30))
        .after_connect(move |conn, _meta| {
            Box::pin(async move {
                conn.execute("PRAGMA busy_timeout = 10000").await?;
                if wal {
                    // WAL + synchronous=NORMAL: a committed transaction survives a crash of
                    // the process (kill -9), which is what durability means here.
                    conn.execute("PRAGMA journal_mode = WAL").await?;
                    conn.execute("PRAGMA synchronous = NORMAL").await?;
                }
                Ok(())
            })
        })
        .connect(&sqlite_url(url))
        .await
}

impl Store {
    /// Opens the database at `url` and migrates its schema.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let backend =
            Backend::of_url(url).ok_or_else(|| StoreError::UnsupportedUrl(url.to_string()))?;
        let (read, write) = match backend {
            Backend::SqliteMemory => {
                // One connection: an in-memory database lives as long as it does, and
                // shared-cache locking would answer SQLITE_LOCKED instead of waiting.
                let p = sqlite_pool(url, 1, false)
                    .await
                    .map_err(StoreError::Connect)?;
                (p.clone(), p)
            }
            Backend::SqliteFile => {
                let write = sqlite_pool(url, 1, true)
                    .await
                    .map_err(StoreError::Connect)?;
                let read = sqlite_pool(url, 4, true)
                    .await
                    .map_err(StoreError::Connect)?;
                (read, write)
            }
            Backend::Postgres => {
                let p = AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(30))
                    .connect(url)
                    .await
                    .map_err(StoreError::Connect)?;
                (p.clone(), p)
            }
        };
        let mut store = Store {
            read,
            write,
            backend,
            writer: None,
        };
        let migrator = Migrator::new(Embedded).await.map_err(StoreError::Migrate)?;
        migrator
            .run(&store.write)
            .await
            .map_err(StoreError::Migrate)?;
        if backend == Backend::SqliteFile {
            let path = writer::sqlite_path(url);
            let w = tokio::task::spawn_blocking(move || writer::Writer::start(&path))
                .await
                .map_err(|e| StoreError::Connect(sqlx::Error::Io(std::io::Error::other(e))))?
                .map_err(|e| StoreError::Connect(writer::to_sqlx(e)))?;
            store.writer = Some(Arc::new(w));
        }
        Ok(store)
    }

    /// The engine in use.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Closes every connection (before a restart on the same file).
    pub async fn close(&self) {
        if let Some(w) = &self.writer {
            w.close().await;
        }
        self.read.close().await;
        self.write.close().await;
    }

    /// A refresh grant's writes, in one transaction that starts with the compare-and-set.
    /// `false` when the compare-and-set lost (another request changed the token first) and
    /// nothing was written (unless `ignore_lost_race`, a defect, says to write anyway).
    pub async fn write_refresh(&self, w: RefreshWrite) -> Result<bool, sqlx::Error> {
        if let Some(writer) = &self.writer {
            return writer.write_refresh(w).await;
        }
        let mut t = self.begin().await?;
        let won = match &w.change {
            RefreshChange::Rotate {
                now,
                successor,
                keep_status,
                ignore_lost_race,
                cap,
            } => {
                let won = tx::consume_refresh(
                    &mut t,
                    &w.presented,
                    &w.allowed,
                    *now,
                    &successor.hash,
                    *keep_status,
                )
                .await?;
                if won || *ignore_lost_race {
                    tx::insert_refresh(&mut t, successor).await?;
                    if let Some((grant, cap)) = cap {
                        tx::set_cap(&mut t, grant, *cap).await?;
                    }
                }
                won || *ignore_lost_race
            }
            RefreshChange::Touch { idle_deadline } => {
                tx::touch_refresh(&mut t, &w.presented, &w.allowed, *idle_deadline).await?
            }
        };
        if !won {
            t.rollback().await?;
            return Ok(false);
        }
        tx::insert_access(&mut t, &w.access).await?;
        t.commit().await?;
        Ok(true)
    }

    /// The refresh token with this digest and its grant, read in one statement.
    pub async fn refresh_token_with_grant(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<(RefreshRow, Option<GrantRow>)>, sqlx::Error> {
        if let Some(writer) = &self.writer {
            // A SQLite file: a read-only rusqlite connection, no hand-off to sqlx's worker.
            return writer.read_refresh(hash);
        }
        let row = sqlx::query(
            "SELECT r.*, g.id AS g_id, g.client_id AS g_client_id, g.subject AS g_subject, g.scope AS g_scope, g.created_at AS g_created_at, g.cap_at AS g_cap_at, g.revoked AS g_revoked FROM refresh_tokens r LEFT JOIN grants g ON g.id = r.grant_id WHERE r.hash = $1",
        )
        .bind(hash.as_str())
        .fetch_optional(&self.read)
        .await?;
        let Some(r) = row else {
            return Ok(None);
        };
        let rt = rt_from_row(&r)?;
        let grant = match r.try_get::<Option<String>, _>("g_id")? {
            None => None,
            Some(id) => Some(GrantRow {
                id,
                client_id: r.try_get("g_client_id")?,
                subject: r.try_get("g_subject")?,
                scope: r.try_get("g_scope")?,
                created_at: r.try_get("g_created_at")?,
                cap_at: r.try_get("g_cap_at")?,
                revoked: r.try_get::<i64, _>("g_revoked")? != 0,
            }),
        };
        Ok(Some((rt, grant)))
    }

    /// The pool for plain reads.
    pub fn reader(&self) -> &AnyPool {
        &self.read
    }

    /// Starts a write transaction.
    pub async fn begin(&self) -> Result<Transaction<'static, Any>, sqlx::Error> {
        self.write.begin().await
    }

    /// The key for deriving successors, created on first use and kept in the store so that
    /// every instance sharing the database derives the same values.
    pub async fn derivation_key(&self) -> Result<DerivationKey, StoreError> {
        let fresh = DerivationKey::generate();
        sqlx::query(
            "INSERT INTO server_state (name, value) VALUES ('successor_key', $1) ON CONFLICT (name) DO NOTHING",
        )
        .bind(fresh.to_stored())
        .execute(&self.write)
        .await
        .map_err(StoreError::Setup)?;
        let stored = self
            .state_value("successor_key")
            .await
            .map_err(StoreError::Setup)?
            .unwrap_or_default();
        DerivationKey::from_stored(&stored).ok_or_else(|| {
            StoreError::Setup(sqlx::Error::Decode(
                "the stored successor key is malformed".into(),
            ))
        })
    }

    /// A value of the `server_state` table.
    pub async fn state_value(&self, name: &str) -> Result<Option<String>, sqlx::Error> {
        let row = sqlx::query("SELECT value FROM server_state WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.write)
            .await?;
        row.map(|r| r.try_get::<String, _>("value")).transpose()
    }

    /// Sets a value of the `server_state` table.
    pub async fn set_state_value(&self, name: &str, value: &str) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO server_state (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        )
        .bind(name)
        .bind(value)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    /// Stores a new authorization code.
    pub async fn insert_code(&self, c: &CodeRow) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO authorization_codes (hash, client_id, subject, redirect_uri, scope, code_challenge, expires_at, used, grant_id) VALUES ($1, $2, $3, $4, $5, $6, $7, 0, NULL)",
        )
        .bind(c.hash.as_str())
        .bind(&c.client_id)
        .bind(&c.subject)
        .bind(&c.redirect_uri)
        .bind(&c.scope)
        .bind(c.code_challenge.as_deref())
        .bind(c.expires_at)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    /// The code with this digest.
    pub async fn code(&self, hash: &TokenHash) -> Result<Option<CodeRow>, sqlx::Error> {
        let row = sqlx::query("SELECT * FROM authorization_codes WHERE hash = $1")
            .bind(hash.as_str())
            .fetch_optional(&self.read)
            .await?;
        row.map(|r| {
            Ok(CodeRow {
                hash: TokenHash::from_stored(r.try_get("hash")?),
                client_id: r.try_get("client_id")?,
                subject: r.try_get("subject")?,
                redirect_uri: r.try_get("redirect_uri")?,
                scope: r.try_get("scope")?,
                code_challenge: r.try_get("code_challenge")?,
                expires_at: r.try_get("expires_at")?,
                used: r.try_get::<i64, _>("used")? != 0,
                grant_id: r.try_get("grant_id")?,
            })
        })
        .transpose()
    }

    /// The grant with this id.
    pub async fn grant(&self, id: &str) -> Result<Option<GrantRow>, sqlx::Error> {
        let row = sqlx::query("SELECT * FROM grants WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.read)
            .await?;
        row.map(|r| grant_from_row(&r)).transpose()
    }

    /// The refresh token with this digest.
    pub async fn refresh_token(&self, hash: &TokenHash) -> Result<Option<RefreshRow>, sqlx::Error> {
        let row = sqlx::query("SELECT * FROM refresh_tokens WHERE hash = $1")
            .bind(hash.as_str())
            .fetch_optional(&self.read)
            .await?;
        row.map(|r| rt_from_row(&r)).transpose()
    }

    /// The access token with this digest.
    pub async fn access_token(&self, hash: &TokenHash) -> Result<Option<AccessRow>, sqlx::Error> {
        let row = sqlx::query("SELECT * FROM access_tokens WHERE hash = $1")
            .bind(hash.as_str())
            .fetch_optional(&self.read)
            .await?;
        row.map(|r| {
            Ok(AccessRow {
                hash: TokenHash::from_stored(r.try_get("hash")?),
                grant_id: r.try_get("grant_id")?,
                client_id: r.try_get("client_id")?,
                scope: r.try_get("scope")?,
                expires_at: r.try_get("expires_at")?,
                revoked: r.try_get::<i64, _>("revoked")? != 0,
            })
        })
        .transpose()
    }

    /// The ids of every live grant of `subject` (for the `revoke-too-much` defect).
    pub async fn grants_of_subject(&self, subject: &str) -> Result<Vec<String>, sqlx::Error> {
        let rows = sqlx::query("SELECT id FROM grants WHERE subject = $1 AND revoked = 0")
            .bind(subject)
            .fetch_all(&self.read)
            .await?;
        rows.iter().map(|r| r.try_get::<String, _>("id")).collect()
    }
}

fn grant_from_row(r: &AnyRow) -> Result<GrantRow, sqlx::Error> {
    Ok(GrantRow {
        id: r.try_get("id")?,
        client_id: r.try_get("client_id")?,
        subject: r.try_get("subject")?,
        scope: r.try_get("scope")?,
        created_at: r.try_get("created_at")?,
        cap_at: r.try_get("cap_at")?,
        revoked: r.try_get::<i64, _>("revoked")? != 0,
    })
}

fn rt_from_row(r: &AnyRow) -> Result<RefreshRow, sqlx::Error> {
    Ok(RefreshRow {
        hash: TokenHash::from_stored(r.try_get("hash")?),
        grant_id: r.try_get("grant_id")?,
        client_id: r.try_get("client_id")?,
        scope: r.try_get("scope")?,
        issued_at: r.try_get("issued_at")?,
        expires_at: r.try_get("expires_at")?,
        idle_deadline: r.try_get("idle_deadline")?,
        status: RtStatus::parse(&r.try_get::<String, _>("status")?)?,
        consumed_at: r.try_get("consumed_at")?,
        reuse_count: r.try_get("reuse_count")?,
        successor_hash: r.try_get("successor_hash")?,
    })
}

/// `status IN (…)` for a compare-and-set; the statuses are constants, never input.
fn status_in(allowed: &[RtStatus]) -> String {
    let list: Vec<String> = allowed
        .iter()
        .map(|s| format!("'{}'", s.as_str()))
        .collect();
    format!("status IN ({})", list.join(", "))
}

/// Statements that run inside a write transaction.
pub mod tx {
    use super::*;

    /// Marks the code exchanged and records its grant; `false` when it was already used
    /// (compare-and-set: two concurrent exchanges cannot both win).
    pub async fn use_code(
        conn: &mut AnyConnection,
        hash: &TokenHash,
        grant_id: &str,
        compare: bool,
    ) -> Result<bool, sqlx::Error> {
        let sql = if compare {
            "UPDATE authorization_codes SET used = 1, grant_id = $2 WHERE hash = $1 AND used = 0"
        } else {
            "UPDATE authorization_codes SET used = 1, grant_id = $2 WHERE hash = $1"
        };
        let done = sqlx::query(sql)
            .bind(hash.as_str())
            .bind(grant_id)
            .execute(conn)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Stores a new grant.
    pub async fn insert_grant(conn: &mut AnyConnection, g: &GrantRow) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO grants (id, client_id, subject, scope, created_at, cap_at, revoked) VALUES ($1, $2, $3, $4, $5, $6, 0)",
        )
        .bind(&g.id)
        .bind(&g.client_id)
        .bind(&g.subject)
        .bind(&g.scope)
        .bind(g.created_at)
        .bind(g.cap_at)
        .execute(conn)
        .await?;
        Ok(())
    }

    /// Stores a new refresh token (active).
    pub async fn insert_refresh(
        conn: &mut AnyConnection,
        t: &RefreshRow,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO refresh_tokens (hash, grant_id, client_id, scope, issued_at, expires_at, idle_deadline, status, consumed_at, reuse_count, successor_hash, version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, 0, NULL, 0)",
        )
        .bind(t.hash.as_str())
        .bind(&t.grant_id)
        .bind(&t.client_id)
        .bind(&t.scope)
        .bind(t.issued_at)
        .bind(t.expires_at)
        .bind(t.idle_deadline)
        .bind(t.status.as_str())
        .execute(conn)
        .await?;
        Ok(())
    }

    /// Stores a new access token.
    pub async fn insert_access(conn: &mut AnyConnection, t: &AccessRow) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO access_tokens (hash, grant_id, client_id, scope, expires_at, revoked) VALUES ($1, $2, $3, $4, $5, 0)",
        )
        .bind(t.hash.as_str())
        .bind(&t.grant_id)
        .bind(&t.client_id)
        .bind(&t.scope)
        .bind(t.expires_at)
        .execute(conn)
        .await?;
        Ok(())
    }

    /// Rotation's compare-and-set: marks the token consumed (or, with `keep_status`, only
    /// records the consumption) if its status is one of `allowed`; `false` when another
    /// request changed it first.
    pub async fn consume_refresh(
        conn: &mut AnyConnection,
        hash: &TokenHash,
        allowed: &[RtStatus],
        now: UnixTime,
        successor: &TokenHash,
        keep_status: bool,
    ) -> Result<bool, sqlx::Error> {
        let set = if keep_status {
            "consumed_at = $2, successor_hash = $3, reuse_count = 0, version = version + 1"
        } else {
            "status = 'consumed', consumed_at = $2, successor_hash = $3, reuse_count = 0, version = version + 1"
        };
        let sql = format!(
            "UPDATE refresh_tokens SET {set} WHERE hash = $1 AND {}",
            status_in(allowed)
        );
        let done = sqlx::query(&sql)
            .bind(hash.as_str())
            .bind(now)
            .bind(successor.as_str())
            .execute(conn)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// A refresh without rotation: the token stays, its idle deadline moves; `false` when
    /// its status changed since it was read.
    pub async fn touch_refresh(
        conn: &mut AnyConnection,
        hash: &TokenHash,
        allowed: &[RtStatus],
        idle_deadline: Option<UnixTime>,
    ) -> Result<bool, sqlx::Error> {
        let sql = format!(
            "UPDATE refresh_tokens SET idle_deadline = $2, version = version + 1 WHERE hash = $1 AND {}",
            status_in(allowed)
        );
        let done = sqlx::query(&sql)
            .bind(hash.as_str())
            .bind(idle_deadline)
            .execute(conn)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// A grace reuse: counts it if the count is still under `limit` (compare-and-set: no
    /// two concurrent reuses can both take the last one); with `slide`, the window restarts
    /// from that time (the `grace-too-wide` defect).
    pub async fn count_reuse(
        conn: &mut AnyConnection,
        hash: &TokenHash,
        limit: Option<i64>,
        slide: Option<UnixTime>,
    ) -> Result<bool, sqlx::Error> {
        // No limit: a bound no count reaches, so both engines see one statement shape.
        let limit = limit.unwrap_or(i64::MAX);
        let done = match slide {
            None => sqlx::query(
                "UPDATE refresh_tokens SET reuse_count = reuse_count + 1, version = version + 1 WHERE hash = $1 AND status = 'consumed' AND reuse_count < $2",
            )
            .bind(hash.as_str())
            .bind(limit)
            .execute(conn)
            .await?,
            Some(now) => sqlx::query(
                "UPDATE refresh_tokens SET reuse_count = reuse_count + 1, consumed_at = $3, version = version + 1 WHERE hash = $1 AND reuse_count < $2",
            )
            .bind(hash.as_str())
            .bind(limit)
            .bind(now)
            .execute(conn)
            .await?,
        };
        Ok(done.rows_affected() == 1)
    }

    /// Moves the absolute cap of a grant (the `cap-extended` defect).
    pub async fn set_cap(
        conn: &mut AnyConnection,
        grant_id: &str,
        cap_at: Option<UnixTime>,
    ) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE grants SET cap_at = $2 WHERE id = $1")
            .bind(grant_id)
            .bind(cap_at)
            .execute(conn)
            .await?;
        Ok(())
    }

    /// Revokes a grant and every token of it (reuse detection, RFC 7009 §2.1 cascade,
    /// code replay). Its access tokens die with the grant: every check of an access token
    /// reads its grant (schema 2), so they are not marked one by one.
    pub async fn revoke_grant(conn: &mut AnyConnection, grant_id: &str) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE grants SET revoked = 1 WHERE id = $1")
            .bind(grant_id)
            .execute(&mut *conn)
            .await?;
        revoke_refresh_of_grant(&mut *conn, grant_id).await?;
        Ok(())
    }

    /// Revokes every refresh token of a grant, its access tokens left alone.
    pub async fn revoke_refresh_of_grant(
        conn: &mut AnyConnection,
        grant_id: &str,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE refresh_tokens SET status = 'revoked', version = version + 1 WHERE grant_id = $1",
        )
        .bind(grant_id)
        .execute(conn)
        .await?;
        Ok(())
    }

    /// Revokes a consumed refresh token (one still inside its grace window).
    pub async fn revoke_consumed_refresh(
        conn: &mut AnyConnection,
        hash: &TokenHash,
    ) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE refresh_tokens SET status = 'revoked', version = version + 1 WHERE hash = $1 AND status = 'consumed'",
        )
        .bind(hash.as_str())
        .execute(conn)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Revokes one refresh token if it is still active; `false` when it was not.
    pub async fn revoke_refresh(
        conn: &mut AnyConnection,
        hash: &TokenHash,
    ) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE refresh_tokens SET status = 'revoked', version = version + 1 WHERE hash = $1 AND status = 'active'",
        )
        .bind(hash.as_str())
        .execute(conn)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Revokes one access token; `false` when it already was.
    pub async fn revoke_access(
        conn: &mut AnyConnection,
        hash: &TokenHash,
    ) -> Result<bool, sqlx::Error> {
        let done =
            sqlx::query("UPDATE access_tokens SET revoked = 1 WHERE hash = $1 AND revoked = 0")
                .bind(hash.as_str())
                .execute(conn)
                .await?;
        Ok(done.rows_affected() == 1)
    }
}
