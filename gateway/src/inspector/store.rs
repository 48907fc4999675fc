//! The bounded in-memory record: recent entries, oldest evicted first when either the count or
//! the byte limit is exceeded, plus counters by outcome and a 60-second window of per-second
//! counts (for rates and the page's chart).
//!
//! Readers never scan under the lock: they take a snapshot (a copy of the entries' `Arc`s) and
//! filter it afterwards, so a search over megabytes of bodies never delays the serving path.

use super::entry::{Entry, OutcomeKind, Summary};
use std::collections::VecDeque;
use std::sync::Arc;

/// Seconds of per-second counts kept for rates.
pub const RATE_WINDOW_SECONDS: usize = 60;

/// The store's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most entries kept.
    pub capacity: usize,
    /// Most bytes kept (bodies, attributes, strings and per-entry overhead).
    pub max_bytes: usize,
    /// Longest message body (or rendered event) kept per entry; longer ones keep a prefix.
    pub max_body_bytes: usize,
}

#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    second: i64,
    counts: [u64; 4],
}

/// The recent entries and counters.
#[derive(Debug)]
pub struct Store {
    limits: Limits,
    entries: VecDeque<Arc<Entry>>,
    bytes: usize,
    next_seq: u64,
    evicted: u64,
    counts: [u64; 4],
    not_kept: u64,
    buckets: [Bucket; RATE_WINDOW_SECONDS],
    since_ms: i64,
}

/// Counters and sizes at one moment.
#[derive(Debug, Clone)]
pub struct Stats {
    /// Events seen since the start (or the last reset), by [`OutcomeKind::index`].
    pub counts: [u64; 4],
    /// Entries currently kept.
    pub retained: usize,
    /// Bytes currently kept.
    pub retained_bytes: usize,
    /// Entries evicted since the start (or the last reset).
    pub evicted: u64,
    /// Events counted but not kept, over the record rate, since the start (or the last reset).
    pub not_kept: u64,
    /// The oldest and newest kept sequence numbers.
    pub oldest_seq: Option<u64>,
    /// The newest kept sequence number.
    pub newest_seq: Option<u64>,
    /// When counting started (start or last reset), ms since the epoch.
    pub since_ms: i64,
    /// Per-second counts of the last [`RATE_WINDOW_SECONDS`] seconds up to `now_second`, oldest
    /// first: `(unix second, counts by outcome)`.
    pub series: Vec<(i64, [u64; 4])>,
}

impl Store {
    /// An empty store.
    pub fn new(limits: Limits, now_ms: i64) -> Self {
        Store {
            limits,
            entries: VecDeque::new(),
            bytes: 0,
            next_seq: 1,
            evicted: 0,
            counts: [0; 4],
            not_kept: 0,
            buckets: [Bucket::default(); RATE_WINDOW_SECONDS],
            since_ms: now_ms,
        }
    }

    /// The limits.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Counts one payload's events (every event is counted, kept or not): `counts` by
    /// [`OutcomeKind::index`], `not_kept` of them over the record rate.
    pub fn count(&mut self, counts: [u64; 4], not_kept: u64, received_ms: i64) {
        for (total, n) in self.counts.iter_mut().zip(counts) {
            *total += n;
        }
        self.not_kept += not_kept;
        let second = received_ms.div_euclid(1000);
        let slot = second.rem_euclid(RATE_WINDOW_SECONDS as i64) as usize;
        if let Some(b) = self.buckets.get_mut(slot) {
            if b.second != second {
                *b = Bucket {
                    second,
                    counts: [0; 4],
                };
            }
            for (c, n) in b.counts.iter_mut().zip(counts) {
                *c += n;
            }
        }
    }

