//! The PostgreSQL export queue, for instances that run several replicas: the reference's table
//! `telemetry_events_export_queue(id, timestamp TIMESTAMPTZ, payload_pb BYTEA, exported_at
//! TIMESTAMPTZ)` with its partial index, so it can also drain a queue a Sourcegraph instance
//! filled (whose `id` column is `TEXT` or, after the later migration, `UUID`: both are read).
//!
//! A run claims its rows with `SELECT … FOR UPDATE SKIP LOCKED` in a transaction that stays
//! open until the run finishes: another exporter on the same queue skips the locked rows and
//! takes the next ones, so no row is sent by two exporters at the same time. If the exporter
//! dies, PostgreSQL ends the transaction and the rows are unlocked, unchanged (sent again by
//! the next run: at least once). The upstream table is not altered; refusal counts live in a
//! side table, `telemetry_events_export_refusals`.
//!
//! Connections are plaintext (`NoTls`): use a loopback, a private network or a local proxy.

use super::{
    BatchOutcome, ClaimedBatch, ExportQueue, FinishReport, PreparedRow, QueueError, QueueStats,
    QueuedEvent, REFUSALS_TABLE, SetAsideEvent, from_unix_micros,
};
use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Connections in the pool (inserts from concurrent requests, one export run, stats).
const POOL_SIZE: usize = 8;
/// How long a request waits for a pooled connection before failing.
const POOL_WAIT: Duration = Duration::from_secs(10);

/// The schema, created if missing (the reference's migrations' shape; `id TEXT` as the
/// original migration — an existing `UUID` column is kept and used as such).
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS telemetry_events_export_queue (
    id TEXT PRIMARY KEY,
    timestamp TIMESTAMPTZ NOT NULL,
    payload_pb BYTEA NOT NULL,
    exported_at TIMESTAMPTZ DEFAULT NULL
);
CREATE INDEX IF NOT EXISTS telemetry_events_export_queue_unexported
    ON telemetry_events_export_queue (timestamp) WHERE exported_at IS NULL;
