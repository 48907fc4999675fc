//! The durable export queue: the reference's `telemetry_events_export_queue` table, in SQLite
//! (the embedded default, [`sqlite`]) or PostgreSQL (several replicas on one queue,
//! [`postgres`]).
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use telemetry_gateway::export::queue::{self, QueueSpec};
//! let spec: QueueSpec = "./telemetry-export-queue.sqlite3".parse().map_err(anyhow::Error::msg)?;
//! let q = queue::open(&spec).await?;
//! let stats = q.stats(std::time::SystemTime::now()).await?;
//! println!("{} events waiting", stats.unexported);
//! # Ok(()) }
//! ```
//!
//! Events are redacted with the configured [`RedactionPolicy`] before they are stored
//! ([`enqueue`]), so the queue holds exactly what is exported; the export mode decides which
//! events are queued at all. An insert returns only after it is committed.
//!
//! Export runs [`claim`](ExportQueue::claim) the oldest unexported rows — on PostgreSQL with row
//! locks (`FOR UPDATE SKIP LOCKED`) held until the run [finishes](ClaimedBatch::finish), so
//! several exporters never send the same rows at the same time — then mark exactly the
//! acknowledged ids. An event the gateway keeps refusing is counted per id in a side table
//! (`telemetry_events_export_refusals`) and, after `max_refusals` refusals spanning at least
//! `min_refusal_span`, *set aside*: it is no longer
//! claimed (so it cannot block newer events), it is listed by `telemetry-gateway queue
//! set-aside`, and `telemetry-gateway queue requeue` puts it back. Exported rows are pruned once
//! older than the retention; unexported rows (set aside or not) are never deleted.

pub mod postgres;
pub mod sqlite;

use async_trait::async_trait;
use prost::Message;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use telemetry_core::proto::Event;
use telemetry_core::{ExportMode, RedactionPolicy};

pub use sqlite::SqliteQueue;

/// Queue errors.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// SQLite failed.
    #[error("export queue (sqlite): {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL failed.
    #[error("export queue (postgres): {0}")]
    Postgres(#[from] tokio_postgres::Error),
    /// No PostgreSQL connection could be had.
    #[error("export queue (postgres): {0}")]
    Pool(String),
    /// Creating or opening the queue file failed.
    #[error("export queue: {0}")]
    Io(#[from] std::io::Error),
    /// The queue's table does not have the expected shape.
    #[error("export queue: {0}")]
    Schema(String),
}

/// Where the queue lives: an SQLite file path, or a `postgres://` / `postgresql://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueSpec {
    /// An SQLite file (created with mode 0600 if missing).
    Sqlite(std::path::PathBuf),
    /// A PostgreSQL connection string (`postgres://user@host:port/db?...`).
    Postgres(String),
}

impl std::str::FromStr for QueueSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.is_empty() {
            return Err("the queue must be a file path or a postgres:// URL".to_string());
        }
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            Ok(QueueSpec::Postgres(s.to_string()))
        } else if let Some(path) = s.strip_prefix("sqlite:") {
            Ok(QueueSpec::Sqlite(path.into()))
        } else {
            Ok(QueueSpec::Sqlite(s.into()))
        }
    }
}

impl QueueSpec {
    /// A description without credentials (for logs).
    pub fn describe(&self) -> String {
        match self {
            QueueSpec::Sqlite(p) => format!("sqlite:{}", p.display()),
            QueueSpec::Postgres(url) => postgres::redact_url(url),
        }
    }
}

/// Opens the queue the spec names, creating its tables if missing.
pub async fn open(spec: &QueueSpec) -> Result<Box<dyn ExportQueue>, QueueError> {
    Ok(match spec {
        QueueSpec::Sqlite(path) => Box::new(SqliteQueue::open(path)?),
        QueueSpec::Postgres(url) => Box::new(postgres::PostgresQueue::connect(url).await?),
    })
}

/// What [`enqueue`] did with the events it was given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct EnqueueReport {
    /// Newly queued.
    pub queued: u64,
    /// Already in the queue under the same id (insert-or-ignore): not queued again.
    pub duplicates: u64,
    /// Not queued because the export mode does not export them.
    pub skipped_by_export_mode: u64,
    /// Not queued because they have no id.
    pub missing_id: u64,
}

