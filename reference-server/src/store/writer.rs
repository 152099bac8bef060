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
//! Group commit: the thread takes every refresh queued while it was busy (at most
//! [`MAX_BATCH`]) and writes them in one transaction, each with its own compare-and-set,
//! evaluated in queue order exactly as if each had a transaction of its own; every request is
//! answered only after that commit. One commit writes each page it changed once, so the
//! pages several refreshes share (the tables' last pages, the b-trees' upper levels) and the
//! cost of a commit itself are paid once per batch instead of once per refresh.
//!
//! Checkpoints (copying the WAL back into the database file, with its `fsync`s) run on a
//! second thread with its own connection (`PRAGMA wal_checkpoint(PASSIVE)` every
//! [`CHECKPOINT_EVERY`]), not inside a commit of the writer: SQLite's automatic checkpoint
//! would otherwise stall the writer, and every refresh queued behind it, every few hundred
//! transactions. A passive checkpoint never catches up with a writer that never pauses,
//! though, and SQLite only starts the WAL over once every frame of it is in the database
//! file: without a pause the WAL grows without bound (690 MB in an 8 s benchmark). So once
//! it holds [`RESTART_AT_FRAMES`], right after a passive pass, the checkpointer asks the
//! writer thread to finish the job between two batches (`PRAGMA wal_checkpoint(RESTART)`:
//! the few frames written since, then the WAL starts over), a pause of two `fsync`s.

use std::fs::File;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Mutex;
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, Statement, TransactionBehavior};
use tokio::sync::oneshot;

use super::rows::{self, to_sqlx, GrantRow, RefreshRow, RefreshWrite};
use super::sql::{self, Arg, Stmt};
use crate::secret::TokenHash;

/// How often the checkpointer runs.
pub(super) const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

/// The WAL size, in frames (one per page written), past which the writer is made to start
/// it over: 1 GiB with 4 KiB pages, some 7 s of writes at 7,000 refreshes/s. Whenever the
/// writes pause, a passive checkpoint copies the whole WAL and SQLite starts it over by
/// itself at the next write; only a writer that never pauses needs this. Each forced
/// restart makes every request in flight wait for two `fsync`s, 40-100 ms on the shared
/// machine's busy disk: every second, that kept p99 at 32 clients near 29 ms, every 2 s
/// 15-30 ms, every 3 s 18-19 ms (12 ms without any), so it happens as rarely as a WAL of a
/// bounded size allows.
const RESTART_AT_FRAMES: i64 = 256 * 1024;

/// The most refresh writes one transaction carries.
const MAX_BATCH: usize = 64;

/// What the writer thread is asked to do.
// Refreshes are nearly every job: boxing them would cost an allocation per request.
#[allow(clippy::large_enum_variant)]
enum Job {
    /// A refresh grant's writes; the answer says whether its compare-and-set won.
    Refresh(RefreshWrite, oneshot::Sender<rusqlite::Result<bool>>),
    /// Finish the checkpoint and start the WAL over; answered when done.
    Restart(mpsc::Sender<()>),
}

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
    closed: AtomicBool,
}

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

impl Writer {
    /// Opens the connection (the schema exists: the store migrated it) and starts the thread.
    pub(super) fn start(path: &str) -> rusqlite::Result<Writer> {
        let conn = open(path)?;
        // Checkpoints are the checkpointer's job (see the module documentation).
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        conn.set_prepared_statement_cache_capacity(32);
        let conn_checkpoints = open(path)?;
        // The database file, for syncing it ahead of a restart.
        let db =
            File::open(path).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        let spawn_error = |e: std::io::Error| rusqlite::Error::ToSqlConversionFailure(Box::new(e));
        let (tx, rx) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("tokenlife-sqlite-writer".into())
            .spawn(move || serve(conn, &rx))
            .map_err(spawn_error)?;
        let writer = tx.clone();
        let (stop, stopped) = mpsc::channel::<()>();
        let checkpointer = std::thread::Builder::new()
            .name("tokenlife-sqlite-checkpoint".into())
            .spawn(move || checkpoints(&conn_checkpoints, &db, &stopped, &writer))
            .map_err(spawn_error)?;
        Ok(Writer {
            jobs: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
            stop_checkpoints: Mutex::new(Some(stop)),
            checkpointer: Mutex::new(Some(checkpointer)),
            path: path.to_string(),
            readers: Mutex::new(Vec::new()),
            closed: AtomicBool::new(false),
        })
    }

