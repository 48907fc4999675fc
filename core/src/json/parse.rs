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
    ByKey, Entries, Got, JsonKind, Scalar, Source, Spellings, Stop, from_text, from_value,
    object_document,
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

/// What reads a message's fields, and what a value of another kind is.
pub(crate) struct Message<T> {
    /// Reads the object's entries.
    pub(crate) read: for<'de> fn(&mut dyn Entries<'de>) -> Result<R<T>, Stop>,
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
    /// The message read from a value that `got` was when it was not an object.
    fn not_object(&self, got: &Got<'_>) -> R<T> {
        Err((self.wrong)(got.kind()))
    }
}

/// Reads a whole document: bounded in size here and in depth by serde_json.
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
    let mut read = message.read;
    match object_document(|body| from_text(text, body, None), &mut read) {
        Ok(Ok(r)) => finish(subject, r),
        Ok(Err(got)) => finish(subject, message.not_object(&got)),
        Err(e) => Err(document_error(subject, format!("not valid JSON: {e}"))),
    }
}

/// Reads an already parsed value with the same readers.
fn read_parsed<T>(subject: &'static str, v: &Json, message: Message<T>) -> Result<T, JsonError> {
    let mut read = message.read;
    match object_document(|body| from_value(v, body, None), &mut read) {
        Ok(Ok(r)) => finish(subject, r),
        Ok(Err(got)) => finish(subject, message.not_object(&got)),
        Err(e) => Err(document_error(subject, format!("not valid JSON: {e}"))),
    }
}

/// Parses an `Event` from its proto3 JSON text.
pub fn parse_event(text: &str) -> Result<Event, JsonError> {
    read_document("event", text, EVENT)
}

/// Parses an `Event` from a parsed JSON value (same rules and messages as [`parse_event`]).
pub fn parse_event_value(v: &Json) -> Result<Event, JsonError> {
    read_parsed("event", v, EVENT)
}

/// Parses `RecordEventsRequestMetadata` from its proto3 JSON text.
pub fn parse_metadata(text: &str) -> Result<RecordEventsRequestMetadata, JsonError> {
    read_document("metadata", text, METADATA)
}

