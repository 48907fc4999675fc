//! `telemetry-gateway`: a Telemetry Gateway wire-compatible with Sourcegraph's. Instances and
//! managed services export events over gRPC (`telemetrygateway.v1.TelemeteryGatewayService`); the
//! gateway authenticates them, applies the rules of `telemetry_core`, and publishes one message
//! per event to a sink (an NDJSON file or stdout by default, or Google Cloud Pub/Sub).
//!
//! The library exposes [`start`] so integration tests (and `bench`) can run the server
//! in-process.

pub mod admission;
pub mod auth;
pub mod bench;
pub mod config;
pub mod connections;
pub mod export;
pub mod inspector;
pub mod limits;
pub mod log_limit;
pub mod metrics;
pub mod relay;
pub mod server;
pub mod shutdown;
pub mod sink;
pub mod wire;

/// The generated tonic service (messages are `telemetry_core::proto` types).
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod proto {
    include!(concat!(env!("OUT_DIR"), "/client/telemetrygateway.v1.rs"));
    include!(concat!(env!("OUT_DIR"), "/server/telemetrygateway.v1.rs"));

    /// The encoded descriptor set of `telemetrygateway.proto`, for server reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/telemetrygateway_descriptor.bin"));
}

use crate::admission::{AdmissionConfig, AdmissionLayer, Budgets};
use crate::auth::license::LicenseVerifier;
use crate::auth::sams::{SamsAuthenticator, SamsConfig};
use crate::config::ServeArgs;
use crate::connections::ConnectionRegistry;
use crate::log_limit::EventLogLimiter;
use crate::metrics::Metrics;
use crate::proto::telemetery_gateway_service_server::TelemeteryGatewayServiceServer;
use crate::server::{Gateway, GatewayState, LicensePolicy};
use crate::shutdown::{Phase, Shutdown, ShutdownWatch};
use crate::sink::dead_letter::DeadLetters;
use crate::sink::{Sink, SinkOptions};
use anyhow::Context;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The gRPC service name (health reports it).
pub const SERVICE_NAME: &str = "telemetrygateway.v1.TelemeteryGatewayService";

/// A running gateway.
pub struct Running {
    /// The bound gRPC address.
    pub addr: SocketAddr,
    /// The bound diagnostics address, if enabled.
    pub diagnostics_addr: Option<SocketAddr>,
    /// Where events go.
    pub sink_description: String,
    phases: Arc<Shutdown>,
    connections: ConnectionRegistry,
    drain: Duration,
    stop_accepting: Option<oneshot::Sender<()>>,
    handle: JoinHandle<anyhow::Result<()>>,
}

impl Running {
    /// Shuts down in phases (see [`shutdown`]): stop accepting; let open streams finish for the
    /// drain time; end the rest with `Unavailable`; close remaining connections; flush the sinks.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        self.phases.advance(Phase::Draining);
        if let Some(tx) = self.stop_accepting.take() {
            let _ = tx.send(());
        }
        let drained = tokio::time::timeout(self.drain, &mut self.handle).await;
        if let Ok(served) = drained {
            return served?;
        }
        tracing::warn!(
            drain = ?self.drain,
            "drain time over: ending open streams with Unavailable (clients retry what was not acknowledged)"
        );
        self.phases.advance(Phase::Stopping);
        // Let the streams' final statuses go out, then close whatever is still open (clients
        // that do not read).
        if let Ok(served) = tokio::time::timeout(Duration::from_secs(1), &mut self.handle).await {
            return served?;
        }
        self.connections.close_all();
        self.handle.await?
    }

    /// Runs until `signal` completes, then shuts down gracefully.
    pub async fn run_until(
        self,
        signal: impl std::future::Future<Output = ()>,
    ) -> anyhow::Result<()> {
        signal.await;
        tracing::info!(
            drain = ?self.drain,
            "shutting down: no new connections; open streams may finish, then the sink is flushed"
        );
        self.shutdown().await
    }
}