    /// Keeps an entry (assigning its sequence number), then evicts the oldest entries until both
    /// limits hold again. Returns the entry's summary. (Counting is [`Store::count`].)
    pub fn push(&mut self, entry: Entry) -> Arc<Summary> {
        let seq = self.next_seq;
        self.next_seq += 1;
        entry.summary.set_seq(seq);
        let summary = entry.summary.clone();
        self.bytes += entry.cost();
        self.entries.push_back(Arc::new(entry));
        while self.entries.len() > self.limits.capacity || self.bytes > self.limits.max_bytes {
            match self.entries.pop_front() {
                Some(old) => {
                    self.bytes -= old.cost();
                    self.evicted += 1;
                }
                None => break,
            }
        }
        summary
    }

    /// A copy of the kept entries' handles, oldest first (cheap: one `Arc` per entry).
    pub fn snapshot(&self) -> Vec<Arc<Entry>> {
        self.entries.iter().cloned().collect()
    }

    /// The kept entry with this sequence number.
    pub fn get(&self, seq: u64) -> Option<Arc<Entry>> {
        // Sequence numbers increase along the deque.
        let i = self
            .entries
            .binary_search_by_key(&seq, |e| e.summary.seq())
            .ok()?;
        self.entries.get(i).cloned()
    }

    /// The newest sequence number ever assigned (0 before the first entry).
    pub fn newest_seq(&self) -> u64 {
        self.next_seq - 1
    }

    /// Forgets every entry and counter (sequence numbers keep increasing, so a client's cursor
    /// never points at a different event).
    pub fn reset(&mut self, now_ms: i64) {
        self.entries.clear();
        self.bytes = 0;
        self.evicted = 0;
        self.counts = [0; 4];
        self.not_kept = 0;
        self.buckets = [Bucket::default(); RATE_WINDOW_SECONDS];
        self.since_ms = now_ms;
    }

    /// Counters and sizes; `now_ms` anchors the per-second series.
    pub fn stats(&self, now_ms: i64) -> Stats {
        let now_second = now_ms.div_euclid(1000);
        let series = (0..RATE_WINDOW_SECONDS as i64)
            .rev()
            .map(|ago| {
                let second = now_second - ago;
                let slot = second.rem_euclid(RATE_WINDOW_SECONDS as i64) as usize;
                let counts = self
                    .buckets
                    .get(slot)
                    .filter(|b| b.second == second)
                    .map_or([0; 4], |b| b.counts);
                (second, counts)
            })
            .collect();
        Stats {
            counts: self.counts,
            retained: self.entries.len(),
            retained_bytes: self.bytes,
            evicted: self.evicted,
            not_kept: self.not_kept,
            oldest_seq: self.entries.front().map(|e| e.summary.seq()),
            newest_seq: self.entries.back().map(|e| e.summary.seq()),
            since_ms: self.since_ms,
            series,
        }
    }
}

