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

use sqlx::any::{AnyArguments, AnyPoolOptions};
use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use sqlx::query::Query;
use sqlx::{Any, AnyConnection, AnyPool, Executor, Row, Transaction};

use crate::clock::UnixTime;
use crate::secret::{DerivationKey, TokenHash};

mod rows;
mod sql;
mod writer;

pub use rows::{
    AccessRow, ClientId, CodeRow, GraceSlide, GrantId, GrantRow, RefreshChange, RefreshRow,
    RefreshWrite, RtStatus,
};
use sql::{Arg, Stmt};
use sqlx::any::AnyRow;

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
    (
        3,
        "access tokens by refresh token",
        include_str!("../migrations/0003_access_tokens_by_refresh_token.sql"),
    ),
    (
        4,
        "dpop key thumbprints",
        include_str!("../migrations/0004_dpop_key_thumbprints.sql"),
    ),
    (
        5,
        "dpop proofs",
        include_str!("../migrations/0005_dpop_proofs.sql"),
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
                .map_err(|e| StoreError::Connect(rows::to_sqlx(e)))?;
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
        let steps = sql::refresh_steps(&w);
        let mut t = self.begin().await?;
        let won = exec(&mut t, &steps.compare_and_set).await? == 1;
        if !won && !steps.proceed_if_lost {
            t.rollback().await?;
            return Ok(false);
        }
        for s in &steps.then {
            exec(&mut t, s).await?;
        }
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
        let row = sqlx::query(sql::READ_REFRESH_WITH_GRANT)
            .bind(hash.as_str())
            .fetch_optional(&self.read)
            .await?;
        row.map(|r| {
            Ok((
                rows::refresh_row(&r, 0)?,
                rows::grant_row(&r, rows::REFRESH_WIDTH)?,
            ))
        })
        .transpose()
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
        sqlx::query(sql::INSERT_STATE_ONCE)
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
        let row = sqlx::query(sql::READ_STATE)
            .bind(name)
            .fetch_optional(&self.write)
            .await?;
        row.map(|r| r.try_get::<String, _>("value")).transpose()
    }

    /// Sets a value of the `server_state` table.
    pub async fn set_state_value(&self, name: &str, value: &str) -> Result<(), sqlx::Error> {
        sqlx::query(sql::UPSERT_STATE)
            .bind(name)
            .bind(value)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    /// Records a DPoP proof's `jti` for key `jkt` until `until` (forgetting those past
    /// `now`): `false` when it was recorded already, a replay (RFC 9449 §11.1).
    pub async fn record_proof(
        &self,
        jkt: &str,
        jti: &str,
        until: i64,
        now: i64,
    ) -> Result<bool, sqlx::Error> {
        sqlx::query(sql::FORGET_PROOFS)
            .bind(now)
            .execute(&self.write)
            .await?;
        let done = sqlx::query(sql::RECORD_PROOF)
            .bind(jkt)
            .bind(jti)
            .bind(until)
            .execute(&self.write)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Stores a new authorization code.
    pub async fn insert_code(&self, c: &CodeRow) -> Result<(), sqlx::Error> {
        sqlx::query(sql::INSERT_CODE)
            .bind(c.hash.as_str())
            .bind(c.client_id.as_str())
            .bind(&c.subject)
            .bind(&c.redirect_uri)
            .bind(c.scope.to_string())
            .bind(c.code_challenge.as_deref())
            .bind(c.expires_at)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    /// The code with this digest.
    pub async fn code(&self, hash: &TokenHash) -> Result<Option<CodeRow>, sqlx::Error> {
        let row = self.read_one(sql::READ_CODE, hash.as_str()).await?;
        row.map(|r| rows::code_row(&r)).transpose()
    }

    /// The grant with this id.
    pub async fn grant(&self, id: &GrantId) -> Result<Option<GrantRow>, sqlx::Error> {
        let row = self.read_one(sql::READ_GRANT, id.as_str()).await?;
        Ok(row.map(|r| rows::grant_row(&r, 0)).transpose()?.flatten())
    }

    /// The refresh token with this digest.
    pub async fn refresh_token(&self, hash: &TokenHash) -> Result<Option<RefreshRow>, sqlx::Error> {
        let row = self.read_one(sql::READ_REFRESH, hash.as_str()).await?;
        row.map(|r| rows::refresh_row(&r, 0)).transpose()
    }

    /// The access token with this digest.
    pub async fn access_token(&self, hash: &TokenHash) -> Result<Option<AccessRow>, sqlx::Error> {
        let row = self.read_one(sql::READ_ACCESS, hash.as_str()).await?;
        row.map(|r| rows::access_row(&r)).transpose()
    }

    /// The ids of every live grant of `subject` (for the `revoke-too-much` defect).
    pub async fn grants_of_subject(&self, subject: &str) -> Result<Vec<GrantId>, sqlx::Error> {
        let rows = sqlx::query(sql::GRANTS_OF_SUBJECT)
            .bind(subject)
            .fetch_all(&self.read)
            .await?;
        rows.iter()
            .map(|r| r.try_get::<String, _>("id").map(GrantId::from))
            .collect()
    }

    /// A point lookup on the read pool: `sql` with its one argument, `$1`.
    async fn read_one(&self, sql: &'static str, key: &str) -> Result<Option<AnyRow>, sqlx::Error> {
        sqlx::query(sql).bind(key).fetch_optional(&self.read).await
    }
}

/// `s` with its arguments bound, for sqlx.
fn bound<'q>(s: &'q Stmt<'q>) -> Query<'q, Any, AnyArguments<'q>> {
    let mut q = sqlx::query(&s.sql);
    for a in &s.args {
        q = match *a {
            Arg::Text(t) => q.bind(t),
            Arg::Int(i) => q.bind(i),
            Arg::OptInt(i) => q.bind(i),
            Arg::OptText(t) => q.bind(t),
            Arg::Scope(scope) => q.bind(scope.to_string()),
        };
    }
    q
}

/// Runs `s` inside a transaction: how many rows it changed.
async fn exec(conn: &mut AnyConnection, s: &Stmt<'_>) -> Result<u64, sqlx::Error> {
    Ok(bound(s).execute(conn).await?.rows_affected())
}

/// Runs a statement with one text argument: how many rows it changed.
async fn exec_on(
    conn: &mut AnyConnection,
    sql: &'static str,
    key: &str,
) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(sql)
        .bind(key)
        .execute(conn)
        .await?
        .rows_affected())
}

