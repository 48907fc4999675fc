//! The proto3 JSON mapping of `telemetrygateway.v1`, read from JSON text straight into the
//! prost types (through the readers of [`super::read`]; no `serde_json::Value` tree).
//!
//! Hand-written readers rather than `#[derive(Deserialize)]` on the generated types, so that
//! every error names the offending field (`parameters.metadata.count: expected a number`),
//! unknown fields are refused rather than dropped, and the accepted forms are exactly
//! protojson's: lowerCamelCase or original names, `null` for "not set", int64 as a string or an
//! integral number, doubles as numbers or `"NaN"`/`"Infinity"`/`"-Infinity"`/numeric strings,
//! RFC 3339 timestamps, and `Struct`/`Value` as plain JSON.

use super::read::{
    ErrorsByKey, JsonKind, Number, OrNull, Reader, Seed, Skip, Spellings, from_text, from_value,
    next_key,
};
use super::time::timestamp_from_rfc3339;
use super::{JsonError, MAX_JSON_INPUT_BYTES};
use crate::proto::{
    Event, EventBillingMetadata, EventFeatureFlags, EventInteraction, EventMarketingTracking,
    EventParameters, EventSource, EventUser, Identifier, RecordEventsRequestMetadata,
    event_interaction, event_source, identifier,
};
use prost_types::{ListValue, Struct, Timestamp, Value, value::Kind};
use serde::de::{MapAccess, SeqAccess};
use serde_json::Value as Json;
use std::borrow::Cow;
use std::collections::BTreeMap;

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
        path: e.rev_path.into_iter().rev().collect::<Vec<_>>().join("."),
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

/// Reads a whole document: bounded in size here and in depth by serde_json.
fn read_document<'de, Rd, T>(
    subject: &'static str,
    text: &'de str,
    reader: Rd,
) -> Result<T, JsonError>
where
    Rd: Reader<'de, Out = R<T>>,
{
    if text.len() > MAX_JSON_INPUT_BYTES {
        return Err(document_error(
            subject,
            format!(
                "document is {} bytes, more than the limit of {MAX_JSON_INPUT_BYTES}",
                text.len()
            ),
        ));
    }
    match from_text(text, reader) {
        Ok(r) => finish(subject, r),
        Err(e) => Err(document_error(subject, format!("not valid JSON: {e}"))),
    }
}

/// Reads an already parsed value with the same reader.
fn read_parsed<'de, Rd, T>(subject: &'static str, v: &'de Json, reader: Rd) -> Result<T, JsonError>
where
    Rd: Reader<'de, Out = R<T>>,
{
    match from_value(v, reader) {
        Ok(r) => finish(subject, r),
        Err(e) => Err(document_error(subject, format!("not valid JSON: {e}"))),
    }
}

/// Parses an `Event` from its proto3 JSON text.
pub fn parse_event(text: &str) -> Result<Event, JsonError> {
    read_document("event", text, EventReader)
}

/// Parses an `Event` from a parsed JSON value (same rules and messages as [`parse_event`]).
pub fn parse_event_value(v: &Json) -> Result<Event, JsonError> {
    read_parsed("event", v, EventReader)
}

/// Parses `RecordEventsRequestMetadata` from its proto3 JSON text.
pub fn parse_metadata(text: &str) -> Result<RecordEventsRequestMetadata, JsonError> {
    read_document("metadata", text, MetadataReader)
}

/// Parses `RecordEventsRequestMetadata` from a parsed JSON value.
pub fn parse_metadata_value(v: &Json) -> Result<RecordEventsRequestMetadata, JsonError> {
    read_parsed("metadata", v, MetadataReader)
}

/// Converts a JSON object to a `google.protobuf.Struct`.
pub fn parse_struct_value(v: &Json) -> Result<Struct, JsonError> {
    read_parsed("struct", v, StructReader)
}

/// Parses an RFC 3339 timestamp string as protojson does (UTC, years 0001–9999).
pub fn parse_timestamp_str(s: &str) -> Result<Timestamp, JsonError> {
    timestamp_from_rfc3339(s).map_err(|detail| JsonError {
        subject: "timestamp",
        path: String::new(),
        detail,
    })
}

