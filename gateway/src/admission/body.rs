//! The request-body meter and the response-body guard of [`super::AdmissionLayer`].
//!
//! gRPC frames each message as a 1-byte flag, a 4-byte big-endian length, and the message bytes.
//! [`MeteredRequestBody`] passes the body through unchanged but, whenever a frame header is
//! complete, holds back the header's last byte until the budget granted a reservation for the
//! message ([`super::message_reservation`]): tonic only allocates a message buffer once it has
//! the whole header, so no message is buffered before it is paid for. Byte-identical
//! pass-through otherwise.

use super::{MemoryBudget, Reservation, StreamAccount};
use crate::connections::ActiveRequest;
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::time::{Instant, Sleep};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Bytes a message being received must bring per receive-timeout window.
pub const MIN_BYTES_PER_WINDOW: usize = 1024;

const HEADER_LEN: usize = 5;

/// See the module docs.
pub struct MeteredRequestBody {
    inner: tonic::body::Body,
    account: Arc<StreamAccount>,
    budget: MemoryBudget,
    max_message_bytes: usize,
    max_events: usize,
    receive_timeout: Duration,
    header: [u8; HEADER_LEN],
    header_have: usize,
    body_left: usize,
    /// Data read from `inner` and not yet passed on; its first `skip` bytes were already framed.
    held: Bytes,
    skip: usize,
    acquiring: Option<Pin<Box<dyn Future<Output = Reservation> + Send>>>,
    acquiring_len: usize,
    /// Slowloris guard: the current window's end and the bytes received in it.
    window: Option<Pin<Box<Sleep>>>,
    window_bytes: usize,
}

impl MeteredRequestBody {
    /// Wraps a request body.
    pub fn new(
        inner: tonic::body::Body,
        account: Arc<StreamAccount>,
        budget: MemoryBudget,
        max_message_bytes: usize,
        max_events: usize,
        receive_timeout: Duration,
    ) -> Self {
        MeteredRequestBody {
            inner,
            account,
            budget,
            max_message_bytes,
            max_events,
            receive_timeout,
            header: [0; HEADER_LEN],
            header_have: 0,
            body_left: 0,
            held: Bytes::new(),
            skip: 0,
            acquiring: None,
            acquiring_len: 0,
            window: None,
            window_bytes: 0,
        }
    }

    /// Whether a message is partly received (the slowloris guard applies).
    fn mid_message(&self) -> bool {
        self.header_have > 0 || self.body_left > 0
    }

    /// Frames `self.held` from `self.skip`; returns the index of the last byte of a completed
    /// header (data from there on must wait for a reservation), or `None` if all of it can pass.
    fn frame_held(&mut self) -> Option<usize> {
        let data = self.held.clone();
        let mut i = self.skip;
        while i < data.len() {
            if self.body_left > 0 {
                let n = self.body_left.min(data.len() - i);
                self.body_left -= n;
                self.window_bytes += n;
                i += n;
                continue;
            }
            if let (Some(slot), Some(b)) = (self.header.get_mut(self.header_have), data.get(i)) {
                *slot = *b;
            }
            self.header_have += 1;
            self.window_bytes += 1;
            if self.header_have == HEADER_LEN {
                self.header_have = 0;
                let [_, a, b, c, d] = self.header;
                let len = u32::from_be_bytes([a, b, c, d]) as usize;
                self.acquiring_len = len;
                // tonic refuses messages over the limit right after the header: reserve nothing.
                let cost = if len > self.max_message_bytes {
                    0
                } else {
                    super::message_reservation(len, self.max_events)
                };
                let budget = self.budget.clone();
                self.acquiring = Some(Box::pin(async move { budget.reserve(cost).await }));
                return Some(i);
            }
            i += 1;
        }
        None
    }

    fn stalled() -> BoxError {
        Box::new(tonic::Status::deadline_exceeded(
            "request message stalled: less than 1 KiB arrived within the receive timeout \
             (--receive-timeout-seconds); the stream was ended",
        ))
    }
}

