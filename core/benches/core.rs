//! Core throughput on a realistic event and on a 1,000-event payload, each beside same-run
//! baselines: `prost` decode of the same wire bytes, and `serde_json::to_vec` of the same event
//! as a `serde_json::Value`; and the JSON-text entry points (`json::parse_event`, and with the
//! `ffi` feature the `ffi` ops the WASM build calls) beside `serde_json::from_str` of the same
//! text into a `serde_json::Value`, and (with `ffi`) beside the earlier `Value`-based readers
//! kept as the test oracle (`fuzz/src/value_oracle.rs`), for a same-run before/after. Run with
//! `cargo bench -p telemetry-core --features ffi --bench core`; results in BENCHMARKS.md.

/// The earlier `serde_json::Value`-based readers: the "before" of the text entry points.
#[cfg(feature = "ffi")]
#[path = "../../fuzz/src/value_oracle.rs"]
mod value_oracle;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use prost::Message as _;
use std::hint::black_box;
use telemetry_core::proto::{Event, RecordEventsRequestMetadata, record_events_request};
use telemetry_core::{
    MAX_MESSAGE_BYTES, Publisher, RedactionPolicy, Rpc, ingest, json, translate, validate_event,
};

/// A realistic Cody completion event, as an instance exports it (reference §3.4).
const EVENT: &str = include_str!("event.json");
/// Licensed-instance stream metadata.
const METADATA: &str = include_str!("metadata.json");
/// A client recording with its context: the `ffi` `record` op's input.
#[cfg(feature = "ffi")]
const RECORDING: &str = include_str!("recording.json");

fn fixtures() -> (
    Event,
    RecordEventsRequestMetadata,
    Vec<u8>,
    serde_json::Value,
) {
    let event = json::parse_event(EVENT).expect("bench event parses");
    let metadata = json::parse_metadata(METADATA).expect("bench metadata parses");
    let wire = event.encode_to_vec();
    let value: serde_json::Value = serde_json::from_str(EVENT).expect("valid JSON");
    (event, metadata, wire, value)
}

fn single_event(c: &mut Criterion) {
    let (event, metadata, wire, value) = fixtures();
    let publisher = Publisher::new(&metadata).expect("publisher");
    let policy = RedactionPolicy::default();
    let mut g = c.benchmark_group("event");
    g.throughput(Throughput::Elements(1));
    g.bench_function("baseline/prost_decode", |b| {
        b.iter(|| Event::decode(black_box(wire.as_slice())).expect("decodes"))
    });
    g.bench_function("baseline/serde_json_to_vec_value", |b| {
        b.iter(|| serde_json::to_vec(black_box(&value)).expect("serializes"))
    });
    g.bench_function("validate", |b| b.iter(|| validate_event(black_box(&event))));
    g.bench_function("redact", |b| {
        b.iter_batched_ref(
            || event.clone(),
            |e| policy.redact(black_box(e)),
            criterion::BatchSize::SmallInput,
        )
    });
    g.bench_function("translate", |b| {
        b.iter(|| translate(black_box(&publisher), black_box(&event), MAX_MESSAGE_BYTES))
    });
    g.finish();
}

fn payload(c: &mut Criterion) {
    let (event, metadata, _, value) = fixtures();
    let publisher = Publisher::new(&metadata).expect("publisher");
    let events: Vec<Event> = (0..1000)
        .map(|i| Event {
            id: format!("0190f6b4-8c2e-7a3b-9d1e-{i:012}"),
            ..event.clone()
        })
        .collect();
    let request = telemetry_core::proto::RecordEventsRequest {
        payload: Some(record_events_request::Payload::Events(
            record_events_request::EventsPayload {
                events: events.clone(),
            },
        )),
    };
    let wire = request.encode_to_vec();
    let values: Vec<serde_json::Value> = (0..1000).map(|_| value.clone()).collect();
    let mut g = c.benchmark_group("payload_1000");
    g.throughput(Throughput::Elements(1000));
    g.sample_size(30);
    g.bench_function("baseline/prost_decode", |b| {
        b.iter(|| {
            telemetry_core::proto::RecordEventsRequest::decode(black_box(wire.as_slice()))
                .expect("decodes")
        })
    });
    g.bench_function("baseline/serde_json_to_vec_value", |b| {
        b.iter(|| {
            for v in &values {
                black_box(serde_json::to_vec(black_box(v)).expect("serializes"));
            }
        })
    });
    g.bench_with_input(BenchmarkId::new("ingest", 1000), &events, |b, events| {
        b.iter_batched(
            || events.clone(),
            |evs| {
                ingest(
                    black_box(&publisher),
                    evs,
                    Rpc::RecordEvents,
                    MAX_MESSAGE_BYTES,
                )
            },
            criterion::BatchSize::LargeInput,
        )
    });
    g.finish();
}

/// The JSON-text entry points, each beside `serde_json::from_str::<Value>` of the same text (the
/// first step of every one of them before they read proto3 JSON straight into the prost types).
fn text_entry_points(c: &mut Criterion) {
    let mut g = c.benchmark_group("text");
    g.throughput(Throughput::Elements(1));
    g.bench_function("baseline/serde_json_from_str_value_event", |b| {
        b.iter(|| serde_json::from_str::<serde_json::Value>(black_box(EVENT)).expect("valid"))
    });
    g.bench_function("parse_event", |b| {
        b.iter(|| json::parse_event(black_box(EVENT)).expect("parses"))
    });
    g.bench_function("parse_metadata", |b| {
        b.iter(|| json::parse_metadata(black_box(METADATA)).expect("parses"))
    });
    #[cfg(feature = "ffi")]
    g.bench_function("before/parse_event", |b| {
        b.iter(|| value_oracle::json::parse_event(black_box(EVENT)).expect("parses"))
    });
    #[cfg(feature = "ffi")]
    {
        use telemetry_core::ffi;
        g.bench_function("baseline/serde_json_from_str_value_recording", |b| {
            b.iter(|| {
                serde_json::from_str::<serde_json::Value>(black_box(RECORDING)).expect("valid")
            })
        });
        for (op, input) in ffi_inputs() {
            let answer = ffi::run_op(op, &input).expect("runs");
            assert!(!answer.starts_with(r#"{"error""#), "{op}: {answer}");
            assert_eq!(
                value_oracle::ffi::run_op(op, &input).as_deref(),
                Ok(answer.as_str())
            );
            g.bench_function(format!("ffi_{op}"), |b| {
                b.iter(|| ffi::run_op(op, black_box(&input)).expect("runs"))
            });
            g.bench_function(format!("before/ffi_{op}"), |b| {
                b.iter(|| value_oracle::ffi::run_op(op, black_box(&input)).expect("runs"))
            });
        }
    }
    g.finish();
}

/// The `ffi` op inputs (JSON text) built from the fixtures.
#[cfg(feature = "ffi")]
fn ffi_inputs() -> [(&'static str, String); 4] {
    [
        ("validate", format!(r#"{{"event":{EVENT}}}"#)),
        (
            "redact",
            format!(
                r#"{{"event":{EVENT},"policy":{{"dotcom":false,"additionalAllowedEventTypes":""}}}}"#
            ),
        ),
        (
            "translate",
            format!(r#"{{"metadata":{METADATA},"event":{EVENT}}}"#),
        ),
        ("record", RECORDING.to_string()),
    ]
}

criterion_group!(benches, single_event, payload, text_entry_points);
criterion_main!(benches);