fn expected_object<T>(what: &str, kind: JsonKind) -> R<T> {
    err(format!("expected {what} object, got {}", kind.described()))
}

// ---------------------------------------------------------------------------------------------
// Scalars.

/// A `string` field.
#[derive(Clone, Copy)]
struct Text;

impl<'de> Reader<'de> for Text {
    type Out = R<String>;

    fn wrong_kind(self, kind: JsonKind) -> R<String> {
        err(format!("expected a string, got {}", kind.described()))
    }

    fn string(self, s: Cow<'de, str>) -> R<String> {
        Ok(s.into_owned())
    }
}

/// An `int64` field: an integral number, or a string holding one.
#[derive(Clone, Copy)]
struct Int64;

impl<'de> Reader<'de> for Int64 {
    type Out = R<i64>;

    fn wrong_kind(self, kind: JsonKind) -> R<i64> {
        err(format!(
            "expected an int64 as a number or string, got {}",
            kind.described()
        ))
    }

    fn number(self, n: Number) -> R<i64> {
        if let Some(i) = n.as_i64() {
            Ok(i)
        } else if n.is_u64() {
            err(format!("{n} is out of range for int64"))
        } else {
            let f = n.as_f64();
            if f.fract() == 0.0
                && (-9.223_372_036_854_775e18..9.223_372_036_854_775e18).contains(&f)
            {
                Ok(f as i64)
            } else {
                err(format!("{n} is not an int64"))
            }
        }
    }

    fn string(self, s: Cow<'de, str>) -> R<i64> {
        s.parse::<i64>()
            .or_else(|_| err(format!("{s:?} is not an int64")))
    }
}

/// An `int32` field.
#[derive(Clone, Copy)]
struct Int32;

impl Int32 {
    fn narrow(wide: i64) -> R<i32> {
        i32::try_from(wide).or_else(|_| err(format!("{wide} is out of range for int32")))
    }
}

impl<'de> Reader<'de> for Int32 {
    type Out = R<i32>;

    fn wrong_kind(self, kind: JsonKind) -> R<i32> {
        err(format!(
            "expected an int32 as a number or string, got {}",
            kind.described()
        ))
    }

    fn number(self, n: Number) -> R<i32> {
        let wide = match n.as_i64() {
            Some(i) => i,
            None => {
                let f = n.as_f64();
                if f.fract() == 0.0 && f.abs() < 4.0e9 {
                    f as i64
                } else {
                    return err(format!("{n} is not an int32"));
                }
            }
        };
        Int32::narrow(wide)
    }

    fn string(self, s: Cow<'de, str>) -> R<i32> {
        let wide = s
            .parse::<i64>()
            .or_else(|_| err(format!("{s:?} is not an int32")))?;
        Int32::narrow(wide)
    }
}

/// A `double` field: a number, `"NaN"`, `"Infinity"`, `"-Infinity"` or a numeric string.
#[derive(Clone, Copy)]
struct Double;

impl<'de> Reader<'de> for Double {
    type Out = R<f64>;

    fn wrong_kind(self, kind: JsonKind) -> R<f64> {
        err(format!(
            "expected a double as a number or string, got {}",
            kind.described()
        ))
    }

    fn number(self, n: Number) -> R<f64> {
        Ok(n.as_f64())
    }

    fn string(self, s: Cow<'de, str>) -> R<f64> {
        match s.as_ref() {
            "NaN" => Ok(f64::NAN),
            "Infinity" => Ok(f64::INFINITY),
            "-Infinity" => Ok(f64::NEG_INFINITY),
            other => match other.parse::<f64>() {
                Ok(f)
                    if f.is_finite()
                        && !other.is_empty()
                        && !other.contains(['i', 'I', 'n', 'N']) =>
                {
                    Ok(f)
                }
                _ => err(format!("{other:?} is not a double")),
            },
        }
    }
}

/// A `google.protobuf.Timestamp` field: an RFC 3339 string.
#[derive(Clone, Copy)]
struct TimestampReader;

impl<'de> Reader<'de> for TimestampReader {
    type Out = R<Timestamp>;

    fn wrong_kind(self, kind: JsonKind) -> R<Timestamp> {
        err(format!(
            "expected an RFC 3339 timestamp string, got {}",
            kind.described()
        ))
    }

