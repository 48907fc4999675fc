//! The optional dead-letter sink: every rejected (non-retryable) event is recorded there with a
//! machine-readable reason, so operators can see what was refused and why.
//!
//! Each dead letter is a message whose body is the JSON object
//! `{"reason", "error", "eventId", "publisherSource", "requestId", "rpc", "eventProtobuf"}`
//! (`eventProtobuf`: the event's protobuf wire encoding, standard base64, so nothing is lost
//! even when the event cannot be rendered as JSON) and whose attributes are
//! `dead_letter.reason` and `publisher.source`. Failing to write a dead letter is logged; it does
//! not change the acknowledgement.

use super::Sink;
use base64::Engine;
use std::collections::BTreeMap;
use std::sync::Arc;
use telemetry_core::{EventError, Message, proto::Event};

/// The machine-readable reason for a rejection.
pub fn reason(error: &EventError) -> &'static str {
    match error {
        EventError::IdRequired => "event_id_required",
        EventError::FeatureAction(_) => "invalid_feature_or_action",
        EventError::TimestampRequired => "event_timestamp_required",
        EventError::Marshal(_) => "marshal_failed",
    }
}

/// Context of a rejection.
pub struct Rejection<'a> {
    /// The rejected event.
    pub event: &'a Event,
    /// Why.
    pub error: &'a EventError,
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
        "reason": reason(r.error),
        "error": r.error.to_string(),
        "eventId": r.event.id,
        "publisherSource": r.source,
        "requestId": r.request_id,
        "rpc": r.rpc,
        "eventProtobuf": base64::engine::general_purpose::STANDARD
            .encode(prost::Message::encode_to_vec(r.event)),
    });
    let mut attributes = BTreeMap::new();
    attributes.insert(
        "dead_letter.reason".to_string(),
        reason(r.error).to_string(),
    );
    attributes.insert("publisher.source".to_string(), r.source.to_string());
    Message {
        data: body.to_string().into_bytes(),
        attributes,
    }
}

/// Records rejections into a sink.
#[derive(Clone)]
pub struct DeadLetters {
    sink: Arc<dyn Sink>,
}

impl DeadLetters {
    /// Wraps the dead-letter sink.
    pub fn new(sink: Arc<dyn Sink>) -> Self {
        DeadLetters { sink }
    }

    /// The underlying sink.
    pub fn sink(&self) -> &Arc<dyn Sink> {
        &self.sink
    }

    /// Records one rejection (errors are logged, not returned).
    pub async fn record(&self, rejection: &Rejection<'_>) {
        if let Err(e) = self.sink.publish(&message(rejection)).await {
            tracing::error!(error = %e, event_id = %rejection.event.id, "failed to write dead letter");
        }
    }
}