    /// The refresh token with this digest and its grant, read on a read-only rusqlite
    /// connection on the calling thread: a WAL reader never waits for the writer, and the
    /// point lookup takes microseconds, less than a hand-off to another thread would.
    pub(super) fn read_refresh(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<(RefreshRow, Option<GrantRow>)>, sqlx::Error> {
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
            .map(|jobs| jobs.send(Job::Refresh(w, reply)).is_ok());
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
        self.closed.store(true, Ordering::Release);
        drop(std::mem::take(
            &mut *self.readers.lock().unwrap_or_else(|p| p.into_inner()),
        ));
        // The checkpointer first: it holds a way to the writer thread, which stops once
        // every sender is gone.
        let stop = self
            .stop_checkpoints
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        drop(stop);
        let checkpointer = self
            .checkpointer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        drop(self.jobs.lock().unwrap_or_else(|p| p.into_inner()).take());
        let writer = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        for t in [checkpointer, writer].into_iter().flatten() {
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
    let mut stmt = conn
        .prepare_cached(sql::READ_REFRESH_WITH_GRANT)
        .map_err(to_sqlx)?;
    bind(&mut stmt, &[Arg::Text(hash.as_str())]).map_err(to_sqlx)?;
    let mut rows = stmt.raw_query();
    let Some(r) = rows.next().map_err(to_sqlx)? else {
        return Ok(None);
    };
    Ok(Some((
        rows::refresh_row(r, 0)?,
        rows::grant_row(r, rows::REFRESH_WIDTH)?,
    )))
}

/// The names SQLite gives the placeholders `$1`, `$2`, …: bound by name, since SQLite numbers
/// named parameters in the order they first appear, not by the digits in their names.
const PLACEHOLDERS: [&str; 8] = ["$1", "$2", "$3", "$4", "$5", "$6", "$7", "$8"];

/// Binds `args` to `$1`, `$2`, … of `stmt`.
fn bind(stmt: &mut Statement<'_>, args: &[Arg<'_>]) -> rusqlite::Result<()> {
    if args.len() > PLACEHOLDERS.len() {
        return Err(rusqlite::Error::InvalidParameterCount(
            args.len(),
            PLACEHOLDERS.len(),
        ));
    }
    for (name, arg) in PLACEHOLDERS.iter().zip(args) {
        let at = stmt
            .parameter_index(name)?
            .ok_or_else(|| rusqlite::Error::InvalidParameterName((*name).to_string()))?;
        match *arg {
            Arg::Text(t) => stmt.raw_bind_parameter(at, t)?,
            Arg::Int(i) => stmt.raw_bind_parameter(at, i)?,
            Arg::OptInt(i) => stmt.raw_bind_parameter(at, i)?,
            Arg::OptText(t) => stmt.raw_bind_parameter(at, t)?,
            Arg::Scope(scope) => stmt.raw_bind_parameter(at, scope.to_string())?,
        }
    }
    Ok(())
}

/// Runs `s` inside the open transaction: how many rows it changed.
fn exec(tx: &rusqlite::Transaction<'_>, s: &Stmt<'_>) -> rusqlite::Result<usize> {
    let mut stmt = tx.prepare_cached(&s.sql)?;
    bind(&mut stmt, &s.args)?;
    stmt.raw_execute()
}

/// The writer thread: takes every job queued so far (at most [`MAX_BATCH`] refreshes, up to
/// a restart) and writes the refreshes in one transaction, answers each once it committed,
/// then restarts the WAL if asked to.
fn serve(mut conn: Connection, jobs: &mpsc::Receiver<Job>) {
    let mut batch: Vec<(RefreshWrite, oneshot::Sender<rusqlite::Result<bool>>)> =
        Vec::with_capacity(MAX_BATCH);
    let mut next = jobs.recv().ok();
    while let Some(job) = next.take() {
        let mut restart = None;
        match job {
            Job::Refresh(w, reply) => batch.push((w, reply)),
            Job::Restart(done) => restart = Some(done),
        }
        while restart.is_none() && batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(Job::Refresh(w, reply)) => batch.push((w, reply)),
                Ok(Job::Restart(done)) => restart = Some(done),
                Err(_) => break,
            }
        }
        if !batch.is_empty() {
            let written = write_batch(&mut conn, batch.iter().map(|(w, _)| w));
            for ((_, reply), result) in batch.drain(..).zip(written) {
                let _ = reply.send(result);
            }
        }
        if let Some(done) = restart {
            // RESTART: copies what the last passive pass left, waits for the readers still
            // on the old WAL, and starts it over; busy (nothing done) if a checkpoint runs.
            if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |_| Ok(())) {
                tracing::warn!(error = %e, "WAL checkpoint failed");
            }
            let _ = done.send(());
        }
        next = jobs.recv().ok();
    }
}

