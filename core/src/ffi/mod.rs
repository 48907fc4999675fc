//! JSON-string entry points shared by every target.
//!
//! Each operation takes the JSON `input` object of a conformance case and returns the JSON
//! `expect`-shaped answer (see `tests/conformance/README.md`). The WASM bindings expose these
//! functions unchanged, and the native and Node conformance runners call them, so every target
//! runs the same code path. Answers are values: a failing operation answers `{"error": …}`;
//! only a malformed *request* (unknown op, missing input field) is an [`FfiError`].
//!
//! Inputs are read from their JSON text straight into the core's types (`input`), never
//! through a tree; the `&serde_json::Value` variants (feature `json-value`: `run_op_text`,
//! `run_op_value`, `record_value`) run the same readers over a parsed value. Answers are written
//! directly, strings escaped as serde_json escapes them.

use crate::prelude::*;

#[cfg(feature = "ingest")]
use crate::ingest::{Acknowledgement, Outcome, Rpc, ingest, succeeded_events};
use crate::json;
use crate::policy::RedactionPolicy;
use crate::proto::{
    Event, RecordEventRequest, RecordEventsRequest, RecordEventsResponse, record_events_request,
};
use crate::record::read::ContextRead;
use crate::record::record_owned;
#[cfg(feature = "translate")]
use crate::translate::{MAX_MESSAGE_BYTES, Message, Publisher, Translation, translate};
use crate::validate::validate_event;
#[cfg(feature = "json-value")]
use input::Parsed;
#[cfg(feature = "translate")]
use input::TranslateInput;
use input::{
    AcknowledgedInput, Fields, InputSource, Loose, OpInput, PlanChunksInput, PolicyRead,
    RecordEventRequestInput, RecordEventsRequestInput, RecordEventsResponseInput, RecordInput,
    RedactInput, SizesRead, Text, ValidateInput,
};
#[cfg(feature = "ingest")]
use input::{IngestInput, RpcRead};
use json::write_json_string;
use prost::Message as _;
#[cfg(feature = "json-value")]
use serde_json::Value as Json;

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

/// An operation's answer as JSON text: the form every target hands back, written directly (an
/// event answer embeds the writer's bytes). Strings are escaped as serde_json escapes them
/// (`json::write_json_string`), so answers are what they were when serde_json wrote them.
type Answer = String;

/// Answer text from bytes written here (always UTF-8: UTF-8 pieces only).
fn answer_text(out: Vec<u8>) -> Answer {
    String::from_utf8(out).unwrap_or_default()
}

fn error_answer(e: impl core::fmt::Display) -> Answer {
    let mut out = br#"{"error":"#.to_vec();
    write_json_string(&mut out, &e.to_string());
    out.push(b'}');
    answer_text(out)
}

/// A list of strings as a JSON array.
fn push_string_list<S: AsRef<str>>(out: &mut Vec<u8>, items: &[S]) {
    out.push(b'[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_json_string(out, item.as_ref());
    }
    out.push(b']');
}

/// Parses JSON the writer produced (always valid) into a value.
#[cfg(feature = "json-value")]
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

/// The fields of a published message: `"payload":…,"attributes":{…}` (without braces).
#[cfg(feature = "translate")]
fn message_fields(out: &mut Vec<u8>, m: &Message) {
    out.extend_from_slice(br#""payload":"#);
    // The body is UTF-8 JSON written by the core, as a JSON string.
    match core::str::from_utf8(&m.data) {
        Ok(text) => write_json_string(out, text),
        Err(_) => write_json_string(out, &String::from_utf8_lossy(&m.data)),
    }
    out.push(b',');
    attributes_field(out, m);
}

/// `"attributes":{…}` of a published message.
#[cfg(feature = "translate")]
fn attributes_field(out: &mut Vec<u8>, m: &Message) {
    out.extend_from_slice(br#""attributes":{"#);
    for (i, (k, v)) in m.attributes.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_json_string(out, k);
        out.push(b':');
        write_json_string(out, v);
    }
    out.push(b'}');
}

#[cfg(feature = "translate")]
fn message_answer(m: &Message) -> Answer {
    let mut out = Vec::with_capacity(m.data.len() * 2 + 256);
    out.push(b'{');
    message_fields(&mut out, m);
    out.push(b'}');
    answer_text(out)
}

/// The request field `name` (a missing one is a malformed request).
fn required<T>(field: Option<T>, name: &str) -> Result<T, FfiError> {
    field.ok_or_else(|| FfiError::MalformedInput(format!("input has no {name:?}")))
}

#[cfg(feature = "translate")]
fn max_bytes(field: Loose<usize>) -> Result<usize, FfiError> {
    match field {
        Loose::Unset => Ok(MAX_MESSAGE_BYTES),
        Loose::Value(n) => Ok(n),
        Loose::Wrong => Err(FfiError::MalformedInput(
            "maxMessageBytes must be a non-negative integer".into(),
        )),
    }
}

/// Values `record` fills into a context that leaves `id` or `now` out (a key set to anything,
/// `null` included, is kept). The WASM build passes a fresh UUID v7 and the current time; each
/// is called only when needed.
#[derive(Clone, Copy)]
pub struct ContextDefaults<'a> {
    /// The event id for a context without `id`.
    pub id: &'a dyn Fn() -> String,
    /// The RFC 3339 time of recording for a context without `now`.
    pub now: &'a dyn Fn() -> String,
}

