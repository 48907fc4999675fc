//! `telemetry-gateway relay`: the instance side as a service. Clients post recordings to
//! `POST /.api/graphql` (the `recordEvents` mutation `@sourcegraph/telemetry` exporters send)
//! or `POST /telemetry/v1/events`; the relay hydrates them ([`hydrate`]), applies the export mode
//! and the redaction policy, commits them to the export queue before answering, and its worker
//! ([`crate::export::worker`]) exports the queue to a gateway with the code
//! `telemetry-gateway export` uses.
//!
//! ```sh
//! telemetry-gateway relay --gateway http://127.0.0.1:10080 --unlicensed --instance-id my-instance
//! curl -s http://127.0.0.1:10082/.api/graphql -H 'content-type: application/json' -d '{"query":
//!   "mutation($e:[TelemetryEventInput!]!){telemetry{recordEvents(events:$e){alwaysNil}}}",
//!   "variables":{"e":[{"feature":"search","action":"submitted","source":{"client":"curl"},
//!   "parameters":{"version":0}}]}}'
//! ```
//!
//! Every limit ([`http::Limits`]) is on by default and answered with a clear status: 413 (body
//! or events per call), 429 (request rate, with `Retry-After`), 503 (concurrent requests, or the
//! queue unavailable), 408 (a body not received in time). Connections are bounded in number and
//! closed when idle ([`conn`]).

pub mod conn;
pub mod graphql;
pub mod http;
pub mod hydrate;

use crate::config::LogFormat;
use crate::export::metrics::ExportMetrics;
use crate::export::run::Exporter;
use crate::export::worker::{self, ExportTrigger, WorkerOptions};
use crate::export::{PolicyArgs, QueueArgs, RunArgs, TargetArgs, queue};
use anyhow::Context;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use telemetry_core::ExportMode;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The default recording address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:10082";
/// The default diagnostics (`/metrics`, `/healthz`) address.
pub const DEFAULT_DIAGNOSTICS_LISTEN: &str = "127.0.0.1:10083";

/// Options of `telemetry-gateway relay`.
#[derive(Debug, Clone, clap::Args)]
pub struct RelayArgs {
    /// Address for the recording endpoints.
    #[arg(long, env = "TELEMETRY_RELAY_LISTEN", default_value = DEFAULT_LISTEN)]
    pub listen: SocketAddr,

    /// Address for `/metrics` and `/healthz`, or `off`.
    #[arg(long, env = "TELEMETRY_RELAY_DIAGNOSTICS_LISTEN", default_value = DEFAULT_DIAGNOSTICS_LISTEN)]
    pub diagnostics_listen: String,

    #[command(flatten)]
    pub queue: QueueArgs,

    #[command(flatten)]
    pub target: TargetArgs,

    #[command(flatten)]
    pub policy: PolicyArgs,

    #[command(flatten)]
    pub runs: RunArgs,

    /// Header holding the authenticated numeric user id, set by a trusted authenticating proxy
    /// in front of the relay (which must strip it from client requests). Unset: no user id.
    #[arg(long, env = "TELEMETRY_RELAY_USER_ID_HEADER")]
    pub user_id_header: Option<String>,

    /// Header holding the request's evaluated feature flags (`name=true,other=false`), set by
    /// a trusted proxy. Unset: no flags.
    #[arg(long, env = "TELEMETRY_RELAY_FEATURE_FLAGS_HEADER")]
    pub feature_flags_header: Option<String>,

