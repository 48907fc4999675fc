//! Export runs, shared by both front doors (`telemetry-gateway export` and the relay's
//! worker): claim the oldest unexported events, send them in one `RecordEvents` stream, mark
//! exactly the acknowledged ids, count a refusal for each id a complete stream did not
//! acknowledge (setting it aside after `max_refusals`), and retry the rest with back-off.

use super::client::{ExportClient, ExportTarget};
use super::metrics::ExportMetrics;
use super::queue::{BatchOutcome, ExportQueue, QueueError, QueueStats};
use prost::Message;
use rand_core::RngCore;
use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use telemetry_core::export::{acknowledged, backoff_delay_ms};
use telemetry_core::proto::Event;

/// The default number of refusals after which an event is set aside...
pub const DEFAULT_MAX_REFUSALS: u32 = 10;
/// ...once its first refusal is this old (seconds): a gateway fault shorter than this never
/// sets events aside.
pub const DEFAULT_MIN_REFUSAL_SPAN_SECONDS: f64 = 3600.0;

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
    /// Runs in which the gateway refused an event before it is set aside...
    pub max_refusals: u32,
    /// ...once its first refusal is at least this old.
    pub min_refusal_span: Duration,
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
    /// Rows that did not decode (set aside, never deleted).
    pub undecodable: u64,
    /// Events the gateway refused (one per refusal).
    pub refused: u64,
    /// Events set aside after repeated refusals, or because they do not decode.
    pub set_aside: u64,
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
    /// The export stopped because `max_attempts` consecutive runs made no progress (not
    /// because nothing was left to claim).
    pub gave_up: bool,
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

/// The back-off before retrying after `failures` consecutive runs without progress.
pub fn retry_delay(opts: &RunOptions, failures: u32) -> Duration {
    Duration::from_millis(backoff_delay_ms(
        failures,
        opts.retry_base_ms,
        opts.retry_max_ms,
        jitter_sample(),
    ))
}

/// What one run did.
#[derive(Debug, Clone, Default)]
pub struct RunReport {
    /// Rows claimed (0: nothing to export).
    pub claimed: usize,
    /// Events sent in the stream.
    pub sent: usize,
    /// Distinct sent ids the gateway acknowledged.
    pub acknowledged: usize,
    /// Rows newly marked exported.
    pub marked: u64,
    /// Ids a complete stream did not acknowledge.
    pub refused: usize,
    /// Rows newly set aside.
    pub set_aside: u64,
    /// Rows that do not decode.
    pub undecodable: usize,
    /// Whether a `RecordEvents` stream was opened.
    pub streamed: bool,
    /// Why the run was not perfect (stream error, deadline, refusals).
    pub error: Option<String>,
}

impl RunReport {
    /// Every claimed event was acknowledged without error.
    pub fn perfect(&self) -> bool {
        self.error.is_none() && self.acknowledged == self.sent && self.undecodable == 0
    }

    /// The run changed the queue (marked or set aside rows).
    pub fn progressed(&self) -> bool {
        self.marked > 0 || self.set_aside > 0 || self.acknowledged > 0
    }
}

/// The exporter: one queue, one gateway, one connection reused across runs (re-established
/// after a failed run).
pub struct Exporter {
    queue: Arc<dyn ExportQueue>,
    target: ExportTarget,
    opts: RunOptions,
    client: Option<ExportClient>,
    metrics: Option<ExportMetrics>,
}

impl Exporter {
    /// An exporter (connects lazily).
    pub fn new(
        queue: Arc<dyn ExportQueue>,
        target: ExportTarget,
        opts: RunOptions,
        metrics: Option<ExportMetrics>,
    ) -> Self {
        Exporter {
            queue,
            target,
            opts,
            client: None,
            metrics,
        }
    }

    /// The options.
    pub fn options(&self) -> &RunOptions {
        &self.opts
    }

    /// The queue.
    pub fn queue(&self) -> &Arc<dyn ExportQueue> {
        &self.queue
    }

