//! The gRPC side of an export run: one `RecordEvents` stream per batch, as the reference's
//! exporter does — metadata first, then the events in `EventsPayload` chunks under 1 MiB
//! ([`telemetry_core::export::plan_chunks`]), then close, then every response read.
//!
//! Every stream has a deadline ([`ExportTarget::run_timeout`]); the connection uses HTTP/2
//! keepalive (the reference's values: a ping every 20 s, 10 s to answer, also while idle); and
//! `http://` (plaintext) is refused for a host that is not a loopback address unless
//! [`ExportTarget::allow_insecure_http`] is set.

use crate::proto::telemetery_gateway_service_client::TelemeteryGatewayServiceClient;
use anyhow::Context;
use prost::Message;
use std::time::Duration;
use telemetry_core::export::{MAX_CHUNK_BYTES, plan_chunks};
use telemetry_core::proto::{
    Event, Identifier, RecordEventsRequest, RecordEventsRequestMetadata, record_events_request,
};
use tokio::time::Instant;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};

/// The client's largest accepted response (the reference: 90 MiB).
const MAX_RECEIVE_BYTES: usize = 90 * 1024 * 1024;

/// Where and as whom to export.
#[derive(Debug, Clone)]
pub struct ExportTarget {
    /// `http://HOST:PORT` (plaintext, for loopback and development) or `https://HOST[:PORT]`
    /// (TLS with the Mozilla root store).
    pub gateway: String,
    /// The identifier sent in every stream's metadata.
    pub identifier: Identifier,
    /// A bearer token for managed services (`authorization: Bearer …`).
    pub token: Option<String>,
    /// Extra trusted root certificates (PEM) for `https://` gateways with a private CA, on top
    /// of the Mozilla root store.
    pub ca_cert_pem: Option<Vec<u8>>,
    /// Allow `http://` (plaintext) to a host that is not a loopback address.
    pub allow_insecure_http: bool,
    /// The deadline of one `RecordEvents` stream (one run): what was acknowledged before it
    /// passes is kept, the rest is retried.
    pub run_timeout: Duration,
    /// HTTP/2 keepalive ping interval ([`KEEPALIVE_INTERVAL`]; shorter in tests).
    pub keepalive_interval: Duration,
}

/// The default deadline of one run (the reference gateway's HTTP timeout is 2 minutes).
pub const DEFAULT_RUN_TIMEOUT: Duration = Duration::from_secs(120);
/// HTTP/2 keepalive ping interval (the reference's `Dial`: 20 s).
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(20);
/// Time for a keepalive ping to be answered (the reference: 10 s).
pub const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(10);

impl ExportTarget {
    /// A target with the default deadline and `http://` allowed only to loopback hosts.
    pub fn new(gateway: impl Into<String>, identifier: Identifier) -> Self {
        ExportTarget {
            gateway: gateway.into(),
            identifier,
            token: None,
            ca_cert_pem: None,
            allow_insecure_http: false,
            run_timeout: DEFAULT_RUN_TIMEOUT,
            keepalive_interval: KEEPALIVE_INTERVAL,
        }
    }
}

/// Whether a URI host is a loopback address (`localhost`, 127.0.0.0/8, `::1`).
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    host.parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

/// Checks the gateway URL's scheme: `https://` anywhere, `http://` only to loopback hosts
/// unless `allow_insecure_http`.
pub fn check_gateway_url(url: &str, allow_insecure_http: bool) -> anyhow::Result<()> {
    let uri: http::Uri = url
        .parse()
        .with_context(|| format!("invalid gateway URL {url:?}"))?;
    match uri.scheme_str() {
        Some("https") => Ok(()),
        Some("http") => {
            let host = uri.host().unwrap_or("");
            anyhow::ensure!(
                allow_insecure_http || is_loopback_host(host),
                "refusing plaintext http:// to {host:?}, which is not a loopback address: use \
                 https://, or pass --allow-insecure-http to send events unencrypted"
            );
            Ok(())
        }
        _ => anyhow::bail!("gateway URL {url:?} must start with http:// or https://"),
    }
}

/// A connected exporter client.
pub struct ExportClient {
    client: TelemeteryGatewayServiceClient<Channel>,
    target: ExportTarget,
}

/// The outcome of one `RecordEvents` stream.
#[derive(Debug, Default)]
pub struct SendOutcome {
    /// Every id the gateway reported as succeeded (possibly including ids not sent).
    pub succeeded: Vec<String>,
    /// The stream's error, if it failed; `succeeded` still holds what was acknowledged before.
    pub error: Option<String>,
    /// Payload messages sent.
    pub chunks: usize,
    /// The stream ended normally (every response read): ids sent but not acknowledged were
    /// refused by the gateway.
    pub completed: bool,
    /// The run's deadline passed.
    pub deadline_exceeded: bool,
}

