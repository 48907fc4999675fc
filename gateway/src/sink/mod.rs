//! Where published messages go. Every sink implements [`Sink`]; the server only knows the trait.
//!
//! The server hands a sink one [`Batch`] per group of messages from one payload (one channel
//! send and one group commit per batch, not per event). A sink has *accepted* a message when
//! `publish` reports it as not failed: only then is the event acknowledged to the client. A failed
//! message (or a batch slower than the server's publish timeout) leaves its events
//! unacknowledged, so the client retries them. What "accepted" survives depends on the sink (see
//! the README).

pub mod dead_letter;
pub mod fault;
pub mod file;
pub mod lines;
pub mod pubsub;
pub mod stdout;

use crate::admission::Reservation;
use async_trait::async_trait;
use std::sync::Arc;
use telemetry_core::Message;

/// An error from a sink. Publish errors are retryable from the client's point of view.
pub type SinkError = anyhow::Error;

/// Messages to publish together, and the memory they are charged for (released when the sink
/// lets go of them, even if the publish timed out and they wait in a queue).
#[derive(Debug, Default)]
pub struct Batch {
    /// The messages.
    pub messages: Vec<Message>,
    /// The bytes these messages hold against the memory budget.
    pub charge: Reservation,
}

impl Batch {
    /// A batch without a charge (tests, tools).
    pub fn of(messages: Vec<Message>) -> Self {
        Batch {
            messages,
            charge: Reservation::default(),
        }
    }
}

/// Which messages of a batch the sink did not accept, by index, and why. Empty: all accepted.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BatchResult {
    /// `(index in the batch, reason)`, in index order.
    pub failed: Vec<(usize, String)>,
}

impl BatchResult {
    /// Every message accepted.
    pub fn ok() -> Self {
        BatchResult::default()
    }

    /// All `n` messages failed for `reason`.
    pub fn all_failed(n: usize, reason: &str) -> Self {
        BatchResult {
            failed: (0..n).map(|i| (i, reason.to_string())).collect(),
        }
    }

    /// Whether every message was accepted.
    pub fn is_ok(&self) -> bool {
        self.failed.is_empty()
    }
}

/// A destination for published messages.
#[async_trait]
pub trait Sink: Send + Sync + 'static {
    /// Publishes a batch; reports which messages were not accepted. A message reported as
    /// accepted will not be lost by the gateway. A sink gives up at `deadline`, and what it
    /// had not started writing by then it never writes (as far as the destination allows).
    async fn publish(&self, batch: Batch, deadline: tokio::time::Instant) -> BatchResult;
    /// Flushes anything buffered (called at shutdown).
    async fn flush(&self) -> Result<(), SinkError>;
    /// Whether the sink can currently accept messages (gRPC health, `/healthz`); reports the
    /// last write error.
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
    /// `pubsub-limits:SPEC` (FOR TESTING ONLY): wraps SPEC, batching concurrent publishes into
    /// requests that fail as a whole when one message breaks Pub/Sub's limits, as Pub/Sub does.
    PubSubLimits {
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
        if let Some(rest) = s.strip_prefix("pubsub-limits:") {
            return Ok(SinkSpec::PubSubLimits {
                inner: Box::new(rest.parse()?),
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
    /// File sinks: fsync the file before acknowledging (one fsync per group of writes).
    pub fsync: bool,
}

/// Builds the sink a specification describes.
pub async fn build(spec: &SinkSpec, options: &SinkOptions) -> Result<Arc<dyn Sink>, SinkError> {
    Ok(match spec {
        SinkSpec::File(path) => Arc::new(file::FileSink::open(path, options.fsync)?),
        SinkSpec::Stdout => Arc::new(stdout::StdoutSink::new()?),
        SinkSpec::PubSub { topic } => {
            Arc::new(pubsub::PubSubSink::connect(topic, options.pubsub_endpoint.as_deref()).await?)
        }
        SinkSpec::Fault { rate, inner } => {
            let inner = Box::pin(build(inner, options)).await?;
            Arc::new(fault::FaultSink::new(*rate, inner))
        }
        SinkSpec::PubSubLimits { inner } => {
            let inner = Box::pin(build(inner, options)).await?;
            Arc::new(fault::PubSubLimitsSink::new(inner))
        }
    })
}
