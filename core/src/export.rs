//! Exporter rules shared by every exporter (the Rust export queue and the JS exporter): how
//! queued events are cut into `EventsPayload` chunks, which ids an export run may mark as
//! exported, and the retry back-off schedule. Pure: callers pass sizes, ids and random samples.

use crate::prelude::*;

use core::ops::Range;

/// Payloads are kept under this many bytes of encoded events (upstream: 1 MiB).
pub const MAX_CHUNK_BYTES: usize = 1024 * 1024;

/// The bytes one event of `encoded_len` bytes takes inside an `EventsPayload` message: the
/// field tag, the length varint, and the event itself.
pub fn framed_len(encoded_len: usize) -> usize {
    let mut varint = 1;
    let mut v = encoded_len;
    while v >= 0x80 {
        v >>= 7;
        varint += 1;
    }
    encoded_len.saturating_add(1 + varint)
}

/// Splits events of the given encoded sizes (each event's own protobuf length) into
/// consecutive chunks whose `EventsPayload` encoding stays under `limit` bytes: a chunk is
/// closed when adding the next event (with its framing, [`framed_len`]) would reach `limit`. An
/// event that alone reaches `limit` travels in a chunk of its own. Never yields an empty chunk
/// (upstream's chunker sends an empty payload before such an event; we do not).
pub fn plan_chunks(encoded_lens: &[usize], limit: usize) -> Vec<Range<usize>> {
    let mut chunks = Vec::new();
    let mut start = 0;
    let mut total = 0usize;
    for (i, &len) in encoded_lens.iter().enumerate() {
        let size = framed_len(len);
        if i > start && total.saturating_add(size) >= limit {
            chunks.push(start..i);
            start = i;
            total = 0;
        }
        total = total.saturating_add(size);
    }
    if start < encoded_lens.len() {
        chunks.push(start..encoded_lens.len());
    }
    chunks
}

/// The ids of `sent` that the gateway acknowledged, in `sent` order, without duplicates.
/// Only these may be marked exported; every other sent event stays queued for the next run.
pub fn acknowledged<'a>(sent: &'a [String], succeeded: &[String]) -> Vec<&'a str> {
    acknowledged_indices(sent, succeeded)
        .into_iter()
        .filter_map(|i| sent.get(i).map(String::as_str))
        .collect()
}

/// [`acknowledged`] as positions in `sent` (the first position of an id sent twice).
pub fn acknowledged_indices<S: AsRef<str>>(sent: &[S], succeeded: &[String]) -> Vec<usize> {
    let sent: Vec<&str> = sent.iter().map(AsRef::as_ref).collect();
    // The usual answer lists every event sent, in the order sent: then only `sent` needs sorting
    // (for an id sent twice), and no lookup in the answer (one sort instead of two, no binary
    // searches: this rule was a tenth of an export call's time in the JS exporter).
    if succeeded.len() == sent.len() && sent.iter().zip(succeeded).all(|(a, b)| *a == b.as_str()) {
        // Ids in increasing order hold no id twice: every position, without sorting (the ids of
        // a batch recorded by the WASM module increase, see `wasm/src/batch.rs`; the sort of 100
        // ids was about 3% of an export call's time in the JS exporter).
        if sent.windows(2).all(|w| w.first() < w.get(1)) {
            return (0..sent.len()).collect();
        }
        return first_positions(&sent, &|_| true);
    }
    // Sorted lists rather than hash sets: the WASM build then carries no hash map (its code and
    // its random seed) for this one rule.
    let succeeded: Vec<&str> = succeeded.iter().map(String::as_str).collect();
    let acked: Vec<&str> = crate::order::by_key(&succeeded)
        .into_iter()
        .filter_map(|i| succeeded.get(i).copied())
        .collect();
    first_positions(&sent, &|id| acked.binary_search(&id).is_ok())
}

/// The first position of each id of `sent` that `acked` holds, in position order.
fn first_positions(sent: &[&str], acked: &dyn Fn(&str) -> bool) -> Vec<usize> {
    let mut keep = vec![false; sent.len()];
    let mut previous: Option<&str> = None;
    for i in crate::order::by_key(sent) {
        let id = sent.get(i).copied().unwrap_or_default();
        // The first position of each id (equal ids come in position order).
        if previous != Some(id)
            && acked(id)
            && let Some(k) = keep.get_mut(i)
        {
            *k = true;
        }
        previous = Some(id);
    }
    keep.iter()
        .enumerate()
        .filter_map(|(i, &k)| k.then_some(i))
        .collect()
}

