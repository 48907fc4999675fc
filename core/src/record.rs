//! A client recording (the JS SDK's / GraphQL API's `TelemetryEventInput`) becomes a full
//! `Event`, the way a Sourcegraph instance builds it from `recordEvents`.
//!
//! Everything the client must not choose (id, time of recording, server version, user, flags,
//! trace and geolocation) comes from the caller's [`RecordContext`].

use crate::json::{JsonError, parse_timestamp_str};
use crate::proto::{
    Event, EventBillingMetadata, EventFeatureFlags, EventInteraction, EventMarketingTracking,
    EventParameters, EventSource, EventUser, event_interaction, event_source,
};
use crate::validate::{FeatureActionError, validate_feature_action};
use prost_types::{Struct, Timestamp};
use serde_json::Value as Json;
use std::collections::BTreeMap;

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
    pub metadata: Vec<(String, Json)>,
    /// `parameters.privateMetadata`, any JSON value.
    pub private_metadata: Option<Json>,
    /// `parameters.billingMetadata` as (product, category).
    pub billing_metadata: Option<(String, String)>,
    /// `parameters.interactionID`.
    pub interaction_id: Option<String>,
    /// `marketingTracking`.
    pub marketing_tracking: Option<EventMarketingTracking>,
}

fn shape<T>(msg: impl Into<String>) -> Result<T, RecordError> {
    Err(RecordError::Shape(msg.into()))
}

fn obj<'a>(v: &'a Json, path: &str) -> Result<&'a serde_json::Map<String, Json>, RecordError> {
    match v {
        Json::Object(m) => Ok(m),
        _ => shape(format!("{path}: expected an object")),
    }
}

fn opt_string(v: &Json, path: &str) -> Result<Option<String>, RecordError> {
    match v {
        Json::Null => Ok(None),
        Json::String(s) => Ok(Some(s.clone())),
        _ => shape(format!("{path}: expected a string")),
    }
}

fn req_string(v: &Json, path: &str) -> Result<String, RecordError> {
    Ok(opt_string(v, path)?.unwrap_or_default())
}

impl TelemetryEventInput {
    /// Reads a `TelemetryEventInput` from JSON (GraphQL field names: `clientVersion`,
    /// `interactionID`, `firstSourceURL`, …). Unknown fields are refused.
    pub fn from_json(v: &Json) -> Result<Self, RecordError> {
        let mut input = TelemetryEventInput::default();
        let fields = obj(v, "event")?;
        // Required as in the GraphQL schema (`source: TelemetryEventSourceInput!` with
        // `client: String!`, `parameters: TelemetryEventParametersInput!` with `version: Int!`).
        match fields.get("source") {
            Some(Json::Object(source)) if source.get("client").is_some_and(Json::is_string) => {}
            Some(Json::Object(_)) => return shape("source.client: is required"),
            _ => return shape("source: is required"),
        }
        match fields.get("parameters") {
            Some(Json::Object(p)) if p.get("version").is_some_and(|v| !v.is_null()) => {}
            Some(Json::Object(_)) => return shape("parameters.version: is required"),
            _ => return shape("parameters: is required"),
        }
        for (k, v) in fields {
            match k.as_str() {
                "timestamp" => input.timestamp = opt_string(v, "timestamp")?,
                "feature" => input.feature = req_string(v, "feature")?,
                "action" => input.action = req_string(v, "action")?,
                "source" => {
                    for (sk, sv) in obj(v, "source")? {
                        match sk.as_str() {
                            "client" => input.client = req_string(sv, "source.client")?,
                            "clientVersion" => {
                                input.client_version = opt_string(sv, "source.clientVersion")?;
                            }
                            other => return shape(format!("source: unknown field {other:?}")),
                        }
                    }
                }
                "parameters" => {
                    if v.is_null() {
                        continue;
                    }
                    for (pk, pv) in obj(v, "parameters")? {
                        input.read_parameter(pk, pv)?;
                    }
                }
                "marketingTracking" => {
                    if v.is_null() {
                        continue;
                    }
                    let mut m = EventMarketingTracking::default();
                    for (mk, mv) in obj(v, "marketingTracking")? {
                        let slot = match mk.as_str() {
                            "url" => &mut m.url,
                            "firstSourceURL" | "firstSourceUrl" => &mut m.first_source_url,
                            "cohortID" | "cohortId" => &mut m.cohort_id,
                            "referrer" => &mut m.referrer,
                            "lastSourceURL" | "lastSourceUrl" => &mut m.last_source_url,
                            "deviceSessionID" | "deviceSessionId" => &mut m.device_session_id,
                            "sessionReferrer" => &mut m.session_referrer,
                            "sessionFirstURL" | "sessionFirstUrl" => &mut m.session_first_url,
                            other => {
                                return shape(format!(
                                    "marketingTracking: unknown field {other:?}"
                                ));
                            }
                        };
                        *slot = opt_string(mv, &format!("marketingTracking.{mk}"))?;
                    }
                    input.marketing_tracking = Some(m);
                }
                other => return shape(format!("unknown field {other:?}")),
            }
        }
        Ok(input)
    }

