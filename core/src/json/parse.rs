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
    ByKey, Elements, Entries, JsonKind, Reader, Scalar, Skip, Spellings, Stop, from_text,
    from_value,
};
use super::time::timestamp_from_rfc3339;
use super::{JsonError, MAX_JSON_INPUT_BYTES};
use crate::proto::{
    Event, EventBillingMetadata, EventFeatureFlags, EventInteraction, EventMarketingTracking,
    EventParameters, EventSource, EventUser, Identifier, RecordEventsRequestMetadata,
    event_interaction, event_source, identifier,
};
use prost_types::{ListValue, Struct, Timestamp, Value, value::Kind};
use serde_json::Value as Json;
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

    fn scalar(self, s: Scalar<'de>) -> R<String> {
        match s {
            Scalar::Str(s) => Ok(s.into_owned()),
            other => self.wrong_kind(other.kind()),
        }
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

    fn scalar(self, s: Scalar<'de>) -> R<i64> {
        match s {
            Scalar::Number(n) => {
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
            Scalar::Str(s) => s
                .parse::<i64>()
                .or_else(|_| err(format!("{s:?} is not an int64"))),
            other => self.wrong_kind(other.kind()),
        }
    }
}

/// An `int32` field.
#[derive(Clone, Copy)]
struct Int32;

impl<'de> Reader<'de> for Int32 {
    type Out = R<i32>;

    fn wrong_kind(self, kind: JsonKind) -> R<i32> {
        err(format!(
            "expected an int32 as a number or string, got {}",
            kind.described()
        ))
    }

    fn scalar(self, s: Scalar<'de>) -> R<i32> {
        let wide = match s {
            Scalar::Number(n) => match n.as_i64() {
                Some(i) => i,
                None => {
                    let f = n.as_f64();
                    if f.fract() == 0.0 && f.abs() < 4.0e9 {
                        f as i64
                    } else {
                        return err(format!("{n} is not an int32"));
                    }
                }
            },
            Scalar::Str(s) => s
                .parse::<i64>()
                .or_else(|_| err(format!("{s:?} is not an int32")))?,
            other => return self.wrong_kind(other.kind()),
        };
        i32::try_from(wide).or_else(|_| err(format!("{wide} is out of range for int32")))
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

    fn scalar(self, s: Scalar<'de>) -> R<f64> {
        let s = match s {
            Scalar::Number(n) => return Ok(n.as_f64()),
            Scalar::Str(s) => s,
            other => return self.wrong_kind(other.kind()),
        };
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

    fn scalar(self, s: Scalar<'de>) -> R<Timestamp> {
        match s {
            Scalar::Str(s) => timestamp_from_rfc3339(&s).or_else(err),
            other => self.wrong_kind(other.kind()),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Messages and maps.

/// The fields of one message object being read (see [`message`]).
struct Fields<'a, 'de> {
    map: &'a mut dyn Entries<'de>,
    errors: ByKey<FieldError>,
}

impl<'de> Fields<'_, 'de> {
    /// Reads `key`'s value with `reader` into `slot` (`None` for `null`, proto3 JSON's "not
    /// set"); a wrong value leaves `slot` and keeps its error under `key`. Answers `true`: the
    /// key is the message's.
    fn read<Rd, T>(&mut self, key: &str, reader: Rd, slot: &mut Option<T>) -> Result<bool, Stop>
    where
        Rd: Reader<'de, Out = R<T>>,
    {
        match self.map.value_or_null(reader)? {
            None => {
                self.errors.clear(key);
                *slot = None;
            }
            Some(Ok(v)) => {
                self.errors.clear(key);
                *slot = Some(v);
            }
            Some(Err(e)) => self.errors.insert(key, e.at(key)),
        }
        Ok(true)
    }

    /// A `string` field.
    fn text(&mut self, key: &str, slot: &mut Option<String>) -> Result<bool, Stop> {
        self.read(key, Text, slot)
    }
}

/// Reads a message object: `field` reads the value of a key the message has (through the
/// [`Fields`] it is given) and answers `true`, or answers `false` for any other key, which is
/// refused unless `null`. Gives the error to report, if any. (One loop for every message, and
/// one small `match` each: compact code for the WASM build.)
fn message<'de>(
    map: &mut dyn Entries<'de>,
    field: &mut dyn FnMut(&str, &mut Fields<'_, 'de>) -> Result<bool, Stop>,
) -> Result<Option<FieldError>, Stop> {
    let mut f = Fields {
        map,
        errors: ByKey::default(),
    };
    while let Some(key) = f.map.next_key()? {
        if !field(&key, &mut f)? {
            match f.map.value(Skip)? {
                JsonKind::Null => f.errors.clear(&key),
                _ => f.errors.insert(&key, unknown_field(&key)),
            }
        }
    }
    Ok(f.errors.first())
}

/// The message `build` makes, unless reading it gave `error`.
fn built<T>(error: Option<FieldError>, build: impl FnOnce() -> T) -> R<T> {
    match error {
        Some(e) => Err(e),
        None => Ok(build()),
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

    fn object(self, map: &mut dyn Entries<'de>) -> Result<Self::Out, Stop> {
        let mut out = BTreeMap::new();
        let mut errors = ByKey::default();
        // Keys whose latest value is `null` after an earlier one was kept: left out at the end
        // (rather than removed as they come, which would be another copy of `BTreeMap` code).
        let mut nulled = ByKey::default();
        while let Some(key) = map.next_key()? {
            match map.value_or_null(self.0)? {
                None => {
                    errors.clear(&key);
                    if out.contains_key(key.as_ref()) {
                        nulled.insert(&key, ());
                    }
                }
                Some(Ok(v)) => {
                    errors.clear(&key);
                    nulled.clear(&key);
                    out.insert(key.into_owned(), v);
                }
                Some(Err(e)) => errors.insert(&key, e.at(&key)),
            }
        }
        if let Some(e) = errors.first() {
            return Ok(Err(e));
        }
        if !nulled.is_empty() {
            let mut kept = BTreeMap::new();
            for (k, v) in out {
                if !nulled.contains(&k) {
                    kept.insert(k, v);
                }
            }
            out = kept;
        }
        Ok(Ok(out))
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

    fn object(self, map: &mut dyn Entries<'de>) -> Result<R<Event>, Stop> {
        let (mut id, mut timestamp, mut feature, mut action) = (None, None, None, None);
        let (mut source, mut parameters, mut user, mut interaction) = (None, None, None, None);
        let mut flags = Spellings::default();
        let mut marketing = Spellings::default();
        let error = message(map, &mut |key, f| match key {
            "id" => f.text(key, &mut id),
            "timestamp" => f.read(key, TimestampReader, &mut timestamp),
            "feature" => f.text(key, &mut feature),
            "action" => f.text(key, &mut action),
            "source" => f.read(key, SourceReader, &mut source),
            "parameters" => f.read(key, ParametersReader, &mut parameters),
            "user" => f.read(key, UserReader, &mut user),
            "featureFlags" => f.read(key, FeatureFlagsReader, &mut flags.first),
            "feature_flags" => f.read(key, FeatureFlagsReader, &mut flags.second),
            "marketingTracking" => f.read(key, MarketingReader, &mut marketing.first),
            "marketing_tracking" => f.read(key, MarketingReader, &mut marketing.second),
            "interaction" => f.read(key, InteractionReader, &mut interaction),
            _ => Ok(false),
        })?;
        Ok(built(error, || Event {
            id: id.unwrap_or_default(),
            timestamp,
            feature: feature.unwrap_or_default(),
            action: action.unwrap_or_default(),
            source,
            parameters,
            user,
            feature_flags: flags.get(),
            marketing_tracking: marketing.get(),
            interaction,
        }))
    }
}

struct FeatureFlagsReader;

impl<'de> Reader<'de> for FeatureFlagsReader {
    type Out = R<EventFeatureFlags>;

    fn wrong_kind(self, kind: JsonKind) -> Self::Out {
        expected_object("a featureFlags", kind)
    }

    fn object(self, map: &mut dyn Entries<'de>) -> Result<Self::Out, Stop> {
        let mut flags = None;
        let error = message(map, &mut |key, f| match key {
            "flags" => f.read(key, MapOf(Text), &mut flags),
            _ => Ok(false),
        })?;
        Ok(built(error, || EventFeatureFlags {
            flags: flags.unwrap_or_default(),
        }))
    }
}

struct SourceReader;

impl<'de> Reader<'de> for SourceReader {
    type Out = R<EventSource>;

    fn wrong_kind(self, kind: JsonKind) -> Self::Out {
        expected_object("a source", kind)
    }

    fn object(self, map: &mut dyn Entries<'de>) -> Result<Self::Out, Stop> {
        let (mut server, mut client) = (None, None);
        let error = message(map, &mut |key, f| match key {
            "server" => f.read(key, ServerReader, &mut server),
            "client" => f.read(key, ClientReader, &mut client),
            _ => Ok(false),
        })?;
        Ok(built(error, || EventSource { server, client }))
    }
}

struct ServerReader;

impl<'de> Reader<'de> for ServerReader {
    type Out = R<event_source::Server>;

    fn wrong_kind(self, kind: JsonKind) -> Self::Out {
        expected_object("a server", kind)
    }

    fn object(self, map: &mut dyn Entries<'de>) -> Result<Self::Out, Stop> {
        let mut version = None;
        let error = message(map, &mut |key, f| match key {
            "version" => f.text(key, &mut version),
            _ => Ok(false),
        })?;
        Ok(built(error, || event_source::Server {
            version: version.unwrap_or_default(),
        }))
    }
}

struct ClientReader;

impl<'de> Reader<'de> for ClientReader {
    type Out = R<event_source::Client>;

    fn wrong_kind(self, kind: JsonKind) -> Self::Out {
        expected_object("a client", kind)
    }

    fn object(self, map: &mut dyn Entries<'de>) -> Result<Self::Out, Stop> {
        let (mut name, mut version) = (None, None);
        let error = message(map, &mut |key, f| match key {
            "name" => f.text(key, &mut name),
            "version" => f.text(key, &mut version),
            _ => Ok(false),
        })?;
        Ok(built(error, || event_source::Client {
            name: name.unwrap_or_default(),
            version,
        }))
    }
}

struct ParametersReader;

impl<'de> Reader<'de> for ParametersReader {
    type Out = R<EventParameters>;

    fn wrong_kind(self, kind: JsonKind) -> Self::Out {
        expected_object("a parameters", kind)
    }

    fn object(self, map: &mut dyn Entries<'de>) -> Result<Self::Out, Stop> {
        let (mut version, mut metadata) = (None, None);
        let mut legacy = Spellings::default();
        let mut private = Spellings::default();
        let mut billing = Spellings::default();
        let error = message(map, &mut |key, f| match key {
            "version" => f.read(key, Int32, &mut version),
            "legacyMetadata" => f.read(key, MapOf(Int64), &mut legacy.first),
            "legacy_metadata" => f.read(key, MapOf(Int64), &mut legacy.second),
            "metadata" => f.read(key, MapOf(Double), &mut metadata),
            "privateMetadata" => f.read(key, StructReader, &mut private.first),
            "private_metadata" => f.read(key, StructReader, &mut private.second),
            "billingMetadata" => f.read(key, BillingReader, &mut billing.first),
            "billing_metadata" => f.read(key, BillingReader, &mut billing.second),
            _ => Ok(false),
        })?;
        Ok(built(error, || EventParameters {
            version: version.unwrap_or_default(),
            legacy_metadata: legacy.get().unwrap_or_default(),
            metadata: metadata.unwrap_or_default(),
            private_metadata: private.get(),
            billing_metadata: billing.get(),
        }))
    }
}

struct BillingReader;

impl<'de> Reader<'de> for BillingReader {
    type Out = R<EventBillingMetadata>;

    fn wrong_kind(self, kind: JsonKind) -> Self::Out {
        expected_object("a billingMetadata", kind)
    }

    fn object(self, map: &mut dyn Entries<'de>) -> Result<Self::Out, Stop> {
        let (mut product, mut category) = (None, None);
        let error = message(map, &mut |key, f| match key {
            "product" => f.text(key, &mut product),
            "category" => f.text(key, &mut category),
            _ => Ok(false),
        })?;
        Ok(built(error, || EventBillingMetadata {
            product: product.unwrap_or_default(),
            category: category.unwrap_or_default(),
        }))
    }
}

/// `EventUser` (also read for record contexts).
pub(crate) struct UserReader;

impl<'de> Reader<'de> for UserReader {
    type Out = R<EventUser>;

    fn wrong_kind(self, kind: JsonKind) -> Self::Out {
        expected_object("a user", kind)
    }

    fn object(self, map: &mut dyn Entries<'de>) -> Result<Self::Out, Stop> {
        let mut user_id = Spellings::default();
        let mut anonymous = Spellings::default();
        let mut sams = Spellings::default();
        let error = message(map, &mut |key, f| match key {
            "userId" => f.read(key, Int64, &mut user_id.first),
            "user_id" => f.read(key, Int64, &mut user_id.second),
            "anonymousUserId" => f.text(key, &mut anonymous.first),
            "anonymous_user_id" => f.text(key, &mut anonymous.second),
            "samsExternalId" => f.text(key, &mut sams.first),
            "sams_external_id" => f.text(key, &mut sams.second),
            _ => Ok(false),
        })?;
        Ok(built(error, || EventUser {
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

    fn object(self, map: &mut dyn Entries<'de>) -> Result<Self::Out, Stop> {
        let (mut url, mut referrer) = (None, None);
        let mut first_source = Spellings::default();
        let mut cohort = Spellings::default();
        let mut last_source = Spellings::default();
        let mut device_session = Spellings::default();
        let mut session_referrer = Spellings::default();
        let mut session_first = Spellings::default();
        let error = message(map, &mut |key, f| {
            let slot = match key {
                "url" => &mut url,
                "referrer" => &mut referrer,
                "firstSourceUrl" => &mut first_source.first,
                "first_source_url" => &mut first_source.second,
                "cohortId" => &mut cohort.first,
                "cohort_id" => &mut cohort.second,
                "lastSourceUrl" => &mut last_source.first,
                "last_source_url" => &mut last_source.second,
                "deviceSessionId" => &mut device_session.first,
                "device_session_id" => &mut device_session.second,
                "sessionReferrer" => &mut session_referrer.first,
                "session_referrer" => &mut session_referrer.second,
                "sessionFirstUrl" => &mut session_first.first,
                "session_first_url" => &mut session_first.second,
                _ => return Ok(false),
            };
            f.text(key, slot)
        })?;
        Ok(built(error, || EventMarketingTracking {
            url,
            first_source_url: first_source.get(),
            cohort_id: cohort.get(),
            referrer,
            last_source_url: last_source.get(),
            device_session_id: device_session.get(),
            session_referrer: session_referrer.get(),
            session_first_url: session_first.get(),
        }))
    }
}

struct InteractionReader;

impl<'de> Reader<'de> for InteractionReader {
    type Out = R<EventInteraction>;

    fn wrong_kind(self, kind: JsonKind) -> Self::Out {
        expected_object("an interaction", kind)
    }

    fn object(self, map: &mut dyn Entries<'de>) -> Result<Self::Out, Stop> {
        let mut trace = Spellings::default();
        let mut interaction = Spellings::default();
        let mut geolocation = None;
        let error = message(map, &mut |key, f| match key {
            "traceId" => f.text(key, &mut trace.first),
            "trace_id" => f.text(key, &mut trace.second),
            "interactionId" => f.text(key, &mut interaction.first),
            "interaction_id" => f.text(key, &mut interaction.second),
            "geolocation" => f.read(key, GeolocationReader, &mut geolocation),
            _ => Ok(false),
        })?;
        Ok(built(error, || EventInteraction {
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

    fn object(self, map: &mut dyn Entries<'de>) -> Result<Self::Out, Stop> {
        let mut country = Spellings::default();
        let error = message(map, &mut |key, f| match key {
            "countryCode" => f.text(key, &mut country.first),
            "country_code" => f.text(key, &mut country.second),
            _ => Ok(false),
        })?;
        Ok(built(error, || event_interaction::Geolocation {
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

    fn object(self, map: &mut dyn Entries<'de>) -> Result<Self::Out, Stop> {
        let mut request_id = Spellings::default();
        let mut identifier = None;
        let error = message(map, &mut |key, f| match key {
            "requestId" => f.text(key, &mut request_id.first),
            "request_id" => f.text(key, &mut request_id.second),
            "identifier" => f.read(key, IdentifierReader, &mut identifier),
            _ => Ok(false),
        })?;
        Ok(built(error, || RecordEventsRequestMetadata {
            request_id: request_id.get().unwrap_or_default(),
            identifier,
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

    fn object(self, map: &mut dyn Entries<'de>) -> Result<Self::Out, Stop> {
        use identifier::Identifier as Which;
        let mut set: ByKey<R<Which>> = ByKey::default();
        while let Some(key) = map.next_key()? {
            let at = |r: R<Which>| r.map_err(|e| e.at(&key));
            let read = match key.as_ref() {
                "licensedInstance" | "licensed_instance" => map
                    .value_or_null(LicensedReader)?
                    .map(|r| at(r.map(Which::LicensedInstance))),
                "unlicensedInstance" | "unlicensed_instance" => map
                    .value_or_null(UnlicensedReader)?
                    .map(|r| at(r.map(Which::UnlicensedInstance))),
                "managedService" | "managed_service" => map
                    .value_or_null(ManagedServiceReader)?
                    .map(|r| at(r.map(Which::ManagedService))),
                _ => match map.value(Skip)? {
                    JsonKind::Null => None,
                    _ => Some(Err(unknown_field(&key))),
                },
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
}

struct LicensedReader;

impl<'de> Reader<'de> for LicensedReader {
    type Out = R<identifier::LicensedInstanceIdentifier>;

    fn wrong_kind(self, kind: JsonKind) -> Self::Out {
        expected_object("a licensedInstance", kind)
    }

    fn object(self, map: &mut dyn Entries<'de>) -> Result<Self::Out, Stop> {
        let mut license = Spellings::default();
        let mut instance = Spellings::default();
        let mut url = Spellings::default();
        let error = message(map, &mut |key, f| {
            let slot = match key {
                "licenseKey" => &mut license.first,
                "license_key" => &mut license.second,
                "instanceId" => &mut instance.first,
                "instance_id" => &mut instance.second,
                "externalUrl" => &mut url.first,
                "external_url" => &mut url.second,
                _ => return Ok(false),
            };
            f.text(key, slot)
        })?;
        Ok(built(error, || identifier::LicensedInstanceIdentifier {
            license_key: license.get().unwrap_or_default(),
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

    fn object(self, map: &mut dyn Entries<'de>) -> Result<Self::Out, Stop> {
        let mut instance = Spellings::default();
        let mut url = Spellings::default();
        let error = message(map, &mut |key, f| {
            let slot = match key {
                "instanceId" => &mut instance.first,
                "instance_id" => &mut instance.second,
                "externalUrl" => &mut url.first,
                "external_url" => &mut url.second,
                _ => return Ok(false),
            };
            f.text(key, slot)
        })?;
        Ok(built(error, || identifier::UnlicensedInstanceIdentifier {
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

    fn object(self, map: &mut dyn Entries<'de>) -> Result<Self::Out, Stop> {
        let mut service = Spellings::default();
        let mut environment = Spellings::default();
        let error = message(map, &mut |key, f| {
            let slot = match key {
                "serviceId" => &mut service.first,
                "service_id" => &mut service.second,
                "serviceEnvironment" => &mut environment.first,
                "service_environment" => &mut environment.second,
                _ => return Ok(false),
            };
            f.text(key, slot)
        })?;
        Ok(built(error, || identifier::ManagedServiceIdentifier {
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

    fn object(self, map: &mut dyn Entries<'de>) -> Result<R<Struct>, Stop> {
        struct_fields(map).map(Ok)
    }
}

fn struct_fields<'de>(map: &mut dyn Entries<'de>) -> Result<Struct, Stop> {
    let mut fields = BTreeMap::new();
    while let Some(key) = map.next_key()? {
        let value = map.value(ValueReader)?;
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
        // Not reached: every kind has its own method below.
        Value { kind: None }
    }

    fn scalar(self, s: Scalar<'de>) -> Value {
        let kind = match s {
            Scalar::Null => Kind::NullValue(0),
            Scalar::Bool(b) => Kind::BoolValue(b),
            Scalar::Number(n) => Kind::NumberValue(n.as_f64()),
            Scalar::Str(s) => Kind::StringValue(s.into_owned()),
        };
        Value { kind: Some(kind) }
    }

    fn object(self, map: &mut dyn Entries<'de>) -> Result<Value, Stop> {
        Ok(Value {
            kind: Some(Kind::StructValue(struct_fields(map)?)),
        })
    }

    fn array(self, seq: &mut dyn Elements<'de>) -> Result<Value, Stop> {
        let mut values = Vec::new();
        while let Some(v) = seq.element(ValueReader)? {
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
