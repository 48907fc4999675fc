//! The relay's HTTP front door (axum): the two recording endpoints, their limits, CORS, and the
//! diagnostics endpoints. The events themselves go through the core's `record`, the export
//! mode and the redaction policy, then into the queue; the answer waits for the commit.

use super::graphql::{self, RecordEventsCall};
use super::hydrate::{self, HydrationConfig};
use crate::export::queue::{self, ExportQueue};
use crate::export::worker::ExportTrigger;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use prometheus::{IntCounterVec, Opts, Registry};
use serde_json::{Value as Json, json};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use telemetry_core::{ExportMode, RedactionPolicy, TelemetryEventInput, record};
use tokio::sync::Semaphore;

/// Default largest request body: 1 MiB (a JS SDK batch of 10 events is a few KiB).
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
/// Default most events per call (the JS SDK sends at most 10 at a time).
pub const DEFAULT_MAX_EVENTS: usize = 1_000;
/// Default request rate over all clients.
pub const DEFAULT_RATE_PER_SECOND: u32 = 500;
/// Default burst above the rate.
pub const DEFAULT_RATE_BURST: u32 = 1_000;
/// Default requests processed at once.
pub const DEFAULT_MAX_CONCURRENT: usize = 64;

/// The relay's limits; each is answered with its own status.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest body (413).
    pub max_body_bytes: usize,
    /// Most events per call (413).
    pub max_events: usize,
    /// Requests per second (429).
    pub rate_per_second: u32,
    /// Burst (429).
    pub rate_burst: u32,
    /// Concurrent requests (503).
    pub max_concurrent: usize,
    /// Time to receive a body (408).
    pub request_timeout: Duration,
}

/// The relay's request metrics.
#[derive(Clone)]
pub struct RelayMetrics {
    /// Requests by `endpoint` (`graphql`, `events`) and HTTP `status`.
    pub requests: IntCounterVec,
    /// Recorded events by `outcome` (`queued`, `duplicate`, `not_exported`).
    pub events: IntCounterVec,
}

impl RelayMetrics {
    /// Creates the metrics and registers them into `registry`.
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let m = RelayMetrics {
            requests: IntCounterVec::new(
                Opts::new(
                    "telemetry_relay_requests_total",
                    "Recording requests by endpoint and HTTP status.",
                ),
                &["endpoint", "status"],
            )?,
            events: IntCounterVec::new(
                Opts::new(
                    "telemetry_relay_events_total",
                    "Recorded events by outcome (queued, duplicate, not_exported by the export mode).",
                ),
                &["outcome"],
            )?,
        };
        registry.register(Box::new(m.requests.clone()))?;
        registry.register(Box::new(m.events.clone()))?;
        Ok(m)
    }
}

/// Everything a request needs.
pub struct RelayState {
    queue: Arc<dyn ExportQueue>,
    policy: RedactionPolicy,
    mode: ExportMode,
    hydration: HydrationConfig,
    limits: Limits,
    metrics: RelayMetrics,
    trigger: Arc<ExportTrigger>,
    rate: DefaultDirectRateLimiter,
    permits: Arc<Semaphore>,
}

impl RelayState {
    /// The state of one relay.
    pub fn new(
        queue: Arc<dyn ExportQueue>,
        policy: RedactionPolicy,
        mode: ExportMode,
        hydration: HydrationConfig,
        limits: Limits,
        metrics: RelayMetrics,
        trigger: Arc<ExportTrigger>,
    ) -> Self {
        let rate = NonZeroU32::new(limits.rate_per_second).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(limits.rate_burst).unwrap_or(NonZeroU32::MIN);
        RelayState {
            queue,
            policy,
            mode,
            hydration,
            rate: RateLimiter::direct(Quota::per_second(rate).allow_burst(burst)),
            permits: Arc::new(Semaphore::new(limits.max_concurrent)),
            limits,
            metrics,
            trigger,
        }
    }
}

/// Which endpoint (the answer's shape).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Graphql,
    Events,
}

impl Endpoint {
    fn label(self) -> &'static str {
        match self {
            Endpoint::Graphql => "graphql",
            Endpoint::Events => "events",
        }
    }
}

/// A refusal: its status, message, and extra headers.
struct Refusal {
    status: StatusCode,
    message: String,
    retry_after: Option<u64>,
}

fn refuse(status: StatusCode, message: impl Into<String>) -> Refusal {
    Refusal {
        status,
        message: message.into(),
        retry_after: None,
    }
}

