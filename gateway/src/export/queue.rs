//! The durable export queue: the reference's `telemetry_events_export_queue` table, in SQLite.
//!
//! Events are redacted with the configured [`RedactionPolicy`] before they are stored, so the
//! queue holds exactly what is exported; the export mode decides which events are queued at
//! all. Export runs read the oldest unexported rows, mark exactly the acknowledged ids, and
//! exported rows are pruned once older than the retention period. Unexported rows are never
//! deleted.

use prost::Message;
use rusqlite::{Connection, OptionalExtension, params};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use telemetry_core::proto::Event;
use telemetry_core::{ExportMode, RedactionPolicy};

/// The schema: the reference's columns (`timestamp` and `exported_at` are Unix microseconds),
/// with the partial index the export query uses.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS telemetry_events_export_queue (
    id TEXT PRIMARY KEY,
    timestamp INTEGER NOT NULL,
    payload_pb BLOB NOT NULL,
    exported_at INTEGER DEFAULT NULL
);
CREATE INDEX IF NOT EXISTS telemetry_events_export_queue_unexported
    ON telemetry_events_export_queue (timestamp) WHERE exported_at IS NULL;
";

/// Queue errors.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// SQLite failed.
    #[error("export queue: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

/// What [`Queue::enqueue`] did with the events it was given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
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

/// One queued event, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct QueuedEvent {
    /// The event id.
    pub id: String,
    /// The redacted event's protobuf wire bytes.
    pub payload_pb: Vec<u8>,
}

/// Queue size and age, the reference's queue metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct QueueStats {
    /// Rows in the table, exported rows awaiting pruning included.
    pub rows: u64,
    /// Rows not yet exported (the reference's `src_telemetrygatewayexporter_queue_size`).
    pub unexported: u64,
    /// Seconds since the timestamp of the oldest unexported event, 0 when none (the
    /// reference's `src_telemetrygatewayexporter_oldest_unexported_event`).
    pub oldest_unexported_age_seconds: u64,
}

/// Unix microseconds of a system time (negative before the epoch).
pub fn unix_micros(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_micros()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_micros()).map_or(i64::MIN, |m| -m),
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

/// The SQLite-backed export queue.
pub struct Queue {
    conn: Connection,
}

impl Queue {
    /// Opens (creating if needed) the queue database at `path`, in WAL mode.
    pub fn open(path: &Path) -> Result<Self, QueueError> {
        Self::init(Connection::open(path)?)
    }

    /// An in-memory queue (tests).
    pub fn open_in_memory() -> Result<Self, QueueError> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> Result<Self, QueueError> {
        // WAL: a reader never blocks the exporter; `synchronous=NORMAL` is durable across
        // process crashes (which is what the at-least-once guarantee rests on).
        let _mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        conn.execute_batch("PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=10000;")?;
        conn.execute_batch(SCHEMA)?;
        Ok(Queue { conn })
    }

