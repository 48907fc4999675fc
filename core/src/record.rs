//! A client recording (the JS SDK's / GraphQL API's `TelemetryEventInput`) becomes a full
//! `Event`, the way a Sourcegraph instance builds it from `recordEvents`.
//!
//! Everything the client must not choose (id, time of recording, server version, user, flags,
//! trace and geolocation) comes from the caller's [`RecordContext`].

use crate::prelude::*;

use crate::json::{self, parse_timestamp_str};
use crate::proto::{
    Event, EventBillingMetadata, EventFeatureFlags, EventInteraction, EventMarketingTracking,
    EventParameters, EventSource, EventUser, event_interaction, event_source,
};
use crate::validate::{FeatureActionError, validate_feature_action};
use alloc::collections::BTreeMap;
use prost_types::{Struct, Timestamp, value::Kind};
#[cfg(feature = "json-value")]
use serde_json::Value as Json;

pub(crate) mod read;

/// Why a recording cannot become an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// Feature or action is invalid (the SDK's message, unprefixed).
    #[error(transparent)]
    FeatureAction(#[from] FeatureActionError),
    /// A metadata value that is not a number. `kind` is the Go type name upstream reports.
    #[error("metadata {} has invalid value type {kind}", crate::policy::go_quote(.key))]
    MetadataValueType {
        /// The metadata key.
        key: String,
        /// `string`, `bool`, `<nil>`, `map[string]interface {}` or `[]interface {}`.
        kind: &'static str,
    },
    /// The recording's timestamp is not RFC 3339 (or outside years 0001–9999).
    #[error("invalid timestamp: {0}")]
    Timestamp(String),
    /// The input does not have the `TelemetryEventInput` shape.
    #[error("invalid event input: {0}")]
    Shape(String),
    /// The context is unusable.
    #[error("invalid record context: {0}")]
    Context(String),
}

/// A client recording in the `TelemetryEventInput` shape.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TelemetryEventInput {
    /// RFC 3339 time of recording, if the client supplied one.
    pub timestamp: Option<String>,
    /// Feature, e.g. `cody.chat`.
    pub feature: String,
    /// Action, e.g. `submitted`.
    pub action: String,
    /// Client name (`source.client`).
    pub client: String,
    /// Client version (`source.clientVersion`).
    pub client_version: Option<String>,
    /// `parameters.version`.
    pub version: i32,
    /// `parameters.metadata` as key/value pairs; values must be numbers.
    pub metadata: Vec<(String, MetadataValue)>,
    /// `parameters.privateMetadata`, any JSON value (an object becomes the event's
    /// `privateMetadata`; anything else is kept under the key `value`).
    pub private_metadata: Option<prost_types::Value>,
    /// `parameters.billingMetadata` as (product, category).
    pub billing_metadata: Option<(String, String)>,
    /// `parameters.interactionID`.
    pub interaction_id: Option<String>,
    /// `marketingTracking`.
    pub marketing_tracking: Option<EventMarketingTracking>,
}

impl TelemetryEventInput {
    /// Reads a `TelemetryEventInput` from JSON text (GraphQL field names: `clientVersion`,
    /// `interactionID`, `firstSourceURL`, …), straight into the type. Unknown fields are
    /// refused; a document over [`json::MAX_JSON_INPUT_BYTES`] or nested deeper than 128 levels
    /// is refused.
    pub fn from_json_str(text: &str) -> Result<Self, RecordError> {
        check_size(text, RecordError::Shape)?;
        Self::from_text(text)
    }

    fn from_text(text: &str) -> Result<Self, RecordError> {
        json::read::document(text, read::recording_value)
            .unwrap_or_else(|e| Err(not_json(e, RecordError::Shape)))
    }

    /// Reads a `TelemetryEventInput` from a parsed JSON value (same rules and messages as
    /// [`TelemetryEventInput::from_json_str`]).
    #[cfg(feature = "json-value")]
    pub fn from_json(v: &Json) -> Result<Self, RecordError> {
        Self::from_text(&v.to_string())
    }
}

/// Refuses a document over [`json::MAX_JSON_INPUT_BYTES`] as `error(detail)`.
fn check_size(text: &str, error: fn(String) -> RecordError) -> Result<(), RecordError> {
    if text.len() > json::MAX_JSON_INPUT_BYTES {
        return Err(error(format!(
            "document is {} bytes, more than the limit of {}",
            text.len(),
            json::MAX_JSON_INPUT_BYTES
        )));
    }
    Ok(())
}

fn not_json(e: json::read::SyntaxError, error: fn(String) -> RecordError) -> RecordError {
    error(format!("not valid JSON: {e}"))
}

/// A `parameters.metadata` value of a recording: numbers are kept; anything else is refused by
/// [`record`], naming the Go type upstream reports for it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MetadataValue {
    /// A JSON number.
    Number(f64),
    /// Any other JSON value, by the Go type name (`%T`) of a GraphQL `JSONValue` of its kind:
    /// `string`, `bool`, `<nil>`, `map[string]interface {}` or `[]interface {}`.
    NotANumber {
        /// The Go type name.
        go_type: &'static str,
    },
}

