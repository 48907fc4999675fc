//! Reading a [`TelemetryEventInput`] and a [`RecordContext`] from JSON straight into the types
//! (no `serde_json::Value` tree), with the readers and rules of `json::read`: syntax errors
//! first, keys judged in sorted order with the last duplicate winning, depth bounded.
//!
//! Unlike proto3 JSON, `null` here is a value of the field (an optional string set to `null`
//! is unset, a required one is `""`), and an unknown field is refused even when `null`.

use super::{MetadataValue, RecordContext, RecordError, TelemetryEventInput};
use crate::json::parse::{USER, any_value, finish};
use crate::json::parse_timestamp_str;
use crate::json::read::{ByKey, Entries, Got, Scalar, Source, Spellings, Stop};
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
    /// The value of the key just read.
    fn value(&mut self) -> &mut dyn Source<'de> {
        self.map
    }

    /// Keeps `key`'s latest answer: a good value goes to `slot`; a wrong one leaves `slot` and
    /// keeps its error under `key`. Answers `true`: the key is the object's.
    fn keep<T>(&mut self, key: &str, read: Result<T, RecordError>, slot: &mut T) -> bool {
        if let Some(v) = self.errors.keep(key, read) {
            *slot = v;
        }
        true
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
            f.value().value()?;
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
fn opt_text(got: Got<'_>, path: Path<'_>) -> Result<Option<String>, RecordError> {
    match got {
        Got::Scalar(Scalar::Null) => Ok(None),
        Got::Scalar(Scalar::Str(s)) => Ok(Some(s.into_owned())),
        _ => shape(format!("{path}: expected a string")),
    }
}

/// A string that `null` leaves empty.
fn req_text(got: Got<'_>, path: &'static str) -> Result<String, RecordError> {
    opt_text(got, Path::Fixed(path)).map(Option::unwrap_or_default)
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
fn required<'de, T>(
    value: &mut dyn Source<'de>,
    fields: fn(&mut dyn Entries<'de>) -> Result<Required<T>, Stop>,
    presence: &mut Presence,
) -> Result<Option<Result<T, RecordError>>, Stop> {
    Ok(match value.object(&mut |map| fields(map))? {
        Ok(r) => {
            *presence = if r.complete {
                Presence::Complete
            } else {
                Presence::Incomplete
            };
            Some(r.read)
        }
        Err(_) => {
            *presence = Presence::Missing;
            None
        }
    })
}

/// `TelemetryEventInput` (GraphQL field names). Required `source.client` and
/// `parameters.version` are checked first, then every field in sorted key order.
pub(crate) fn recording(
    map: &mut dyn Entries<'_>,
) -> Result<Result<TelemetryEventInput, RecordError>, Stop> {
    let mut input = TelemetryEventInput::default();
    let mut source = Presence::Missing;
    let mut parameters = Presence::Missing;
    let unknown = |k: &str| RecordError::Shape(format!("unknown field {k:?}"));
    let errors = object(map, &unknown, &mut |key, f| {
        Ok(match key {
            "timestamp" => {
                let read = opt_text(f.value().value()?, Path::Fixed("timestamp"));
                f.keep(key, read, &mut input.timestamp)
            }
            "feature" => {
                let read = req_text(f.value().value()?, "feature");
                f.keep(key, read, &mut input.feature)
            }
            "action" => {
                let read = req_text(f.value().value()?, "action");
                f.keep(key, read, &mut input.action)
            }
            "source" => {
                match required(f.value(), source_fields, &mut source)? {
                    None => f.errors.clear(key),
                    Some(read) => {
                        if let Some((client, version)) = f.errors.keep(key, read) {
                            input.client = client;
                            input.client_version = version;
                        }
                    }
                }
                true
            }
            "parameters" => {
                match required(f.value(), parameters_fields, &mut parameters)? {
                    None => f.errors.clear(key),
                    Some(read) => {
                        if let Some(p) = f.errors.keep(key, read) {
                            input.version = p.version;
                            input.metadata = p.metadata;
                            input.private_metadata = p.private_metadata;
                            input.billing_metadata = p.billing_metadata;
                            input.interaction_id = p.interaction_id;
                        }
                    }
                }
                true
            }
            "marketingTracking" => {
                let read = marketing(f.value())?;
                f.keep(key, read, &mut input.marketing_tracking)
            }
            _ => false,
        })
    })?;
    Ok(match (source, parameters) {
        (Presence::Missing, _) => shape("source: is required"),
        (Presence::Incomplete, _) => shape("source.client: is required"),
        (_, Presence::Missing) => shape("parameters: is required"),
        (_, Presence::Incomplete) => shape("parameters.version: is required"),
        (Presence::Complete, Presence::Complete) => first_error(errors, input),
    })
}

/// The error for a recording that is not an object.
pub(crate) fn recording_not_object() -> RecordError {
    RecordError::Shape("event: expected an object".into())
}

/// `source`: complete when `client` is a string.
fn source_fields<'de>(
    map: &mut dyn Entries<'de>,
) -> Result<Required<(String, Option<String>)>, Stop> {
    let (mut client, mut version) = (None, None);
    let mut complete = false;
    let unknown = |k: &str| RecordError::Shape(format!("source: unknown field {k:?}"));
    let errors = object(map, &unknown, &mut |key, f| {
        Ok(match key {
            "client" => {
                let read = opt_text(f.value().value()?, Path::Fixed("source.client"));
                complete = matches!(read, Ok(Some(_)));
                f.keep(key, read, &mut client)
            }
            "clientVersion" => {
                let read = opt_text(f.value().value()?, Path::Fixed("source.clientVersion"));
                f.keep(key, read, &mut version)
            }
            _ => false,
        })
    })?;
    Ok(Required {
        complete,
        read: first_error(errors, (client.unwrap_or_default(), version)),
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
fn parameters_fields<'de>(map: &mut dyn Entries<'de>) -> Result<Required<Parameters>, Stop> {
    let mut p = Parameters::default();
    let mut complete = false;
    // `interactionID` sorts before `interactionId` (`D` < `d`): the latter wins.
    let mut interaction: Spellings<Option<String>> = Spellings::default();
    let unknown = |k: &str| RecordError::Shape(format!("parameters: unknown field {k:?}"));
    let errors = object(map, &unknown, &mut |key, f| {
        Ok(match key {
            "version" => {
                let got = f.value().value()?;
                complete = !got.is_null();
                let read = match got {
                    Got::Scalar(Scalar::Null) => Ok(0),
                    Got::Scalar(Scalar::Number(n)) => {
                        n.as_i64().and_then(|i| i32::try_from(i).ok()).ok_or(())
                    }
                    _ => Err(()),
                }
                .or_else(|()| shape("parameters.version: expected a 32-bit integer"));
                f.keep(key, read, &mut p.version)
            }
            "metadata" => {
                let read = metadata_list(f.value())?;
                f.keep(key, read, &mut p.metadata)
            }
            "privateMetadata" => {
                let value = any_value(f.value())?;
                p.private_metadata = value.filter(|v| v.kind != Some(NULL));
                f.errors.clear(key);
                true
            }
            "billingMetadata" => {
                let read = billing(f.value())?;
                f.keep(key, read, &mut p.billing_metadata)
            }
            "interactionID" | "interactionId" => {
                let read = opt_text(f.value().value()?, Path::Fixed("parameters.interactionID"));
                let slot = if key == "interactionID" {
                    &mut interaction.first
                } else {
                    &mut interaction.second
                };
                f.keep(key, read.map(Some), slot)
            }
            _ => false,
        })
    })?;
    p.interaction_id = interaction.get().flatten();
    Ok(Required {
        complete,
        read: first_error(errors, p),
    })
}

/// The kind of a `google.protobuf.Value` read from `null`.
const NULL: prost_types::value::Kind = prost_types::value::Kind::NullValue(0);

/// `parameters.metadata`: `null` or an array of `{key, value}`; the first wrong entry is
/// reported.
fn metadata_list<'de>(
    value: &mut dyn Source<'de>,
) -> Result<Result<Vec<(String, MetadataValue)>, RecordError>, Stop> {
    Ok(match value.array(&mut metadata_entries)? {
        Ok(read) => read,
        Err(got) if got.is_null() => Ok(Vec::new()),
        Err(_) => shape("parameters.metadata: expected an array of {key, value}"),
    })
}

fn metadata_entries<'de>(
    items: &mut dyn Source<'de>,
) -> Result<Result<Vec<(String, MetadataValue)>, RecordError>, Stop> {
    let mut entries = Vec::new();
    loop {
        let i = entries.len();
        let read = match items.object(&mut |map| metadata_entry(map, i))? {
            Ok(read) => read,
            Err(Got::End) => return Ok(Ok(entries)),
            Err(_) => shape(format!("parameters.metadata.{i}: expected an object")),
        };
        match read {
            Ok(entry) => entries.push(entry),
            Err(e) => {
                while items.value()? != Got::End {}
                return Ok(Err(e));
            }
        }
    }
}

/// One `{key, value}` entry of `parameters.metadata`, at index `i`.
fn metadata_entry<'de>(
    map: &mut dyn Entries<'de>,
    i: usize,
) -> Result<Result<(String, MetadataValue), RecordError>, Stop> {
    let mut key_field = None;
    let mut value = MetadataValue::NotANumber { go_type: "<nil>" };
    let unknown =
        |k: &str| RecordError::Shape(format!("parameters.metadata.{i}: unknown field {k:?}"));
    let errors = object(map, &unknown, &mut |key, f| {
        Ok(match key {
            "key" => {
                let read = opt_text(f.value().value()?, Path::MetadataKey(i));
                f.keep(key, read, &mut key_field)
            }
            "value" => {
                value = metadata_value(f.value().value()?);
                true
            }
            _ => false,
        })
    })?;
    Ok(match (errors.first(), key_field) {
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
        Got::Array | Got::End => "[]interface {}",
        Got::Object => "map[string]interface {}",
    };
    MetadataValue::NotANumber { go_type }
}

/// `parameters.billingMetadata`: `null` or `{product, category}`.
fn billing<'de>(
    value: &mut dyn Source<'de>,
) -> Result<Result<Option<(String, String)>, RecordError>, Stop> {
    Ok(match value.object(&mut billing_fields)? {
        Ok(read) => read.map(Some),
        Err(got) if got.is_null() => Ok(None),
        Err(_) => shape("parameters.billingMetadata: expected an object"),
    })
}