/// Runs one op on its input, from wherever the input comes.
fn run<S: InputSource>(
    op: &str,
    source: S,
    defaults: Option<ContextDefaults<'_>>,
) -> Result<Answer, FfiError> {
    run_on(
        op,
        &|input: &mut dyn OpInput| source.read_into(input),
        defaults,
    )
}

/// A source's [`InputSource::read_into`], type-erased: the ops' dispatch and each op's input
/// type are compiled once, not once per kind of source (the WASM client module has two).
type ReadInto<'a> = &'a dyn Fn(&mut dyn OpInput) -> Result<bool, FfiError>;

/// [`run`] on a type-erased source.
fn run_on(
    op: &str,
    source: ReadInto<'_>,
    defaults: Option<ContextDefaults<'_>>,
) -> Result<Answer, FfiError> {
    fn read<I: OpInput + Default>(source: ReadInto<'_>) -> Result<I, FfiError> {
        let mut input = I::default();
        if source(&mut input)? {
            Ok(input)
        } else {
            Err(FfiError::MalformedInput("input must be an object".into()))
        }
    }
    match op {
        "validate" => validate_op(read(source)?),
        "redact" => redact_op(read(source)?),
        #[cfg(feature = "translate")]
        "translate" => translate_op(read(source)?),
        #[cfg(feature = "ingest")]
        "ingest" => ingest_op(read(source)?),
        #[cfg(not(feature = "translate"))]
        "translate" => Err(FfiError::NotInThisBuild("translate")),
        #[cfg(not(feature = "ingest"))]
        "ingest" => Err(FfiError::NotInThisBuild("ingest")),
        "record" => record_op(read(source)?, defaults),
        other => {
            read::<input::Unused>(source)?;
            Err(FfiError::UnknownOp(other.to_string()))
        }
    }
}

/// Runs one operation on a JSON text input and returns the JSON text answer.
pub fn run_op(op: &str, input: &str) -> Result<String, FfiError> {
    run(op, Text(input), None)
}

/// Runs one operation on an input given as named fields, each its own JSON text (a repeated
/// name: the last one wins), as if they were the fields of one input object. With `defaults`,
/// a `record` context gets `id` and `now` filled in as by [`record_with_defaults`] (and a
/// missing context is an empty one). A field that is not valid JSON is a malformed request
/// naming the field.
pub fn run_op_fields(
    op: &str,
    fields: &[(&str, &str)],
    defaults: Option<ContextDefaults<'_>>,
) -> Result<String, FfiError> {
    run(op, Fields(fields), defaults)
}

/// `record` on a JSON text input, with `context.id` and `context.now` filled in from
/// `defaults` when the context leaves them out (a missing context is an empty one).
pub fn record_with_defaults(
    input: &str,
    defaults: ContextDefaults<'_>,
) -> Result<String, FfiError> {
    record_entry(Text(input), Some(defaults))
}

/// `record` outside [`run_op`]: an input that is not an object has no fields (so no context).
fn record_entry<S: InputSource>(
    source: S,
    defaults: Option<ContextDefaults<'_>>,
) -> Result<Answer, FfiError> {
    match source.read()? {
        Some(input) => record_op(input, defaults),
        None => required(None, "context"),
    }
}

/// Runs one operation on a parsed input and returns its answer as JSON text (same rules and
/// messages as [`run_op`]).
#[cfg(feature = "json-value")]
pub fn run_op_text(op: &str, input: &Json) -> Result<String, FfiError> {
    run(op, Parsed(input), None)
}

