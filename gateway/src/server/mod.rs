//! The `TelemeteryGatewayService`: the `RecordEvents` stream state machine, the unary
//! `RecordEvent`, and the mapping of every failure to the reference's gRPC status.
//!
//! Every per-event rule comes from `telemetry_core`; this module authenticates, runs payloads
//! through the bounded publish loop (`publish.rs`), and answers with what the sink accepted
//! (`responses.rs`). Limits come from [`crate::limits`]: metadata string caps, events per payload,
//! the stream deadline (a stream past it answers the payload in progress, then ends with
//! `DeadlineExceeded`), and shutdown (at the end of the drain, open streams end with
//! `Unavailable`).

mod publish;
mod responses;

use crate::admission::{Budgets, PER_EVENT_BOOKKEEPING, Reservation, StreamAccount};
use crate::auth::license::LicenseVerifier;
use crate::auth::sams::SamsAuthenticator;
use crate::limits::{self, Limit, Limits};
use crate::log_limit::{Clip, EventLogLimiter};
use crate::metrics::Metrics;
use crate::proto::telemetery_gateway_service_server::TelemeteryGatewayService;
use crate::shutdown::ShutdownWatch;
use crate::sink::Sink;
use crate::sink::dead_letter::DeadLetters;
use crate::wire::{
    IncomingPayload, IncomingRecordEventRequest, IncomingRecordEventsRequest,
    OutgoingRecordEventsResponse, RawEvents,
};
use publish::PayloadContext;
use responses::{ResponseSender, ResponseStream};
use std::sync::Arc;
use std::time::Duration;
use telemetry_core::proto::{RecordEventResponse, RecordEventsRequestMetadata};
use telemetry_core::{Acknowledgement, Identity, MetadataError, Publisher, Rpc};
use tokio::time::Instant;
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
    /// Messages alive (being translated or published) per stream.
    pub publish_concurrency: usize,
    /// Messages of this many bytes or more are dropped (the core's oversize rule).
    pub max_message_bytes: usize,
    /// Benchmark baseline: decode and acknowledge every event without checks or publishing.
    pub baseline: bool,
    /// Metrics.
    pub metrics: Metrics,
    /// Every limit.
    pub limits: Arc<Limits>,
    /// The in-flight budget.
    pub budgets: Budgets,
    /// Shutdown phases.
    pub shutdown: ShutdownWatch,
    /// Per-event log rate limits.
    pub logs: EventLogLimiter,
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

/// The stream's publisher once its metadata was accepted.
struct StreamPublisher {
    publisher: Publisher,
    request_id: String,
}

/// Counts an open stream while alive.
struct OpenStream(Metrics);

