//! Batch bindings for the JS exporter: one boundary crossing per batch of recordings
//! (`recordBatch`) and per export call (`eventsRequests`), over `telemetry_core::ffi::batch`.

use telemetry_core::ffi::batch::{self, BatchContext};
use wasm_bindgen::prelude::*;

use crate::{get_random_values, js_error, now_rfc3339, unix_millis, uuid_v7};

/// Random bytes for this many ids are fetched from `crypto.getRandomValues` at a time.
const IDS_PER_RANDOM_FILL: usize = 64;

/// Records a batch (see `telemetry_core::ffi::batch::record_batch`): `inputs` is the JSON text of
/// an array of `TelemetryEventInput`s; `context` the JSON text of one context, or with
/// `per_event` an array of one per recording; `policy` the JSON text of the redaction policy.
/// Contexts without `id` get a fresh UUID v7 each, without `now` the current time.
///
/// Answers one buffer: the summary's length in bytes (4 bytes, little-endian), the summary (a
/// JSON array of `{"id", "len"}` or `{"error"}`, one per recording), then the recorded events'
/// wire bytes back to back.
///
/// `inputs` and `context` are UTF-8 bytes (JS `TextEncoder`): wasm-bindgen copies a string into
/// the module one UTF-16 unit at a time in JS, bytes in one native copy.
#[wasm_bindgen(js_name = recordBatch)]
pub fn record_batch(
    inputs: &[u8],
    context: &[u8],
    per_event: bool,
    policy: &str,
) -> Result<Vec<u8>, JsError> {
    let inputs = utf8("recordings", inputs)?;
    let context = utf8("context", context)?;
    let now = now_rfc3339();
    let millis = unix_millis();
    let mut random = Vec::new();
    let mut fresh_id = || {
        if random.len() < 10 {
            random = vec![0u8; 10 * IDS_PER_RANDOM_FILL];
            get_random_values(&mut random);
        }
        let mut bytes = [0u8; 10];
        for (slot, byte) in bytes.iter_mut().zip(random.drain(random.len() - 10..)) {
            *slot = byte;
        }
        uuid_v7(millis, bytes)
    };
    let ctx = BatchContext {
        context,
        per_event,
        now: &now,
    };
    let recorded = batch::record_batch(inputs, &ctx, policy, &mut fresh_id).map_err(js_error)?;
    let summary_len = u32::try_from(recorded.summary.len())
        .map_err(|_| JsError::new("batch summary over 4 GiB"))?;
    let mut out = Vec::with_capacity(4 + recorded.summary.len() + recorded.events.len());
    out.extend_from_slice(&summary_len.to_le_bytes());
    out.extend_from_slice(recorded.summary.as_bytes());
    out.extend_from_slice(&recorded.events);
    Ok(out)
}

fn utf8<'a>(name: &str, bytes: &'a [u8]) -> Result<&'a str, JsError> {
    std::str::from_utf8(bytes)
        .map_err(|e| JsError::new(&format!("malformed input: {name}: not UTF-8: {e}")))
}

/// The `RecordEventsRequest` messages for queued events (see
/// `telemetry_core::ffi::batch::events_requests`): `events` holds the events' wire bytes back to
/// back, `lens` their lengths, `limit` the chunk limit in bytes. Answers the requests back to
/// back, each after its length (4 bytes, little-endian).
#[wasm_bindgen(js_name = eventsRequests)]
pub fn events_requests(events: &[u8], lens: &[u32], limit: f64) -> Result<Vec<u8>, JsError> {
    let limit = if limit.is_finite() && limit >= 1.0 {
        // A JS number of bytes, clamped well inside usize.
        limit.min(f64::from(u32::MAX)) as usize
    } else {
        0
    };
    batch::events_requests(events, lens, limit).map_err(js_error)
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
