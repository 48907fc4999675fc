//! Managed-service authentication: the `authorization: Bearer <token>` header checked by OAuth2
//! token introspection (RFC 7662) against SAMS, as the reference's `samsm2m.CheckWriteEventsScope`:
//! POST `{server}/oauth/introspect` with `token=<token>` and HTTP Basic client credentials.
//!
//! Bounded against a flood of tokens (the header is client-controlled):
//! - results are cached (default 30 s, never past the token's `exp`) in an LRU cache of
//!   `--sams-cache-capacity` tokens, keyed by the token's SHA-256 — inactive tokens too, so a
//!   repeated junk token costs one call;
//! - concurrent checks of the same token share one introspection call;
//! - introspection calls are rate-limited (`--sams-introspections-per-second`); past the rate a
//!   check fails with `ResourceExhausted` and the client retries;
//! - tokens longer than `--max-token-bytes` are refused before any call, and introspection
//!   answers over 64 KiB are refused;
//! - the introspection endpoint must be `https` (plaintext only to a loopback address).

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use sha2::{Digest, Sha256};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tonic::Status;
use tonic::metadata::MetadataMap;

/// The scope a managed service needs.
pub const REQUIRED_SCOPE: &str = "telemetry_gateway::events::write";

/// The largest introspection answer read.
const MAX_INTROSPECTION_BYTES: usize = 64 * 1024;

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

/// SAMS connection settings and limits.
#[derive(Debug, Clone)]
pub struct SamsConfig {
    /// The SAMS server root (trailing slash trimmed).
    pub server_url: String,
    /// The gateway's client id.
    pub client_id: String,
    /// The gateway's client secret.
    pub client_secret: String,
    /// How long an introspection result is reused (zero: not cached).
    pub cache_ttl: Duration,
    /// Distinct tokens cached at most.
    pub cache_capacity: u64,
    /// Introspection calls per second at most (bursts of twice that).
    pub introspections_per_second: u32,
    /// The longest token accepted, in bytes.
    pub max_token_bytes: usize,
}

impl SamsConfig {
    /// Defaults for the limits, for callers that only set the connection.
    pub fn new(
        server_url: &str,
        client_id: &str,
        client_secret: &str,
        cache_ttl: Duration,
    ) -> Self {
        SamsConfig {
            server_url: server_url.to_string(),
            client_id: client_id.to_string(),
            client_secret: client_secret.to_string(),
            cache_ttl,
            cache_capacity: 10_000,
            introspections_per_second: 20,
            max_token_bytes: 8 * 1024,
        }
    }
}

/// A cached introspection, and how long it may be reused.
#[derive(Debug, Clone)]
struct Cached {
    result: Arc<Introspection>,
    ttl: Duration,
}

struct PerEntryTtl;

impl moka::Expiry<[u8; 32], Cached> for PerEntryTtl {
    fn expire_after_create(
        &self,
        _key: &[u8; 32],
        value: &Cached,
        _created_at: std::time::Instant,
    ) -> Option<Duration> {
        Some(value.ttl)
    }
}

/// Why an introspection failed.
#[derive(Debug, Clone, thiserror::Error)]
enum IntrospectionError {
    #[error("introspection rate limit reached")]
    RateLimited,
    #[error("{0}")]
    Failed(String),
}

/// Checks bearer tokens.
pub struct SamsAuthenticator {
    config: SamsConfig,
    http: reqwest::Client,
    cache: moka::future::Cache<[u8; 32], Cached>,
    limiter: DefaultDirectRateLimiter,
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

/// Checks that an introspection URL is `https`, or `http` to a loopback address.
pub fn check_introspection_url(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("SAMS URL {url:?}: {e}"))?;
    let loopback = match parsed.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        scheme => Err(format!(
            "SAMS URL {url:?} must use https (plaintext {scheme} is only allowed to a loopback address)"
        )),
    }
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
        check_introspection_url(&config.server_url).map_err(anyhow::Error::msg)?;
        anyhow::ensure!(
            config.cache_ttl <= crate::limits::MAX_DURATION,
            "the SAMS cache TTL must be at most {} seconds",
            crate::limits::MAX_DURATION.as_secs()
        );
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()?;
        let rate =
            NonZeroU32::new(config.introspections_per_second.max(1)).unwrap_or(NonZeroU32::MIN);
        let burst = rate.saturating_mul(NonZeroU32::new(2).unwrap_or(NonZeroU32::MIN));
        let cache = moka::future::Cache::builder()
            .max_capacity(config.cache_capacity)
            .eviction_policy(moka::policy::EvictionPolicy::lru())
            .expire_after(PerEntryTtl)
            .build();
        Ok(SamsAuthenticator {
            limiter: RateLimiter::direct(Quota::per_second(rate).allow_burst(burst)),
            config,
            http,
            cache,
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
        if token.len() > self.config.max_token_bytes {
            return Err(Status::unauthenticated(format!(
                "invalid token header: token of {} bytes, over the limit of {} bytes (--max-token-bytes)",
                token.len(),
                self.config.max_token_bytes
            )));
        }
        let result = self.introspect(token).await.map_err(|e| match e {
            IntrospectionError::RateLimited => Status::resource_exhausted(
                "token introspection is rate limited (--sams-introspections-per-second); retry later",
            ),
            IntrospectionError::Failed(e) => {
                tracing::error!(error = %e, "token introspection failed");
                Status::internal("unable to validate token")
            }
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
                client_id = %crate::log_limit::Clip(result.client_id.as_deref().unwrap_or("")),
                scopes = %crate::log_limit::Clip(result.scope.as_deref().unwrap_or("")),
                required = REQUIRED_SCOPE,
                "token lacks the required scope"
            );
            return Err(Status::permission_denied("permission denied"));
        }
        Ok(())
    }

    async fn introspect(&self, token: &str) -> Result<Arc<Introspection>, IntrospectionError> {
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        // Concurrent checks of one token share this call; failures are not cached.
        let cached = self
            .cache
            .try_get_with(key, async {
                self.limiter
                    .check()
                    .map_err(|_| IntrospectionError::RateLimited)?;
                let result = self
                    .call(token)
                    .await
                    .map_err(|e| IntrospectionError::Failed(format!("{e:#}")))?;
                let mut ttl = self.config.cache_ttl;
                if let Some(exp) = result.exp {
                    let now_unix = SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .map(|d| d.as_secs())
                        .unwrap_or(0);
                    ttl = ttl.min(Duration::from_secs(exp.saturating_sub(now_unix)));
                }
                Ok(Cached {
                    result: Arc::new(result),
                    ttl,
                })
            })
            .await
            .map_err(|e: Arc<IntrospectionError>| (*e).clone())?;
        Ok(cached.result)
    }

    async fn call(&self, token: &str) -> anyhow::Result<Introspection> {
        let mut response = self
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
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            body.extend_from_slice(&chunk);
            anyhow::ensure!(
                body.len() <= MAX_INTROSPECTION_BYTES,
                "introspection answer over {MAX_INTROSPECTION_BYTES} bytes"
            );
        }
        Ok(serde_json::from_slice(&body)?)
    }
}