    fn read_parameter(&mut self, key: &str, v: &Json) -> Result<(), RecordError> {
        match key {
            "version" => {
                self.version = match v {
                    Json::Null => 0,
                    Json::Number(n) => n.as_i64().and_then(|i| i32::try_from(i).ok()).map_or_else(
                        || shape("parameters.version: expected a 32-bit integer"),
                        Ok,
                    )?,
                    _ => return shape("parameters.version: expected a 32-bit integer"),
                }
            }
            "metadata" => match v {
                Json::Null => {}
                Json::Array(items) => {
                    for (i, item) in items.iter().enumerate() {
                        let entry = obj(item, &format!("parameters.metadata.{i}"))?;
                        let mut key = None;
                        let mut value = Json::Null;
                        for (ek, ev) in entry {
                            match ek.as_str() {
                                "key" => {
                                    key = opt_string(ev, &format!("parameters.metadata.{i}.key"))?
                                }
                                "value" => value = ev.clone(),
                                other => {
                                    return shape(format!(
                                        "parameters.metadata.{i}: unknown field {other:?}"
                                    ));
                                }
                            }
                        }
                        let Some(key) = key else {
                            return shape(format!("parameters.metadata.{i}.key: is required"));
                        };
                        self.metadata.push((key, value));
                    }
                }
                _ => return shape("parameters.metadata: expected an array of {key, value}"),
            },
            "privateMetadata" => {
                self.private_metadata = (!v.is_null()).then(|| v.clone());
            }
            "billingMetadata" => {
                if !v.is_null() {
                    let b = obj(v, "parameters.billingMetadata")?;
                    let mut product = String::new();
                    let mut category = String::new();
                    for (bk, bv) in b {
                        match bk.as_str() {
                            "product" => {
                                product = req_string(bv, "parameters.billingMetadata.product")?
                            }
                            "category" => {
                                category = req_string(bv, "parameters.billingMetadata.category")?
                            }
                            other => {
                                return shape(format!(
                                    "parameters.billingMetadata: unknown field {other:?}"
                                ));
                            }
                        }
                    }
                    self.billing_metadata = Some((product, category));
                }
            }
            "interactionID" | "interactionId" => {
                self.interaction_id = opt_string(v, "parameters.interactionID")?;
            }
            other => return shape(format!("parameters: unknown field {other:?}")),
        }
        Ok(())
    }
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
    /// Reads a context from JSON: `{"id", "now", "serverVersion", "user"?, "featureFlags"?,
    /// "traceId"?, "interactionId"?, "countryCode"?}`; flags may be booleans or strings.
    pub fn from_json(v: &Json) -> Result<Self, RecordError> {
        let ctx_err = |m: String| RecordError::Context(m);
        let m = match v {
            Json::Object(m) => m,
            _ => return Err(ctx_err("expected an object".into())),
        };
        let mut ctx = RecordContext::default();
        let mut have_now = false;
        for (k, v) in m {
            let s = || match v {
                Json::String(s) => Ok(s.clone()),
                _ => Err(ctx_err(format!("{k}: expected a string"))),
            };
            match k.as_str() {
                "id" => ctx.id = s()?,
                "now" => {
                    ctx.now = parse_timestamp_str(&s()?)
                        .map_err(|e: JsonError| ctx_err(format!("now: {}", e.detail)))?;
                    have_now = true;
                }
                "serverVersion" => ctx.server_version = s()?,
                "user" => {
                    if !v.is_null() {
                        ctx.user = Some(
                            crate::json::parse::user_value(v)
                                .map_err(|e| ctx_err(format!("user: {e}")))?,
                        );
                    }
                }
                "featureFlags" => {
                    if let Json::Object(flags) = v {
                        for (name, value) in flags {
                            let rendered = match value {
                                Json::Bool(b) => b.to_string(),
                                Json::String(s) => s.clone(),
                                _ => {
                                    return Err(ctx_err(format!(
                                        "featureFlags.{name}: expected a boolean or string"
                                    )));
                                }
                            };
                            ctx.feature_flags.insert(name.clone(), rendered);
                        }
                    } else if !v.is_null() {
                        return Err(ctx_err("featureFlags: expected an object".into()));
                    }
                }
                "traceId" => ctx.trace_id = (!v.is_null()).then(s).transpose()?,
                "interactionId" => ctx.interaction_id = (!v.is_null()).then(s).transpose()?,
                "countryCode" => ctx.country_code = (!v.is_null()).then(s).transpose()?,
                other => return Err(ctx_err(format!("unknown field {other:?}"))),
            }
        }
        if ctx.id.is_empty() {
            return Err(ctx_err("id is required".into()));
        }
        if !have_now {
            return Err(ctx_err("now is required".into()));
        }
        Ok(ctx)
    }
}

