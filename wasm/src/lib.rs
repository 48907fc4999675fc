//! WASM bindings over `telemetry-core`: a thin `wasm-bindgen` layer, no rule lives here.
//!
//! Every operation crosses the boundary as a JSON **string** in and a JSON string out (the
//! encoding the benchmark in `npm/bench/` measured as fastest and the only one that keeps int64
//! values and doubles exact). Answers are values (`{"error": …}` for an operation that fails);
//! a malformed *request* is thrown as a JS `Error` carrying the core's message.
//!
//! The only things this layer adds are what the pure core must not have: the current time
//! (`Date.now()`) and randomness (`crypto.getRandomValues`), used to fill `context.id` (a UUID v7)
//! and `context.now` of a `record` request that leaves them out.

// The client module (no `std` feature) is `no_std`: a panic (none is expected: the core is
// panic-free by lint) traps at once through the handler below, as `panic = "abort"` does, without
// linking std's panic hook and the formatting of its message. The JS layer recovers from the trap
// either way (`TelemetryCoreTrap`).
#![cfg_attr(all(target_family = "wasm", not(feature = "std")), no_std)]

extern crate alloc as rust_alloc;

use rust_alloc::format;
use rust_alloc::string::{String, ToString};
use rust_alloc::vec::Vec;
use telemetry_core::ffi::{self, FfiError};
use wasm_bindgen::prelude::*;

#[cfg(all(target_family = "wasm", not(feature = "std")))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    core::arch::wasm32::unreachable()
}

mod batch;

/// The allocator: talc rather than the default dlmalloc. A recording's reading, recording and
/// encoding allocate a few dozen small strings and maps, and dlmalloc spent about a fifth of a
/// single `redact` call; talc is faster for these and smaller in the module (BENCHMARKS.md).
/// Freed small blocks are cached in front of it for the next allocation of their size
/// (`alloc.rs`).
#[cfg(all(not(target_feature = "atomics"), target_family = "wasm"))]
#[global_allocator]
static ALLOCATOR: alloc::Cached<talc::wasm::WasmDynamicTalc> =
    alloc::Cached::new(talc::wasm::new_wasm_dynamic_allocator());
#[cfg(any(test, all(not(target_feature = "atomics"), target_family = "wasm")))]
mod alloc;
#[cfg(feature = "full")]
mod conformance;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = Date, js_name = now)]
    fn date_now() -> f64;
    #[wasm_bindgen(js_namespace = crypto, js_name = getRandomValues)]
    fn get_random_values(buf: &mut [u8]);
}

fn js_error(e: FfiError) -> JsError {
    JsError::new(&e.to_string())
}

/// JSON text handed over as UTF-8 bytes. The JS layer encodes its strings with
/// `TextEncoder.encodeInto` into a reused buffer, which wasm-bindgen copies into the module in
/// one native copy (a `&str` argument is copied one UTF-16 unit at a time in JS, which costs more
/// than many whole operations).
fn utf8(bytes: &[u8]) -> Result<&str, JsError> {
    core::str::from_utf8(bytes)
        .map_err(|e| js_error(FfiError::MalformedInput(format!("not UTF-8: {e}"))))
}

/// Runs one operation (`validate`, `redact`, `translate`, `ingest`, `record`) on the JSON text
/// of its input and returns the JSON text of its answer. `record` is run as given: its context
/// must carry `id` and `now` (see [`record`] for the variant that fills them).
#[wasm_bindgen(js_name = runOp)]
pub fn run_op(op: &str, input: &[u8]) -> Result<String, JsError> {
    ffi::run_op(op, utf8(input)?).map_err(js_error)
}

/// `validate` on the JSON text of its input: `undefined` when the event is valid (the answer
/// `{"ok":true}`, which the JS API then builds itself), else the JSON text of the answer. One
/// call per op rather than [`run_op`]'s name argument, and no answer text to decode in the
/// common case: the single `validate` call's boundary work, halved. Full build only (the client
/// module's size budget; the JS API calls [`run_op`] there).
#[cfg(feature = "full")]
#[wasm_bindgen(js_name = validateText)]
pub fn validate_text(input: &[u8]) -> Result<Option<String>, JsError> {
    let answer = ffi::run_op("validate", utf8(input)?).map_err(js_error)?;
    Ok((answer != ffi::VALID_ANSWER).then_some(answer))
}