    /// Redacts each event with `policy`, then queues those `mode` exports (insert-or-ignore on
    /// the id), in one transaction. `now` stands in for a missing event timestamp.
    pub fn enqueue(
        &mut self,
        events: impl IntoIterator<Item = Event>,
        policy: &RedactionPolicy,
        mode: ExportMode,
        now: SystemTime,
    ) -> Result<EnqueueReport, QueueError> {
        let now = unix_micros(now);
        let mut report = EnqueueReport::default();
        let tx = self.conn.transaction()?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT OR IGNORE INTO telemetry_events_export_queue (id, timestamp, payload_pb)
                 VALUES (?1, ?2, ?3)",
            )?;
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
                let payload = event.encode_to_vec();
                let inserted =
                    insert.execute(params![event.id, event_micros(&event, now), payload])?;
                if inserted == 0 {
                    report.duplicates += 1;
                } else {
                    report.queued += 1;
                }
            }
        }
        tx.commit()?;
        Ok(report)
    }

    /// Up to `limit` unexported events, oldest (by event timestamp) first.
    pub fn list_for_export(&self, limit: usize) -> Result<Vec<QueuedEvent>, QueueError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, payload_pb FROM telemetry_events_export_queue
             WHERE exported_at IS NULL ORDER BY timestamp ASC, id ASC LIMIT ?1",
        )?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = stmt.query_map([limit], |r| {
            Ok(QueuedEvent {
                id: r.get(0)?,
                payload_pb: r.get(1)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Marks exactly these ids exported at `now`; returns how many rows changed.
    pub fn mark_exported<'a>(
        &mut self,
        ids: impl IntoIterator<Item = &'a str>,
        now: SystemTime,
    ) -> Result<u64, QueueError> {
        let now = unix_micros(now);
        let tx = self.conn.transaction()?;
        let mut changed = 0u64;
        {
            let mut update = tx.prepare_cached(
                "UPDATE telemetry_events_export_queue SET exported_at = ?1
                 WHERE id = ?2 AND exported_at IS NULL",
            )?;
            for id in ids {
                changed += update.execute(params![now, id])? as u64;
            }
        }
        tx.commit()?;
        Ok(changed)
    }

    /// Deletes rows exported before `now - retention`; unexported rows are never deleted.
    pub fn prune(&mut self, retention: Duration, now: SystemTime) -> Result<u64, QueueError> {
        let cutoff = unix_micros(now)
            .saturating_sub(i64::try_from(retention.as_micros()).unwrap_or(i64::MAX));
        let n = self.conn.execute(
            "DELETE FROM telemetry_events_export_queue
             WHERE exported_at IS NOT NULL AND exported_at < ?1",
            [cutoff],
        )?;
        Ok(n as u64)
    }

    /// Queue size and the age of the oldest unexported event at `now`.
    pub fn stats(&self, now: SystemTime) -> Result<QueueStats, QueueError> {
        let rows: i64 = self.conn.query_row(
            "SELECT count(*) FROM telemetry_events_export_queue",
            [],
            |r| r.get(0),
        )?;
        let (unexported, oldest): (i64, Option<i64>) = self.conn.query_row(
            "SELECT count(*), min(timestamp) FROM telemetry_events_export_queue
             WHERE exported_at IS NULL",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let age = oldest
            .map(|t| unix_micros(now).saturating_sub(t).max(0) / 1_000_000)
            .unwrap_or(0);
        Ok(QueueStats {
            rows: rows.max(0) as u64,
            unexported: unexported.max(0) as u64,
            oldest_unexported_age_seconds: age as u64,
        })
    }

    /// The stored payload of one id, and whether it is exported (tests, inspection).
    pub fn get(&self, id: &str) -> Result<Option<(Vec<u8>, bool)>, QueueError> {
        Ok(self
            .conn
            .query_row(
                "SELECT payload_pb, exported_at IS NOT NULL FROM telemetry_events_export_queue
                 WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost_types::{Struct, Timestamp, Value, value::Kind};
    use telemetry_core::proto::{EventMarketingTracking, EventParameters};

    fn ev(id: &str, feature: &str, action: &str, secs: i64) -> Event {
        let mut fields = std::collections::BTreeMap::new();
        for (k, v) in [("privateKey", "SECRET-private"), ("chatModel", "gpt-x")] {
            fields.insert(
                k.to_string(),
                Value {
                    kind: Some(Kind::StringValue(v.to_string())),
                },
            );
        }
        Event {
            id: id.to_string(),
            timestamp: Some(Timestamp {
                seconds: secs,
                nanos: 0,
            }),
            feature: feature.to_string(),
            action: action.to_string(),
            parameters: Some(EventParameters {
                version: 1,
                private_metadata: Some(Struct { fields }),
                ..Default::default()
            }),
            marketing_tracking: Some(EventMarketingTracking {
                url: Some("https://secret.example.com/MARKETING".to_string()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn contains(hay: &[u8], needle: &str) -> bool {
        hay.windows(needle.len()).any(|w| w == needle.as_bytes())
    }

    #[test]
    fn events_are_redacted_before_they_are_queued() {
        let mut q = Queue::open_in_memory().unwrap();
        let policy = RedactionPolicy::new(false, "").unwrap();
        let report = q
            .enqueue(
                [
                    ev("a", "search", "submitted", 10),
                    ev("b", "cody.chat-question", "submitted", 11),
                ],
                &policy,
                ExportMode::All,
                at(100),
            )
            .unwrap();
        assert_eq!(report.queued, 2);
        for id in ["a", "b"] {
            let (payload, exported) = q.get(id).unwrap().unwrap();
            assert!(!exported);
            assert!(
                !contains(&payload, "SECRET-private"),
                "{id}: private key queued"
            );
            assert!(!contains(&payload, "MARKETING"), "{id}: marketing queued");
        }
        // the allowlisted key survives on the allowlisted event only
        let b = Event::decode(q.get("b").unwrap().unwrap().0.as_slice()).unwrap();
        let pm = b.parameters.unwrap().private_metadata.unwrap();
        assert_eq!(pm.fields.keys().collect::<Vec<_>>(), vec!["chatModel"]);
        let a = Event::decode(q.get("a").unwrap().unwrap().0.as_slice()).unwrap();
        assert!(a.parameters.unwrap().private_metadata.is_none());
        assert!(a.marketing_tracking.is_none());
        // dotcom redacts nothing
        let dotcom = RedactionPolicy::new(true, "").unwrap();
        q.enqueue(
            [ev("c", "search", "submitted", 12)],
            &dotcom,
            ExportMode::All,
            at(100),
        )
        .unwrap();
        assert!(contains(&q.get("c").unwrap().unwrap().0, "SECRET-private"));
    }

    #[test]
    fn export_mode_duplicates_and_missing_ids_are_counted() {
        let mut q = Queue::open_in_memory().unwrap();
        let policy = RedactionPolicy::new(false, "").unwrap();
        let r = q
            .enqueue(
                [
                    ev("a", "search", "submitted", 1),
                    ev("b", "cody.chat", "submitted", 2),
                    ev("b", "cody.chat", "submitted", 2),
                    ev("", "cody", "x", 3),
                ],
                &policy,
                ExportMode::CodyOnly,
                at(10),
            )
            .unwrap();
        assert_eq!(
            r,
            EnqueueReport {
                queued: 1,
                duplicates: 1,
                skipped_by_export_mode: 1,
                missing_id: 1
            }
        );
        let r = q
            .enqueue(
                [ev("z", "cody", "x", 3)],
                &policy,
                ExportMode::Disabled,
                at(10),
            )
            .unwrap();
        assert_eq!(r.skipped_by_export_mode, 1);
        assert_eq!(q.stats(at(10)).unwrap().rows, 1);
    }

    #[test]
    fn oldest_first_mark_only_acked_prune_and_stats() {
        let mut q = Queue::open_in_memory().unwrap();
        let policy = RedactionPolicy::new(false, "").unwrap();
        q.enqueue(
            [
                ev("late", "f", "a", 300),
                ev("early", "f", "a", 100),
                ev("mid", "f", "a", 200),
            ],
            &policy,
            ExportMode::All,
            at(1000),
        )
        .unwrap();
        let s = q.stats(at(1000)).unwrap();
        assert_eq!(
            (s.rows, s.unexported, s.oldest_unexported_age_seconds),
            (3, 3, 900)
        );
        let batch = q.list_for_export(2).unwrap();
        let ids: Vec<&str> = batch.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, vec!["early", "mid"]);
        // the gateway acknowledged only "mid" (and an id never sent)
        let sent: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
        let ok = vec!["mid".to_string(), "unknown".to_string()];
        let acked = telemetry_core::export::acknowledged(&sent, &ok);
        assert_eq!(q.mark_exported(acked, at(1000)).unwrap(), 1);
        let next: Vec<String> = q
            .list_for_export(10)
            .unwrap()
            .into_iter()
            .map(|e| e.id)
            .collect();
        assert_eq!(next, vec!["early", "late"]);
        let s = q.stats(at(1000)).unwrap();
        assert_eq!(
            (s.rows, s.unexported, s.oldest_unexported_age_seconds),
            (3, 2, 900)
        );
        // marking again changes nothing
        assert_eq!(q.mark_exported(["mid"], at(5000)).unwrap(), 0);
        // within the retention: kept; after it: pruned; unexported rows are never pruned
        let day = Duration::from_secs(24 * 3600);
        assert_eq!(q.prune(day, at(1000 + 3600)).unwrap(), 0);
        assert_eq!(q.prune(day, at(1000 + 24 * 3600 + 1)).unwrap(), 1);
        assert_eq!(q.prune(Duration::ZERO, at(10_000_000)).unwrap(), 0);
        let s = q.stats(at(1000)).unwrap();
        assert_eq!((s.rows, s.unexported), (2, 2));
        q.mark_exported(["early", "late"], at(2000)).unwrap();
        let s = q.stats(at(3000)).unwrap();
        assert_eq!((s.unexported, s.oldest_unexported_age_seconds), (0, 0));
    }

    #[test]
    fn the_queue_is_durable_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("q.sqlite3");
        let policy = RedactionPolicy::new(false, "").unwrap();
        {
            let mut q = Queue::open(&path).unwrap();
            q.enqueue(
                [ev("a", "f", "a", 1), ev("b", "f", "a", 2)],
                &policy,
                ExportMode::All,
                at(5),
            )
            .unwrap();
            q.mark_exported(["a"], at(5)).unwrap();
        }
        let q = Queue::open(&path).unwrap();
        let ids: Vec<String> = q
            .list_for_export(10)
            .unwrap()
            .into_iter()
            .map(|e| e.id)
            .collect();
        assert_eq!(ids, vec!["b"]);
    }
}