/// Everything non-deterministic or server-owned about a recording, supplied by the caller.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RecordContext {
    /// The event id (UUID v7 from current generators).
    pub id: String,
    /// The time of recording, used when the input has no timestamp.
    pub now: Timestamp,
    /// The server (or service) version.
    pub server_version: String,
    /// The user, if any.
    pub user: Option<EventUser>,
    /// Evaluated feature flags.
    pub feature_flags: BTreeMap<String, String>,
    /// The current trace id, if any.
    pub trace_id: Option<String>,
    /// The interaction id from the request, if any (the input's `interactionID` wins).
    pub interaction_id: Option<String>,
    /// Inferred country code, if any.
    pub country_code: Option<String>,
}

impl RecordContext {
    /// Reads a context from JSON text: `{"id", "now", "serverVersion", "user"?,
    /// "featureFlags"?, "traceId"?, "interactionId"?, "countryCode"?}`; flags may be booleans or
    /// strings.
    pub fn from_json_str(text: &str) -> Result<Self, RecordError> {
        check_size(text, RecordError::Context)?;
        Self::from_text(text)
    }

    /// Reads a context from a parsed JSON value (same rules and messages as
    /// [`RecordContext::from_json_str`]).
    #[cfg(feature = "json-value")]
    pub fn from_json(v: &Json) -> Result<Self, RecordError> {
        Self::from_text(&v.to_string())
    }

    fn from_text(text: &str) -> Result<Self, RecordError> {
        match json::read::document(text, read::ContextRead::read) {
            Ok(read) => read.finish(None, None),
            Err(e) => Err(not_json(e, RecordError::Context)),
        }
    }
}

/// Builds the full event for a recording.
pub fn record(input: &TelemetryEventInput, ctx: &RecordContext) -> Result<Event, RecordError> {
    record_owned(input.clone(), ctx, ctx.id.clone())
}

/// [`record`] taking the recording, whose strings and maps move into the event, and the event
/// id (the batch path records many recordings with one context and fresh ids).
pub(crate) fn record_owned(
    input: TelemetryEventInput,
    ctx: &RecordContext,
    id: String,
) -> Result<Event, RecordError> {
    validate_feature_action(&input.feature, &input.action)?;

    let timestamp = match &input.timestamp {
        Some(t) => parse_timestamp_str(t).map_err(|e| RecordError::Timestamp(e.detail))?,
        None => ctx.now,
    };

    let mut metadata = BTreeMap::new();
    for (key, value) in input.metadata {
        match value {
            MetadataValue::Number(n) => {
                metadata.insert(key, n);
            }
            MetadataValue::NotANumber { go_type } => {
                return Err(RecordError::MetadataValueType { key, kind: go_type });
            }
        }
    }

    let private_metadata = input.private_metadata.map(|v| match v.kind {
        Some(Kind::StructValue(object)) => object,
        kind => {
            let mut fields = BTreeMap::new();
            fields.insert("value".to_string(), prost_types::Value { kind });
            Struct { fields }
        }
    });

    let interaction_id = input
        .interaction_id
        .filter(|s| !s.is_empty())
        .or_else(|| ctx.interaction_id.clone());
    let interaction = (ctx.trace_id.is_some()
        || interaction_id.is_some()
        || ctx.country_code.is_some())
    .then(|| EventInteraction {
        trace_id: ctx.trace_id.clone(),
        interaction_id,
        geolocation: ctx
            .country_code
            .clone()
            .map(|country_code| event_interaction::Geolocation { country_code }),
    });

    let user = ctx.user.clone().and_then(|mut u| {
        if u.user_id == Some(0) {
            u.user_id = None;
        }
        (u != EventUser::default()).then_some(u)
    });

    Ok(Event {
        id,
        timestamp: Some(timestamp),
        feature: input.feature,
        action: input.action,
        source: Some(EventSource {
            server: Some(event_source::Server {
                version: ctx.server_version.clone(),
            }),
            client: Some(event_source::Client {
                name: input.client,
                version: input.client_version,
            }),
        }),
        parameters: Some(EventParameters {
            version: input.version,
            legacy_metadata: BTreeMap::new(),
            metadata,
            private_metadata,
            billing_metadata: input
                .billing_metadata
                .map(|(product, category)| EventBillingMetadata { product, category }),
        }),
        user,
        feature_flags: (!ctx.feature_flags.is_empty()).then(|| EventFeatureFlags {
            // Entry by entry rather than `BTreeMap::clone`: one less copy of map code in the
            // WASM build (the flags are few).
            flags: ctx
                .feature_flags
                .iter()
                .fold(BTreeMap::new(), |mut flags, (k, v)| {
                    flags.insert(k.clone(), v.clone());
                    flags
                }),
        }),
        marketing_tracking: input.marketing_tracking,
        interaction,
    })
}
