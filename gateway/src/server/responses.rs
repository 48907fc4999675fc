//! Responses of a `RecordEvents` stream on their way to the client, bounded in bytes.
//!
//! A response is queued until tonic takes it for sending. At most
//! `--max-pending-response-bytes` wait per stream: past that, queuing the next response waits —
//! and since the stream's loop is the only reader of its requests, the stream is not read until
//! the client reads responses again. A client that sends everything before reading (the upstream
//! exporter) stays far below the bound: its responses are its event ids.
//!
//! Each queued response also keeps its share of the memory budget (carved out of the
//! reservation of the payload it answers), released when tonic takes it.

use super::super::admission::Reservation;
use crate::limits::Limit;
use crate::metrics::Metrics;
use crate::wire::OutgoingRecordEventsResponse;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tonic::Status;

struct Queued {
    result: Result<OutgoingRecordEventsResponse, Status>,
    _charge: Reservation,
    _pending: Option<OwnedSemaphorePermit>,
}

/// The stream loop's end.
pub struct ResponseSender {
    tx: mpsc::UnboundedSender<Queued>,
    pending: Arc<Semaphore>,
    max_pending: usize,
    metrics: Metrics,
}

/// tonic's end: the response stream of the RPC.
pub struct ResponseStream {
    rx: mpsc::UnboundedReceiver<Queued>,
}

/// A bounded response channel for one stream.
pub fn channel(max_pending_bytes: usize, metrics: Metrics) -> (ResponseSender, ResponseStream) {
    let (tx, rx) = mpsc::unbounded_channel();
    let max_pending = max_pending_bytes.min(Semaphore::MAX_PERMITS);
    (
        ResponseSender {
            tx,
            pending: Arc::new(Semaphore::new(max_pending)),
            max_pending,
            metrics,
        },
        ResponseStream { rx },
    )
}

impl ResponseSender {
    /// Queues a response, waiting while the client has too many unread. `charge` is the budget
    /// the response's bytes hold until sent.
    pub async fn send(
        &self,
        response: OutgoingRecordEventsResponse,
        charge: Reservation,
    ) -> Result<(), Status> {
        // A response larger than the whole bound waits for an empty queue.
        let n = u32::try_from(response.len().clamp(1, self.max_pending)).unwrap_or(u32::MAX);
        let permit = match self.pending.clone().try_acquire_many_owned(n) {
            Ok(p) => p,
            Err(_) => {
                self.metrics.limit_hit(Limit::PendingResponses);
                self.pending
                    .clone()
                    .acquire_many_owned(n)
                    .await
                    .map_err(|_| Status::cancelled("client went away"))?
            }
        };
        self.tx
            .send(Queued {
                result: Ok(response),
                _charge: charge,
                _pending: Some(permit),
            })
            .map_err(|_| Status::cancelled("client went away"))
    }

    /// Ends the stream with an error status (never waits: it follows whatever is queued).
    pub fn finish(&self, status: Status) {
        let _ = self.tx.send(Queued {
            result: Err(status),
            _charge: Reservation::default(),
            _pending: None,
        });
    }
}

impl futures::Stream for ResponseStream {
    type Item = Result<OutgoingRecordEventsResponse, Status>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        // Taking a response releases its pending bytes and budget.
        self.get_mut()
            .rx
            .poll_recv(cx)
            .map(|q| q.map(|queued| queued.result))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;
    use std::time::Duration;

    fn response(bytes: usize) -> OutgoingRecordEventsResponse {
        let id = "x".repeat(bytes - 3);
        OutgoingRecordEventsResponse::from_ids(std::iter::once(id.as_str()))
    }

    #[tokio::test]
    async fn the_stream_waits_while_too_much_is_unread() {
        let (tx, mut rx) = channel(64 * 1024, Metrics::new());
        tx.send(response(40 * 1024), Reservation::default())
            .await
            .unwrap();
        let blocked = tokio::time::timeout(
            Duration::from_millis(50),
            tx.send(response(40 * 1024), Reservation::default()),
        )
        .await;
        assert!(blocked.is_err(), "over the bound: must wait for the reader");
        assert!(rx.next().await.unwrap().is_ok());
        tx.send(response(40 * 1024), Reservation::default())
            .await
            .unwrap();
        tx.finish(Status::deadline_exceeded("late"));
        assert!(rx.next().await.unwrap().is_ok());
        assert_eq!(
            rx.next().await.unwrap().unwrap_err().code(),
            tonic::Code::DeadlineExceeded
        );
    }
}
