//! The refresh grant's writer for a SQLite file: a dedicated thread that owns one
//! connection and runs each [`RefreshWrite`] as one `BEGIN IMMEDIATE` transaction, the same
//! statements as the sqlx path (compare-and-set first), then answers once it committed.
//!
//! Through sqlx every statement of a transaction is a round trip to the connection's worker
//! thread (begin, compare-and-set, two inserts, commit: five hand-offs, each a thread wake-up);
//! here the whole transaction is one. Durability is unchanged: WAL with
//! `synchronous = NORMAL`, so a committed transaction survives a crash of the process (it is
//! in the WAL file, written before the commit returns), though not a power loss.
//!
//! Checkpoints (copying the WAL back into the database file, with its `fsync`s) run on a
//! second thread with its own connection (`PRAGMA wal_checkpoint(PASSIVE)` every
//! [`CHECKPOINT_EVERY`]), not inside a commit of the writer: SQLite's automatic checkpoint
//! would otherwise stall the writer, and every refresh queued behind it, every few hundred
//! transactions.

use std::sync::mpsc;
use std::sync::Mutex;
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::{params, Connection, OpenFlags, TransactionBehavior};
use tokio::sync::oneshot;

use super::{status_in, GrantRow, RefreshChange, RefreshRow, RefreshWrite, RtStatus, TokenHash};

/// How often the checkpointer runs.
pub(super) const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

type Job = (RefreshWrite, oneshot::Sender<rusqlite::Result<bool>>);

/// The writer thread and the way to reach it.
pub(super) struct Writer {
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// Dropping it stops the checkpointer.
    stop_checkpoints: Mutex<Option<mpsc::Sender<()>>>,
    checkpointer: Mutex<Option<JoinHandle<()>>>,
    /// The file, for opening read-only connections.
    path: String,
    /// Idle read-only connections for the refresh grant's lookup (opened on demand).
    readers: Mutex<Vec<Connection>>,
    /// Set by `close`: no reader is opened or kept after it.
    closed: std::sync::atomic::AtomicBool,
}

/// The refresh grant's lookup: the token with this digest and its grant, one statement.
const READ_REFRESH: &str = "SELECT r.hash, r.grant_id, r.client_id, r.scope, r.issued_at, r.expires_at, r.idle_deadline, r.status, r.consumed_at, r.reuse_count, r.successor_hash, g.id, g.client_id, g.subject, g.scope, g.created_at, g.cap_at, g.revoked FROM refresh_tokens r LEFT JOIN grants g ON g.id = r.grant_id WHERE r.hash = ?1";

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer").finish_non_exhaustive()
    }
}

/// The file path of a `sqlite:` URL (`sqlite:PATH`, `sqlite://PATH`, options after `?`).
pub(super) fn sqlite_path(url: &str) -> String {
    let rest = url.strip_prefix("sqlite:").unwrap_or(url);
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    rest.split('?').next().unwrap_or(rest).to_string()
}

/// A rusqlite error as the store's error type (no bound value is ever in it).
pub(super) fn to_sqlx(e: rusqlite::Error) -> sqlx::Error {
    sqlx::Error::Io(std::io::Error::other(format!("sqlite writer: {e}")))
}

