//! FOR TESTING ONLY: `--sink fault:RATE:SPEC` fails a deterministic share of publishes, to prove
//! that failed publishes are not acknowledged and are retried by clients. Never use in
//! production.

use super::{Sink, SinkError};
use async_trait::async_trait;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use telemetry_core::Message;

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
    async fn publish(&self, message: &Message) -> Result<(), SinkError> {
        if self.should_fail() {
            anyhow::bail!("injected fault (fault sink, for testing)");
        }
        self.inner.publish(message).await
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
