//! The `TelemeteryGatewayService`: the `RecordEvents` stream state machine, the unary
//! `RecordEvent`, and the mapping of every failure to the reference's gRPC status.
//!
//! Every per-event rule comes from `telemetry_core`; this module only authenticates, publishes
//! the core's messages with bounded concurrency, and acknowledges what the sink accepted.

use crate::auth::license::LicenseVerifier;
use crate::auth::sams::SamsAuthenticator;
use crate::metrics::Metrics;
use crate::proto::telemetery_gateway_service_server::TelemeteryGatewayService;
use crate::sink::Sink;
use crate::sink::dead_letter::{DeadLetters, Rejection};
use futures::StreamExt;
use std::sync::Arc;
use std::time::{Duration, Instant};
use telemetry_core::proto::{
    Event, RecordEventRequest, RecordEventResponse, RecordEventsRequest,
    RecordEventsRequestMetadata, RecordEventsResponse, record_events_request,
};
use telemetry_core::{Acknowledgement, Identity, MetadataError, Outcome, Publisher, Rpc};
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status, Streaming};

/// How a licensed instance's key is checked.
#[derive(Clone)]
pub enum LicensePolicy {
    /// Verify the key's signature against these public keys.
    Verify(LicenseVerifier),
    /// TESTING ONLY: accept any license key without decoding it.
    InsecureAcceptAny,
}

/// What the service needs; built by [`crate::start`].
#[derive(Clone)]
pub struct GatewayState {
    /// Where messages go.
    pub sink: Arc<dyn Sink>,
    /// Where rejected events go, if anywhere.
    pub dead_letters: Option<DeadLetters>,
    /// License checking.
    pub licenses: LicensePolicy,
    /// Refuse unlicensed instances (`PermissionDenied`).
    pub refuse_unlicensed: bool,
    /// Managed-service token checks.
    pub sams: Arc<SamsAuthenticator>,
    /// Publishes in flight per payload.
    pub publish_concurrency: usize,
    /// A publish slower than this fails (the event is not acknowledged).
    pub publish_timeout: Duration,
    /// Messages of this many bytes or more are dropped (the core's oversize rule).
    pub max_message_bytes: usize,
    /// Benchmark baseline: decode and acknowledge every event without checks or publishing.
    pub baseline: bool,
    /// Metrics.
    pub metrics: Metrics,
    /// The live event inspector (a no-op when off).
    pub inspector: crate::inspector::Inspector,
}

/// The gRPC service.
#[derive(Clone)]
pub struct Gateway {
    state: Arc<GatewayState>,
}

impl Gateway {
    /// Creates the service.
    pub fn new(state: GatewayState) -> Self {
        Gateway {
            state: Arc::new(state),
        }
    }
}

/// The status for a metadata check failure.
pub fn metadata_status(e: MetadataError) -> Status {
    match e {
        MetadataError::InstanceIdRequired | MetadataError::ServiceIdRequired => {
            Status::invalid_argument(e.to_string())
        }
        MetadataError::UnsupportedIdentifier => Status::unimplemented(e.to_string()),
    }
}

fn rpc_name(rpc: Rpc) -> &'static str {
    match rpc {
        Rpc::RecordEvents => "RecordEvents",
        Rpc::RecordEvent => "RecordEvent",
    }
}

fn kind_label(p: &Publisher) -> &'static str {
    match p.kind {
        telemetry_core::PublisherKind::LicensedInstance => "licensed_instance",
        telemetry_core::PublisherKind::UnlicensedInstance => "unlicensed_instance",
        telemetry_core::PublisherKind::ManagedService => "managed_service",
        telemetry_core::PublisherKind::Unknown => "unknown",
    }
}

/// An identity that passed the metadata checks, owned (so no borrow is held across awaits).
enum Owned {
    Licensed(String),
    Unlicensed(String),
    Managed(String),
}