    fn string(self, s: Cow<'de, str>) -> R<Timestamp> {
        timestamp_from_rfc3339(&s).or_else(err)
    }
}

// ---------------------------------------------------------------------------------------------
// Messages and maps.

/// The fields of one message object, read under the proto3 JSON rules: `null` is "not set", an
/// unknown field is refused (unless `null`), and errors are kept by key (see [`ErrorsByKey`]).
struct Fields<A> {
    map: A,
    errors: ErrorsByKey<FieldError>,
}

impl<'de, A: MapAccess<'de>> Fields<A> {
    fn new(map: A) -> Self {
        Fields {
            map,
            errors: ErrorsByKey::default(),
        }
    }

    fn next_key(&mut self) -> Result<Option<Cow<'de, str>>, A::Error> {
        next_key(&mut self.map)
    }

    /// Reads `key`'s value and, unless it is wrong, hands it to `set` (`None` for `null`).
    fn read<Rd, T>(
        &mut self,
        key: &str,
        reader: Rd,
        set: impl FnOnce(Option<T>),
    ) -> Result<(), A::Error>
    where
        Rd: Reader<'de, Out = R<T>>,
    {
        match self.map.next_value_seed(Seed(OrNull(reader)))? {
            None => {
                self.errors.clear(key);
                set(None);
            }
            Some(Ok(v)) => {
                self.errors.clear(key);
                set(Some(v));
            }
            Some(Err(e)) => self.errors.insert(key, e.at(key)),
        }
        Ok(())
    }

    /// A key the message does not have.
    fn unknown(&mut self, key: &str) -> Result<(), A::Error> {
        match self.map.next_value_seed(Seed(Skip))? {
            JsonKind::Null => self.errors.clear(key),
            _ => self.errors.insert(key, unknown_field(key)),
        }
        Ok(())
    }

    fn finish<T>(self, message: T) -> R<T> {
        match self.errors.first() {
            Some(e) => Err(e),
            None => Ok(message),
        }
    }
}

fn unknown_field(key: &str) -> FieldError {
    FieldError::new(format!("unknown field {key:?}"))
}

/// A `map<string, V>` field; `null` values are "not set".
#[derive(Clone, Copy)]
struct MapOf<V>(V);

impl<'de, V, T> Reader<'de> for MapOf<V>
where
    V: Reader<'de, Out = R<T>> + Copy,
{
    type Out = R<BTreeMap<String, T>>;

    fn wrong_kind(self, kind: JsonKind) -> Self::Out {
        expected_object("a map", kind)
    }

    fn object<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Out, A::Error> {
        let mut out = BTreeMap::new();
        let mut errors = ErrorsByKey::default();
        while let Some(key) = next_key(&mut map)? {
            match map.next_value_seed(Seed(OrNull(self.0)))? {
                None => {
                    errors.clear(&key);
                    out.remove(key.as_ref());
                }
                Some(Ok(v)) => {
                    errors.clear(&key);
                    out.insert(key.into_owned(), v);
                }
                Some(Err(e)) => errors.insert(&key, e.at(&key)),
            }
        }
        Ok(match errors.first() {
            Some(e) => Err(e),
            None => Ok(out),
        })
    }
}

/// `Event`. Of two spellings of one field (`featureFlags`, `feature_flags`) the proto name
/// sorts later (`_` > any capital letter), so it wins when both are given.
pub(crate) struct EventReader;

impl<'de> Reader<'de> for EventReader {
    type Out = R<Event>;

    fn wrong_kind(self, kind: JsonKind) -> R<Event> {
        expected_object("an event", kind)
    }