    /// One run: claim up to `batch_size` rows, send them, record the outcome. `cancel`
    /// abandons the stream (what was acknowledged until then is still marked).
    pub async fn run_once(
        &mut self,
        cancel: impl std::future::Future<Output = ()>,
    ) -> Result<RunReport, QueueError> {
        let batch = self.queue.claim(self.opts.batch_size).await?;
        let mut report = RunReport {
            claimed: batch.rows().len(),
            ..Default::default()
        };
        let mut outcome = BatchOutcome {
            max_refusals: self.opts.max_refusals.max(1),
            min_refusal_span: self.opts.min_refusal_span,
            ..Default::default()
        };
        let mut events = Vec::with_capacity(batch.rows().len());
        for row in batch.rows() {
            match Event::decode(row.payload_pb.as_slice()) {
                Ok(e) => events.push(e),
                Err(e) => {
                    tracing::warn!(id = %row.id, error = %e, "queued event does not decode; setting it aside");
                    outcome.undecodable.push(row.id.clone());
                }
            }
        }
        report.undecodable = outcome.undecodable.len();
        if !events.is_empty() {
            let sent: Vec<String> = events.iter().map(|e| e.id.clone()).collect();
            report.sent = sent.len();
            if let Some(m) = &self.metrics {
                m.batch_size.observe(sent.len() as f64);
            }
            let result = match self.client.as_mut() {
                Some(c) => Ok(c),
                None => match ExportClient::connect(&self.target).await {
                    Ok(c) => Ok(self.client.insert(c)),
                    Err(e) => Err(format!("{e:#}")),
                },
            };
            match result {
                Err(e) => report.error = Some(e),
                Ok(client) => {
                    report.streamed = true;
                    let out = client.send(events, cancel).await;
                    if let Some(pause) = self.opts.testing_pause_after_send {
                        eprintln!(
                            "export: TESTING: {} acknowledged, pausing {}ms before marking",
                            out.succeeded.len(),
                            pause.as_millis()
                        );
                        tokio::time::sleep(pause).await;
                    }
                    let acked = acknowledged(&sent, &out.succeeded);
                    report.acknowledged = acked.len();
                    // A refusal is counted against an event only when the stream completed and
                    // the gateway acknowledged other events in it: a run with nothing
                    // acknowledged says the gateway is unwell, not that the event is bad.
                    if out.completed && acked.len() < sent.len() {
                        report.error = Some(format!(
                            "{} events did not get recorded successfully",
                            sent.len() - acked.len()
                        ));
                    }
                    if out.completed && !acked.is_empty() && acked.len() < sent.len() {
                        let acked: std::collections::HashSet<&str> =
                            acked.iter().copied().collect();
                        outcome.refused = sent
                            .iter()
                            .filter(|id| !acked.contains(id.as_str()))
                            .cloned()
                            .collect();
                        outcome.refused.dedup();
                        outcome.reason = format!(
                            "the gateway did not acknowledge it ({} of {} events in the run)",
                            sent.len() - acked.len(),
                            sent.len()
                        );
                        report.refused = outcome.refused.len();
                    }
                    outcome.acknowledged = acked.into_iter().map(str::to_string).collect();
                    if let Some(e) = out.error {
                        report.error = Some(e);
                    }
                }
            }
        }
        let finished = batch.finish(&outcome, SystemTime::now()).await?;
        report.marked = finished.marked;
        report.set_aside = finished.set_aside;
        if report.error.is_some() && !report.refused_only() {
            self.client = None; // reconnect on the next run
        }
        if let Some(m) = &self.metrics {
            m.record_run(&report);
        }
        if report.set_aside > 0 {
            tracing::warn!(
                set_aside = report.set_aside,
                max_refusals = self.opts.max_refusals,
                "events set aside (the gateway kept refusing them, or they do not decode); \
                 list them with `telemetry-gateway queue set-aside`, re-queue with `telemetry-gateway queue requeue`"
            );
        }
        Ok(report)
    }
}

impl RunReport {
    fn refused_only(&self) -> bool {
        self.refused > 0 && self.acknowledged + self.refused == self.sent
    }
}

/// Exports until the queue has nothing left to export, or `max_attempts` consecutive runs made
/// no progress (`telemetry-gateway export`). Acknowledged ids are marked after every run, so a
/// crash loses at most the marking of one run (those events are sent again: at least once).
pub async fn export_all(
    queue: Arc<dyn ExportQueue>,
    target: &ExportTarget,
    opts: &RunOptions,
    progress: &mut Progress,
) -> anyhow::Result<RunSummary> {
    let started = Instant::now();
    let mut summary = RunSummary::default();
    let mut exporter = Exporter::new(queue.clone(), target.clone(), opts.clone(), None);
    let mut failures: u32 = 0;
    loop {
        let run = exporter.run_once(std::future::pending()).await?;
        if run.claimed == 0 {
            break;
        }
        summary.runs += u64::from(run.streamed);
        summary.exported += run.marked;
        summary.undecodable += run.undecodable as u64;
        summary.refused += run.refused as u64;
        summary.set_aside += run.set_aside;
        progress.update(summary.exported);
        if run.perfect() {
            failures = 0;
            continue;
        }
        summary.imperfect_runs += 1;
        if run.progressed() {
            failures = 0;
        } else {
            failures += 1;
        }
        let why = run
            .error
            .clone()
            .unwrap_or_else(|| "stored events do not decode".to_string());
        tracing::warn!(acknowledged = run.acknowledged, sent = run.sent, attempt = failures, error = %why, "export run incomplete; retrying the rest");
        summary.last_error = Some(why);
        if failures >= opts.max_attempts {
            summary.gave_up = true;
            break;
        }
        tokio::time::sleep(retry_delay(opts, failures)).await;
    }
    progress.finish();
    summary.elapsed_seconds = started.elapsed().as_secs_f64();
    if summary.elapsed_seconds > 0.0 {
        summary.events_per_second = summary.exported as f64 / summary.elapsed_seconds;
    }
    summary.pruned = queue.prune(opts.retention, SystemTime::now()).await?;
    summary.queue = queue.stats(SystemTime::now()).await?;
    Ok(summary)
}
