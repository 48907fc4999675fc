//! Batch bindings for the JS exporter: one boundary crossing per batch of recordings, which also
//! frames their requests (`recordBatch`), and one per export call of other queued events
//! (`eventsRequests`), over `telemetry_core::ffi::batch`.

use crate::rust_alloc::{format, string::String, vec::Vec};
use telemetry_core::ffi::batch::{self, BatchContext};
use wasm_bindgen::prelude::*;

use crate::{js_error, now_rfc3339, random_bytes, unix_millis, uuid_v7};

/// Records a batch (see `telemetry_core::ffi::batch::record_batch`) and frames the recorded
/// events into the `RecordEventsRequest`s of one export call, cut under `limit` bytes by the
/// core's chunk plan (`telemetry_core::ffi::batch::frame_requests`), in one crossing: the
/// exporter's usual path (`recordRequests` in `npm/src/api.js`; `recordBatch` there reads the
/// same answer and leaves the requests). `inputs` is the JSON text of an array of
/// `TelemetryEventInput`s; `context` the JSON text of one context, or with `per_event` an array
/// of one per recording; `policy` the JSON text of the redaction policy. Contexts without `id`
/// get a fresh UUID v7 each, without `now` the current time.
///
/// Answers one buffer, read by `recordBatchText` in `npm/src/api.js` (all integers 4 bytes,
/// little-endian): the number of recordings `n`; the byte length of the text part; `n` event
/// lengths (`0xFFFFFFFF` for a refused recording); `n` text lengths in UTF-16 code units; `n`
/// offsets of each recorded event's bytes in the requests part (0 for a refused recording); the
/// text part (each recording's event id, or the message that refused it, back to back, UTF-8:
/// decoded in one call and sliced); then the requests part, the requests back to back, each after
/// its length, as [`events_requests`] answers them. Each event's bytes are a range of its request,
/// so a queue keeps them as views (for retries and its store) with no copy either way. No JSON
/// on the way out: parsing a JSON summary cost the JS side a tenth of the batch path.
///
/// `inputs` and `context` are UTF-8 bytes (JS `TextEncoder`): wasm-bindgen copies a string into
/// the module one UTF-16 unit at a time in JS, bytes in one native copy.
#[wasm_bindgen(js_name = recordBatch)]
pub fn record_batch(
    inputs: &[u8],
    context: &[u8],
    per_event: bool,
    policy: &str,
    limit: f64,
) -> Result<Vec<u8>, JsError> {
    let recorded = record(inputs, context, per_event, policy)?;
    // A loop rather than an iterator chain: the client module's size (no new instantiations).
    let mut sizes = Vec::with_capacity(recorded.entries.len());
    for entry in &recorded.entries {
        if let batch::Recorded::Event { len, .. } = entry {
            sizes.push(*len);
        }
    }
    let framed =
        batch::frame_requests(&recorded.events, &sizes, limit_bytes(limit)).map_err(js_error)?;
    answer(&recorded, &framed)
}

/// Runs `telemetry_core::ffi::batch::record_batch` with fresh ids and the current time.
fn record(
    inputs: &[u8],
    context: &[u8],
    per_event: bool,
    policy: &str,
) -> Result<batch::RecordedBatch, JsError> {
    let inputs = utf8("recordings", inputs)?;
    let context = utf8("context", context)?;
    let now = now_rfc3339();
    let millis = unix_millis();
    // The batch's fresh ids increase in recording order (RFC 9562 §6.2, method 1: the 12 bits of
    // `rand_a` count from a random start below 2048; the other 62 random bits stay random), so
    // the acknowledgement rule finds them distinct without sorting them
    // (`telemetry_core::export::acknowledged_indices`). Past 4095 ids the count stays there and
    // later ids are merely unordered.
    let mut count: Option<u16> = None;
    let mut fresh_id = || {
        let mut random = random_bytes();
        let [r0, r1, ..] = random;
        let next = match count {
            Some(c) => c.saturating_add(1).min(0x0fff),
            None => u16::from_be_bytes([r0 & 0x07, r1]),
        };
        count = Some(next);
        [random[0], random[1]] = next.to_be_bytes();
        uuid_v7(millis, random)
    };
    let ctx = BatchContext {
        context,
        per_event,
        now: &now,
    };
    batch::record_batch(inputs, &ctx, policy, &mut fresh_id).map_err(js_error)
}