    fn object<A: MapAccess<'de>>(self, map: A) -> Result<R<Event>, A::Error> {
        let mut f = Fields::new(map);
        let mut e = Event::default();
        let mut flags = Spellings::default();
        let mut marketing = Spellings::default();
        while let Some(key) = f.next_key()? {
            match key.as_ref() {
                "id" => f.read(&key, Text, |v| e.id = v.unwrap_or_default())?,
                "timestamp" => f.read(&key, TimestampReader, |v| e.timestamp = v)?,
                "feature" => f.read(&key, Text, |v| e.feature = v.unwrap_or_default())?,
                "action" => f.read(&key, Text, |v| e.action = v.unwrap_or_default())?,
                "source" => f.read(&key, SourceReader, |v| e.source = v)?,
                "parameters" => f.read(&key, ParametersReader, |v| e.parameters = v)?,
                "user" => f.read(&key, UserReader, |v| e.user = v)?,
                "featureFlags" => f.read(&key, FeatureFlagsReader, |v| flags.first = v)?,
                "feature_flags" => f.read(&key, FeatureFlagsReader, |v| flags.second = v)?,
                "marketingTracking" => f.read(&key, MarketingReader, |v| marketing.first = v)?,
                "marketing_tracking" => f.read(&key, MarketingReader, |v| marketing.second = v)?,
                "interaction" => f.read(&key, InteractionReader, |v| e.interaction = v)?,
                _ => f.unknown(&key)?,
            }
        }
        e.feature_flags = flags.get();
        e.marketing_tracking = marketing.get();
        Ok(f.finish(e))
    }
}

struct FeatureFlagsReader;

impl<'de> Reader<'de> for FeatureFlagsReader {
    type Out = R<EventFeatureFlags>;

    fn wrong_kind(self, kind: JsonKind) -> Self::Out {
        expected_object("a featureFlags", kind)
    }

    fn object<A: MapAccess<'de>>(self, map: A) -> Result<Self::Out, A::Error> {
        let mut f = Fields::new(map);
        let mut flags = EventFeatureFlags::default();
        while let Some(key) = f.next_key()? {
            match key.as_ref() {
                "flags" => f.read(&key, MapOf(Text), |v| flags.flags = v.unwrap_or_default())?,
                _ => f.unknown(&key)?,
            }
        }
        Ok(f.finish(flags))
    }
}

struct SourceReader;

impl<'de> Reader<'de> for SourceReader {
    type Out = R<EventSource>;

    fn wrong_kind(self, kind: JsonKind) -> Self::Out {
        expected_object("a source", kind)
    }

    fn object<A: MapAccess<'de>>(self, map: A) -> Result<Self::Out, A::Error> {
        let mut f = Fields::new(map);
        let mut s = EventSource::default();
        while let Some(key) = f.next_key()? {
            match key.as_ref() {
                "server" => f.read(&key, ServerReader, |v| s.server = v)?,
                "client" => f.read(&key, ClientReader, |v| s.client = v)?,
                _ => f.unknown(&key)?,
            }
        }
        Ok(f.finish(s))
    }
}

struct ServerReader;

impl<'de> Reader<'de> for ServerReader {
    type Out = R<event_source::Server>;

    fn wrong_kind(self, kind: JsonKind) -> Self::Out {
        expected_object("a server", kind)
    }

    fn object<A: MapAccess<'de>>(self, map: A) -> Result<Self::Out, A::Error> {
        let mut f = Fields::new(map);
        let mut server = event_source::Server::default();
        while let Some(key) = f.next_key()? {
            match key.as_ref() {
                "version" => f.read(&key, Text, |v| server.version = v.unwrap_or_default())?,
                _ => f.unknown(&key)?,
            }
        }
        Ok(f.finish(server))
    }
}

struct ClientReader;

impl<'de> Reader<'de> for ClientReader {
    type Out = R<event_source::Client>;

    fn wrong_kind(self, kind: JsonKind) -> Self::Out {
        expected_object("a client", kind)
    }

    fn object<A: MapAccess<'de>>(self, map: A) -> Result<Self::Out, A::Error> {
        let mut f = Fields::new(map);
        let mut client = event_source::Client::default();
        while let Some(key) = f.next_key()? {
            match key.as_ref() {
                "name" => f.read(&key, Text, |v| client.name = v.unwrap_or_default())?,
                "version" => f.read(&key, Text, |v| client.version = v)?,
                _ => f.unknown(&key)?,
            }
        }
        Ok(f.finish(client))
    }
}

struct ParametersReader;

impl<'de> Reader<'de> for ParametersReader {
    type Out = R<EventParameters>;

    fn wrong_kind(self, kind: JsonKind) -> Self::Out {
        expected_object("a parameters", kind)
    }

