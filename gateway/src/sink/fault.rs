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