impl From<Identity<'_>> for Owned {
    fn from(i: Identity<'_>) -> Self {
        match i {
            Identity::LicensedInstance { license_key } => Owned::Licensed(license_key.to_string()),
            Identity::UnlicensedInstance { instance_id } => {
                Owned::Unlicensed(instance_id.to_string())
            }
            Identity::ManagedService { service_id } => Owned::Managed(service_id.to_string()),
        }
    }
}

/// One event's final state: its id, acknowledgement, and error text if it failed.
struct Processed {
    id: String,
    ack: Acknowledgement,
    error: Option<String>,
}

impl GatewayState {
    /// Authenticates an identity that passed the metadata checks.
    async fn authenticate(
        &self,
        identity: Owned,
        metadata: &RecordEventsRequestMetadata,
        headers: &MetadataMap,
    ) -> Result<(), Status> {
        match identity {
            Owned::Licensed(license_key) => {
                if let LicensePolicy::Verify(verifier) = &self.licenses {
                    let info = verifier.verify(&license_key).map_err(|e| {
                        Status::invalid_argument(format!("invalid license_key: {e}"))
                    })?;
                    tracing::info!(
                        request_id = %metadata.request_id,
                        license.salesforce_opportunity_id = info.salesforce_opportunity_id.as_deref().unwrap_or(""),
                        license.salesforce_subscription_id = info.salesforce_subscription_id.as_deref().unwrap_or(""),
                        "handling events submission stream for licensed instance"
                    );
                }
                Ok(())
            }
            Owned::Unlicensed(instance_id) => {
                if self.refuse_unlicensed {
                    return Err(Status::permission_denied(
                        "unlicensed instances are not accepted by this gateway",
                    ));
                }
                tracing::info!(request_id = %metadata.request_id, %instance_id, "handling events submission stream for unlicensed instance");
                Ok(())
            }
            Owned::Managed(service_id) => {
                self.sams.check_write_events_scope(headers).await?;
                tracing::info!(request_id = %metadata.request_id, %service_id, "handling events submission stream for managed service");
                Ok(())
            }
        }
    }

    /// Publishes one message within the publish timeout, recording metrics.
    async fn publish_one(
        &self,
        i: usize,
        m: &telemetry_core::Message,
        kind: &'static str,
    ) -> (usize, Result<(), crate::sink::SinkError>) {
        let t = Instant::now();
        let r = match tokio::time::timeout(self.publish_timeout, self.sink.publish(m)).await {
            Ok(r) => r,
            Err(_) => Err(anyhow::anyhow!(
                "publish timed out after {:?}",
                self.publish_timeout
            )),
        };
        let result = if r.is_ok() { "ok" } else { "error" };
        self.metrics
            .publish_latency
            .with_label_values(&[result])
            .observe(t.elapsed().as_secs_f64());
        if r.is_ok() {
            self.metrics
                .message_bytes
                .with_label_values(&[kind])
                .observe(m.data.len() as f64);
        }
        (i, r)
    }

