//! The proto3 JSON mapping of `telemetrygateway.v1`, read from JSON text straight into the
//! prost types (through the readers of [`super::read`]; no `serde_json::Value` tree).
//!
//! Hand-written readers rather than `#[derive(Deserialize)]` on the generated types, so that
//! every error names the offending field (`parameters.metadata.count: expected a number`),
//! unknown fields are refused rather than dropped, and the accepted forms are exactly
//! protojson's: lowerCamelCase or original names, `null` for "not set", int64 as a string or an
//! integral number, doubles as numbers or `"NaN"`/`"Infinity"`/`"-Infinity"`/numeric strings,
//! RFC 3339 timestamps, and `Struct`/`Value` as plain JSON.

use crate::prelude::*;

use super::read::{ByKey, Got, JsonKind, Reader, Scalar, Spellings, Stop, document};
use super::time::timestamp_from_rfc3339;
use super::{JsonError, MAX_JSON_INPUT_BYTES};
use crate::proto::{
    Event, EventBillingMetadata, EventFeatureFlags, EventInteraction, EventMarketingTracking,
    EventParameters, EventSource, EventUser, Identifier, RecordEventsRequestMetadata,
    event_interaction, event_source, identifier,
};
use alloc::collections::BTreeMap;
use prost_types::{ListValue, Struct, Timestamp, Value, value::Kind as ValueKind};
#[cfg(feature = "json-value")]
use serde_json::Value as Json;

/// A field-level error on its way up: the path is collected in reverse as it unwinds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FieldError {
    rev_path: Vec<String>,
    detail: String,
}

impl FieldError {
    fn new(detail: impl Into<String>) -> Self {
        FieldError {
            rev_path: Vec::new(),
            detail: detail.into(),
        }
    }

    /// The same error, one level down: under `key`.
    pub(crate) fn at(mut self, key: &str) -> Self {
        self.rev_path.push(key.to_string());
        self
    }
}

pub(crate) type R<T> = Result<T, FieldError>;

fn err<T>(detail: impl Into<String>) -> R<T> {
    Err(FieldError::new(detail))
}

/// The public error for a read under `subject` (`event`, `metadata`, `user`, …).
pub(crate) fn finish<T>(subject: &'static str, r: R<T>) -> Result<T, JsonError> {
    r.map_err(|e| JsonError {
        subject,
        path: e
            .rev_path
            .iter()
            .rev()
            .fold(String::new(), |mut path, key| {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
                path
            }),
        detail: e.detail,
    })
}

fn document_error(subject: &'static str, detail: String) -> JsonError {
    JsonError {
        subject,
        path: String::new(),
        detail,
    }
}

/// What reads a message's fields, and what a value of another kind is.
pub(crate) struct Message<T> {
    /// Reads the object's entries.
    /// Reads the entries of the object just opened.
    pub(crate) read: for<'a> fn(&mut Reader<'a>) -> Result<R<T>, Stop>,
    /// The error for a value that is not an object.
    pub(crate) wrong: fn(JsonKind) -> FieldError,
}

impl<T> Clone for Message<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Message<T> {}

impl<T> Message<T> {
    /// The next value as this message: read if it is an object, else the error for what it was.
    pub(crate) fn read_value(&self, r: &mut Reader<'_>) -> Result<R<T>, Stop> {
        match r.open_object()? {
            None => (self.read)(r),
            Some(got) => Ok(Err((self.wrong)(got.kind()))),
        }
    }
}

/// Reads a whole document: bounded in size here and in depth by the reader.
fn read_document<T>(
    subject: &'static str,
    text: &str,
    message: Message<T>,
) -> Result<T, JsonError> {
    if text.len() > MAX_JSON_INPUT_BYTES {
        return Err(document_error(
            subject,
            format!(
                "document is {} bytes, more than the limit of {MAX_JSON_INPUT_BYTES}",
                text.len()
            ),
        ));
    }
    read_text(subject, text, message)
}

fn read_text<T>(subject: &'static str, text: &str, message: Message<T>) -> Result<T, JsonError> {
    match document(text, |r| message.read_value(r)) {
        Ok(r) => finish(subject, r),
        Err(e) => Err(document_error(subject, format!("not valid JSON: {e}"))),
    }
}

/// Reads an already parsed value with the same readers (through its compact text: the same
/// value, keys and numbers to the readers).
#[cfg(feature = "json-value")]
fn read_parsed<T>(subject: &'static str, v: &Json, message: Message<T>) -> Result<T, JsonError> {
    read_text(subject, &v.to_string(), message)
}

/// Parses an `Event` from its proto3 JSON text.
pub fn parse_event(text: &str) -> Result<Event, JsonError> {
    read_document("event", text, EVENT)
}

#[cfg(feature = "json-value")]
/// Parses an `Event` from a parsed JSON value (same rules and messages as [`parse_event`]).
pub fn parse_event_value(v: &Json) -> Result<Event, JsonError> {
    read_parsed("event", v, EVENT)
}

