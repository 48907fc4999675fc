//! `telemetry-gateway`: a Telemetry Gateway wire-compatible with Sourcegraph's. Instances and
//! managed services export events over gRPC (`telemetrygateway.v1.TelemeteryGatewayService`); the
//! gateway authenticates them, applies the rules of `telemetry_core`, and publishes one message
//! per event to a sink (an NDJSON file or stdout by default, or Google Cloud Pub/Sub).
//!
//! The library exposes [`start`] so integration tests (and `bench`) can run the server
//! in-process.

pub mod auth;
pub mod bench;
pub mod config;
pub mod export;
pub mod inspector;
pub mod metrics;
pub mod server;
pub mod sink;

/// The generated tonic service (messages are `telemetry_core::proto` types).
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod proto {
    include!(concat!(env!("OUT_DIR"), "/telemetrygateway.v1.rs"));

    /// The encoded descriptor set of `telemetrygateway.proto`, for server reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/telemetrygateway_descriptor.bin"));
}

use crate::auth::license::LicenseVerifier;
use crate::auth::sams::{SamsAuthenticator, SamsConfig};
use crate::config::ServeArgs;
use crate::metrics::Metrics;
use crate::proto::telemetery_gateway_service_server::TelemeteryGatewayServiceServer;
use crate::server::{Gateway, GatewayState, LicensePolicy};
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
    shutdown: Option<oneshot::Sender<()>>,
    handle: JoinHandle<anyhow::Result<()>>,
}

impl Running {
    /// Stops accepting, finishes in-flight streams, flushes the sinks.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.handle.await?
    }

    /// Runs until `signal` completes, then shuts down gracefully.
    pub async fn run_until(
        self,
        signal: impl std::future::Future<Output = ()>,
    ) -> anyhow::Result<()> {
        signal.await;
        tracing::info!("shutting down: finishing in-flight requests and flushing the sink");
        self.shutdown().await
    }
}

fn cors_layer(origins: &[String]) -> anyhow::Result<tower_http::cors::CorsLayer> {
    use http::{HeaderName, Method, header::HeaderValue};
    use tower_http::cors::{AllowOrigin, Any, CorsLayer};
    let origins: Vec<&String> = origins.iter().filter(|o| !o.is_empty()).collect();
    if origins.is_empty() {
        return Ok(CorsLayer::new());
    }
    let allow = if origins.iter().any(|o| o.as_str() == "*") {
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

/// Builds everything the options describe, binds the ports, and starts serving.
pub async fn start(args: &ServeArgs) -> anyhow::Result<Running> {
    install_crypto_provider();
    let spec = args.sink_spec().map_err(anyhow::Error::msg)?;
    let sink_options = SinkOptions {
        pubsub_endpoint: args.pubsub_endpoint(),
    };
    let sink = sink::build(&spec, &sink_options).await?;
    let dead_letters = match &args.dead_letter_sink {
        Some(spec) => Some(DeadLetters::new(sink::build(spec, &sink_options).await?)),
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
    })?);
    let metrics = Metrics::new();
    let max_message_size = args.max_message_size().map_err(anyhow::Error::msg)?;
    let publish_timeout = Duration::try_from_secs_f64(args.publish_timeout_seconds)
        .ok()
        .filter(|d| !d.is_zero())
        .context("--publish-timeout-seconds must be positive")?;
    let diagnostics_on = !(args.diagnostics_listen == "off" || args.diagnostics_listen.is_empty());
    let inspector = inspector::Inspector::from_args(&args.inspector, diagnostics_on)?;
    let state = GatewayState {
        sink: sink.clone(),
        dead_letters: dead_letters.clone(),
        licenses,
        refuse_unlicensed: args.refuse_unlicensed_instances,
        sams,
        publish_concurrency: args.publish_concurrency(),
        publish_timeout,
        max_message_bytes: args.testing_max_event_message_bytes,
        baseline: args.baseline,
        metrics: metrics.clone(),
        inspector: inspector.clone(),
    };

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let addr = listener.local_addr()?;

    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    let health_task = spawn_health_checks(health_reporter, sink.clone());
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;
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
                metrics,
                sink.clone(),
                inspector.clone(),
            )
            .await?,
        )
    };

    let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
    let mut builder = tonic::transport::Server::builder();
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => {
            let cert_pem = std::fs::read(cert)
                .with_context(|| format!("reading --tls-cert {}", cert.display()))?;
            let key_pem = std::fs::read(key)
                .with_context(|| format!("reading --tls-key {}", key.display()))?;
            builder = builder
                .tls_config(
                    tonic::transport::ServerTlsConfig::new()
                        .identity(tonic::transport::Identity::from_pem(cert_pem, key_pem)),
                )
                .context("configuring TLS")?;
            true
        }
        _ => false,
    };
    let router = builder
        .accept_http1(true)
        .layer(cors_layer(&args.cors_allowed_origins)?)
        .layer(tonic_web::GrpcWebLayer::new())
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
        tls,
        "telemetry-gateway listening; events go to {sink_description}"
    );
    let handle = tokio::spawn(async move {
        let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
        let served = router
            .serve_with_incoming_shutdown(incoming, async {
                let _ = shutdown_rx.await;
            })
            .await;
        health_task.abort();
        let flushed = sink.flush().await;
        if let Some(d) = &dead_letters {
            d.sink().flush().await?;
        }
        tracing::info!("telemetry-gateway stopped; sink flushed");
        served?;
        flushed
    });
    Ok(Running {
        addr,
        diagnostics_addr,
        sink_description,
        shutdown: Some(shutdown_tx),
        handle,
    })
}

fn spawn_health_checks(
    reporter: tonic_health::server::HealthReporter,
    sink: Arc<dyn Sink>,
) -> JoinHandle<()> {
    use tonic_health::ServingStatus;
    tokio::spawn(async move {
        let mut last: Option<bool> = None;
        loop {
            let healthy = match sink.health().await {
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
            tokio::time::sleep(Duration::from_secs(5)).await;
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
