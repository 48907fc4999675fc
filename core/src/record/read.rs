//! Reading a [`TelemetryEventInput`] and a [`RecordContext`] from JSON straight into the types
//! (no `serde_json::Value` tree), with the readers and rules of `json::read`: syntax errors
//! first, keys judged in sorted order with the last duplicate winning, depth bounded.
//!
//! Unlike proto3 JSON, `null` here is a value of the field (an optional string set to `null`
//! is unset, a required one is `""`), and an unknown field is refused even when `null`.

use super::{MetadataValue, RecordContext, RecordError, TelemetryEventInput};
use crate::json::parse::{UserReader, ValueReader, finish};
use crate::json::parse_timestamp_str;
use crate::json::read::{
    ErrorsByKey, JsonKind, Number, OrNull, Reader, Seed, Skip, Spellings, next_key,
};
use crate::proto::EventMarketingTracking;
use prost_types::Value;
use serde::de::{MapAccess, SeqAccess};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

fn shape<T>(msg: impl Into<String>) -> Result<T, RecordError> {
    Err(RecordError::Shape(msg.into()))
}

fn context<T>(msg: impl Into<String>) -> Result<T, RecordError> {
    Err(RecordError::Context(msg.into()))
}

/// Where a field sits in a recording, for its error message (built only on error).
#[derive(Clone, Copy)]
enum Path<'a> {
    /// A fixed path: `timestamp`, `source.clientVersion`, …
    Fixed(&'static str),
    /// `marketingTracking.<key>`, with the key as given.
    Marketing(&'a str),
    /// `parameters.metadata.<i>.key`.
    MetadataKey(usize),
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Path::Fixed(p) => f.write_str(p),
            Path::Marketing(key) => write!(f, "marketingTracking.{key}"),
            Path::MetadataKey(i) => write!(f, "parameters.metadata.{i}.key"),
        }
    }
}

/// An optional string: `null` is `None`.
struct OptText<'a>(Path<'a>);

impl<'de> Reader<'de> for OptText<'_> {
    type Out = Result<Option<String>, RecordError>;

    fn wrong_kind(self, _: JsonKind) -> Self::Out {
        shape(format!("{}: expected a string", self.0))
    }

    fn null(self) -> Self::Out {
        Ok(None)
    }

    fn string(self, s: Cow<'de, str>) -> Self::Out {
        Ok(Some(s.into_owned()))
    }
}

/// A string that `null` leaves empty.
fn req_text<'de, A: MapAccess<'de>>(
    map: &mut A,
    path: &'static str,
) -> Result<Result<String, RecordError>, A::Error> {
    Ok(map
        .next_value_seed(Seed(OptText(Path::Fixed(path))))?
        .map(Option::unwrap_or_default))
}

/// A field the shape does not have: refused whatever its value (`null` included).
fn unknown<'de, A: MapAccess<'de>>(
    map: &mut A,
    errors: &mut ErrorsByKey<RecordError>,
    key: &str,
    error: RecordError,
) -> Result<(), A::Error> {
    map.next_value_seed(Seed(Skip))?;
    errors.insert(key, error);
    Ok(())
}

fn first_error<T>(errors: ErrorsByKey<RecordError>, value: T) -> Result<T, RecordError> {
    match errors.first() {
        Some(e) => Err(e),
        None => Ok(value),
    }
}

/// A field the GraphQL schema requires (`source`, `parameters`): whether it was an object with
/// its own required field, and what reading it gave.
struct Required<T> {
    complete: bool,
    read: Result<T, RecordError>,
}

/// Whether a required object was given, checked before any other field (as the schema does).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Presence {
    Missing,
    Incomplete,
    Complete,
}

impl Presence {
    fn of<T>(read: &Option<Required<T>>) -> Self {
        match read {
            None => Presence::Missing,
            Some(r) if r.complete => Presence::Complete,
            Some(_) => Presence::Incomplete,
        }
    }
}

/// `TelemetryEventInput` (GraphQL field names). Required `source.client` and
/// `parameters.version` are checked first, then every field in sorted key order.
pub(crate) struct InputReader;

impl<'de> Reader<'de> for InputReader {
    type Out = Result<TelemetryEventInput, RecordError>;