    fn object<A: MapAccess<'de>>(self, map: A) -> Result<Self::Out, A::Error> {
        let mut f = Fields::new(map);
        let mut p = EventParameters::default();
        let mut legacy = Spellings::default();
        let mut private = Spellings::default();
        let mut billing = Spellings::default();
        while let Some(key) = f.next_key()? {
            match key.as_ref() {
                "version" => f.read(&key, Int32, |v| p.version = v.unwrap_or_default())?,
                "legacyMetadata" => f.read(&key, MapOf(Int64), |v| legacy.first = v)?,
                "legacy_metadata" => f.read(&key, MapOf(Int64), |v| legacy.second = v)?,
                "metadata" => {
                    f.read(&key, MapOf(Double), |v| p.metadata = v.unwrap_or_default())?
                }
                "privateMetadata" => f.read(&key, StructReader, |v| private.first = v)?,
                "private_metadata" => f.read(&key, StructReader, |v| private.second = v)?,
                "billingMetadata" => f.read(&key, BillingReader, |v| billing.first = v)?,
                "billing_metadata" => f.read(&key, BillingReader, |v| billing.second = v)?,
                _ => f.unknown(&key)?,
            }
        }
        p.legacy_metadata = legacy.get().unwrap_or_default();
        p.private_metadata = private.get();
        p.billing_metadata = billing.get();
        Ok(f.finish(p))
    }
}

struct BillingReader;

impl<'de> Reader<'de> for BillingReader {
    type Out = R<EventBillingMetadata>;

    fn wrong_kind(self, kind: JsonKind) -> Self::Out {
        expected_object("a billingMetadata", kind)
    }

    fn object<A: MapAccess<'de>>(self, map: A) -> Result<Self::Out, A::Error> {
        let mut f = Fields::new(map);
        let mut b = EventBillingMetadata::default();
        while let Some(key) = f.next_key()? {
            match key.as_ref() {
                "product" => f.read(&key, Text, |v| b.product = v.unwrap_or_default())?,
                "category" => f.read(&key, Text, |v| b.category = v.unwrap_or_default())?,
                _ => f.unknown(&key)?,
            }
        }
        Ok(f.finish(b))
    }
}

/// `EventUser` (also read for record contexts).
pub(crate) struct UserReader;

impl<'de> Reader<'de> for UserReader {
    type Out = R<EventUser>;

    fn wrong_kind(self, kind: JsonKind) -> Self::Out {
        expected_object("a user", kind)
    }

    fn object<A: MapAccess<'de>>(self, map: A) -> Result<Self::Out, A::Error> {
        let mut f = Fields::new(map);
        let mut user_id = Spellings::default();
        let mut anonymous = Spellings::default();
        let mut sams = Spellings::default();
        while let Some(key) = f.next_key()? {
            match key.as_ref() {
                "userId" => f.read(&key, Int64, |v| user_id.first = v)?,
                "user_id" => f.read(&key, Int64, |v| user_id.second = v)?,
                "anonymousUserId" => f.read(&key, Text, |v| anonymous.first = v)?,
                "anonymous_user_id" => f.read(&key, Text, |v| anonymous.second = v)?,
                "samsExternalId" => f.read(&key, Text, |v| sams.first = v)?,
                "sams_external_id" => f.read(&key, Text, |v| sams.second = v)?,
                _ => f.unknown(&key)?,
            }
        }
        Ok(f.finish(EventUser {
            user_id: user_id.get(),
            anonymous_user_id: anonymous.get(),
            sams_external_id: sams.get(),
        }))
    }
}

struct MarketingReader;

impl<'de> Reader<'de> for MarketingReader {
    type Out = R<EventMarketingTracking>;

    fn wrong_kind(self, kind: JsonKind) -> Self::Out {
        expected_object("a marketingTracking", kind)
    }

