//! The proto3 JSON mapping of `telemetrygateway.v1`, read from `serde_json` values.
//!
//! Hand-written so that every error names the offending field (`parameters.metadata.count:
//! expected a number`), unknown fields are refused rather than dropped, and the accepted forms
//! are exactly protojson's: lowerCamelCase or original names, `null` for "not set", int64 as a
//! string or an integral number, doubles as numbers or `"NaN"`/`"Infinity"`/`"-Infinity"`/numeric
//! strings, RFC 3339 timestamps, and `Struct`/`Value` as plain JSON.

use super::time::timestamp_from_rfc3339;
use super::{JsonError, MAX_JSON_INPUT_BYTES};
use crate::proto::{
    Event, EventBillingMetadata, EventFeatureFlags, EventInteraction, EventMarketingTracking,
    EventParameters, EventSource, EventUser, Identifier, RecordEventsRequestMetadata,
    event_interaction, event_source, identifier,
};
use prost_types::{ListValue, Struct, Timestamp, Value, value::Kind};
use serde_json::{Map, Value as Json};
use std::collections::BTreeMap;

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
            "legacyMetadata" | "legacy_metadata" => p.legacy_metadata = map_of(v, int64).at(k)?,
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
pub(crate) fn user_value(v: &Json) -> Result<EventUser, JsonError> {
    finish("user", user(v))
}

fn user(v: &Json) -> R<EventUser> {
    let mut u = EventUser::default();
    for (k, v) in object(v, "a user")? {
        match k.as_str() {
            "userId" | "user_id" => u.user_id = Some(int64(v).at(k)?),
            "anonymousUserId" | "anonymous_user_id" => u.anonymous_user_id = Some(string(v).at(k)?),
            "samsExternalId" | "sams_external_id" => u.sams_external_id = Some(string(v).at(k)?),
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
                        "licenseKey" | "license_key" => l.license_key = string(lv).at(lk).at(k)?,
                        "instanceId" | "instance_id" => l.instance_id = string(lv).at(lk).at(k)?,
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
                        "instanceId" | "instance_id" => u.instance_id = string(uv).at(uk).at(k)?,
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
pub(crate) fn json_to_value(subject: &'static str, v: &Json) -> Result<Value, JsonError> {
    finish(subject, value(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_field() {
        let e = parse_event(r#"{"parameters":{"metadata":{"count":"lots"}}}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid event: parameters.metadata.count: \"lots\" is not a double"
        );
        let e = parse_event(r#"{"user":{"userId":"9223372036854775808"}}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid event: user.userId: \"9223372036854775808\" is not an int64"
        );
        let e = parse_event(r#"{"surprise":1}"#).unwrap_err();
        assert_eq!(e.to_string(), "invalid event: unknown field \"surprise\"");
        let e = parse_event("[]").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid event: expected an event object, got an array"
        );
        let e = parse_event(r#"{"timestamp":"10000-01-01T00:00:00Z"}"#).unwrap_err();
        assert!(
            e.to_string().starts_with("invalid event: timestamp: "),
            "{e}"
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
        assert!(parse_event(r#"{"user":{"userId":1.5}}"#).is_err());
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
}