    fn wrong_kind(self, _: JsonKind) -> Self::Out {
        shape("event: expected an object")
    }

    fn object<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Out, A::Error> {
        let mut input = TelemetryEventInput::default();
        let mut errors = ErrorsByKey::default();
        let mut source = Presence::Missing;
        let mut parameters = Presence::Missing;
        while let Some(key) = next_key(&mut map)? {
            match key.as_ref() {
                "timestamp" => {
                    let read = map.next_value_seed(Seed(OptText(Path::Fixed("timestamp"))))?;
                    if let Some(v) = errors.keep(&key, read) {
                        input.timestamp = v;
                    }
                }
                "feature" => {
                    if let Some(v) = errors.keep(&key, req_text(&mut map, "feature")?) {
                        input.feature = v;
                    }
                }
                "action" => {
                    if let Some(v) = errors.keep(&key, req_text(&mut map, "action")?) {
                        input.action = v;
                    }
                }
                "source" => {
                    let read = map.next_value_seed(Seed(SourceReader))?;
                    source = Presence::of(&read);
                    match read {
                        None => errors.clear(&key),
                        Some(r) => {
                            if let Some((client, version)) = errors.keep(&key, r.read) {
                                input.client = client;
                                input.client_version = version;
                            }
                        }
                    }
                }
                "parameters" => {
                    let read = map.next_value_seed(Seed(ParametersReader))?;
                    parameters = Presence::of(&read);
                    match read {
                        None => errors.clear(&key),
                        Some(r) => {
                            if let Some(p) = errors.keep(&key, r.read) {
                                input.version = p.version;
                                input.metadata = p.metadata;
                                input.private_metadata = p.private_metadata;
                                input.billing_metadata = p.billing_metadata;
                                input.interaction_id = p.interaction_id;
                            }
                        }
                    }
                }
                "marketingTracking" => {
                    let read = map.next_value_seed(Seed(MarketingReader))?;
                    if let Some(v) = errors.keep(&key, read) {
                        input.marketing_tracking = v;
                    }
                }
                other => {
                    let error = RecordError::Shape(format!("unknown field {other:?}"));
                    unknown(&mut map, &mut errors, &key, error)?;
                }
            }
        }
        Ok(match (source, parameters) {
            (Presence::Missing, _) => shape("source: is required"),
            (Presence::Incomplete, _) => shape("source.client: is required"),
            (_, Presence::Missing) => shape("parameters: is required"),
            (_, Presence::Incomplete) => shape("parameters.version: is required"),
            (Presence::Complete, Presence::Complete) => first_error(errors, input),
        })
    }
}

/// `source`: `None` unless an object; complete when `client` is a string.
struct SourceReader;

impl<'de> Reader<'de> for SourceReader {
    type Out = Option<Required<(String, Option<String>)>>;

    fn wrong_kind(self, _: JsonKind) -> Self::Out {
        None
    }

    fn object<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Out, A::Error> {
        let mut errors = ErrorsByKey::default();
        let mut client = None;
        let mut version = None;
        let mut complete = false;
        while let Some(key) = next_key(&mut map)? {
            match key.as_ref() {
                "client" => {
                    let read = map.next_value_seed(Seed(OptText(Path::Fixed("source.client"))))?;
                    complete = matches!(read, Ok(Some(_)));
                    if let Some(v) = errors.keep(&key, read) {
                        client = v;
                    }
                }
                "clientVersion" => {
                    let read =
                        map.next_value_seed(Seed(OptText(Path::Fixed("source.clientVersion"))))?;
                    if let Some(v) = errors.keep(&key, read) {
                        version = v;
                    }
                }
                other => {
                    let error = RecordError::Shape(format!("source: unknown field {other:?}"));
                    unknown(&mut map, &mut errors, &key, error)?;
                }
            }
        }
        Ok(Some(Required {
            complete,
            read: first_error(errors, (client.unwrap_or_default(), version)),
        }))
    }
}

/// What `parameters` holds.
#[derive(Default)]
struct Parameters {
    version: i32,
    metadata: Vec<(String, MetadataValue)>,
    private_metadata: Option<Value>,
    billing_metadata: Option<(String, String)>,
    interaction_id: Option<String>,
}