/// One row to insert: a redacted event's id, time and wire bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedRow {
    /// The event id.
    pub id: String,
    /// The event's time (Unix microseconds); the queue orders exports by it.
    pub timestamp_micros: i64,
    /// The redacted event's protobuf wire bytes.
    pub payload_pb: Vec<u8>,
}

/// One queued event, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct QueuedEvent {
    /// The event id.
    pub id: String,
    /// The redacted event's protobuf wire bytes.
    pub payload_pb: Vec<u8>,
}

/// An event set aside after repeated refusals.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SetAsideEvent {
    /// The event id.
    pub id: String,
    /// How many runs the gateway refused it in.
    pub refusals: u32,
    /// The last reason.
    pub last_error: String,
    /// When it was set aside (Unix seconds).
    pub set_aside_at_unix: i64,
}

/// Queue size and age, the reference's queue metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct QueueStats {
    /// Rows in the table, exported rows awaiting pruning and set-aside rows included.
    pub rows: u64,
    /// Rows waiting to be exported, set-aside rows excluded (the reference's
    /// `src_telemetrygatewayexporter_queue_size`).
    pub unexported: u64,
    /// Unexported rows set aside after repeated refusals (not claimed until re-queued).
    pub set_aside: u64,
    /// Seconds since the timestamp of the oldest row waiting to be exported, 0 when none (the
    /// reference's `src_telemetrygatewayexporter_oldest_unexported_event`).
    pub oldest_unexported_age_seconds: u64,
}

/// How a claimed batch ended.
#[derive(Debug, Clone, Default)]
pub struct BatchOutcome {
    /// Ids the gateway acknowledged: marked exported.
    pub acknowledged: Vec<String>,
    /// Ids the gateway refused (a complete stream that did not acknowledge them): one refusal
    /// counted each, set aside when they reach `max_refusals`.
    pub refused: Vec<String>,
    /// Ids whose stored bytes do not decode: set aside at once (they can never be sent).
    pub undecodable: Vec<String>,
    /// Why the refused ids were refused.
    pub reason: String,
    /// Refusals after which an event is set aside (at least 1)...
    pub max_refusals: u32,
    /// ...once its first refusal is at least this old (a transient fault, e.g. a sink outage
    /// on the gateway, does not set events aside).
    pub min_refusal_span: Duration,
}

/// What finishing a batch changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FinishReport {
    /// Rows newly marked exported.
    pub marked: u64,
    /// Rows newly set aside.
    pub set_aside: u64,
}

/// Rows claimed by one export run. On PostgreSQL they stay locked until [`finish`]
/// (or until the batch is dropped, which releases them unchanged).
///
/// [`finish`]: ClaimedBatch::finish
#[async_trait]
pub trait ClaimedBatch: Send {
    /// The claimed rows, oldest first.
    fn rows(&self) -> &[QueuedEvent];
    /// Records the outcome (marks, refusals, set-asides) and commits; releases the claim.
    async fn finish(
        self: Box<Self>,
        outcome: &BatchOutcome,
        now: SystemTime,
    ) -> Result<FinishReport, QueueError>;
}

/// A durable export queue.
#[async_trait]
pub trait ExportQueue: Send + Sync {
    /// Where it is (no credentials).
    fn describe(&self) -> String;
    /// Inserts rows (insert-or-ignore on the id); returns (queued, duplicates) once committed.
    async fn insert(&self, rows: Vec<PreparedRow>) -> Result<(u64, u64), QueueError>;
    /// Claims up to `limit` of the oldest unexported, not set-aside rows.
    async fn claim(&self, limit: usize) -> Result<Box<dyn ClaimedBatch>, QueueError>;
    /// Deletes rows exported before `now - retention`; unexported rows are never deleted.
    async fn prune(&self, retention: Duration, now: SystemTime) -> Result<u64, QueueError>;
    /// Queue size and the age of the oldest waiting event at `now`.
    async fn stats(&self, now: SystemTime) -> Result<QueueStats, QueueError>;
    /// Set-aside events, oldest set aside first, at most `limit`.
    async fn list_set_aside(&self, limit: usize) -> Result<Vec<SetAsideEvent>, QueueError>;
    /// Puts set-aside events back (their refusal counts reset): the given ids, or all of them.
    async fn requeue(&self, ids: Option<&[String]>) -> Result<u64, QueueError>;
    /// The stored payload of one id, and whether it is exported (tests, inspection).
    async fn get(&self, id: &str) -> Result<Option<(Vec<u8>, bool)>, QueueError>;
}