/// Parses `RecordEventsRequestMetadata` from its proto3 JSON text.
pub fn parse_metadata(text: &str) -> Result<RecordEventsRequestMetadata, JsonError> {
    read_document("metadata", text, METADATA)
}

#[cfg(feature = "json-value")]
/// Parses `RecordEventsRequestMetadata` from a parsed JSON value.
pub fn parse_metadata_value(v: &Json) -> Result<RecordEventsRequestMetadata, JsonError> {
    read_parsed("metadata", v, METADATA)
}

#[cfg(feature = "json-value")]
/// Converts a JSON object to a `google.protobuf.Struct`.
pub fn parse_struct_value(v: &Json) -> Result<Struct, JsonError> {
    read_parsed("struct", v, STRUCT)
}

/// Parses an RFC 3339 timestamp string as protojson does (UTC, years 0001–9999).
pub fn parse_timestamp_str(s: &str) -> Result<Timestamp, JsonError> {
    timestamp_from_rfc3339(s).map_err(|detail| JsonError {
        subject: "timestamp",
        path: String::new(),
        detail,
    })
}

fn expected_object(what: &str, kind: JsonKind) -> FieldError {
    FieldError::new(format!("expected {what} object, got {}", kind.described()))
}

// ---------------------------------------------------------------------------------------------
// Scalars: what a value is as each field type (a scalar or the kind of anything else).

fn wrong_kind<T>(what: &str, got: &Got<'_>) -> R<T> {
    err(format!("expected {what}, got {}", got.kind().described()))
}

/// A field that `null` leaves unset.
fn or_null<'a, T>(got: Got<'a>, read: fn(Got<'a>) -> R<T>) -> R<Option<T>> {
    if got.is_null() {
        Ok(None)
    } else {
        read(got).map(Some)
    }
}

/// A `string` field.
fn text(got: Got<'_>) -> R<String> {
    match got {
        Got::Scalar(Scalar::Str(s)) => Ok(s.into_owned()),
        other => wrong_kind("a string", &other),
    }
}

/// An `int64` field: an integral number, or a string holding one.
fn int64(got: Got<'_>) -> R<i64> {
    match got {
        Got::Scalar(Scalar::Number(n)) => {
            if let Some(i) = n.as_i64() {
                Ok(i)
            } else if n.is_u64() {
                err(format!("{n} is out of range for int64"))
            } else {
                let f = n.as_f64();
                if super::float::is_integral(f)
                    && (-9.223_372_036_854_775e18..9.223_372_036_854_775e18).contains(&f)
                {
                    Ok(f as i64)
                } else {
                    err(format!("{n} is not an int64"))
                }
            }
        }
        Got::Scalar(Scalar::Str(s)) => s
            .parse::<i64>()
            .or_else(|_| err(format!("{s:?} is not an int64"))),
        other => wrong_kind("an int64 as a number or string", &other),
    }
}

/// An `int32` field.
fn int32(got: Got<'_>) -> R<i32> {
    let wide = match got {
        Got::Scalar(Scalar::Number(n)) => match n.as_i64() {
            Some(i) => i,
            None => {
                let f = n.as_f64();
                if super::float::is_integral(f) && f.abs() < 4.0e9 {
                    f as i64
                } else {
                    return err(format!("{n} is not an int32"));
                }
            }
        },
        Got::Scalar(Scalar::Str(s)) => s
            .parse::<i64>()
            .or_else(|_| err(format!("{s:?} is not an int32")))?,
        other => return wrong_kind("an int32 as a number or string", &other),
    };
    i32::try_from(wide).or_else(|_| err(format!("{wide} is out of range for int32")))
}

/// A `double` field: a number, `"NaN"`, `"Infinity"`, `"-Infinity"` or a numeric string.
fn double(got: Got<'_>) -> R<f64> {
    let s = match got {
        Got::Scalar(Scalar::Number(n)) => return Ok(n.as_f64()),
        Got::Scalar(Scalar::Str(s)) => s,
        other => return wrong_kind("a double as a number or string", &other),
    };
    match s.as_ref() {
        "NaN" => Ok(f64::NAN),
        "Infinity" => Ok(f64::INFINITY),
        "-Infinity" => Ok(f64::NEG_INFINITY),
        other => match super::float::parse_f64(other) {
            Some(f)
                if f.is_finite() && !other.is_empty() && !other.contains(['i', 'I', 'n', 'N']) =>
            {
                Ok(f)
            }
            _ => err(format!("{other:?} is not a double")),
        },
    }
}

/// A `google.protobuf.Timestamp` field: an RFC 3339 string.
fn timestamp(got: Got<'_>) -> R<Timestamp> {
    match got {
        Got::Scalar(Scalar::Str(s)) => timestamp_from_rfc3339(&s).or_else(err),
        other => wrong_kind("an RFC 3339 timestamp string", &other),
    }
}