/// `redact` on the JSON text of its input (as [`run_op`], without the op's name to pass). Full
/// build only, as [`validate_text`].
#[cfg(feature = "full")]
#[wasm_bindgen(js_name = redactText)]
pub fn redact_text(input: &[u8]) -> Result<String, JsError> {
    ffi::run_op("redact", utf8(input)?).map_err(js_error)
}

/// `translate` on the JSON text of its input, the message body kept apart (see
/// `telemetry_core::ffi::translate_parts`): one buffer, the body's length (4 bytes,
/// little-endian; `0xFFFFFFFF` when nothing is published) and the body, then the JSON text of the
/// rest of the answer. The JS API hands the body out as `data` and decodes it as `payload`:
/// escaping a 1 KB body into a JSON string here, unescaping it in `JSON.parse` and encoding it
/// again with `TextEncoder` cost about a sixth of a `translate` call.
#[cfg(feature = "full")]
#[wasm_bindgen(js_name = translateParts)]
pub fn translate_parts(input: &[u8]) -> Result<Vec<u8>, JsError> {
    let parts = ffi::translate_parts(utf8(input)?).map_err(js_error)?;
    let mut out =
        Vec::with_capacity(4 + parts.payload.as_ref().map_or(0, Vec::len) + parts.answer.len());
    // A body's length is below `u32::MAX`: a WASM module's memory is at most 4 GiB, and the
    // input this body came from is in it too.
    match &parts.payload {
        Some(payload) => {
            let len = u32::try_from(payload.len()).unwrap_or(u32::MAX - 1);
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(payload);
        }
        None => out.extend_from_slice(&u32::MAX.to_le_bytes()),
    }
    out.extend_from_slice(parts.answer.as_bytes());
    Ok(out)
}

/// A fresh UUID v7 and the current time, for a `record` context that leaves `id` or `now` out.
const CONTEXT_DEFAULTS: ffi::ContextDefaults<'static> = ffi::ContextDefaults {
    id: &new_uuid_v7,
    now: &now_rfc3339,
};

/// `record`, with `context.id` (a fresh UUID v7) and `context.now` (the current time) filled
/// in when the caller leaves them out.
#[wasm_bindgen(js_name = recordNow)]
pub fn record(input: &[u8]) -> Result<String, JsError> {
    ffi::record_with_defaults(utf8(input)?, CONTEXT_DEFAULTS).map_err(js_error)
}

/// Runs one operation on an input object assembled from named fields, each given as its own
/// JSON text (so a caller can pass some fields as exact JSON text and others serialized, with
/// no string splicing): `values` holds the texts back to back as UTF-8, `lens` their lengths.
/// With `fill`, a `record` context gets `id` and `now` filled in as by [`record`].
#[wasm_bindgen(js_name = runOpFields)]
pub fn run_op_fields(
    op: &str,
    names: Vec<String>,
    values: &[u8],
    lens: &[u32],
    fill: bool,
) -> Result<String, JsError> {
    if names.len() != lens.len() {
        return Err(js_error(FfiError::MalformedInput(
            "names and values differ in length".into(),
        )));
    }
    let mut fields = Vec::with_capacity(names.len());
    let mut at = 0usize;
    for (name, &len) in names.iter().zip(lens) {
        let end = at.saturating_add(len as usize);
        let text = values.get(at..end).ok_or_else(|| {
            js_error(FfiError::MalformedInput(
                "field lengths exceed the values given".into(),
            ))
        })?;
        fields.push((name.as_str(), utf8(text)?));
        at = end;
    }
    ffi::run_op_fields(op, &fields, fill.then_some(CONTEXT_DEFAULTS)).map_err(js_error)
}