fn answer(endpoint: Endpoint, refusal: Refusal, call: Option<&RecordEventsCall>) -> Response {
    let body = match endpoint {
        Endpoint::Graphql => graphql::error_body(&refusal.message, call),
        Endpoint::Events => json!({ "error": refusal.message }),
    };
    let mut response = (refusal.status, axum::Json(body)).into_response();
    if let Some(secs) = refusal.retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

/// Reads the body within the size and time limits.
async fn read_body(state: &RelayState, request: Request) -> Result<(HeaderMap, Json), Refusal> {
    let (parts, body) = request.into_parts();
    let max = state.limits.max_body_bytes;
    let too_large = || {
        refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the request body is larger than {max} bytes"),
        )
    };
    let announced = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|len| len > max as u64) {
        return Err(too_large());
    }
    let bytes = match tokio::time::timeout(
        state.limits.request_timeout,
        axum::body::to_bytes(body, max),
    )
    .await
    {
        Err(_) => {
            return Err(refuse(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the request body did not arrive within {}s",
                    state.limits.request_timeout.as_secs()
                ),
            ));
        }
        Ok(Err(e)) => {
            let limited = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>())
                || e.to_string().contains("length limit");
            return Err(if limited {
                too_large()
            } else {
                refuse(
                    StatusCode::BAD_REQUEST,
                    format!("reading the request body: {e}"),
                )
            });
        }
        Ok(Ok(b)) => b,
    };
    let json = serde_json::from_slice::<Json>(&bytes).map_err(|e| {
        refuse(
            StatusCode::BAD_REQUEST,
            format!("the request body is not JSON: {e}"),
        )
    })?;
    Ok((parts.headers, json))
}

/// Turns the call's events into hydrated events; one invalid event fails the call.
fn record_all(
    state: &RelayState,
    headers: &HeaderMap,
    events: &Json,
    now: SystemTime,
) -> Result<Vec<telemetry_core::proto::Event>, Refusal> {
    let Json::Array(items) = events else {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            "events must be a list of TelemetryEventInput",
        ));
    };
    if items.is_empty() {
        return Err(refuse(StatusCode::BAD_REQUEST, "no events provided"));
    }
    if items.len() > state.limits.max_events {
        return Err(refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "too many events in one call: {} (at most {})",
                items.len(),
                state.limits.max_events
            ),
        ));
    }
    let base = hydrate::context(&state.hydration, headers, now)
        .map_err(|e| refuse(StatusCode::BAD_REQUEST, e.0))?;
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let input = TelemetryEventInput::from_json(item).map_err(|e| {
            refuse(
                StatusCode::BAD_REQUEST,
                format!("invalid event provided: {e}"),
            )
        })?;
        let mut ctx = base.clone();
        ctx.id = uuid::Uuid::now_v7().to_string();
        let event = record(&input, &ctx).map_err(|e| {
            refuse(
                StatusCode::BAD_REQUEST,
                format!("invalid event provided: {e}"),
            )
        })?;
        out.push(event);
    }
    Ok(out)
}

async fn handle(state: Arc<RelayState>, endpoint: Endpoint, request: Request) -> Response {
    let response = handle_inner(&state, endpoint, request).await;
    state
        .metrics
        .requests
        .with_label_values(&[endpoint.label(), response.status().as_str()])
        .inc();
    response
}

