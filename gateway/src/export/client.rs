//! The gRPC side of an export run: one `RecordEvents` stream per batch, as the reference's
//! exporter does — metadata first, then the events in `EventsPayload` chunks under 1 MiB
//! ([`telemetry_core::export::plan_chunks`]), then close, then every response read.

use crate::proto::telemetery_gateway_service_client::TelemeteryGatewayServiceClient;
use anyhow::Context;
use prost::Message;
use telemetry_core::export::{MAX_CHUNK_BYTES, plan_chunks};
use telemetry_core::proto::{
    Event, Identifier, RecordEventsRequest, RecordEventsRequestMetadata, record_events_request,
};
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
}

impl ExportClient {
    /// Connects to the gateway.
    pub async fn connect(target: &ExportTarget) -> anyhow::Result<Self> {
        crate::install_crypto_provider();
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
            .connect_timeout(std::time::Duration::from_secs(10))
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

    /// Sends `events` in one `RecordEvents` stream and collects the acknowledged ids.
    pub async fn send(&mut self, events: Vec<Event>) -> SendOutcome {
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
        let mut outcome = SendOutcome {
            chunks: plan.len(),
            ..Default::default()
        };
        let mut request = tonic::Request::new(tokio_stream::iter(messages));
        if let Some(token) = &self.target.token {
            match format!("Bearer {token}").parse() {
                Ok(v) => {
                    request.metadata_mut().insert("authorization", v);
                }
                Err(_) => {
                    outcome.error = Some("the token is not a valid header value".to_string());
                    return outcome;
                }
            }
        }
        let mut responses = match self.client.record_events(request).await {
            Ok(r) => r.into_inner(),
            Err(status) => {
                outcome.error = Some(status_text(&status));
                return outcome;
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
        outcome
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
