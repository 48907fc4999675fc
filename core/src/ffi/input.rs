//! The `ffi` inputs, read from JSON text straight into typed fields (no `serde_json::Value`
//! tree), with the readers and rules of `json::read`: syntax errors first, keys judged in
//! sorted order with the last duplicate winning, depth bounded.
//!
//! An input object is read field by field into an [`OpInput`], which keeps what each field gave
//! (a value, or the error reading it gave) and skips (but still checks) the fields its op does
//! not use; the op then looks at the fields in its own fixed order, so which error an input
//! gets does not depend on the order of its fields.

use super::FfiError;
#[cfg(feature = "ingest")]
use crate::ingest::Rpc;
use crate::json::parse::{EVENT, METADATA, Message, R, finish};
use crate::json::read::{
    Entries, Got, Scalar, Source, Stop, TextValue, from_text, from_value, object_document,
};
use crate::json::{JsonError, MAX_JSON_INPUT_BYTES};
use crate::proto::{Event, RecordEventsRequestMetadata};
use crate::record::read::{ContextRead, recording, recording_not_object};
use crate::record::{RecordError, TelemetryEventInput};
use serde_json::Value as Json;

/// The fields of one op's input object, as read.
pub(crate) trait OpInput {
    /// Reads input field `name` from `value` (a field the op does not use is only checked).
    fn read_field<'de>(&mut self, name: &str, value: &mut dyn Source<'de>) -> Result<(), Stop>;
}

fn skip(value: &mut dyn Source<'_>) -> Result<(), Stop> {
    value.value().map(drop)
}

/// A message that is the whole of a field (so `null` is a wrong kind, not "not set").
fn read_message<'de, T>(
    value: &mut dyn Source<'de>,
    subject: &'static str,
    message: Message<T>,
) -> Result<Result<T, JsonError>, Stop> {
    Ok(finish(subject, read_or_wrong(value, message)?))
}

fn read_or_wrong<'de, T>(value: &mut dyn Source<'de>, message: Message<T>) -> Result<R<T>, Stop> {
    let mut read = message.read;
    Ok(match value.object(&mut read)? {
        Ok(r) => r,
        Err(got) => Err((message.wrong)(got.kind())),
    })
}

fn read_event(value: &mut dyn Source<'_>) -> Result<Result<Event, JsonError>, Stop> {
    read_message(value, "event", EVENT)
}

type MetadataRead = Result<RecordEventsRequestMetadata, JsonError>;

fn read_metadata(value: &mut dyn Source<'_>) -> Result<MetadataRead, Stop> {
    read_message(value, "metadata", METADATA)
}

/// Where the input comes from: JSON text, a parsed value, or named fields each given as JSON
/// text. Each is its own type so that a build using only one carries only that one's code.
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

fn not_json(e: serde_json::Error) -> String {
    format!("not valid JSON: {e}")
}

/// Reads each field of an input object into `input`.
fn input_fields<'de>(map: &mut dyn Entries<'de>, input: &mut dyn OpInput) -> Result<(), Stop> {
    while let Some(name) = map.next_key()? {
        input.read_field(&name, map)?;
    }
    Ok(())
}

impl InputSource for Text<'_> {
    fn read_into(self, input: &mut dyn OpInput) -> Result<bool, FfiError> {
        check_size(self.0).map_err(FfiError::MalformedInput)?;
        object_document(|body| from_text(self.0, body, None), &mut |map| {
            input_fields(map, input)
        })
        .map(|read| read.is_ok())
        .map_err(|e| FfiError::MalformedInput(not_json(e)))
    }
}

impl InputSource for Parsed<'_> {
    fn read_into(self, input: &mut dyn OpInput) -> Result<bool, FfiError> {
        object_document(|body| from_value(self.0, body, None), &mut |map| {
            input_fields(map, input)
        })
        .map(|read| read.is_ok())
        .map_err(|e| FfiError::MalformedInput(not_json(e)))
    }
}