fn cors_layer(origins: &[String], allow_any: bool) -> anyhow::Result<tower_http::cors::CorsLayer> {
    use http::{HeaderName, Method, header::HeaderValue};
    use tower_http::cors::{AllowOrigin, Any, CorsLayer};
    let origins: Vec<&String> = origins.iter().filter(|o| !o.is_empty()).collect();
    if origins.is_empty() {
        return Ok(CorsLayer::new());
    }
    let allow = if origins.iter().any(|o| o.as_str() == "*") {
        anyhow::ensure!(
            allow_any,
            "--cors-allowed-origins '*' lets any web page send events through its visitors' browsers; \
             add --cors-allow-any-origin if that is intended"
        );
        tracing::warn!(
            "CORS allows any origin (--cors-allow-any-origin): any web page can send events to this gateway"
        );
        AllowOrigin::any()
    } else {
        AllowOrigin::list(
            origins
                .iter()
                .map(|o| HeaderValue::from_str(o))
                .collect::<Result<Vec<_>, _>>()
                .context("invalid CORS origin")?,
        )
    };
    Ok(CorsLayer::new()
        .allow_origin(allow)
        .allow_methods([Method::POST, Method::OPTIONS])
        .allow_headers(Any)
        .expose_headers(
            ["grpc-status", "grpc-message", "grpc-status-details-bin"].map(HeaderName::from_static),
        )
        .max_age(Duration::from_secs(24 * 60 * 60)))
}

