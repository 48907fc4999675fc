//! JSON-string entry points shared by every target.
//!
//! Each operation takes the JSON `input` object of a conformance case and returns the JSON
//! `expect`-shaped answer (see `tests/conformance/README.md`). The WASM bindings expose these
//! functions unchanged, and the native and Node conformance runners call them, so every target
//! runs the same code path. Answers are values: a failing operation answers `{"error": …}`;
//! only a malformed *request* (unknown op, missing input field) is an [`FfiError`].

#[cfg(feature = "ingest")]
use crate::ingest::{Acknowledgement, Outcome, Rpc, ingest, succeeded_events};
use crate::json::{self, event_to_json};
use crate::policy::RedactionPolicy;
use crate::proto::{
    Event, RecordEventRequest, RecordEventsRequest, RecordEventsResponse, record_events_request,
};
use crate::record::{RecordContext, TelemetryEventInput, record};
#[cfg(feature = "translate")]
use crate::translate::{MAX_MESSAGE_BYTES, Message, Publisher, Translation, translate};
use crate::validate::validate_event;
use prost::Message as _;
use serde_json::{Map, Value as Json, json};

/// A request the entry points cannot run at all (as opposed to an operation that fails, which
/// answers `{"error": …}`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FfiError {
    /// The op name is not one of `validate`, `redact`, `translate`, `ingest`, `record`.
    #[error("unknown op {0:?}")]
    UnknownOp(String),
    /// The input is not JSON, not an object, or lacks a required field.
    #[error("malformed input: {0}")]
    MalformedInput(String),
    /// Protobuf bytes that do not decode.
    #[error("protobuf decode error: {0}")]
    Decode(String),
    /// An op this build leaves out (the slim client build has no `translate` or `ingest`).
    #[error("op {0:?} is not in this build (the client build runs validate, redact and record)")]
    NotInThisBuild(&'static str),
}

/// The operations of the conformance corpus.
pub const OPS: [&str; 5] = ["validate", "redact", "translate", "ingest", "record"];

fn field<'a>(input: &'a Json, name: &str) -> Result<&'a Json, FfiError> {
    input
        .get(name)
        .ok_or_else(|| FfiError::MalformedInput(format!("input has no {name:?}")))
}

/// An operation's answer as JSON text: the form every target hands back, built directly (an
/// event answer embeds the writer's bytes instead of re-parsing and re-serializing them).
type Answer = String;

fn error_answer(e: impl std::fmt::Display) -> Answer {
    json!({ "error": e.to_string() }).to_string()
}

/// Parses JSON the writer produced (always valid) into a value.
fn written_json(bytes: &[u8]) -> Json {
    serde_json::from_slice(bytes).unwrap_or(Json::Null)
}

/// `{"event": <the writer's bytes>}`.
fn event_answer(event: &Event) -> Answer {
    let mut out = Vec::with_capacity(2048);
    out.extend_from_slice(br#"{"event":"#);
    match json::append_event_json(&mut out, event) {
        Ok(()) => {
            out.push(b'}');
            String::from_utf8(out).unwrap_or_else(error_answer)
        }
        Err(e) => error_answer(format!("marshalling event: {e}")),
    }
}

#[cfg(feature = "translate")]
fn max_bytes(input: &Json) -> Result<usize, FfiError> {
    match input.get("maxMessageBytes") {
        None | Some(Json::Null) => Ok(MAX_MESSAGE_BYTES),
        Some(v) => v
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| {
                FfiError::MalformedInput("maxMessageBytes must be a non-negative integer".into())
            }),
    }
}

