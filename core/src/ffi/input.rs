//! The `ffi` inputs, read from JSON text straight into typed fields (no intermediate tree),
//! with the reader and rules of `json::read`: syntax errors first, keys judged in sorted order
//! with the last duplicate winning, depth bounded.
//!
//! An input object is read field by field into an [`OpInput`], which keeps what each field gave
//! (a value, or the error reading it gave) and skips (but still checks) the fields its op does
//! not use; the op then looks at the fields in its own fixed order, so which error an input
//! gets does not depend on the order of its fields.

use crate::prelude::*;

use super::FfiError;
#[cfg(feature = "ingest")]
use crate::ingest::Rpc;
use crate::json::parse::{EVENT, METADATA, Message, finish};
use crate::json::read::{Got, Reader, Scalar, Stop, SyntaxError, document};
use crate::json::{JsonError, MAX_JSON_INPUT_BYTES};
use crate::proto::{Event, RecordEventsRequestMetadata};
use crate::record::read::{ContextRead, recording_value};
use crate::record::{RecordError, TelemetryEventInput};
#[cfg(feature = "json-value")]
use serde_json::Value as Json;

/// The fields of one op's input object, as read.
pub(crate) trait OpInput {
    /// Reads input field `name` from the next value (a field the op does not use is only
    /// checked).
    fn read_field(&mut self, name: &str, r: &mut Reader<'_>) -> Result<(), Stop>;
}

fn skip(r: &mut Reader<'_>) -> Result<(), Stop> {
    r.value().map(drop)
}

/// A message that is the whole of a field (so `null` is a wrong kind, not "not set").
fn read_message<T>(
    r: &mut Reader<'_>,
    subject: &'static str,
    message: Message<T>,
) -> Result<Result<T, JsonError>, Stop> {
    Ok(finish(subject, message.read_value(r)?))
}

fn read_event(r: &mut Reader<'_>) -> Result<Result<Event, JsonError>, Stop> {
    read_message(r, "event", EVENT)
}

pub(crate) type MetadataRead = Result<RecordEventsRequestMetadata, JsonError>;

fn read_metadata(r: &mut Reader<'_>) -> Result<MetadataRead, Stop> {
    read_message(r, "metadata", METADATA)
}

/// Where the input comes from: JSON text, a parsed value, or named fields each given as JSON
/// text.
pub(crate) trait InputSource: Copy {
    /// Reads the input object's fields into `input`; `false` when it is not an object.
    fn read_into(self, input: &mut dyn OpInput) -> Result<bool, FfiError>;

    /// Reads the input object; `None` when it is not an object.
    fn read<I: OpInput + Default>(self) -> Result<Option<I>, FfiError> {
        let mut input = I::default();
        Ok(self.read_into(&mut input)?.then_some(input))
    }
}

/// The input as JSON text.
#[derive(Clone, Copy)]
pub(crate) struct Text<'a>(pub &'a str);

/// The input as a parsed value.
#[cfg(feature = "json-value")]
#[derive(Clone, Copy)]
pub(crate) struct Parsed<'a>(pub &'a Json);

/// The input as named fields, each given as JSON text (a repeated name: the last one wins).
#[derive(Clone, Copy)]
pub(crate) struct Fields<'a>(pub &'a [(&'a str, &'a str)]);

fn check_size(text: &str) -> Result<(), String> {
    if text.len() > MAX_JSON_INPUT_BYTES {
        return Err(format!(
            "input is {} bytes, more than the limit of {MAX_JSON_INPUT_BYTES}",
            text.len()
        ));
    }
    Ok(())
}

pub(crate) fn not_json(e: SyntaxError) -> String {
    format!("not valid JSON: {e}")
}

/// Reads a whole input object's fields into `input`; `false` when it is not an object.
fn input_object(text: &str, input: &mut dyn OpInput) -> Result<bool, FfiError> {
    document(text, |r| {
        if r.open_object()?.is_some() {
            return Ok(false);
        }
        while let Some(name) = r.next_key()? {
            input.read_field(&name, r)?;
        }
        Ok(true)
    })
    .map_err(|e| FfiError::MalformedInput(not_json(e)))
}

impl InputSource for Text<'_> {
    fn read_into(self, input: &mut dyn OpInput) -> Result<bool, FfiError> {
        check_size(self.0).map_err(FfiError::MalformedInput)?;
        input_object(self.0, input)
    }
}