/// The answer buffer of [`record_batch`]: the header, the text part, then the requests.
fn answer(
    recorded: &batch::RecordedBatch,
    framed: &batch::FramedRequests,
) -> Result<Vec<u8>, JsError> {
    let too_big = || JsError::new("batch answer over 4 GiB");
    let n = recorded.entries.len();
    let texts: Vec<&str> = recorded
        .entries
        .iter()
        .map(|e| match e {
            batch::Recorded::Event { id, .. } => id.as_str(),
            batch::Recorded::Error(message) => message.as_str(),
        })
        .collect();
    let text_bytes: usize = texts.iter().map(|t| t.len()).sum();
    let mut out = Vec::with_capacity(8 + 12 * n + text_bytes + framed.bytes.len());
    let put = |out: &mut Vec<u8>, v: usize| -> Result<(), JsError> {
        out.extend_from_slice(&u32::try_from(v).map_err(|_| too_big())?.to_le_bytes());
        Ok(())
    };
    put(&mut out, n)?;
    put(&mut out, text_bytes)?;
    for entry in &recorded.entries {
        match entry {
            batch::Recorded::Event { len, .. } => put(&mut out, *len)?,
            batch::Recorded::Error(_) => out.extend_from_slice(&u32::MAX.to_le_bytes()),
        }
    }
    for text in &texts {
        // ASCII (every generated id) is one code unit per byte.
        let units = if text.is_ascii() {
            text.len()
        } else {
            text.encode_utf16().count()
        };
        put(&mut out, units)?;
    }
    let mut offsets = framed.offsets.iter();
    for entry in &recorded.entries {
        let offset = match entry {
            batch::Recorded::Event { .. } => offsets.next().copied().unwrap_or(0),
            batch::Recorded::Error(_) => 0,
        };
        put(&mut out, offset)?;
    }
    for text in &texts {
        out.extend_from_slice(text.as_bytes());
    }
    out.extend_from_slice(&framed.bytes);
    Ok(out)
}

/// A JS number of bytes as a chunk limit: clamped well inside usize; anything below 1 is 0,
/// which the core refuses.
fn limit_bytes(limit: f64) -> usize {
    if limit.is_finite() && limit >= 1.0 {
        limit.min(f64::from(u32::MAX)) as usize
    } else {
        0
    }
}

fn utf8<'a>(name: &str, bytes: &'a [u8]) -> Result<&'a str, JsError> {
    core::str::from_utf8(bytes)
        .map_err(|e| JsError::new(&format!("malformed input: {name}: not UTF-8: {e}")))
}

/// The `RecordEventsRequest` messages for queued events (see
/// `telemetry_core::ffi::batch::events_requests`): `events` holds the events' wire bytes back to
/// back, `lens` their lengths, `limit` the chunk limit in bytes. Answers the requests back to
/// back, each after its length (4 bytes, little-endian).
#[wasm_bindgen(js_name = eventsRequests)]
pub fn events_requests(events: &[u8], lens: &[u32], limit: f64) -> Result<Vec<u8>, JsError> {
    batch::events_requests(events, lens, limit_bytes(limit)).map_err(js_error)
}

/// Checks that queued wire bytes decode as events (see
/// `telemetry_core::ffi::batch::check_events`): a JSON array of `null` or an error per event.
#[wasm_bindgen(js_name = checkEvents)]
pub fn check_events(events: &[u8], lens: &[u32]) -> String {
    batch::check_events(events, lens)
}

/// The positions in `sent` (the ids of one export call, UTF-8 back to back with their byte
/// lengths in `lens`) that the encoded `RecordEventsResponse` acknowledges (see
/// `telemetry_core::ffi::batch::acknowledged_in_response`): one crossing per answer, no JSON.
#[wasm_bindgen(js_name = acknowledgedIn)]
pub fn acknowledged_in(sent: &[u8], lens: &[u32], response: &[u8]) -> Result<Vec<u32>, JsError> {
    let mut ids = Vec::with_capacity(lens.len());
    let mut at = 0usize;
    for &len in lens {
        let end = at.saturating_add(len as usize);
        let bytes = sent
            .get(at..end)
            .ok_or_else(|| JsError::new("malformed input: id lengths exceed the ids given"))?;
        ids.push(utf8("sent", bytes)?);
        at = end;
    }
    let acked = batch::acknowledged_in_response(&ids, response).map_err(js_error)?;
    // Positions in a list of JS array length: well inside u32.
    Ok(acked.into_iter().map(|i| i as u32).collect())
}
