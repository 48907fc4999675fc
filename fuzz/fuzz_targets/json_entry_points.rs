//! Arbitrary bytes, as UTF-8 text, through every JSON entry point of the core: the `ffi` ops,
//! the `ffi` protobuf encoders, and `json::parse_event` / `parse_metadata` (with the
//! parse → write → parse stability check). The checks live in `../src/checks.rs`, shared with
//! the regression test `tests/tests/fuzz_regressions.rs`.
#![no_main]

#[path = "../src/checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    checks::json_entry_points(data);
});
