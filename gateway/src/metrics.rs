//! Prometheus metrics, served on the diagnostics HTTP port at `/metrics`.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
    exponential_buckets,
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
    /// Time to publish one message to the sink, seconds, by `result`.
    pub publish_latency: HistogramVec,
    /// Time to process one payload (publish all and answer), seconds.
    pub payload_latency: HistogramVec,
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
                "Size of published message bodies in bytes.",
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
        }
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
