//! The core's JSON readers as they were before they read text straight into the prost types:
//! every input parsed into a `serde_json::Value` first, then converted field by field. Kept,
//! unchanged but for imports, as the oracle the streaming readers are checked against: for
//! every input, the current entry points must give exactly what these give (the same value,
//! the same error message). Used by `checks.rs` (the fuzz target and its regression replay) and
//! by `tests/tests/json_readers.rs`.

#![allow(dead_code, clippy::all)]

/// The proto3 JSON readers as they were: `serde_json::Value` in, prost types out.
pub mod json {
    use prost_types::{ListValue, Struct, Timestamp, Value, value::Kind};
    use serde_json::{Map, Value as Json};
    use std::collections::BTreeMap;
    use telemetry_core::json::{JsonError, MAX_JSON_INPUT_BYTES, timestamp_from_rfc3339};
    use telemetry_core::proto::{
        Event, EventBillingMetadata, EventFeatureFlags, EventInteraction, EventMarketingTracking,
        EventParameters, EventSource, EventUser, Identifier, RecordEventsRequestMetadata,
        event_interaction, event_source, identifier,
    };

    /// A field-level error on its way up: the path is collected in reverse as it unwinds.
    struct FieldError {
        rev_path: Vec<String>,
        detail: String,
    }

    type R<T> = Result<T, FieldError>;

    fn err<T>(detail: impl Into<String>) -> R<T> {
        Err(FieldError {
            rev_path: Vec::new(),
            detail: detail.into(),
        })
    }

    trait At<T> {
        fn at(self, key: &str) -> R<T>;
    }

    impl<T> At<T> for R<T> {
        fn at(self, key: &str) -> R<T> {
            self.map_err(|mut e| {
                e.rev_path.push(key.to_string());
                e
            })
        }
    }

    fn finish<T>(subject: &'static str, r: R<T>) -> Result<T, JsonError> {
        r.map_err(|e| JsonError {
            subject,
            path: e.rev_path.into_iter().rev().collect::<Vec<_>>().join("."),
            detail: e.detail,
        })
    }

    fn parse_document(subject: &'static str, text: &str) -> Result<Json, JsonError> {
        if text.len() > MAX_JSON_INPUT_BYTES {
            return Err(JsonError {
                subject,
                path: String::new(),
                detail: format!(
                    "document is {} bytes, more than the limit of {MAX_JSON_INPUT_BYTES}",
                    text.len()
                ),
            });
        }
        serde_json::from_str(text).map_err(|e| JsonError {
            subject,
            path: String::new(),
            detail: format!("not valid JSON: {e}"),
        })
    }

    /// Parses an `Event` from its proto3 JSON text.
    pub fn parse_event(text: &str) -> Result<Event, JsonError> {
        parse_event_value(&parse_document("event", text)?)
    }

    /// Parses an `Event` from a parsed JSON value.
    pub fn parse_event_value(v: &Json) -> Result<Event, JsonError> {
        finish("event", event(v))
    }

    /// Parses `RecordEventsRequestMetadata` from its proto3 JSON text.
    pub fn parse_metadata(text: &str) -> Result<RecordEventsRequestMetadata, JsonError> {
        parse_metadata_value(&parse_document("metadata", text)?)
    }

    /// Parses `RecordEventsRequestMetadata` from a parsed JSON value.
    pub fn parse_metadata_value(v: &Json) -> Result<RecordEventsRequestMetadata, JsonError> {
        finish("metadata", metadata(v))
    }

    /// Converts a JSON object to a `google.protobuf.Struct`.
    pub fn parse_struct_value(v: &Json) -> Result<Struct, JsonError> {
        finish("struct", structure(v))
    }

    /// Parses an RFC 3339 timestamp string as protojson does (UTC, years 0001–9999).
    pub fn parse_timestamp_str(s: &str) -> Result<Timestamp, JsonError> {
        timestamp_from_rfc3339(s).map_err(|detail| JsonError {
            subject: "timestamp",
            path: String::new(),
            detail,
        })
    }

