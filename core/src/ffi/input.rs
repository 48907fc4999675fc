//! The `ffi` inputs, read from JSON text straight into typed fields (no `serde_json::Value`
//! tree), with the readers and rules of `json::read`: syntax errors first, keys judged in
//! sorted order with the last duplicate winning, depth bounded.
//!
//! An input object is read field by field into an [`OpInput`], which keeps what each field gave
//! (a value, or the error reading it gave) and skips (but still checks) the fields its op does
//! not use; the op then looks at the fields in its own fixed order, so which error an input
//! gets does not depend on the order of its fields.

use super::FfiError;
use crate::ingest::Rpc;
use crate::json::parse::{EventReader, MetadataReader, finish};
use crate::json::read::{
    Elements, Entries, EntryValue, JsonKind, OneValue, Reader, Scalar, Skip, Stop, TextValue,
    from_text, from_value,
};
use crate::json::{JsonError, MAX_JSON_INPUT_BYTES};
use crate::proto::{Event, RecordEventsRequestMetadata};
use crate::record::read::{ContextRead, ContextReader, InputReader as RecordingReader};
use crate::record::{RecordError, TelemetryEventInput};
use serde_json::Value as Json;
use std::marker::PhantomData;

/// The fields of one op's input object, as read.
pub(crate) trait OpInput: Default {
    /// Reads input field `name` from `de` (a field the op does not use is only checked).
    fn read_field<'de>(&mut self, name: &str, value: &mut dyn OneValue<'de>) -> Result<(), Stop>;
}

fn skip(value: &mut dyn OneValue<'_>) -> Result<(), Stop> {
    value.read(Skip).map(drop)
}

fn read_event(value: &mut dyn OneValue<'_>) -> Result<Result<Event, JsonError>, Stop> {
    Ok(finish("event", value.read(EventReader)?))
}

type MetadataRead = Result<RecordEventsRequestMetadata, JsonError>;

fn read_metadata(value: &mut dyn OneValue<'_>) -> Result<MetadataRead, Stop> {
    Ok(finish("metadata", value.read(MetadataReader)?))
}

/// Where the input comes from: JSON text, a parsed value, or named fields each given as JSON
/// text. Each is its own type so that a build using only one carries only that one's readers.
pub(crate) trait Source: Copy {
    /// Reads the input object; `None` when it is not an object.
    fn read<I: OpInput>(self) -> Result<Option<I>, FfiError>;
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

impl Source for Text<'_> {
    fn read<I: OpInput>(self) -> Result<Option<I>, FfiError> {
        check_size(self.0).map_err(FfiError::MalformedInput)?;
        from_text(self.0, ObjectOf::<I>(PhantomData))
            .map_err(|e| FfiError::MalformedInput(not_json(e)))
    }
}

impl Source for Parsed<'_> {
    fn read<I: OpInput>(self) -> Result<Option<I>, FfiError> {
        from_value(self.0, ObjectOf::<I>(PhantomData))
            .map_err(|e| FfiError::MalformedInput(not_json(e)))
    }
}

impl Source for Fields<'_> {
    fn read<I: OpInput>(self) -> Result<Option<I>, FfiError> {
        let mut input = I::default();
        for (name, text) in self.0 {
            let malformed = |detail: String| FfiError::MalformedInput(format!("{name}: {detail}"));
            check_size(text).map_err(malformed)?;
            let mut value = TextValue::new(text);
            let read = input.read_field(name, &mut value);
            value.end(read).map_err(|e| malformed(not_json(e)))?;
        }
        Ok(Some(input))
    }
}

/// An input object: each field read into `I`; `None` for anything but an object.
struct ObjectOf<I>(PhantomData<I>);

impl<'de, I: OpInput> Reader<'de> for ObjectOf<I> {
    type Out = Option<I>;

    fn wrong_kind(self, _: JsonKind) -> Option<I> {
        None
    }