    /// Browser origins allowed to post cross-origin (CORS), comma-separated.
    #[arg(
        long,
        env = "TELEMETRY_RELAY_CORS_ALLOWED_ORIGINS",
        value_delimiter = ','
    )]
    pub cors_allowed_origins: Vec<String>,

    /// Allow `*` in --cors-allowed-origins (any web page may then post events).
    #[arg(long)]
    pub cors_allow_any_origin: bool,

    /// Largest request body, bytes (413 above).
    #[arg(long, env = "TELEMETRY_RELAY_MAX_BODY_BYTES", default_value_t = http::DEFAULT_MAX_BODY_BYTES)]
    pub max_body_bytes: usize,

    /// Most events in one call (413 above).
    #[arg(long, env = "TELEMETRY_RELAY_MAX_EVENTS_PER_REQUEST", default_value_t = http::DEFAULT_MAX_EVENTS)]
    pub max_events_per_request: usize,

    /// Requests per second accepted, over all clients (429 with Retry-After above).
    #[arg(long, env = "TELEMETRY_RELAY_RATE_LIMIT_PER_SECOND", default_value_t = http::DEFAULT_RATE_PER_SECOND)]
    pub rate_limit_per_second: u32,

    /// Requests allowed in a burst above the rate.
    #[arg(long, env = "TELEMETRY_RELAY_RATE_LIMIT_BURST", default_value_t = http::DEFAULT_RATE_BURST)]
    pub rate_limit_burst: u32,

    /// Requests processed at once (503 with Retry-After above).
    #[arg(long, env = "TELEMETRY_RELAY_MAX_CONCURRENT_REQUESTS", default_value_t = http::DEFAULT_MAX_CONCURRENT)]
    pub max_concurrent_requests: usize,

    /// Connections open at once; beyond it the relay stops accepting until one closes.
    #[arg(long, env = "TELEMETRY_RELAY_MAX_CONNECTIONS", default_value_t = 1024)]
    pub max_connections: usize,

    /// Seconds a connection may stay silent (idle keep-alive, or a stalled request) before it
    /// is closed.
    #[arg(
        long,
        env = "TELEMETRY_RELAY_IDLE_TIMEOUT_SECONDS",
        default_value_t = 60
    )]
    pub idle_timeout_seconds: u64,

    /// Seconds a client has to send its request body (408 after).
    #[arg(
        long,
        env = "TELEMETRY_RELAY_REQUEST_TIMEOUT_SECONDS",
        default_value_t = 30
    )]
    pub request_timeout_seconds: u64,

    /// Seconds between exports (upstream `TELEMETRY_GATEWAY_EXPORTER_EXPORT_INTERVAL`: 5m).
    #[arg(
        long,
        env = "TELEMETRY_RELAY_EXPORT_INTERVAL_SECONDS",
        default_value_t = 300.0
    )]
    pub export_interval_seconds: f64,

    /// Export at once when this many events were queued since the last export (0: never).
    #[arg(
        long,
        env = "TELEMETRY_RELAY_EXPORT_SIZE_TRIGGER",
        default_value_t = 5_000
    )]
    pub export_size_trigger: u64,

    /// Seconds between cleanups of exported events (upstream: 30m).
    #[arg(
        long,
        env = "TELEMETRY_RELAY_CLEANUP_INTERVAL_SECONDS",
        default_value_t = 1800.0
    )]
    pub cleanup_interval_seconds: f64,

    /// Seconds between refreshes of the queue gauges.
    #[arg(long, default_value_t = 30.0)]
    pub metrics_interval_seconds: f64,

    /// On shutdown: seconds requests in flight and a running export may still take.
    #[arg(
        long,
        env = "TELEMETRY_RELAY_SHUTDOWN_GRACE_SECONDS",
        default_value_t = 10.0
    )]
    pub shutdown_grace_seconds: f64,

    /// Only queue: run no exporter (another process or replica exports this queue).
    #[arg(long)]
    pub no_export: bool,

    /// Log format.
    #[arg(long, value_enum, default_value = "compact")]
    pub log_format: LogFormat,

    /// Log filter (tracing `EnvFilter` syntax; `RUST_LOG` wins).
    #[arg(long, default_value = "info")]
    pub log_level: String,
}

fn seconds(name: &str, v: f64) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(v)
        .ok()
        .filter(|d| !d.is_zero() && *d <= Duration::from_secs(7 * 24 * 3600))
        .with_context(|| format!("--{name} must be more than 0 and at most a week"))
}

/// A running relay.
pub struct RunningRelay {
    /// The bound recording address.
    pub addr: SocketAddr,
    /// The bound diagnostics address.
    pub diagnostics_addr: Option<SocketAddr>,
    shutdown: watch::Sender<bool>,
    http: JoinHandle<()>,
    diagnostics: Option<JoinHandle<()>>,
    worker: Option<worker::Worker>,
    grace: Duration,
}

impl RunningRelay {
    /// Stops accepting, lets requests in flight finish (bounded by the grace period), lets a
    /// running export finish or abandons it after the grace period, and waits for all of it.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let mut http = self.http;
        if tokio::time::timeout(self.grace + Duration::from_secs(1), &mut http)
            .await
            .is_err()
        {
            tracing::warn!("requests still in flight after the grace period: closing them");
            http.abort();
        }
        if let Some(w) = self.worker {
            w.join().await;
        }
        if let Some(d) = self.diagnostics {
            d.abort();
        }
        tracing::info!("relay stopped");
    }
}