// ---------------------------------------------------------------------------------------------
// Messages and maps.
//
// Table-driven: each message is a static table of its JSON keys (both spellings) with the slot
// and type of the field each names, read by one loop ([`read_message`]) and put together by one
// `match` ([`build`]). (Per-message reader code cost the WASM build three times as much.)

/// A message type of `telemetrygateway.v1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Event,
    Source,
    Server,
    Client,
    Parameters,
    Billing,
    User,
    Flags,
    Marketing,
    Interaction,
    Geolocation,
    Metadata,
    Identifier,
    Licensed,
    Unlicensed,
    Managed,
}

/// What a field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ty {
    Text,
    Int32,
    Timestamp,
    MapText,
    MapInt64,
    MapDouble,
    Struct,
    Message(Kind),
}

/// A message's JSON keys: `(key, slot, type)`. Two spellings of one field (`featureFlags`,
/// `feature_flags`) have slots `2n` and `2n + 1`, the later-sorting spelling (the proto name:
/// `_` > any capital letter) the higher one, which wins when both are given.
type Table = &'static [(&'static str, usize, Ty)];

/// The most slots a message has.
const SLOTS: usize = 14;

fn table(kind: Kind) -> Table {
    use Ty::*;
    match kind {
        Kind::Event => &[
            ("id", 0, Text),
            ("timestamp", 1, Timestamp),
            ("feature", 2, Text),
            ("action", 3, Text),
            ("source", 4, Message(Kind::Source)),
            ("parameters", 5, Message(Kind::Parameters)),
            ("user", 6, Message(Kind::User)),
            ("interaction", 7, Message(Kind::Interaction)),
            ("featureFlags", 8, Message(Kind::Flags)),
            ("feature_flags", 9, Message(Kind::Flags)),
            ("marketingTracking", 10, Message(Kind::Marketing)),
            ("marketing_tracking", 11, Message(Kind::Marketing)),
        ],
        Kind::Source => &[
            ("server", 0, Message(Kind::Server)),
            ("client", 1, Message(Kind::Client)),
        ],
        Kind::Server => &[("version", 0, Text)],
        Kind::Client => &[("name", 0, Text), ("version", 1, Text)],
        Kind::Parameters => &[
            ("version", 0, Int32),
            ("metadata", 1, MapDouble),
            ("legacyMetadata", 2, MapInt64),
            ("legacy_metadata", 3, MapInt64),
            ("privateMetadata", 4, Struct),
            ("private_metadata", 5, Struct),
            ("billingMetadata", 6, Message(Kind::Billing)),
            ("billing_metadata", 7, Message(Kind::Billing)),
        ],
        Kind::Billing => &[("product", 0, Text), ("category", 1, Text)],
        // Read by `user_fields` (the record context reads users too, without the tables).
        Kind::User => &[],
        Kind::Flags => &[("flags", 0, MapText)],
        Kind::Marketing => &[
            ("url", 0, Text),
            ("referrer", 1, Text),
            ("firstSourceUrl", 2, Text),
            ("first_source_url", 3, Text),
            ("cohortId", 4, Text),
            ("cohort_id", 5, Text),
            ("lastSourceUrl", 6, Text),
            ("last_source_url", 7, Text),
            ("deviceSessionId", 8, Text),
            ("device_session_id", 9, Text),
            ("sessionReferrer", 10, Text),
            ("session_referrer", 11, Text),
            ("sessionFirstUrl", 12, Text),
            ("session_first_url", 13, Text),
        ],
        Kind::Interaction => &[
            ("geolocation", 0, Message(Kind::Geolocation)),
            ("traceId", 2, Text),
            ("trace_id", 3, Text),
            ("interactionId", 4, Text),
            ("interaction_id", 5, Text),
        ],
        Kind::Geolocation => &[("countryCode", 0, Text), ("country_code", 1, Text)],
        Kind::Metadata => &[
            ("identifier", 0, Message(Kind::Identifier)),
            ("requestId", 2, Text),
            ("request_id", 3, Text),
        ],
        // Read by `identifier_fields` (a oneof); the table gives the field types.
        Kind::Identifier => &[
            ("licensedInstance", 0, Message(Kind::Licensed)),
            ("licensed_instance", 0, Message(Kind::Licensed)),
            ("unlicensedInstance", 0, Message(Kind::Unlicensed)),
            ("unlicensed_instance", 0, Message(Kind::Unlicensed)),
            ("managedService", 0, Message(Kind::Managed)),
            ("managed_service", 0, Message(Kind::Managed)),
        ],
        Kind::Licensed => &[
            ("licenseKey", 0, Text),
            ("license_key", 1, Text),
            ("instanceId", 2, Text),
            ("instance_id", 3, Text),
            ("externalUrl", 4, Text),
            ("external_url", 5, Text),
        ],
        Kind::Unlicensed => &[
            ("instanceId", 0, Text),
            ("instance_id", 1, Text),
            ("externalUrl", 2, Text),
            ("external_url", 3, Text),
        ],
        Kind::Managed => &[
            ("serviceId", 0, Text),
            ("service_id", 1, Text),
            ("serviceEnvironment", 2, Text),
            ("service_environment", 3, Text),
        ],
    }
}