/// Selects rustls's process-wide crypto provider (ring). Both of rustls's backends are in the
/// dependency tree, so rustls cannot pick one itself and would panic at the first TLS use.
/// Idempotent; called before anything here uses TLS.
pub fn install_crypto_provider() {
    // An error only means a provider is already installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Makes a full disk (or a file-size limit) a write error instead of a crash: without a handler,
/// SIGXFSZ terminates the process when a write would pass RLIMIT_FSIZE.
#[cfg(unix)]
fn survive_file_size_limit() {
    use tokio::signal::unix::{SignalKind, signal};
    if let Ok(mut s) = signal(SignalKind::from_raw(libc::SIGXFSZ)) {
        tokio::spawn(async move { while s.recv().await.is_some() {} });
    }
}

/// Builds everything the options describe, binds the ports, and starts serving.
pub async fn start(args: &ServeArgs) -> anyhow::Result<Running> {
    install_crypto_provider();
    #[cfg(unix)]
    survive_file_size_limit();
    let limits = Arc::new(args.resolve_limits().map_err(anyhow::Error::msg)?);
    if args.baseline && !args.listen.ip().is_loopback() {
        anyhow::bail!(
            "--baseline (acknowledge without checks or publishing, for benchmarks) is only allowed on a loopback --listen address"
        );
    }
    let metrics = Metrics::new();
    let logs = EventLogLimiter::new(limits.log_events_per_second);
    let spec = args.sink_spec().map_err(anyhow::Error::msg)?;
    let sink_options = SinkOptions {
        pubsub_endpoint: args.pubsub_endpoint(),
        fsync: args.sink_fsync,
    };
    let sink = sink::build(&spec, &sink_options).await?;
    let dead_letters = match &args.dead_letter_sink {
        Some(spec) => Some(DeadLetters::new(
            sink::build(spec, &sink_options).await?,
            &limits,
            metrics.clone(),
            logs.clone(),
        )),
        None => None,
    };
    let licenses = if args.insecure_accept_unverified_license_keys {
        tracing::warn!("INSECURE (testing only): license keys are accepted without verification");
        LicensePolicy::InsecureAcceptAny
    } else {
        let mut text = String::new();
        for path in &args.license_public_keys {
            text.push_str(
                &std::fs::read_to_string(path)
                    .with_context(|| format!("reading license public keys {}", path.display()))?,
            );
            text.push('\n');
        }
        let verifier =
            LicenseVerifier::from_openssh(&text).context("parsing license public keys")?;
        if verifier.is_empty() {
            tracing::warn!(
                "no license public keys configured (--license-public-keys): licensed instances will be refused"
            );
        }
        LicensePolicy::Verify(verifier)
    };
    let sams = Arc::new(SamsAuthenticator::new(SamsConfig {
        server_url: args.sams_server(),
        client_id: args.sams_client_id.clone(),
        client_secret: args.sams_client_secret.clone(),
        cache_ttl: Duration::from_secs(args.sams_cache_ttl_seconds),
        cache_capacity: limits.sams_cache_capacity,
        introspections_per_second: limits.sams_introspections_per_second,
        max_token_bytes: limits.max_token_bytes,
    })?);
    let budgets = Budgets::split(limits.max_inflight_bytes);
    let phases = Arc::new(Shutdown::new());
    let diagnostics_on = !(args.diagnostics_listen == "off" || args.diagnostics_listen.is_empty());
    let inspector = inspector::Inspector::from_args(&args.inspector, diagnostics_on)?;
    let state = GatewayState {
        sink: sink.clone(),
        dead_letters: dead_letters.clone(),
        licenses,
        refuse_unlicensed: args.refuse_unlicensed_instances,
        sams,
        publish_concurrency: args.publish_concurrency(),
        max_message_bytes: args.testing_max_event_message_bytes,
        baseline: args.baseline,
        metrics: metrics.clone(),
        limits: limits.clone(),
        budgets: budgets.clone(),
        shutdown: phases.watch(),
        logs,
        inspector: inspector.clone(),
    };

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let addr = listener.local_addr()?;

    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    let health_task = spawn_health_checks(health_reporter, sink.clone(), phases.watch());
    let gauges_task = spawn_gauges(budgets.clone(), metrics.clone());
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;
    let max_message_size = limits.max_message_bytes;
    let service = TelemeteryGatewayServiceServer::new(Gateway::new(state))
        .max_decoding_message_size(max_message_size)
        .max_encoding_message_size(max_message_size);

    let diagnostics_addr = if args.diagnostics_listen == "off" || args.diagnostics_listen.is_empty()
    {
        None
    } else {
        Some(
            start_diagnostics(
                &args.diagnostics_listen,
                metrics.clone(),
                sink.clone(),
                inspector.clone(),
            )
            .await?,
        )
    };

    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => {
            let cert_pem = std::fs::read(cert)
                .with_context(|| format!("reading --tls-cert {}", cert.display()))?;
            let key_pem = std::fs::read(key)
                .with_context(|| format!("reading --tls-key {}", key.display()))?;
            Some(connections::tls_acceptor(&cert_pem, &key_pem).context("configuring TLS")?)
        }
        _ => None,
    };
    let tls_enabled = tls.is_some();
    let admission = AdmissionLayer::new(AdmissionConfig {
        budget: budgets.receive.clone(),
        max_message_bytes: max_message_size,
        max_events_per_payload: limits.max_events_per_payload,
        receive_timeout: limits.receive_timeout,
        response_hard_deadline: limits.stream_deadline
            + limits.publish_timeout
            + Duration::from_secs(10),
    });
    let router = tonic::transport::Server::builder()
        .accept_http1(true)
        .max_concurrent_streams(limits.max_streams_per_connection)
        .http2_keepalive_interval(Some(limits.keepalive_interval))
        .http2_keepalive_timeout(Some(limits.keepalive_timeout))
        .http2_max_header_list_size(limits.max_header_bytes)
        .layer(cors_layer(
            &args.cors_allowed_origins,
            args.cors_allow_any_origin,
        )?)
        .layer(tonic_web::GrpcWebLayer::new())
        .layer(admission)
        .add_service(service)
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha);
    let sink_description = sink.describe();
    tracing::info!(
        listen = %addr,
        diagnostics = %diagnostics_addr.map(|a| a.to_string()).unwrap_or_else(|| "off".into()),
        inspector = %diagnostics_addr.filter(|_| inspector.is_on()).map(|a| format!("http://{a}/inspector/")).unwrap_or_else(|| "off".into()),
        sink = %sink_description,
        dead_letter_sink = %dead_letters.as_ref().map(|d| d.sink().describe()).unwrap_or_else(|| "none".into()),
        publish_concurrency = args.publish_concurrency(),
        max_message_size,
        max_inflight_bytes = limits.max_inflight_bytes,
        max_connections = limits.max_connections,
        tls = tls_enabled,
        "telemetry-gateway listening; events go to {sink_description}"
    );
    let connections = ConnectionRegistry::new(&limits, metrics.clone());
    let incoming = connections::incoming(listener, tls, connections.clone(), &limits);
    let (stop_accepting, stop_accepting_rx) = oneshot::channel::<()>();
    let handle = tokio::spawn(async move {
        let served = router
            .serve_with_incoming_shutdown(incoming, async {
                let _ = stop_accepting_rx.await;
            })
            .await;
        health_task.abort();
        gauges_task.abort();
        // A sink that cannot flush (a hung disk or network) must not keep the process alive.
        let flush = async {
            let flushed = sink.flush().await;
            if let Some(d) = &dead_letters {
                d.sink().flush().await?;
            }
            flushed
        };
        let flushed = tokio::time::timeout(Duration::from_secs(10), flush)
            .await
            .unwrap_or_else(|_| Err(anyhow::anyhow!("flushing the sink timed out after 10 s")));
        tracing::info!("telemetry-gateway stopped; sink flushed");
        served?;
        flushed
    });
    Ok(Running {
        addr,
        diagnostics_addr,
        sink_description,
        phases,
        connections,
        drain: limits.shutdown_drain,
        stop_accepting: Some(stop_accepting),
        handle,
    })
}