impl ExportClient {
    /// Connects to the gateway.
    pub async fn connect(target: &ExportTarget) -> anyhow::Result<Self> {
        crate::install_crypto_provider();
        check_gateway_url(&target.gateway, target.allow_insecure_http)?;
        let mut endpoint = Endpoint::from_shared(target.gateway.clone())
            .with_context(|| format!("invalid gateway URL {:?}", target.gateway))?;
        match endpoint.uri().scheme_str() {
            Some("https") => {
                let mut tls = ClientTlsConfig::new().with_webpki_roots();
                if let Some(pem) = &target.ca_cert_pem {
                    tls = tls.ca_certificate(tonic::transport::Certificate::from_pem(pem));
                }
                endpoint = endpoint.tls_config(tls).context("configuring TLS")?;
            }
            Some("http") => {}
            _ => anyhow::bail!(
                "gateway URL {:?} must start with http:// or https://",
                target.gateway
            ),
        }
        let channel = endpoint
            .connect_timeout(Duration::from_secs(10))
            .http2_keep_alive_interval(target.keepalive_interval)
            .keep_alive_timeout(KEEPALIVE_TIMEOUT)
            .keep_alive_while_idle(true)
            .timeout(target.run_timeout)
            .connect()
            .await
            .with_context(|| format!("connecting to {}", target.gateway))?;
        Ok(ExportClient {
            client: TelemeteryGatewayServiceClient::new(channel)
                .max_decoding_message_size(MAX_RECEIVE_BYTES)
                .max_encoding_message_size(usize::MAX),
            target: target.clone(),
        })
    }

    /// Sends `events` in one `RecordEvents` stream and collects the acknowledged ids, until the
    /// stream ends, the run's deadline passes, or `cancel` completes (shutdown): then the
    /// stream is dropped and what was acknowledged so far is returned with an error.
    pub async fn send(
        &mut self,
        events: Vec<Event>,
        cancel: impl std::future::Future<Output = ()>,
    ) -> SendOutcome {
        let deadline = Instant::now() + self.target.run_timeout;
        let mut outcome = SendOutcome::default();
        let cancel = std::pin::pin!(cancel);
        // Some(true): the deadline passed; Some(false): cancelled; None: the stream ended.
        let interrupted = {
            let run = self.send_until_done(events, &mut outcome);
            tokio::select! {
                () = run => None,
                () = tokio::time::sleep_until(deadline) => Some(true),
                () = cancel => Some(false),
            }
        };
        match interrupted {
            Some(true) => {
                outcome.completed = false;
                outcome.deadline_exceeded = true;
                outcome.error = Some(format!(
                    "the run's deadline ({}s) passed",
                    self.target.run_timeout.as_secs_f64()
                ));
            }
            Some(false) => {
                outcome.completed = false;
                outcome.error = Some("the run was abandoned (shutting down)".to_string());
            }
            None => {}
        }
        outcome
    }

    async fn send_until_done(&mut self, events: Vec<Event>, outcome: &mut SendOutcome) {
        let sizes: Vec<usize> = events.iter().map(Message::encoded_len).collect();
        let plan = plan_chunks(&sizes, MAX_CHUNK_BYTES);
        let mut messages = Vec::with_capacity(plan.len() + 1);
        messages.push(RecordEventsRequest {
            payload: Some(record_events_request::Payload::Metadata(
                RecordEventsRequestMetadata {
                    request_id: uuid::Uuid::new_v4().to_string(),
                    identifier: Some(self.target.identifier.clone()),
                },
            )),
        });
        let mut events = events.into_iter();
        for range in &plan {
            messages.push(RecordEventsRequest {
                payload: Some(record_events_request::Payload::Events(
                    record_events_request::EventsPayload {
                        events: events.by_ref().take(range.len()).collect(),
                    },
                )),
            });
        }
        outcome.chunks = plan.len();
        let mut request = tonic::Request::new(tokio_stream::iter(messages));
        if let Some(token) = &self.target.token {
            match format!("Bearer {token}").parse() {
                Ok(v) => {
                    request.metadata_mut().insert("authorization", v);
                }
                Err(_) => {
                    outcome.error = Some("the token is not a valid header value".to_string());
                    return;
                }
            }
        }
        let mut responses = match self.client.record_events(request).await {
            Ok(r) => r.into_inner(),
            Err(status) => {
                outcome.error = Some(status_text(&status));
                return;
            }
        };
        loop {
            match responses.message().await {
                Ok(Some(r)) => outcome.succeeded.extend(r.succeeded_events),
                Ok(None) => break,
                Err(status) => {
                    outcome.error = Some(status_text(&status));
                    break;
                }
            }
        }
        outcome.completed = outcome.error.is_none();
    }
}

fn status_text(status: &tonic::Status) -> String {
    use std::error::Error;
    let mut s = format!("{:?}: {}", status.code(), status.message());
    let mut source = status.source();
    while let Some(e) = source {
        s.push_str(": ");
        s.push_str(&e.to_string());
        source = e.source();
    }
    s
}