impl Stats {
    /// Counts by outcome name.
    pub fn counts_json(counts: &[u64; 4]) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        for o in OutcomeKind::ALL {
            m.insert(
                o.as_str().to_string(),
                counts.get(o.index()).copied().unwrap_or(0).into(),
            );
        }
        m.insert("total".to_string(), counts.iter().sum::<u64>().into());
        serde_json::Value::Object(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inspector::entry::{
        Content, MAX_ERROR_BYTES, MAX_FIELD_BYTES, PackedBuilder, PayloadContext,
    };

    fn entry(id: &str, body: usize, ms: i64, outcome: OutcomeKind) -> Entry {
        let strings = PackedBuilder::with_capacity(16)
            .push(id, MAX_FIELD_BYTES)
            .push("f.f", MAX_FIELD_BYTES)
            .push("a", MAX_FIELD_BYTES)
            .push("src", MAX_FIELD_BYTES)
            .push("inst", MAX_FIELD_BYTES)
            .push("req", MAX_FIELD_BYTES)
            .push("", MAX_ERROR_BYTES);
        let summary = Summary::new(ms, outcome, None, "RecordEvents", Some(body), strings);
        let ctx = Arc::new(PayloadContext {
            metadata_json: None,
            cost: 0,
        });
        Entry::new(
            summary,
            ctx,
            None,
            Content::Message {
                data: vec![b'x'; body].into_boxed_slice(),
                full_len: body,
            },
            0,
        )
    }

    /// Counts and keeps an entry, as a payload of one does.
    fn add(s: &mut Store, e: Entry) -> Arc<Summary> {
        let mut counts = [0; 4];
        counts[e.summary.outcome.index()] = 1;
        s.count(counts, 0, e.summary.received_ms);
        s.push(e)
    }

    fn ids(store: &Store) -> Vec<String> {
        store
            .snapshot()
            .iter()
            .map(|e| {
                e.summary
                    .get(crate::inspector::entry::Field::EventId)
                    .to_string()
            })
            .collect()
    }

    #[test]
    fn count_bound_evicts_oldest_first() {
        let limits = Limits {
            capacity: 3,
            max_bytes: 1 << 30,
            max_body_bytes: 1024,
        };
        let mut s = Store::new(limits, 0);
        for i in 1..=5 {
            add(
                &mut s,
                entry(&format!("e{i}"), 10, 0, OutcomeKind::Published),
            );
        }
        assert_eq!(ids(&s), ["e3", "e4", "e5"]);
        let st = s.stats(0);
        assert_eq!((st.retained, st.evicted), (3, 2));
        assert_eq!((st.oldest_seq, st.newest_seq), (Some(3), Some(5)));
        assert_eq!(st.counts, [5, 0, 0, 0]);
        assert!(s.get(2).is_none());
        assert_eq!(
            s.get(4).map(|e| e
                .summary
                .get(crate::inspector::entry::Field::EventId)
                .to_string()),
            Some("e4".to_string())
        );
    }

    #[test]
    fn byte_bound_holds_under_a_flood() {
        let limits = Limits {
            capacity: 1_000_000,
            max_bytes: 256 * 1024,
            max_body_bytes: 32 * 1024,
        };
        let mut s = Store::new(limits, 0);
        let one = entry("x", 4096, 0, OutcomeKind::Published).cost();
        for i in 0..20_000 {
            add(
                &mut s,
                entry(&format!("e{i}"), 4096, i, OutcomeKind::Published),
            );
            assert!(s.stats(i).retained_bytes <= limits.max_bytes);
        }
        let st = s.stats(20_000);
        // full up to one entry's worth, and the newest kept
        assert!(st.retained_bytes + one > limits.max_bytes, "{st:?}");
        assert_eq!(st.newest_seq, Some(20_000));
        assert_eq!(st.retained as u64 + st.evicted, 20_000);
        assert_eq!(ids(&s).last().map(String::as_str), Some("e19999"));
    }

    #[test]
    fn rates_window_and_reset() {
        let limits = Limits {
            capacity: 100,
            max_bytes: 1 << 20,
            max_body_bytes: 1024,
        };
        let mut s = Store::new(limits, 0);
        add(&mut s, entry("a", 1, 1_000, OutcomeKind::Published));
        add(&mut s, entry("b", 1, 1_500, OutcomeKind::Rejected));
        add(&mut s, entry("c", 1, 2_000, OutcomeKind::Rejected));
        let st = s.stats(2_000);
        assert_eq!(st.series.len(), RATE_WINDOW_SECONDS);
        assert_eq!(st.series.last(), Some(&(2, [0, 1, 0, 0])));
        assert_eq!(st.series.get(58), Some(&(1, [1, 1, 0, 0])));
        // 60 seconds later the same slots hold new seconds: the old counts are gone
        add(&mut s, entry("d", 1, 62_000, OutcomeKind::PublishFailed));
        let st = s.stats(62_000);
        assert_eq!(st.series.last(), Some(&(62, [0, 0, 0, 1])));
        assert_eq!(st.series.first(), Some(&(3, [0, 0, 0, 0])));
        assert!(st.series.iter().all(|(sec, _)| *sec > 2));
        assert_eq!(st.counts, [1, 2, 0, 1]);
        s.reset(70_000);
        let st = s.stats(70_000);
        assert_eq!((st.retained, st.counts, st.since_ms), (0, [0; 4], 70_000));
        assert_eq!(
            add(&mut s, entry("e", 1, 70_000, OutcomeKind::Published)).seq(),
            5
        );
    }
}