impl HttpBody for MeteredRequestBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        loop {
            // 1. A header is waiting for its reservation.
            if let Some(fut) = this.acquiring.as_mut() {
                let reservation = ready!(fut.as_mut().poll(cx));
                this.acquiring = None;
                this.account.push(reservation);
                this.body_left = this.acquiring_len;
                // The gateway, not the client, was slow: restart the stall window.
                this.window = None;
                this.window_bytes = 0;
            }
            // 2. Pass on held data up to the next completed header.
            if this.skip < this.held.len() || (!this.held.is_empty() && this.acquiring.is_none()) {
                match this.frame_held() {
                    Some(stop) => {
                        // Everything before the header's last byte passes now.
                        let ready_part = this.held.slice(..stop);
                        this.held = this.held.slice(stop..);
                        this.skip = 1;
                        if !ready_part.is_empty() {
                            return Poll::Ready(Some(Ok(Frame::data(ready_part))));
                        }
                        continue;
                    }
                    None => {
                        let all = std::mem::take(&mut this.held);
                        this.skip = 0;
                        if !all.is_empty() {
                            return Poll::Ready(Some(Ok(Frame::data(all))));
                        }
                    }
                }
            }
            // 3. Read more.
            match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => {
                        this.held = data;
                        this.skip = 0;
                        continue;
                    }
                    Err(frame) => return Poll::Ready(Some(Ok(frame))),
                },
                Poll::Ready(other) => return Poll::Ready(other.map(|r| r.map_err(Into::into))),
                Poll::Pending => {
                    if !this.mid_message() {
                        this.window = None;
                        this.window_bytes = 0;
                        return Poll::Pending;
                    }
                    let timeout = this.receive_timeout;
                    let window = this
                        .window
                        .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                    if window.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    if this.window_bytes < MIN_BYTES_PER_WINDOW {
                        return Poll::Ready(Some(Err(Self::stalled())));
                    }
                    // Enough arrived: start the next window (and register its timer).
                    this.window_bytes = 0;
                    window.as_mut().reset(Instant::now() + timeout);
                    let _ = window.as_mut().poll(cx);
                    return Poll::Pending;
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.held.is_empty() && self.acquiring.is_none() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

/// The response body of every request: keeps the connection's "request in flight" mark until
/// the response is finished or dropped, and (for the metered RPCs) closes the connection if the
/// response is still not finished at its hard deadline — a client that stopped reading cannot
/// hold a stream and its buffered responses forever.
pub struct GuardedResponseBody<B> {
    inner: B,
    _watchdog: Option<tokio_util::sync::DropGuard>,
    _active: Option<ActiveRequest>,
}

impl<B> GuardedResponseBody<B> {
    /// Wraps a response body.
    pub fn new(inner: B, active: Option<ActiveRequest>, deadline: Option<Duration>) -> Self {
        let watchdog = match (&active, deadline) {
            (Some(a), Some(d)) => Some(a.watchdog(d)),
            _ => None,
        };
        GuardedResponseBody {
            inner,
            _watchdog: watchdog,
            _active: active,
        }
    }
}

impl<B> HttpBody for GuardedResponseBody<B>
where
    B: HttpBody<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        Pin::new(&mut self.get_mut().inner)
            .poll_frame(cx)
            .map(|f| f.map(|r| r.map_err(Into::into)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    fn frame(len: usize, fill: u8) -> Vec<u8> {
        let mut v = vec![0u8];
        v.extend_from_slice(&(len as u32).to_be_bytes());
        v.extend(std::iter::repeat_n(fill, len));
        v
    }

    /// A body yielding the given chunks.
    fn chunked(chunks: Vec<Vec<u8>>) -> tonic::body::Body {
        let stream = futures::stream::iter(
            chunks
                .into_iter()
                .map(|c| Ok::<_, std::convert::Infallible>(Frame::data(Bytes::from(c)))),
        );
        tonic::body::Body::new(http_body_util::StreamBody::new(stream))
    }

    #[tokio::test]
    async fn passes_bytes_through_unchanged_and_reserves_each_message() {
        let mut wire = frame(10, 1);
        wire.extend(frame(0, 0));
        wire.extend(frame(300, 2));
        // Split at awkward places: inside headers and bodies.
        let chunks: Vec<Vec<u8>> = wire.chunks(3).map(<[u8]>::to_vec).collect();
        let budget = MemoryBudget::new(1 << 20);
        let account = Arc::new(StreamAccount::default());
        let body = MeteredRequestBody::new(
            chunked(chunks),
            account.clone(),
            budget.clone(),
            1 << 20,
            0,
            Duration::from_secs(10),
        );
        let out = body.collect().await.unwrap().to_bytes();
        assert_eq!(out.as_ref(), wire.as_slice());
        assert_eq!(account.take().bytes(), 10);
        assert_eq!(account.take().bytes(), 0);
        assert_eq!(account.take().bytes(), 300);
        assert_eq!(budget.in_use(), 0);
    }

    #[tokio::test]
    async fn a_message_waits_for_budget_before_its_header_completes() {
        let budget = MemoryBudget::new(1000);
        let hog = budget.reserve(1000).await;
        let account = Arc::new(StreamAccount::default());
        let wire = frame(500, 7);
        let mut body = MeteredRequestBody::new(
            chunked(vec![wire.clone()]),
            account.clone(),
            budget.clone(),
            1 << 20,
            0,
            Duration::from_secs(10),
        );
        // The first 4 header bytes pass; the 5th waits.
        let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(first.len(), 4);
        let next = tokio::time::timeout(Duration::from_millis(50), body.frame()).await;
        assert!(
            next.is_err(),
            "the header must not complete while the budget is used up"
        );
        drop(hog);
        let rest = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(rest.len(), 501);
        assert_eq!(account.take().bytes(), 500);
    }

    #[tokio::test(start_paused = true)]
    async fn a_stalled_message_fails_the_stream() {
        let (tx, rx) =
            tokio::sync::mpsc::channel::<Result<Frame<Bytes>, std::convert::Infallible>>(4);
        let inner = tonic::body::Body::new(http_body_util::StreamBody::new(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        ));
        let mut body = MeteredRequestBody::new(
            inner,
            Arc::new(StreamAccount::default()),
            MemoryBudget::new(1 << 20),
            1 << 20,
            0,
            Duration::from_secs(10),
        );
        // Header of a 100 KiB message and one byte, then one byte at a time.
        let mut start = frame(100 * 1024, 0);
        start.truncate(6);
        tx.send(Ok(Frame::data(Bytes::from(start)))).await.unwrap();
        let _ = body.frame().await;
        let _ = body.frame().await;
        let feeder = tokio::spawn(async move {
            for _ in 0..30 {
                tokio::time::sleep(Duration::from_secs(1)).await;
                if tx
                    .send(Ok(Frame::data(Bytes::from_static(b"x"))))
                    .await
                    .is_err()
                {
                    break;
                }
            }
        });
        let mut error = None;
        while let Some(f) = body.frame().await {
            if let Err(e) = f {
                error = Some(e);
                break;
            }
        }
        let status = tonic::Status::from_error(error.expect("the stall must end the stream"));
        assert_eq!(status.code(), tonic::Code::DeadlineExceeded);
        feeder.abort();
    }
}