/// Parses `RecordEventsRequestMetadata` from a parsed JSON value.
pub fn parse_metadata_value(v: &Json) -> Result<RecordEventsRequestMetadata, JsonError> {
    read_parsed("metadata", v, METADATA)
}

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
                if f.fract() == 0.0
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
                if f.fract() == 0.0 && f.abs() < 4.0e9 {
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
        other => match other.parse::<f64>() {
            Ok(f)
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

/// The fields of one message object being read (see [`message`]).
struct Fields<'a, 'de> {
    map: &'a mut dyn Entries<'de>,
    errors: ByKey<FieldError>,
}

impl<'de> Fields<'_, 'de> {
    /// Keeps `key`'s latest answer: a value (or `None` for `null`, proto3 JSON's "not set")
    /// goes to `slot`; a wrong value leaves `slot` and keeps its error under `key`. Answers
    /// `true`: the key is the message's.
    fn keep<T>(&mut self, key: &str, read: Option<R<T>>, slot: &mut Option<T>) -> bool {
        match read {
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
        true
    }

    /// A scalar field, read by `read`.
    fn scalar<T>(
        &mut self,
        key: &str,
        read: fn(Got<'de>) -> R<T>,
        slot: &mut Option<T>,
    ) -> Result<bool, Stop> {
        let got = (self.map as &mut dyn Source<'de>).value()?;
        let read = (!got.is_null()).then(|| read(got));
        Ok(self.keep(key, read, slot))
    }

    /// A `string` field.
    fn text(&mut self, key: &str, slot: &mut Option<String>) -> Result<bool, Stop> {
        self.scalar(key, text, slot)
    }

    /// A message field.
    fn message<T>(
        &mut self,
        key: &str,
        message: Message<T>,
        slot: &mut Option<T>,
    ) -> Result<bool, Stop> {
        let mut read = message.read;
        let read = match (self.map as &mut dyn Source<'de>).object(&mut read)? {
            Ok(r) => Some(r),
            Err(got) if got.is_null() => None,
            Err(got) => Some(message.not_object(&got)),
        };
        Ok(self.keep(key, read, slot))
    }

    /// A `map<string, V>` field, its values read by `read`.
    fn map<T>(
        &mut self,
        key: &str,
        read: fn(Got<'de>) -> R<T>,
        slot: &mut Option<BTreeMap<String, T>>,
    ) -> Result<bool, Stop> {
        let read = match (self.map as &mut dyn Source<'de>).object(&mut |m| map_of(m, read))? {
            Ok(r) => Some(r),
            Err(got) if got.is_null() => None,
            Err(got) => Some(Err(expected_object("a map", got.kind()))),
        };
        Ok(self.keep(key, read, slot))
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
            if (f.map as &mut dyn Source<'de>).value()?.is_null() {
                f.errors.clear(&key);
            } else {
                f.errors.insert(&key, unknown_field(&key));
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

/// The entries of a `map<string, V>`, each value read by `read`; `null` values are "not set".
fn map_of<'de, T>(
    map: &mut dyn Entries<'de>,
    read: fn(Got<'de>) -> R<T>,
) -> Result<R<BTreeMap<String, T>>, Stop> {
    let mut out = BTreeMap::new();
    let mut errors = ByKey::default();
    // Keys whose latest value is `null` after an earlier one was kept: left out at the end
    // (rather than removed as they come, which would be another copy of `BTreeMap` code).
    let mut nulled = ByKey::default();
    while let Some(key) = map.next_key()? {
        let got = (map as &mut dyn Source<'de>).value()?;
        if got.is_null() {
            errors.clear(&key);
            if out.contains_key(key.as_ref()) {
                nulled.insert(&key, ());
            }
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

/// `Event`. Of two spellings of one field (`featureFlags`, `feature_flags`) the proto name
/// sorts later (`_` > any capital letter), so it wins when both are given.
pub(crate) const EVENT: Message<Event> = Message {
    read: event,
    wrong: |k| expected_object("an event", k),
};

fn event(map: &mut dyn Entries<'_>) -> Result<R<Event>, Stop> {
    let (mut id, mut timestamp_, mut feature, mut action) = (None, None, None, None);
    let (mut source, mut parameters, mut user, mut interaction) = (None, None, None, None);
    let mut flags = Spellings::default();
    let mut marketing = Spellings::default();
    let error = message(map, &mut |key, f| match key {
        "id" => f.text(key, &mut id),
        "timestamp" => f.scalar(key, timestamp, &mut timestamp_),
        "feature" => f.text(key, &mut feature),
        "action" => f.text(key, &mut action),
        "source" => f.message(key, SOURCE, &mut source),
        "parameters" => f.message(key, PARAMETERS, &mut parameters),
        "user" => f.message(key, USER, &mut user),
        "featureFlags" => f.message(key, FEATURE_FLAGS, &mut flags.first),
        "feature_flags" => f.message(key, FEATURE_FLAGS, &mut flags.second),
        "marketingTracking" => f.message(key, MARKETING, &mut marketing.first),
        "marketing_tracking" => f.message(key, MARKETING, &mut marketing.second),
        "interaction" => f.message(key, INTERACTION, &mut interaction),
        _ => Ok(false),
    })?;
    Ok(built(error, || Event {
        id: id.unwrap_or_default(),
        timestamp: timestamp_,
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

const FEATURE_FLAGS: Message<EventFeatureFlags> = Message {
    read: |map| {
        let mut flags = None;
        let error = message(map, &mut |key, f| match key {
            "flags" => f.map(key, text, &mut flags),
            _ => Ok(false),
        })?;
        Ok(built(error, || EventFeatureFlags {
            flags: flags.unwrap_or_default(),
        }))
    },
    wrong: |k| expected_object("a featureFlags", k),
};

const SOURCE: Message<EventSource> = Message {
    read: |map| {
        let (mut server, mut client) = (None, None);
        let error = message(map, &mut |key, f| match key {
            "server" => f.message(key, SERVER, &mut server),
            "client" => f.message(key, CLIENT, &mut client),
            _ => Ok(false),
        })?;
        Ok(built(error, || EventSource { server, client }))
    },
    wrong: |k| expected_object("a source", k),
};

const SERVER: Message<event_source::Server> = Message {
    read: |map| {
        let mut version = None;
        let error = message(map, &mut |key, f| match key {
            "version" => f.text(key, &mut version),
            _ => Ok(false),
        })?;
        Ok(built(error, || event_source::Server {
            version: version.unwrap_or_default(),
        }))
    },
    wrong: |k| expected_object("a server", k),
};

const CLIENT: Message<event_source::Client> = Message {
    read: |map| {
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
    },
    wrong: |k| expected_object("a client", k),
};

const PARAMETERS: Message<EventParameters> = Message {
    read: |map| {
        let (mut version, mut metadata) = (None, None);
        let mut legacy = Spellings::default();
        let mut private = Spellings::default();
        let mut billing = Spellings::default();
        let error = message(map, &mut |key, f| match key {
            "version" => f.scalar(key, int32, &mut version),
            "legacyMetadata" => f.map(key, int64, &mut legacy.first),
            "legacy_metadata" => f.map(key, int64, &mut legacy.second),
            "metadata" => f.map(key, double, &mut metadata),
            "privateMetadata" => f.message(key, STRUCT, &mut private.first),
            "private_metadata" => f.message(key, STRUCT, &mut private.second),
            "billingMetadata" => f.message(key, BILLING, &mut billing.first),
            "billing_metadata" => f.message(key, BILLING, &mut billing.second),
            _ => Ok(false),
        })?;
        Ok(built(error, || EventParameters {
            version: version.unwrap_or_default(),
            legacy_metadata: legacy.get().unwrap_or_default(),
            metadata: metadata.unwrap_or_default(),
            private_metadata: private.get(),
            billing_metadata: billing.get(),
        }))
    },
    wrong: |k| expected_object("a parameters", k),
};

const BILLING: Message<EventBillingMetadata> = Message {
    read: |map| {
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
    },
    wrong: |k| expected_object("a billingMetadata", k),
};

/// `EventUser` (also read for record contexts).
pub(crate) const USER: Message<EventUser> = Message {
    read: |map| {
        let mut user_id = Spellings::default();
        let mut anonymous = Spellings::default();
        let mut sams = Spellings::default();
        let error = message(map, &mut |key, f| match key {
            "userId" => f.scalar(key, int64, &mut user_id.first),
            "user_id" => f.scalar(key, int64, &mut user_id.second),
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
    },
    wrong: |k| expected_object("a user", k),
};

const MARKETING: Message<EventMarketingTracking> = Message {
    read: |map| {
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
    },
    wrong: |k| expected_object("a marketingTracking", k),
};

const INTERACTION: Message<EventInteraction> = Message {
    read: |map| {
        let mut trace = Spellings::default();
        let mut interaction = Spellings::default();
        let mut geolocation = None;
        let error = message(map, &mut |key, f| match key {
            "traceId" => f.text(key, &mut trace.first),
            "trace_id" => f.text(key, &mut trace.second),
            "interactionId" => f.text(key, &mut interaction.first),
            "interaction_id" => f.text(key, &mut interaction.second),
            "geolocation" => f.message(key, GEOLOCATION, &mut geolocation),
            _ => Ok(false),
        })?;
        Ok(built(error, || EventInteraction {
            trace_id: trace.get(),
            interaction_id: interaction.get(),
            geolocation,
        }))
    },
    wrong: |k| expected_object("an interaction", k),
};

const GEOLOCATION: Message<event_interaction::Geolocation> = Message {
    read: |map| {
        let mut country = Spellings::default();
        let error = message(map, &mut |key, f| match key {
            "countryCode" => f.text(key, &mut country.first),
            "country_code" => f.text(key, &mut country.second),
            _ => Ok(false),
        })?;
        Ok(built(error, || event_interaction::Geolocation {
            country_code: country.get().unwrap_or_default(),
        }))
    },
    wrong: |k| expected_object("a geolocation", k),
};

/// `RecordEventsRequestMetadata`.
pub(crate) const METADATA: Message<RecordEventsRequestMetadata> = Message {
    read: |map| {
        let mut request_id = Spellings::default();
        let mut id = None;
        let error = message(map, &mut |key, f| match key {
            "requestId" => f.text(key, &mut request_id.first),
            "request_id" => f.text(key, &mut request_id.second),
            "identifier" => f.message(key, IDENTIFIER, &mut id),
            _ => Ok(false),
        })?;
        Ok(built(error, || RecordEventsRequestMetadata {
            request_id: request_id.get().unwrap_or_default(),
            identifier: id,
        }))
    },
    wrong: |k| expected_object("a metadata", k),
};

/// `Identifier`, a oneof: exactly one non-null field may be set. Read in sorted key order, the
/// first field decides (its own error, or its value) and a second one is refused by name; so the
/// non-null fields are kept by key until the object ends.
const IDENTIFIER: Message<Identifier> = Message {
    read: identifier_fields,
    wrong: |k| expected_object("an identifier", k),
};

fn identifier_fields(map: &mut dyn Entries<'_>) -> Result<R<Identifier>, Stop> {
    use identifier::Identifier as Which;
    let mut set: ByKey<R<Which>> = ByKey::default();
    while let Some(key) = map.next_key()? {
        let value = map as &mut dyn Source<'_>;
        let read = match key.as_ref() {
            "licensedInstance" | "licensed_instance" => {
                oneof(value, &key, LICENSED, Which::LicensedInstance)?
            }
            "unlicensedInstance" | "unlicensed_instance" => {
                oneof(value, &key, UNLICENSED, Which::UnlicensedInstance)?
            }
            "managedService" | "managed_service" => {
                oneof(value, &key, MANAGED_SERVICE, Which::ManagedService)?
            }
            _ => (!value.value()?.is_null()).then(|| Err(unknown_field(&key))),
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

/// One field of the `Identifier` oneof, under `key`: `None` for `null`.
fn oneof<'de, T>(
    value: &mut dyn Source<'de>,
    key: &str,
    message: Message<T>,
    which: fn(T) -> identifier::Identifier,
) -> Result<Option<R<identifier::Identifier>>, Stop> {
    let mut read = message.read;
    let read = match value.object(&mut read)? {
        Ok(r) => r,
        Err(got) if got.is_null() => return Ok(None),
        Err(got) => message.not_object(&got),
    };
    Ok(Some(read.map(which).map_err(|e| e.at(key))))
}

const LICENSED: Message<identifier::LicensedInstanceIdentifier> = Message {
    read: |map| {
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
    },
    wrong: |k| expected_object("a licensedInstance", k),
};

const UNLICENSED: Message<identifier::UnlicensedInstanceIdentifier> = Message {
    read: |map| {
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
    },
    wrong: |k| expected_object("an unlicensedInstance", k),
};

const MANAGED_SERVICE: Message<identifier::ManagedServiceIdentifier> = Message {
    read: |map| {
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
    },
    wrong: |k| expected_object("a managedService", k),
};

// ---------------------------------------------------------------------------------------------
// google.protobuf.Struct and Value: plain JSON.

/// A `google.protobuf.Struct` field: a JSON object (a repeated key: the last value wins).
pub(crate) const STRUCT: Message<Struct> = Message {
    read: |map| struct_fields(map).map(Ok),
    wrong: |k| {
        FieldError::new(format!(
            "expected a JSON object for google.protobuf.Struct, got {}",
            k.described()
        ))
    },
};

fn struct_fields<'de>(map: &mut dyn Entries<'de>) -> Result<Struct, Stop> {
    let mut fields = BTreeMap::new();
    while let Some(key) = map.next_key()? {
        if let Some(value) = any_value(map)? {
            fields.insert(key.into_owned(), value);
        }
    }
    Ok(Struct { fields })
}

/// The next value, whatever it is, as a `google.protobuf.Value` (every JSON value has one:
/// JSON numbers are finite doubles); `None` at the end of an array. Nesting is bounded by
/// serde_json's recursion limit.
pub(crate) fn any_value<'de>(value: &mut dyn Source<'de>) -> Result<Option<Value>, Stop> {
    let mut object = None;
    let mut list = None;
    let got = value.value_with(
        Some(&mut |map| {
            object = Some(struct_fields(map)?);
            Ok(())
        }),
        Some(&mut |items| {
            let mut values = Vec::new();
            while let Some(v) = any_value(items)? {
                values.push(v);
            }
            list = Some(ListValue { values });
            Ok(())
        }),
    )?;
    let kind = match got {
        Got::Scalar(Scalar::Null) => Kind::NullValue(0),
        Got::Scalar(Scalar::Bool(b)) => Kind::BoolValue(b),
        Got::Scalar(Scalar::Number(n)) => Kind::NumberValue(n.as_f64()),
        Got::Scalar(Scalar::Str(s)) => Kind::StringValue(s.into_owned()),
        Got::Object => Kind::StructValue(object.unwrap_or_default()),
        Got::Array => Kind::ListValue(list.unwrap_or_default()),
        Got::End => return Ok(None),
    };
    Ok(Some(Value { kind: Some(kind) }))
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