    fn object(self, map: &mut dyn Entries<'de>) -> Result<Option<I>, Stop> {
        let mut input = I::default();
        while let Some(name) = map.next_key()? {
            input.read_field(&name, &mut EntryValue(map))?;
        }
        Ok(Some(input))
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
struct LooseBool;

impl<'de> Reader<'de> for LooseBool {
    type Out = Loose<bool>;

    fn wrong_kind(self, _: JsonKind) -> Loose<bool> {
        Loose::Wrong
    }

    fn scalar(self, s: Scalar<'de>) -> Loose<bool> {
        match s {
            Scalar::Null => Loose::Unset,
            Scalar::Bool(b) => Loose::Value(b),
            _ => Loose::Wrong,
        }
    }
}

/// A string option.
struct LooseText;

impl<'de> Reader<'de> for LooseText {
    type Out = Loose<String>;

    fn wrong_kind(self, _: JsonKind) -> Loose<String> {
        Loose::Wrong
    }

    fn scalar(self, s: Scalar<'de>) -> Loose<String> {
        match s {
            Scalar::Null => Loose::Unset,
            Scalar::Str(s) => Loose::Value(s.into_owned()),
            _ => Loose::Wrong,
        }
    }
}

/// A byte count: a non-negative JSON integer.
struct ByteCount;

impl<'de> Reader<'de> for ByteCount {
    type Out = Loose<usize>;

    fn wrong_kind(self, _: JsonKind) -> Loose<usize> {
        Loose::Wrong
    }

    fn scalar(self, s: Scalar<'de>) -> Loose<usize> {
        match s {
            Scalar::Null => Loose::Unset,
            Scalar::Number(n) => match n.as_u64().and_then(|n| usize::try_from(n).ok()) {
                Some(n) => Loose::Value(n),
                None => Loose::Wrong,
            },
            _ => Loose::Wrong,
        }
    }
}

/// A list of events: `None` unless an array; else the events, or the first wrong one's index
/// and error (the rest are only checked).
struct EventList;

type EventsRead = Result<Vec<Event>, (usize, JsonError)>;

impl<'de> Reader<'de> for EventList {
    type Out = Option<EventsRead>;

    fn wrong_kind(self, _: JsonKind) -> Self::Out {
        None
    }

    fn array(self, seq: &mut dyn Elements<'de>) -> Result<Self::Out, Stop> {
        let mut events = Vec::new();
        while let Some(read) = seq.element(EventReader)? {
            match finish("event", read) {
                Ok(e) => events.push(e),
                Err(e) => {
                    let index = events.len();
                    while seq.element(Skip)?.is_some() {}
                    return Ok(Some(Err((index, e))));
                }
            }
        }
        Ok(Some(Ok(events)))
    }
}

/// The message for event `index` of a list that does not parse.
pub(crate) fn event_at((index, e): (usize, JsonError)) -> String {
    format!("events[{index}]: {e}")
}

/// The `rpc` option of `ingest`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) enum RpcRead {
    #[default]
    Unset,
    Rpc(Rpc),
    /// Anything else, as compact JSON (for the error message).
    Other(String),
}

struct RpcReader;

impl<'de> Reader<'de> for RpcReader {
    type Out = RpcRead;

    fn wrong_kind(self, kind: JsonKind) -> RpcRead {
        // Not reached: every kind has its own method below.
        RpcRead::Other(kind.described().into())
    }

    fn scalar(self, s: Scalar<'de>) -> RpcRead {
        match s {
            Scalar::Null => RpcRead::Unset,
            Scalar::Str(s) if s == "RecordEvents" => RpcRead::Rpc(Rpc::RecordEvents),
            Scalar::Str(s) if s == "RecordEvent" => RpcRead::Rpc(Rpc::RecordEvent),
            other => RpcRead::Other(AnyJson.scalar(other).to_string()),
        }
    }

    // A wrong `rpc` that is an object or array is echoed in the error as compact JSON: only
    // then is that one field read into a `serde_json::Value`.
    fn object(self, map: &mut dyn Entries<'de>) -> Result<RpcRead, Stop> {
        Ok(RpcRead::Other(AnyJson.object(map)?.to_string()))
    }

    fn array(self, seq: &mut dyn Elements<'de>) -> Result<RpcRead, Stop> {
        Ok(RpcRead::Other(AnyJson.array(seq)?.to_string()))
    }
}

/// Any JSON value as a `serde_json::Value` (as serde_json reads one: a repeated key's last
/// value wins).
struct AnyJson;

impl<'de> Reader<'de> for AnyJson {
    type Out = Json;

    fn wrong_kind(self, _: JsonKind) -> Json {
        // Not reached: every kind has its own method below.
        Json::Null
    }

    fn scalar(self, s: Scalar<'de>) -> Json {
        match s {
            Scalar::Null => Json::Null,
            Scalar::Bool(b) => Json::Bool(b),
            Scalar::Number(n) => n.to_json(),
            Scalar::Str(s) => Json::String(s.into_owned()),
        }
    }