impl Writer {
    /// Opens the connection (the schema exists: the store migrated it) and starts the thread.
    pub(super) fn start(path: &str) -> rusqlite::Result<Writer> {
        let conn = open(path)?;
        // Checkpoints are the checkpointer's job (see the module documentation).
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        conn.set_prepared_statement_cache_capacity(32);
        let checkpoints = open(path)?;
        let spawn_error = |e: std::io::Error| rusqlite::Error::ToSqlConversionFailure(Box::new(e));
        let (tx, rx) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("tokenlife-sqlite-writer".into())
            .spawn(move || {
                let mut conn = conn;
                for (w, reply) in rx {
                    let _ = reply.send(write_refresh(&mut conn, &w));
                }
            })
            .map_err(spawn_error)?;
        let (stop, stopped) = mpsc::channel::<()>();
        let checkpointer = std::thread::Builder::new()
            .name("tokenlife-sqlite-checkpoint".into())
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(CHECKPOINT_EVERY)
                {
                    // PASSIVE: copies what no reader still needs, never waits for anyone.
                    if let Err(e) =
                        checkpoints.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                    {
                        tracing::warn!(error = %e, "WAL checkpoint failed");
                    }
                }
                // A last one on the way out, so the WAL does not outlive the server for long.
                let _ = checkpoints.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
            })
            .map_err(spawn_error)?;
        Ok(Writer {
            jobs: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
            stop_checkpoints: Mutex::new(Some(stop)),
            checkpointer: Mutex::new(Some(checkpointer)),
            path: path.to_string(),
            readers: Mutex::new(Vec::new()),
            closed: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// The refresh token with this digest and its grant, read on a read-only rusqlite
    /// connection on the calling thread: a WAL reader never waits for the writer, and the
    /// point lookup takes microseconds, less than a hand-off to another thread would.
    pub(super) fn read_refresh(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<(RefreshRow, Option<GrantRow>)>, sqlx::Error> {
        use std::sync::atomic::Ordering;
        if self.closed.load(Ordering::Acquire) {
            return Err(sqlx::Error::PoolClosed);
        }
        let pooled = self.readers.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match pooled {
            Some(c) => c,
            None => open_reader(&self.path).map_err(to_sqlx)?,
        };
        let result = read_refresh(&conn, hash);
        if !self.closed.load(Ordering::Acquire) {
            let mut idle = self.readers.lock().unwrap_or_else(|p| p.into_inner());
            if idle.len() < MAX_IDLE_READERS {
                idle.push(conn);
            }
        }
        result
    }

    /// Runs `w` on the writer thread.
    pub(super) async fn write_refresh(&self, w: RefreshWrite) -> Result<bool, sqlx::Error> {
        let (reply, answer) = oneshot::channel();
        let sent = self
            .jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|jobs| jobs.send((w, reply)).is_ok());
        if sent != Some(true) {
            return Err(sqlx::Error::PoolClosed);
        }
        match answer.await {
            Ok(result) => result.map_err(to_sqlx),
            Err(_) => Err(sqlx::Error::WorkerCrashed),
        }
    }

    /// Stops the thread after the writes queued so far, and closes its connection.
    pub(super) async fn close(&self) {
        self.closed
            .store(true, std::sync::atomic::Ordering::Release);
        drop(std::mem::take(
            &mut *self.readers.lock().unwrap_or_else(|p| p.into_inner()),
        ));
        drop(self.jobs.lock().unwrap_or_else(|p| p.into_inner()).take());
        drop(
            self.stop_checkpoints
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take(),
        );
        let threads = [
            self.thread.lock().unwrap_or_else(|p| p.into_inner()).take(),
            self.checkpointer
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take(),
        ];
        for t in threads.into_iter().flatten() {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
    }
}

/// A connection to the file (its schema exists: the store migrated it).
fn open(path: &str) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(10))?;
    // WAL + synchronous=NORMAL: a committed transaction survives a crash of the process
    // (kill -9), as for the sqlx connections (the journal mode is the file's; the
    // synchronous level is per connection).
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    Ok(conn)
}

/// At most this many idle read-only connections are kept.
const MAX_IDLE_READERS: usize = 16;

/// A read-only connection to the file (WAL: it reads the last committed state).
fn open_reader(path: &str) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.set_prepared_statement_cache_capacity(8);
    Ok(conn)
}

