//! Bounded logging of what clients control: per-event log lines (rejected, failed, oversized
//! events, dropped dead letters) are rate-limited per kind — the lines over the rate are counted
//! and the count is reported on the next line that gets through — and client-controlled
//! strings are truncated ([`Clip`]). A client cannot make the gateway write unbounded logs.

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use std::fmt;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The longest client-controlled string written to a log line, in bytes.
pub const MAX_LOGGED_STRING_BYTES: usize = 128;

/// A client-controlled string, truncated for logging: at most [`MAX_LOGGED_STRING_BYTES`]
/// (cut at a character boundary) followed by `…(N bytes)` when it was longer.
pub struct Clip<'a>(pub &'a str);

impl fmt::Display for Clip<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        if s.len() <= MAX_LOGGED_STRING_BYTES {
            return f.write_str(s);
        }
        let mut end = MAX_LOGGED_STRING_BYTES;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        write!(f, "{}…({} bytes)", s.get(..end).unwrap_or(""), s.len())
    }
}

/// Kinds of per-event log lines, each with its own rate limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventLogKind {
    /// An event refused by validation.
    Rejected,
    /// An event whose publish failed.
    PublishFailed,
    /// An event dropped as oversized.
    Oversized,
    /// A dead letter that could not be queued or written.
    DeadLetter,
}

const KINDS: usize = 4;

impl EventLogKind {
    fn index(self) -> usize {
        match self {
            EventLogKind::Rejected => 0,
            EventLogKind::PublishFailed => 1,
            EventLogKind::Oversized => 2,
            EventLogKind::DeadLetter => 3,
        }
    }
}

/// The per-kind rate limits. Cheap to clone.
#[derive(Clone)]
pub struct EventLogLimiter {
    inner: Arc<[Slot; KINDS]>,
}

struct Slot {
    limiter: DefaultDirectRateLimiter,
    suppressed: AtomicU64,
}

impl EventLogLimiter {
    /// `per_second` lines per kind (bursts of the same size).
    pub fn new(per_second: u32) -> Self {
        let rate = NonZeroU32::new(per_second.max(1)).unwrap_or(NonZeroU32::MIN);
        let slot = || Slot {
            limiter: RateLimiter::direct(Quota::per_second(rate)),
            suppressed: AtomicU64::new(0),
        };
        EventLogLimiter {
            inner: Arc::new([slot(), slot(), slot(), slot()]),
        }
    }

    /// Whether a line of this kind may be written now; if so, how many were suppressed since
    /// the last one (report it in the line).
    pub fn check(&self, kind: EventLogKind) -> Option<u64> {
        let slot = self.inner.get(kind.index())?;
        if slot.limiter.check().is_ok() {
            Some(slot.suppressed.swap(0, Ordering::Relaxed))
        } else {
            slot.suppressed.fetch_add(1, Ordering::Relaxed);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clips_long_strings_at_char_boundaries() {
        assert_eq!(Clip("short").to_string(), "short");
        let long = "é".repeat(100); // 200 bytes
        let clipped = Clip(&long).to_string();
        assert!(clipped.ends_with("…(200 bytes)"), "{clipped}");
        assert!(clipped.len() <= MAX_LOGGED_STRING_BYTES + "…(200 bytes)".len());
    }

    #[test]
    fn lines_over_the_rate_are_counted_and_reported() {
        let limiter = EventLogLimiter::new(3);
        let allowed = (0..100)
            .filter(|_| limiter.check(EventLogKind::Rejected).is_some())
            .count();
        assert_eq!(allowed, 3);
        // Another kind has its own budget.
        assert_eq!(limiter.check(EventLogKind::Oversized), Some(0));
        std::thread::sleep(std::time::Duration::from_millis(400));
        assert_eq!(limiter.check(EventLogKind::Rejected), Some(97));
    }
}
