//! The global budget of bytes in flight: a semaphore counted in bytes. Everything a client can
//! make the gateway hold — received messages, decoded events, translated messages on their way
//! to the sink, responses waiting for a slow reader — holds a [`Reservation`] for its size, and
//! waits (back-pressure) when the budget is used up. Dropping a reservation gives its bytes back.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The most bytes one reservation can take at once (tokio counts permits per acquisition in
/// `u32`); the budget itself is validated to hold the largest message.
const MAX_ONE_RESERVATION: usize = u32::MAX as usize;

/// The gateway-wide budget of bytes in flight. Cheap to clone.
#[derive(Clone)]
pub struct MemoryBudget {
    inner: Arc<Inner>,
}

struct Inner {
    semaphore: Arc<Semaphore>,
    total: usize,
    waits: AtomicU64,
}

/// Bytes held against the budget; given back when dropped.
#[derive(Debug, Default)]
pub struct Reservation {
    permit: Option<OwnedSemaphorePermit>,
}

impl MemoryBudget {
    /// A budget of `total` bytes.
    pub fn new(total: usize) -> Self {
        let total = total.min(Semaphore::MAX_PERMITS);
        MemoryBudget {
            inner: Arc::new(Inner {
                semaphore: Arc::new(Semaphore::new(total)),
                total,
                waits: AtomicU64::new(0),
            }),
        }
    }

    /// The budget's size in bytes.
    pub fn total(&self) -> usize {
        self.inner.total
    }

    /// Bytes currently reserved.
    pub fn in_use(&self) -> usize {
        self.inner
            .total
            .saturating_sub(self.inner.semaphore.available_permits())
    }

    /// How many reservations had to wait so far.
    pub fn waits(&self) -> u64 {
        self.inner.waits.load(Ordering::Relaxed)
    }

    fn clamp(&self, bytes: usize) -> u32 {
        // Never ask for more than the whole budget: such a request could never be granted.
        u32::try_from(bytes.min(self.inner.total).min(MAX_ONE_RESERVATION)).unwrap_or(u32::MAX)
    }

    /// Reserves `bytes`, waiting until they are available (callers race this against their
    /// deadlines). Requests above the whole budget are clamped to it.
    pub async fn reserve(&self, bytes: usize) -> Reservation {
        let n = self.clamp(bytes);
        if n == 0 {
            return Reservation::default();
        }
        if let Ok(permit) = self.inner.semaphore.clone().try_acquire_many_owned(n) {
            return Reservation {
                permit: Some(permit),
            };
        }
        self.inner.waits.fetch_add(1, Ordering::Relaxed);
        match self.inner.semaphore.clone().acquire_many_owned(n).await {
            Ok(permit) => Reservation {
                permit: Some(permit),
            },
            // The semaphore is never closed.
            Err(_) => Reservation::default(),
        }
    }

    /// Reserves `bytes` if they are available now.
    pub fn try_reserve(&self, bytes: usize) -> Option<Reservation> {
        let n = self.clamp(bytes);
        if n == 0 {
            return Some(Reservation::default());
        }
        self.inner
            .semaphore
            .clone()
            .try_acquire_many_owned(n)
            .ok()
            .map(|permit| Reservation {
                permit: Some(permit),
            })
    }
}

impl Reservation {
    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.permit.as_ref().map_or(0, |p| p.num_permits())
    }

    /// Gives back everything above `bytes` (keeps the reservation at most `bytes`).
    pub fn shrink_to(&mut self, bytes: usize) {
        let held = self.bytes();
        if held > bytes
            && let Some(permit) = self.permit.as_mut()
        {
            // Splitting off the excess and dropping it returns those permits.
            drop(permit.split(held - bytes));
        }
    }

    /// Moves `bytes` (at most what is held) into a new reservation.
    pub fn split(&mut self, bytes: usize) -> Reservation {
        let n = bytes.min(self.bytes());
        Reservation {
            permit: self.permit.as_mut().and_then(|p| p.split(n)),
        }
    }

    /// Adds another reservation's bytes to this one.
    pub fn merge(&mut self, other: Reservation) {
        match (self.permit.as_mut(), other.permit) {
            (Some(mine), Some(theirs)) => mine.merge(theirs),
            (None, theirs) => self.permit = theirs,
            (Some(_), None) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reservations_are_returned_when_dropped_and_waiters_proceed() {
        let budget = MemoryBudget::new(1000);
        let a = budget.reserve(600).await;
        assert_eq!(budget.in_use(), 600);
        assert!(budget.try_reserve(500).is_none());
        let b2 = budget.clone();
        let waiter = tokio::spawn(async move { b2.reserve(500).await.bytes() });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        drop(a);
        assert_eq!(waiter.await.unwrap(), 500);
        assert_eq!(budget.in_use(), 0);
        assert_eq!(budget.waits(), 1);
    }

    #[tokio::test]
    async fn shrink_split_merge_keep_the_count_exact() {
        let budget = MemoryBudget::new(1000);
        let mut r = budget.reserve(800).await;
        r.shrink_to(300);
        assert_eq!((r.bytes(), budget.in_use()), (300, 300));
        let part = r.split(100);
        assert_eq!((r.bytes(), part.bytes()), (200, 100));
        r.merge(part);
        assert_eq!((r.bytes(), budget.in_use()), (300, 300));
        let mut empty = Reservation::default();
        empty.merge(r);
        assert_eq!(empty.bytes(), 300);
        drop(empty);
        assert_eq!(budget.in_use(), 0);
        // More than the whole budget is clamped, so it can be granted.
        assert_eq!(budget.reserve(5000).await.bytes(), 1000);
    }
}