async fn handle_inner(state: &RelayState, endpoint: Endpoint, request: Request) -> Response {
    if let Err(not_until) = state.rate.check() {
        let wait = not_until.wait_time_from(governor::clock::Clock::now(
            &governor::clock::DefaultClock::default(),
        ));
        let mut r = refuse(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "rate limit exceeded: at most {} requests per second (burst {})",
                state.limits.rate_per_second, state.limits.rate_burst
            ),
        );
        r.retry_after = Some(wait.as_secs().max(1));
        return answer(endpoint, r, None);
    }
    let Ok(_permit) = state.permits.clone().try_acquire_owned() else {
        let mut r = refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "too many requests in progress (at most {}); retry shortly",
                state.limits.max_concurrent
            ),
        );
        r.retry_after = Some(1);
        return answer(endpoint, r, None);
    };
    let (headers, body) = match read_body(state, request).await {
        Ok(x) => x,
        Err(r) => return answer(endpoint, r, None),
    };
    let (events, call) = match endpoint {
        Endpoint::Graphql => match graphql::parse_request(&body) {
            Ok(call) => (call.events.clone(), Some(call)),
            // GraphQL-level errors are answered as GraphQL servers do: 200 with errors[].
            Err(e) => return answer(endpoint, refuse(StatusCode::OK, e.0), None),
        },
        Endpoint::Events => match body.get("events") {
            Some(events) => (events.clone(), None),
            None => {
                return answer(
                    endpoint,
                    refuse(
                        StatusCode::BAD_REQUEST,
                        "the body must be {\"events\": [...]}",
                    ),
                    None,
                );
            }
        },
    };
    let now = SystemTime::now();
    let recorded = match record_all(state, &headers, &events, now) {
        Ok(r) => r,
        Err(mut r) => {
            if endpoint == Endpoint::Graphql && r.status == StatusCode::BAD_REQUEST {
                r.status = StatusCode::OK;
            }
            return answer(endpoint, r, call.as_ref());
        }
    };
    let n = recorded.len();
    let report = match queue::enqueue(
        state.queue.as_ref(),
        recorded,
        &state.policy,
        state.mode,
        now,
    )
    .await
    {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "queueing recorded events failed");
            let mut r = refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "the export queue is unavailable; retry later",
            );
            r.retry_after = Some(5);
            return answer(endpoint, r, call.as_ref());
        }
    };
    let events_metric = &state.metrics.events;
    events_metric
        .with_label_values(&["queued"])
        .inc_by(report.queued);
    events_metric
        .with_label_values(&["duplicate"])
        .inc_by(report.duplicates);
    events_metric
        .with_label_values(&["not_exported"])
        .inc_by(report.skipped_by_export_mode);
    state.trigger.queued(report.queued);
    match (endpoint, call) {
        (Endpoint::Graphql, Some(call)) => {
            (StatusCode::OK, axum::Json(json!({ "data": call.data }))).into_response()
        }
        _ => (
            StatusCode::OK,
            axum::Json(json!({
                "recorded": n,
                "queued": report.queued,
                "notExported": report.skipped_by_export_mode,
            })),
        )
            .into_response(),
    }
}

async fn graphql_endpoint(State(state): State<Arc<RelayState>>, request: Request) -> Response {
    handle(state, Endpoint::Graphql, request).await
}

async fn events_endpoint(State(state): State<Arc<RelayState>>, request: Request) -> Response {
    handle(state, Endpoint::Events, request).await
}

/// The recording routes.
pub fn router(state: Arc<RelayState>, cors: tower_http::cors::CorsLayer) -> Router {
    Router::new()
        .route("/.api/graphql", post(graphql_endpoint))
        .route("/telemetry/v1/events", post(events_endpoint))
        .layer(cors)
        .with_state(state)
}

/// CORS for browser apps: the listed origins may post (preflight answered, request headers
/// mirrored, no credentials). `*` needs `allow_any`.
pub fn cors_layer(
    origins: &[String],
    allow_any: bool,
) -> anyhow::Result<tower_http::cors::CorsLayer> {
    use axum::http::Method;
    use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};
    let origins: Vec<&str> = origins
        .iter()
        .map(|o| o.trim())
        .filter(|o| !o.is_empty())
        .collect();
    if origins.is_empty() {
        return Ok(CorsLayer::new());
    }
    let allow = if origins.contains(&"*") {
        anyhow::ensure!(
            allow_any,
            "--cors-allowed-origins '*' lets any web page post events: add --cors-allow-any-origin to mean it"
        );
        tracing::warn!("CORS: any origin may post events (--cors-allow-any-origin)");
        AllowOrigin::any()
    } else {
        AllowOrigin::list(
            origins
                .iter()
                .map(|o| HeaderValue::from_str(o))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| anyhow::anyhow!("invalid CORS origin: {e}"))?,
        )
    };
    Ok(CorsLayer::new()
        .allow_origin(allow)
        .allow_methods([Method::POST, Method::OPTIONS])
        .allow_headers(AllowHeaders::mirror_request())
        .expose_headers([header::RETRY_AFTER])
        .max_age(Duration::from_secs(24 * 60 * 60)))
}

/// `/metrics` (Prometheus text) and `/healthz` (the queue answers).
pub fn diagnostics_router(registry: Registry, queue: Arc<dyn ExportQueue>) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(move || {
                let registry = registry.clone();
                async move {
                    let mut out = Vec::new();
                    let _ = prometheus::Encoder::encode(
                        &prometheus::TextEncoder::new(),
                        &registry.gather(),
                        &mut out,
                    );
                    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out)
                }
            }),
        )
        .route(
            "/healthz",
            get(move || {
                let queue = queue.clone();
                async move {
                    match queue.stats(SystemTime::now()).await {
                        Ok(s) => (
                            StatusCode::OK,
                            axum::Json(json!({"status": "ok", "queue": s})),
                        )
                            .into_response(),
                        Err(e) => (
                            StatusCode::SERVICE_UNAVAILABLE,
                            axum::Json(
                                json!({"status": "queue unavailable", "error": e.to_string()}),
                            ),
                        )
                            .into_response(),
                    }
                }
            }),
        )
}