/// Builds the relay the options describe, binds its ports, and starts serving and exporting.
pub async fn start(args: &RelayArgs) -> anyhow::Result<RunningRelay> {
    crate::install_crypto_provider();
    let run_opts = args.runs.options()?;
    let policy = args.policy.redaction_policy()?;
    let mode = args.policy.export_mode(args.target.license_state());
    let grace = Duration::try_from_secs_f64(args.shutdown_grace_seconds)
        .ok()
        .filter(|d| *d <= Duration::from_secs(3600))
        .context("--shutdown-grace-seconds must be from 0 to 3600")?;
    let worker_opts = WorkerOptions {
        interval: seconds("export-interval-seconds", args.export_interval_seconds)?,
        size_trigger: args.export_size_trigger,
        cleanup_interval: seconds("cleanup-interval-seconds", args.cleanup_interval_seconds)?,
        metrics_interval: seconds("metrics-interval-seconds", args.metrics_interval_seconds)?,
        shutdown_grace: grace,
    };
    anyhow::ensure!(
        worker_opts.interval <= Duration::from_secs(3600),
        "--export-interval-seconds must be at most 3600 (as upstream)"
    );
    let target = if args.no_export || mode == ExportMode::Disabled {
        None
    } else {
        Some(args.target.target().context(
            "the relay exports its queue: give --gateway and an identifier, or --no-export",
        )?)
    };
    let limits = http::Limits {
        max_body_bytes: args.max_body_bytes.max(1024),
        max_events: args.max_events_per_request.max(1),
        rate_per_second: args.rate_limit_per_second.max(1),
        rate_burst: args.rate_limit_burst.max(1),
        max_concurrent: args.max_concurrent_requests.max(1),
        request_timeout: Duration::from_secs(args.request_timeout_seconds.clamp(1, 3600)),
    };
    let cors = http::cors_layer(&args.cors_allowed_origins, args.cors_allow_any_origin)?;

    let queue: Arc<dyn queue::ExportQueue> = Arc::from(
        queue::open(&args.queue.queue)
            .await
            .with_context(|| format!("opening queue {}", args.queue.queue.describe()))?,
    );
    let registry = prometheus::Registry::new();
    let export_metrics = ExportMetrics::register(&registry)?;
    let relay_metrics = http::RelayMetrics::register(&registry)?;
    let trigger = Arc::new(ExportTrigger::new(args.export_size_trigger));
    let (shutdown, shutdown_rx) = watch::channel(false);

    let state = Arc::new(http::RelayState::new(
        queue.clone(),
        policy,
        mode,
        hydrate::HydrationConfig {
            server_version: args.policy.server_version.clone(),
            user_id_header: args.user_id_header.as_ref().map(|h| h.to_ascii_lowercase()),
            feature_flags_header: args
                .feature_flags_header
                .as_ref()
                .map(|h| h.to_ascii_lowercase()),
        },
        limits,
        relay_metrics,
        trigger.clone(),
    ));

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let addr = listener.local_addr()?;
    let listener = conn::BoundedListener::new(
        listener,
        args.max_connections.max(1),
        Duration::from_secs(args.idle_timeout_seconds.clamp(1, 24 * 3600)),
    );
    let app = http::router(state, cors);
    let mut stop = shutdown_rx.clone();
    let http_task = tokio::spawn(async move {
        let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
            let _ = stop.wait_for(|s| *s).await;
        });
        if let Err(e) = serve.await {
            tracing::error!(error = %e, "relay HTTP server failed");
        }
    });

    let (diagnostics_addr, diagnostics) = if args.diagnostics_listen == "off" {
        (None, None)
    } else {
        let addr: SocketAddr = args
            .diagnostics_listen
            .parse()
            .context("--diagnostics-listen must be HOST:PORT or off")?;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding {addr}"))?;
        let bound = listener.local_addr()?;
        let app = http::diagnostics_router(registry, queue.clone());
        (
            Some(bound),
            Some(tokio::spawn(async move {
                let _ = axum::serve(listener, app).await;
            })),
        )
    };

    let worker = target.map(|target| {
        let exporter = Exporter::new(
            queue.clone(),
            target,
            run_opts.clone(),
            Some(export_metrics.clone()),
        );
        worker::spawn(
            exporter,
            worker_opts.clone(),
            trigger,
            export_metrics.clone(),
            shutdown_rx.clone(),
        )
    });
    if worker.is_none() {
        tracing::warn!(
            export_mode = ?mode,
            "the relay only queues (no exporter): --no-export or export mode disabled"
        );
    }
    tracing::info!(
        listen = %addr,
        diagnostics = diagnostics_addr.map(|a| a.to_string()).unwrap_or_else(|| "off".into()),
        queue = %queue.describe(),
        gateway = args.target.gateway.as_deref().unwrap_or("none"),
        export_mode = ?mode,
        "relay listening"
    );
    Ok(RunningRelay {
        addr,
        diagnostics_addr,
        shutdown,
        http: http_task,
        diagnostics,
        worker,
        grace,
    })
}

/// Runs the relay until `signal` completes, then shuts down gracefully.
pub async fn run(
    args: RelayArgs,
    signal: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let relay = start(&args).await?;
    signal.await;
    tracing::info!("shutting down: finishing requests in flight and the export run");
    relay.shutdown().await;
    Ok(())
}
