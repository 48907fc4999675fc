//! Runs one operation of the benchmark N times, for instruction counting under callgrind
//! (deterministic, unlike wall-clock time on a shared machine). BENCHMARKS.md explains.
//!
//! `cargo build --release -p telemetry-core --example instruction_counts`, then
//! `valgrind --tool=callgrind target/release/examples/instruction_counts OP N` for OP in
//! `noop prost_decode serde_json_to_vec_value validate redact translate ingest_1000`, and
//! `clone_event`/`clone_payload_1000` (the copies `redact`/`ingest_1000` include, to subtract).
//! The JSON-text entry points: `serde_json_from_str_value` (the baseline: the event text into a
//! `serde_json::Value`), `parse_event`, `parse_metadata`, and with `--features ffi`
//! `ffi_validate ffi_redact ffi_translate ffi_record` (the ops the WASM build calls), and the
//! same through the earlier `serde_json::Value`-based readers (kept as the test oracle in
//! `fuzz/src/value_oracle.rs`): `before_parse_event`, `before_ffi_validate`, ….

use prost::Message as _;
use std::hint::black_box;
use telemetry_core::proto::Event;
use telemetry_core::{
    MAX_MESSAGE_BYTES, Publisher, RedactionPolicy, Rpc, ingest, json, translate, validate_event,
};

const EVENT: &str = include_str!("../benches/event.json");
const METADATA: &str = include_str!("../benches/metadata.json");
#[cfg(feature = "ffi")]
const RECORDING: &str = include_str!("../benches/recording.json");

/// The earlier `serde_json::Value`-based readers: the "before" of the text entry points.
#[cfg(feature = "ffi")]
#[path = "../../fuzz/src/value_oracle.rs"]
mod value_oracle;

/// The `ffi` op and its input text for an `ffi_<op>` benchmark op.
#[cfg(feature = "ffi")]
fn ffi_input(op: &str) -> Option<(&'static str, String)> {
    Some(match op {
        "ffi_validate" => ("validate", format!(r#"{{"event":{EVENT}}}"#)),
        "ffi_redact" => (
            "redact",
            format!(
                r#"{{"event":{EVENT},"policy":{{"dotcom":false,"additionalAllowedEventTypes":""}}}}"#
            ),
        ),
        "ffi_translate" => (
            "translate",
            format!(r#"{{"metadata":{METADATA},"event":{EVENT}}}"#),
        ),
        "ffi_record" => ("record", RECORDING.to_string()),
        _ => return None,
    })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let op = args.next().unwrap_or_else(|| "noop".into());
    let n: usize = args.next().unwrap_or_else(|| "1000".into()).parse()?;
    let event = json::parse_event(EVENT)?;
    let metadata = json::parse_metadata(METADATA)?;
    let publisher = Publisher::new(&metadata)?;
    let policy = RedactionPolicy::default();
    let wire = event.encode_to_vec();
    let value: serde_json::Value = serde_json::from_str(EVENT)?;
    let payload: Vec<Event> = (0..1000).map(|_| event.clone()).collect();
    #[cfg(feature = "ffi")]
    if let Some((ffi_op, input)) = ffi_input(&op) {
        for _ in 0..n {
            let answer = telemetry_core::ffi::run_op(ffi_op, black_box(&input))?;
            if answer.starts_with(r#"{"error""#) {
                return Err(answer.into());
            }
            drop(black_box(answer));
        }
        return Ok(());
    }
    #[cfg(feature = "ffi")]
    if let Some((ffi_op, input)) = op.strip_prefix("before_").and_then(ffi_input) {
        for _ in 0..n {
            let answer = value_oracle::ffi::run_op(ffi_op, black_box(&input))?;
            if answer.starts_with(r#"{"error""#) {
                return Err(answer.into());
            }
            drop(black_box(answer));
        }
        return Ok(());
    }
    #[cfg(feature = "ffi")]
    if op == "record_batch_100" {
        // The npm bench's exporter batch: 100 recordings in the JS SDK's shape, one context.
        let recordings: Vec<String> = (0..100)
            .map(|i| {
                let (feature, action) = if i % 4 == 0 {
                    ("cody.chat", "submitted")
                } else {
                    ("cody.completion", "accepted")
                };
                format!(
                    r#"{{"feature":"{feature}","action":"{action}","source":{{"client":"VSCode.Cody","clientVersion":"1.24.0"}},"parameters":{{"version":2,"interactionID":"interaction-{i}","metadata":[{{"key":"count","value":{i}}},{{"key":"latencyMs","value":{}}}],"privateMetadata":{{"languageId":"typescript","prompt":"text {i}"}},"billingMetadata":{{"product":"cody","category":"core"}}}}}}"#,
                    412.5 + f64::from(i)
                )
            })
            .collect();
        let inputs = format!("[{}]", recordings.join(","));
        let context = telemetry_core::ffi::batch::BatchContext {
            context: r#"{"serverVersion":"5.5.0","user":{"userId":"1234","anonymousUserId":"anon-1"}}"#,
            per_event: false,
            now: "2024-07-01T12:34:56.789Z",
        };
        let mut k = 0u64;
        let mut fresh_id = || {
            k += 1;
            format!("0190f6b4-8c2e-7a3b-9d1e-{k:012x}")
        };
        for _ in 0..n {
            let batch = telemetry_core::ffi::batch::record_batch(
                black_box(&inputs),
                &context,
                r#"{"dotcom":false,"additionalAllowedEventTypes":""}"#,
                &mut fresh_id,
            )?;
            drop(black_box(batch));
        }
        return Ok(());
    }
    #[cfg(feature = "ffi")]
    if op == "before_parse_event" {
        for _ in 0..n {
            drop(black_box(value_oracle::json::parse_event(black_box(
                EVENT,
            ))?));
        }
        return Ok(());
    }
    for _ in 0..n {
        match op.as_str() {
            "noop" => {}
            "clone_event" => drop(black_box(event.clone())),
            "clone_payload_1000" => drop(black_box(payload.clone())),
            "prost_decode" => drop(black_box(Event::decode(black_box(wire.as_slice()))?)),
            "serde_json_to_vec_value" => drop(black_box(serde_json::to_vec(black_box(&value))?)),
            "serde_json_from_str_value" => drop(black_box(serde_json::from_str::<
                serde_json::Value,
            >(black_box(EVENT))?)),
            "parse_event" => drop(black_box(json::parse_event(black_box(EVENT))?)),
            "parse_metadata" => drop(black_box(json::parse_metadata(black_box(METADATA))?)),
            "validate" => black_box(validate_event(black_box(&event)))?,
            "redact" => {
                let mut e = event.clone();
                black_box(policy.redact(black_box(&mut e)));
            }
            "translate" => drop(black_box(translate(
                &publisher,
                black_box(&event),
                MAX_MESSAGE_BYTES,
            )?)),
            "ingest_1000" => drop(black_box(ingest(
                &publisher,
                payload.clone(),
                Rpc::RecordEvents,
                MAX_MESSAGE_BYTES,
            ))),
            other => return Err(format!("unknown op {other}").into()),
        }
    }
    Ok(())
}