/// `parameters`: `None` unless an object; complete when `version` is not `null`.
struct ParametersReader;

impl<'de> Reader<'de> for ParametersReader {
    type Out = Option<Required<Parameters>>;

    fn wrong_kind(self, _: JsonKind) -> Self::Out {
        None
    }

    fn object<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Out, A::Error> {
        let mut p = Parameters::default();
        let mut errors = ErrorsByKey::default();
        let mut complete = false;
        // `interactionID` sorts before `interactionId` (`D` < `d`): the latter wins.
        let mut interaction: Spellings<Option<String>> = Spellings::default();
        while let Some(key) = next_key(&mut map)? {
            match key.as_ref() {
                "version" => match map.next_value_seed(Seed(OrNull(Version)))? {
                    None => {
                        complete = false;
                        errors.clear(&key);
                        p.version = 0;
                    }
                    Some(read) => {
                        complete = true;
                        if let Some(v) = errors.keep(&key, read) {
                            p.version = v;
                        }
                    }
                },
                "metadata" => {
                    let read = map.next_value_seed(Seed(MetadataList))?;
                    if let Some(v) = errors.keep(&key, read) {
                        p.metadata = v;
                    }
                }
                "privateMetadata" => {
                    p.private_metadata = map.next_value_seed(Seed(OrNull(ValueReader)))?;
                    errors.clear(&key);
                }
                "billingMetadata" => {
                    let read = map.next_value_seed(Seed(BillingReader))?;
                    if let Some(v) = errors.keep(&key, read) {
                        p.billing_metadata = v;
                    }
                }
                "interactionID" | "interactionId" => {
                    let read = map
                        .next_value_seed(Seed(OptText(Path::Fixed("parameters.interactionID"))))?;
                    if let Some(v) = errors.keep(&key, read) {
                        if key == "interactionID" {
                            interaction.first = Some(v);
                        } else {
                            interaction.second = Some(v);
                        }
                    }
                }
                other => {
                    let error = RecordError::Shape(format!("parameters: unknown field {other:?}"));
                    unknown(&mut map, &mut errors, &key, error)?;
                }
            }
        }
        p.interaction_id = interaction.get().flatten();
        Ok(Some(Required {
            complete,
            read: first_error(errors, p),
        }))
    }
}

/// `parameters.version`: a JSON integer that fits in 32 bits.
struct Version;

impl<'de> Reader<'de> for Version {
    type Out = Result<i32, RecordError>;

    fn wrong_kind(self, _: JsonKind) -> Self::Out {
        shape("parameters.version: expected a 32-bit integer")
    }

    fn number(self, n: Number) -> Self::Out {
        match n.as_i64().and_then(|i| i32::try_from(i).ok()) {
            Some(v) => Ok(v),
            None => self.wrong_kind(JsonKind::Number),
        }
    }
}

/// `parameters.metadata`: an array of `{key, value}`; the first wrong entry is reported.
struct MetadataList;

impl<'de> Reader<'de> for MetadataList {
    type Out = Result<Vec<(String, MetadataValue)>, RecordError>;

    fn wrong_kind(self, _: JsonKind) -> Self::Out {
        shape("parameters.metadata: expected an array of {key, value}")
    }

    fn null(self) -> Self::Out {
        Ok(Vec::new())
    }

    fn array<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Out, A::Error> {
        let mut entries = Vec::new();
        let mut i = 0;
        while let Some(entry) = seq.next_element_seed(Seed(MetadataEntry(i)))? {
            match entry {
                Ok(e) => entries.push(e),
                Err(e) => {
                    while seq.next_element_seed(Seed(Skip))?.is_some() {}
                    return Ok(Err(e));
                }
            }
            i += 1;
        }
        Ok(Ok(entries))
    }
}

/// One `{key, value}` entry of `parameters.metadata`, at index `.0`.
struct MetadataEntry(usize);

impl<'de> Reader<'de> for MetadataEntry {
    type Out = Result<(String, MetadataValue), RecordError>;

    fn wrong_kind(self, _: JsonKind) -> Self::Out {
        shape(format!(
            "parameters.metadata.{}: expected an object",
            self.0
        ))
    }