impl InputSource for Fields<'_> {
    fn read_into(self, input: &mut dyn OpInput) -> Result<bool, FfiError> {
        for (name, text) in self.0 {
            let malformed = |detail: String| FfiError::MalformedInput(format!("{name}: {detail}"));
            check_size(text).map_err(malformed)?;
            let mut value = TextValue::new(text);
            let read = input.read_field(name, &mut value);
            value.end(read).map_err(|e| malformed(not_json(e)))?;
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
type EventsRead = Result<Vec<Event>, (usize, JsonError)>;

fn event_list<'de>(items: &mut dyn Source<'de>) -> Result<EventsRead, Stop> {
    let mut events = Vec::new();
    loop {
        let mut read = EVENT.read;
        let event = match items.object(&mut read)? {
            Ok(r) => r,
            Err(Got::End) => return Ok(Ok(events)),
            Err(got) => Err((EVENT.wrong)(got.kind())),
        };
        match finish("event", event) {
            Ok(e) => events.push(e),
            Err(e) => {
                let index = events.len();
                while items.value()? != Got::End {}
                return Ok(Err((index, e)));
            }
        }
    }
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
/// The `rpc` option: read as a `serde_json::Value` (a short string, or anything that is wrong
/// and echoed in the error as compact JSON).
fn rpc(value: &mut dyn Source<'_>) -> Result<RpcRead, Stop> {
    Ok(match any_json(value)?.unwrap_or(Json::Null) {
        Json::Null => RpcRead::Unset,
        Json::String(s) if s == "RecordEvents" => RpcRead::Rpc(Rpc::RecordEvents),
        Json::String(s) if s == "RecordEvent" => RpcRead::Rpc(Rpc::RecordEvent),
        other => RpcRead::Other(other.to_string()),
    })
}

#[cfg(feature = "ingest")]
/// The next value as a `serde_json::Value` (as serde_json reads one: a repeated key's last
/// value wins); `None` at the end of an array.
fn any_json(value: &mut dyn Source<'_>) -> Result<Option<Json>, Stop> {
    let mut object = serde_json::Map::new();
    let mut items = Vec::new();
    let got = value.value_with(
        Some(&mut |map| {
            while let Some(key) = map.next_key()? {
                let v = any_json(map)?.unwrap_or(Json::Null);
                object.insert(key.into_owned(), v);
            }
            Ok(())
        }),
        Some(&mut |seq| {
            while let Some(v) = any_json(seq)? {
                items.push(v);
            }
            Ok(())
        }),
    )?;
    Ok(Some(match got {
        Got::Scalar(Scalar::Null) => Json::Null,
        Got::Scalar(Scalar::Bool(b)) => Json::Bool(b),
        Got::Scalar(Scalar::Number(n)) => n.to_json(),
        Got::Scalar(Scalar::Str(s)) => Json::String(s.into_owned()),
        Got::Object => Json::Object(object),
        Got::Array => Json::Array(items),
        Got::End => return Ok(None),
    }))
}

// ---------------------------------------------------------------------------------------------
// The ops' inputs.

/// Any op's input, only checked (an unknown op still reports a malformed input first).
#[derive(Default)]
pub(crate) struct Unused;

impl OpInput for Unused {
    fn read_field<'de>(&mut self, _: &str, value: &mut dyn Source<'de>) -> Result<(), Stop> {
        skip(value)
    }
}

/// `validate`: `{"event"}`.
#[derive(Default)]
pub(crate) struct ValidateInput {
    pub(crate) event: Option<Result<Event, JsonError>>,
}

impl OpInput for ValidateInput {
    fn read_field<'de>(&mut self, name: &str, value: &mut dyn Source<'de>) -> Result<(), Stop> {
        match name {
            "event" => self.event = Some(read_event(value)?),
            _ => skip(value)?,
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

pub(crate) fn policy(value: &mut dyn Source<'_>) -> Result<PolicyRead, Stop> {
    let read = value.object(&mut |map| {
        let mut policy = PolicyRead::default();
        while let Some(key) = map.next_key()? {
            let got = (map as &mut dyn Source<'_>).value()?;
            match key.as_ref() {
                "dotcom" => policy.dotcom = loose_bool(got),
                "additionalAllowedEventTypes" => {
                    policy.additional_allowed_event_types = loose_text(got);
                }
                _ => {}
            }
        }
        Ok(policy)
    })?;
    Ok(read.unwrap_or_default())
}

/// `redact`: `{"event", "policy"}`.
#[derive(Default)]
pub(crate) struct RedactInput {
    pub(crate) policy: PolicyRead,
    pub(crate) event: Option<Result<Event, JsonError>>,
}

impl OpInput for RedactInput {
    fn read_field<'de>(&mut self, name: &str, value: &mut dyn Source<'de>) -> Result<(), Stop> {
        match name {
            "policy" => self.policy = policy(value)?,
            "event" => self.event = Some(read_event(value)?),
            _ => skip(value)?,
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
    fn read_field<'de>(&mut self, name: &str, value: &mut dyn Source<'de>) -> Result<(), Stop> {
        match name {
            "maxMessageBytes" => self.max_message_bytes = byte_count(value.value()?),
            "metadata" => self.metadata = Some(read_metadata(value)?),
            "event" => self.event = Some(read_event(value)?),
            _ => skip(value)?,
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
    fn read_field<'de>(&mut self, name: &str, value: &mut dyn Source<'de>) -> Result<(), Stop> {
        match name {
            "maxMessageBytes" => self.max_message_bytes = byte_count(value.value()?),
            "rpc" => self.rpc = rpc(value)?,
            "metadata" => self.metadata = Some(read_metadata(value)?),
            "events" => self.events = Some(value.array(&mut event_list)?.ok()),
            _ => skip(value)?,
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
    fn read_field<'de>(&mut self, name: &str, value: &mut dyn Source<'de>) -> Result<(), Stop> {
        match name {
            "context" => self.context = Some(ContextRead::read(value)?),
            "event" => {
                self.event = Some(match value.object(&mut recording)? {
                    Ok(read) => read,
                    Err(_) => Err(recording_not_object()),
                });
            }
            _ => skip(value)?,
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
fn events_payload(value: &mut dyn Source<'_>) -> Result<Result<Vec<Event>, FfiError>, Stop> {
    let read = value.object(&mut |map| {
        let mut events = Ok(Vec::new());
        while let Some(key) = map.next_key()? {
            let value = map as &mut dyn Source<'_>;
            if key == "events" {
                events = match value.array(&mut event_list)? {
                    Ok(read) => read.map_err(|e| FfiError::MalformedInput(event_at(e))),
                    Err(got) if got.is_null() => Ok(Vec::new()),
                    Err(_) => Err(FfiError::MalformedInput("events must be an array".into())),
                };
            } else {
                value.value()?;
            }
        }
        Ok(events)
    })?;
    Ok(read.unwrap_or(Ok(Vec::new())))
}

impl OpInput for RecordEventsRequestInput {
    fn read_field<'de>(&mut self, name: &str, value: &mut dyn Source<'de>) -> Result<(), Stop> {
        match name {
            "metadata" => self.metadata = Some(read_metadata(value)?),
            "events" => self.events = Some(events_payload(value)?),
            _ => skip(value)?,
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
fn read_message_or_null<'de, T>(
    value: &mut dyn Source<'de>,
    subject: &'static str,
    message: Message<T>,
) -> Result<Option<Result<T, JsonError>>, Stop> {
    let mut read = message.read;
    Ok(match value.object(&mut read)? {
        Ok(r) => Some(finish(subject, r)),
        Err(got) if got.is_null() => None,
        Err(got) => Some(finish(subject, Err((message.wrong)(got.kind())))),
    })
}

impl OpInput for RecordEventRequestInput {
    fn read_field<'de>(&mut self, name: &str, value: &mut dyn Source<'de>) -> Result<(), Stop> {
        match name {
            "metadata" => self.metadata = read_message_or_null(value, "metadata", METADATA)?,
            "event" => self.event = read_message_or_null(value, "event", EVENT)?,
            _ => skip(value)?,
        }
        Ok(())
    }
}

/// A `RecordEventsResponse`: `{"succeededEvents": [ids]}` (missing or `null`: none).
#[derive(Default)]
pub(crate) struct RecordEventsResponseInput {
    pub(crate) succeeded_events: Option<Result<Vec<String>, FfiError>>,
}

impl OpInput for RecordEventsResponseInput {
    fn read_field<'de>(&mut self, name: &str, value: &mut dyn Source<'de>) -> Result<(), Stop> {
        match name {
            "succeededEvents" => {
                let read = value.array(&mut |items| {
                    let mut ids = Some(Vec::new());
                    loop {
                        match (items.value()?, &mut ids) {
                            (Got::End, _) => return Ok(ids),
                            (Got::Scalar(Scalar::Str(id)), Some(ids)) => ids.push(id.into_owned()),
                            _ => ids = None,
                        }
                    }
                })?;
                self.succeeded_events = match read {
                    Err(got) if got.is_null() => None,
                    Err(_) => Some(Err(FfiError::MalformedInput(
                        "succeededEvents must be an array".into(),
                    ))),
                    Ok(ids) => Some(ids.ok_or_else(|| {
                        FfiError::MalformedInput("succeededEvents must hold strings".into())
                    })),
                };
            }
            _ => skip(value)?,
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

fn sizes(value: &mut dyn Source<'_>) -> Result<SizesRead, Stop> {
    let read = value.array(&mut |items| {
        let mut sizes = SizesRead::Sizes(Vec::new());
        loop {
            let got = items.value()?;
            if got == Got::End {
                return Ok(sizes);
            }
            match (byte_count(got), &mut sizes) {
                (Loose::Value(n), SizesRead::Sizes(sizes)) => sizes.push(n),
                _ => sizes = SizesRead::NotByteCounts,
            }
        }
    })?;
    Ok(read.unwrap_or(SizesRead::NotAnArray))
}

impl OpInput for PlanChunksInput {
    fn read_field<'de>(&mut self, name: &str, value: &mut dyn Source<'de>) -> Result<(), Stop> {
        match name {
            "sizes" => self.sizes = Some(sizes(value)?),
            "limit" => self.limit = byte_count(value.value()?),
            _ => skip(value)?,
        }
        Ok(())
    }
}

/// Reads one `Event` from JSON text (the whole input): a malformed document is an
/// [`FfiError`], a wrong event an `Err` answer.
pub(crate) fn event_text(text: &str) -> Result<Result<Event, JsonError>, FfiError> {
    check_size(text).map_err(FfiError::MalformedInput)?;
    let mut read = EVENT.read;
    match object_document(|body| from_text(text, body, None), &mut read) {
        Ok(Ok(r)) => Ok(finish("event", r)),
        Ok(Err(got)) => Ok(finish("event", Err((EVENT.wrong)(got.kind())))),
        Err(e) => Err(FfiError::MalformedInput(not_json(e))),
    }
}