    fn object<A: MapAccess<'de>>(self, map: A) -> Result<Self::Out, A::Error> {
        let mut f = Fields::new(map);
        let mut first_source = Spellings::default();
        let mut cohort = Spellings::default();
        let mut last_source = Spellings::default();
        let mut device_session = Spellings::default();
        let mut session_referrer = Spellings::default();
        let mut session_first = Spellings::default();
        let mut m = EventMarketingTracking::default();
        while let Some(key) = f.next_key()? {
            match key.as_ref() {
                "url" => f.read(&key, Text, |v| m.url = v)?,
                "referrer" => f.read(&key, Text, |v| m.referrer = v)?,
                "firstSourceUrl" => f.read(&key, Text, |v| first_source.first = v)?,
                "first_source_url" => f.read(&key, Text, |v| first_source.second = v)?,
                "cohortId" => f.read(&key, Text, |v| cohort.first = v)?,
                "cohort_id" => f.read(&key, Text, |v| cohort.second = v)?,
                "lastSourceUrl" => f.read(&key, Text, |v| last_source.first = v)?,
                "last_source_url" => f.read(&key, Text, |v| last_source.second = v)?,
                "deviceSessionId" => f.read(&key, Text, |v| device_session.first = v)?,
                "device_session_id" => f.read(&key, Text, |v| device_session.second = v)?,
                "sessionReferrer" => f.read(&key, Text, |v| session_referrer.first = v)?,
                "session_referrer" => f.read(&key, Text, |v| session_referrer.second = v)?,
                "sessionFirstUrl" => f.read(&key, Text, |v| session_first.first = v)?,
                "session_first_url" => f.read(&key, Text, |v| session_first.second = v)?,
                _ => f.unknown(&key)?,
            }
        }
        m.first_source_url = first_source.get();
        m.cohort_id = cohort.get();
        m.last_source_url = last_source.get();
        m.device_session_id = device_session.get();
        m.session_referrer = session_referrer.get();
        m.session_first_url = session_first.get();
        Ok(f.finish(m))
    }
}

struct InteractionReader;

impl<'de> Reader<'de> for InteractionReader {
    type Out = R<EventInteraction>;

    fn wrong_kind(self, kind: JsonKind) -> Self::Out {
        expected_object("an interaction", kind)
    }

    fn object<A: MapAccess<'de>>(self, map: A) -> Result<Self::Out, A::Error> {
        let mut f = Fields::new(map);
        let mut trace = Spellings::default();
        let mut interaction = Spellings::default();
        let mut geolocation = None;
        while let Some(key) = f.next_key()? {
            match key.as_ref() {
                "traceId" => f.read(&key, Text, |v| trace.first = v)?,
                "trace_id" => f.read(&key, Text, |v| trace.second = v)?,
                "interactionId" => f.read(&key, Text, |v| interaction.first = v)?,
                "interaction_id" => f.read(&key, Text, |v| interaction.second = v)?,
                "geolocation" => f.read(&key, GeolocationReader, |v| geolocation = v)?,
                _ => f.unknown(&key)?,
            }
        }
        Ok(f.finish(EventInteraction {
            trace_id: trace.get(),
            interaction_id: interaction.get(),
            geolocation,
        }))
    }
}

struct GeolocationReader;

impl<'de> Reader<'de> for GeolocationReader {
    type Out = R<event_interaction::Geolocation>;

    fn wrong_kind(self, kind: JsonKind) -> Self::Out {
        expected_object("a geolocation", kind)
    }

    fn object<A: MapAccess<'de>>(self, map: A) -> Result<Self::Out, A::Error> {
        let mut f = Fields::new(map);
        let mut country = Spellings::default();
        while let Some(key) = f.next_key()? {
            match key.as_ref() {
                "countryCode" => f.read(&key, Text, |v| country.first = v)?,
                "country_code" => f.read(&key, Text, |v| country.second = v)?,
                _ => f.unknown(&key)?,
            }
        }
        Ok(f.finish(event_interaction::Geolocation {
            country_code: country.get().unwrap_or_default(),
        }))
    }
}

/// `RecordEventsRequestMetadata`.
pub(crate) struct MetadataReader;

impl<'de> Reader<'de> for MetadataReader {
    type Out = R<RecordEventsRequestMetadata>;

    fn wrong_kind(self, kind: JsonKind) -> Self::Out {
        expected_object("a metadata", kind)
    }

