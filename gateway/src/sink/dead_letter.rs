//! The optional dead-letter sink: every rejected (non-retryable) event is recorded there with a
//! machine-readable reason, so operators can see what was refused and why.
//!
//! Each dead letter is a message whose body is the JSON object
//! `{"reason", "error", "eventId", "publisherSource", "requestId", "rpc", "eventProtobuf"}`
//! (`eventProtobuf`: the event's protobuf wire encoding as received, standard base64, so nothing
//! is lost even when the event cannot be rendered as JSON) and whose attributes are
//! `dead_letter.reason` and `publisher.source`.
//!
//! Dead letters never delay acknowledgements: they are queued (at most
//! `--dead-letter-queue-bytes`) and written by a background task, in batches, each write
//! abandoned after `--dead-letter-timeout-seconds`. A dead letter that does not fit the queue,
//! or whose write fails, is dropped, counted (`telemetry_gateway_dead_letters_total`) and logged
//! (rate-limited); it does not change the event's acknowledgement.

use super::{Batch, BatchResult, Sink};
use crate::admission::{MemoryBudget, Reservation};
use crate::limits::{Limit, Limits};
use crate::log_limit::{Clip, EventLogKind, EventLogLimiter};
use crate::metrics::Metrics;
use base64::Engine;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use telemetry_core::{EventError, Message};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// The machine-readable reason for a rejection by the core's rules.
pub fn reason(error: &EventError) -> &'static str {
    match error {
        EventError::IdRequired => "event_id_required",
        EventError::FeatureAction(_) => "invalid_feature_or_action",
        EventError::TimestampRequired => "event_timestamp_required",
        EventError::Marshal(_) => "marshal_failed",
        EventError::PubSubLimit(_) => "pubsub_limits",
    }
}

/// Context of a rejection.
pub struct Rejection<'a> {
    /// The rejected event's id.
    pub event_id: &'a str,
    /// The rejected event's protobuf encoding, as received.
    pub event_protobuf: &'a [u8],
    /// The machine-readable reason ([`reason`], or `too_large_to_process` for an event the
    /// gateway refused to decode).
    pub reason: &'a str,
    /// Why, for people.
    pub error: &'a str,
    /// `publisher.source`.
    pub source: &'a str,
    /// The stream's request id.
    pub request_id: &'a str,
    /// `RecordEvents` or `RecordEvent`.
    pub rpc: &'a str,
}

/// Renders the dead-letter message for a rejection.
pub fn message(r: &Rejection<'_>) -> Message {
    let body = serde_json::json!({
        "reason": r.reason,
        "error": r.error,
        "eventId": r.event_id,
        "publisherSource": r.source,
        "requestId": r.request_id,
        "rpc": r.rpc,
        "eventProtobuf": base64::engine::general_purpose::STANDARD.encode(r.event_protobuf),
    });
    let mut attributes = BTreeMap::new();
    attributes.insert("dead_letter.reason".to_string(), r.reason.to_string());
    attributes.insert("publisher.source".to_string(), r.source.to_string());
    Message {
        data: body.to_string().into_bytes(),
        attributes,
    }
}

/// A queued dead letter, its budget, and who to tell when it is written (or given up).
type Queued = (Message, Reservation, oneshot::Sender<()>);

/// Dead letters queued per write at most.
const BATCH: usize = 256;

/// Records rejections into a sink, off the acknowledgement path (see the module docs).
#[derive(Clone)]
pub struct DeadLetters {
    sink: Arc<dyn Sink>,
    queue: mpsc::UnboundedSender<Queued>,
    budget: MemoryBudget,
    metrics: Metrics,
    logs: EventLogLimiter,
}

impl DeadLetters {
    /// Wraps the dead-letter sink and starts its writer task.
    pub fn new(
        sink: Arc<dyn Sink>,
        limits: &Limits,
        metrics: Metrics,
        logs: EventLogLimiter,
    ) -> Self {
        let (queue, rx) = mpsc::unbounded_channel();
        tokio::spawn(write_loop(
            sink.clone(),
            rx,
            limits.dead_letter_timeout,
            metrics.clone(),
            logs.clone(),
        ));
        DeadLetters {
            sink,
            queue,
            budget: MemoryBudget::new(limits.dead_letter_queue_bytes),
            metrics,
            logs,
        }
    }

    /// The underlying sink.
    pub fn sink(&self) -> &Arc<dyn Sink> {
        &self.sink
    }

    /// Queues one rejection; never waits. Returns a signal that completes when the dead letter
    /// was written or given up (`None` if it was dropped).
    pub fn record(&self, rejection: &Rejection<'_>) -> Option<oneshot::Receiver<()>> {
        let m = message(rejection);
        let cost = m.data.len() + 512;
        let (done, written) = oneshot::channel();
        let queued = self
            .budget
            .try_reserve(cost)
            .filter(|r| r.bytes() >= cost)
            .and_then(|charge| self.queue.send((m, charge, done)).ok());
        if queued.is_some() {
            return Some(written);
        }
        {
            self.metrics
                .dead_letters
                .with_label_values(&["dropped"])
                .inc();
            self.metrics
                .limit_hits
                .with_label_values(&[Limit::DeadLetterQueue.label()])
                .inc();
            if let Some(suppressed) = self.logs.check(EventLogKind::DeadLetter) {
                tracing::error!(
                    event_id = %Clip(rejection.event_id),
                    suppressed,
                    "dead letter dropped: the dead-letter queue is full (--dead-letter-queue-bytes)"
                );
            }
        }
        None
    }
}

async fn write_loop(
    sink: Arc<dyn Sink>,
    mut rx: mpsc::UnboundedReceiver<Queued>,
    timeout: Duration,
    metrics: Metrics,
    logs: EventLogLimiter,
) {
    let mut items: Vec<Queued> = Vec::with_capacity(BATCH);
    let mut notify = Vec::with_capacity(BATCH);
    while rx.recv_many(&mut items, BATCH).await > 0 {
        let n = items.len();
        let mut charge = Reservation::default();
        let mut messages = Vec::with_capacity(n);
        for (m, r, done) in items.drain(..) {
            messages.push(m);
            charge.merge(r);
            notify.push(done);
        }
        let deadline = Instant::now() + timeout;
        // The sink honours the deadline; the outer timeout guards against one that does not.
        let result = tokio::time::timeout_at(
            deadline + Duration::from_secs(1),
            sink.publish(Batch { messages, charge }, deadline),
        )
        .await
        .unwrap_or_else(|_| BatchResult::all_failed(n, "dead-letter write timed out"));
        for done in notify.drain(..) {
            let _ = done.send(());
        }
        let failed = result.failed.len();
        metrics
            .dead_letters
            .with_label_values(&["written"])
            .inc_by((n - failed) as u64);
        if let Some((_, reason)) = result.failed.first() {
            metrics
                .dead_letters
                .with_label_values(&["failed"])
                .inc_by(failed as u64);
            if let Some(suppressed) = logs.check(EventLogKind::DeadLetter) {
                tracing::error!(failed, error = %reason, suppressed, "failed to write dead letters");
            }
        }
    }
}