    fn object<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Out, A::Error> {
        let i = self.0;
        let mut errors = ErrorsByKey::default();
        let mut key_field = None;
        let mut value = MetadataValue::NotANumber { go_type: "<nil>" };
        while let Some(key) = next_key(&mut map)? {
            match key.as_ref() {
                "key" => {
                    let read = map.next_value_seed(Seed(OptText(Path::MetadataKey(i))))?;
                    if let Some(v) = errors.keep(&key, read) {
                        key_field = v;
                    }
                }
                "value" => value = map.next_value_seed(Seed(MetadataValueReader))?,
                other => {
                    let error = RecordError::Shape(format!(
                        "parameters.metadata.{i}: unknown field {other:?}"
                    ));
                    unknown(&mut map, &mut errors, &key, error)?;
                }
            }
        }
        Ok(match (errors.first(), key_field) {
            (Some(e), _) => Err(e),
            (None, None) => shape(format!("parameters.metadata.{i}.key: is required")),
            (None, Some(key)) => Ok((key, value)),
        })
    }
}

/// A metadata value: a number, or the Go type name (`%T`) a GraphQL `JSONValue` of its kind
/// has upstream, for the error `record` reports.
struct MetadataValueReader;

impl<'de> Reader<'de> for MetadataValueReader {
    type Out = MetadataValue;

    fn wrong_kind(self, kind: JsonKind) -> MetadataValue {
        let go_type = match kind {
            JsonKind::Null => "<nil>",
            JsonKind::Bool => "bool",
            JsonKind::Number => "float64",
            JsonKind::String => "string",
            JsonKind::Array => "[]interface {}",
            JsonKind::Object => "map[string]interface {}",
        };
        MetadataValue::NotANumber { go_type }
    }

    fn number(self, n: Number) -> MetadataValue {
        MetadataValue::Number(n.as_f64())
    }
}

/// `parameters.billingMetadata`: `null` or `{product, category}`.
struct BillingReader;

impl<'de> Reader<'de> for BillingReader {
    type Out = Result<Option<(String, String)>, RecordError>;

    fn wrong_kind(self, _: JsonKind) -> Self::Out {
        shape("parameters.billingMetadata: expected an object")
    }

    fn null(self) -> Self::Out {
        Ok(None)
    }

    fn object<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Out, A::Error> {
        let mut errors = ErrorsByKey::default();
        let mut product = String::new();
        let mut category = String::new();
        while let Some(key) = next_key(&mut map)? {
            match key.as_ref() {
                "product" => {
                    let read = req_text(&mut map, "parameters.billingMetadata.product")?;
                    if let Some(v) = errors.keep(&key, read) {
                        product = v;
                    }
                }
                "category" => {
                    let read = req_text(&mut map, "parameters.billingMetadata.category")?;
                    if let Some(v) = errors.keep(&key, read) {
                        category = v;
                    }
                }
                other => {
                    let error = RecordError::Shape(format!(
                        "parameters.billingMetadata: unknown field {other:?}"
                    ));
                    unknown(&mut map, &mut errors, &key, error)?;
                }
            }
        }
        Ok(first_error(errors, Some((product, category))))
    }
}

/// `marketingTracking`: `null` or an object of optional strings, in GraphQL spellings
/// (`firstSourceURL`) or proto JSON ones (`firstSourceUrl`); the latter sort later and win.
struct MarketingReader;

impl<'de> Reader<'de> for MarketingReader {
    type Out = Result<Option<EventMarketingTracking>, RecordError>;

    fn wrong_kind(self, _: JsonKind) -> Self::Out {
        shape("marketingTracking: expected an object")
    }

    fn null(self) -> Self::Out {
        Ok(None)
    }