/// The message as error messages name it (`expected an event object, …`).
fn what(kind: Kind) -> &'static str {
    match kind {
        Kind::Event => "an event",
        Kind::Source => "a source",
        Kind::Server => "a server",
        Kind::Client => "a client",
        Kind::Parameters => "a parameters",
        Kind::Billing => "a billingMetadata",
        Kind::User => "a user",
        Kind::Flags => "a featureFlags",
        Kind::Marketing => "a marketingTracking",
        Kind::Interaction => "an interaction",
        Kind::Geolocation => "a geolocation",
        Kind::Metadata => "a metadata",
        Kind::Identifier => "an identifier",
        Kind::Licensed => "a licensedInstance",
        Kind::Unlicensed => "an unlicensedInstance",
        Kind::Managed => "a managedService",
    }
}

/// A field's value, read and waiting for its message to be put together.
enum Val {
    Text(String),
    Int32(i32),
    Timestamp(Timestamp),
    MapText(BTreeMap<String, String>),
    MapInt64(BTreeMap<String, i64>),
    MapDouble(BTreeMap<String, f64>),
    Struct(Struct),
    Message(Msg),
}

/// A message read (the large ones boxed, so that a `Msg` moves cheaply).
enum Msg {
    Event(Box<Event>),
    Source(EventSource),
    Server(event_source::Server),
    Client(event_source::Client),
    Parameters(Box<EventParameters>),
    Billing(EventBillingMetadata),
    User(EventUser),
    Flags(EventFeatureFlags),
    Marketing(Box<EventMarketingTracking>),
    Interaction(EventInteraction),
    Geolocation(event_interaction::Geolocation),
    Metadata(Box<RecordEventsRequestMetadata>),
    Identifier(Identifier),
    Licensed(identifier::LicensedInstanceIdentifier),
    Unlicensed(identifier::UnlicensedInstanceIdentifier),
    Managed(identifier::ManagedServiceIdentifier),
}

/// Reads the next value as a field of type `ty`: `None` for `null` (proto3 JSON's "not set").
fn read_value(r: &mut Reader<'_>, ty: Ty) -> Result<Option<R<Val>>, Stop> {
    let (name, wrong_kind): (&str, fn(&str, JsonKind) -> FieldError) = match ty {
        Ty::Text | Ty::Int32 | Ty::Timestamp => {
            let got = r.value()?;
            if got.is_null() {
                return Ok(None);
            }
            return Ok(Some(match ty {
                Ty::Text => text(got).map(Val::Text),
                Ty::Int32 => int32(got).map(Val::Int32),
                _ => timestamp(got).map(Val::Timestamp),
            }));
        }
        Ty::Message(kind) => (what(kind), expected_object),
        Ty::MapText | Ty::MapInt64 | Ty::MapDouble => ("a map", expected_object),
        Ty::Struct => ("", |_, kind| (STRUCT.wrong)(kind)),
    };
    if let Some(got) = r.open_object()? {
        return Ok((!got.is_null()).then(|| Err(wrong_kind(name, got.kind()))));
    }
    Ok(Some(match ty {
        Ty::Message(kind) => read_message(r, kind)?.map(Val::Message),
        Ty::MapText => map_of(r, text)?.map(Val::MapText),
        Ty::MapInt64 => map_of(r, int64)?.map(Val::MapInt64),
        Ty::MapDouble => map_of(r, double)?.map(Val::MapDouble),
        _ => Ok(Val::Struct(struct_fields(r)?)),
    }))
}

/// Reads a message object of `kind` (opened): its known keys into slots, an unknown key refused
/// unless `null`, errors kept by key; then the message put together.
fn read_message(r: &mut Reader<'_>, kind: Kind) -> Result<R<Msg>, Stop> {
    match kind {
        Kind::Identifier => return identifier_fields(r).map(|r| r.map(Msg::Identifier)),
        Kind::User => return user_fields(r).map(|r| r.map(Msg::User)),
        _ => {}
    }
    let fields = table(kind);
    let mut slots: [Option<Val>; SLOTS] = Default::default();
    let mut errors = ByKey::default();
    while let Some(key) = r.next_key()? {
        let Some(&(_, slot, ty)) = fields.iter().find(|(name, _, _)| *name == key) else {
            if r.value()?.is_null() {
                errors.clear(&key);
            } else {
                errors.insert(&key, unknown_field(&key));
            }
            continue;
        };
        match read_value(r, ty)? {
            Some(Err(e)) => errors.insert(&key, e.at(&key)),
            read => {
                errors.clear(&key);
                if let Some(slot) = slots.get_mut(slot) {
                    *slot = read.and_then(Result::ok);
                }
            }
        }
    }
    Ok(match errors.first() {
        Some(e) => Err(e),
        None => Ok(build(kind, &mut slots)),
    })
}