    fn object<A: MapAccess<'de>>(self, map: A) -> Result<Self::Out, A::Error> {
        let mut f = Fields::new(map);
        let mut request_id = Spellings::default();
        let mut id = None;
        while let Some(key) = f.next_key()? {
            match key.as_ref() {
                "requestId" => f.read(&key, Text, |v| request_id.first = v)?,
                "request_id" => f.read(&key, Text, |v| request_id.second = v)?,
                "identifier" => f.read(&key, IdentifierReader, |v| id = v)?,
                _ => f.unknown(&key)?,
            }
        }
        Ok(f.finish(RecordEventsRequestMetadata {
            request_id: request_id.get().unwrap_or_default(),
            identifier: id,
        }))
    }
}

/// `Identifier`, a oneof: exactly one non-null field may be set. Read in sorted key order, the
/// first field decides (its own error, or its value) and a second one is refused by name; so the
/// non-null fields are kept by key until the object ends.
struct IdentifierReader;

impl<'de> Reader<'de> for IdentifierReader {
    type Out = R<Identifier>;

    fn wrong_kind(self, kind: JsonKind) -> Self::Out {
        expected_object("an identifier", kind)
    }

    fn object<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Out, A::Error> {
        use identifier::Identifier as Which;
        let mut set: BTreeMap<String, R<Which>> = BTreeMap::new();
        while let Some(key) = next_key(&mut map)? {
            let at = |r: Option<R<Which>>| r.map(|r| r.map_err(|e| e.at(&key)));
            let read = match key.as_ref() {
                "licensedInstance" | "licensed_instance" => at(map
                    .next_value_seed(Seed(OrNull(LicensedReader)))?
                    .map(|r| r.map(Which::LicensedInstance))),
                "unlicensedInstance" | "unlicensed_instance" => at(map
                    .next_value_seed(Seed(OrNull(UnlicensedReader)))?
                    .map(|r| r.map(Which::UnlicensedInstance))),
                "managedService" | "managed_service" => at(map
                    .next_value_seed(Seed(OrNull(ManagedServiceReader)))?
                    .map(|r| r.map(Which::ManagedService))),
                _ => match map.next_value_seed(Seed(Skip))? {
                    JsonKind::Null => None,
                    _ => Some(Err(unknown_field(&key))),
                },
            };
            match read {
                None => {
                    set.remove(key.as_ref());
                }
                Some(r) => {
                    set.insert(key.into_owned(), r);
                }
            }
        }
        let mut fields = set.into_iter();
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
}

struct LicensedReader;

impl<'de> Reader<'de> for LicensedReader {
    type Out = R<identifier::LicensedInstanceIdentifier>;

    fn wrong_kind(self, kind: JsonKind) -> Self::Out {
        expected_object("a licensedInstance", kind)
    }

    fn object<A: MapAccess<'de>>(self, map: A) -> Result<Self::Out, A::Error> {
        let mut f = Fields::new(map);
        let mut key_ = Spellings::default();
        let mut instance = Spellings::default();
        let mut url = Spellings::default();
        while let Some(key) = f.next_key()? {
            match key.as_ref() {
                "licenseKey" => f.read(&key, Text, |v| key_.first = v)?,
                "license_key" => f.read(&key, Text, |v| key_.second = v)?,
                "instanceId" => f.read(&key, Text, |v| instance.first = v)?,
                "instance_id" => f.read(&key, Text, |v| instance.second = v)?,
                "externalUrl" => f.read(&key, Text, |v| url.first = v)?,
                "external_url" => f.read(&key, Text, |v| url.second = v)?,
                _ => f.unknown(&key)?,
            }
        }
        Ok(f.finish(identifier::LicensedInstanceIdentifier {
            license_key: key_.get().unwrap_or_default(),
            instance_id: instance.get().unwrap_or_default(),
            external_url: url.get().unwrap_or_default(),
        }))
    }
}

struct UnlicensedReader;

impl<'de> Reader<'de> for UnlicensedReader {
    type Out = R<identifier::UnlicensedInstanceIdentifier>;

    fn wrong_kind(self, kind: JsonKind) -> Self::Out {
        expected_object("an unlicensedInstance", kind)
    }