/// Random bytes are fetched from `crypto.getRandomValues` this many at a time (enough for 1,638
/// ids) and kept between calls: each call into `crypto` costs about as much as recording a few
/// dozen events, mostly whatever its size (in Node 20, about 11 µs for 4 KiB and 13 µs for
/// 16 KiB), and UUID v7's random bits need no freshness beyond uniqueness. At most 64 KiB may be
/// asked for at once.
const RANDOM_POOL_BYTES: usize = 16 * 1024;

#[cfg(not(all(target_family = "wasm", not(feature = "std"))))]
std::thread_local! {
    static RANDOM_POOL: core::cell::RefCell<Vec<u8>> = const { core::cell::RefCell::new(Vec::new()) };
}

/// The pool of the `no_std` client module: a plain static (no `thread_local!` without std).
#[cfg(all(target_family = "wasm", not(feature = "std")))]
static RANDOM_POOL: SingleThreaded<core::cell::RefCell<Vec<u8>>> =
    SingleThreaded(core::cell::RefCell::new(Vec::new()));

#[cfg(all(target_family = "wasm", not(feature = "std")))]
struct SingleThreaded<T>(T);

// SAFETY: the client module is built without atomics (threads): nothing runs concurrently.
#[cfg(all(
    target_family = "wasm",
    not(feature = "std"),
    not(target_feature = "atomics")
))]
unsafe impl<T> Sync for SingleThreaded<T> {}

#[cfg(all(target_family = "wasm", not(feature = "std")))]
impl<T> SingleThreaded<T> {
    fn with<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        f(&self.0)
    }
}

/// Ten random bytes for one UUID v7, from the pool.
pub(crate) fn random_bytes() -> [u8; 10] {
    RANDOM_POOL.with(|pool| {
        let mut pool = pool.borrow_mut();
        if pool.len() < 10 {
            pool.resize(RANDOM_POOL_BYTES, 0);
            get_random_values(&mut pool);
        }
        let mut bytes = [0u8; 10];
        let at = pool.len() - 10;
        bytes.copy_from_slice(pool.get(at..).unwrap_or(&[0; 10]));
        pool.truncate(at);
        bytes
    })
}

/// A fresh UUID v7 (RFC 9562) from `Date.now()` and `crypto.getRandomValues`.
#[wasm_bindgen(js_name = uuidV7)]
pub fn new_uuid_v7() -> String {
    uuid_v7(unix_millis(), random_bytes())
}

/// The current time as protojson writes a timestamp (UTC, `Z`, millisecond precision).
#[wasm_bindgen(js_name = nowRfc3339)]
pub fn now_rfc3339() -> String {
    rfc3339_from_millis(unix_millis())
}

fn unix_millis() -> i64 {
    let now = date_now();
    if now.is_finite() && now >= 0.0 {
        // Date.now() is an integral number of milliseconds well inside i64.
        now as i64
    } else {
        0
    }
}

/// Formats milliseconds since the Unix epoch with the core's timestamp writer.
pub fn rfc3339_from_millis(ms: i64) -> String {
    let ts = prost_types::Timestamp {
        seconds: ms.div_euclid(1000),
        nanos: i32::try_from(ms.rem_euclid(1000) * 1_000_000).unwrap_or(0),
    };
    let mut out = Vec::with_capacity(24);
    match telemetry_core::json::format_timestamp(&mut out, &ts) {
        Ok(()) => String::from_utf8(out).unwrap_or_default(),
        Err(_) => "1970-01-01T00:00:00Z".to_string(),
    }
}

