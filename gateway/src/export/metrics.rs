//! The exporter's Prometheus metrics (the reference's `src_telemetrygatewayexporter_*`,
//! under this project's `telemetry_export_` prefix), registered into a caller's registry.

use super::queue::QueueStats;
use super::run::RunReport;
use prometheus::{
    Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    exponential_buckets,
};

/// The exporter's metrics.
#[derive(Clone)]
pub struct ExportMetrics {
    /// Rows waiting to be exported (set-aside rows excluded).
    pub queue_size: IntGauge,
    /// Seconds since the oldest waiting event's timestamp.
    pub oldest_unexported_seconds: IntGauge,
    /// Unexported rows set aside after repeated refusals.
    pub set_aside_size: IntGauge,
    /// Events per run.
    pub batch_size: Histogram,
    /// Events acknowledged and marked exported.
    pub exported: IntCounter,
    /// Exported rows pruned after the retention.
    pub pruned: IntCounter,
    /// Refusals (an id a complete stream did not acknowledge).
    pub refused: IntCounter,
    /// Rows set aside.
    pub set_aside: IntCounter,
    /// Runs by `result` (`ok`, `partial`, `failed`).
    pub runs: IntCounterVec,
}

impl ExportMetrics {
    /// Creates the metrics and registers them into `registry`.
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let m = ExportMetrics {
            queue_size: IntGauge::new(
                "telemetry_export_queue_size",
                "Events waiting in the export queue (set-aside events excluded).",
            )?,
            oldest_unexported_seconds: IntGauge::new(
                "telemetry_export_queue_oldest_unexported_seconds",
                "Age in seconds of the oldest event waiting to be exported (0 when none).",
            )?,
            set_aside_size: IntGauge::new(
                "telemetry_export_queue_set_aside",
                "Unexported events set aside after repeated refusals (re-queue to retry).",
            )?,
            batch_size: Histogram::with_opts(
                HistogramOpts::new("telemetry_export_batch_size", "Events sent per export run.")
                    .buckets(exponential_buckets(1.0, 2.8, 10)?),
            )?,
            exported: IntCounter::new(
                "telemetry_export_exported_events_total",
                "Events acknowledged by the gateway and marked exported.",
            )?,
            pruned: IntCounter::new(
                "telemetry_export_pruned_events_total",
                "Exported events deleted after the retention period.",
            )?,
            refused: IntCounter::new(
                "telemetry_export_refused_events_total",
                "Events a complete RecordEvents stream did not acknowledge.",
            )?,
            set_aside: IntCounter::new(
                "telemetry_export_set_aside_events_total",
                "Events set aside after repeated refusals or because they do not decode.",
            )?,
            runs: IntCounterVec::new(
                Opts::new("telemetry_export_runs_total", "Export runs by result."),
                &["result"],
            )?,
        };
        registry.register(Box::new(m.queue_size.clone()))?;
        registry.register(Box::new(m.oldest_unexported_seconds.clone()))?;
        registry.register(Box::new(m.set_aside_size.clone()))?;
        registry.register(Box::new(m.batch_size.clone()))?;
        registry.register(Box::new(m.exported.clone()))?;
        registry.register(Box::new(m.pruned.clone()))?;
        registry.register(Box::new(m.refused.clone()))?;
        registry.register(Box::new(m.set_aside.clone()))?;
        registry.register(Box::new(m.runs.clone()))?;
        Ok(m)
    }

    /// Counts one run.
    pub fn record_run(&self, run: &RunReport) {
        if run.claimed == 0 {
            return;
        }
        self.exported.inc_by(run.marked);
        self.refused.inc_by(run.refused as u64);
        self.set_aside.inc_by(run.set_aside);
        let result = if run.perfect() {
            "ok"
        } else if run.acknowledged > 0 {
            "partial"
        } else {
            "failed"
        };
        self.runs.with_label_values(&[result]).inc();
    }

    /// Sets the queue gauges.
    pub fn record_stats(&self, stats: &QueueStats) {
        self.queue_size
            .set(i64::try_from(stats.unexported).unwrap_or(i64::MAX));
        self.set_aside_size
            .set(i64::try_from(stats.set_aside).unwrap_or(i64::MAX));
        self.oldest_unexported_seconds
            .set(i64::try_from(stats.oldest_unexported_age_seconds).unwrap_or(i64::MAX));
    }
}