/// Runs one operation on a parsed input and returns its answer as a parsed value.
#[cfg(feature = "json-value")]
pub fn run_op_value(op: &str, input: &Json) -> Result<Json, FfiError> {
    run_op_text(op, input).map(|text| written_json(text.as_bytes()))
}

/// `record` on a parsed input (`{"event": TelemetryEventInput, "context"}`).
#[cfg(feature = "json-value")]
pub fn record_value(input: &Json) -> Result<Answer, FfiError> {
    record_entry(Parsed(input), None)
}

/// Parses a JSON text input into a `serde_json::Value`, refusing documents over
/// [`json::MAX_JSON_INPUT_BYTES`] (for inputs the ops do not read themselves).
#[cfg(feature = "json-value")]
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

/// `validate`'s answer for a valid event.
pub const VALID_ANSWER: &str = r#"{"ok":true}"#;

/// `{"event"}` → `{"ok": true}` or `{"error"}` (JSON text).
fn validate_op(input: ValidateInput) -> Result<Answer, FfiError> {
    let event = match required(input.event, "event")? {
        Ok(e) => e,
        Err(e) => return Ok(error_answer(e)),
    };
    Ok(match validate_event(&event) {
        Ok(()) => VALID_ANSWER.to_string(),
        Err(e) => error_answer(e),
    })
}

/// A policy's options (`dotcom`, `additionalAllowedEventTypes`); a wrong kind is a malformed
/// request.
fn policy_options(policy: PolicyRead) -> Result<(bool, String), FfiError> {
    let dotcom = match policy.dotcom {
        Loose::Unset => false,
        Loose::Value(b) => b,
        Loose::Wrong => {
            return Err(FfiError::MalformedInput(
                "policy.dotcom must be a boolean".into(),
            ));
        }
    };
    let additional = match policy.additional_allowed_event_types {
        Loose::Unset => String::new(),
        Loose::Value(s) => s,
        Loose::Wrong => {
            return Err(FfiError::MalformedInput(
                "policy.additionalAllowedEventTypes must be a string".into(),
            ));
        }
    };
    Ok((dotcom, additional))
}

/// `{"event", "policy"}` → `{"event"}` (redacted) or `{"error"}` (JSON text).
fn redact_op(input: RedactInput) -> Result<Answer, FfiError> {
    let (dotcom, additional) = policy_options(input.policy)?;
    let policy = match RedactionPolicy::new(dotcom, &additional) {
        Ok(p) => p,
        Err(e) => return Ok(error_answer(e)),
    };
    let mut event = match required(input.event, "event")? {
        Ok(e) => e,
        Err(e) => return Ok(error_answer(e)),
    };
    policy.redact(&mut event);
    Ok(event_answer(&event))
}

#[cfg(feature = "translate")]
/// `{"metadata", "event", "maxMessageBytes"?}` → `{"payload", "attributes"}`,
/// `{"dropped": "oversized"}` or `{"error"}` (JSON text).
fn translate_op(input: TranslateInput) -> Result<Answer, FfiError> {
    Ok(match translate_outcome(input)? {
        Ok(m) => message_answer(&m),
        Err(answer) => answer,
    })
}

/// `translate`'s outcome: the message to publish, or the whole answer (dropped, error).
#[cfg(feature = "translate")]
fn translate_outcome(input: TranslateInput) -> Result<Result<Message, Answer>, FfiError> {
    let limit = max_bytes(input.max_message_bytes)?;
    let metadata = match required(input.metadata, "metadata")? {
        Ok(m) => m,
        Err(e) => return Ok(Err(error_answer(e))),
    };
    let event = match required(input.event, "event")? {
        Ok(e) => e,
        Err(e) => return Ok(Err(error_answer(e))),
    };
    let publisher = match Publisher::new(&metadata) {
        Ok(p) => p,
        Err(e) => return Ok(Err(error_answer(e))),
    };
    Ok(match translate(&publisher, &event, limit) {
        Ok(Translation::Publish(m)) => Ok(m),
        Ok(Translation::Oversized { .. }) => Err(r#"{"dropped":"oversized"}"#.to_string()),
        Err(e) => Err(error_answer(e)),
    })
}

/// [`run_op`]'s `translate` answer with the message body kept apart, for callers that want the
/// body's bytes (the JS API's `data`): no escaping of the body into a JSON string here, and no
/// unescaping and re-encoding on the caller's side.
#[cfg(feature = "translate")]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranslateParts {
    /// The published message's body (`payload` of [`run_op`]'s answer), if one is published.
    pub payload: Option<Vec<u8>>,
    /// With a payload: `{"attributes":{…}}`, the rest of the answer; without one: the whole
    /// answer (`{"dropped":…}` or `{"error":…}`), as [`run_op`] gives it.
    pub answer: Answer,
}

