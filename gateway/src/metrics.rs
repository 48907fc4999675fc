//! Prometheus metrics, served on the diagnostics HTTP port at `/metrics`.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder, exponential_buckets,
};

/// The gateway's metrics.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// RPCs finished, by `rpc` and gRPC `code`.
    pub requests: IntCounterVec,
    /// Events by `outcome` (published, dropped_oversized, rejected, publish_failed) and
    /// publisher `kind`.
    pub events: IntCounterVec,
    /// Events per `EventsPayload`.
    pub payload_events: HistogramVec,
    /// Published message body sizes, bytes.
    pub message_bytes: HistogramVec,
    /// Time for the sink to accept one batch, seconds, by `result`.
    pub publish_latency: HistogramVec,
    /// Time to process one payload (publish all and answer), seconds.
    pub payload_latency: HistogramVec,
    /// Times a limit bit, by `limit` (see `limits::Limit`).
    pub limit_hits: IntCounterVec,
    /// Open client connections.
    pub connections_open: IntGauge,
    /// Open `RecordEvents` streams.
    pub streams_open: IntGauge,
    /// Bytes held against the in-flight budget, by `pool` (`receive`, `process`).
    pub inflight_bytes: IntGaugeVec,
    /// Dead letters by `result` (written, failed, dropped).
    pub dead_letters: IntCounterVec,
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Self {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "telemetry_gateway_requests_total",
                "RPCs finished, by rpc and gRPC status code.",
            ),
            &["rpc", "code"],
        )
        .expect("valid metric");
        let events = IntCounterVec::new(
            Opts::new(
                "telemetry_gateway_events_total",
                "Events processed, by outcome and publisher kind.",
            ),
            &["outcome", "kind"],
        )
        .expect("valid metric");
        let payload_events = HistogramVec::new(
            HistogramOpts::new(
                "telemetry_gateway_payload_events",
                "Events per EventsPayload (or per RecordEvent call).",
            )
            .buckets(exponential_buckets(1.0, 4.0, 10).expect("valid buckets")),
            &["rpc"],
        )
        .expect("valid metric");
        let message_bytes = HistogramVec::new(
            HistogramOpts::new(
                "telemetry_gateway_message_bytes",
                "Size of message bodies sent to the sink, in bytes.",
            )
            .buckets(exponential_buckets(256.0, 4.0, 10).expect("valid buckets")),
            &["kind"],
        )
        .expect("valid metric");
        let publish_latency = HistogramVec::new(
            HistogramOpts::new(
                "telemetry_gateway_publish_duration_seconds",
                "Time for the sink to accept one message.",
            )
            .buckets(exponential_buckets(0.0001, 3.0, 14).expect("valid buckets")),
            &["result"],
        )
        .expect("valid metric");
        let payload_latency = HistogramVec::new(
            HistogramOpts::new(
                "telemetry_gateway_payload_duration_seconds",
                "Time to process one payload, from receipt to response.",
            )
            .buckets(exponential_buckets(0.0005, 3.0, 14).expect("valid buckets")),
            &["rpc"],
        )
        .expect("valid metric");
        let limit_hits = IntCounterVec::new(
            Opts::new(
                "telemetry_gateway_limit_hits_total",
                "Times a limit bit (a request refused, a stream ended or slowed, a connection closed), by limit.",
            ),
            &["limit"],
        )
        .expect("valid metric");
        let connections_open = IntGauge::new(
            "telemetry_gateway_connections_open",
            "Open client connections.",
        )
        .expect("valid metric");
        let streams_open = IntGauge::new(
            "telemetry_gateway_streams_open",
            "Open RecordEvents streams.",
        )
        .expect("valid metric");
        let inflight_bytes = IntGaugeVec::new(
            Opts::new(
                "telemetry_gateway_inflight_bytes",
                "Bytes held against the in-flight budget (--max-inflight-bytes), by pool.",
            ),
            &["pool"],
        )
        .expect("valid metric");
        let dead_letters = IntCounterVec::new(
            Opts::new(
                "telemetry_gateway_dead_letters_total",
                "Dead letters by result (written, failed, dropped).",
            ),
            &["result"],
        )
        .expect("valid metric");
        for c in [
            Box::new(limit_hits.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(connections_open.clone()),
            Box::new(streams_open.clone()),
            Box::new(inflight_bytes.clone()),
            Box::new(dead_letters.clone()),
        ] {
            registry.register(c).expect("unique metric");
        }
        for c in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(events.clone()),
            Box::new(payload_events.clone()),
            Box::new(message_bytes.clone()),
            Box::new(publish_latency.clone()),
            Box::new(payload_latency.clone()),
        ] {
            registry.register(c).expect("unique metric");
        }
        Metrics {
            registry,
            requests,
            events,
            payload_events,
            message_bytes,
            publish_latency,
            payload_latency,
            limit_hits,
            connections_open,
            streams_open,
            inflight_bytes,
            dead_letters,
        }
    }

    /// Counts one hit of a limit.
    pub fn limit_hit(&self, limit: crate::limits::Limit) {
        self.limit_hits.with_label_values(&[limit.label()]).inc();
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