#[cfg(feature = "json-value")]
impl InputSource for Parsed<'_> {
    fn read_into(self, input: &mut dyn OpInput) -> Result<bool, FfiError> {
        // Through its compact text: the same keys and values to the readers.
        input_object(&self.0.to_string(), input)
    }
}

impl InputSource for Fields<'_> {
    fn read_into(self, input: &mut dyn OpInput) -> Result<bool, FfiError> {
        for (name, text) in self.0 {
            let malformed = |detail: String| FfiError::MalformedInput(format!("{name}: {detail}"));
            check_size(text).map_err(malformed)?;
            document(text, |r| input.read_field(name, r)).map_err(|e| malformed(not_json(e)))?;
        }
        Ok(true)
    }
}

/// An option field: not given (or `null`), a value of the right kind, or anything else.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) enum Loose<T> {
    #[default]
    Unset,
    Value(T),
    Wrong,
}

/// A boolean option.
fn loose_bool(got: Got<'_>) -> Loose<bool> {
    match got {
        Got::Scalar(Scalar::Null) => Loose::Unset,
        Got::Scalar(Scalar::Bool(b)) => Loose::Value(b),
        _ => Loose::Wrong,
    }
}

/// A string option.
fn loose_text(got: Got<'_>) -> Loose<String> {
    match got {
        Got::Scalar(Scalar::Null) => Loose::Unset,
        Got::Scalar(Scalar::Str(s)) => Loose::Value(s.into_owned()),
        _ => Loose::Wrong,
    }
}

/// A byte count: a non-negative JSON integer.
fn byte_count(got: Got<'_>) -> Loose<usize> {
    match got {
        Got::Scalar(Scalar::Null) => Loose::Unset,
        Got::Scalar(Scalar::Number(n)) => match n.as_u64().and_then(|n| usize::try_from(n).ok()) {
            Some(n) => Loose::Value(n),
            None => Loose::Wrong,
        },
        _ => Loose::Wrong,
    }
}

/// A list of events: the events, or the first wrong one's index and error (the rest are only
/// checked).
pub(crate) type EventsRead = Result<Vec<Event>, (usize, JsonError)>;

/// The elements of an opened array, as events.
fn event_list(r: &mut Reader<'_>) -> Result<EventsRead, Stop> {
    let mut events = Vec::new();
    while r.next_item()? {
        match finish("event", EVENT.read_value(r)?) {
            Ok(e) => events.push(e),
            Err(e) => {
                let index = events.len();
                r.skip_items()?;
                return Ok(Err((index, e)));
            }
        }
    }
    Ok(Ok(events))
}

/// The message for event `index` of a list that does not parse.
pub(crate) fn event_at((index, e): (usize, JsonError)) -> String {
    format!("events[{index}]: {e}")
}

#[cfg(feature = "ingest")]
/// The `rpc` option of `ingest`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) enum RpcRead {
    #[default]
    Unset,
    Rpc(Rpc),
    /// Anything else, as compact JSON (for the error message).
    Other(String),
}

#[cfg(feature = "ingest")]
/// The `rpc` option: a short string, or anything that is wrong, echoed in the error as compact
/// JSON.
fn rpc(r: &mut Reader<'_>) -> Result<RpcRead, Stop> {
    let mut out = String::new();
    let got = compact::value(r, &mut out)?;
    Ok(match got {
        Got::Scalar(Scalar::Null) => RpcRead::Unset,
        Got::Scalar(Scalar::Str(s)) if s == "RecordEvents" => RpcRead::Rpc(Rpc::RecordEvents),
        Got::Scalar(Scalar::Str(s)) if s == "RecordEvent" => RpcRead::Rpc(Rpc::RecordEvent),
        _ => RpcRead::Other(out),
    })
}

#[cfg(feature = "ingest")]
/// A value written back as compact JSON, as serde_json writes a parsed `Value`: keys sorted, a
/// repeated key's last value kept.
mod compact {
    use crate::json::read::{Got, Reader, Scalar, Stop, last_per_key};
    use crate::json::write_json_string;