/// The value in slot `i`, taken.
fn take(slots: &mut [Option<Val>], i: usize) -> Option<Val> {
    slots.get_mut(i).and_then(Option::take)
}

/// The value of a field with two spellings (slots `i`, `i + 1`): the later-sorting one wins.
fn either(slots: &mut [Option<Val>], i: usize) -> Option<Val> {
    let first = take(slots, i);
    take(slots, i + 1).or(first)
}

fn as_text(v: Option<Val>) -> Option<String> {
    match v {
        Some(Val::Text(s)) => Some(s),
        _ => None,
    }
}

fn as_message(v: Option<Val>) -> Option<Msg> {
    match v {
        Some(Val::Message(m)) => Some(m),
        _ => None,
    }
}

/// Puts a message of `kind` together from its slots.
fn build(kind: Kind, s: &mut [Option<Val>]) -> Msg {
    let text = |s: &mut [Option<Val>], i| as_text(take(s, i)).unwrap_or_default();
    let text2 = |s: &mut [Option<Val>], i| as_text(either(s, i));
    match kind {
        Kind::Event => Msg::Event(Box::new(Event {
            id: text(s, 0),
            timestamp: match take(s, 1) {
                Some(Val::Timestamp(t)) => Some(t),
                _ => None,
            },
            feature: text(s, 2),
            action: text(s, 3),
            source: match as_message(take(s, 4)) {
                Some(Msg::Source(m)) => Some(m),
                _ => None,
            },
            parameters: match as_message(take(s, 5)) {
                Some(Msg::Parameters(m)) => Some(*m),
                _ => None,
            },
            user: match as_message(take(s, 6)) {
                Some(Msg::User(m)) => Some(m),
                _ => None,
            },
            interaction: match as_message(take(s, 7)) {
                Some(Msg::Interaction(m)) => Some(m),
                _ => None,
            },
            feature_flags: match as_message(either(s, 8)) {
                Some(Msg::Flags(m)) => Some(m),
                _ => None,
            },
            marketing_tracking: match as_message(either(s, 10)) {
                Some(Msg::Marketing(m)) => Some(*m),
                _ => None,
            },
        })),
        Kind::Source => Msg::Source(EventSource {
            server: match as_message(take(s, 0)) {
                Some(Msg::Server(m)) => Some(m),
                _ => None,
            },
            client: match as_message(take(s, 1)) {
                Some(Msg::Client(m)) => Some(m),
                _ => None,
            },
        }),
        Kind::Server => Msg::Server(event_source::Server {
            version: text(s, 0),
        }),
        Kind::Client => Msg::Client(event_source::Client {
            name: text(s, 0),
            version: as_text(take(s, 1)),
        }),
        Kind::Parameters => Msg::Parameters(Box::new(EventParameters {
            version: match take(s, 0) {
                Some(Val::Int32(v)) => v,
                _ => 0,
            },
            metadata: match take(s, 1) {
                Some(Val::MapDouble(m)) => m,
                _ => BTreeMap::new(),
            },
            legacy_metadata: match either(s, 2) {
                Some(Val::MapInt64(m)) => m,
                _ => BTreeMap::new(),
            },
            private_metadata: match either(s, 4) {
                Some(Val::Struct(m)) => Some(m),
                _ => None,
            },
            billing_metadata: match as_message(either(s, 6)) {
                Some(Msg::Billing(m)) => Some(m),
                _ => None,
            },
        })),
        Kind::Billing => Msg::Billing(EventBillingMetadata {
            product: text(s, 0),
            category: text(s, 1),
        }),
        Kind::User => Msg::User(EventUser::default()),
        Kind::Flags => Msg::Flags(EventFeatureFlags {
            flags: match take(s, 0) {
                Some(Val::MapText(m)) => m,
                _ => BTreeMap::new(),
            },
        }),
        Kind::Marketing => Msg::Marketing(Box::new(EventMarketingTracking {
            url: as_text(take(s, 0)),
            referrer: as_text(take(s, 1)),
            first_source_url: text2(s, 2),
            cohort_id: text2(s, 4),
            last_source_url: text2(s, 6),
            device_session_id: text2(s, 8),
            session_referrer: text2(s, 10),
            session_first_url: text2(s, 12),
        })),
        Kind::Interaction => Msg::Interaction(EventInteraction {
            geolocation: match as_message(take(s, 0)) {
                Some(Msg::Geolocation(m)) => Some(m),
                _ => None,
            },
            trace_id: text2(s, 2),
            interaction_id: text2(s, 4),
        }),
        Kind::Geolocation => Msg::Geolocation(event_interaction::Geolocation {
            country_code: text2(s, 0).unwrap_or_default(),
        }),
        Kind::Metadata => Msg::Metadata(Box::new(RecordEventsRequestMetadata {
            identifier: match as_message(take(s, 0)) {
                Some(Msg::Identifier(m)) => Some(m),
                _ => None,
            },
            request_id: text2(s, 2).unwrap_or_default(),
        })),
        Kind::Identifier => Msg::Identifier(Identifier::default()),
        Kind::Licensed => Msg::Licensed(identifier::LicensedInstanceIdentifier {
            license_key: text2(s, 0).unwrap_or_default(),
            instance_id: text2(s, 2).unwrap_or_default(),
            external_url: text2(s, 4).unwrap_or_default(),
        }),
        Kind::Unlicensed => Msg::Unlicensed(identifier::UnlicensedInstanceIdentifier {
            instance_id: text2(s, 0).unwrap_or_default(),
            external_url: text2(s, 2).unwrap_or_default(),
        }),
        Kind::Managed => Msg::Managed(identifier::ManagedServiceIdentifier {
            service_id: text2(s, 0).unwrap_or_default(),
            service_environment: text2(s, 2),
        }),
    }
}