    fn object<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Out, A::Error> {
        let mut errors = ErrorsByKey::default();
        let mut m = EventMarketingTracking::default();
        let mut first_source: Spellings<Option<String>> = Spellings::default();
        let mut cohort: Spellings<Option<String>> = Spellings::default();
        let mut last_source: Spellings<Option<String>> = Spellings::default();
        let mut device_session: Spellings<Option<String>> = Spellings::default();
        let mut session_first: Spellings<Option<String>> = Spellings::default();
        while let Some(key) = next_key(&mut map)? {
            let slot = match key.as_ref() {
                "url" => Slot::One(&mut m.url),
                "referrer" => Slot::One(&mut m.referrer),
                "sessionReferrer" => Slot::One(&mut m.session_referrer),
                "firstSourceURL" => Slot::Spelling(&mut first_source.first),
                "firstSourceUrl" => Slot::Spelling(&mut first_source.second),
                "cohortID" => Slot::Spelling(&mut cohort.first),
                "cohortId" => Slot::Spelling(&mut cohort.second),
                "lastSourceURL" => Slot::Spelling(&mut last_source.first),
                "lastSourceUrl" => Slot::Spelling(&mut last_source.second),
                "deviceSessionID" => Slot::Spelling(&mut device_session.first),
                "deviceSessionId" => Slot::Spelling(&mut device_session.second),
                "sessionFirstURL" => Slot::Spelling(&mut session_first.first),
                "sessionFirstUrl" => Slot::Spelling(&mut session_first.second),
                other => {
                    let error =
                        RecordError::Shape(format!("marketingTracking: unknown field {other:?}"));
                    unknown(&mut map, &mut errors, &key, error)?;
                    continue;
                }
            };
            let read = map.next_value_seed(Seed(OptText(Path::Marketing(&key))))?;
            if let Some(v) = errors.keep(&key, read) {
                match slot {
                    Slot::One(s) => *s = v,
                    Slot::Spelling(s) => *s = Some(v),
                }
            }
        }
        m.first_source_url = first_source.get().flatten();
        m.cohort_id = cohort.get().flatten();
        m.last_source_url = last_source.get().flatten();
        m.device_session_id = device_session.get().flatten();
        m.session_first_url = session_first.get().flatten();
        Ok(first_error(errors, Some(m)))
    }
}

/// Where one marketing field's value goes.
enum Slot<'a> {
    One(&'a mut Option<String>),
    Spelling(&'a mut Option<Option<String>>),
}

/// A record context as read, before the defaults for a missing `id` / `now` (the WASM build's
/// fresh UUID and current time) and the required-field checks.
pub(crate) enum ContextRead {
    /// Not an object.
    NotObject,
    /// An object (maybe with wrong fields).
    Object(Box<ContextFields>),
}

#[derive(Default)]
pub(crate) struct ContextFields {
    ctx: RecordContext,
    have_now: bool,
    saw_id: bool,
    saw_now: bool,
    errors: ErrorsByKey<RecordError>,
}

impl ContextRead {
    /// An empty context object (what a missing context becomes when defaults are filled in).
    #[cfg(feature = "ffi")]
    pub(crate) fn empty() -> Self {
        ContextRead::Object(Box::default())
    }

    /// The context, with `id` and `now` filled in from `id`/`now` where the object has no such
    /// key (a key set to anything, `null` included, is kept and checked).
    pub(crate) fn finish(
        self,
        id: Option<&dyn Fn() -> String>,
        now: Option<&dyn Fn() -> String>,
    ) -> Result<RecordContext, RecordError> {
        let mut f = match self {
            ContextRead::NotObject => return context("expected an object"),
            ContextRead::Object(f) => *f,
        };
        if let Some(id) = id.filter(|_| !f.saw_id) {
            f.ctx.id = id();
        }
        if let Some(now) = now.filter(|_| !f.saw_now) {
            match parse_timestamp_str(&now()) {
                Ok(t) => {
                    f.ctx.now = t;
                    f.have_now = true;
                }
                Err(e) => f
                    .errors
                    .insert("now", RecordError::Context(format!("now: {}", e.detail))),
            }
        }
        let ctx = first_error(f.errors, f.ctx)?;
        if ctx.id.is_empty() {
            return context("id is required");
        }
        if !f.have_now {
            return context("now is required");
        }
        Ok(ctx)
    }
}

/// A context field that must be a string (`null` included in "not a string").
struct ContextText<'a>(&'a str);

impl<'de> Reader<'de> for ContextText<'_> {
    type Out = Result<String, RecordError>;

    fn wrong_kind(self, _: JsonKind) -> Self::Out {
        context(format!("{}: expected a string", self.0))
    }

    fn string(self, s: Cow<'de, str>) -> Self::Out {
        Ok(s.into_owned())
    }
}

