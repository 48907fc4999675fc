//! The SQLite export queue: the embedded default, one file (WAL mode) created with mode 0600
//! (its `-wal` and `-shm` files take the same mode from SQLite).
//!
//! One process at a time exports from an SQLite queue (claims take no locks across processes;
//! use PostgreSQL for several exporters). Calls run on tokio's blocking pool.

use super::{
    BatchOutcome, ClaimedBatch, ExportQueue, FinishReport, PreparedRow, QueueError, QueueStats,
    QueuedEvent, REFUSALS_TABLE, SetAsideEvent, unix_micros,
};
use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// The schema: the reference's columns (`timestamp` and `exported_at` are Unix microseconds),
/// with the partial index the export query uses, and the refusals side table.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS telemetry_events_export_queue (
    id TEXT PRIMARY KEY,
    timestamp INTEGER NOT NULL,
    payload_pb BLOB NOT NULL,
    exported_at INTEGER DEFAULT NULL
);
CREATE INDEX IF NOT EXISTS telemetry_events_export_queue_unexported
    ON telemetry_events_export_queue (timestamp) WHERE exported_at IS NULL;
CREATE TABLE IF NOT EXISTS telemetry_events_export_refusals (
    id TEXT PRIMARY KEY,
    refusals INTEGER NOT NULL,
    last_error TEXT NOT NULL,
    first_refused_at INTEGER NOT NULL,
    last_refused_at INTEGER NOT NULL,
    set_aside_at INTEGER DEFAULT NULL
);
";

const CLAIMABLE: &str = "q.exported_at IS NULL AND NOT EXISTS (
    SELECT 1 FROM telemetry_events_export_refusals r WHERE r.id = q.id AND r.set_aside_at IS NOT NULL)";

/// The SQLite-backed export queue.
#[derive(Clone)]
pub struct SqliteQueue {
    conn: Arc<Mutex<Connection>>,
    path: Option<PathBuf>,
}

fn lock(conn: &Mutex<Connection>) -> std::sync::MutexGuard<'_, Connection> {
    // A panic while holding the lock leaves the connection usable (SQLite rolls back an
    // unfinished transaction when the next one begins), so a poisoned lock is taken over.
    conn.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Creates `path` with mode 0600 if it does not exist (an existing file keeps its mode).
fn create_private(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

impl SqliteQueue {
    /// Opens (creating with mode 0600 if needed) the queue database at `path`, in WAL mode.
    pub fn open(path: &Path) -> Result<Self, QueueError> {
        create_private(path)?;
        let mut q = Self::init(Connection::open(path)?)?;
        q.path = Some(path.to_path_buf());
        Ok(q)
    }

    /// An in-memory queue (tests).
    pub fn open_in_memory() -> Result<Self, QueueError> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> Result<Self, QueueError> {
        // WAL: a reader never blocks the exporter; `synchronous=NORMAL` is durable across
        // process crashes (what "accepted" promises; see the README for power loss).
        let _mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        conn.execute_batch("PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=10000;")?;
        conn.execute_batch(SCHEMA)?;
        Ok(SqliteQueue {
            conn: Arc::new(Mutex::new(conn)),
            path: None,
        })
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, QueueError> + Send + 'static,
    ) -> Result<T, QueueError> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || f(&mut lock(&conn)))
            .await
            .map_err(|e| QueueError::Io(std::io::Error::other(e)))?
    }

    /// Synchronous insert (used by the async wrapper and by tests without a runtime).
    pub fn insert_sync(
        conn: &mut Connection,
        rows: &[PreparedRow],
    ) -> Result<(u64, u64), QueueError> {
        let tx = conn.transaction()?;
        let (mut queued, mut duplicates) = (0u64, 0u64);
        {
            let mut insert = tx.prepare_cached(
                "INSERT OR IGNORE INTO telemetry_events_export_queue (id, timestamp, payload_pb)
                 VALUES (?1, ?2, ?3)",
            )?;
            for row in rows {
                if insert.execute(params![row.id, row.timestamp_micros, row.payload_pb])? == 0 {
                    duplicates += 1;
                } else {
                    queued += 1;
                }
            }
        }
        tx.commit()?;
        Ok((queued, duplicates))
    }
}

struct SqliteBatch {
    queue: SqliteQueue,
    rows: Vec<QueuedEvent>,
}

