//! Shutdown in phases: on the first signal the gateway stops accepting connections and reports
//! NOT_SERVING; open streams may finish for `--shutdown-drain-seconds`; then every stream still
//! open ends with `Unavailable` (its unacknowledged events are retried by the client), remaining
//! connections are closed, the sinks are flushed, and the process exits. A second signal exits at
//! once (handled by the binary).

use std::time::Duration;
use tokio::sync::watch;

/// Where the gateway is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// Serving.
    Running,
    /// Not accepting; open streams may finish.
    Draining,
    /// The drain deadline passed: streams end now.
    Stopping,
}

/// Drives the phases.
#[derive(Debug)]
pub struct Shutdown {
    tx: watch::Sender<Phase>,
}

/// Observes the phases (cheap to clone; one per stream).
#[derive(Debug, Clone)]
pub struct ShutdownWatch {
    rx: watch::Receiver<Phase>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Self::new()
    }
}

impl Shutdown {
    /// Starts in [`Phase::Running`].
    pub fn new() -> Self {
        Shutdown {
            tx: watch::channel(Phase::Running).0,
        }
    }

    /// A watcher.
    pub fn watch(&self) -> ShutdownWatch {
        ShutdownWatch {
            rx: self.tx.subscribe(),
        }
    }

    /// Moves to `phase` (never backwards).
    pub fn advance(&self, phase: Phase) {
        self.tx.send_if_modified(|p| {
            if phase > *p {
                *p = phase;
                true
            } else {
                false
            }
        });
    }

    /// Runs the drain: [`Phase::Draining`] now, [`Phase::Stopping`] after `drain`.
    pub async fn drain(&self, drain: Duration) {
        self.advance(Phase::Draining);
        tokio::time::sleep(drain).await;
        self.advance(Phase::Stopping);
    }
}

impl ShutdownWatch {
    /// The current phase.
    pub fn phase(&self) -> Phase {
        *self.rx.borrow()
    }

    async fn reached(&mut self, phase: Phase) {
        // An error means the `Shutdown` is gone: the process is ending.
        let _ = self.rx.wait_for(|p| *p >= phase).await;
    }

    /// Completes when shutdown starts.
    pub async fn draining(&mut self) {
        self.reached(Phase::Draining).await;
    }

    /// Completes when the drain deadline passed: streams must end now.
    pub async fn stopping(&mut self) {
        self.reached(Phase::Stopping).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn phases_advance_in_order_and_never_back() {
        let s = Shutdown::new();
        let mut w = s.watch();
        assert_eq!(w.phase(), Phase::Running);
        let drain = async { s.drain(Duration::from_secs(5)).await };
        let stop = async {
            w.draining().await;
            let draining_at = tokio::time::Instant::now();
            w.stopping().await;
            draining_at.elapsed()
        };
        let ((), waited) = tokio::join!(drain, stop);
        assert_eq!(waited, Duration::from_secs(5));
        s.advance(Phase::Running);
        assert_eq!(s.watch().phase(), Phase::Stopping);
    }
}