/// The Go type name (`%T`) a GraphQL `JSONValue` of this JSON kind has upstream.
fn go_json_type(v: &Json) -> &'static str {
    match v {
        Json::Null => "<nil>",
        Json::Bool(_) => "bool",
        Json::Number(_) => "float64",
        Json::String(_) => "string",
        Json::Array(_) => "[]interface {}",
        Json::Object(_) => "map[string]interface {}",
    }
}

/// Builds the full event for a recording.
pub fn record(input: &TelemetryEventInput, ctx: &RecordContext) -> Result<Event, RecordError> {
    validate_feature_action(&input.feature, &input.action)?;

    let timestamp = match &input.timestamp {
        Some(t) => parse_timestamp_str(t).map_err(|e| RecordError::Timestamp(e.detail))?,
        None => ctx.now,
    };

    let mut metadata = BTreeMap::new();
    for (key, value) in &input.metadata {
        match value.as_f64() {
            Some(n) => {
                metadata.insert(key.clone(), n);
            }
            None => {
                return Err(RecordError::MetadataValueType {
                    key: key.clone(),
                    kind: go_json_type(value),
                });
            }
        }
    }

    let private_metadata = match &input.private_metadata {
        None => None,
        Some(object @ Json::Object(_)) => Some(
            crate::json::parse_struct_value(object)
                .map_err(|e| RecordError::Shape(format!("parameters.privateMetadata: {e}")))?,
        ),
        Some(other) => {
            let value = crate::json::parse::json_to_value("privateMetadata", other)
                .map_err(|e| RecordError::Shape(format!("parameters.privateMetadata: {e}")))?;
            Some(Struct {
                fields: BTreeMap::from([("value".to_string(), value)]),
            })
        }
    };

    let interaction_id = input
        .interaction_id
        .clone()
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
        id: ctx.id.clone(),
        timestamp: Some(timestamp),
        feature: input.feature.clone(),
        action: input.action.clone(),
        source: Some(EventSource {
            server: Some(event_source::Server {
                version: ctx.server_version.clone(),
            }),
            client: Some(event_source::Client {
                name: input.client.clone(),
                version: input.client_version.clone(),
            }),
        }),
        parameters: Some(EventParameters {
            version: input.version,
            legacy_metadata: BTreeMap::new(),
            metadata,
            private_metadata,
            billing_metadata: input
                .billing_metadata
                .clone()
                .map(|(product, category)| EventBillingMetadata { product, category }),
        }),
        user,
        feature_flags: (!ctx.feature_flags.is_empty()).then(|| EventFeatureFlags {
            flags: ctx.feature_flags.clone(),
        }),
        marketing_tracking: input.marketing_tracking.clone(),
        interaction,
    })
}