fn finish_sync(
    conn: &mut Connection,
    outcome: &BatchOutcome,
    now: i64,
) -> Result<FinishReport, QueueError> {
    let tx = conn.transaction()?;
    let mut report = FinishReport::default();
    {
        let mut update = tx.prepare_cached(
            "UPDATE telemetry_events_export_queue SET exported_at = ?1
             WHERE id = ?2 AND exported_at IS NULL",
        )?;
        let mut forget =
            tx.prepare_cached(&format!("DELETE FROM {REFUSALS_TABLE} WHERE id = ?1"))?;
        for id in &outcome.acknowledged {
            report.marked += update.execute(params![now, id])? as u64;
            forget.execute([id])?;
        }
        let mut refuse = tx.prepare_cached(&format!(
            "INSERT INTO {REFUSALS_TABLE} (id, refusals, last_error, first_refused_at, last_refused_at)
             VALUES (?1, 1, ?2, ?3, ?3)
             ON CONFLICT (id) DO UPDATE SET refusals = refusals + 1,
                 last_error = excluded.last_error, last_refused_at = excluded.last_refused_at"
        ))?;
        let mut set_aside = tx.prepare_cached(&format!(
            "UPDATE {REFUSALS_TABLE} SET set_aside_at = ?2
             WHERE id = ?1 AND set_aside_at IS NULL AND refusals >= ?3 AND first_refused_at <= ?4"
        ))?;
        let max = i64::from(outcome.max_refusals.max(1));
        let span = i64::try_from(outcome.min_refusal_span.as_micros()).unwrap_or(i64::MAX);
        let first_before = now.saturating_sub(span);
        for id in &outcome.refused {
            refuse.execute(params![id, outcome.reason, now])?;
            report.set_aside += set_aside.execute(params![id, now, max, first_before])? as u64;
        }
        for id in &outcome.undecodable {
            refuse.execute(params![id, "the stored event does not decode", now])?;
            report.set_aside += set_aside.execute(params![id, now, 0i64, now])? as u64;
        }
    }
    tx.commit()?;
    Ok(report)
}

#[async_trait]
impl ClaimedBatch for SqliteBatch {
    fn rows(&self) -> &[QueuedEvent] {
        &self.rows
    }

    async fn finish(
        self: Box<Self>,
        outcome: &BatchOutcome,
        now: SystemTime,
    ) -> Result<FinishReport, QueueError> {
        let outcome = outcome.clone();
        let now = unix_micros(now);
        self.queue
            .blocking(move |conn| finish_sync(conn, &outcome, now))
            .await
    }
}

#[async_trait]
impl ExportQueue for SqliteQueue {
    fn describe(&self) -> String {
        match &self.path {
            Some(p) => format!("sqlite:{}", p.display()),
            None => "sqlite::memory:".to_string(),
        }
    }

    async fn insert(&self, rows: Vec<PreparedRow>) -> Result<(u64, u64), QueueError> {
        self.blocking(move |conn| Self::insert_sync(conn, &rows))
            .await
    }