/// Statements that run inside a write transaction.
pub mod tx {
    use super::*;

    /// Marks the code exchanged and records its grant; `false` when it was already used
    /// (compare-and-set: two concurrent exchanges cannot both win), unless `compare` is off.
    pub async fn use_code(
        conn: &mut AnyConnection,
        hash: &TokenHash,
        grant_id: &GrantId,
        compare: bool,
    ) -> Result<bool, sqlx::Error> {
        let sql = if compare {
            sql::USE_CODE_ONCE
        } else {
            sql::USE_CODE_AGAIN
        };
        let done = sqlx::query(sql)
            .bind(hash.as_str())
            .bind(grant_id.as_str())
            .execute(conn)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Stores a new grant.
    pub async fn insert_grant(conn: &mut AnyConnection, g: &GrantRow) -> Result<(), sqlx::Error> {
        exec(conn, &sql::insert_grant(g)).await?;
        Ok(())
    }

    /// Stores a new refresh token (active).
    pub async fn insert_refresh(
        conn: &mut AnyConnection,
        t: &RefreshRow,
    ) -> Result<(), sqlx::Error> {
        exec(conn, &sql::insert_refresh(t)).await?;
        Ok(())
    }

    /// Stores a new access token.
    pub async fn insert_access(conn: &mut AnyConnection, t: &AccessRow) -> Result<(), sqlx::Error> {
        exec(conn, &sql::insert_access(t)).await?;
        Ok(())
    }

    /// A grace reuse: counts it if the count is still under `limit` (compare-and-set: no
    /// two concurrent reuses can both take the last one); `slide` says whether the window
    /// restarts (the `grace-slides` and `grace-too-wide` defects).
    pub async fn count_reuse(
        conn: &mut AnyConnection,
        hash: &TokenHash,
        limit: Option<i64>,
        slide: GraceSlide,
    ) -> Result<bool, sqlx::Error> {
        // No limit: a bound no count reaches, so both engines see one statement shape.
        let limit = limit.unwrap_or(i64::MAX);
        let mut args = vec![Arg::Text(hash.as_str()), Arg::Int(limit)];
        let sql = match slide {
            GraceSlide::Kept => sql::COUNT_REUSE,
            GraceSlide::Restart(now) => {
                args.push(Arg::Int(now));
                sql::COUNT_REUSE_RESTARTING
            }
            GraceSlide::RestartAnyStatus(now) => {
                args.push(Arg::Int(now));
                sql::COUNT_REUSE_SLIDING
            }
        };
        let s = Stmt {
            sql: sql.into(),
            args,
        };
        Ok(exec(conn, &s).await? == 1)
    }

    /// Moves the idle deadline of an active refresh token, as a use of it does (the
    /// `idle-refreshed-by-refused` defect records a refused request's use).
    pub async fn touch_idle(
        conn: &mut AnyConnection,
        hash: &TokenHash,
        idle_deadline: Option<UnixTime>,
    ) -> Result<bool, sqlx::Error> {
        let s = Stmt {
            sql: sql::touch_refresh(&[RtStatus::Active]).into(),
            args: vec![Arg::Text(hash.as_str()), Arg::OptInt(idle_deadline)],
        };
        Ok(exec(conn, &s).await? == 1)
    }

    /// Marks an active refresh token of `client` consumed without a successor (the
    /// `dpop-nonce-consumes-token` defect: a refresh refused for its DPoP nonce after the
    /// token was used).
    pub async fn consume_unrotated(
        conn: &mut AnyConnection,
        hash: &TokenHash,
        client: &str,
        now: UnixTime,
    ) -> Result<bool, sqlx::Error> {
        let s = Stmt {
            sql: sql::CONSUME_UNROTATED.into(),
            args: vec![Arg::Text(hash.as_str()), Arg::Int(now), Arg::Text(client)],
        };
        Ok(exec(conn, &s).await? == 1)
    }

    /// Revokes a grant and every token of it (reuse detection, RFC 7009 §2.1 cascade,
    /// code replay). Its access tokens die with the grant: every check of an access token
    /// reads its grant (schema 2), so they are not marked one by one.
    pub async fn revoke_grant(
        conn: &mut AnyConnection,
        grant_id: &GrantId,
    ) -> Result<(), sqlx::Error> {
        exec_on(&mut *conn, sql::REVOKE_GRANT, grant_id.as_str()).await?;
        revoke_refresh_of_grant(&mut *conn, grant_id).await?;
        Ok(())
    }

    /// Revokes every refresh token of a grant, its access tokens left alone.
    pub async fn revoke_refresh_of_grant(
        conn: &mut AnyConnection,
        grant_id: &GrantId,
    ) -> Result<(), sqlx::Error> {
        exec_on(conn, sql::REVOKE_REFRESH_OF_GRANT, grant_id.as_str()).await?;
        Ok(())
    }

    /// Revokes every access token of a grant, its refresh tokens left alone.
    pub async fn revoke_access_of_grant(
        conn: &mut AnyConnection,
        grant_id: &GrantId,
    ) -> Result<(), sqlx::Error> {
        exec_on(conn, sql::REVOKE_ACCESS_OF_GRANT, grant_id.as_str()).await?;
        Ok(())
    }

    /// Revokes a consumed refresh token (inside its grace window, or one whose revocation
    /// the policy has end more than itself).
    pub async fn revoke_consumed_refresh(
        conn: &mut AnyConnection,
        hash: &TokenHash,
    ) -> Result<bool, sqlx::Error> {
        Ok(exec_on(conn, sql::REVOKE_CONSUMED_REFRESH, hash.as_str()).await? == 1)
    }

    /// Revokes one refresh token if it is still active; `false` when it was not.
    pub async fn revoke_refresh(
        conn: &mut AnyConnection,
        hash: &TokenHash,
    ) -> Result<bool, sqlx::Error> {
        Ok(exec_on(conn, sql::REVOKE_ACTIVE_REFRESH, hash.as_str()).await? == 1)
    }

    /// Revokes one access token; `false` when it already was.
    pub async fn revoke_access(
        conn: &mut AnyConnection,
        hash: &TokenHash,
    ) -> Result<bool, sqlx::Error> {
        Ok(exec_on(conn, sql::REVOKE_ACCESS, hash.as_str()).await? == 1)
    }
}