    /// The next value, written to `out`; answers what it was (objects and arrays as kinds).
    pub(super) fn value<'a>(r: &mut Reader<'a>, out: &mut String) -> Result<Got<'a>, Stop> {
        let got = r.open()?;
        match &got {
            Got::Scalar(Scalar::Null) => out.push_str("null"),
            Got::Scalar(Scalar::Bool(b)) => out.push_str(if *b { "true" } else { "false" }),
            Got::Scalar(Scalar::Number(n)) => n.write(out),
            Got::Scalar(Scalar::Str(s)) => string(out, s),
            Got::Array => {
                out.push('[');
                let mut first = true;
                while r.next_item()? {
                    if !first {
                        out.push(',');
                    }
                    first = false;
                    value(r, out)?;
                }
                out.push(']');
            }
            Got::Object => {
                let mut entries = Vec::new();
                while let Some(key) = r.next_key()? {
                    let mut v = String::new();
                    value(r, &mut v)?;
                    entries.push((key, v));
                }
                let keys: Vec<&str> = entries.iter().map(|(k, _)| k.as_ref()).collect();
                out.push('{');
                for (n, i) in last_per_key(&keys).into_iter().enumerate() {
                    if let Some((k, v)) = entries.get(i) {
                        if n > 0 {
                            out.push(',');
                        }
                        string(out, k);
                        out.push(':');
                        out.push_str(v);
                    }
                }
                out.push('}');
            }
        }
        Ok(got)
    }

    fn string(out: &mut String, s: &str) {
        let mut bytes = core::mem::take(out).into_bytes();
        write_json_string(&mut bytes, s);
        *out = String::from_utf8(bytes).unwrap_or_default();
    }
}

// ---------------------------------------------------------------------------------------------
// The ops' inputs.

/// Any op's input, only checked (an unknown op still reports a malformed input first).
#[derive(Default)]
pub(crate) struct Unused;

impl OpInput for Unused {
    fn read_field(&mut self, _: &str, r: &mut Reader<'_>) -> Result<(), Stop> {
        skip(r)
    }
}

/// `validate`: `{"event"}`.
#[derive(Default)]
pub(crate) struct ValidateInput {
    pub(crate) event: Option<Result<Event, JsonError>>,
}

impl OpInput for ValidateInput {
    fn read_field(&mut self, name: &str, r: &mut Reader<'_>) -> Result<(), Stop> {
        match name {
            "event" => self.event = Some(read_event(r)?),
            _ => skip(r)?,
        }
        Ok(())
    }
}

/// `redact`'s `policy`: its two options (anything but an object leaves both unset).
#[derive(Debug, Default)]
pub(crate) struct PolicyRead {
    pub(crate) dotcom: Loose<bool>,
    pub(crate) additional_allowed_event_types: Loose<String>,
}

pub(crate) fn policy(r: &mut Reader<'_>) -> Result<PolicyRead, Stop> {
    let mut policy = PolicyRead::default();
    if r.open_object()?.is_some() {
        return Ok(policy);
    }
    while let Some(key) = r.next_key()? {
        let got = r.value()?;
        match key.as_ref() {
            "dotcom" => policy.dotcom = loose_bool(got),
            "additionalAllowedEventTypes" => {
                policy.additional_allowed_event_types = loose_text(got);
            }
            _ => {}
        }
    }
    Ok(policy)
}

/// `redact`: `{"event", "policy"}`.
#[derive(Default)]
pub(crate) struct RedactInput {
    pub(crate) policy: PolicyRead,
    pub(crate) event: Option<Result<Event, JsonError>>,
}

impl OpInput for RedactInput {
    fn read_field(&mut self, name: &str, r: &mut Reader<'_>) -> Result<(), Stop> {
        match name {
            "policy" => self.policy = policy(r)?,
            "event" => self.event = Some(read_event(r)?),
            _ => skip(r)?,
        }
        Ok(())
    }
}

#[cfg(feature = "translate")]
/// `translate`: `{"metadata", "event", "maxMessageBytes"?}`.
#[derive(Default)]
pub(crate) struct TranslateInput {
    pub(crate) max_message_bytes: Loose<usize>,
    pub(crate) metadata: Option<MetadataRead>,
    pub(crate) event: Option<Result<Event, JsonError>>,
}