    fn object(self, map: &mut dyn Entries<'de>) -> Result<Json, Stop> {
        let mut object = serde_json::Map::new();
        while let Some(key) = map.next_key()? {
            let value = map.value(AnyJson)?;
            object.insert(key.into_owned(), value);
        }
        Ok(Json::Object(object))
    }

    fn array(self, seq: &mut dyn Elements<'de>) -> Result<Json, Stop> {
        let mut items = Vec::new();
        while let Some(item) = seq.element(AnyJson)? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }
}

// ---------------------------------------------------------------------------------------------
// The ops' inputs.

/// Any op's input, only checked (an unknown op still reports a malformed input first).
#[derive(Default)]
pub(crate) struct Unused;

impl OpInput for Unused {
    fn read_field<'de>(&mut self, _: &str, value: &mut dyn OneValue<'de>) -> Result<(), Stop> {
        skip(value)
    }
}

/// `validate`: `{"event"}`.
#[derive(Default)]
pub(crate) struct ValidateInput {
    pub(crate) event: Option<Result<Event, JsonError>>,
}

impl OpInput for ValidateInput {
    fn read_field<'de>(&mut self, name: &str, value: &mut dyn OneValue<'de>) -> Result<(), Stop> {
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

struct PolicyReader;

impl<'de> Reader<'de> for PolicyReader {
    type Out = PolicyRead;

    fn wrong_kind(self, _: JsonKind) -> PolicyRead {
        PolicyRead::default()
    }

    fn object(self, map: &mut dyn Entries<'de>) -> Result<PolicyRead, Stop> {
        let mut policy = PolicyRead::default();
        while let Some(key) = map.next_key()? {
            match key.as_ref() {
                "dotcom" => policy.dotcom = map.value(LooseBool)?,
                "additionalAllowedEventTypes" => {
                    policy.additional_allowed_event_types = map.value(LooseText)?;
                }
                _ => {
                    map.value(Skip)?;
                }
            }
        }
        Ok(policy)
    }
}

/// `redact`: `{"event", "policy"}`.
#[derive(Default)]
pub(crate) struct RedactInput {
    pub(crate) policy: PolicyRead,
    pub(crate) event: Option<Result<Event, JsonError>>,
}

impl OpInput for RedactInput {
    fn read_field<'de>(&mut self, name: &str, value: &mut dyn OneValue<'de>) -> Result<(), Stop> {
        match name {
            "policy" => self.policy = value.read(PolicyReader)?,
            "event" => self.event = Some(read_event(value)?),
            _ => skip(value)?,
        }
        Ok(())
    }
}

/// `translate`: `{"metadata", "event", "maxMessageBytes"?}`.
#[derive(Default)]
pub(crate) struct TranslateInput {
    pub(crate) max_message_bytes: Loose<usize>,
    pub(crate) metadata: Option<MetadataRead>,
    pub(crate) event: Option<Result<Event, JsonError>>,
}

impl OpInput for TranslateInput {
    fn read_field<'de>(&mut self, name: &str, value: &mut dyn OneValue<'de>) -> Result<(), Stop> {
        match name {
            "maxMessageBytes" => self.max_message_bytes = value.read(ByteCount)?,
            "metadata" => self.metadata = Some(read_metadata(value)?),
            "event" => self.event = Some(read_event(value)?),
            _ => skip(value)?,
        }
        Ok(())
    }
}

/// `ingest`: `{"metadata", "events", "rpc"?, "maxMessageBytes"?}`.
#[derive(Default)]
pub(crate) struct IngestInput {
    pub(crate) max_message_bytes: Loose<usize>,
    pub(crate) rpc: RpcRead,
    pub(crate) metadata: Option<MetadataRead>,
    /// `Some(None)`: given, but not an array.
    pub(crate) events: Option<Option<EventsRead>>,
}