    async fn claim(&self, limit: usize) -> Result<Box<dyn ClaimedBatch>, QueueError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self
            .blocking(move |conn| {
                let mut stmt = conn.prepare_cached(&format!(
                    "SELECT q.id, q.payload_pb FROM telemetry_events_export_queue q
                     WHERE {CLAIMABLE} ORDER BY q.timestamp ASC, q.id ASC LIMIT ?1"
                ))?;
                let rows = stmt.query_map([limit], |r| {
                    Ok(QueuedEvent {
                        id: r.get(0)?,
                        payload_pb: r.get(1)?,
                    })
                })?;
                Ok(rows.collect::<Result<Vec<_>, _>>()?)
            })
            .await?;
        Ok(Box::new(SqliteBatch {
            queue: self.clone(),
            rows,
        }))
    }

    async fn prune(&self, retention: Duration, now: SystemTime) -> Result<u64, QueueError> {
        let cutoff = unix_micros(now)
            .saturating_sub(i64::try_from(retention.as_micros()).unwrap_or(i64::MAX));
        self.blocking(move |conn| {
            let n = conn.execute(
                "DELETE FROM telemetry_events_export_queue
                 WHERE exported_at IS NOT NULL AND exported_at < ?1",
                [cutoff],
            )?;
            Ok(n as u64)
        })
        .await
    }

    async fn stats(&self, now: SystemTime) -> Result<QueueStats, QueueError> {
        let now = unix_micros(now);
        self.blocking(move |conn| {
            let rows: i64 = conn.query_row(
                "SELECT count(*) FROM telemetry_events_export_queue",
                [],
                |r| r.get(0),
            )?;
            let (unexported, oldest): (i64, Option<i64>) = conn.query_row(
                &format!(
                    "SELECT count(*), min(q.timestamp) FROM telemetry_events_export_queue q
                     WHERE {CLAIMABLE}"
                ),
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            let set_aside: i64 = conn.query_row(
                &format!(
                    "SELECT count(*) FROM telemetry_events_export_queue q JOIN {REFUSALS_TABLE} r
                     ON r.id = q.id WHERE q.exported_at IS NULL AND r.set_aside_at IS NOT NULL"
                ),
                [],
                |r| r.get(0),
            )?;
            let age = oldest
                .map(|t| now.saturating_sub(t).max(0) / 1_000_000)
                .unwrap_or(0);
            Ok(QueueStats {
                rows: rows.max(0) as u64,
                unexported: unexported.max(0) as u64,
                set_aside: set_aside.max(0) as u64,
                oldest_unexported_age_seconds: age as u64,
            })
        })
        .await
    }

    async fn list_set_aside(&self, limit: usize) -> Result<Vec<SetAsideEvent>, QueueError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.blocking(move |conn| {
            let mut stmt = conn.prepare(&format!(
                "SELECT r.id, r.refusals, r.last_error, r.set_aside_at FROM {REFUSALS_TABLE} r
                 JOIN telemetry_events_export_queue q ON q.id = r.id
                 WHERE r.set_aside_at IS NOT NULL AND q.exported_at IS NULL
                 ORDER BY r.set_aside_at ASC, r.id ASC LIMIT ?1"
            ))?;
            let rows = stmt.query_map([limit], |r| {
                Ok(SetAsideEvent {
                    id: r.get(0)?,
                    refusals: u32::try_from(r.get::<_, i64>(1)?).unwrap_or(u32::MAX),
                    last_error: r.get(2)?,
                    set_aside_at_unix: r.get::<_, i64>(3)? / 1_000_000,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    async fn requeue(&self, ids: Option<&[String]>) -> Result<u64, QueueError> {
        let ids = ids.map(<[String]>::to_vec);
        self.blocking(move |conn| {
            let tx = conn.transaction()?;
            let mut n = 0u64;
            match ids {
                None => {
                    n += tx.execute(
                        &format!("DELETE FROM {REFUSALS_TABLE} WHERE set_aside_at IS NOT NULL"),
                        [],
                    )? as u64;
                }
                Some(ids) => {
                    let mut del = tx.prepare_cached(&format!(
                        "DELETE FROM {REFUSALS_TABLE} WHERE id = ?1 AND set_aside_at IS NOT NULL"
                    ))?;
                    for id in &ids {
                        n += del.execute([id])? as u64;
                    }
                }
            }
            tx.commit()?;
            Ok(n)
        })
        .await
    }

    async fn get(&self, id: &str) -> Result<Option<(Vec<u8>, bool)>, QueueError> {
        let id = id.to_string();
        self.blocking(move |conn| {
            Ok(conn
                .query_row(
                    "SELECT payload_pb, exported_at IS NOT NULL FROM telemetry_events_export_queue
                     WHERE id = ?1",
                    [id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::super::enqueue;
    use super::*;
    use telemetry_core::proto::Event;
    use telemetry_core::{ExportMode, RedactionPolicy};

    fn ev(id: &str, secs: i64) -> Event {
        Event {
            id: id.to_string(),
            timestamp: Some(prost_types::Timestamp {
                seconds: secs,
                nanos: 0,
            }),
            feature: "f".into(),
            action: "a".into(),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn the_queue_is_durable_across_reopen_and_its_files_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("q.sqlite3");
        let policy = RedactionPolicy::new(false, "").unwrap();
        {
            let q = SqliteQueue::open(&path).unwrap();
            enqueue(
                &q,
                [ev("a", 1), ev("b", 2)],
                &policy,
                ExportMode::All,
                SystemTime::now(),
            )
            .await
            .unwrap();
            let batch = q.claim(1).await.unwrap();
            let outcome = BatchOutcome {
                acknowledged: vec!["a".into()],
                max_refusals: 3,
                ..Default::default()
            };
            batch.finish(&outcome, SystemTime::now()).await.unwrap();
            // while open, the WAL and shared-memory files exist: all three are 0600
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                for suffix in ["", "-wal", "-shm"] {
                    let p = dir.path().join(format!("q.sqlite3{suffix}"));
                    let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
                    assert_eq!(mode, 0o600, "{} has mode {mode:o}", p.display());
                }
            }
        }
        let q = SqliteQueue::open(&path).unwrap();
        let batch = q.claim(10).await.unwrap();
        let ids: Vec<&str> = batch.rows().iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, vec!["b"]);
    }
}