#[cfg(feature = "translate")]
/// The fields of a published message: `"payload":…,"attributes":{…}` (without braces).
fn message_fields(out: &mut String, m: &Message) {
    out.push_str(r#""payload":"#);
    // The body is UTF-8 JSON written by the core; serde_json escapes it as a JSON string.
    out.push_str(&Json::String(String::from_utf8_lossy(&m.data).into_owned()).to_string());
    out.push_str(r#","attributes":"#);
    out.push_str(&json!(m.attributes).to_string());
}

#[cfg(feature = "translate")]
fn message_answer(m: &Message) -> Answer {
    let mut out = String::with_capacity(m.data.len() * 2 + 256);
    out.push('{');
    message_fields(&mut out, m);
    out.push('}');
    out
}

/// Runs one operation on a parsed input and returns its answer as JSON text.
pub fn run_op_text(op: &str, input: &Json) -> Result<String, FfiError> {
    if !input.is_object() {
        return Err(FfiError::MalformedInput("input must be an object".into()));
    }
    match op {
        "validate" => validate_value(input),
        "redact" => redact_value(input),
        #[cfg(feature = "translate")]
        "translate" => translate_value(input),
        #[cfg(feature = "ingest")]
        "ingest" => ingest_value(input),
        #[cfg(not(feature = "translate"))]
        "translate" => Err(FfiError::NotInThisBuild("translate")),
        #[cfg(not(feature = "ingest"))]
        "ingest" => Err(FfiError::NotInThisBuild("ingest")),
        "record" => record_value(input),
        other => Err(FfiError::UnknownOp(other.to_string())),
    }
}

/// Runs one operation on a parsed input and returns its answer as a parsed value (what the
/// conformance comparison needs).
pub fn run_op_value(op: &str, input: &Json) -> Result<Json, FfiError> {
    run_op_text(op, input).map(|text| written_json(text.as_bytes()))
}

/// Runs one operation on a JSON text input and returns the JSON text answer.
pub fn run_op(op: &str, input: &str) -> Result<String, FfiError> {
    run_op_text(op, &parse_input(input)?)
}

/// Parses a JSON text input, refusing documents over [`json::MAX_JSON_INPUT_BYTES`].
pub fn parse_input(text: &str) -> Result<Json, FfiError> {
    if text.len() > json::MAX_JSON_INPUT_BYTES {
        return Err(FfiError::MalformedInput(format!(
            "input is {} bytes, more than the limit of {}",
            text.len(),
            json::MAX_JSON_INPUT_BYTES
        )));
    }
    serde_json::from_str(text).map_err(|e| FfiError::MalformedInput(format!("not valid JSON: {e}")))
}

/// `{"event"}` → `{"ok": true}` or `{"error"}` (JSON text).
pub fn validate_value(input: &Json) -> Result<Answer, FfiError> {
    let event = match json::parse_event_value(field(input, "event")?) {
        Ok(e) => e,
        Err(e) => return Ok(error_answer(e)),
    };
    Ok(match validate_event(&event) {
        Ok(()) => r#"{"ok":true}"#.to_string(),
        Err(e) => error_answer(e),
    })
}

fn policy_from(input: &Json) -> Result<Result<RedactionPolicy, Answer>, FfiError> {
    let policy = input.get("policy").unwrap_or(&Json::Null);
    let dotcom = match policy.get("dotcom") {
        None | Some(Json::Null) => false,
        Some(Json::Bool(b)) => *b,
        Some(_) => {
            return Err(FfiError::MalformedInput(
                "policy.dotcom must be a boolean".into(),
            ));
        }
    };
    let additional = match policy.get("additionalAllowedEventTypes") {
        None | Some(Json::Null) => "",
        Some(Json::String(s)) => s.as_str(),
        Some(_) => {
            return Err(FfiError::MalformedInput(
                "policy.additionalAllowedEventTypes must be a string".into(),
            ));
        }
    };
    Ok(RedactionPolicy::new(dotcom, additional).map_err(error_answer))
}

/// `{"event", "policy"}` → `{"event"}` (redacted) or `{"error"}` (JSON text).
pub fn redact_value(input: &Json) -> Result<Answer, FfiError> {
    let policy = match policy_from(input)? {
        Ok(p) => p,
        Err(answer) => return Ok(answer),
    };
    let mut event = match json::parse_event_value(field(input, "event")?) {
        Ok(e) => e,
        Err(e) => return Ok(error_answer(e)),
    };
    policy.redact(&mut event);
    Ok(event_answer(&event))
}

#[cfg(feature = "translate")]
/// `{"metadata", "event", "maxMessageBytes"?}` → `{"payload", "attributes"}`,
/// `{"dropped": "oversized"}` or `{"error"}` (JSON text).
pub fn translate_value(input: &Json) -> Result<Answer, FfiError> {
    let limit = max_bytes(input)?;
    let metadata = match json::parse_metadata_value(field(input, "metadata")?) {
        Ok(m) => m,
        Err(e) => return Ok(error_answer(e)),
    };
    let event = match json::parse_event_value(field(input, "event")?) {
        Ok(e) => e,
        Err(e) => return Ok(error_answer(e)),
    };
    let publisher = match Publisher::new(&metadata) {
        Ok(p) => p,
        Err(e) => return Ok(error_answer(e)),
    };
    Ok(match translate(&publisher, &event, limit) {
        Ok(Translation::Publish(m)) => message_answer(&m),
        Ok(Translation::Oversized { .. }) => r#"{"dropped":"oversized"}"#.to_string(),
        Err(e) => error_answer(e),
    })
}

#[cfg(feature = "ingest")]
/// `{"metadata", "events", "rpc"?, "maxMessageBytes"?}` → `{"results", "succeededEvents"}`
/// (JSON text).
pub fn ingest_value(input: &Json) -> Result<Answer, FfiError> {
    let limit = max_bytes(input)?;
    let rpc = match input.get("rpc") {
        None | Some(Json::Null) => Rpc::RecordEvents,
        Some(Json::String(s)) if s == "RecordEvents" => Rpc::RecordEvents,
        Some(Json::String(s)) if s == "RecordEvent" => Rpc::RecordEvent,
        Some(other) => {
            return Err(FfiError::MalformedInput(format!(
                "rpc must be \"RecordEvents\" or \"RecordEvent\", got {other}"
            )));
        }
    };
    let metadata = match json::parse_metadata_value(field(input, "metadata")?) {
        Ok(m) => m,
        Err(e) => return Ok(error_answer(e)),
    };
    let Json::Array(raw_events) = field(input, "events")? else {
        return Err(FfiError::MalformedInput("events must be an array".into()));
    };
    let mut events = Vec::with_capacity(raw_events.len());
    for (i, raw) in raw_events.iter().enumerate() {
        match json::parse_event_value(raw) {
            Ok(e) => events.push(e),
            Err(e) => return Ok(error_answer(format!("events[{i}]: {e}"))),
        }
    }
    let publisher = match Publisher::new(&metadata) {
        Ok(p) => p,
        Err(e) => return Ok(error_answer(e)),
    };
    let outcomes = ingest(&publisher, events, rpc, limit);
    let mut out = String::with_capacity(1024 * outcomes.len().max(1));
    out.push_str(r#"{"results":["#);
    for (i, o) in outcomes.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let head = json!({ "id": o.id }).to_string();
        // `{"id":…` without its closing brace, then this outcome's fields.
        out.push_str(head.strip_suffix('}').unwrap_or(&head));
        match &o.outcome {
            Outcome::Publish(m) => {
                out.push_str(r#","outcome":"publish","#);
                message_fields(&mut out, m);
            }
            Outcome::Reject(e) => {
                out.push_str(r#","outcome":"reject","retryable":false,"error":"#);
                out.push_str(&Json::String(e.to_string()).to_string());
            }
            Outcome::DropOversized { .. } => {
                out.push_str(r#","outcome":"drop","error":"discarding oversized event""#);
            }
        }
        out.push('}');
    }
    let acked = succeeded_events(
        publisher.kind,
        outcomes.iter().map(|o| {
            (
                o.id.as_str(),
                Acknowledgement::assuming_published(&o.outcome),
            )
        }),
    );
    out.push_str(r#"],"succeededEvents":"#);
    out.push_str(&json!(acked).to_string());
    out.push('}');
    Ok(out)
}

/// `{"event": TelemetryEventInput, "context"}` → `{"event"}` or `{"error"}` (JSON text).
pub fn record_value(input: &Json) -> Result<Answer, FfiError> {
    let ctx = match RecordContext::from_json(field(input, "context")?) {
        Ok(c) => c,
        Err(e) => return Ok(error_answer(e)),
    };
    let recording = match TelemetryEventInput::from_json(field(input, "event")?) {
        Ok(r) => r,
        Err(e) => return Ok(error_answer(e)),
    };
    Ok(match record(&recording, &ctx) {
        Ok(event) => event_answer(&event),
        Err(e) => error_answer(e),
    })
}

// ---------------------------------------------------------------------------------------------
// Protobuf encode/decode for JS transports.

fn events_json(events: &[Event]) -> Result<Json, FfiError> {
    let mut out = Vec::with_capacity(events.len());
    for e in events {
        let bytes =
            event_to_json(e).map_err(|e| FfiError::Decode(format!("marshalling event: {e}")))?;
        out.push(written_json(&bytes));
    }
    Ok(Json::Array(out))
}

fn parse_events(v: &Json) -> Result<Vec<Event>, FfiError> {
    let Json::Array(items) = v else {
        return Err(FfiError::MalformedInput("events must be an array".into()));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, e)| {
            json::parse_event_value(e)
                .map_err(|e| FfiError::MalformedInput(format!("events[{i}]: {e}")))
        })
        .collect()
}

/// Encodes a `RecordEventsRequest` from `{"metadata": …}` or `{"events": {"events": […]}}`
/// (proto3 JSON).
pub fn encode_record_events_request(input: &str) -> Result<Vec<u8>, FfiError> {
    let v = parse_input(input)?;
    let payload = match (v.get("metadata"), v.get("events")) {
        (Some(m), None) => record_events_request::Payload::Metadata(
            json::parse_metadata_value(m).map_err(|e| FfiError::MalformedInput(e.to_string()))?,
        ),
        (None, Some(events)) => {
            let list = events.get("events").unwrap_or(&Json::Null);
            let list = if list.is_null() {
                &Json::Array(Vec::new())
            } else {
                list
            };
            record_events_request::Payload::Events(record_events_request::EventsPayload {
                events: parse_events(list)?,
            })
        }
        _ => {
            return Err(FfiError::MalformedInput(
                "a RecordEventsRequest holds exactly one of \"metadata\" or \"events\"".into(),
            ));
        }
    };
    Ok(RecordEventsRequest {
        payload: Some(payload),
    }
    .encode_to_vec())
}

/// Decodes a `RecordEventsRequest` to proto3 JSON.
pub fn decode_record_events_request(bytes: &[u8]) -> Result<String, FfiError> {
    let req = RecordEventsRequest::decode(bytes).map_err(|e| FfiError::Decode(e.to_string()))?;
    let v = match req.payload {
        None => json!({}),
        Some(record_events_request::Payload::Metadata(m)) => {
            let bytes = json::metadata_to_json(&m).map_err(|e| FfiError::Decode(e.to_string()))?;
            json!({ "metadata": written_json(&bytes) })
        }
        Some(record_events_request::Payload::Events(p)) => {
            json!({ "events": { "events": events_json(&p.events)? } })
        }
    };
    Ok(v.to_string())
}

/// Encodes a `RecordEventsResponse` from `{"succeededEvents": [...]}`.
pub fn encode_record_events_response(input: &str) -> Result<Vec<u8>, FfiError> {
    let v = parse_input(input)?;
    let ids = match v.get("succeededEvents") {
        None | Some(Json::Null) => Vec::new(),
        Some(Json::Array(items)) => items
            .iter()
            .map(|i| {
                i.as_str().map(str::to_string).ok_or_else(|| {
                    FfiError::MalformedInput("succeededEvents must hold strings".into())
                })
            })
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(FfiError::MalformedInput(
                "succeededEvents must be an array".into(),
            ));
        }
    };
    Ok(RecordEventsResponse {
        succeeded_events: ids,
    }
    .encode_to_vec())
}

/// Decodes a `RecordEventsResponse` to `{"succeededEvents": [...]}`.
pub fn decode_record_events_response(bytes: &[u8]) -> Result<String, FfiError> {
    let resp = RecordEventsResponse::decode(bytes).map_err(|e| FfiError::Decode(e.to_string()))?;
    Ok(json!({ "succeededEvents": resp.succeeded_events }).to_string())
}

/// Encodes a `RecordEventRequest` from `{"metadata": …, "event": …}`.
pub fn encode_record_event_request(input: &str) -> Result<Vec<u8>, FfiError> {
    let v = parse_input(input)?;
    let metadata = match v.get("metadata") {
        None | Some(Json::Null) => None,
        Some(m) => Some(
            json::parse_metadata_value(m).map_err(|e| FfiError::MalformedInput(e.to_string()))?,
        ),
    };
    let event = match v.get("event") {
        None | Some(Json::Null) => None,
        Some(e) => {
            Some(json::parse_event_value(e).map_err(|e| FfiError::MalformedInput(e.to_string()))?)
        }
    };
    Ok(RecordEventRequest { metadata, event }.encode_to_vec())
}

/// Decodes a `RecordEventRequest` to proto3 JSON.
pub fn decode_record_event_request(bytes: &[u8]) -> Result<String, FfiError> {
    let req = RecordEventRequest::decode(bytes).map_err(|e| FfiError::Decode(e.to_string()))?;
    let mut out = Map::new();
    if let Some(m) = &req.metadata {
        let bytes = json::metadata_to_json(m).map_err(|e| FfiError::Decode(e.to_string()))?;
        out.insert("metadata".into(), written_json(&bytes));
    }
    if let Some(e) = &req.event {
        let bytes =
            event_to_json(e).map_err(|e| FfiError::Decode(format!("marshalling event: {e}")))?;
        out.insert("event".into(), written_json(&bytes));
    }
    Ok(Json::Object(out).to_string())
}

/// Encodes one `Event` from proto3 JSON (for export queues that store wire bytes).
pub fn encode_event(input: &str) -> Result<Vec<u8>, FfiError> {
    let v = parse_input(input)?;
    let event = json::parse_event_value(&v).map_err(|e| FfiError::MalformedInput(e.to_string()))?;
    Ok(event.encode_to_vec())
}

/// Decodes one `Event` to proto3 JSON.
pub fn decode_event(bytes: &[u8]) -> Result<String, FfiError> {
    let event = Event::decode(bytes).map_err(|e| FfiError::Decode(e.to_string()))?;
    let bytes =
        event_to_json(&event).map_err(|e| FfiError::Decode(format!("marshalling event: {e}")))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Plans export chunks: `{"sizes": [encoded event sizes], "limit"?: bytes}` →
/// `{"chunks": [[start, end], …]}` (half-open index ranges), by [`crate::export::plan_chunks`].
pub fn plan_chunks(input: &str) -> Result<String, FfiError> {
    let v = parse_input(input)?;
    let Some(Json::Array(raw)) = v.get("sizes") else {
        return Err(FfiError::MalformedInput(
            "sizes must be an array of byte counts".into(),
        ));
    };
    let sizes = raw
        .iter()
        .map(|s| {
            s.as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| {
                    FfiError::MalformedInput("sizes must hold non-negative integers".into())
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let limit = match v.get("limit") {
        None | Some(Json::Null) => crate::export::MAX_CHUNK_BYTES,
        Some(l) => l
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .filter(|n| *n > 0)
            .ok_or_else(|| FfiError::MalformedInput("limit must be a positive integer".into()))?,
    };
    let chunks: Vec<[usize; 2]> = crate::export::plan_chunks(&sizes, limit)
        .into_iter()
        .map(|r| [r.start, r.end])
        .collect();
    Ok(json!({ "chunks": chunks }).to_string())
}

pub mod batch;
#[cfg(feature = "ingest")]
pub mod conformance;