fn billing_fields<'de>(
    map: &mut dyn Entries<'de>,
) -> Result<Result<(String, String), RecordError>, Stop> {
    let (mut product, mut category) = (String::new(), String::new());
    let unknown =
        |k: &str| RecordError::Shape(format!("parameters.billingMetadata: unknown field {k:?}"));
    let errors = object(map, &unknown, &mut |key, f| {
        Ok(match key {
            "product" => {
                let read = req_text(f.value().value()?, "parameters.billingMetadata.product");
                f.keep(key, read, &mut product)
            }
            "category" => {
                let read = req_text(f.value().value()?, "parameters.billingMetadata.category");
                f.keep(key, read, &mut category)
            }
            _ => false,
        })
    })?;
    Ok(first_error(errors, (product, category)))
}

/// `marketingTracking`: `null` or an object of optional strings, in GraphQL spellings
/// (`firstSourceURL`) or proto JSON ones (`firstSourceUrl`); the latter sort later and win.
fn marketing<'de>(
    value: &mut dyn Source<'de>,
) -> Result<Result<Option<EventMarketingTracking>, RecordError>, Stop> {
    Ok(match value.object(&mut marketing_fields)? {
        Ok(read) => read.map(Some),
        Err(got) if got.is_null() => Ok(None),
        Err(_) => shape("marketingTracking: expected an object"),
    })
}

