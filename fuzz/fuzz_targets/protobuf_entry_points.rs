//! Arbitrary bytes decoded as `RecordEventsRequest`, `RecordEventRequest` and `Event` (and the
//! `ffi` protobuf decoders); whatever decodes is run through the gateway pipeline and the writer.
//! The checks live in `../src/checks.rs`, shared with `tests/tests/fuzz_regressions.rs`.
#![no_main]

#[path = "../src/checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    checks::protobuf_entry_points(data);
});
