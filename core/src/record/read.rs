//! Reading a [`TelemetryEventInput`] and a [`RecordContext`] from JSON straight into the types
//! (no intermediate tree), with the reader and rules of `json::read`: syntax errors first, keys
//! judged in sorted order with the last duplicate winning, depth bounded.
//!
//! Unlike proto3 JSON, `null` here is a value of the field (an optional string set to `null`
//! is unset, a required one is `""`), and an unknown field is refused even when `null`.

use crate::prelude::*;

use super::{MetadataValue, RecordContext, RecordError, TelemetryEventInput};
use crate::json::parse::{USER, any_value, finish};
use crate::json::parse_timestamp_str;
use crate::json::read::{ByKey, Got, Reader, Scalar, Spellings, Stop};
use crate::proto::EventMarketingTracking;
use alloc::collections::BTreeMap;
use core::fmt;
use prost_types::{Value, value::Kind};

fn shape<T>(msg: impl Into<String>) -> Result<T, RecordError> {
    Err(RecordError::Shape(msg.into()))
}

fn context<T>(msg: impl Into<String>) -> Result<T, RecordError> {
    Err(RecordError::Context(msg.into()))
}

/// The errors of one object of a recording or a context, by key (the smallest key's is
/// reported). A key the object does not have is refused with its `unknown` error whatever its
/// value.
struct Errors(ByKey<RecordError>);

impl Errors {
    fn new() -> Self {
        Errors(ByKey::default())
    }

    /// Keeps `key`'s latest answer: a good value goes to `slot`; a wrong one leaves `slot` and
    /// keeps its error under `key`.
    fn keep<T>(&mut self, key: &str, read: Result<T, RecordError>, slot: &mut T) {
        if let Some(v) = self.0.keep(key, read) {
            *slot = v;
        }
    }

    /// An unknown key: its value read through, the key refused.
    fn unknown(&mut self, r: &mut Reader<'_>, key: &str, error: RecordError) -> Result<(), Stop> {
        r.value()?;
        self.0.insert(key, error);
        Ok(())
    }

