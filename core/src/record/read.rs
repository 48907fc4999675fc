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
    ByKey, Elements, Entries, JsonKind, Reader, Scalar, Skip, Spellings, Stop,
};
use crate::proto::EventMarketingTracking;
use prost_types::Value;
use std::collections::BTreeMap;
use std::fmt;

fn shape<T>(msg: impl Into<String>) -> Result<T, RecordError> {
    Err(RecordError::Shape(msg.into()))
}

fn context<T>(msg: impl Into<String>) -> Result<T, RecordError> {
    Err(RecordError::Context(msg.into()))
}

/// The fields of one object of a recording or a context being read (see [`object`]).
struct Shape<'a, 'de> {
    map: &'a mut dyn Entries<'de>,
    errors: ByKey<RecordError>,
}

impl<'de> Shape<'_, 'de> {
    /// Reads `key`'s value with `reader` into `slot`; a wrong value leaves `slot` and keeps its
    /// error under `key`. Answers `true`: the key is the object's.
    fn read<Rd, T>(&mut self, key: &str, reader: Rd, slot: &mut T) -> Result<bool, Stop>
    where
        Rd: Reader<'de, Out = Result<T, RecordError>>,
    {
        let read = self.map.value(reader)?;
        if let Some(v) = self.errors.keep(key, read) {
            *slot = v;
        }
        Ok(true)
    }
}

/// Reads an object of a recording or a context: `field` reads the value of a key the object has
/// (through the [`Shape`] it is given) and answers `true`, or answers `false` for any other key,
/// which is refused with `unknown(key)` whatever its value. Gives the errors by key.
fn object<'de>(
    map: &mut dyn Entries<'de>,
    unknown: &dyn Fn(&str) -> RecordError,
    field: &mut dyn FnMut(&str, &mut Shape<'_, 'de>) -> Result<bool, Stop>,
) -> Result<ByKey<RecordError>, Stop> {
    let mut f = Shape {
        map,
        errors: ByKey::default(),
    };
    while let Some(key) = f.map.next_key()? {
        if !field(&key, &mut f)? {
            f.map.value(Skip)?;
            f.errors.insert(&key, unknown(&key));
        }
    }
    Ok(f.errors)
}

fn first_error<T>(errors: ByKey<RecordError>, value: T) -> Result<T, RecordError> {
    match errors.first() {
        Some(e) => Err(e),
        None => Ok(value),
    }
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

    fn scalar(self, s: Scalar<'de>) -> Self::Out {
        match s {
            Scalar::Null => Ok(None),
            Scalar::Str(s) => Ok(Some(s.into_owned())),
            other => self.wrong_kind(other.kind()),
        }
    }
}