fn unknown_field(key: &str) -> FieldError {
    FieldError::new(format!("unknown field {key:?}"))
}

/// The entries of a `map<string, V>` (opened), each value read by `read`; `null` values are
/// "not set". A repeated key's last value wins (a `null` one removes the key), and the error
/// reported is the smallest key's. Values go straight into the map; only a map with a wrong or
/// `null` value keeps a log of them (see [`ByKey`]).
fn map_of<'a, T>(
    r: &mut Reader<'a>,
    read: fn(Got<'a>) -> R<T>,
) -> Result<R<BTreeMap<String, T>>, Stop> {
    let mut out = BTreeMap::new();
    let mut errors = ByKey::default();
    // Keys whose latest value is `null` (left out at the end: rebuilt rather than removed,
    // which would bring the map's removal code into the WASM build).
    let mut nulled = ByKey::default();
    while let Some(key) = r.next_key()? {
        let got = r.value()?;
        if got.is_null() {
            errors.clear(&key);
            nulled.insert(&key, ());
            continue;
        }
        match read(got) {
            Ok(v) => {
                errors.clear(&key);
                nulled.clear(&key);
                out.insert(key.into_owned(), v);
            }
            Err(e) => errors.insert(&key, e.at(&key)),
        }
    }
    if let Some(e) = errors.first() {
        return Ok(Err(e));
    }
    if !nulled.is_empty() {
        let gone: Vec<String> = nulled.into_sorted().map(|(k, ())| k).collect();
        let mut kept = BTreeMap::new();
        for (k, v) in out {
            if gone.binary_search(&k).is_err() {
                kept.insert(k, v);
            }
        }
        out = kept;
    }
    Ok(Ok(out))
}

/// `Identifier`, a oneof: exactly one non-null field may be set. Read in sorted key order, the
/// first field decides (its own error, or its value) and a second one is refused by name; so the
/// non-null fields are kept by key until the object ends.
fn identifier_fields(r: &mut Reader<'_>) -> Result<R<Identifier>, Stop> {
    use identifier::Identifier as Which;
    let mut set: ByKey<R<Which>> = ByKey::default();
    while let Some(key) = r.next_key()? {
        let read = match table(Kind::Identifier)
            .iter()
            .find(|(name, _, _)| *name == key)
        {
            Some(&(_, _, ty)) => read_value(r, ty)?.map(|r| {
                r.map_err(|e| e.at(&key))
                    .map(|v| match as_message(Some(v)) {
                        Some(Msg::Licensed(m)) => Which::LicensedInstance(m),
                        Some(Msg::Unlicensed(m)) => Which::UnlicensedInstance(m),
                        Some(Msg::Managed(m)) => Which::ManagedService(m),
                        // Not reached: the table's types are these three messages.
                        _ => Which::ManagedService(Default::default()),
                    })
            }),
            None => (!r.value()?.is_null()).then(|| Err(unknown_field(&key))),
        };
        match read {
            None => set.clear(&key),
            Some(r) => set.insert(&key, r),
        }
    }
    let mut fields = set.into_sorted();
    Ok(match (fields.next(), fields.next()) {
        (None, _) => Ok(Identifier::default()),
        (Some((_, Err(e))), _) => Err(e),
        (Some(_), Some((second, _))) => err(format!(
            "field {second:?} sets the identifier oneof a second time"
        )),
        (Some((_, Ok(which))), None) => Ok(Identifier {
            identifier: Some(which),
        }),
    })
}

/// A message that is read whole (a document, an `ffi` input field, a context's `user`).
fn whole<T>(kind: Kind, r: &mut Reader<'_>, unwrap: fn(Msg) -> Option<T>) -> Result<R<T>, Stop> {
    Ok(read_message(r, kind)?.and_then(|m| {
        // Not reached: `read_message` builds a message of the kind it is asked for.
        unwrap(m).ok_or_else(|| FieldError::new("internal: wrong message kind"))
    }))
}