/// Retry back-off: exponential from `base_ms`, capped at `max_ms`, with "full jitter" — the
/// delay is `sample × min(max, base × 2^attempt)` for a caller-supplied uniform `sample` in
/// `[0, 1)` (out-of-range samples are clamped). `attempt` counts from 0.
pub fn backoff_delay_ms(attempt: u32, base_ms: u64, max_ms: u64, sample: f64) -> u64 {
    let ceiling = base_ms
        .saturating_mul(1u64.checked_shl(attempt.min(63)).unwrap_or(u64::MAX))
        .min(max_ms);
    let sample = if sample.is_finite() {
        sample.clamp(0.0, 1.0)
    } else {
        0.0
    };
    (ceiling as f64 * sample) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_stay_under_the_limit() {
        assert_eq!(framed_len(1), 3);
        assert_eq!(framed_len(127), 129);
        assert_eq!(framed_len(128), 131);
        assert_eq!(plan_chunks(&[], 10), Vec::<Range<usize>>::new());
        // each event of 1 byte takes 3 inside the payload
        assert_eq!(plan_chunks(&[1, 1, 1], 10), vec![0..3]);
        // 3+3+3+3 = 12 would reach the limit: the fourth starts a new chunk.
        assert_eq!(plan_chunks(&[1, 1, 1, 1], 10), vec![0..3, 3..4]);
        // an oversized event travels alone, and no empty chunk precedes it
        assert_eq!(plan_chunks(&[12, 1, 12], 10), vec![0..1, 1..2, 2..3]);
        assert_eq!(plan_chunks(&[5, 5], 10), vec![0..1, 1..2]);
    }

    #[test]
    fn planned_payloads_encode_under_the_limit() {
        use crate::proto::{Event, record_events_request::EventsPayload};
        use prost::Message;
        let events: Vec<Event> = (0..500)
            .map(|i| Event {
                id: "x".repeat(i * 7 % 300),
                ..Default::default()
            })
            .collect();
        let lens: Vec<usize> = events.iter().map(Message::encoded_len).collect();
        for limit in [64, 1000, 4096] {
            for range in plan_chunks(&lens, limit) {
                let payload = EventsPayload {
                    events: events[range.clone()].to_vec(),
                };
                assert!(
                    payload.encoded_len() < limit || range.len() == 1,
                    "chunk {range:?} encodes to {} >= {limit}",
                    payload.encoded_len()
                );
            }
        }
    }

    #[test]
    fn only_acknowledged_ids_are_marked() {
        let sent: Vec<String> = ["a", "b", "c", "a"].iter().map(|s| s.to_string()).collect();
        let ok: Vec<String> = ["c", "a", "zzz"].iter().map(|s| s.to_string()).collect();
        assert_eq!(acknowledged(&sent, &ok), vec!["a", "c"]);
        assert_eq!(acknowledged_indices(&sent, &ok), vec![0, 2]);
        assert_eq!(acknowledged_indices(&["x", "y"], &ok), Vec::<usize>::new());
    }

    #[test]
    fn an_answer_listing_everything_sent_acknowledges_each_id_once() {
        let strings = |ids: &[&str]| ids.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        // Everything sent, in order (the fast path): an id sent twice counts at its first place.
        let sent = strings(&["b", "a", "b", "c"]);
        assert_eq!(acknowledged_indices(&sent, &sent), vec![0, 1, 3]);
        // Increasing ids (no duplicates possible) all acknowledged: every position.
        let increasing = strings(&["a", "b", "c", "d"]);
        assert_eq!(
            acknowledged_indices(&increasing, &increasing),
            vec![0, 1, 2, 3]
        );
        let repeated = strings(&["a", "b", "b", "d"]);
        assert_eq!(acknowledged_indices(&repeated, &repeated), vec![0, 1, 3]);
        assert_eq!(acknowledged(&sent, &sent), vec!["b", "a", "c"]);
        assert_eq!(
            acknowledged_indices(&sent[..0], &sent[..0]),
            Vec::<usize>::new()
        );
        // The same ids in another order, or one short, or one more: the general rule, same sets.
        assert_eq!(
            acknowledged_indices(&sent, &strings(&["c", "b", "a", "b"])),
            vec![0, 1, 3]
        );
        assert_eq!(
            acknowledged_indices(&sent, &strings(&["b", "a", "b"])),
            vec![0, 1]
        );
        assert_eq!(
            acknowledged_indices(&sent, &strings(&["b", "a", "b", "c", "d"])),
            vec![0, 1, 3]
        );
    }

    #[test]
    fn backoff_grows_and_caps() {
        assert_eq!(backoff_delay_ms(0, 100, 10_000, 0.999_999), 99);
        assert_eq!(backoff_delay_ms(3, 100, 10_000, 0.5), 400);
        assert_eq!(backoff_delay_ms(20, 100, 10_000, 0.5), 5_000);
        assert_eq!(backoff_delay_ms(200, 100, 10_000, 1.0), 10_000);
        assert_eq!(backoff_delay_ms(2, 100, 10_000, f64::NAN), 0);
        assert_eq!(backoff_delay_ms(2, 100, 10_000, -3.0), 0);
    }
}
