//! FOR TESTING ONLY: `--sink fault:RATE:SPEC` fails a deterministic share of publishes, to prove
//! that failed publishes are not acknowledged and are retried by clients. Never use in
//! production.

use super::{Batch, BatchResult, Sink, SinkError};
use async_trait::async_trait;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::time::Instant;

/// Fails about `rate` of all publishes (deterministically, by a hash of a publish counter).
pub struct FaultSink {
    rate: f64,
    counter: AtomicU64,
    inner: Arc<dyn Sink>,
}

impl FaultSink {
    /// Wraps `inner`.
    pub fn new(rate: f64, inner: Arc<dyn Sink>) -> Self {
        FaultSink {
            rate,
            counter: AtomicU64::new(0),
            inner,
        }
    }

    fn should_fail(&self) -> bool {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        // SplitMix64 of the counter: deterministic, evenly spread.
        let mut z = n.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64 <= self.rate && self.rate > 0.0
    }
}

#[async_trait]
impl Sink for FaultSink {
    async fn publish(&self, batch: Batch, deadline: Instant) -> BatchResult {
        let Batch { messages, charge } = batch;
        let mut failed = Vec::new();
        let mut forwarded = Vec::with_capacity(messages.len());
        let mut positions = Vec::with_capacity(messages.len());
        for (i, m) in messages.into_iter().enumerate() {
            if self.should_fail() {
                failed.push((i, "injected fault (fault sink, for testing)".to_string()));
            } else {
                positions.push(i);
                forwarded.push(m);
            }
        }
        if !forwarded.is_empty() {
            let inner = self
                .inner
                .publish(
                    Batch {
                        messages: forwarded,
                        charge,
                    },
                    deadline,
                )
                .await;
            for (j, reason) in inner.failed {
                if let Some(i) = positions.get(j) {
                    failed.push((*i, reason));
                }
            }
            failed.sort_by_key(|(i, _)| *i);
        }
        BatchResult { failed }
    }

    async fn flush(&self) -> Result<(), SinkError> {
        self.inner.flush().await
    }

    async fn health(&self) -> Result<(), SinkError> {
        self.inner.health().await
    }

    fn describe(&self) -> String {
        format!(
            "FAULT INJECTION (testing only, failing {:.0}% of publishes) around {}",
            self.rate * 100.0,
            self.inner.describe()
        )
    }
}

/// FOR TESTING ONLY: `--sink pubsub-limits:SPEC` behaves as Pub/Sub does with the client
/// library's batching: publishes arriving within 10 ms of each other, from every stream, form
/// one request, and a request holding any message over Pub/Sub's limits (more than 100
/// attributes, a key over 256 bytes, a value over 1024 bytes, over 10 MB in all) fails as a
/// whole. It proves that one client's poison event cannot fail other clients' events (the
/// gateway refuses such events before publishing). Its limit check is written independently of
/// the core's, on purpose.
pub struct PubSubLimitsSink {
    inner: Arc<dyn Sink>,
    window: Arc<std::sync::Mutex<Vec<Waiting>>>,
}

type Waiting = (Batch, tokio::sync::oneshot::Sender<BatchResult>);

fn breaks_pubsub_limits(m: &telemetry_core::Message) -> bool {
    let attribute_bytes: usize = m.attributes.iter().map(|(k, v)| k.len() + v.len()).sum();
    m.attributes.len() > 100
        || m.attributes.keys().any(|k| k.len() > 256)
        || m.attributes.values().any(|v| v.len() > 1024)
        || m.data.len() + attribute_bytes > 10_000_000
}

impl PubSubLimitsSink {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn Sink>) -> Self {
        PubSubLimitsSink {
            inner,
            window: Arc::default(),
        }
    }

    async fn send_request(inner: Arc<dyn Sink>, waiting: Vec<Waiting>, deadline: Instant) {
        let poisoned = waiting
            .iter()
            .any(|(b, _)| b.messages.iter().any(breaks_pubsub_limits));
        if poisoned {
            for (b, tx) in waiting {
                let _ = tx.send(BatchResult::all_failed(
                    b.messages.len(),
                    "INVALID_ARGUMENT: a message in the publish request breaks Pub/Sub's limits",
                ));
            }
            return;
        }
        let mut merged = Batch::default();
        let mut spans = Vec::with_capacity(waiting.len());
        for (b, tx) in waiting {
            spans.push((merged.messages.len(), b.messages.len(), tx));
            merged.messages.extend(b.messages);
            merged.charge.merge(b.charge);
        }
        let result = inner.publish(merged, deadline).await;
        for (start, len, tx) in spans {
            let failed = result
                .failed
                .iter()
                .filter(|(i, _)| (start..start + len).contains(i))
                .map(|(i, r)| (i - start, r.clone()))
                .collect();
            let _ = tx.send(BatchResult { failed });
        }
    }
}

#[async_trait]
impl Sink for PubSubLimitsSink {
    async fn publish(&self, batch: Batch, deadline: Instant) -> BatchResult {
        let n = batch.messages.len();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let first = {
            let Ok(mut window) = self.window.lock() else {
                return BatchResult::all_failed(n, "window lock poisoned");
            };
            window.push((batch, tx));
            window.len() == 1
        };
        if first {
            let window = self.window.clone();
            let inner = self.inner.clone();
            tokio::spawn(async move {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                let waiting: Vec<Waiting> = match window.lock() {
                    Ok(mut w) => std::mem::take(&mut *w),
                    Err(_) => return,
                };
                Self::send_request(inner, waiting, deadline).await;
            });
        }
        rx.await
            .unwrap_or_else(|_| BatchResult::all_failed(n, "publish request abandoned"))
    }

    async fn flush(&self) -> Result<(), SinkError> {
        self.inner.flush().await
    }

    async fn health(&self) -> Result<(), SinkError> {
        self.inner.health().await
    }

    fn describe(&self) -> String {
        format!(
            "PUB/SUB LIMITS EMULATION (testing only: whole requests fail on one bad message) around {}",
            self.inner.describe()
        )
    }
}