/// `Event`.
pub(crate) const EVENT: Message<Event> = Message {
    read: |r| {
        whole(Kind::Event, r, |m| match m {
            Msg::Event(e) => Some(*e),
            _ => None,
        })
    },
    wrong: |k| expected_object(what(Kind::Event), k),
};

/// `EventUser` (also read for record contexts, so by hand rather than through the message
/// tables: the client build's record path then carries no table reader).
pub(crate) const USER: Message<EventUser> = Message {
    read: user_fields,
    wrong: |k| expected_object(what(Kind::User), k),
};

/// `EventUser`'s fields (the object opened), by the rules of [`read_message`]: both spellings
/// (the later-sorting one wins), `null` for "not set", an unknown key refused unless `null`.
fn user_fields(r: &mut Reader<'_>) -> Result<R<EventUser>, Stop> {
    let mut user_id: Spellings<i64> = Spellings::default();
    let mut anonymous: Spellings<String> = Spellings::default();
    let mut sams: Spellings<String> = Spellings::default();
    let mut errors = ByKey::default();
    while let Some(key) = r.next_key()? {
        let field = match key.as_ref() {
            "userId" | "user_id" => 0,
            "anonymousUserId" | "anonymous_user_id" => 1,
            "samsExternalId" | "sams_external_id" => 2,
            _ => {
                if r.value()?.is_null() {
                    errors.clear(&key);
                } else {
                    errors.insert(&key, unknown_field(&key));
                }
                continue;
            }
        };
        // The proto names (`user_id`, …) sort after the camelCase ones: the second spelling.
        let second = key.contains('_');
        let got = r.value()?;
        let read = match field {
            0 => or_null(got, int64).map(|v| *user_id.slot(second) = v),
            1 => or_null(got, text).map(|v| *anonymous.slot(second) = v),
            _ => or_null(got, text).map(|v| *sams.slot(second) = v),
        };
        match read {
            Ok(()) => errors.clear(&key),
            Err(e) => errors.insert(&key, e.at(&key)),
        }
    }
    Ok(match errors.first() {
        Some(e) => Err(e),
        None => Ok(EventUser {
            user_id: user_id.get(),
            anonymous_user_id: anonymous.get(),
            sams_external_id: sams.get(),
        }),
    })
}

/// `RecordEventsRequestMetadata`.
pub(crate) const METADATA: Message<RecordEventsRequestMetadata> = Message {
    read: |r| {
        whole(Kind::Metadata, r, |m| match m {
            Msg::Metadata(m) => Some(*m),
            _ => None,
        })
    },
    wrong: |k| expected_object(what(Kind::Metadata), k),
};

// ---------------------------------------------------------------------------------------------
// google.protobuf.Struct and Value: plain JSON.

/// A `google.protobuf.Struct` field: a JSON object (a repeated key: the last value wins).
pub(crate) const STRUCT: Message<Struct> = Message {
    read: |r| struct_fields(r).map(Ok),
    wrong: |k| {
        FieldError::new(format!(
            "expected a JSON object for google.protobuf.Struct, got {}",
            k.described()
        ))
    },
};

fn struct_fields(r: &mut Reader<'_>) -> Result<Struct, Stop> {
    let mut fields = BTreeMap::new();
    while let Some(key) = r.next_key()? {
        let value = any_value(r)?;
        fields.insert(key.into_owned(), value);
    }
    Ok(Struct { fields })
}