impl OpInput for IngestInput {
    fn read_field<'de>(&mut self, name: &str, value: &mut dyn OneValue<'de>) -> Result<(), Stop> {
        match name {
            "maxMessageBytes" => self.max_message_bytes = value.read(ByteCount)?,
            "rpc" => self.rpc = value.read(RpcReader)?,
            "metadata" => self.metadata = Some(read_metadata(value)?),
            "events" => self.events = Some(value.read(EventList)?),
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
    fn read_field<'de>(&mut self, name: &str, value: &mut dyn OneValue<'de>) -> Result<(), Stop> {
        match name {
            "context" => self.context = Some(value.read(ContextReader)?),
            "event" => self.event = Some(value.read(RecordingReader)?),
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
struct EventsPayloadReader;

impl<'de> Reader<'de> for EventsPayloadReader {
    type Out = Result<Vec<Event>, FfiError>;

    fn wrong_kind(self, _: JsonKind) -> Self::Out {
        Ok(Vec::new())
    }

    fn object(self, map: &mut dyn Entries<'de>) -> Result<Self::Out, Stop> {
        let mut events = Ok(Vec::new());
        while let Some(key) = map.next_key()? {
            if key == "events" {
                events = match map.value_or_null(EventList)? {
                    None => Ok(Vec::new()),
                    Some(None) => Err(FfiError::MalformedInput("events must be an array".into())),
                    Some(Some(read)) => read.map_err(|e| FfiError::MalformedInput(event_at(e))),
                };
            } else {
                map.value(Skip)?;
            }
        }
        Ok(events)
    }
}

impl OpInput for RecordEventsRequestInput {
    fn read_field<'de>(&mut self, name: &str, value: &mut dyn OneValue<'de>) -> Result<(), Stop> {
        match name {
            "metadata" => self.metadata = Some(read_metadata(value)?),
            "events" => self.events = Some(value.read(EventsPayloadReader)?),
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

impl OpInput for RecordEventRequestInput {
    fn read_field<'de>(&mut self, name: &str, value: &mut dyn OneValue<'de>) -> Result<(), Stop> {
        match name {
            "metadata" => {
                self.metadata = value
                    .read_or_null(MetadataReader)?
                    .map(|r| finish("metadata", r));
            }
            "event" => {
                self.event = value.read_or_null(EventReader)?.map(|r| finish("event", r));
            }
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

/// A list of ids: `None` unless an array; the ids, or `Err` if one is not a string.
struct IdList;

impl<'de> Reader<'de> for IdList {
    type Out = Option<Result<Vec<String>, ()>>;

    fn wrong_kind(self, _: JsonKind) -> Self::Out {
        None
    }

    fn array(self, seq: &mut dyn Elements<'de>) -> Result<Self::Out, Stop> {
        let mut ids = Ok(Vec::new());
        while let Some(id) = seq.element(LooseText)? {
            match (id, &mut ids) {
                (Loose::Value(id), Ok(ids)) => ids.push(id),
                _ => ids = Err(()),
            }
        }
        Ok(Some(ids))
    }
}

impl OpInput for RecordEventsResponseInput {
    fn read_field<'de>(&mut self, name: &str, value: &mut dyn OneValue<'de>) -> Result<(), Stop> {
        match name {
            "succeededEvents" => {
                self.succeeded_events = match value.read_or_null(IdList)? {
                    None => None,
                    Some(None) => Some(Err(FfiError::MalformedInput(
                        "succeededEvents must be an array".into(),
                    ))),
                    Some(Some(ids)) => Some(ids.map_err(|()| {
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

struct ByteCounts;

impl<'de> Reader<'de> for ByteCounts {
    type Out = SizesRead;

    fn wrong_kind(self, _: JsonKind) -> SizesRead {
        SizesRead::NotAnArray
    }

    fn array(self, seq: &mut dyn Elements<'de>) -> Result<SizesRead, Stop> {
        let mut sizes = SizesRead::Sizes(Vec::new());
        while let Some(size) = seq.element(ByteCount)? {
            match (size, &mut sizes) {
                (Loose::Value(n), SizesRead::Sizes(sizes)) => sizes.push(n),
                _ => sizes = SizesRead::NotByteCounts,
            }
        }
        Ok(sizes)
    }
}

impl OpInput for PlanChunksInput {
    fn read_field<'de>(&mut self, name: &str, value: &mut dyn OneValue<'de>) -> Result<(), Stop> {
        match name {
            "sizes" => self.sizes = Some(value.read(ByteCounts)?),
            "limit" => self.limit = value.read(ByteCount)?,
            _ => skip(value)?,
        }
        Ok(())
    }
}

/// Reads one `Event` from JSON text (the whole input): a malformed document is an
/// [`FfiError`], a wrong event an `Err` answer.
pub(crate) fn event_text(text: &str) -> Result<Result<Event, JsonError>, FfiError> {
    check_size(text).map_err(FfiError::MalformedInput)?;
    from_text(text, EventReader)
        .map(|r| finish("event", r))
        .map_err(|e| FfiError::MalformedInput(not_json(e)))
}
