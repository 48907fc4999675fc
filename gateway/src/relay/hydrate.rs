//! Hydration: what the relay adds to a client's recording, from its configuration and the
//! request — never from the client's claims in the body.
//!
//! | field | from |
//! |---|---|
//! | `id` | a fresh UUID v7 |
//! | `timestamp` | the recording's `timestamp` when given (5.2.5+ semantics), else the server's clock |
//! | `source.server.version` | `--server-version` |
//! | `user.user_id` | the header a trusted authenticating proxy sets (`--user-id-header`), a number |
//! | `user.anonymous_user_id` | the client: `X-Sourcegraph-Actor-Anonymous-UID`, else the `sourcegraphAnonymousUid` cookie |
//! | `feature_flags` | the header `--feature-flags-header` names: `name=true,other=false` |
//! | `interaction.interaction_id` | `X-Sourcegraph-Interaction-ID` (the recording's `parameters.interactionID` wins) |
//! | `interaction.trace_id` | the trace id of a valid W3C `traceparent` |
//!
//! The rest of the rule (`record`) is the core's.

use http::HeaderMap;
use prost_types::Timestamp;
use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};
use telemetry_core::RecordContext;
use telemetry_core::proto::EventUser;

/// The interaction-id header Sourcegraph clients send.
pub const INTERACTION_ID_HEADER: &str = "x-sourcegraph-interaction-id";
/// The anonymous-user header Sourcegraph clients send.
pub const ANONYMOUS_UID_HEADER: &str = "x-sourcegraph-actor-anonymous-uid";
/// The anonymous-user cookie of the Sourcegraph web app.
pub const ANONYMOUS_UID_COOKIE: &str = "sourcegraphAnonymousUid";
/// The longest header-derived value accepted (ids, flag names and values).
pub const MAX_HEADER_VALUE_CHARS: usize = 256;
/// The most feature flags accepted from the flags header.
pub const MAX_FEATURE_FLAGS: usize = 64;

/// Where hydration reads from.
#[derive(Debug, Clone, Default)]
pub struct HydrationConfig {
    /// `source.server.version`.
    pub server_version: String,
    /// The (lowercase) header holding the authenticated numeric user id, set by a trusted proxy.
    pub user_id_header: Option<String>,
    /// The (lowercase) header holding evaluated feature flags.
    pub feature_flags_header: Option<String>,
}

/// A request whose headers cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct HydrationError(pub String);

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, HydrationError> {
    let Some(v) = headers.get(name) else {
        return Ok(None);
    };
    let s = v
        .to_str()
        .map_err(|_| HydrationError(format!("header {name} is not visible ASCII")))?
        .trim();
    if s.is_empty() {
        return Ok(None);
    }
    if s.len() > MAX_HEADER_VALUE_CHARS && name != "cookie" {
        return Err(HydrationError(format!(
            "header {name} is longer than {MAX_HEADER_VALUE_CHARS} characters"
        )));
    }
    Ok(Some(s))
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty() && v.len() <= MAX_HEADER_VALUE_CHARS)
}

/// The trace id of a valid W3C `traceparent` (`00-<32 hex>-<16 hex>-<2 hex>`); an invalid one
/// is ignored, as the W3C spec asks.
pub fn trace_id_from_traceparent(value: &str) -> Option<String> {
    let parts: Vec<&str> = value.trim().split('-').collect();
    let [version, trace, parent, flags, ..] = parts.as_slice() else {
        return None;
    };
    let hex = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let valid = hex(version, 2)
        && *version != "ff"
        && (parts.len() == 4 || *version != "00")
        && hex(trace, 32)
        && trace.bytes().any(|b| b != b'0')
        && hex(parent, 16)
        && parent.bytes().any(|b| b != b'0')
        && hex(flags, 2);
    valid.then(|| (*trace).to_string())
}

/// `name=true,other=false` (a bare `name` means true).
pub fn parse_feature_flags(value: &str) -> Result<BTreeMap<String, String>, HydrationError> {
    let mut flags = BTreeMap::new();
    for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (name, v) = item.split_once('=').unwrap_or((item, "true"));
        let v = match v.trim() {
            "true" | "1" => "true",
            "false" | "0" => "false",
            other => {
                return Err(HydrationError(format!(
                    "feature flag {:?} has value {:?}: expected true or false",
                    name.trim(),
                    other
                )));
            }
        };
        flags.insert(name.trim().to_string(), v.to_string());
        if flags.len() > MAX_FEATURE_FLAGS {
            return Err(HydrationError(format!(
                "more than {MAX_FEATURE_FLAGS} feature flags"
            )));
        }
    }
    Ok(flags)
}

fn timestamp(now: SystemTime) -> Timestamp {
    let d = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    Timestamp {
        seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        nanos: i32::try_from(d.subsec_nanos()).unwrap_or(0),
    }
}