#[cfg(feature = "translate")]
impl OpInput for TranslateInput {
    fn read_field(&mut self, name: &str, r: &mut Reader<'_>) -> Result<(), Stop> {
        match name {
            "maxMessageBytes" => self.max_message_bytes = byte_count(r.value()?),
            "metadata" => self.metadata = Some(read_metadata(r)?),
            "event" => self.event = Some(read_event(r)?),
            _ => skip(r)?,
        }
        Ok(())
    }
}

#[cfg(feature = "ingest")]
/// `ingest`: `{"metadata", "events", "rpc"?, "maxMessageBytes"?}`.
#[derive(Default)]
pub(crate) struct IngestInput {
    pub(crate) max_message_bytes: Loose<usize>,
    pub(crate) rpc: RpcRead,
    pub(crate) metadata: Option<MetadataRead>,
    /// `Some(None)`: given, but not an array.
    pub(crate) events: Option<Option<EventsRead>>,
}

#[cfg(feature = "ingest")]
impl OpInput for IngestInput {
    fn read_field(&mut self, name: &str, r: &mut Reader<'_>) -> Result<(), Stop> {
        match name {
            "maxMessageBytes" => self.max_message_bytes = byte_count(r.value()?),
            "rpc" => self.rpc = rpc(r)?,
            "metadata" => self.metadata = Some(read_metadata(r)?),
            "events" => {
                self.events = Some(match r.open_array()? {
                    None => Some(event_list(r)?),
                    Some(_) => None,
                });
            }
            _ => skip(r)?,
        }
        Ok(())
    }
}

/// `record`: `{"event": TelemetryEventInput, "context"}`.
#[derive(Default)]
pub(crate) struct RecordInput {
    pub(crate) context: Option<ContextRead>,
    pub(crate) event: Option<Result<TelemetryEventInput, RecordError>>,
}