/// Lays out a UUID v7: 48-bit big-endian Unix milliseconds, version 7, 12 random bits, the
/// RFC 4122 variant, 62 random bits.
pub fn uuid_v7(unix_ms: i64, random: [u8; 10]) -> String {
    let ms = u64::try_from(unix_ms).unwrap_or(0).to_be_bytes();
    let [_, _, t0, t1, t2, t3, t4, t5] = ms;
    let [r0, r1, r2, r3, r4, r5, r6, r7, r8, r9] = random;
    let bytes = [
        t0,
        t1,
        t2,
        t3,
        t4,
        t5,
        0x70 | (r0 & 0x0f),
        r1,
        0x80 | (r2 & 0x3f),
        r3,
        r4,
        r5,
        r6,
        r7,
        r8,
        r9,
    ];
    const HEX: &[u8; 16] = b"0123456789abcdef";
    // Written into a fixed buffer (a char at a time into a String cost as much as recording a
    // small event's JSON).
    let mut out = [b'-'; 36];
    let mut at = 0;
    for (i, b) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            at += 1;
        }
        if let Some(pair) = out.get_mut(at..at + 2) {
            pair[0] = HEX[usize::from(b >> 4)];
            pair[1] = HEX[usize::from(b & 0x0f)];
        }
        at += 2;
    }
    String::from_utf8(out.to_vec()).unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Protobuf wire encoding of the gateway's messages, for JS transports. The client build has a
// client's side of the wire: it encodes requests and events, and decodes events (a resumed queue)
// and the gateway's responses (and encodes responses, for fake gateways in tests). Decoding
// requests, a gateway's job, is in the full build only: in the client module it cost about
// 3.2 KiB gzipped (BENCHMARKS.md).

/// Encodes a `RecordEventsRequest` from `{"metadata": …}` or `{"events": {"events": […]}}`.
#[wasm_bindgen(js_name = encodeRecordEventsRequest)]
pub fn encode_record_events_request(input: &[u8]) -> Result<Vec<u8>, JsError> {
    ffi::encode_record_events_request(utf8(input)?).map_err(js_error)
}

/// Decodes a `RecordEventsRequest` to proto3 JSON text.
#[cfg(feature = "full")]
#[wasm_bindgen(js_name = decodeRecordEventsRequest)]
pub fn decode_record_events_request(bytes: &[u8]) -> Result<String, JsError> {
    ffi::decode_record_events_request(bytes).map_err(js_error)
}

/// Encodes a `RecordEventsResponse` from `{"succeededEvents": […]}` (in the client build too: a
/// fake gateway in tests and benchmarks answers with it).
#[wasm_bindgen(js_name = encodeRecordEventsResponse)]
pub fn encode_record_events_response(input: &[u8]) -> Result<Vec<u8>, JsError> {
    ffi::encode_record_events_response(utf8(input)?).map_err(js_error)
}

/// Decodes a `RecordEventsResponse` to `{"succeededEvents": […]}` text.
#[wasm_bindgen(js_name = decodeRecordEventsResponse)]
pub fn decode_record_events_response(bytes: &[u8]) -> Result<String, JsError> {
    ffi::decode_record_events_response(bytes).map_err(js_error)
}

/// Encodes a `RecordEventRequest` from `{"metadata": …, "event": …}`.
#[wasm_bindgen(js_name = encodeRecordEventRequest)]
pub fn encode_record_event_request(input: &[u8]) -> Result<Vec<u8>, JsError> {
    ffi::encode_record_event_request(utf8(input)?).map_err(js_error)
}

/// Decodes a `RecordEventRequest` to proto3 JSON text.
#[cfg(feature = "full")]
#[wasm_bindgen(js_name = decodeRecordEventRequest)]
pub fn decode_record_event_request(bytes: &[u8]) -> Result<String, JsError> {
    ffi::decode_record_event_request(bytes).map_err(js_error)
}

/// Encodes one `Event` from proto3 JSON.
#[wasm_bindgen(js_name = encodeEvent)]
pub fn encode_event(input: &[u8]) -> Result<Vec<u8>, JsError> {
    ffi::encode_event(utf8(input)?).map_err(js_error)
}

/// Decodes one `Event` to proto3 JSON text.
#[wasm_bindgen(js_name = decodeEvent)]
pub fn decode_event(bytes: &[u8]) -> Result<String, JsError> {
    ffi::decode_event(bytes).map_err(js_error)
}

// ---------------------------------------------------------------------------------------------
// Exporter rules (`telemetry_core::export`), for the JS exporter: the chunk plan and the retry
// back-off come from the core; the JS side only does IO and bookkeeping.