/// The request's part of every recording's context (the id is set per event).
pub fn context(
    config: &HydrationConfig,
    headers: &HeaderMap,
    now: SystemTime,
) -> Result<RecordContext, HydrationError> {
    let mut user = EventUser::default();
    let user_header = match &config.user_id_header {
        Some(name) => header(headers, name)?.map(|v| (name, v)),
        None => None,
    };
    if let Some((name, v)) = user_header {
        let id: i64 = v
            .parse()
            .map_err(|_| HydrationError(format!("header {name} must hold a numeric user id")))?;
        if id != 0 {
            user.user_id = Some(id);
        }
    }
    let anonymous =
        header(headers, ANONYMOUS_UID_HEADER)?.or_else(|| cookie(headers, ANONYMOUS_UID_COOKIE));
    user.anonymous_user_id = anonymous.map(str::to_string);
    let feature_flags = match &config.feature_flags_header {
        Some(name) => match headers.get(name.as_str()) {
            Some(v) => parse_feature_flags(
                v.to_str()
                    .map_err(|_| HydrationError(format!("header {name} is not visible ASCII")))?,
            )?,
            None => BTreeMap::new(),
        },
        None => BTreeMap::new(),
    };
    Ok(RecordContext {
        id: String::new(),
        now: timestamp(now),
        server_version: config.server_version.clone(),
        user: (user.user_id.is_some() || user.anonymous_user_id.is_some()).then_some(user),
        feature_flags,
        trace_id: header(headers, "traceparent")?.and_then(trace_id_from_traceparent),
        interaction_id: header(headers, INTERACTION_ID_HEADER)?.map(str::to_string),
        country_code: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent() {
        let ok = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(
            trace_id_from_traceparent(ok).as_deref(),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        for bad in [
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "garbage",
        ] {
            assert_eq!(trace_id_from_traceparent(bad), None, "{bad}");
        }
        // a future version may carry more fields
        assert!(trace_id_from_traceparent(&format!("01{}-x", &ok[2..])).is_some());
    }

    #[test]
    fn headers_become_the_context() {
        let config = HydrationConfig {
            server_version: "6.1.0".into(),
            user_id_header: Some("x-forwarded-user-id".into()),
            feature_flags_header: Some("x-feature-flags".into()),
        };
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-user-id", "42".parse().unwrap());
        h.insert(
            "cookie",
            "a=b; sourcegraphAnonymousUid=anon-1".parse().unwrap(),
        );
        h.insert(
            "x-feature-flags",
            "new-ui=true, old=false,bare".parse().unwrap(),
        );
        h.insert(INTERACTION_ID_HEADER, "int-1".parse().unwrap());
        let ctx = context(&config, &h, UNIX_EPOCH).unwrap();
        let user = ctx.user.unwrap();
        assert_eq!(user.user_id, Some(42));
        assert_eq!(user.anonymous_user_id.as_deref(), Some("anon-1"));
        assert_eq!(ctx.feature_flags.len(), 3);
        assert_eq!(ctx.feature_flags["old"], "false");
        assert_eq!(ctx.feature_flags["bare"], "true");
        assert_eq!(ctx.interaction_id.as_deref(), Some("int-1"));
        assert_eq!(ctx.server_version, "6.1.0");
        // the header wins over the cookie
        h.insert(ANONYMOUS_UID_HEADER, "anon-2".parse().unwrap());
        let ctx = context(&config, &h, UNIX_EPOCH).unwrap();
        assert_eq!(
            ctx.user.unwrap().anonymous_user_id.as_deref(),
            Some("anon-2")
        );
        // without configured headers, the same request carries no user id and no flags
        let ctx = context(&HydrationConfig::default(), &h, UNIX_EPOCH).unwrap();
        assert_eq!(ctx.user.as_ref().unwrap().user_id, None);
        assert!(ctx.feature_flags.is_empty());
        h.insert("x-forwarded-user-id", "alice".parse().unwrap());
        assert!(
            context(&config, &h, UNIX_EPOCH)
                .unwrap_err()
                .0
                .contains("numeric user id")
        );
        h.insert("x-forwarded-user-id", "7".parse().unwrap());
        h.insert("x-feature-flags", "x=maybe".parse().unwrap());
        assert!(
            context(&config, &h, UNIX_EPOCH)
                .unwrap_err()
                .0
                .contains("expected true or false")
        );
        h.insert("x-feature-flags", "".parse().unwrap());
        h.insert(INTERACTION_ID_HEADER, "i".repeat(300).parse().unwrap());
        assert!(
            context(&config, &h, UNIX_EPOCH)
                .unwrap_err()
                .0
                .contains("longer than")
        );
    }
}
