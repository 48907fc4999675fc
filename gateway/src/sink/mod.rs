//! Where published messages go. Every sink implements [`Sink`]; the server only knows the trait.
//!
//! A sink has *accepted* a message when `publish` returns `Ok`: only then is the event
//! acknowledged to the client. An error (or a publish slower than the server's publish timeout)
//! leaves the event unacknowledged, so the client retries it.

pub mod dead_letter;
pub mod fault;
pub mod file;
pub mod lines;
pub mod pubsub;
pub mod stdout;

use async_trait::async_trait;
use std::sync::Arc;
use telemetry_core::Message;

/// An error from a sink. Publish errors are retryable from the client's point of view.
pub type SinkError = anyhow::Error;

/// A destination for published messages.
#[async_trait]
pub trait Sink: Send + Sync + 'static {
    /// Publishes one message; `Ok` means the sink accepted it (it will not be lost by the gateway).
    async fn publish(&self, message: &Message) -> Result<(), SinkError>;
    /// Flushes anything buffered (called at shutdown).
    async fn flush(&self) -> Result<(), SinkError>;
    /// Whether the sink can currently accept messages (reported by gRPC health).
    async fn health(&self) -> Result<(), SinkError>;
    /// A human-readable description of where messages go, for logs.
    fn describe(&self) -> String;
}

/// A sink specification, as given to `--sink` / `--dead-letter-sink`.
#[derive(Debug, Clone, PartialEq)]
pub enum SinkSpec {
    /// `file:PATH`: NDJSON lines `{"data": "<body>", "attributes": {...}}` appended to PATH.
    File(std::path::PathBuf),
    /// `stdout`: the same NDJSON lines on standard output.
    Stdout,
    /// `pubsub:projects/P/topics/T`: Google Cloud Pub/Sub.
    PubSub {
        /// The full topic name.
        topic: String,
    },
    /// `fault:RATE:SPEC` (FOR TESTING ONLY): wraps SPEC and fails a deterministic share RATE
    /// (0.0–1.0) of publishes without forwarding them.
    Fault {
        /// Share of publishes that fail.
        rate: f64,
        /// The wrapped sink.
        inner: Box<SinkSpec>,
    },
}

impl std::str::FromStr for SinkSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "stdout" {
            return Ok(SinkSpec::Stdout);
        }
        if let Some(path) = s.strip_prefix("file:") {
            if path.is_empty() {
                return Err("file: needs a path, e.g. file:./telemetry-events.ndjson".into());
            }
            return Ok(SinkSpec::File(path.into()));
        }
        if let Some(topic) = s.strip_prefix("pubsub:") {
            let parts: Vec<&str> = topic.split('/').collect();
            let valid = parts.len() == 4
                && parts.first() == Some(&"projects")
                && parts.get(2) == Some(&"topics")
                && parts.iter().all(|p| !p.is_empty());
            if !valid {
                return Err(format!(
                    "pubsub sink must be pubsub:projects/PROJECT/topics/TOPIC, got {s:?}"
                ));
            }
            return Ok(SinkSpec::PubSub {
                topic: topic.to_string(),
            });
        }
        if let Some(rest) = s.strip_prefix("fault:") {
            let (rate, inner) = rest
                .split_once(':')
                .ok_or_else(|| "fault sink must be fault:RATE:SPEC".to_string())?;
            let rate: f64 = rate
                .parse()
                .map_err(|e| format!("fault sink rate {rate:?}: {e}"))?;
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!("fault sink rate must be within 0..=1, got {rate}"));
            }
            return Ok(SinkSpec::Fault {
                rate,
                inner: Box::new(inner.parse()?),
            });
        }
        Err(format!(
            "unknown sink {s:?}: expected file:PATH, stdout, or pubsub:projects/P/topics/T"
        ))
    }
}

/// Options for building sinks that only some kinds use.
#[derive(Debug, Clone, Default)]
pub struct SinkOptions {
    /// Pub/Sub endpoint override (e.g. `http://127.0.0.1:8085` for the emulator); implies
    /// anonymous credentials.
    pub pubsub_endpoint: Option<String>,
}

/// Builds the sink a specification describes.
pub async fn build(spec: &SinkSpec, options: &SinkOptions) -> Result<Arc<dyn Sink>, SinkError> {
    Ok(match spec {
        SinkSpec::File(path) => Arc::new(file::FileSink::open(path).await?),
        SinkSpec::Stdout => Arc::new(stdout::StdoutSink::new()),
        SinkSpec::PubSub { topic } => {
            Arc::new(pubsub::PubSubSink::connect(topic, options.pubsub_endpoint.as_deref()).await?)
        }
        SinkSpec::Fault { rate, inner } => {
            let inner = Box::pin(build(inner, options)).await?;
            Arc::new(fault::FaultSink::new(*rate, inner))
        }
    })
}