/// `translate` on JSON text (as [`run_op`]), with the body kept apart ([`TranslateParts`]).
#[cfg(feature = "translate")]
pub fn translate_parts(input: &str) -> Result<TranslateParts, FfiError> {
    let input = Text(input)
        .read()?
        .ok_or_else(|| FfiError::MalformedInput("input must be an object".into()))?;
    Ok(match translate_outcome(input)? {
        Ok(m) => {
            let mut out = Vec::with_capacity(64 * m.attributes.len() + 32);
            out.push(b'{');
            attributes_field(&mut out, &m);
            out.push(b'}');
            TranslateParts {
                payload: Some(m.data),
                answer: answer_text(out),
            }
        }
        Err(answer) => TranslateParts {
            payload: None,
            answer,
        },
    })
}

#[cfg(feature = "ingest")]
/// `{"metadata", "events", "rpc"?, "maxMessageBytes"?}` → `{"results", "succeededEvents"}`
/// (JSON text).
fn ingest_op(input: IngestInput) -> Result<Answer, FfiError> {
    let limit = max_bytes(input.max_message_bytes)?;
    let rpc = match input.rpc {
        RpcRead::Unset => Rpc::RecordEvents,
        RpcRead::Rpc(rpc) => rpc,
        RpcRead::Other(other) => {
            return Err(FfiError::MalformedInput(format!(
                "rpc must be \"RecordEvents\" or \"RecordEvent\", got {other}"
            )));
        }
    };
    let metadata = match required(input.metadata, "metadata")? {
        Ok(m) => m,
        Err(e) => return Ok(error_answer(e)),
    };
    let Some(events) = required(input.events, "events")? else {
        return Err(FfiError::MalformedInput("events must be an array".into()));
    };
    let events = match events {
        Ok(events) => events,
        Err(e) => return Ok(error_answer(input::event_at(e))),
    };
    let publisher = match Publisher::new(&metadata) {
        Ok(p) => p,
        Err(e) => return Ok(error_answer(e)),
    };
    let outcomes = ingest(&publisher, events, rpc, limit);
    let mut out = Vec::with_capacity(1024 * outcomes.len().max(1));
    out.extend_from_slice(br#"{"results":["#);
    for (i, o) in outcomes.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        // `{"id":…`, then this outcome's fields.
        out.extend_from_slice(br#"{"id":"#);
        write_json_string(&mut out, &o.id);
        match &o.outcome {
            Outcome::Publish(m) => {
                out.extend_from_slice(br#","outcome":"publish","#);
                message_fields(&mut out, m);
            }
            Outcome::Reject(e) => {
                out.extend_from_slice(br#","outcome":"reject","retryable":false,"error":"#);
                write_json_string(&mut out, &e.to_string());
            }
            Outcome::DropOversized { .. } => {
                out.extend_from_slice(br#","outcome":"drop","error":"discarding oversized event""#);
            }
        }
        out.push(b'}');
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
    out.extend_from_slice(br#"],"succeededEvents":"#);
    push_string_list(&mut out, &acked);
    out.push(b'}');
    Ok(answer_text(out))
}

/// `{"event": TelemetryEventInput, "context"}` → `{"event"}` or `{"error"}` (JSON text).
fn record_op(
    input: RecordInput,
    defaults: Option<ContextDefaults<'_>>,
) -> Result<Answer, FfiError> {
    let context = match (input.context, defaults) {
        (Some(read), _) => read,
        (None, Some(_)) => ContextRead::empty(),
        (None, None) => required(None, "context")?,
    };
    let mut ctx = match context.finish(defaults.map(|d| d.id), defaults.map(|d| d.now)) {
        Ok(c) => c,
        Err(e) => return Ok(error_answer(e)),
    };
    let recording = match required(input.event, "event")? {
        Ok(r) => r,
        Err(e) => return Ok(error_answer(e)),
    };
    let id = core::mem::take(&mut ctx.id);
    Ok(match record_owned(recording, &ctx, id) {
        Ok(event) => event_answer(&event),
        Err(e) => error_answer(e),
    })
}

// ---------------------------------------------------------------------------------------------
// Protobuf encode/decode for JS transports.

/// Encodes a `RecordEventsRequest` from `{"metadata": …}` or `{"events": {"events": […]}}`
/// (proto3 JSON).
pub fn encode_record_events_request(input: &str) -> Result<Vec<u8>, FfiError> {
    let v: RecordEventsRequestInput = Text(input).read()?.unwrap_or_default();
    let payload = match (v.metadata, v.events) {
        (Some(m), None) => record_events_request::Payload::Metadata(
            m.map_err(|e| FfiError::MalformedInput(e.to_string()))?,
        ),
        (None, Some(events)) => {
            record_events_request::Payload::Events(record_events_request::EventsPayload {
                events: events?,
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

/// Encodes a `RecordEventsResponse` from `{"succeededEvents": [...]}`.
pub fn encode_record_events_response(input: &str) -> Result<Vec<u8>, FfiError> {
    let v: RecordEventsResponseInput = Text(input).read()?.unwrap_or_default();
    Ok(RecordEventsResponse {
        succeeded_events: v.succeeded_events.transpose()?.unwrap_or_default(),
    }
    .encode_to_vec())
}

/// Encodes a `RecordEventRequest` from `{"metadata": …, "event": …}`.
pub fn encode_record_event_request(input: &str) -> Result<Vec<u8>, FfiError> {
    let v: RecordEventRequestInput = Text(input).read()?.unwrap_or_default();
    let malformed = |e: json::JsonError| FfiError::MalformedInput(e.to_string());
    let metadata = v.metadata.transpose().map_err(malformed)?;
    let event = v.event.transpose().map_err(malformed)?;
    Ok(RecordEventRequest { metadata, event }.encode_to_vec())
}

/// Encodes one `Event` from proto3 JSON (for export queues that store wire bytes).
pub fn encode_event(input: &str) -> Result<Vec<u8>, FfiError> {
    let event = input::event_text(input)?.map_err(|e| FfiError::MalformedInput(e.to_string()))?;
    Ok(event.encode_to_vec())
}

/// Appends an event's protojson (the writer's bytes) for a decoder's answer.
fn push_event_json(out: &mut Vec<u8>, event: &Event) -> Result<(), FfiError> {
    json::append_event_json(out, event)
        .map_err(|e| FfiError::Decode(format!("marshalling event: {e}")))
}

fn push_metadata_json(
    out: &mut Vec<u8>,
    metadata: &crate::proto::RecordEventsRequestMetadata,
) -> Result<(), FfiError> {
    let bytes = json::metadata_to_json(metadata).map_err(|e| FfiError::Decode(e.to_string()))?;
    out.extend_from_slice(&bytes);
    Ok(())
}

/// Decodes a `RecordEventsRequest` to proto3 JSON (`{}`, `{"metadata": …}` or
/// `{"events": {"events": […]}}`, messages as the Go-identical writer writes them).
pub fn decode_record_events_request(bytes: &[u8]) -> Result<String, FfiError> {
    let req = RecordEventsRequest::decode(bytes).map_err(|e| FfiError::Decode(e.to_string()))?;
    let mut out = Vec::with_capacity(bytes.len() * 2 + 32);
    match req.payload {
        None => out.extend_from_slice(b"{}"),
        Some(record_events_request::Payload::Metadata(m)) => {
            out.extend_from_slice(br#"{"metadata":"#);
            push_metadata_json(&mut out, &m)?;
            out.push(b'}');
        }
        Some(record_events_request::Payload::Events(p)) => {
            out.extend_from_slice(br#"{"events":{"events":["#);
            for (i, e) in p.events.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                push_event_json(&mut out, e)?;
            }
            out.extend_from_slice(b"]}}");
        }
    }
    Ok(answer_text(out))
}

/// Decodes a `RecordEventsResponse` to `{"succeededEvents": [...]}`.
pub fn decode_record_events_response(bytes: &[u8]) -> Result<String, FfiError> {
    let resp = RecordEventsResponse::decode(bytes).map_err(|e| FfiError::Decode(e.to_string()))?;
    let mut out = br#"{"succeededEvents":"#.to_vec();
    push_string_list(&mut out, &resp.succeeded_events);
    out.push(b'}');
    Ok(answer_text(out))
}

/// Decodes a `RecordEventRequest` to proto3 JSON (`{"metadata"?: …, "event"?: …}`).
pub fn decode_record_event_request(bytes: &[u8]) -> Result<String, FfiError> {
    let req = RecordEventRequest::decode(bytes).map_err(|e| FfiError::Decode(e.to_string()))?;
    let mut out = vec![b'{'];
    if let Some(m) = &req.metadata {
        out.extend_from_slice(br#""metadata":"#);
        push_metadata_json(&mut out, m)?;
    }
    if let Some(e) = &req.event {
        if req.metadata.is_some() {
            out.push(b',');
        }
        out.extend_from_slice(br#""event":"#);
        push_event_json(&mut out, e)?;
    }
    out.push(b'}');
    Ok(answer_text(out))
}

/// Decodes one `Event` to proto3 JSON text.
pub fn decode_event(bytes: &[u8]) -> Result<String, FfiError> {
    let event = Event::decode(bytes).map_err(|e| FfiError::Decode(e.to_string()))?;
    let mut out = Vec::with_capacity(bytes.len() * 2);
    push_event_json(&mut out, &event)?;
    Ok(answer_text(out))
}

/// Plans export chunks: `{"sizes": [encoded event sizes], "limit"?: bytes}` →
/// `{"chunks": [[start, end], …]}` (half-open index ranges), by [`crate::export::plan_chunks`].
pub fn plan_chunks(input: &str) -> Result<String, FfiError> {
    let v: PlanChunksInput = Text(input).read()?.unwrap_or_default();
    let sizes = match v.sizes {
        Some(SizesRead::Sizes(sizes)) => sizes,
        Some(SizesRead::NotByteCounts) => {
            return Err(FfiError::MalformedInput(
                "sizes must hold non-negative integers".into(),
            ));
        }
        None | Some(SizesRead::NotAnArray) => {
            return Err(FfiError::MalformedInput(
                "sizes must be an array of byte counts".into(),
            ));
        }
    };
    let limit = match v.limit {
        Loose::Unset => crate::export::MAX_CHUNK_BYTES,
        Loose::Value(n) if n > 0 => n,
        Loose::Value(_) | Loose::Wrong => {
            return Err(FfiError::MalformedInput(
                "limit must be a positive integer".into(),
            ));
        }
    };
    let mut out = String::from(r#"{"chunks":["#);
    let mut digits = itoa::Buffer::new();
    for (i, r) in crate::export::plan_chunks(&sizes, limit)
        .into_iter()
        .enumerate()
    {
        if i > 0 {
            out.push(',');
        }
        out.push('[');
        out.push_str(digits.format(r.start));
        out.push(',');
        out.push_str(digits.format(r.end));
        out.push(']');
    }
    out.push_str("]}");
    Ok(out)
}

/// A JSON array of strings (e.g. the case names a conformance runner has seen); `Err` for text
/// that is not one.
pub fn string_list(text: &str) -> Result<Vec<String>, FfiError> {
    json::read::document(text, |r| match r.open_array()? {
        None => input::string_list(r),
        Some(_) => Ok(None),
    })
    .map_err(|e| FfiError::MalformedInput(input::not_json(e)))?
    .ok_or_else(|| FfiError::MalformedInput("expected an array of strings".into()))
}

/// The ids of `sent` the gateway acknowledged: `{"sent": [ids], "succeeded": [ids]}` to a JSON
/// array, in `sent` order without duplicates, by [`crate::export::acknowledged`].
pub fn acknowledged(input: &str) -> Result<String, FfiError> {
    let v: AcknowledgedInput = Text(input).read()?.unwrap_or_default();
    let list = |list: Option<Option<Vec<String>>>, name: &str| match list {
        Some(Some(ids)) => Ok(ids),
        Some(None) => Err(FfiError::MalformedInput(format!(
            "{name} must hold strings"
        ))),
        None => Err(FfiError::MalformedInput(format!(
            "{name} must be an array of ids"
        ))),
    };
    let sent = list(v.sent, "sent")?;
    let succeeded = list(v.succeeded, "succeeded")?;
    let mut out = Vec::new();
    push_string_list(&mut out, &crate::export::acknowledged(&sent, &succeeded));
    Ok(answer_text(out))
}

pub mod batch;
#[cfg(feature = "ingest")]
pub mod conformance;
mod input;