    /// Runs one payload through the core, publishes, and returns each event's final state.
    async fn process(
        &self,
        publisher: &Publisher,
        request_id: &str,
        events: Vec<Event>,
        rpc: Rpc,
    ) -> Vec<Processed> {
        let started = Instant::now();
        let rpc_label = rpc_name(rpc);
        self.metrics
            .payload_events
            .with_label_values(&[rpc_label])
            .observe(events.len() as f64);
        if self.baseline {
            return events
                .into_iter()
                .map(|e| Processed {
                    id: e.id,
                    ack: Acknowledgement::Published,
                    error: None,
                })
                .collect();
        }
        let originals = self.dead_letters.as_ref().map(|_| events.clone());
        let mut inspected = self
            .inspector
            .payload(publisher, request_id, rpc_label, &events);
        let outcomes = telemetry_core::ingest(publisher, events, rpc, self.max_message_bytes);
        let kind = kind_label(publisher);

        let jobs: Vec<(usize, &telemetry_core::Message)> = outcomes
            .iter()
            .enumerate()
            .filter_map(|(i, o)| match &o.outcome {
                Outcome::Publish(m) => Some((i, m)),
                _ => None,
            })
            .collect();
        type PublishFuture<'a> = std::pin::Pin<
            Box<
                dyn std::future::Future<Output = (usize, Result<(), crate::sink::SinkError>)>
                    + Send
                    + 'a,
            >,
        >;
        let publishes: Vec<PublishFuture<'_>> = jobs
            .into_iter()
            .map(|(i, m)| Box::pin(self.publish_one(i, m, kind)) as PublishFuture<'_>)
            .collect();
        let results: Vec<(usize, Result<(), crate::sink::SinkError>)> =
            futures::stream::iter(publishes)
                .buffer_unordered(self.publish_concurrency)
                .collect()
                .await;
        let mut failures: Vec<(usize, String)> = results
            .into_iter()
            .filter_map(|(i, r)| r.err().map(|e| (i, e.to_string())))
            .collect();
        failures.sort_by_key(|(i, _)| *i);
        let mut failures = failures.into_iter().peekable();

        let mut processed = Vec::with_capacity(outcomes.len());
        for (i, o) in outcomes.into_iter().enumerate() {
            let (ack, error, outcome_label) = match &o.outcome {
                Outcome::Publish(_) => match failures.next_if(|(f, _)| *f == i) {
                    Some((_, e)) => {
                        tracing::warn!(event_id = %o.id, error = %e, "publishing event failed; not acknowledged");
                        (
                            Acknowledgement::PublishFailed,
                            Some(format!("publishing event: {e}")),
                            "publish_failed",
                        )
                    }
                    None => (Acknowledgement::Published, None, "published"),
                },
                Outcome::Reject(e) => {
                    tracing::info!(event_id = %o.id, error = %e, source = %publisher.source, "rejected event");
                    if let (Some(dl), Some(orig)) = (
                        &self.dead_letters,
                        originals.as_ref().and_then(|v| v.get(i)),
                    ) {
                        dl.record(&Rejection {
                            event: orig,
                            error: e,
                            source: &publisher.source,
                            request_id,
                            rpc: rpc_label,
                        })
                        .await;
                    }
                    (Acknowledgement::Rejected, Some(e.to_string()), "rejected")
                }
                Outcome::DropOversized { size } => {
                    tracing::error!(event_id = %o.id, size, source = %publisher.source, "discarding oversized event");
                    (Acknowledgement::Dropped, None, "dropped_oversized")
                }
            };
            inspected.record(i, &o, ack, error.as_deref());
            self.metrics
                .events
                .with_label_values(&[outcome_label, kind])
                .inc();
            processed.push(Processed {
                id: o.id,
                ack,
                error,
            });
        }
        self.metrics
            .payload_latency
            .with_label_values(&[rpc_label])
            .observe(started.elapsed().as_secs_f64());
        processed
    }

    /// The `RecordEvents` loop. Responses go to an unbounded channel so that a client that
    /// sends everything before reading never blocks request processing.
    async fn record_events_loop(
        &self,
        headers: MetadataMap,
        mut stream: Streaming<RecordEventsRequest>,
        tx: &mpsc::UnboundedSender<Result<RecordEventsResponse, Status>>,
    ) -> Result<(), Status> {
        let mut publisher: Option<(Publisher, String)> = None;
        let started = Instant::now();
        let mut total = 0usize;
        while let Some(message) = stream.message().await? {
            match message.payload {
                Some(record_events_request::Payload::Metadata(metadata)) => {
                    if publisher.is_some() {
                        return Err(Status::invalid_argument("received metadata more than once"));
                    }
                    if !self.baseline {
                        let identity: Owned =
                            telemetry_core::identify(&metadata, Rpc::RecordEvents)
                                .map_err(metadata_status)?
                                .into();
                        self.authenticate(identity, &metadata, &headers).await?;
                    }
                    let p = Publisher::new(&metadata).map_err(|e| {
                        Status::internal(format!("failed to create publisher: {e}"))
                    })?;
                    publisher = Some((p, metadata.request_id));
                }
                Some(record_events_request::Payload::Events(payload)) => {
                    let Some((p, request_id)) = &publisher else {
                        return Err(Status::invalid_argument(
                            "got events when metadata not yet received",
                        ));
                    };
                    total += payload.events.len();
                    let processed = self
                        .process(p, request_id, payload.events, Rpc::RecordEvents)
                        .await;
                    let succeeded_events = telemetry_core::succeeded_events(
                        p.kind,
                        processed.iter().map(|e| (e.id.as_str(), e.ack)),
                    );
                    if tx
                        .send(Ok(RecordEventsResponse { succeeded_events }))
                        .is_err()
                    {
                        return Err(Status::cancelled("client went away"));
                    }
                }
                None => {}
            }
        }
        let elapsed = started.elapsed();
        if elapsed > Duration::from_secs(30) {
            tracing::error!(events = total, ?elapsed, "request done (slow request)");
        } else {
            tracing::debug!(events = total, ?elapsed, "request done");
        }
        Ok(())
    }

    async fn record_event_inner(
        &self,
        headers: &MetadataMap,
        request: RecordEventRequest,
    ) -> Result<(), Status> {
        let Some(event) = request.event else {
            return Err(Status::invalid_argument("event is required"));
        };
        let Some(metadata) = request.metadata else {
            return Err(Status::invalid_argument("metadata is required"));
        };
        let identity: Owned = telemetry_core::identify(&metadata, Rpc::RecordEvent)
            .map_err(metadata_status)?
            .into();
        if !matches!(identity, Owned::Managed(_)) {
            return Err(Status::unimplemented("unsupported identifier type"));
        }
        self.authenticate(identity, &metadata, headers).await?;
        let publisher = Publisher::new(&metadata)
            .map_err(|e| Status::internal(format!("failed to create publisher: {e}")))?;
        let mut processed = self
            .process(
                &publisher,
                &metadata.request_id,
                vec![event],
                Rpc::RecordEvent,
            )
            .await;
        let (Some(result), None) = (processed.pop(), processed.pop()) else {
            return Err(Status::internal("unexpected publishing issue"));
        };
        match (result.ack, result.error) {
            (Acknowledgement::Published | Acknowledgement::Dropped, _) => Ok(()),
            (_, error) => Err(Status::internal(format!(
                "failed to publish event: {}",
                error.unwrap_or_default()
            ))),
        }
    }
}

#[tonic::async_trait]
impl TelemeteryGatewayService for Gateway {
    type RecordEventsStream = UnboundedReceiverStream<Result<RecordEventsResponse, Status>>;