    fn first<T>(self, value: T) -> Result<T, RecordError> {
        first_error(self.0, value)
    }
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

/// An optional string (the next value): `null` is `None`.
fn opt_text(
    r: &mut Reader<'_>,
    path: Path<'_>,
) -> Result<Result<Option<String>, RecordError>, Stop> {
    Ok(match r.text_or_null()? {
        Ok(text) => Ok(text),
        Err(_) => shape(format!("{path}: expected a string")),
    })
}

/// A string (the next value) that `null` leaves empty.
fn req_text(r: &mut Reader<'_>, path: &'static str) -> Result<Result<String, RecordError>, Stop> {
    Ok(opt_text(r, Path::Fixed(path))?.map(Option::unwrap_or_default))
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

/// Reads a required object: `None` unless the value is an object.
fn required<T>(
    r: &mut Reader<'_>,
    fields: fn(&mut Reader<'_>) -> Result<Required<T>, Stop>,
    presence: &mut Presence,
) -> Result<Option<Result<T, RecordError>>, Stop> {
    if r.open_object()?.is_some() {
        *presence = Presence::Missing;
        return Ok(None);
    }
    let read = fields(r)?;
    *presence = if read.complete {
        Presence::Complete
    } else {
        Presence::Incomplete
    };
    Ok(Some(read.read))
}

/// `TelemetryEventInput` (GraphQL field names; the object opened). Required `source.client` and
/// `parameters.version` are checked first, then every field in sorted key order.
pub(crate) fn recording(
    r: &mut Reader<'_>,
) -> Result<Result<TelemetryEventInput, RecordError>, Stop> {
    let mut input = TelemetryEventInput::default();
    let mut source = Presence::Missing;
    let mut parameters = Presence::Missing;
    let mut errors = Errors::new();
    while let Some(key) = r.next_key()? {
        let key = key.as_ref();
        match key {
            "timestamp" => {
                let read = opt_text(r, Path::Fixed("timestamp"))?;
                errors.keep(key, read, &mut input.timestamp);
            }
            "feature" => {
                let read = req_text(r, "feature")?;
                errors.keep(key, read, &mut input.feature);
            }
            "action" => {
                let read = req_text(r, "action")?;
                errors.keep(key, read, &mut input.action);
            }
            "source" => match required(r, source_fields, &mut source)? {
                None => errors.0.clear(key),
                Some(read) => {
                    if let Some((client, version)) = errors.0.keep(key, read) {
                        input.client = client;
                        input.client_version = version;
                    }
                }
            },
            "parameters" => match required(r, parameters_fields, &mut parameters)? {
                None => errors.0.clear(key),
                Some(read) => {
                    if let Some(p) = errors.0.keep(key, read) {
                        input.version = p.version;
                        input.metadata = p.metadata;
                        input.private_metadata = p.private_metadata;
                        input.billing_metadata = p.billing_metadata;
                        input.interaction_id = p.interaction_id;
                    }
                }
            },
            "marketingTracking" => {
                let read = marketing(r)?;
                errors.keep(key, read, &mut input.marketing_tracking);
            }
            _ => errors.unknown(r, key, RecordError::Shape(format!("unknown field {key:?}")))?,
        }
    }
    Ok(match (source, parameters) {
        (Presence::Missing, _) => shape("source: is required"),
        (Presence::Incomplete, _) => shape("source.client: is required"),
        (_, Presence::Missing) => shape("parameters: is required"),
        (_, Presence::Incomplete) => shape("parameters.version: is required"),
        (Presence::Complete, Presence::Complete) => errors.first(input),
    })
}

/// The error for a recording that is not an object.
pub(crate) fn recording_not_object() -> RecordError {
    RecordError::Shape("event: expected an object".into())
}

/// The next value as a recording.
pub(crate) fn recording_value(
    r: &mut Reader<'_>,
) -> Result<Result<TelemetryEventInput, RecordError>, Stop> {
    match r.open_object()? {
        None => recording(r),
        Some(_) => Ok(Err(recording_not_object())),
    }
}

/// `source`: complete when `client` is a string.
fn source_fields(r: &mut Reader<'_>) -> Result<Required<(String, Option<String>)>, Stop> {
    let (mut client, mut version) = (None, None);
    let mut complete = false;
    let mut errors = Errors::new();
    while let Some(key) = r.next_key()? {
        let key = key.as_ref();
        match key {
            "client" => {
                let read = opt_text(r, Path::Fixed("source.client"))?;
                complete = matches!(read, Ok(Some(_)));
                errors.keep(key, read, &mut client);
            }
            "clientVersion" => {
                let read = opt_text(r, Path::Fixed("source.clientVersion"))?;
                errors.keep(key, read, &mut version);
            }
            _ => errors.unknown(
                r,
                key,
                RecordError::Shape(format!("source: unknown field {key:?}")),
            )?,
        }
    }
    Ok(Required {
        complete,
        read: errors.first((client.unwrap_or_default(), version)),
    })
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

/// `parameters`: complete when `version` is not `null`.
fn parameters_fields(r: &mut Reader<'_>) -> Result<Required<Parameters>, Stop> {
    let mut p = Parameters::default();
    let mut complete = false;
    // `interactionID` sorts before `interactionId` (`D` < `d`): the latter wins.
    let mut interaction: Spellings<Option<String>> = Spellings::default();
    let mut errors = Errors::new();
    while let Some(key) = r.next_key()? {
        let key = key.as_ref();
        match key {
            "version" => {
                let got = r.value()?;
                complete = !got.is_null();
                let read = match got {
                    Got::Scalar(Scalar::Null) => Ok(0),
                    Got::Scalar(Scalar::Number(n)) => {
                        n.as_i64().and_then(|i| i32::try_from(i).ok()).ok_or(())
                    }
                    _ => Err(()),
                }
                .or_else(|()| shape("parameters.version: expected a 32-bit integer"));
                errors.keep(key, read, &mut p.version);
            }
            "metadata" => {
                let read = metadata_list(r)?;
                errors.keep(key, read, &mut p.metadata);
            }
            "privateMetadata" => {
                let value = any_value(r)?;
                p.private_metadata =
                    (!matches!(value.kind, Some(Kind::NullValue(_)))).then_some(value);
                errors.0.clear(key);
            }
            "billingMetadata" => {
                let read = billing(r)?;
                errors.keep(key, read, &mut p.billing_metadata);
            }
            "interactionID" | "interactionId" => {
                let read = opt_text(r, Path::Fixed("parameters.interactionID"))?;
                let slot = if key == "interactionID" {
                    &mut interaction.first
                } else {
                    &mut interaction.second
                };
                errors.keep(key, read.map(Some), slot);
            }
            _ => errors.unknown(
                r,
                key,
                RecordError::Shape(format!("parameters: unknown field {key:?}")),
            )?,
        }
    }
    p.interaction_id = interaction.get().flatten();
    Ok(Required {
        complete,
        read: errors.first(p),
    })
}

/// `parameters.metadata`: `null` or an array of `{key, value}`; the first wrong entry is
/// reported.
fn metadata_list(
    r: &mut Reader<'_>,
) -> Result<Result<Vec<(String, MetadataValue)>, RecordError>, Stop> {
    Ok(match r.open_array()? {
        None => metadata_entries(r)?,
        Some(got) if got.is_null() => Ok(Vec::new()),
        Some(_) => shape("parameters.metadata: expected an array of {key, value}"),
    })
}

fn metadata_entries(
    r: &mut Reader<'_>,
) -> Result<Result<Vec<(String, MetadataValue)>, RecordError>, Stop> {
    let mut entries = Vec::new();
    while r.next_item()? {
        let i = entries.len();
        let read = match r.open_object()? {
            None => metadata_entry(r, i)?,
            Some(_) => shape(format!("parameters.metadata.{i}: expected an object")),
        };
        match read {
            Ok(entry) => entries.push(entry),
            Err(e) => {
                r.skip_items()?;
                return Ok(Err(e));
            }
        }
    }
    Ok(Ok(entries))
}

/// One `{key, value}` entry of `parameters.metadata` (opened), at index `i`.
fn metadata_entry(
    r: &mut Reader<'_>,
    i: usize,
) -> Result<Result<(String, MetadataValue), RecordError>, Stop> {
    let mut key_field = None;
    let mut value = MetadataValue::NotANumber { go_type: "<nil>" };
    let mut errors = Errors::new();
    while let Some(key) = r.next_key()? {
        let key = key.as_ref();
        match key {
            "key" => {
                let read = opt_text(r, Path::MetadataKey(i))?;
                errors.keep(key, read, &mut key_field);
            }
            "value" => value = metadata_value(r.value()?),
            _ => errors.unknown(
                r,
                key,
                RecordError::Shape(format!("parameters.metadata.{i}: unknown field {key:?}")),
            )?,
        }
    }
    Ok(match (errors.0.first(), key_field) {
        (Some(e), _) => Err(e),
        (None, None) => shape(format!("parameters.metadata.{i}.key: is required")),
        (None, Some(key)) => Ok((key, value)),
    })
}

/// A metadata value: a number, or the Go type name (`%T`) a GraphQL `JSONValue` of its kind
/// has upstream, for the error `record` reports.
fn metadata_value(got: Got<'_>) -> MetadataValue {
    let go_type = match got {
        Got::Scalar(Scalar::Number(n)) => return MetadataValue::Number(n.as_f64()),
        Got::Scalar(Scalar::Null) => "<nil>",
        Got::Scalar(Scalar::Bool(_)) => "bool",
        Got::Scalar(Scalar::Str(_)) => "string",
        Got::Array => "[]interface {}",
        Got::Object => "map[string]interface {}",
    };
    MetadataValue::NotANumber { go_type }
}

/// `parameters.billingMetadata`: `null` or `{product, category}`.
fn billing(r: &mut Reader<'_>) -> Result<Result<Option<(String, String)>, RecordError>, Stop> {
    Ok(match r.open_object()? {
        None => billing_fields(r)?.map(Some),
        Some(got) if got.is_null() => Ok(None),
        Some(_) => shape("parameters.billingMetadata: expected an object"),
    })
}

fn billing_fields(r: &mut Reader<'_>) -> Result<Result<(String, String), RecordError>, Stop> {
    let (mut product, mut category) = (String::new(), String::new());
    let mut errors = Errors::new();
    while let Some(key) = r.next_key()? {
        let key = key.as_ref();
        match key {
            "product" => {
                let read = req_text(r, "parameters.billingMetadata.product")?;
                errors.keep(key, read, &mut product);
            }
            "category" => {
                let read = req_text(r, "parameters.billingMetadata.category")?;
                errors.keep(key, read, &mut category);
            }
            _ => errors.unknown(
                r,
                key,
                RecordError::Shape(format!("parameters.billingMetadata: unknown field {key:?}")),
            )?,
        }
    }
    Ok(errors.first((product, category)))
}

/// `marketingTracking`: `null` or an object of optional strings, in GraphQL spellings
/// (`firstSourceURL`) or proto JSON ones (`firstSourceUrl`); the latter sort later and win.
fn marketing(
    r: &mut Reader<'_>,
) -> Result<Result<Option<EventMarketingTracking>, RecordError>, Stop> {
    Ok(match r.open_object()? {
        None => marketing_fields(r)?.map(Some),
        Some(got) if got.is_null() => Ok(None),
        Some(_) => shape("marketingTracking: expected an object"),
    })
}

fn marketing_fields(
    r: &mut Reader<'_>,
) -> Result<Result<EventMarketingTracking, RecordError>, Stop> {
    // Each field as given: `Some(None)` for an explicit `null`.
    let (mut url, mut referrer, mut session_referrer) = (None, None, None);
    let mut first_source: Spellings<Option<String>> = Spellings::default();
    let mut cohort: Spellings<Option<String>> = Spellings::default();
    let mut last_source: Spellings<Option<String>> = Spellings::default();
    let mut device_session: Spellings<Option<String>> = Spellings::default();
    let mut session_first: Spellings<Option<String>> = Spellings::default();
    let mut errors = Errors::new();
    while let Some(key) = r.next_key()? {
        let key = key.as_ref();
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
            _ => {
                errors.unknown(
                    r,
                    key,
                    RecordError::Shape(format!("marketingTracking: unknown field {key:?}")),
                )?;
                continue;
            }
        };
        let read = opt_text(r, Path::Marketing(key))?;
        errors.keep(key, read.map(Some), slot);
    }
    Ok(errors.first(EventMarketingTracking {
        url: url.flatten(),
        first_source_url: first_source.get().flatten(),
        cohort_id: cohort.get().flatten(),
        referrer: referrer.flatten(),
        last_source_url: last_source.get().flatten(),
        device_session_id: device_session.get().flatten(),
        session_referrer: session_referrer.flatten(),
        session_first_url: session_first.get().flatten(),
    }))
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

    /// Reads a context from the next value.
    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, Stop> {
        Ok(match r.open_object()? {
            None => ContextRead::Object(Box::new(context_fields(r)?)),
            Some(_) => ContextRead::NotObject,
        })
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
fn context_text(got: Got<'_>, name: &str) -> Result<String, RecordError> {
    match got {
        Got::Scalar(Scalar::Str(s)) => Ok(s.into_owned()),
        _ => context(format!("{name}: expected a string")),
    }
}

/// `RecordContext` (the object opened): `{"id", "now", "serverVersion", "user"?,
/// "featureFlags"?, "traceId"?, "interactionId"?, "countryCode"?}`.
pub(crate) fn context_fields(r: &mut Reader<'_>) -> Result<ContextFields, Stop> {
    let (mut ctx, mut have_now, mut saw_id, mut saw_now) =
        (RecordContext::default(), false, false, false);
    let mut errors = Errors::new();
    while let Some(key) = r.next_key()? {
        let key = key.as_ref();
        match key {
            "user" => {
                let read = match r.open_object()? {
                    None => Some((USER.read)(r)?),
                    Some(got) if got.is_null() => None,
                    Some(got) => Some(Err((USER.wrong)(got.kind()))),
                };
                let read = read
                    .map(|r| {
                        finish("user", r).map_err(|e| RecordError::Context(format!("user: {e}")))
                    })
                    .transpose();
                errors.keep(key, read, &mut ctx.user);
            }
            "featureFlags" => {
                let read = feature_flags(r)?;
                errors.keep(key, read, &mut ctx.feature_flags);
            }
            "id" => {
                saw_id = true;
                let read = context_text(r.value()?, key);
                errors.keep(key, read, &mut ctx.id);
            }
            "now" => {
                saw_now = true;
                let read = context_text(r.value()?, key).and_then(|s| {
                    parse_timestamp_str(&s)
                        .map_err(|e| RecordError::Context(format!("now: {}", e.detail)))
                });
                if let Some(t) = errors.0.keep(key, read) {
                    ctx.now = t;
                    have_now = true;
                }
            }
            "serverVersion" => {
                let read = context_text(r.value()?, key);
                errors.keep(key, read, &mut ctx.server_version);
            }
            "traceId" | "interactionId" | "countryCode" => {
                // An optional string: `null` is unset.
                let got = r.value()?;
                let read = (!got.is_null()).then(|| context_text(got, key)).transpose();
                let slot = match key {
                    "traceId" => &mut ctx.trace_id,
                    "interactionId" => &mut ctx.interaction_id,
                    _ => &mut ctx.country_code,
                };
                errors.keep(key, read, slot);
            }
            _ => errors.unknown(
                r,
                key,
                RecordError::Context(format!("unknown field {key:?}")),
            )?,
        }
    }
    Ok(ContextFields {
        ctx,
        have_now,
        saw_id,
        saw_now,
        errors: errors.0,
    })
}

/// A context's `featureFlags`: `null` or an object of booleans or strings.
fn feature_flags(
    r: &mut Reader<'_>,
) -> Result<Result<BTreeMap<String, String>, RecordError>, Stop> {
    Ok(match r.open_object()? {
        None => flag_entries(r)?,
        Some(got) if got.is_null() => Ok(BTreeMap::new()),
        Some(_) => context("featureFlags: expected an object"),
    })
}

fn flag_entries(r: &mut Reader<'_>) -> Result<Result<BTreeMap<String, String>, RecordError>, Stop> {
    let mut flags = BTreeMap::new();
    let mut errors = ByKey::default();
    while let Some(name) = r.next_key()? {
        let read = match r.value()? {
            Got::Scalar(Scalar::Bool(b)) => Ok(if b { "true" } else { "false" }.to_string()),
            Got::Scalar(Scalar::Str(s)) => Ok(s.into_owned()),
            _ => context(format!("featureFlags.{name}: expected a boolean or string")),
        };
        if let Some(v) = errors.keep(&name, read) {
            flags.insert(name.into_owned(), v);
        }
    }
    Ok(first_error(errors, flags))
}