/// Unix microseconds of a system time (negative before the epoch).
pub fn unix_micros(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_micros()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_micros()).map_or(i64::MIN, |m| -m),
    }
}

/// The system time of Unix microseconds.
pub fn from_unix_micros(micros: i64) -> SystemTime {
    if micros >= 0 {
        UNIX_EPOCH + Duration::from_micros(micros.unsigned_abs())
    } else {
        UNIX_EPOCH - Duration::from_micros(micros.unsigned_abs())
    }
}

fn event_micros(event: &Event, now: i64) -> i64 {
    match &event.timestamp {
        Some(ts) => ts
            .seconds
            .saturating_mul(1_000_000)
            .saturating_add(i64::from(ts.nanos / 1000)),
        None => now,
    }
}

/// Applies the export mode and the redaction policy (the core's rules) and encodes what is
/// left: the rows to insert, and the counts of events not queued.
pub fn prepare(
    events: impl IntoIterator<Item = Event>,
    policy: &RedactionPolicy,
    mode: ExportMode,
    now: SystemTime,
) -> (Vec<PreparedRow>, EnqueueReport) {
    let now = unix_micros(now);
    let mut report = EnqueueReport::default();
    let mut rows = Vec::new();
    for mut event in events {
        if !mode.exports(&event.feature) {
            report.skipped_by_export_mode += 1;
            continue;
        }
        if event.id.is_empty() {
            report.missing_id += 1;
            continue;
        }
        policy.redact(&mut event);
        rows.push(PreparedRow {
            timestamp_micros: event_micros(&event, now),
            payload_pb: event.encode_to_vec(),
            id: std::mem::take(&mut event.id),
        });
    }
    (rows, report)
}

/// Redacts each event with `policy`, then queues those `mode` exports (insert-or-ignore on
/// the id) in one committed transaction. `now` stands in for a missing event timestamp.
pub async fn enqueue(
    queue: &dyn ExportQueue,
    events: impl IntoIterator<Item = Event>,
    policy: &RedactionPolicy,
    mode: ExportMode,
    now: SystemTime,
) -> Result<EnqueueReport, QueueError> {
    let (rows, mut report) = prepare(events, policy, mode, now);
    if !rows.is_empty() {
        let (queued, duplicates) = queue.insert(rows).await?;
        report.queued = queued;
        report.duplicates = duplicates;
    }
    Ok(report)
}

/// The side table of refusals, shared by both backends (SQL that both accept).
pub(crate) const REFUSALS_TABLE: &str = "telemetry_events_export_refusals";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs() {
        assert_eq!(
            "q.sqlite3".parse::<QueueSpec>().unwrap(),
            QueueSpec::Sqlite("q.sqlite3".into())
        );
        assert_eq!(
            "sqlite:/x/q".parse::<QueueSpec>().unwrap(),
            QueueSpec::Sqlite("/x/q".into())
        );
        let pg = "postgres://u:secret@127.0.0.1:5432/db"
            .parse::<QueueSpec>()
            .unwrap();
        assert!(matches!(pg, QueueSpec::Postgres(_)));
        assert!(!pg.describe().contains("secret"), "{}", pg.describe());
        assert!("".parse::<QueueSpec>().is_err());
    }

    #[test]
    fn micros_round_trip() {
        for m in [0i64, 1, -1, 1_700_000_000_123_456, -5_000_000] {
            assert_eq!(unix_micros(from_unix_micros(m)), m);
        }
    }
}
