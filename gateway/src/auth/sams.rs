//! Managed-service authentication: the `authorization: Bearer <token>` header checked by OAuth2
//! token introspection (RFC 7662) against SAMS, as the reference's `samsm2m.CheckWriteEventsScope`:
//! POST `{server}/oauth/introspect` with `token=<token>` and HTTP Basic client credentials.
//! Results are cached briefly (default 30 s, never past the token's `exp`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tonic::Status;
use tonic::metadata::MetadataMap;

/// The scope a managed service needs.
pub const REQUIRED_SCOPE: &str = "telemetry_gateway::events::write";

/// The most cached tokens (the cache is cleared when full).
const MAX_CACHE_ENTRIES: usize = 10_000;

/// The RFC 7662 response fields used.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Introspection {
    /// Whether the token is active.
    #[serde(default)]
    pub active: bool,
    /// Space-separated scopes.
    #[serde(default)]
    pub scope: Option<String>,
    /// The client the token was issued to.
    #[serde(default)]
    pub client_id: Option<String>,
    /// Expiry (Unix seconds).
    #[serde(default)]
    pub exp: Option<u64>,
}

/// SAMS connection settings.
#[derive(Debug, Clone)]
pub struct SamsConfig {
    /// The SAMS server root (trailing slash trimmed).
    pub server_url: String,
    /// The gateway's client id.
    pub client_id: String,
    /// The gateway's client secret.
    pub client_secret: String,
    /// How long an introspection result is reused.
    pub cache_ttl: Duration,
}

/// Checks bearer tokens.
pub struct SamsAuthenticator {
    config: SamsConfig,
    http: reqwest::Client,
    cache: Mutex<HashMap<String, (Introspection, Instant)>>,
}

/// Whether a token scope grants a required scope, by SAMS's rule: `service::permission::action`;
/// service and action equal; permission equal, or the token's permission a dot-prefix of the
/// required one (`events` grants `events.x`).
pub fn scope_matches(granted: &str, required: &str) -> bool {
    let g: Vec<&str> = granted.split("::").collect();
    let r: Vec<&str> = required.split("::").collect();
    let ([gs, gp, ga], [rs, rp, ra]) = (g.as_slice(), r.as_slice()) else {
        return false;
    };
    gs == rs
        && ga == ra
        && !gp.is_empty()
        && (gp == rp
            || rp
                .strip_prefix(gp)
                .is_some_and(|rest| rest.starts_with('.')))
}

/// Parses an `Authorization` value (`Bearer <token>`, scheme case-insensitive).
pub fn parse_authorization(value: &str) -> Result<&str, String> {
    let Some((scheme, token)) = value.split_once(' ') else {
        return Err("token type missing in Authorization header".to_string());
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(format!(
            "invalid token type {scheme} in Authorization header"
        ));
    }
    Ok(token)
}

impl SamsAuthenticator {
    /// Creates the authenticator.
    pub fn new(mut config: SamsConfig) -> anyhow::Result<Self> {
        while config.server_url.ends_with('/') {
            config.server_url.pop();
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()?;
        Ok(SamsAuthenticator {
            config,
            http,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// The introspection endpoint.
    pub fn introspection_url(&self) -> String {
        format!("{}/oauth/introspect", self.config.server_url)
    }

    /// `CheckWriteEventsScope`: the reference's statuses and messages.
    pub async fn check_write_events_scope(&self, metadata: &MetadataMap) -> Result<(), Status> {
        let values: Vec<_> = metadata.get_all("authorization").iter().collect();
        if values.is_empty() && metadata.is_empty() {
            return Err(Status::unauthenticated("no token header"));
        }
        let value = match values.as_slice() {
            [one] => one.to_str().unwrap_or(""),
            _ => "",
        };
        if value.is_empty() {
            return Err(Status::unauthenticated("no token header value"));
        }
        let token = parse_authorization(value)
            .map_err(|e| Status::unauthenticated(format!("invalid token header: {e}")))?;
        let result = self.introspect(token).await.map_err(|e| {
            tracing::error!(error = %e, "token introspection failed");
            Status::internal("unable to validate token")
        })?;
        if !result.active {
            return Err(Status::permission_denied("permission denied"));
        }
        let granted = result
            .scope
            .as_deref()
            .unwrap_or("")
            .split(' ')
            .any(|s| scope_matches(s, REQUIRED_SCOPE));
        if !granted {
            tracing::warn!(
                client_id = result.client_id.as_deref().unwrap_or(""),
                scopes = result.scope.as_deref().unwrap_or(""),
                required = REQUIRED_SCOPE,
                "token lacks the required scope"
            );
            return Err(Status::permission_denied("permission denied"));
        }
        Ok(())
    }

    async fn introspect(&self, token: &str) -> anyhow::Result<Introspection> {
        let now = Instant::now();
        if let Ok(cache) = self.cache.lock()
            && let Some((result, until)) = cache.get(token)
            && *until > now
        {
            return Ok(result.clone());
        }
        let response = self
            .http
            .post(self.introspection_url())
            .basic_auth(&self.config.client_id, Some(&self.config.client_secret))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(format!("token={token}"))
            .send()
            .await?;
        if response.status() != reqwest::StatusCode::OK {
            anyhow::bail!("introspection returned HTTP {}", response.status());
        }
        let result: Introspection = response.json().await?;
        let mut ttl = self.config.cache_ttl;
        if let Some(exp) = result.exp {
            let now_unix = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            ttl = ttl.min(Duration::from_secs(exp.saturating_sub(now_unix)));
        }
        if !ttl.is_zero()
            && let Ok(mut cache) = self.cache.lock()
        {
            if cache.len() >= MAX_CACHE_ENTRIES {
                cache.clear();
            }
            cache.insert(token.to_string(), (result.clone(), now + ttl));
        }
        Ok(result)
    }
}