CREATE TABLE IF NOT EXISTS telemetry_events_export_refusals (
    id TEXT PRIMARY KEY,
    refusals INTEGER NOT NULL,
    last_error TEXT NOT NULL,
    first_refused_at TIMESTAMPTZ NOT NULL,
    last_refused_at TIMESTAMPTZ NOT NULL,
    set_aside_at TIMESTAMPTZ DEFAULT NULL
);
";

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db` (for logs).
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "postgres://…".to_string();
    };
    let (authority, tail) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let tail = tail.split('?').next().unwrap_or("");
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{scheme}://{user}:***@{host}{tail}")
        }
        None => format!("{scheme}://{authority}{tail}"),
    }
}

/// The PostgreSQL-backed export queue.
#[derive(Clone)]
pub struct PostgresQueue {
    pool: Pool,
    description: String,
    /// `::uuid` when the table's `id` column is a UUID, else empty: appended to id parameters.
    id_cast: &'static str,
}

fn pool_err(e: impl std::fmt::Display) -> QueueError {
    QueueError::Pool(e.to_string())
}

impl PostgresQueue {
    /// Connects, creates the tables if missing, and checks the `id` column's type.
    pub async fn connect(url: &str) -> Result<Self, QueueError> {
        let config: tokio_postgres::Config = url.parse()?;
        let manager = Manager::from_config(
            config,
            tokio_postgres::NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .wait_timeout(Some(POOL_WAIT))
            .create_timeout(Some(POOL_WAIT))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(pool_err)?;
        let client = pool.get().await.map_err(pool_err)?;
        // Several replicas may start at once: serialize the CREATEs with an advisory lock.
        client
            .batch_execute(&format!(
                "SELECT pg_advisory_lock(7421); {SCHEMA} SELECT pg_advisory_unlock(7421);"
            ))
            .await?;
        let id_type: String = client
            .query_one(
                "SELECT data_type FROM information_schema.columns
                 WHERE table_schema = current_schema()
                   AND table_name = 'telemetry_events_export_queue' AND column_name = 'id'",
                &[],
            )
            .await?
            .get(0);
        let id_cast = match id_type.as_str() {
            "text" | "character varying" => "",
            "uuid" => "::uuid",
            other => {
                return Err(QueueError::Schema(format!(
                    "telemetry_events_export_queue.id has type {other}; expected text or uuid"
                )));
            }
        };
        Ok(PostgresQueue {
            pool,
            description: redact_url(url),
            id_cast,
        })
    }

    async fn client(&self) -> Result<Object, QueueError> {
        self.pool.get().await.map_err(pool_err)
    }
}

struct PostgresBatch {
    /// The connection holding the open transaction and the row locks; `None` once finished.
    client: Option<Object>,
    rows: Vec<QueuedEvent>,
    id_cast: &'static str,
}

impl Drop for PostgresBatch {
    fn drop(&mut self) {
        // Unfinished (an abandoned run, an error): the connection is inside a transaction that
        // holds row locks. It is not returned to the pool: dropping it closes the connection
        // and PostgreSQL rolls back, releasing the rows unchanged.
        if let Some(client) = self.client.take() {
            drop(Object::take(client));
        }
    }
}

#[async_trait]
impl ClaimedBatch for PostgresBatch {
    fn rows(&self) -> &[QueuedEvent] {
        &self.rows
    }

    async fn finish(
        mut self: Box<Self>,
        outcome: &BatchOutcome,
        now: SystemTime,
    ) -> Result<FinishReport, QueueError> {
        let Some(client) = self.client.as_ref() else {
            return Ok(FinishReport::default());
        };
        let cast = self.id_cast;
        let mut report = FinishReport::default();
        if !outcome.acknowledged.is_empty() {
            report.marked = client
                .execute(
                    &format!(
                        "UPDATE telemetry_events_export_queue SET exported_at = $2
                         WHERE id = ANY($1::text[]{}) AND exported_at IS NULL",
                        if cast.is_empty() { "" } else { "::uuid[]" }
                    ),
                    &[&outcome.acknowledged, &now],
                )
                .await?;
            client
                .execute(
                    &format!("DELETE FROM {REFUSALS_TABLE} WHERE id = ANY($1::text[])"),
                    &[&outcome.acknowledged],
                )
                .await?;
        }
        let refuse = format!(
            "INSERT INTO {REFUSALS_TABLE} (id, refusals, last_error, first_refused_at, last_refused_at)
             SELECT unnest($1::text[]), 1, $2, $3, $3
             ON CONFLICT (id) DO UPDATE SET refusals = {REFUSALS_TABLE}.refusals + 1,
                 last_error = excluded.last_error, last_refused_at = excluded.last_refused_at"
        );
        let set_aside = format!(
            "UPDATE {REFUSALS_TABLE} SET set_aside_at = $2
             WHERE id = ANY($1::text[]) AND set_aside_at IS NULL AND refusals >= $3
               AND first_refused_at <= $4"
        );
        let max = i32::try_from(outcome.max_refusals.max(1)).unwrap_or(i32::MAX);
        if !outcome.refused.is_empty() {
            client
                .execute(&refuse, &[&outcome.refused, &outcome.reason, &now])
                .await?;
            let first_before = now
                .checked_sub(outcome.min_refusal_span)
                .unwrap_or(UNIX_EPOCH);
            report.set_aside += client
                .execute(&set_aside, &[&outcome.refused, &now, &max, &first_before])
                .await?;
        }
        if !outcome.undecodable.is_empty() {
            let why = "the stored event does not decode".to_string();
            client
                .execute(&refuse, &[&outcome.undecodable, &why, &now])
                .await?;
            report.set_aside += client
                .execute(&set_aside, &[&outcome.undecodable, &now, &0i32, &now])
                .await?;
        }
        client.batch_execute("COMMIT").await?;
        // Committed: the connection is clean and goes back to the pool.
        self.client.take();
        Ok(report)
    }
}

#[async_trait]
impl ExportQueue for PostgresQueue {
    fn describe(&self) -> String {
        self.description.clone()
    }

    async fn insert(&self, rows: Vec<PreparedRow>) -> Result<(u64, u64), QueueError> {
        if let Some(bad) = rows
            .iter()
            .find(|r| self.id_cast == "::uuid" && uuid::Uuid::parse_str(&r.id).is_err())
        {
            return Err(QueueError::Schema(format!(
                "event id {:?} is not a UUID, and this queue's id column is of type uuid",
                bad.id.chars().take(64).collect::<String>()
            )));
        }
        let total = rows.len() as u64;
        let mut ids = Vec::with_capacity(rows.len());
        let mut times = Vec::with_capacity(rows.len());
        let mut payloads = Vec::with_capacity(rows.len());
        for row in rows {
            ids.push(row.id);
            times.push(from_unix_micros(row.timestamp_micros));
            payloads.push(row.payload_pb);
        }
        let client = self.client().await?;
        // One statement, one implicit transaction: committed when `execute` returns.
        let queued = client
            .execute(
                &format!(
                    "INSERT INTO telemetry_events_export_queue (id, timestamp, payload_pb)
                     SELECT i{cast}, t, p FROM unnest($1::text[], $2::timestamptz[], $3::bytea[])
                         AS u(i, t, p)
                     ON CONFLICT (id) DO NOTHING",
                    cast = self.id_cast
                ),
                &[&ids, &times, &payloads],
            )
            .await?;
        Ok((queued, total - queued.min(total)))
    }

    async fn claim(&self, limit: usize) -> Result<Box<dyn ClaimedBatch>, QueueError> {
        let client = self.client().await?;
        let mut batch = PostgresBatch {
            client: None,
            rows: Vec::new(),
            id_cast: self.id_cast,
        };
        client.batch_execute("BEGIN").await?;
        batch.client = Some(client);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let client = batch.client.as_ref().ok_or_else(|| pool_err("no client"))?;
        let rows = client
            .query(
                &format!(
                    "SELECT q.id::text, q.payload_pb FROM telemetry_events_export_queue q
                     WHERE q.exported_at IS NULL AND NOT EXISTS (
                         SELECT 1 FROM {REFUSALS_TABLE} r
                         WHERE r.id = q.id::text AND r.set_aside_at IS NOT NULL)
                     ORDER BY q.timestamp ASC, q.id ASC LIMIT $1
                     FOR UPDATE OF q SKIP LOCKED"
                ),
                &[&limit],
            )
            .await?;
        batch.rows = rows
            .into_iter()
            .map(|r| QueuedEvent {
                id: r.get(0),
                payload_pb: r.get(1),
            })
            .collect();
        Ok(Box::new(batch))
    }

    async fn prune(&self, retention: Duration, now: SystemTime) -> Result<u64, QueueError> {
        let cutoff = now.checked_sub(retention).unwrap_or(UNIX_EPOCH);
        let client = self.client().await?;
        Ok(client
            .execute(
                "DELETE FROM telemetry_events_export_queue
                 WHERE exported_at IS NOT NULL AND exported_at < $1",
                &[&cutoff],
            )
            .await?)
    }

    async fn stats(&self, now: SystemTime) -> Result<QueueStats, QueueError> {
        let client = self.client().await?;
        let row = client
            .query_one(
                &format!(
                    "SELECT
                       (SELECT count(*) FROM telemetry_events_export_queue),
                       (SELECT count(*) FROM telemetry_events_export_queue q
                          JOIN {REFUSALS_TABLE} r ON r.id = q.id::text
                          WHERE q.exported_at IS NULL AND r.set_aside_at IS NOT NULL),
                       w.n, w.oldest
                     FROM (SELECT count(*) AS n, min(q.timestamp) AS oldest
                           FROM telemetry_events_export_queue q
                           WHERE q.exported_at IS NULL AND NOT EXISTS (
                               SELECT 1 FROM {REFUSALS_TABLE} r
                               WHERE r.id = q.id::text AND r.set_aside_at IS NOT NULL)) w"
                ),
                &[],
            )
            .await?;
        let rows: i64 = row.get(0);
        let set_aside: i64 = row.get(1);
        let unexported: i64 = row.get(2);
        let oldest: Option<SystemTime> = row.get(3);
        let age = oldest
            .and_then(|t| now.duration_since(t).ok())
            .map_or(0, |d| d.as_secs());
        Ok(QueueStats {
            rows: rows.max(0) as u64,
            unexported: unexported.max(0) as u64,
            set_aside: set_aside.max(0) as u64,
            oldest_unexported_age_seconds: age,
        })
    }

    async fn list_set_aside(&self, limit: usize) -> Result<Vec<SetAsideEvent>, QueueError> {
        let client = self.client().await?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = client
            .query(
                &format!(
                    "SELECT r.id, r.refusals, r.last_error, r.set_aside_at FROM {REFUSALS_TABLE} r
                     JOIN telemetry_events_export_queue q ON q.id::text = r.id
                     WHERE r.set_aside_at IS NOT NULL AND q.exported_at IS NULL
                     ORDER BY r.set_aside_at ASC, r.id ASC LIMIT $1"
                ),
                &[&limit],
            )
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let at: SystemTime = r.get(3);
                SetAsideEvent {
                    id: r.get(0),
                    refusals: u32::try_from(r.get::<_, i32>(1)).unwrap_or(0),
                    last_error: r.get(2),
                    set_aside_at_unix: at
                        .duration_since(UNIX_EPOCH)
                        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
                }
            })
            .collect())
    }

    async fn requeue(&self, ids: Option<&[String]>) -> Result<u64, QueueError> {
        let client = self.client().await?;
        Ok(match ids {
            None => {
                client
                    .execute(
                        &format!("DELETE FROM {REFUSALS_TABLE} WHERE set_aside_at IS NOT NULL"),
                        &[],
                    )
                    .await?
            }
            Some(ids) => {
                client
                    .execute(
                        &format!(
                            "DELETE FROM {REFUSALS_TABLE}
                             WHERE id = ANY($1::text[]) AND set_aside_at IS NOT NULL"
                        ),
                        &[&ids],
                    )
                    .await?
            }
        })
    }

    async fn get(&self, id: &str) -> Result<Option<(Vec<u8>, bool)>, QueueError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT payload_pb, exported_at IS NOT NULL FROM telemetry_events_export_queue
                 WHERE id::text = $1",
                &[&id],
            )
            .await?;
        Ok(row.map(|r| (r.get(0), r.get(1))))
    }
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn urls_lose_their_password() {
        assert_eq!(
            redact_url("postgres://u:pw@127.0.0.1:5432/db?sslmode=disable"),
            "postgres://u:***@127.0.0.1:5432/db"
        );
        assert_eq!(
            redact_url("postgresql://127.0.0.1/db"),
            "postgresql://127.0.0.1/db"
        );
    }
}