/// The lookup, decoded as the sqlx path decodes it.
fn read_refresh(
    conn: &Connection,
    hash: &TokenHash,
) -> Result<Option<(RefreshRow, Option<GrantRow>)>, sqlx::Error> {
    let mut stmt = conn.prepare_cached(READ_REFRESH).map_err(to_sqlx)?;
    let mut rows = stmt.query(params![hash.as_str()]).map_err(to_sqlx)?;
    let Some(r) = rows.next().map_err(to_sqlx)? else {
        return Ok(None);
    };
    let get = |e: rusqlite::Error| to_sqlx(e);
    let status: String = r.get(7).map_err(get)?;
    let rt = RefreshRow {
        hash: TokenHash::from_stored(r.get(0).map_err(get)?),
        grant_id: r.get(1).map_err(get)?,
        client_id: r.get(2).map_err(get)?,
        scope: r.get(3).map_err(get)?,
        issued_at: r.get(4).map_err(get)?,
        expires_at: r.get(5).map_err(get)?,
        idle_deadline: r.get(6).map_err(get)?,
        status: RtStatus::parse(&status)?,
        consumed_at: r.get(8).map_err(get)?,
        reuse_count: r.get(9).map_err(get)?,
        successor_hash: r.get(10).map_err(get)?,
    };
    let grant = match r.get::<_, Option<String>>(11).map_err(get)? {
        None => None,
        Some(id) => Some(GrantRow {
            id,
            client_id: r.get(12).map_err(get)?,
            subject: r.get(13).map_err(get)?,
            scope: r.get(14).map_err(get)?,
            created_at: r.get(15).map_err(get)?,
            cap_at: r.get(16).map_err(get)?,
            revoked: r.get::<_, i64>(17).map_err(get)? != 0,
        }),
    };
    Ok(Some((rt, grant)))
}

/// The transaction; dropping it without commit rolls it back.
fn write_refresh(conn: &mut Connection, w: &RefreshWrite) -> rusqlite::Result<bool> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let statuses = status_in(&w.allowed);
    let written = match &w.change {
        RefreshChange::Rotate {
            now,
            successor,
            keep_status,
            ignore_lost_race,
            cap,
        } => {
            let set = if *keep_status {
                "consumed_at = ?2, successor_hash = ?3, reuse_count = 0, version = version + 1"
            } else {
                "status = 'consumed', consumed_at = ?2, successor_hash = ?3, reuse_count = 0, version = version + 1"
            };
            let won = tx
                .prepare_cached(&format!(
                    "UPDATE refresh_tokens SET {set} WHERE hash = ?1 AND {statuses}"
                ))?
                .execute(params![w.presented.as_str(), now, successor.hash.as_str()])?
                == 1;
            if won || *ignore_lost_race {
                tx.prepare_cached(
                    "INSERT INTO refresh_tokens (hash, grant_id, client_id, scope, issued_at, expires_at, idle_deadline, status, consumed_at, reuse_count, successor_hash, version) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, NULL, 0, NULL, 0)",
                )?
                .execute(params![
                    successor.hash.as_str(),
                    successor.grant_id,
                    successor.client_id,
                    successor.scope,
                    successor.issued_at,
                    successor.expires_at,
                    successor.idle_deadline,
                    successor.status.as_str(),
                ])?;
                if let Some((grant, cap)) = cap {
                    tx.prepare_cached("UPDATE grants SET cap_at = ?2 WHERE id = ?1")?
                        .execute(params![grant, cap])?;
                }
            }
            won || *ignore_lost_race
        }
        RefreshChange::Touch { idle_deadline } => {
            tx.prepare_cached(&format!(
                "UPDATE refresh_tokens SET idle_deadline = ?2, version = version + 1 WHERE hash = ?1 AND {statuses}"
            ))?
            .execute(params![w.presented.as_str(), idle_deadline])?
                == 1
        }
    };
    if !written {
        return Ok(false);
    }
    let a = &w.access;
    tx.prepare_cached(
        "INSERT INTO access_tokens (hash, grant_id, client_id, scope, expires_at, revoked) VALUES (?1, ?2, ?3, ?4, ?5, 0)",
    )?
    .execute(params![a.hash.as_str(), a.grant_id, a.client_id, a.scope, a.expires_at])?;
    tx.commit()?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_of_urls() {
        assert_eq!(sqlite_path("sqlite:/tmp/a.db"), "/tmp/a.db");
        assert_eq!(sqlite_path("sqlite:///tmp/a.db?mode=rwc"), "/tmp/a.db");
        assert_eq!(sqlite_path("sqlite:tokens.db"), "tokens.db");
    }
}