/// The next value, whatever it is, as a `google.protobuf.Value` (every JSON value has one:
/// JSON numbers are finite doubles). Nesting is bounded by the reader.
pub(crate) fn any_value(r: &mut Reader<'_>) -> Result<Value, Stop> {
    let kind = match r.open()? {
        Got::Scalar(Scalar::Null) => ValueKind::NullValue(0),
        Got::Scalar(Scalar::Bool(b)) => ValueKind::BoolValue(b),
        Got::Scalar(Scalar::Number(n)) => ValueKind::NumberValue(n.as_f64()),
        Got::Scalar(Scalar::Str(s)) => ValueKind::StringValue(s.into_owned()),
        Got::Object => ValueKind::StructValue(struct_fields(r)?),
        Got::Array => {
            let mut values = Vec::new();
            while r.next_item()? {
                values.push(any_value(r)?);
            }
            ValueKind::ListValue(ListValue { values })
        }
    };
    Ok(Value { kind: Some(kind) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event_error(text: &str) -> String {
        parse_event(text).unwrap_err().to_string()
    }

    #[test]
    fn errors_name_the_field() {
        assert_eq!(
            event_error(r#"{"parameters":{"metadata":{"count":"lots"}}}"#),
            "invalid event: parameters.metadata.count: \"lots\" is not a double"
        );
        assert_eq!(
            event_error(r#"{"user":{"userId":"9223372036854775808"}}"#),
            "invalid event: user.userId: \"9223372036854775808\" is not an int64"
        );
        assert_eq!(
            event_error(r#"{"surprise":1}"#),
            "invalid event: unknown field \"surprise\""
        );
        assert_eq!(
            event_error("[]"),
            "invalid event: expected an event object, got an array"
        );
        assert!(
            event_error(r#"{"timestamp":"10000-01-01T00:00:00Z"}"#)
                .starts_with("invalid event: timestamp: ")
        );
    }

    #[test]
    fn accepts_both_name_styles_and_null() {
        let a = parse_event(r#"{"feature_flags":{"flags":{"a":"true"}},"id":null}"#).unwrap();
        let b = parse_event(r#"{"featureFlags":{"flags":{"a":"true"}}}"#).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn int64_forms() {
        let e = parse_event(r#"{"user":{"userId":"-9223372036854775808"}}"#).unwrap();
        assert_eq!(e.user.unwrap().user_id, Some(i64::MIN));
        let e = parse_event(r#"{"user":{"userId":42}}"#).unwrap();
        assert_eq!(e.user.unwrap().user_id, Some(42));
        let e = parse_event(r#"{"user":{"userId":1e3}}"#).unwrap();
        assert_eq!(e.user.unwrap().user_id, Some(1000));
        assert_eq!(
            event_error(r#"{"user":{"userId":1.5}}"#),
            "invalid event: user.userId: 1.5 is not an int64"
        );
        assert_eq!(
            event_error(r#"{"user":{"userId":9223372036854775808}}"#),
            "invalid event: user.userId: 9223372036854775808 is out of range for int64"
        );
        assert_eq!(
            event_error(r#"{"user":{"userId":true}}"#),
            "invalid event: user.userId: expected an int64 as a number or string, got a boolean"
        );
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = format!(
            r#"{{"parameters":{{"privateMetadata":{}1{}}}}}"#,
            "{\"a\":".repeat(5000),
            "}".repeat(5000)
        );
        let e = parse_event(&deep).unwrap_err();
        assert!(e.to_string().contains("recursion limit"), "{e}");
    }

    #[test]
    fn two_spellings_of_a_field_take_paired_slots_in_sorted_order() {
        let kinds = [
            Kind::Event,
            Kind::Source,
            Kind::Server,
            Kind::Client,
            Kind::Parameters,
            Kind::Billing,
            Kind::User,
            Kind::Flags,
            Kind::Marketing,
            Kind::Interaction,
            Kind::Geolocation,
            Kind::Metadata,
            Kind::Licensed,
            Kind::Unlicensed,
            Kind::Managed,
        ];
        let norm = |s: &str| s.replace('_', "").to_lowercase();
        for kind in kinds {
            let t = table(kind);
            for (i, (a, sa, _)) in t.iter().enumerate() {
                assert!(*sa < SLOTS, "{kind:?} {a}");
                for (b, sb, _) in &t[i + 1..] {
                    if norm(a) == norm(b) {
                        let (lo, hi) = if sa < sb { (a, b) } else { (b, a) };
                        assert!(
                            sa.min(sb) % 2 == 0 && sa.abs_diff(*sb) == 1,
                            "{kind:?} {a} {b}"
                        );
                        assert!(lo < hi, "{kind:?}: {lo} must sort before {hi}");
                    } else {
                        assert_ne!(sa, sb, "{kind:?}: {a} and {b} share a slot");
                    }
                }
            }
        }
    }

    #[test]
    fn spellings_sort_as_assumed() {
        // `Spellings::first` holds the spelling that sorts first; these pairs rely on it.
        for (first, second) in [
            ("featureFlags", "feature_flags"),
            ("marketingTracking", "marketing_tracking"),
            ("legacyMetadata", "legacy_metadata"),
            ("privateMetadata", "private_metadata"),
            ("billingMetadata", "billing_metadata"),
            ("userId", "user_id"),
            ("anonymousUserId", "anonymous_user_id"),
            ("samsExternalId", "sams_external_id"),
            ("firstSourceUrl", "first_source_url"),
            ("cohortId", "cohort_id"),
            ("lastSourceUrl", "last_source_url"),
            ("deviceSessionId", "device_session_id"),
            ("sessionReferrer", "session_referrer"),
            ("sessionFirstUrl", "session_first_url"),
            ("traceId", "trace_id"),
            ("interactionId", "interaction_id"),
            ("countryCode", "country_code"),
            ("requestId", "request_id"),
            ("licenseKey", "license_key"),
            ("instanceId", "instance_id"),
            ("externalUrl", "external_url"),
            ("serviceId", "service_id"),
            ("serviceEnvironment", "service_environment"),
        ] {
            assert!(first < second, "{first} / {second}");
        }
    }
}