/// The checkpointer thread: a passive checkpoint every [`CHECKPOINT_EVERY`] until `stop`
/// says so, and once the WAL holds [`RESTART_AT_FRAMES`] a restart by the writer thread,
/// prepared so that it has little left to do.
fn checkpoints(
    conn: &Connection,
    db: &File,
    stop: &mpsc::Receiver<()>,
    writer: &mpsc::Sender<Job>,
) {
    while let Err(mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(CHECKPOINT_EVERY) {
        // PASSIVE: copies what no reader still needs, never waits for anyone.
        match checkpoint(conn) {
            Err(e) => {
                tracing::warn!(error = %e, "WAL checkpoint failed");
                continue;
            }
            Ok(frames) if frames < RESTART_AT_FRAMES => continue,
            Ok(_) => {}
        }
        // SQLite syncs the database file only when a checkpoint copied the whole WAL, i.e.
        // in the writer's restart: sync what the passive checkpoints copied now, then copy
        // what came meanwhile, so that the restart only syncs a few milliseconds' worth.
        if let Err(e) = db.sync_data() {
            tracing::warn!(error = %e, "failed to sync the database file");
            continue;
        }
        if checkpoint(conn).is_err() {
            continue;
        }
        let (done, restarted_wal) = mpsc::channel();
        if writer.send(Job::Restart(done)).is_ok() {
            let _ = restarted_wal.recv();
        }
    }
    // A last one on the way out, so the WAL does not outlive the server for long.
    let _ = checkpoint(conn);
}

/// `PRAGMA wal_checkpoint(PASSIVE)`: how many frames the WAL holds.
fn checkpoint(conn: &Connection) -> rusqlite::Result<i64> {
    // (busy, frames in the WAL, frames copied)
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get(1))
}

/// Group commit: the writes in one transaction, each with its own compare-and-set,
/// evaluated in order exactly as if each had its own transaction. If any statement fails,
/// the whole transaction is rolled back and every write runs alone, so each gets its own
/// outcome.
fn write_batch<'w>(
    conn: &mut Connection,
    writes: impl Iterator<Item = &'w RefreshWrite> + Clone,
) -> Vec<rusqlite::Result<bool>> {
    let mut together = || {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let written = writes
            .clone()
            .map(|w| write_refresh(&tx, w))
            .collect::<rusqlite::Result<Vec<bool>>>()?;
        tx.commit()?;
        Ok::<_, rusqlite::Error>(written)
    };
    if writes.clone().nth(1).is_some() {
        if let Ok(written) = together() {
            return written.into_iter().map(Ok).collect();
        }
    }
    writes
        .map(|w| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let written = write_refresh(&tx, w)?;
            if written {
                tx.commit()?;
            }
            Ok(written)
        })
        .collect()
}

