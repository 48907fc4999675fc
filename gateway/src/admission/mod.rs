//! Admission: how much a client may make the gateway hold, and for how long.
//!
//! - [`budget`]: the global budget of bytes in flight ([`MemoryBudget`]); everything held on a
//!   client's behalf holds a [`Reservation`] against it.
//! - [`body`]: the request-body meter. Before tonic buffers a gRPC message, the meter reads its
//!   5-byte frame header and reserves the message's length; until the reservation is granted the
//!   stream is not read (HTTP/2 flow control then stops the client). The reservation is handed to
//!   the handler through the stream's [`StreamAccount`], which keeps it until the payload is
//!   processed. A message that stalls mid-way fails the stream (slowloris).
//! - [`footprint`]: an upper bound, computed from an event's wire bytes before it is decoded, of
//!   the memory its decoding and translation can take — what the publish loop reserves per event.
//! - [`AdmissionLayer`]: the tower layer that applies the meter to the gateway's RPCs, tracks the
//!   requests in flight on each connection (for the idle-connection timeout), and resets a
//!   response that outlives its hard deadline.

pub mod body;
pub mod budget;
pub mod footprint;

pub use budget::{MemoryBudget, Reservation};

use crate::connections::ConnectionHandle;
use body::{GuardedResponseBody, MeteredRequestBody};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tonic::body::Body;

/// Bytes a stream keeps per event of a payload while processing it: the event id's slice for the
/// response, its footprint, its acknowledgement, and the response's framing.
pub const PER_EVENT_BOOKKEEPING: usize = 96;

/// What receiving a message of `len` bytes reserves before it is read: the message, and
/// bookkeeping for as many events as it could hold (each event takes at least 2 bytes). Once the
/// payload is decoded and its events counted, the handler shrinks it to what is needed.
pub fn message_reservation(len: usize, max_events: usize) -> usize {
    len.saturating_add(
        (len / 2)
            .min(max_events)
            .saturating_mul(PER_EVENT_BOOKKEEPING),
    )
}

/// The in-flight budget, in two pools so that a stream holding a received payload can always
/// finish it: `receive` pays for received messages (and their bookkeeping and responses),
/// `process` for events being decoded, translated and written. Whatever holds `process` bytes is
/// on its way to the sink and releases them when the sink is done, so waiting for `process`
/// while holding `receive` cannot deadlock.
#[derive(Clone)]
pub struct Budgets {
    /// Received messages, their bookkeeping, pending responses.
    pub receive: MemoryBudget,
    /// Events being processed and messages on their way to the sink.
    pub process: MemoryBudget,
}

impl Budgets {
    /// Splits `total` (`--max-inflight-bytes`): a quarter, at least 16 MiB, for processing.
    pub fn split(total: usize) -> Self {
        let process = (total / 4).max(16 << 20).min(total);
        Budgets {
            receive: MemoryBudget::new(total - process),
            process: MemoryBudget::new(process),
        }
    }
}

/// The path prefix of the RPCs that are metered.
pub const METERED_PATH_PREFIX: &str = "/telemetrygateway.v1.TelemeteryGatewayService/";

/// The reservations of the messages received on one stream and not yet taken by the handler, in
/// arrival order (one per gRPC message).
#[derive(Debug, Default)]
pub struct StreamAccount {
    received: Mutex<VecDeque<Reservation>>,
}

impl StreamAccount {
    pub(crate) fn push(&self, reservation: Reservation) {
        if let Ok(mut q) = self.received.lock() {
            q.push_back(reservation);
        }
    }

    /// Takes the reservation of the oldest message received and not yet taken: call once per
    /// message, right after receiving it, and keep it while the message's memory is alive.
    pub fn take(&self) -> Reservation {
        self.received
            .lock()
            .ok()
            .and_then(|mut q| q.pop_front())
            .unwrap_or_default()
    }
}

/// Settings of the admission layer.
#[derive(Clone)]
pub struct AdmissionConfig {
    /// The pool received messages are charged to.
    pub budget: MemoryBudget,
    /// The largest accepted message (larger ones are refused by tonic, unreserved).
    pub max_message_bytes: usize,
    /// The events-per-payload limit (bounds a message's bookkeeping).
    pub max_events_per_payload: usize,
    /// A message being received must bring 1 KiB (or its remainder) per this much time.
    pub receive_timeout: Duration,
    /// After this long, a response still not finished (a client that does not read) is reset.
    pub response_hard_deadline: Duration,
}

/// The tower layer (see the module docs).
#[derive(Clone)]
pub struct AdmissionLayer {
    config: Arc<AdmissionConfig>,
}

impl AdmissionLayer {
    /// Creates the layer.
    pub fn new(config: AdmissionConfig) -> Self {
        AdmissionLayer {
            config: Arc::new(config),
        }
    }
}

impl<S> tower::Layer<S> for AdmissionLayer {
    type Service = Admission<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Admission {
            inner,
            config: self.config.clone(),
        }
    }
}

/// The service [`AdmissionLayer`] builds.
#[derive(Clone)]
pub struct Admission<S> {
    inner: S,
    config: Arc<AdmissionConfig>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl<S, ResBody> tower::Service<http::Request<Body>> for Admission<S>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
    ResBody: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    ResBody::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<Body>) -> Self::Future {
        let active = request
            .extensions()
            .get::<ConnectionHandle>()
            .map(ConnectionHandle::request_started);
        let metered = request.uri().path().starts_with(METERED_PATH_PREFIX);
        if metered {
            let account = Arc::new(StreamAccount::default());
            request.extensions_mut().insert(account.clone());
            let config = self.config.clone();
            request = request.map(|b| {
                Body::new(MeteredRequestBody::new(
                    b,
                    account,
                    config.budget.clone(),
                    config.max_message_bytes,
                    config.max_events_per_payload,
                    config.receive_timeout,
                ))
            });
        }
        let deadline = metered.then(|| self.config.response_hard_deadline);
        let future = self.inner.call(request);
        Box::pin(async move {
            let response = future.await?;
            Ok(response
                .map(|b| Body::new(GuardedResponseBody::new(Body::new(b), active, deadline))))
        })
    }
}