fn marketing_fields<'de>(
    map: &mut dyn Entries<'de>,
) -> Result<Result<EventMarketingTracking, RecordError>, Stop> {
    // Each field as given: `Some(None)` for an explicit `null`.
    let (mut url, mut referrer, mut session_referrer) = (None, None, None);
    let mut first_source: Spellings<Option<String>> = Spellings::default();
    let mut cohort: Spellings<Option<String>> = Spellings::default();
    let mut last_source: Spellings<Option<String>> = Spellings::default();
    let mut device_session: Spellings<Option<String>> = Spellings::default();
    let mut session_first: Spellings<Option<String>> = Spellings::default();
    let unknown = |k: &str| RecordError::Shape(format!("marketingTracking: unknown field {k:?}"));
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
        let read = opt_text(f.value().value()?, Path::Marketing(key));
        Ok(f.keep(key, read.map(Some), slot))
    })?;
    Ok(first_error(
        errors,
        EventMarketingTracking {
            url: url.flatten(),
            first_source_url: first_source.get().flatten(),
            cohort_id: cohort.get().flatten(),
            referrer: referrer.flatten(),
            last_source_url: last_source.get().flatten(),
            device_session_id: device_session.get().flatten(),
            session_referrer: session_referrer.flatten(),
            session_first_url: session_first.get().flatten(),
        },
    ))
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

    /// Reads a context from a value.
    #[cfg(feature = "ffi")]
    pub(crate) fn read<'de>(value: &mut dyn Source<'de>) -> Result<Self, Stop> {
        Ok(match value.object(&mut context_fields)? {
            Ok(fields) => ContextRead::Object(Box::new(fields)),
            Err(_) => ContextRead::NotObject,
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

/// `RecordContext`: `{"id", "now", "serverVersion", "user"?, "featureFlags"?, "traceId"?,
/// "interactionId"?, "countryCode"?}`.
pub(crate) fn context_fields<'de>(map: &mut dyn Entries<'de>) -> Result<ContextFields, Stop> {
    let (mut ctx, mut have_now, mut saw_id, mut saw_now) =
        (RecordContext::default(), false, false, false);
    let unknown = |k: &str| RecordError::Context(format!("unknown field {k:?}"));
    let errors = object(map, &unknown, &mut |key, f| {
        let got = match key {
            "user" => {
                let mut user = USER.read;
                let read = match f.value().object(&mut user)? {
                    Ok(r) => Some(r),
                    Err(got) if got.is_null() => None,
                    Err(got) => Some(Err((USER.wrong)(got.kind()))),
                };
                let read = read
                    .map(|r| {
                        finish("user", r).map_err(|e| RecordError::Context(format!("user: {e}")))
                    })
                    .transpose();
                return Ok(f.keep(key, read, &mut ctx.user));
            }
            "featureFlags" => {
                let read = feature_flags(f.value())?;
                return Ok(f.keep(key, read, &mut ctx.feature_flags));
            }
            "id" | "now" | "serverVersion" | "traceId" | "interactionId" | "countryCode" => {
                f.value().value()?
            }
            _ => return Ok(false),
        };
        Ok(match key {
            "id" => {
                saw_id = true;
                f.keep(key, context_text(got, key), &mut ctx.id)
            }
            "now" => {
                saw_now = true;
                let read = context_text(got, key).and_then(|s| {
                    parse_timestamp_str(&s)
                        .map_err(|e| RecordError::Context(format!("now: {}", e.detail)))
                });
                if let Some(t) = f.errors.keep(key, read) {
                    ctx.now = t;
                    have_now = true;
                }
                true
            }
            "serverVersion" => f.keep(key, context_text(got, key), &mut ctx.server_version),
            _ => {
                // An optional string: `null` is unset.
                let read = (!got.is_null()).then(|| context_text(got, key)).transpose();
                let slot = match key {
                    "traceId" => &mut ctx.trace_id,
                    "interactionId" => &mut ctx.interaction_id,
                    _ => &mut ctx.country_code,
                };
                f.keep(key, read, slot)
            }
        })
    })?;
    Ok(ContextFields {
        ctx,
        have_now,
        saw_id,
        saw_now,
        errors,
    })
}

/// A context's `featureFlags`: `null` or an object of booleans or strings.
fn feature_flags<'de>(
    value: &mut dyn Source<'de>,
) -> Result<Result<BTreeMap<String, String>, RecordError>, Stop> {
    Ok(match value.object(&mut flag_entries)? {
        Ok(read) => read,
        Err(got) if got.is_null() => Ok(BTreeMap::new()),
        Err(_) => context("featureFlags: expected an object"),
    })
}

fn flag_entries<'de>(
    map: &mut dyn Entries<'de>,
) -> Result<Result<BTreeMap<String, String>, RecordError>, Stop> {
    let mut flags = BTreeMap::new();
    let mut errors = ByKey::default();
    while let Some(name) = map.next_key()? {
        let read = match (map as &mut dyn Source<'de>).value()? {
            Got::Scalar(Scalar::Bool(b)) => Ok(b.to_string()),
            Got::Scalar(Scalar::Str(s)) => Ok(s.into_owned()),
            _ => context(format!("featureFlags.{name}: expected a boolean or string")),
        };
        if let Some(v) = errors.keep(&name, read) {
            flags.insert(name.into_owned(), v);
        }
    }
    Ok(first_error(errors, flags))
}