/// Keeps the budget gauges current.
fn spawn_gauges(budgets: Budgets, metrics: Metrics) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            for (pool, b) in [("receive", &budgets.receive), ("process", &budgets.process)] {
                metrics
                    .inflight_bytes
                    .with_label_values(&[pool])
                    .set(i64::try_from(b.in_use()).unwrap_or(i64::MAX));
            }
        }
    })
}

fn spawn_health_checks(
    reporter: tonic_health::server::HealthReporter,
    sink: Arc<dyn Sink>,
    mut phases: ShutdownWatch,
) -> JoinHandle<()> {
    use tonic_health::ServingStatus;
    tokio::spawn(async move {
        let mut last: Option<bool> = None;
        loop {
            let draining = phases.phase() != Phase::Running;
            let healthy = !draining
                && match sink.health().await {
                    Ok(()) => true,
                    Err(e) => {
                        if last != Some(false) {
                            tracing::error!(error = %e, "sink is unhealthy");
                        }
                        false
                    }
                };
            if last != Some(healthy) {
                let status = if healthy {
                    ServingStatus::Serving
                } else {
                    ServingStatus::NotServing
                };
                reporter.set_service_status("", status).await;
                reporter.set_service_status(SERVICE_NAME, status).await;
                last = Some(healthy);
            }
            tokio::select! {
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
                () = phases.draining(), if !draining => {}
            }
        }
    })
}

async fn start_diagnostics(
    listen: &str,
    metrics: Metrics,
    sink: Arc<dyn Sink>,
    inspector: inspector::Inspector,
) -> anyhow::Result<SocketAddr> {
    use axum::routing::get;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding diagnostics {listen}"))?;
    let addr = listener.local_addr()?;
    let app = axum::Router::new()
        .route(
            "/metrics",
            get(move || {
                let m = metrics.clone();
                async move {
                    (
                        [(http::header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                        m.render(),
                    )
                }
            }),
        )
        .route(
            "/healthz",
            get(move || {
                let s = sink.clone();
                async move {
                    match s.health().await {
                        Ok(()) => (http::StatusCode::OK, "ok".to_string()),
                        Err(e) => (
                            http::StatusCode::SERVICE_UNAVAILABLE,
                            format!("sink unhealthy: {e}"),
                        ),
                    }
                }
            }),
        )
        .merge(inspector::router(inspector));
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "diagnostics server failed");
        }
    });
    Ok(addr)
}

/// Sets up `tracing` logging to standard error.
pub fn init_logging(format: config::LogFormat, level: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let _ = match format {
        config::LogFormat::Json => builder.json().try_init(),
        config::LogFormat::Compact => builder.compact().try_init(),
    };
}