/// The chunk plan: `{"sizes": [n, …], "limit"?: bytes}` (default limit 1 MiB) to
/// `{"chunks": [[start, end], …]}`, half-open index ranges, by `telemetry_core::export::plan_chunks`.
#[wasm_bindgen(js_name = planChunks)]
pub fn plan_chunks(input: &[u8]) -> Result<String, JsError> {
    ffi::plan_chunks(utf8(input)?).map_err(js_error)
}

/// The retry delay in milliseconds for `attempt` (from 0): full jitter over an exponential
/// ceiling from `base_ms` capped at `max_ms`; `sample` is a uniform random number in `[0, 1)`
/// (from `Math.random()`), by `telemetry_core::export::backoff_delay_ms`.
#[wasm_bindgen(js_name = backoffDelayMs)]
pub fn backoff_delay_ms(attempt: u32, base_ms: f64, max_ms: f64, sample: f64) -> f64 {
    let to_u64 = |v: f64| {
        if v.is_finite() && v > 0.0 {
            // Clamped: a JS number of milliseconds well inside u64.
            v.min(9_007_199_254_740_991.0) as u64
        } else {
            0
        }
    };
    telemetry_core::export::backoff_delay_ms(attempt, to_u64(base_ms), to_u64(max_ms), sample)
        as f64
}

/// The ids of `sent` the gateway acknowledged (`{"sent": [...], "succeeded": [...]}` to a JSON
/// array), in `sent` order without duplicates, by `telemetry_core::export::acknowledged`.
#[wasm_bindgen(js_name = acknowledged)]
pub fn acknowledged(input: &[u8]) -> Result<String, JsError> {
    ffi::acknowledged(utf8(input)?).map_err(js_error)
}

// ---------------------------------------------------------------------------------------------
// Test and benchmark hooks.

/// Panics on purpose, so the JS layer's recovery can be tested: the module traps (an
/// `unreachable` instruction: std's abort under `panic = "abort"` in the full module, the panic
/// handler above in the client one). Not part of the API.
#[wasm_bindgen(js_name = __trapForTests)]
pub fn trap_for_tests() {
    // `Option::unwrap`'s panic: its message is in the module already.
    #[allow(clippy::unwrap_used)]
    if cfg!(target_arch = "wasm32") {
        core::hint::black_box(None::<()>).unwrap();
    }
}

/// The benchmark's second boundary encoding: JS objects in and out through
/// `serde-wasm-bindgen` (built only with the `objects` feature; not shipped). Numbers cross as
/// JS numbers, so int64 values above 2^53 would lose precision: one reason the API uses JSON
/// strings.
#[cfg(feature = "objects")]
#[wasm_bindgen(js_name = runOpObject)]
pub fn run_op_object(op: &str, input: JsValue) -> Result<JsValue, JsError> {
    let input: serde_json::Value = serde_wasm_bindgen::from_value(input)
        .map_err(|e| JsError::new(&format!("malformed input: {e}")))?;
    let answer = ffi::run_op_value(op, &input).map_err(js_error)?;
    let serializer = serde_wasm_bindgen::Serializer::json_compatible();
    serde::Serialize::serialize(&answer, &serializer)
        .map_err(|e| JsError::new(&format!("answer: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_v7_layout() {
        let id = uuid_v7(0x0190_f6b4_8c2e, [0xff; 10]);
        assert_eq!(id, "0190f6b4-8c2e-7fff-bfff-ffffffffffff");
        let id = uuid_v7(1, [0; 10]);
        assert_eq!(id, "00000000-0001-7000-8000-000000000000");
    }

    #[test]
    fn rfc3339_millis() {
        assert_eq!(rfc3339_from_millis(0), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339_from_millis(1_719_837_296_789),
            "2024-07-01T12:34:56.789Z"
        );
    }

    #[test]
    fn backoff_from_js_numbers() {
        assert_eq!(backoff_delay_ms(3, 100.0, 10_000.0, 0.5), 400.0);
        assert_eq!(backoff_delay_ms(40, 100.0, 10_000.0, 0.5), 5_000.0);
        assert_eq!(backoff_delay_ms(1, -5.0, f64::NAN, 0.5), 0.0);
    }
}