/// One refresh's statements inside a write transaction (the sqlx path's, from
/// [`sql::refresh_steps`]): the compare-and-set first; `false`, with nothing written, when it
/// lost.
fn write_refresh(tx: &rusqlite::Transaction<'_>, w: &RefreshWrite) -> rusqlite::Result<bool> {
    let steps = sql::refresh_steps(w);
    let won = exec(tx, &steps.compare_and_set)? == 1;
    if !won && !steps.proceed_if_lost {
        return Ok(false);
    }
    for s in &steps.then {
        exec(tx, s)?;
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{RefreshChange, RtStatus};

    #[test]
    fn paths_of_urls() {
        assert_eq!(sqlite_path("sqlite:/tmp/a.db"), "/tmp/a.db");
        assert_eq!(sqlite_path("sqlite:///tmp/a.db?mode=rwc"), "/tmp/a.db");
        assert_eq!(sqlite_path("sqlite:tokens.db"), "tokens.db");
    }

    /// A file with the schema and one active refresh token per name in `active`.
    fn store_with(active: &[&str]) -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db").display().to_string();
        let schema = Connection::open(&path).unwrap();
        for (_, _, sql) in super::super::MIGRATIONS {
            schema.execute_batch(sql).unwrap();
        }
        let conn = open(&path).unwrap();
        let tx = conn.unchecked_transaction().unwrap();
        for name in active {
            write_refresh(&tx, &rotation("", name)).unwrap();
        }
        tx.commit().unwrap();
        (dir, path)
    }

    fn hash(name: &str) -> TokenHash {
        TokenHash::of(name)
    }

    /// Rotating `presented` to `successor` (compare-and-set on `active`); `""` presents
    /// nothing, so only the successor and an access token are stored.
    fn rotation(presented: &str, successor: &str) -> RefreshWrite {
        let row = |name: &str| RefreshRow {
            hash: hash(name),
            grant_id: "g".into(),
            client_id: "c".into(),
            scope: crate::scope::Scope::parse("read").unwrap(),
            issued_at: 1,
            expires_at: None,
            idle_deadline: None,
            status: RtStatus::Active,
            consumed_at: None,
            reuse_count: 0,
            successor_hash: None,
        };
        RefreshWrite {
            presented: hash(presented),
            allowed: vec![RtStatus::Active],
            change: RefreshChange::Rotate {
                now: 2,
                successor: Box::new(row(successor)),
                keep_status: false,
                ignore_lost_race: presented.is_empty(),
                cap: None,
                reset_reuse_of: None,
            },
            access: super::super::AccessRow {
                hash: hash(&format!("at-{successor}")),
                grant_id: "g".into(),
                client_id: "c".into(),
                scope: crate::scope::Scope::parse("read").unwrap(),
                expires_at: 100,
                revoked: false,
                refresh_hash: None,
                dpop_jkt: None,
            },
            end_access_of: None,
        }
    }

    fn status(conn: &Connection, name: &str) -> Option<String> {
        conn.query_row(
            "SELECT status FROM refresh_tokens WHERE hash = ?1",
            [hash(name).as_str()],
            |r| r.get(0),
        )
        .ok()
    }

    #[test]
    fn a_batch_keeps_each_compare_and_set() {
        let (_dir, path) = store_with(&["a", "b"]);
        let mut conn = open(&path).unwrap();
        // Two rotations of `a` in one transaction: the first wins, the second finds it
        // consumed and writes nothing; `b` rotates independently.
        let writes = [
            rotation("a", "a1"),
            rotation("a", "a2"),
            rotation("b", "b1"),
        ];
        let out: Vec<bool> = write_batch(&mut conn, writes.iter())
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(out, [true, false, true]);
        let other = open(&path).unwrap();
        assert_eq!(status(&other, "a").as_deref(), Some("consumed"));
        assert_eq!(status(&other, "a1").as_deref(), Some("active"));
        assert_eq!(status(&other, "a2"), None);
        assert_eq!(status(&other, "b1").as_deref(), Some("active"));
    }

    #[test]
    fn a_failing_write_does_not_sink_its_batch() {
        let (_dir, path) = store_with(&["a", "b", "c"]);
        let mut conn = open(&path).unwrap();
        // The second write repeats the first's access token: a constraint violation, so the
        // batch is rolled back and each write runs alone.
        let mut clash = rotation("b", "b1");
        clash.access.hash = hash("at-a1");
        let writes = [rotation("a", "a1"), clash, rotation("c", "c1")];
        let out = write_batch(&mut conn, writes.iter());
        assert!(matches!(out[0], Ok(true)));
        assert!(out[1].is_err());
        assert!(matches!(out[2], Ok(true)));
        let other = open(&path).unwrap();
        assert_eq!(status(&other, "b").as_deref(), Some("active"));
        assert_eq!(status(&other, "b1"), None);
        assert_eq!(status(&other, "c").as_deref(), Some("consumed"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_restart_starts_the_wal_over_even_with_a_reader_on_it() {
        let (_dir, path) = store_with(&[]);
        let writer = Writer::start(&path).unwrap();
        let frames = |conn: &Connection| -> i64 {
            // (busy, frames in the WAL, frames checkpointed)
            conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get(1))
                .unwrap()
        };
        for i in 0..200 {
            let w = rotation("", &format!("t{i}"));
            assert!(writer.write_refresh(w).await.unwrap());
        }
        // A reader on the WAL as it is now: a passive checkpoint can copy everything, but
        // the WAL cannot start over while the reader may still need it, so a write right
        // after a passive checkpoint would go on at the end of the WAL.
        let (release, released) = mpsc::channel::<()>();
        let (reading, read) = mpsc::channel::<()>();
        let reader_path = path.clone();
        let reader = std::thread::spawn(move || {
            let conn = open(&reader_path).unwrap();
            conn.execute_batch("BEGIN").unwrap();
            let _: i64 = conn
                .query_row("SELECT count(*) FROM refresh_tokens", [], |r| r.get(0))
                .unwrap();
            reading.send(()).unwrap();
            released.recv().unwrap();
            conn.execute_batch("COMMIT").unwrap();
        });
        read.recv().unwrap();
        let before = frames(&open(&path).unwrap());
        assert!(before >= 200, "{before} frames");
        let (done, restarted) = mpsc::channel();
        let sent = writer
            .jobs
            .lock()
            .unwrap()
            .as_ref()
            .unwrap()
            .send(Job::Restart(done));
        sent.unwrap();
        let mut last = tokio::spawn({
            let writer = std::sync::Arc::new(writer);
            let w = writer.clone();
            async move {
                let written = w.write_refresh(rotation("", "last")).await.unwrap();
                (written, writer)
            }
        });
        // The restart waits for the reader, and the write waits for the restart; let the
        // write go first if it can (it cannot), then let the reader go.
        let early = tokio::time::timeout(Duration::from_millis(200), &mut last).await;
        release.send(()).unwrap();
        reader.join().unwrap();
        let (written, writer) = match early {
            Ok(done) => done.unwrap(),
            Err(_) => last.await.unwrap(),
        };
        assert!(written);
        tokio::task::spawn_blocking(move || restarted.recv().unwrap())
            .await
            .unwrap();
        let after = frames(&open(&path).unwrap());
        assert!(after < 10, "the WAL went on from frame {before} to {after}");
        writer.close().await;
    }
}
