//! Export runs: read the oldest unexported events, send them, mark exactly the acknowledged
//! ids, and retry the rest — until the queue is empty or the attempts are exhausted.

use super::client::{ExportClient, ExportTarget};
use super::queue::{Queue, QueueStats};
use prost::Message;
use rand_core::RngCore;
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant, SystemTime};
use telemetry_core::export::{acknowledged, backoff_delay_ms};
use telemetry_core::proto::Event;

/// How export runs behave.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Events read from the queue per run (one `RecordEvents` stream).
    pub batch_size: usize,
    /// Consecutive runs without progress (errors, or nothing acknowledged) before giving up.
    pub max_attempts: u32,
    /// Back-off base, milliseconds.
    pub retry_base_ms: u64,
    /// Back-off ceiling, milliseconds.
    pub retry_max_ms: u64,
    /// Exported rows older than this are pruned at the end.
    pub retention: Duration,
    /// TESTING ONLY: sleep between receiving the acknowledgements and marking them.
    pub testing_pause_after_send: Option<Duration>,
}

/// What the export did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RunSummary {
    /// Events acknowledged and marked exported.
    pub exported: u64,
    /// `RecordEvents` streams opened.
    pub runs: u64,
    /// Runs that failed or were only partly acknowledged.
    pub imperfect_runs: u64,
    /// Rows that did not decode (left in the queue, as upstream).
    pub undecodable: u64,
    /// Rows pruned at the end.
    pub pruned: u64,
    /// Seconds spent.
    pub elapsed_seconds: f64,
    /// Exported events per second.
    pub events_per_second: f64,
    /// The queue afterwards.
    pub queue: QueueStats,
    /// The last error, if any.
    pub last_error: Option<String>,
}

/// Progress on standard error: a self-rewriting line on a terminal, a line every `interval`
/// otherwise.
pub struct Progress {
    tty: bool,
    interval: Duration,
    started: Instant,
    last: Option<Instant>,
    total: u64,
    enabled: bool,
}

impl Progress {
    /// A progress display for `total` events.
    pub fn new(total: u64, interval: Duration, enabled: bool) -> Self {
        Progress {
            tty: std::io::stderr().is_terminal(),
            interval,
            started: Instant::now(),
            last: None,
            total,
            enabled,
        }
    }

    fn line(&self, exported: u64) -> String {
        let secs = self.started.elapsed().as_secs_f64();
        let rate = if secs > 0.0 {
            exported as f64 / secs
        } else {
            0.0
        };
        let pct = if self.total > 0 {
            100.0 * exported as f64 / self.total as f64
        } else {
            100.0
        };
        format!(
            "export: {exported}/{} events ({pct:.1}%), {rate:.0} events/s, {secs:.1}s",
            self.total
        )
    }

    /// Reports `exported` so far.
    pub fn update(&mut self, exported: u64) {
        if !self.enabled {
            return;
        }
        let every = if self.tty {
            Duration::from_millis(200)
        } else {
            self.interval
        };
        if self.last.is_some_and(|l| l.elapsed() < every) {
            return;
        }
        if self.last.is_none() && !self.tty {
            // first line only after one interval: short runs print just the summary
            self.last = Some(Instant::now());
            return;
        }
        self.last = Some(Instant::now());
        let mut err = std::io::stderr().lock();
        if self.tty {
            let _ = write!(err, "\r\x1b[K{}", self.line(exported));
        } else {
            let _ = writeln!(err, "{}", self.line(exported));
        }
        let _ = err.flush();
    }

    /// Ends the self-rewriting line.
    pub fn finish(&mut self) {
        if self.enabled && self.tty && self.last.is_some() {
            eprintln!();
        }
    }
}

fn jitter_sample() -> f64 {
    (rand_core::OsRng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// Exports until the queue has no unexported event, or `max_attempts` consecutive runs made no
/// progress. Acknowledged ids are marked after every run, so a crash loses at most the marking
/// of one run (those events are sent again: at-least-once).
pub async fn export_all(
    queue: &mut Queue,
    target: &ExportTarget,
    opts: &RunOptions,
    progress: &mut Progress,
) -> anyhow::Result<RunSummary> {
    let started = Instant::now();
    let mut summary = RunSummary::default();
    let mut client: Option<ExportClient> = None;
    let mut failures: u32 = 0;
    loop {
        let rows = queue.list_for_export(opts.batch_size)?;
        if rows.is_empty() {
            break;
        }
        let mut events = Vec::with_capacity(rows.len());
        for row in &rows {
            match Event::decode(row.payload_pb.as_slice()) {
                Ok(e) => events.push(e),
                Err(e) => {
                    summary.undecodable += 1;
                    tracing::warn!(id = %row.id, error = %e, "queued event does not decode; left in the queue");
                }
            }
        }
        if events.is_empty() {
            summary.last_error = Some("the oldest queued events do not decode".to_string());
            break;
        }
        let sent: Vec<String> = events.iter().map(|e| e.id.clone()).collect();
        let (succeeded, error) = match client.as_mut() {
            Some(c) => {
                summary.runs += 1;
                let out = c.send(events).await;
                (out.succeeded, out.error)
            }
            None => match ExportClient::connect(target).await {
                Ok(mut c) => {
                    summary.runs += 1;
                    let out = c.send(events).await;
                    client = Some(c);
                    (out.succeeded, out.error)
                }
                Err(e) => (Vec::new(), Some(format!("{e:#}"))),
            },
        };
        if let Some(pause) = opts.testing_pause_after_send {
            eprintln!(
                "export: TESTING: {} acknowledged, pausing {}ms before marking",
                succeeded.len(),
                pause.as_millis()
            );
            tokio::time::sleep(pause).await;
        }
        let acked = acknowledged(&sent, &succeeded);
        let n_acked = acked.len();
        summary.exported += queue.mark_exported(acked, SystemTime::now())?;
        progress.update(summary.exported);
        if error.is_none() && n_acked == sent.len() {
            failures = 0;
            continue;
        }
        summary.imperfect_runs += 1;
        let why = match &error {
            Some(e) => e.clone(),
            None => format!(
                "{} events did not get recorded successfully",
                sent.len() - n_acked
            ),
        };
        if error.is_some() {
            client = None; // reconnect on the next run
        }
        if n_acked > 0 {
            failures = 0;
        } else {
            failures += 1;
        }
        tracing::warn!(acknowledged = n_acked, sent = sent.len(), attempt = failures, error = %why, "export run incomplete; retrying the rest");
        summary.last_error = Some(why);
        if failures >= opts.max_attempts {
            break;
        }
        let delay = backoff_delay_ms(
            failures,
            opts.retry_base_ms,
            opts.retry_max_ms,
            jitter_sample(),
        );
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    progress.finish();
    summary.elapsed_seconds = started.elapsed().as_secs_f64();
    if summary.elapsed_seconds > 0.0 {
        summary.events_per_second = summary.exported as f64 / summary.elapsed_seconds;
    }
    summary.pruned = queue.prune(opts.retention, SystemTime::now())?;
    summary.queue = queue.stats(SystemTime::now())?;
    Ok(summary)
}
