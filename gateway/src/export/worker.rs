//! The periodic exporter the relay runs (the reference's `telemetrygatewayexporter` jobs): every
//! `interval` (and at once when the queue has grown by `size_trigger` events since the last
//! export) it drains the queue with [`Exporter::run_once`] — the code `telemetry-gateway export`
//! uses — until nothing is left or a run is imperfect, then retries with back-off; on its own
//! intervals it prunes exported rows after the retention and refreshes the queue gauges.
//!
//! Shutdown: no new run starts; a run in progress gets `shutdown_grace` to finish, then its
//! stream is abandoned — what was acknowledged is still marked, the rest stays queued.

use super::metrics::ExportMetrics;
use super::run::{Exporter, retry_delay};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

/// The worker's schedule.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// Time between exports (upstream default 5 minutes).
    pub interval: Duration,
    /// Export at once when this many events were queued since the last export (0: never).
    pub size_trigger: u64,
    /// Time between cleanups of exported rows (upstream default 30 minutes).
    pub cleanup_interval: Duration,
    /// Time between refreshes of the queue gauges.
    pub metrics_interval: Duration,
    /// How long a run in progress may go on after shutdown begins.
    pub shutdown_grace: Duration,
}

/// Wakes the worker early: the relay counts what it queued here.
#[derive(Debug, Default)]
pub struct ExportTrigger {
    queued_since_export: AtomicU64,
    threshold: u64,
    notify: Notify,
}

impl ExportTrigger {
    /// A trigger firing at `threshold` queued events (0: never).
    pub fn new(threshold: u64) -> Self {
        ExportTrigger {
            threshold,
            ..Default::default()
        }
    }

    /// Counts `n` newly queued events; wakes the worker when the threshold is passed.
    pub fn queued(&self, n: u64) {
        let total = self.queued_since_export.fetch_add(n, Ordering::Relaxed) + n;
        if self.threshold > 0 && total >= self.threshold {
            self.notify.notify_one();
        }
    }

    fn reset(&self) {
        self.queued_since_export.store(0, Ordering::Relaxed);
    }
}

/// The running worker's tasks.
pub struct Worker {
    handles: Vec<JoinHandle<()>>,
}

impl Worker {
    /// Waits for every task to end (after the shutdown signal).
    pub async fn join(self) {
        for h in self.handles {
            let _ = h.await;
        }
    }
}

async fn shutdown_then(mut rx: watch::Receiver<bool>, grace: Duration) {
    let _ = rx.wait_for(|stop| *stop).await;
    tokio::time::sleep(grace).await;
}

/// Starts the export loop, the cleanup loop and the gauge loop; they end when `shutdown`
/// becomes true.
pub fn spawn(
    mut exporter: Exporter,
    opts: WorkerOptions,
    trigger: Arc<ExportTrigger>,
    metrics: ExportMetrics,
    shutdown: watch::Receiver<bool>,
) -> Worker {
    let queue = exporter.queue().clone();
    let retention = exporter.options().retention;
    let mut handles = Vec::new();

    // Export loop.
    {
        let mut stop = shutdown.clone();
        let opts = opts.clone();
        let trigger = trigger.clone();
        handles.push(tokio::spawn(async move {
            let mut failures: u32 = 0;
            // The first export soon after start: events may be waiting from a previous run.
            let mut wait = Duration::from_secs(1).min(opts.interval);
            loop {
                tokio::select! {
                    _ = stop.wait_for(|s| *s) => break,
                    () = tokio::time::sleep(wait) => {}
                    () = trigger.notify.notified() => {}
                }
                trigger.reset();
                wait = opts.interval;
                loop {
                    if *stop.borrow() {
                        break;
                    }
                    let cancel = shutdown_then(stop.clone(), opts.shutdown_grace);
                    match exporter.run_once(cancel).await {
                        Ok(run) if run.claimed == 0 => {
                            failures = 0;
                            break;
                        }
                        Ok(run) if run.perfect() => {
                            failures = 0;
                            tracing::info!(exported = run.marked, "export run done");
                        }
                        Ok(run) => {
                            failures = if run.progressed() { 0 } else { failures + 1 };
                            wait = retry_delay(exporter.options(), failures).min(opts.interval);
                            tracing::warn!(
                                acknowledged = run.acknowledged,
                                sent = run.sent,
                                refused = run.refused,
                                set_aside = run.set_aside,
                                error = run.error.as_deref().unwrap_or(""),
                                retry_in_ms = wait.as_millis() as u64,
                                "export run incomplete; the rest stays queued"
                            );
                            break;
                        }
                        Err(e) => {
                            failures += 1;
                            wait = retry_delay(exporter.options(), failures).min(opts.interval);
                            tracing::error!(error = %e, retry_in_ms = wait.as_millis() as u64, "export run failed: queue error");
                            break;
                        }
                    }
                }
            }
            tracing::info!("exporter stopped");
        }));
    }

    // Cleanup loop.
    {
        let mut stop = shutdown.clone();
        let queue = queue.clone();
        let metrics = metrics.clone();
        let every = opts.cleanup_interval;
        handles.push(tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stop.wait_for(|s| *s) => break,
                    () = tokio::time::sleep(every) => {}
                }
                match queue.prune(retention, SystemTime::now()).await {
                    Ok(n) => {
                        metrics.pruned.inc_by(n);
                        if n > 0 {
                            tracing::info!(pruned = n, "pruned exported events");
                        }
                    }
                    Err(e) => tracing::error!(error = %e, "queue cleanup failed"),
                }
            }
        }));
    }

    // Gauge loop.
    {
        let mut stop = shutdown;
        let every = opts.metrics_interval;
        handles.push(tokio::spawn(async move {
            loop {
                match queue.stats(SystemTime::now()).await {
                    Ok(stats) => metrics.record_stats(&stats),
                    Err(e) => tracing::warn!(error = %e, "queue stats failed"),
                }
                tokio::select! {
                    _ = stop.wait_for(|s| *s) => break,
                    () = tokio::time::sleep(every) => {}
                }
            }
        }));
    }
    Worker { handles }
}