    fn object<A: MapAccess<'de>>(self, map: A) -> Result<Self::Out, A::Error> {
        let mut f = Fields::new(map);
        let mut instance = Spellings::default();
        let mut url = Spellings::default();
        while let Some(key) = f.next_key()? {
            match key.as_ref() {
                "instanceId" => f.read(&key, Text, |v| instance.first = v)?,
                "instance_id" => f.read(&key, Text, |v| instance.second = v)?,
                "externalUrl" => f.read(&key, Text, |v| url.first = v)?,
                "external_url" => f.read(&key, Text, |v| url.second = v)?,
                _ => f.unknown(&key)?,
            }
        }
        Ok(f.finish(identifier::UnlicensedInstanceIdentifier {
            instance_id: instance.get().unwrap_or_default(),
            external_url: url.get().unwrap_or_default(),
        }))
    }
}

struct ManagedServiceReader;

impl<'de> Reader<'de> for ManagedServiceReader {
    type Out = R<identifier::ManagedServiceIdentifier>;

    fn wrong_kind(self, kind: JsonKind) -> Self::Out {
        expected_object("a managedService", kind)
    }

    fn object<A: MapAccess<'de>>(self, map: A) -> Result<Self::Out, A::Error> {
        let mut f = Fields::new(map);
        let mut service = Spellings::default();
        let mut environment = Spellings::default();
        while let Some(key) = f.next_key()? {
            match key.as_ref() {
                "serviceId" => f.read(&key, Text, |v| service.first = v)?,
                "service_id" => f.read(&key, Text, |v| service.second = v)?,
                "serviceEnvironment" => f.read(&key, Text, |v| environment.first = v)?,
                "service_environment" => f.read(&key, Text, |v| environment.second = v)?,
                _ => f.unknown(&key)?,
            }
        }
        Ok(f.finish(identifier::ManagedServiceIdentifier {
            service_id: service.get().unwrap_or_default(),
            service_environment: environment.get(),
        }))
    }
}

// ---------------------------------------------------------------------------------------------
// google.protobuf.Struct and Value: plain JSON.

/// A `google.protobuf.Struct` field: a JSON object (a repeated key: the last value wins).
pub(crate) struct StructReader;

impl<'de> Reader<'de> for StructReader {
    type Out = R<Struct>;

    fn wrong_kind(self, kind: JsonKind) -> R<Struct> {
        err(format!(
            "expected a JSON object for google.protobuf.Struct, got {}",
            kind.described()
        ))
    }

    fn object<A: MapAccess<'de>>(self, map: A) -> Result<R<Struct>, A::Error> {
        struct_fields(map).map(Ok)
    }
}

fn struct_fields<'de, A: MapAccess<'de>>(mut map: A) -> Result<Struct, A::Error> {
    let mut fields = BTreeMap::new();
    while let Some(key) = next_key(&mut map)? {
        let value = map.next_value_seed(Seed(ValueReader))?;
        fields.insert(key.into_owned(), value);
    }
    Ok(Struct { fields })
}

/// Any JSON value as a `google.protobuf.Value` (every JSON value has one: JSON numbers are
/// finite doubles). Nesting is bounded by serde_json's recursion limit.
pub(crate) struct ValueReader;

impl<'de> Reader<'de> for ValueReader {
    type Out = Value;

    fn wrong_kind(self, _: JsonKind) -> Value {
        // Every kind is handled below; a value without a kind is what a writer refuses.
        Value { kind: None }
    }

    fn null(self) -> Value {
        Value {
            kind: Some(Kind::NullValue(0)),
        }
    }

    fn boolean(self, b: bool) -> Value {
        Value {
            kind: Some(Kind::BoolValue(b)),
        }
    }

    fn number(self, n: Number) -> Value {
        Value {
            kind: Some(Kind::NumberValue(n.as_f64())),
        }
    }

    fn string(self, s: Cow<'de, str>) -> Value {
        Value {
            kind: Some(Kind::StringValue(s.into_owned())),
        }
    }

    fn object<A: MapAccess<'de>>(self, map: A) -> Result<Value, A::Error> {
        Ok(Value {
            kind: Some(Kind::StructValue(struct_fields(map)?)),
        })
    }

    fn array<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut values = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(v) = seq.next_element_seed(Seed(ValueReader))? {
            values.push(v);
        }
        Ok(Value {
            kind: Some(Kind::ListValue(ListValue { values })),
        })
    }
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