impl OpInput for RecordInput {
    fn read_field(&mut self, name: &str, r: &mut Reader<'_>) -> Result<(), Stop> {
        match name {
            "context" => self.context = Some(ContextRead::read(r)?),
            "event" => self.event = Some(recording_value(r)?),
            _ => skip(r)?,
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// The protobuf encoders' and the exporter rules' inputs.

/// A `RecordEventsRequest`: `{"metadata": …}` or `{"events": {"events": […]}}`.
#[derive(Default)]
pub(crate) struct RecordEventsRequestInput {
    pub(crate) metadata: Option<MetadataRead>,
    pub(crate) events: Option<Result<Vec<Event>, FfiError>>,
}

/// An `EventsPayload`: anything but an object, or a missing or `null` list, is no events.
fn events_payload(r: &mut Reader<'_>) -> Result<Result<Vec<Event>, FfiError>, Stop> {
    let mut events = Ok(Vec::new());
    if r.open_object()?.is_some() {
        return Ok(events);
    }
    while let Some(key) = r.next_key()? {
        if key == "events" {
            events = match r.open_array()? {
                None => event_list(r)?.map_err(|e| FfiError::MalformedInput(event_at(e))),
                Some(got) if got.is_null() => Ok(Vec::new()),
                Some(_) => Err(FfiError::MalformedInput("events must be an array".into())),
            };
        } else {
            r.value()?;
        }
    }
    Ok(events)
}

impl OpInput for RecordEventsRequestInput {
    fn read_field(&mut self, name: &str, r: &mut Reader<'_>) -> Result<(), Stop> {
        match name {
            "metadata" => self.metadata = Some(read_metadata(r)?),
            "events" => self.events = Some(events_payload(r)?),
            _ => skip(r)?,
        }
        Ok(())
    }
}

/// A `RecordEventRequest`: `{"metadata"?, "event"?}` (`null` is not set).
#[derive(Default)]
pub(crate) struct RecordEventRequestInput {
    pub(crate) metadata: Option<MetadataRead>,
    pub(crate) event: Option<Result<Event, JsonError>>,
}

/// A message field where `null` is "not set".
fn read_message_or_null<T>(
    r: &mut Reader<'_>,
    subject: &'static str,
    message: Message<T>,
) -> Result<Option<Result<T, JsonError>>, Stop> {
    Ok(match r.open_object()? {
        None => Some(finish(subject, (message.read)(r)?)),
        Some(got) if got.is_null() => None,
        Some(got) => Some(finish(subject, Err((message.wrong)(got.kind())))),
    })
}

impl OpInput for RecordEventRequestInput {
    fn read_field(&mut self, name: &str, r: &mut Reader<'_>) -> Result<(), Stop> {
        match name {
            "metadata" => self.metadata = read_message_or_null(r, "metadata", METADATA)?,
            "event" => self.event = read_message_or_null(r, "event", EVENT)?,
            _ => skip(r)?,
        }
        Ok(())
    }
}

/// A list of strings (ids): the elements of an opened array, or `None` if one is not a string.
pub(crate) fn string_list(r: &mut Reader<'_>) -> Result<Option<Vec<String>>, Stop> {
    let mut ids = Some(Vec::new());
    while r.next_item()? {
        match (r.value()?, &mut ids) {
            (Got::Scalar(Scalar::Str(id)), Some(ids)) => ids.push(id.into_owned()),
            _ => ids = None,
        }
    }
    Ok(ids)
}

/// A `RecordEventsResponse`: `{"succeededEvents": [ids]}` (missing or `null`: none).
#[derive(Default)]
pub(crate) struct RecordEventsResponseInput {
    pub(crate) succeeded_events: Option<Result<Vec<String>, FfiError>>,
}

impl OpInput for RecordEventsResponseInput {
    fn read_field(&mut self, name: &str, r: &mut Reader<'_>) -> Result<(), Stop> {
        match name {
            "succeededEvents" => {
                self.succeeded_events = match r.open_array()? {
                    Some(got) if got.is_null() => None,
                    Some(_) => Some(Err(FfiError::MalformedInput(
                        "succeededEvents must be an array".into(),
                    ))),
                    None => Some(string_list(r)?.ok_or_else(|| {
                        FfiError::MalformedInput("succeededEvents must hold strings".into())
                    })),
                };
            }
            _ => skip(r)?,
        }
        Ok(())
    }
}

/// The exporter's chunk plan: `{"sizes": [byte counts], "limit"?}`.
#[derive(Default)]
pub(crate) struct PlanChunksInput {
    pub(crate) sizes: Option<SizesRead>,
    pub(crate) limit: Loose<usize>,
}

/// What `sizes` held.
pub(crate) enum SizesRead {
    NotAnArray,
    NotByteCounts,
    Sizes(Vec<usize>),
}

fn sizes(r: &mut Reader<'_>) -> Result<SizesRead, Stop> {
    if r.open_array()?.is_some() {
        return Ok(SizesRead::NotAnArray);
    }
    let mut sizes = SizesRead::Sizes(Vec::new());
    while r.next_item()? {
        match (byte_count(r.value()?), &mut sizes) {
            (Loose::Value(n), SizesRead::Sizes(sizes)) => sizes.push(n),
            _ => sizes = SizesRead::NotByteCounts,
        }
    }
    Ok(sizes)
}

impl OpInput for PlanChunksInput {
    fn read_field(&mut self, name: &str, r: &mut Reader<'_>) -> Result<(), Stop> {
        match name {
            "sizes" => self.sizes = Some(sizes(r)?),
            "limit" => self.limit = byte_count(r.value()?),
            _ => skip(r)?,
        }
        Ok(())
    }
}

/// The exporter's acknowledgement rule's input: `{"sent": [ids], "succeeded": [ids]}`.
#[derive(Default)]
pub(crate) struct AcknowledgedInput {
    /// Each list: `None` when missing or not an array, `Some(None)` when it holds a non-string.
    pub(crate) sent: Option<Option<Vec<String>>>,
    pub(crate) succeeded: Option<Option<Vec<String>>>,
}

impl OpInput for AcknowledgedInput {
    fn read_field(&mut self, name: &str, r: &mut Reader<'_>) -> Result<(), Stop> {
        let list = match r.open_array()? {
            None => Some(string_list(r)?),
            Some(_) => None,
        };
        match name {
            "sent" => self.sent = list,
            "succeeded" => self.succeeded = list,
            _ => {}
        }
        Ok(())
    }
}

/// Reads one `Event` from JSON text (the whole input): a malformed document is an
/// [`FfiError`], a wrong event an `Err` answer.
pub(crate) fn event_text(text: &str) -> Result<Result<Event, JsonError>, FfiError> {
    check_size(text).map_err(FfiError::MalformedInput)?;
    match document(text, |r| EVENT.read_value(r)) {
        Ok(r) => Ok(finish("event", r)),
        Err(e) => Err(FfiError::MalformedInput(not_json(e))),
    }
}