    fn type_name(v: &Json) -> &'static str {
        match v {
            Json::Null => "null",
            Json::Bool(_) => "a boolean",
            Json::Number(_) => "a number",
            Json::String(_) => "a string",
            Json::Array(_) => "an array",
            Json::Object(_) => "an object",
        }
    }

    /// Iterates an object's fields, skipping `null` values (proto3 JSON's "not set").
    fn object<'a>(v: &'a Json, what: &str) -> R<impl Iterator<Item = (&'a String, &'a Json)>> {
        match v {
            Json::Object(m) => Ok(m.iter().filter(|(_, v)| !v.is_null())),
            other => err(format!("expected {what} object, got {}", type_name(other))),
        }
    }

    fn unknown<T>(key: &str) -> R<T> {
        err(format!("unknown field {key:?}"))
    }

    fn string(v: &Json) -> R<String> {
        match v {
            Json::String(s) => Ok(s.clone()),
            other => err(format!("expected a string, got {}", type_name(other))),
        }
    }

    fn int64(v: &Json) -> R<i64> {
        match v {
            Json::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Ok(i)
                } else if n.is_u64() {
                    err(format!("{n} is out of range for int64"))
                } else {
                    match n.as_f64() {
                        Some(f)
                            if f.fract() == 0.0
                                && (-9.223_372_036_854_775e18..9.223_372_036_854_775e18)
                                    .contains(&f) =>
                        {
                            Ok(f as i64)
                        }
                        _ => err(format!("{n} is not an int64")),
                    }
                }
            }
            Json::String(s) => s
                .parse::<i64>()
                .or_else(|_| err(format!("{s:?} is not an int64"))),
            other => err(format!(
                "expected an int64 as a number or string, got {}",
                type_name(other)
            )),
        }
    }

    fn int32(v: &Json) -> R<i32> {
        let wide = match v {
            Json::String(s) => s
                .parse::<i64>()
                .or_else(|_| err(format!("{s:?} is not an int32")))?,
            Json::Number(n) => match (n.as_i64(), n.as_f64()) {
                (Some(i), _) => i,
                (None, Some(f)) if f.fract() == 0.0 && f.abs() < 4.0e9 => f as i64,
                _ => return err(format!("{n} is not an int32")),
            },
            other => {
                return err(format!(
                    "expected an int32 as a number or string, got {}",
                    type_name(other)
                ));
            }
        };
        i32::try_from(wide).or_else(|_| err(format!("{wide} is out of range for int32")))
    }

    fn double(v: &Json) -> R<f64> {
        match v {
            Json::Number(n) => n
                .as_f64()
                .map_or_else(|| err(format!("{n} is not a double")), Ok),
            Json::String(s) => match s.as_str() {
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
            },
            other => err(format!(
                "expected a double as a number or string, got {}",
                type_name(other)
            )),
        }
    }

    fn timestamp(v: &Json) -> R<Timestamp> {
        match v {
            Json::String(s) => timestamp_from_rfc3339(s).or_else(err),
            other => err(format!(
                "expected an RFC 3339 timestamp string, got {}",
                type_name(other)
            )),
        }
    }

    fn map_of<T>(v: &Json, f: impl Fn(&Json) -> R<T>) -> R<BTreeMap<String, T>> {
        let mut out = BTreeMap::new();
        for (k, v) in object(v, "a map")? {
            out.insert(k.clone(), f(v).at(k)?);
        }
        Ok(out)
    }

    fn event(v: &Json) -> R<Event> {
        let mut e = Event::default();
        for (k, v) in object(v, "an event")? {
            match k.as_str() {
                "id" => e.id = string(v).at(k)?,
                "timestamp" => e.timestamp = Some(timestamp(v).at(k)?),
                "feature" => e.feature = string(v).at(k)?,
                "action" => e.action = string(v).at(k)?,
                "source" => e.source = Some(source(v).at(k)?),
                "parameters" => e.parameters = Some(parameters(v).at(k)?),
                "user" => e.user = Some(user(v).at(k)?),
                "featureFlags" | "feature_flags" => {
                    let mut flags = EventFeatureFlags::default();
                    for (fk, fv) in object(v, "a featureFlags").at(k)? {
                        match fk.as_str() {
                            "flags" => flags.flags = map_of(fv, string).at(fk).at(k)?,
                            _ => return unknown(fk).at(k),
                        }
                    }
                    e.feature_flags = Some(flags);
                }
                "marketingTracking" | "marketing_tracking" => {
                    e.marketing_tracking = Some(marketing(v).at(k)?);
                }
                "interaction" => e.interaction = Some(interaction(v).at(k)?),
                _ => return unknown(k),
            }
        }
        Ok(e)
    }

    fn source(v: &Json) -> R<EventSource> {
        let mut s = EventSource::default();
        for (k, v) in object(v, "a source")? {
            match k.as_str() {
                "server" => {
                    let mut server = event_source::Server::default();
                    for (sk, sv) in object(v, "a server").at(k)? {
                        match sk.as_str() {
                            "version" => server.version = string(sv).at(sk).at(k)?,
                            _ => return unknown(sk).at(k),
                        }
                    }
                    s.server = Some(server);
                }
                "client" => {
                    let mut client = event_source::Client::default();
                    for (ck, cv) in object(v, "a client").at(k)? {
                        match ck.as_str() {
                            "name" => client.name = string(cv).at(ck).at(k)?,
                            "version" => client.version = Some(string(cv).at(ck).at(k)?),
                            _ => return unknown(ck).at(k),
                        }
                    }
                    s.client = Some(client);
                }
                _ => return unknown(k),
            }
        }
        Ok(s)
    }

    fn parameters(v: &Json) -> R<EventParameters> {
        let mut p = EventParameters::default();
        for (k, v) in object(v, "a parameters")? {
            match k.as_str() {
                "version" => p.version = int32(v).at(k)?,
                "legacyMetadata" | "legacy_metadata" => {
                    p.legacy_metadata = map_of(v, int64).at(k)?
                }
                "metadata" => p.metadata = map_of(v, double).at(k)?,
                "privateMetadata" | "private_metadata" => {
                    p.private_metadata = Some(structure(v).at(k)?);
                }
                "billingMetadata" | "billing_metadata" => {
                    let mut b = EventBillingMetadata::default();
                    for (bk, bv) in object(v, "a billingMetadata").at(k)? {
                        match bk.as_str() {
                            "product" => b.product = string(bv).at(bk).at(k)?,
                            "category" => b.category = string(bv).at(bk).at(k)?,
                            _ => return unknown(bk).at(k),
                        }
                    }
                    p.billing_metadata = Some(b);
                }
                _ => return unknown(k),
            }
        }
        Ok(p)
    }

    /// Parses an `EventUser` (also used for record contexts).
    pub fn user_value(v: &Json) -> Result<EventUser, JsonError> {
        finish("user", user(v))
    }

    fn user(v: &Json) -> R<EventUser> {
        let mut u = EventUser::default();
        for (k, v) in object(v, "a user")? {
            match k.as_str() {
                "userId" | "user_id" => u.user_id = Some(int64(v).at(k)?),
                "anonymousUserId" | "anonymous_user_id" => {
                    u.anonymous_user_id = Some(string(v).at(k)?)
                }
                "samsExternalId" | "sams_external_id" => {
                    u.sams_external_id = Some(string(v).at(k)?)
                }
                _ => return unknown(k),
            }
        }
        Ok(u)
    }

    fn marketing(v: &Json) -> R<EventMarketingTracking> {
        let mut m = EventMarketingTracking::default();
        for (k, v) in object(v, "a marketingTracking")? {
            let slot = match k.as_str() {
                "url" => &mut m.url,
                "firstSourceUrl" | "first_source_url" => &mut m.first_source_url,
                "cohortId" | "cohort_id" => &mut m.cohort_id,
                "referrer" => &mut m.referrer,
                "lastSourceUrl" | "last_source_url" => &mut m.last_source_url,
                "deviceSessionId" | "device_session_id" => &mut m.device_session_id,
                "sessionReferrer" | "session_referrer" => &mut m.session_referrer,
                "sessionFirstUrl" | "session_first_url" => &mut m.session_first_url,
                _ => return unknown(k),
            };
            *slot = Some(string(v).at(k)?);
        }
        Ok(m)
    }

    fn interaction(v: &Json) -> R<EventInteraction> {
        let mut i = EventInteraction::default();
        for (k, v) in object(v, "an interaction")? {
            match k.as_str() {
                "traceId" | "trace_id" => i.trace_id = Some(string(v).at(k)?),
                "interactionId" | "interaction_id" => i.interaction_id = Some(string(v).at(k)?),
                "geolocation" => {
                    let mut g = event_interaction::Geolocation::default();
                    for (gk, gv) in object(v, "a geolocation").at(k)? {
                        match gk.as_str() {
                            "countryCode" | "country_code" => {
                                g.country_code = string(gv).at(gk).at(k)?
                            }
                            _ => return unknown(gk).at(k),
                        }
                    }
                    i.geolocation = Some(g);
                }
                _ => return unknown(k),
            }
        }
        Ok(i)
    }

    fn metadata(v: &Json) -> R<RecordEventsRequestMetadata> {
        let mut m = RecordEventsRequestMetadata::default();
        for (k, v) in object(v, "a metadata")? {
            match k.as_str() {
                "requestId" | "request_id" => m.request_id = string(v).at(k)?,
                "identifier" => m.identifier = Some(identifier_msg(v).at(k)?),
                _ => return unknown(k),
            }
        }
        Ok(m)
    }

    fn identifier_msg(v: &Json) -> R<Identifier> {
        use identifier::{
            Identifier as Kind, LicensedInstanceIdentifier, ManagedServiceIdentifier,
            UnlicensedInstanceIdentifier,
        };
        let mut id = Identifier::default();
        for (k, v) in object(v, "an identifier")? {
            if id.identifier.is_some() {
                return err(format!(
                    "field {k:?} sets the identifier oneof a second time"
                ));
            }
            let kind = match k.as_str() {
                "licensedInstance" | "licensed_instance" => {
                    let mut l = LicensedInstanceIdentifier::default();
                    for (lk, lv) in object(v, "a licensedInstance").at(k)? {
                        match lk.as_str() {
                            "licenseKey" | "license_key" => {
                                l.license_key = string(lv).at(lk).at(k)?
                            }
                            "instanceId" | "instance_id" => {
                                l.instance_id = string(lv).at(lk).at(k)?
                            }
                            "externalUrl" | "external_url" => {
                                l.external_url = string(lv).at(lk).at(k)?
                            }
                            _ => return unknown(lk).at(k),
                        }
                    }
                    Kind::LicensedInstance(l)
                }
                "unlicensedInstance" | "unlicensed_instance" => {
                    let mut u = UnlicensedInstanceIdentifier::default();
                    for (uk, uv) in object(v, "an unlicensedInstance").at(k)? {
                        match uk.as_str() {
                            "instanceId" | "instance_id" => {
                                u.instance_id = string(uv).at(uk).at(k)?
                            }
                            "externalUrl" | "external_url" => {
                                u.external_url = string(uv).at(uk).at(k)?
                            }
                            _ => return unknown(uk).at(k),
                        }
                    }
                    Kind::UnlicensedInstance(u)
                }
                "managedService" | "managed_service" => {
                    let mut s = ManagedServiceIdentifier::default();
                    for (sk, sv) in object(v, "a managedService").at(k)? {
                        match sk.as_str() {
                            "serviceId" | "service_id" => s.service_id = string(sv).at(sk).at(k)?,
                            "serviceEnvironment" | "service_environment" => {
                                s.service_environment = Some(string(sv).at(sk).at(k)?);
                            }
                            _ => return unknown(sk).at(k),
                        }
                    }
                    Kind::ManagedService(s)
                }
                _ => return unknown(k),
            };
            id.identifier = Some(kind);
        }
        Ok(id)
    }

    fn structure(v: &Json) -> R<Struct> {
        match v {
            Json::Object(m) => struct_from_map(m),
            other => err(format!(
                "expected a JSON object for google.protobuf.Struct, got {}",
                type_name(other)
            )),
        }
    }

    fn struct_from_map(m: &Map<String, Json>) -> R<Struct> {
        let mut fields = BTreeMap::new();
        for (k, v) in m {
            fields.insert(k.clone(), value(v).at(k)?);
        }
        Ok(Struct { fields })
    }

    /// Converts any JSON value to a `google.protobuf.Value` (recursion is bounded by serde_json's
    /// 128-level parse limit).
    fn value(v: &Json) -> R<Value> {
        let kind = match v {
            Json::Null => Kind::NullValue(0),
            Json::Bool(b) => Kind::BoolValue(*b),
            Json::Number(n) => match n.as_f64() {
                Some(f) => Kind::NumberValue(f),
                None => return err(format!("{n} is not representable as a double")),
            },
            Json::String(s) => Kind::StringValue(s.clone()),
            Json::Array(items) => {
                let mut values = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    values.push(value(item).at(&i.to_string())?);
                }
                Kind::ListValue(ListValue { values })
            }
            Json::Object(m) => Kind::StructValue(struct_from_map(m)?),
        };
        Ok(Value { kind: Some(kind) })
    }

    /// Converts a JSON value to a `google.protobuf.Value`, reporting errors under `subject`.
    pub fn json_to_value(subject: &'static str, v: &Json) -> Result<Value, JsonError> {
        finish(subject, value(v))
    }
}