/// `RecordContext`: `{"id", "now", "serverVersion", "user"?, "featureFlags"?, "traceId"?,
/// "interactionId"?, "countryCode"?}`.
pub(crate) struct ContextReader;

impl<'de> Reader<'de> for ContextReader {
    type Out = ContextRead;

    fn wrong_kind(self, _: JsonKind) -> ContextRead {
        ContextRead::NotObject
    }

    fn object<A: MapAccess<'de>>(self, mut map: A) -> Result<ContextRead, A::Error> {
        let mut f = ContextFields::default();
        while let Some(key) = next_key(&mut map)? {
            let k = key.as_ref();
            match k {
                "id" => {
                    f.saw_id = true;
                    let read = map.next_value_seed(Seed(ContextText(k)))?;
                    if let Some(v) = f.errors.keep(k, read) {
                        f.ctx.id = v;
                    }
                }
                "now" => {
                    f.saw_now = true;
                    let read = map.next_value_seed(Seed(ContextText(k)))?.and_then(|s| {
                        parse_timestamp_str(&s)
                            .map_err(|e| RecordError::Context(format!("now: {}", e.detail)))
                    });
                    if let Some(t) = f.errors.keep(k, read) {
                        f.ctx.now = t;
                        f.have_now = true;
                    }
                }
                "serverVersion" => {
                    let read = map.next_value_seed(Seed(ContextText(k)))?;
                    if let Some(v) = f.errors.keep(k, read) {
                        f.ctx.server_version = v;
                    }
                }
                "user" => match map.next_value_seed(Seed(OrNull(UserReader)))? {
                    None => {
                        f.errors.clear(k);
                        f.ctx.user = None;
                    }
                    Some(read) => {
                        let read = finish("user", read)
                            .map_err(|e| RecordError::Context(format!("user: {e}")));
                        if let Some(u) = f.errors.keep(k, read) {
                            f.ctx.user = Some(u);
                        }
                    }
                },
                "featureFlags" => {
                    let read = map.next_value_seed(Seed(ContextFlags))?;
                    if let Some(flags) = f.errors.keep(k, read) {
                        f.ctx.feature_flags = flags;
                    }
                }
                "traceId" | "interactionId" | "countryCode" => {
                    let read = map
                        .next_value_seed(Seed(OrNull(ContextText(k))))?
                        .transpose();
                    if let Some(v) = f.errors.keep(k, read) {
                        match k {
                            "traceId" => f.ctx.trace_id = v,
                            "interactionId" => f.ctx.interaction_id = v,
                            _ => f.ctx.country_code = v,
                        }
                    }
                }
                other => {
                    let error = RecordError::Context(format!("unknown field {other:?}"));
                    unknown(&mut map, &mut f.errors, k, error)?;
                }
            }
        }
        Ok(ContextRead::Object(Box::new(f)))
    }
}

/// A context's `featureFlags`: `null` or an object of booleans or strings.
struct ContextFlags;

impl<'de> Reader<'de> for ContextFlags {
    type Out = Result<BTreeMap<String, String>, RecordError>;

    fn wrong_kind(self, _: JsonKind) -> Self::Out {
        context("featureFlags: expected an object")
    }

    fn null(self) -> Self::Out {
        Ok(BTreeMap::new())
    }

    fn object<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Out, A::Error> {
        let mut flags = BTreeMap::new();
        let mut errors = ErrorsByKey::default();
        while let Some(name) = next_key(&mut map)? {
            let read = map.next_value_seed(Seed(FlagValue))?.ok_or_else(|| {
                RecordError::Context(format!("featureFlags.{name}: expected a boolean or string"))
            });
            if let Some(v) = errors.keep(&name, read) {
                flags.insert(name.into_owned(), v);
            }
        }
        Ok(first_error(errors, flags))
    }
}

/// A feature flag's value: a boolean (rendered `true`/`false`) or a string.
struct FlagValue;

impl<'de> Reader<'de> for FlagValue {
    type Out = Option<String>;

    fn wrong_kind(self, _: JsonKind) -> Option<String> {
        None
    }

    fn boolean(self, b: bool) -> Option<String> {
        Some(b.to_string())
    }

    fn string(self, s: Cow<'de, str>) -> Option<String> {
        Some(s.into_owned())
    }
}