/// A string that `null` leaves empty.
struct ReqText(&'static str);

impl<'de> Reader<'de> for ReqText {
    type Out = Result<String, RecordError>;

    fn wrong_kind(self, _: JsonKind) -> Self::Out {
        shape(format!("{}: expected a string", self.0))
    }

    fn scalar(self, s: Scalar<'de>) -> Self::Out {
        match s {
            Scalar::Null => Ok(String::new()),
            Scalar::Str(s) => Ok(s.into_owned()),
            other => self.wrong_kind(other.kind()),
        }
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

    fn object(self, map: &mut dyn Entries<'de>) -> Result<Self::Out, Stop> {
        let mut input = TelemetryEventInput::default();
        let mut source = Presence::Missing;
        let mut parameters = Presence::Missing;
        let unknown = |k: &str| RecordError::Shape(format!("unknown field {k:?}"));
        let errors = object(map, &unknown, &mut |key, f| match key {
            "timestamp" => f.read(key, OptText(Path::Fixed("timestamp")), &mut input.timestamp),
            "feature" => f.read(key, ReqText("feature"), &mut input.feature),
            "action" => f.read(key, ReqText("action"), &mut input.action),
            "source" => {
                let read = f.map.value(SourceReader)?;
                source = Presence::of(&read);
                match read {
                    None => f.errors.clear(key),
                    Some(r) => {
                        if let Some((client, version)) = f.errors.keep(key, r.read) {
                            input.client = client;
                            input.client_version = version;
                        }
                    }
                }
                Ok(true)
            }
            "parameters" => {
                let read = f.map.value(ParametersReader)?;
                parameters = Presence::of(&read);
                match read {
                    None => f.errors.clear(key),
                    Some(r) => {
                        if let Some(p) = f.errors.keep(key, r.read) {
                            input.version = p.version;
                            input.metadata = p.metadata;
                            input.private_metadata = p.private_metadata;
                            input.billing_metadata = p.billing_metadata;
                            input.interaction_id = p.interaction_id;
                        }
                    }
                }
                Ok(true)
            }
            "marketingTracking" => f.read(key, MarketingReader, &mut input.marketing_tracking),
            _ => Ok(false),
        })?;
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

    fn object(self, map: &mut dyn Entries<'de>) -> Result<Self::Out, Stop> {
        let (mut client, mut version) = (None, None);
        let mut complete = false;
        let unknown = |k: &str| RecordError::Shape(format!("source: unknown field {k:?}"));
        let errors = object(map, &unknown, &mut |key, f| match key {
            "client" => {
                let read = f.map.value(OptText(Path::Fixed("source.client")))?;
                complete = matches!(read, Ok(Some(_)));
                if let Some(v) = f.errors.keep(key, read) {
                    client = v;
                }
                Ok(true)
            }
            "clientVersion" => f.read(
                key,
                OptText(Path::Fixed("source.clientVersion")),
                &mut version,
            ),
            _ => Ok(false),
        })?;
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

    fn object(self, map: &mut dyn Entries<'de>) -> Result<Self::Out, Stop> {
        let mut p = Parameters::default();
        let mut complete = false;
        // `interactionID` sorts before `interactionId` (`D` < `d`): the latter wins.
        let mut interaction: Spellings<Option<String>> = Spellings::default();
        let unknown = |k: &str| RecordError::Shape(format!("parameters: unknown field {k:?}"));
        let errors = object(map, &unknown, &mut |key, f| match key {
            "version" => {
                match f.map.value_or_null(Version)? {
                    None => {
                        complete = false;
                        f.errors.clear(key);
                        p.version = 0;
                    }
                    Some(read) => {
                        complete = true;
                        if let Some(v) = f.errors.keep(key, read) {
                            p.version = v;
                        }
                    }
                }
                Ok(true)
            }
            "metadata" => f.read(key, MetadataList, &mut p.metadata),
            "privateMetadata" => {
                p.private_metadata = f.map.value_or_null(ValueReader)?;
                f.errors.clear(key);
                Ok(true)
            }
            "billingMetadata" => f.read(key, BillingReader, &mut p.billing_metadata),
            "interactionID" | "interactionId" => {
                let read = f
                    .map
                    .value(OptText(Path::Fixed("parameters.interactionID")))?;
                if let Some(v) = f.errors.keep(key, read) {
                    if key == "interactionID" {
                        interaction.first = Some(v);
                    } else {
                        interaction.second = Some(v);
                    }
                }
                Ok(true)
            }
            _ => Ok(false),
        })?;
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

    fn scalar(self, s: Scalar<'de>) -> Self::Out {
        match s {
            Scalar::Number(n) => match n.as_i64().and_then(|i| i32::try_from(i).ok()) {
                Some(v) => Ok(v),
                None => self.wrong_kind(JsonKind::Number),
            },
            other => self.wrong_kind(other.kind()),
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

    fn scalar(self, s: Scalar<'de>) -> Self::Out {
        match s {
            Scalar::Null => Ok(Vec::new()),
            other => self.wrong_kind(other.kind()),
        }
    }

    fn array(self, seq: &mut dyn Elements<'de>) -> Result<Self::Out, Stop> {
        let mut entries = Vec::new();
        while let Some(entry) = seq.element(MetadataEntry(entries.len()))? {
            match entry {
                Ok(e) => entries.push(e),
                Err(e) => {
                    while seq.element(Skip)?.is_some() {}
                    return Ok(Err(e));
                }
            }
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

    fn object(self, map: &mut dyn Entries<'de>) -> Result<Self::Out, Stop> {
        let i = self.0;
        let mut key_field = None;
        let mut value = MetadataValue::NotANumber { go_type: "<nil>" };
        let unknown =
            |k: &str| RecordError::Shape(format!("parameters.metadata.{i}: unknown field {k:?}"));
        let errors = object(map, &unknown, &mut |key, f| match key {
            "key" => f.read(key, OptText(Path::MetadataKey(i)), &mut key_field),
            "value" => {
                value = f.map.value(MetadataValueReader)?;
                Ok(true)
            }
            _ => Ok(false),
        })?;
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

    fn scalar(self, s: Scalar<'de>) -> MetadataValue {
        match s {
            Scalar::Number(n) => MetadataValue::Number(n.as_f64()),
            other => self.wrong_kind(other.kind()),
        }
    }
}

/// `parameters.billingMetadata`: `null` or `{product, category}`.
struct BillingReader;

impl<'de> Reader<'de> for BillingReader {
    type Out = Result<Option<(String, String)>, RecordError>;

    fn wrong_kind(self, _: JsonKind) -> Self::Out {
        shape("parameters.billingMetadata: expected an object")
    }

    fn scalar(self, s: Scalar<'de>) -> Self::Out {
        match s {
            Scalar::Null => Ok(None),
            other => self.wrong_kind(other.kind()),
        }
    }

    fn object(self, map: &mut dyn Entries<'de>) -> Result<Self::Out, Stop> {
        let (mut product, mut category) = (String::new(), String::new());
        let unknown = |k: &str| {
            RecordError::Shape(format!("parameters.billingMetadata: unknown field {k:?}"))
        };
        let errors = object(map, &unknown, &mut |key, f| match key {
            "product" => f.read(
                key,
                ReqText("parameters.billingMetadata.product"),
                &mut product,
            ),
            "category" => f.read(
                key,
                ReqText("parameters.billingMetadata.category"),
                &mut category,
            ),
            _ => Ok(false),
        })?;
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

    fn scalar(self, s: Scalar<'de>) -> Self::Out {
        match s {
            Scalar::Null => Ok(None),
            other => self.wrong_kind(other.kind()),
        }
    }

    fn object(self, map: &mut dyn Entries<'de>) -> Result<Self::Out, Stop> {
        // Each field as given: `Some(None)` for an explicit `null`.
        let (mut url, mut referrer, mut session_referrer) = (None, None, None);
        let mut first_source: Spellings<Option<String>> = Spellings::default();
        let mut cohort: Spellings<Option<String>> = Spellings::default();
        let mut last_source: Spellings<Option<String>> = Spellings::default();
        let mut device_session: Spellings<Option<String>> = Spellings::default();
        let mut session_first: Spellings<Option<String>> = Spellings::default();
        let unknown =
            |k: &str| RecordError::Shape(format!("marketingTracking: unknown field {k:?}"));
        let errors = object(map, &unknown, &mut |key, f| {
            let slot = match key {
                "url" => &mut url,
                "referrer" => &mut referrer,
                "sessionReferrer" => &mut session_referrer,
                "firstSourceURL" => &mut first_source.first,
                "firstSourceUrl" => &mut first_source.second,
                "cohortID" => &mut cohort.first,
                "cohortId" => &mut cohort.second,
                "lastSourceURL" => &mut last_source.first,
                "lastSourceUrl" => &mut last_source.second,
                "deviceSessionID" => &mut device_session.first,
                "deviceSessionId" => &mut device_session.second,
                "sessionFirstURL" => &mut session_first.first,
                "sessionFirstUrl" => &mut session_first.second,
                _ => return Ok(false),
            };
            let read = f.map.value(OptText(Path::Marketing(key)))?;
            if let Some(v) = f.errors.keep(key, read) {
                *slot = Some(v);
            }
            Ok(true)
        })?;
        Ok(first_error(
            errors,
            Some(EventMarketingTracking {
                url: url.flatten(),
                first_source_url: first_source.get().flatten(),
                cohort_id: cohort.get().flatten(),
                referrer: referrer.flatten(),
                last_source_url: last_source.get().flatten(),
                device_session_id: device_session.get().flatten(),
                session_referrer: session_referrer.flatten(),
                session_first_url: session_first.get().flatten(),
            }),
        ))
    }
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
    errors: ByKey<RecordError>,
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

/// A context field that must be a string (`null` included in "not a string"), named `.0`.
struct ContextText(&'static str);

impl<'de> Reader<'de> for ContextText {
    type Out = Result<String, RecordError>;

    fn wrong_kind(self, _: JsonKind) -> Self::Out {
        context(format!("{}: expected a string", self.0))
    }

    fn scalar(self, s: Scalar<'de>) -> Self::Out {
        match s {
            Scalar::Str(s) => Ok(s.into_owned()),
            other => self.wrong_kind(other.kind()),
        }
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

    fn object(self, map: &mut dyn Entries<'de>) -> Result<ContextRead, Stop> {
        let (mut ctx, mut have_now, mut saw_id, mut saw_now) =
            (RecordContext::default(), false, false, false);
        let unknown = |k: &str| RecordError::Context(format!("unknown field {k:?}"));
        let errors = object(map, &unknown, &mut |key, f| {
            let optional = match key {
                "id" => {
                    saw_id = true;
                    return f.read(key, ContextText("id"), &mut ctx.id);
                }
                "now" => {
                    saw_now = true;
                    let read = f.map.value(ContextText("now"))?.and_then(|s| {
                        parse_timestamp_str(&s)
                            .map_err(|e| RecordError::Context(format!("now: {}", e.detail)))
                    });
                    if let Some(t) = f.errors.keep(key, read) {
                        ctx.now = t;
                        have_now = true;
                    }
                    return Ok(true);
                }
                "serverVersion" => {
                    return f.read(key, ContextText("serverVersion"), &mut ctx.server_version);
                }
                "user" => {
                    match f.map.value_or_null(UserReader)? {
                        None => {
                            f.errors.clear(key);
                            ctx.user = None;
                        }
                        Some(read) => {
                            let read = finish("user", read)
                                .map_err(|e| RecordError::Context(format!("user: {e}")));
                            if let Some(u) = f.errors.keep(key, read) {
                                ctx.user = Some(u);
                            }
                        }
                    }
                    return Ok(true);
                }
                "featureFlags" => return f.read(key, ContextFlags, &mut ctx.feature_flags),
                "traceId" => (ContextText("traceId"), &mut ctx.trace_id),
                "interactionId" => (ContextText("interactionId"), &mut ctx.interaction_id),
                "countryCode" => (ContextText("countryCode"), &mut ctx.country_code),
                _ => return Ok(false),
            };
            // An optional string: `null` is unset.
            let (reader, slot) = optional;
            let read = f.map.value_or_null(reader)?.transpose();
            if let Some(v) = f.errors.keep(key, read) {
                *slot = v;
            }
            Ok(true)
        })?;
        Ok(ContextRead::Object(Box::new(ContextFields {
            ctx,
            have_now,
            saw_id,
            saw_now,
            errors,
        })))
    }
}

/// A context's `featureFlags`: `null` or an object of booleans or strings.
struct ContextFlags;

impl<'de> Reader<'de> for ContextFlags {
    type Out = Result<BTreeMap<String, String>, RecordError>;

    fn wrong_kind(self, _: JsonKind) -> Self::Out {
        context("featureFlags: expected an object")
    }

    fn scalar(self, s: Scalar<'de>) -> Self::Out {
        match s {
            Scalar::Null => Ok(BTreeMap::new()),
            other => self.wrong_kind(other.kind()),
        }
    }

    fn object(self, map: &mut dyn Entries<'de>) -> Result<Self::Out, Stop> {
        let mut flags = BTreeMap::new();
        let mut errors = ByKey::default();
        while let Some(name) = map.next_key()? {
            let read = map.value(FlagValue)?.ok_or_else(|| {
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

    fn scalar(self, s: Scalar<'de>) -> Option<String> {
        match s {
            Scalar::Bool(b) => Some(b.to_string()),
            Scalar::Str(s) => Some(s.into_owned()),
            _ => None,
        }
    }
}