/// The recording readers as they were.
pub mod record {
    use serde_json::Value as Json;
    use telemetry_core::json::{JsonError, parse_timestamp_str};
    use telemetry_core::proto::EventMarketingTracking;
    use telemetry_core::{RecordContext, RecordError};

    /// `RecordContext::from_json` as it was.
    pub trait ContextFromJson: Sized {
        fn old_from_json(v: &Json) -> Result<Self, RecordError>;
    }

    /// A client recording in the `TelemetryEventInput` shape.
    #[derive(Debug, Clone, PartialEq, Default)]
    pub struct OldInput {
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

    impl OldInput {
        /// Reads a `TelemetryEventInput` from JSON (GraphQL field names: `clientVersion`,
        /// `interactionID`, `firstSourceURL`, …). Unknown fields are refused.
        pub fn from_json(v: &Json) -> Result<Self, RecordError> {
            let mut input = OldInput::default();
            let fields = obj(v, "event")?;
            // Required as in the GraphQL schema (`source: TelemetryEventSourceInput!` with
            // `client: String!`, `parameters: TelemetryEventParametersInput!` with `version: Int!`).
            match fields.get("source") {
                Some(Json::Object(source)) if source.get("client").is_some_and(Json::is_string) => {
                }
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
                        Json::Number(n) => {
                            n.as_i64().and_then(|i| i32::try_from(i).ok()).map_or_else(
                                || shape("parameters.version: expected a 32-bit integer"),
                                Ok,
                            )?
                        }
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
                                        key =
                                            opt_string(ev, &format!("parameters.metadata.{i}.key"))?
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
                                    category =
                                        req_string(bv, "parameters.billingMetadata.category")?
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

    pub fn context_from_json_impl() {}
    impl ContextFromJson for RecordContext {
        /// Reads a context from JSON: `{"id", "now", "serverVersion", "user"?, "featureFlags"?,
        /// "traceId"?, "interactionId"?, "countryCode"?}`; flags may be booleans or strings.
        fn old_from_json(v: &Json) -> Result<Self, RecordError> {
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
                                super::json::user_value(v)
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
    pub fn go_json_type(v: &Json) -> &'static str {
        match v {
            Json::Null => "<nil>",
            Json::Bool(_) => "bool",
            Json::Number(_) => "float64",
            Json::String(_) => "string",
            Json::Array(_) => "[]interface {}",
            Json::Object(_) => "map[string]interface {}",
        }
    }

    /// The old input as today's type, converted as the old `record` did (metadata numbers
    /// kept, anything else by its Go type; private metadata through the old Struct reader).
    pub fn to_current(input: OldInput) -> Result<telemetry_core::TelemetryEventInput, RecordError> {
        use telemetry_core::MetadataValue;
        let metadata = input
            .metadata
            .iter()
            .map(|(k, v)| {
                let value = match v.as_f64() {
                    Some(n) => MetadataValue::Number(n),
                    None => MetadataValue::NotANumber {
                        go_type: go_json_type(v),
                    },
                };
                (k.clone(), value)
            })
            .collect();
        let private_metadata = match &input.private_metadata {
            None => None,
            Some(v) => Some(
                super::json::json_to_value("privateMetadata", v)
                    .map_err(|e| RecordError::Shape(format!("parameters.privateMetadata: {e}")))?,
            ),
        };
        Ok(telemetry_core::TelemetryEventInput {
            timestamp: input.timestamp,
            feature: input.feature,
            action: input.action,
            client: input.client,
            client_version: input.client_version,
            version: input.version,
            metadata,
            private_metadata,
            billing_metadata: input.billing_metadata,
            interaction_id: input.interaction_id,
            marketing_tracking: input.marketing_tracking,
        })
    }
}

/// The `ffi` entry points as they were (each parsing its input into a `serde_json::Value`).
pub mod ffi {
    use super::json;
    use super::record::{ContextFromJson, OldInput, to_current};
    use prost::Message as _;
    use serde_json::{Map, Value as Json, json};
    use telemetry_core::ffi::FfiError;
    use telemetry_core::ingest::{Acknowledgement, Outcome, Rpc, ingest, succeeded_events};
    use telemetry_core::json::event_to_json;
    use telemetry_core::policy::RedactionPolicy;
    use telemetry_core::proto::{
        Event, RecordEventRequest, RecordEventsRequest, RecordEventsResponse, record_events_request,
    };
    use telemetry_core::translate::{
        MAX_MESSAGE_BYTES, Message, Publisher, Translation, translate,
    };
    use telemetry_core::validate::validate_event;
    use telemetry_core::{RecordContext, record};

    fn field<'a>(input: &'a Json, name: &str) -> Result<&'a Json, FfiError> {
        input
            .get(name)
            .ok_or_else(|| FfiError::MalformedInput(format!("input has no {name:?}")))
    }

    /// An operation's answer as JSON text: the form every target hands back, built directly (an
    /// event answer embeds the writer's bytes instead of re-parsing and re-serializing them).
    type Answer = String;

    fn error_answer(e: impl std::fmt::Display) -> Answer {
        json!({ "error": e.to_string() }).to_string()
    }

    /// Parses JSON the writer produced (always valid) into a value.
    fn written_json(bytes: &[u8]) -> Json {
        serde_json::from_slice(bytes).unwrap_or(Json::Null)
    }

    /// `{"event": <the writer's bytes>}`.
    fn event_answer(event: &Event) -> Answer {
        let mut out = Vec::with_capacity(2048);
        out.extend_from_slice(br#"{"event":"#);
        match telemetry_core::json::append_event_json(&mut out, event) {
            Ok(()) => {
                out.push(b'}');
                String::from_utf8(out).unwrap_or_else(error_answer)
            }
            Err(e) => error_answer(format!("marshalling event: {e}")),
        }
    }

    fn max_bytes(input: &Json) -> Result<usize, FfiError> {
        match input.get("maxMessageBytes") {
            None | Some(Json::Null) => Ok(MAX_MESSAGE_BYTES),
            Some(v) => v
                .as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| {
                    FfiError::MalformedInput(
                        "maxMessageBytes must be a non-negative integer".into(),
                    )
                }),
        }
    }

    /// The fields of a published message: `"payload":…,"attributes":{…}` (without braces).
    fn message_fields(out: &mut String, m: &Message) {
        out.push_str(r#""payload":"#);
        // The body is UTF-8 JSON written by the core; serde_json escapes it as a JSON string.
        out.push_str(&Json::String(String::from_utf8_lossy(&m.data).into_owned()).to_string());
        out.push_str(r#","attributes":"#);
        out.push_str(&json!(m.attributes).to_string());
    }

    fn message_answer(m: &Message) -> Answer {
        let mut out = String::with_capacity(m.data.len() * 2 + 256);
        out.push('{');
        message_fields(&mut out, m);
        out.push('}');
        out
    }

    /// Runs one operation on a parsed input and returns its answer as JSON text.
    pub fn run_op_text(op: &str, input: &Json) -> Result<String, FfiError> {
        if !input.is_object() {
            return Err(FfiError::MalformedInput("input must be an object".into()));
        }
        match op {
            "validate" => validate_value(input),
            "redact" => redact_value(input),
            "translate" => translate_value(input),
            "ingest" => ingest_value(input),
            "record" => record_value(input),
            other => Err(FfiError::UnknownOp(other.to_string())),
        }
    }

    /// Runs one operation on a parsed input and returns its answer as a parsed value (what the
    /// conformance comparison needs).
    pub fn run_op_value(op: &str, input: &Json) -> Result<Json, FfiError> {
        run_op_text(op, input).map(|text| written_json(text.as_bytes()))
    }

    /// Runs one operation on a JSON text input and returns the JSON text answer.
    pub fn run_op(op: &str, input: &str) -> Result<String, FfiError> {
        run_op_text(op, &parse_input(input)?)
    }

    /// Parses a JSON text input, refusing documents over [`telemetry_core::json::MAX_JSON_INPUT_BYTES`].
    pub fn parse_input(text: &str) -> Result<Json, FfiError> {
        if text.len() > telemetry_core::json::MAX_JSON_INPUT_BYTES {
            return Err(FfiError::MalformedInput(format!(
                "input is {} bytes, more than the limit of {}",
                text.len(),
                telemetry_core::json::MAX_JSON_INPUT_BYTES
            )));
        }
        serde_json::from_str(text)
            .map_err(|e| FfiError::MalformedInput(format!("not valid JSON: {e}")))
    }

    /// `{"event"}` → `{"ok": true}` or `{"error"}` (JSON text).
    pub fn validate_value(input: &Json) -> Result<Answer, FfiError> {
        let event = match json::parse_event_value(field(input, "event")?) {
            Ok(e) => e,
            Err(e) => return Ok(error_answer(e)),
        };
        Ok(match validate_event(&event) {
            Ok(()) => r#"{"ok":true}"#.to_string(),
            Err(e) => error_answer(e),
        })
    }

    fn policy_from(input: &Json) -> Result<Result<RedactionPolicy, Answer>, FfiError> {
        let policy = input.get("policy").unwrap_or(&Json::Null);
        let dotcom = match policy.get("dotcom") {
            None | Some(Json::Null) => false,
            Some(Json::Bool(b)) => *b,
            Some(_) => {
                return Err(FfiError::MalformedInput(
                    "policy.dotcom must be a boolean".into(),
                ));
            }
        };
        let additional = match policy.get("additionalAllowedEventTypes") {
            None | Some(Json::Null) => "",
            Some(Json::String(s)) => s.as_str(),
            Some(_) => {
                return Err(FfiError::MalformedInput(
                    "policy.additionalAllowedEventTypes must be a string".into(),
                ));
            }
        };
        Ok(RedactionPolicy::new(dotcom, additional).map_err(error_answer))
    }

    /// `{"event", "policy"}` → `{"event"}` (redacted) or `{"error"}` (JSON text).
    pub fn redact_value(input: &Json) -> Result<Answer, FfiError> {
        let policy = match policy_from(input)? {
            Ok(p) => p,
            Err(answer) => return Ok(answer),
        };
        let mut event = match json::parse_event_value(field(input, "event")?) {
            Ok(e) => e,
            Err(e) => return Ok(error_answer(e)),
        };
        policy.redact(&mut event);
        Ok(event_answer(&event))
    }

    /// `{"metadata", "event", "maxMessageBytes"?}` → `{"payload", "attributes"}`,
    /// `{"dropped": "oversized"}` or `{"error"}` (JSON text).
    pub fn translate_value(input: &Json) -> Result<Answer, FfiError> {
        let limit = max_bytes(input)?;
        let metadata = match json::parse_metadata_value(field(input, "metadata")?) {
            Ok(m) => m,
            Err(e) => return Ok(error_answer(e)),
        };
        let event = match json::parse_event_value(field(input, "event")?) {
            Ok(e) => e,
            Err(e) => return Ok(error_answer(e)),
        };
        let publisher = match Publisher::new(&metadata) {
            Ok(p) => p,
            Err(e) => return Ok(error_answer(e)),
        };
        Ok(match translate(&publisher, &event, limit) {
            Ok(Translation::Publish(m)) => message_answer(&m),
            Ok(Translation::Oversized { .. }) => r#"{"dropped":"oversized"}"#.to_string(),
            Err(e) => error_answer(e),
        })
    }

    /// `{"metadata", "events", "rpc"?, "maxMessageBytes"?}` → `{"results", "succeededEvents"}`
    /// (JSON text).
    pub fn ingest_value(input: &Json) -> Result<Answer, FfiError> {
        let limit = max_bytes(input)?;
        let rpc = match input.get("rpc") {
            None | Some(Json::Null) => Rpc::RecordEvents,
            Some(Json::String(s)) if s == "RecordEvents" => Rpc::RecordEvents,
            Some(Json::String(s)) if s == "RecordEvent" => Rpc::RecordEvent,
            Some(other) => {
                return Err(FfiError::MalformedInput(format!(
                    "rpc must be \"RecordEvents\" or \"RecordEvent\", got {other}"
                )));
            }
        };
        let metadata = match json::parse_metadata_value(field(input, "metadata")?) {
            Ok(m) => m,
            Err(e) => return Ok(error_answer(e)),
        };
        let Json::Array(raw_events) = field(input, "events")? else {
            return Err(FfiError::MalformedInput("events must be an array".into()));
        };
        let mut events = Vec::with_capacity(raw_events.len());
        for (i, raw) in raw_events.iter().enumerate() {
            match json::parse_event_value(raw) {
                Ok(e) => events.push(e),
                Err(e) => return Ok(error_answer(format!("events[{i}]: {e}"))),
            }
        }
        let publisher = match Publisher::new(&metadata) {
            Ok(p) => p,
            Err(e) => return Ok(error_answer(e)),
        };
        let outcomes = ingest(&publisher, events, rpc, limit);
        let mut out = String::with_capacity(1024 * outcomes.len().max(1));
        out.push_str(r#"{"results":["#);
        for (i, o) in outcomes.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let head = json!({ "id": o.id }).to_string();
            // `{"id":…` without its closing brace, then this outcome's fields.
            out.push_str(head.strip_suffix('}').unwrap_or(&head));
            match &o.outcome {
                Outcome::Publish(m) => {
                    out.push_str(r#","outcome":"publish","#);
                    message_fields(&mut out, m);
                }
                Outcome::Reject(e) => {
                    out.push_str(r#","outcome":"reject","retryable":false,"error":"#);
                    out.push_str(&Json::String(e.to_string()).to_string());
                }
                Outcome::DropOversized { .. } => {
                    out.push_str(r#","outcome":"drop","error":"discarding oversized event""#);
                }
            }
            out.push('}');
        }
        let acked = succeeded_events(
            publisher.kind,
            outcomes.iter().map(|o| {
                (
                    o.id.as_str(),
                    Acknowledgement::assuming_published(&o.outcome),
                )
            }),
        );
        out.push_str(r#"],"succeededEvents":"#);
        out.push_str(&json!(acked).to_string());
        out.push('}');
        Ok(out)
    }

    /// `{"event": TelemetryEventInput, "context"}` → `{"event"}` or `{"error"}` (JSON text).
    pub fn record_value(input: &Json) -> Result<Answer, FfiError> {
        let ctx = match RecordContext::old_from_json(field(input, "context")?) {
            Ok(c) => c,
            Err(e) => return Ok(error_answer(e)),
        };
        let recording = match OldInput::from_json(field(input, "event")?).and_then(to_current) {
            Ok(r) => r,
            Err(e) => return Ok(error_answer(e)),
        };
        Ok(match record(&recording, &ctx) {
            Ok(event) => event_answer(&event),
            Err(e) => error_answer(e),
        })
    }

    // ---------------------------------------------------------------------------------------------
    // Protobuf encode/decode for JS transports.

    fn events_json(events: &[Event]) -> Result<Json, FfiError> {
        let mut out = Vec::with_capacity(events.len());
        for e in events {
            let bytes = event_to_json(e)
                .map_err(|e| FfiError::Decode(format!("marshalling event: {e}")))?;
            out.push(written_json(&bytes));
        }
        Ok(Json::Array(out))
    }

    fn parse_events(v: &Json) -> Result<Vec<Event>, FfiError> {
        let Json::Array(items) = v else {
            return Err(FfiError::MalformedInput("events must be an array".into()));
        };
        items
            .iter()
            .enumerate()
            .map(|(i, e)| {
                json::parse_event_value(e)
                    .map_err(|e| FfiError::MalformedInput(format!("events[{i}]: {e}")))
            })
            .collect()
    }

    /// Encodes a `RecordEventsRequest` from `{"metadata": …}` or `{"events": {"events": […]}}`
    /// (proto3 JSON).
    pub fn encode_record_events_request(input: &str) -> Result<Vec<u8>, FfiError> {
        let v = parse_input(input)?;
        let payload = match (v.get("metadata"), v.get("events")) {
            (Some(m), None) => record_events_request::Payload::Metadata(
                json::parse_metadata_value(m)
                    .map_err(|e| FfiError::MalformedInput(e.to_string()))?,
            ),
            (None, Some(events)) => {
                let list = events.get("events").unwrap_or(&Json::Null);
                let list = if list.is_null() {
                    &Json::Array(Vec::new())
                } else {
                    list
                };
                record_events_request::Payload::Events(record_events_request::EventsPayload {
                    events: parse_events(list)?,
                })
            }
            _ => {
                return Err(FfiError::MalformedInput(
                    "a RecordEventsRequest holds exactly one of \"metadata\" or \"events\"".into(),
                ));
            }
        };
        Ok(RecordEventsRequest {
            payload: Some(payload),
        }
        .encode_to_vec())
    }

    /// Decodes a `RecordEventsRequest` to proto3 JSON.
    pub fn decode_record_events_request(bytes: &[u8]) -> Result<String, FfiError> {
        let req =
            RecordEventsRequest::decode(bytes).map_err(|e| FfiError::Decode(e.to_string()))?;
        let v = match req.payload {
            None => json!({}),
            Some(record_events_request::Payload::Metadata(m)) => {
                let bytes = telemetry_core::json::metadata_to_json(&m)
                    .map_err(|e| FfiError::Decode(e.to_string()))?;
                json!({ "metadata": written_json(&bytes) })
            }
            Some(record_events_request::Payload::Events(p)) => {
                json!({ "events": { "events": events_json(&p.events)? } })
            }
        };
        Ok(v.to_string())
    }

    /// Encodes a `RecordEventsResponse` from `{"succeededEvents": [...]}`.
    pub fn encode_record_events_response(input: &str) -> Result<Vec<u8>, FfiError> {
        let v = parse_input(input)?;
        let ids = match v.get("succeededEvents") {
            None | Some(Json::Null) => Vec::new(),
            Some(Json::Array(items)) => items
                .iter()
                .map(|i| {
                    i.as_str().map(str::to_string).ok_or_else(|| {
                        FfiError::MalformedInput("succeededEvents must hold strings".into())
                    })
                })
                .collect::<Result<_, _>>()?,
            Some(_) => {
                return Err(FfiError::MalformedInput(
                    "succeededEvents must be an array".into(),
                ));
            }
        };
        Ok(RecordEventsResponse {
            succeeded_events: ids,
        }
        .encode_to_vec())
    }

    /// Decodes a `RecordEventsResponse` to `{"succeededEvents": [...]}`.
    pub fn decode_record_events_response(bytes: &[u8]) -> Result<String, FfiError> {
        let resp =
            RecordEventsResponse::decode(bytes).map_err(|e| FfiError::Decode(e.to_string()))?;
        Ok(json!({ "succeededEvents": resp.succeeded_events }).to_string())
    }

    /// Encodes a `RecordEventRequest` from `{"metadata": …, "event": …}`.
    pub fn encode_record_event_request(input: &str) -> Result<Vec<u8>, FfiError> {
        let v = parse_input(input)?;
        let metadata = match v.get("metadata") {
            None | Some(Json::Null) => None,
            Some(m) => Some(
                json::parse_metadata_value(m)
                    .map_err(|e| FfiError::MalformedInput(e.to_string()))?,
            ),
        };
        let event = match v.get("event") {
            None | Some(Json::Null) => None,
            Some(e) => Some(
                json::parse_event_value(e).map_err(|e| FfiError::MalformedInput(e.to_string()))?,
            ),
        };
        Ok(RecordEventRequest { metadata, event }.encode_to_vec())
    }

    /// Decodes a `RecordEventRequest` to proto3 JSON.
    pub fn decode_record_event_request(bytes: &[u8]) -> Result<String, FfiError> {
        let req = RecordEventRequest::decode(bytes).map_err(|e| FfiError::Decode(e.to_string()))?;
        let mut out = Map::new();
        if let Some(m) = &req.metadata {
            let bytes = telemetry_core::json::metadata_to_json(m)
                .map_err(|e| FfiError::Decode(e.to_string()))?;
            out.insert("metadata".into(), written_json(&bytes));
        }
        if let Some(e) = &req.event {
            let bytes = event_to_json(e)
                .map_err(|e| FfiError::Decode(format!("marshalling event: {e}")))?;
            out.insert("event".into(), written_json(&bytes));
        }
        Ok(Json::Object(out).to_string())
    }

    /// Encodes one `Event` from proto3 JSON (for export queues that store wire bytes).
    pub fn encode_event(input: &str) -> Result<Vec<u8>, FfiError> {
        let v = parse_input(input)?;
        let event =
            json::parse_event_value(&v).map_err(|e| FfiError::MalformedInput(e.to_string()))?;
        Ok(event.encode_to_vec())
    }

    /// Decodes one `Event` to proto3 JSON.
    pub fn decode_event(bytes: &[u8]) -> Result<String, FfiError> {
        let event = Event::decode(bytes).map_err(|e| FfiError::Decode(e.to_string()))?;
        let bytes = event_to_json(&event)
            .map_err(|e| FfiError::Decode(format!("marshalling event: {e}")))?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// Plans export chunks: `{"sizes": [encoded event sizes], "limit"?: bytes}` →
    /// `{"chunks": [[start, end], …]}` (half-open index ranges), by [`telemetry_core::export::plan_chunks`].
    pub fn plan_chunks(input: &str) -> Result<String, FfiError> {
        let v = parse_input(input)?;
        let Some(Json::Array(raw)) = v.get("sizes") else {
            return Err(FfiError::MalformedInput(
                "sizes must be an array of byte counts".into(),
            ));
        };
        let sizes = raw
            .iter()
            .map(|s| {
                s.as_u64()
                    .and_then(|n| usize::try_from(n).ok())
                    .ok_or_else(|| {
                        FfiError::MalformedInput("sizes must hold non-negative integers".into())
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let limit = match v.get("limit") {
            None | Some(Json::Null) => telemetry_core::export::MAX_CHUNK_BYTES,
            Some(l) => l
                .as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .filter(|n| *n > 0)
                .ok_or_else(|| {
                    FfiError::MalformedInput("limit must be a positive integer".into())
                })?,
        };
        let chunks: Vec<[usize; 2]> = telemetry_core::export::plan_chunks(&sizes, limit)
            .into_iter()
            .map(|r| [r.start, r.end])
            .collect();
        Ok(json!({ "chunks": chunks }).to_string())
    }

    /// The WASM build's `runOpFields` and `recordNow` as they were: each field parsed into a
    /// value, the input object assembled, `context.id`/`now` filled in when asked.
    pub fn run_op_fields(
        op: &str,
        fields: &[(&str, &str)],
        fill: Option<(&str, &str)>,
    ) -> Result<String, FfiError> {
        let mut map = Map::new();
        for (name, text) in fields {
            let value = parse_input(text).map_err(|e| {
                let detail = match e {
                    FfiError::MalformedInput(m) | FfiError::Decode(m) | FfiError::UnknownOp(m) => m,
                    other => other.to_string(),
                };
                FfiError::MalformedInput(format!("{name}: {detail}"))
            })?;
            map.insert((*name).to_string(), value);
        }
        let mut value = Json::Object(map);
        if let Some(defaults) = fill {
            fill_context(&mut value, defaults);
        }
        run_op_text(op, &value)
    }

    /// `recordNow` as it was.
    pub fn record_filled(input: &str, fill: (&str, &str)) -> Result<String, FfiError> {
        let mut value = parse_input(input)?;
        fill_context(&mut value, fill);
        record_value(&value)
    }

    fn fill_context(value: &mut Json, (id, now): (&str, &str)) {
        let Json::Object(fields) = value else {
            return;
        };
        let context = fields
            .entry("context")
            .or_insert_with(|| Json::Object(Map::new()));
        if let Json::Object(ctx) = context {
            if !ctx.contains_key("id") {
                ctx.insert("id".into(), Json::String(id.to_string()));
            }
            if !ctx.contains_key("now") {
                ctx.insert("now".into(), Json::String(now.to_string()));
            }
        }
    }
}