    async fn record_events(
        &self,
        request: Request<Streaming<RecordEventsRequest>>,
    ) -> Result<Response<Self::RecordEventsStream>, Status> {
        let headers = request.metadata().clone();
        let stream = request.into_inner();
        let (tx, rx) = mpsc::unbounded_channel();
        let state = self.state.clone();
        tokio::spawn(async move {
            let result = state.record_events_loop(headers, stream, &tx).await;
            let code = match &result {
                Ok(()) => tonic::Code::Ok,
                Err(s) => s.code(),
            };
            state
                .metrics
                .requests
                .with_label_values(&["RecordEvents", &format!("{code:?}")])
                .inc();
            if let Err(status) = result {
                tracing::info!(code = ?status.code(), message = status.message(), "RecordEvents failed");
                let _ = tx.send(Err(status));
            }
        });
        Ok(Response::new(UnboundedReceiverStream::new(rx)))
    }

    async fn record_event(
        &self,
        request: Request<RecordEventRequest>,
    ) -> Result<Response<RecordEventResponse>, Status> {
        let headers = request.metadata().clone();
        let result = self
            .state
            .record_event_inner(&headers, request.into_inner())
            .await;
        let code = match &result {
            Ok(()) => tonic::Code::Ok,
            Err(s) => s.code(),
        };
        self.state
            .metrics
            .requests
            .with_label_values(&["RecordEvent", &format!("{code:?}")])
            .inc();
        result.map(|()| Response::new(RecordEventResponse {}))
    }
}