impl OpenStream {
    fn new(metrics: &Metrics) -> Self {
        metrics.streams_open.inc();
        OpenStream(metrics.clone())
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        self.0.streams_open.dec();
    }
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
                        request_id = %Clip(&metadata.request_id),
                        license.salesforce_opportunity_id = %Clip(info.salesforce_opportunity_id.as_deref().unwrap_or("")),
                        license.salesforce_subscription_id = %Clip(info.salesforce_subscription_id.as_deref().unwrap_or("")),
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
                tracing::info!(
                    request_id = %Clip(&metadata.request_id),
                    instance_id = %Clip(&instance_id),
                    "handling events submission stream for unlicensed instance"
                );
                Ok(())
            }
            Owned::Managed(service_id) => {
                self.sams.check_write_events_scope(headers).await?;
                tracing::info!(
                    request_id = %Clip(&metadata.request_id),
                    service_id = %Clip(&service_id),
                    "handling events submission stream for managed service"
                );
                Ok(())
            }
        }
    }

    /// Checks the caps of a metadata message, counting a hit.
    fn check_metadata_limits(&self, metadata: &RecordEventsRequestMetadata) -> Result<(), Status> {
        self.limits.check_metadata(metadata).inspect_err(|_| {
            self.metrics.limit_hit(Limit::FieldLength);
        })
    }

    /// Accepts a stream's metadata: caps, identifier checks, authentication, publisher.
    async fn accept_metadata(
        &self,
        metadata: RecordEventsRequestMetadata,
        headers: &MetadataMap,
        rpc: Rpc,
    ) -> Result<StreamPublisher, Status> {
        self.check_metadata_limits(&metadata)?;
        if !self.baseline {
            let identity: Owned = telemetry_core::identify(&metadata, rpc)
                .map_err(metadata_status)?
                .into();
            if rpc == Rpc::RecordEvent && !matches!(identity, Owned::Managed(_)) {
                return Err(Status::unimplemented("unsupported identifier type"));
            }
            self.authenticate(identity, &metadata, headers).await?;
        }
        let publisher = Publisher::new(&metadata)
            .map_err(|e| Status::internal(format!("failed to create publisher: {e}")))?;
        Ok(StreamPublisher {
            publisher,
            request_id: metadata.request_id,
        })
    }

    /// Adjusts a received payload's reservation to what processing it needs now that its
    /// events are counted: the payload, and per-event bookkeeping. A payload that needs more
    /// than was reserved on receipt (only possible with many ids close to their cap) takes the
    /// difference if it is free, else the stream ends with `ResourceExhausted`.
    fn size_payload_reservation(
        &self,
        hold: &mut Reservation,
        raw: &RawEvents,
    ) -> Result<(), Status> {
        let need = raw
            .wire_bytes()
            .saturating_add(raw.len().saturating_mul(PER_EVENT_BOOKKEEPING));
        if hold.bytes() >= need {
            hold.shrink_to(need);
            return Ok(());
        }
        match self.budgets.receive.try_reserve(need - hold.bytes()) {
            Some(extra) => {
                hold.merge(extra);
                Ok(())
            }
            None => {
                self.metrics.limit_hit(Limit::InflightBudgetWait);
                Err(Status::resource_exhausted(
                    "the gateway is at its memory budget (--max-inflight-bytes); retry later",
                ))
            }
        }
    }

    /// The `RecordEvents` loop.
    async fn record_events_loop(
        &self,
        headers: MetadataMap,
        mut stream: Streaming<IncomingRecordEventsRequest>,
        account: Arc<StreamAccount>,
        responses: &ResponseSender,
    ) -> Result<(), Status> {
        let _open = OpenStream::new(&self.metrics);
        let started = Instant::now();
        let deadline = started + self.limits.stream_deadline;
        // A payload that began before the deadline may finish (and be answered) after it, within
        // one publish timeout more.
        let payload_deadline = deadline + self.limits.publish_timeout;
        let mut shutdown = self.shutdown.clone();
        let mut publisher: Option<StreamPublisher> = None;
        let mut total = 0usize;
        loop {
            let next = tokio::select! {
                biased;
                () = shutdown.stopping() => return Err(self.ended(Limit::ShutdownDrain)),
                () = tokio::time::sleep_until(deadline) => return Err(self.ended(Limit::StreamDeadline)),
                m = stream.message() => m?,
            };
            let Some(message) = next else { break };
            // The reservation the admission layer made for this message.
            let mut hold = account.take();
            match message.payload {
                Some(IncomingPayload::Metadata(metadata)) => {
                    if publisher.is_some() {
                        return Err(Status::invalid_argument("received metadata more than once"));
                    }
                    publisher = Some(tokio::select! {
                        biased;
                        () = shutdown.stopping() => return Err(self.ended(Limit::ShutdownDrain)),
                        () = tokio::time::sleep_until(deadline) => return Err(self.ended(Limit::StreamDeadline)),
                        p = self.accept_metadata(metadata, &headers, Rpc::RecordEvents) => p?,
                    });
                }
                Some(IncomingPayload::Events(raw)) => {
                    let Some(p) = &publisher else {
                        return Err(Status::invalid_argument(
                            "got events when metadata not yet received",
                        ));
                    };
                    if raw.len() > self.limits.max_events_per_payload {
                        self.metrics.limit_hit(Limit::EventsPerPayload);
                        return Err(limits::too_many_events(
                            raw.len(),
                            self.limits.max_events_per_payload,
                        ));
                    }
                    self.size_payload_reservation(&mut hold, &raw)?;
                    total += raw.len();
                    let ctx = PayloadContext {
                        publisher: &p.publisher,
                        request_id: &p.request_id,
                        rpc: Rpc::RecordEvents,
                        kind_label: kind_label(&p.publisher),
                    };
                    let processed = tokio::select! {
                        biased;
                        () = shutdown.stopping() => return Err(self.ended(Limit::ShutdownDrain)),
                        () = tokio::time::sleep_until(payload_deadline) => return Err(self.ended(Limit::StreamDeadline)),
                        r = self.process_payload(&ctx, raw.iter(), raw.len()) => r?,
                    };
                    let response = OutgoingRecordEventsResponse::from_ids(
                        processed.succeeded(p.publisher.kind),
                    );
                    // The response keeps its share of the payload's reservation until sent.
                    let charge = hold.split(response.len());
                    drop(processed);
                    drop(raw);
                    drop(hold);
                    tokio::select! {
                        biased;
                        () = shutdown.stopping() => return Err(self.ended(Limit::ShutdownDrain)),
                        () = tokio::time::sleep_until(payload_deadline) => return Err(self.ended(Limit::StreamDeadline)),
                        r = responses.send(response, charge) => r?,
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

    /// The status ending a stream cut by a deadline or shutdown, counting the hit.
    fn ended(&self, limit: Limit) -> Status {
        self.metrics.limit_hit(limit);
        match limit {
            Limit::ShutdownDrain => limits::shutting_down(),
            _ => limits::stream_deadline_exceeded(self.limits.stream_deadline),
        }
    }

    async fn record_event_inner(
        &self,
        headers: &MetadataMap,
        request: IncomingRecordEventRequest,
    ) -> Result<(), Status> {
        let Some(event) = request.event else {
            return Err(Status::invalid_argument("event is required"));
        };
        let Some(metadata) = request.metadata else {
            return Err(Status::invalid_argument("metadata is required"));
        };
        let p = self
            .accept_metadata(metadata, headers, Rpc::RecordEvent)
            .await?;
        let ctx = PayloadContext {
            publisher: &p.publisher,
            request_id: &p.request_id,
            rpc: Rpc::RecordEvent,
            kind_label: kind_label(&p.publisher),
        };
        let processed = self
            .process_payload(&ctx, std::iter::once(event), 1)
            .await?;
        let (Some(ack), None) = (processed.acks.first(), processed.acks.get(1)) else {
            return Err(Status::internal("unexpected publishing issue"));
        };
        match ack {
            Acknowledgement::Published | Acknowledgement::Dropped => Ok(()),
            _ => Err(Status::internal(format!(
                "failed to publish event: {}",
                processed
                    .errors
                    .first()
                    .map(|(_, e)| e.as_str())
                    .unwrap_or_default()
            ))),
        }
    }
}

#[tonic::async_trait]
impl TelemeteryGatewayService for Gateway {
    type RecordEventsStream = ResponseStream;

    async fn record_events(
        &self,
        request: Request<Streaming<IncomingRecordEventsRequest>>,
    ) -> Result<Response<Self::RecordEventsStream>, Status> {
        let headers = request.metadata().clone();
        let account = request
            .extensions()
            .get::<Arc<StreamAccount>>()
            .cloned()
            .unwrap_or_default();
        let stream = request.into_inner();
        let (tx, rx) = responses::channel(
            self.state.limits.max_pending_response_bytes,
            self.state.metrics.clone(),
        );
        let state = self.state.clone();
        tokio::spawn(async move {
            let result = state
                .record_events_loop(headers, stream, account, &tx)
                .await;
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
                tracing::info!(code = ?status.code(), message = %Clip(status.message()), "RecordEvents failed");
                tx.finish(status);
            }
        });
        Ok(Response::new(rx))
    }

    async fn record_event(
        &self,
        request: Request<IncomingRecordEventRequest>,
    ) -> Result<Response<RecordEventResponse>, Status> {
        let headers = request.metadata().clone();
        // The message's reservation, held until the call is answered.
        let _hold = request
            .extensions()
            .get::<Arc<StreamAccount>>()
            .map(|a| a.take());
        let deadline = Instant::now() + self.state.limits.stream_deadline;
        let mut shutdown = self.state.shutdown.clone();
        let result = tokio::select! {
            biased;
            () = shutdown.stopping() => Err(self.state.ended(Limit::ShutdownDrain)),
            () = tokio::time::sleep_until(deadline) => Err(self.state.ended(Limit::StreamDeadline)),
            r = self.state.record_event_inner(&headers, request.into_inner()) => r,
        };
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
