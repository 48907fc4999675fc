//! The event inspector's cost on the serving path: the server's per-payload core work
//! (`telemetry_core::ingest` of a 1,000-event payload of realistic events) alone, and with the
//! inspector's hook around it: off; on with its defaults (in this tight loop the record rate of
//! 1,000 kept events/s is soon exhausted, so nearly every event is only counted: the steady state
//! of a busy gateway); and on keeping every event (`--inspector-max-rate 0`; the store is full,
//! so every entry also evicts one). Same run, same payload; the ratios are the figure.
//! Run with `cargo bench -p telemetry-gateway --bench inspector`; results in BENCHMARKS.md.

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use telemetry_core::proto::Event;
use telemetry_core::{MAX_MESSAGE_BYTES, Publisher, Rpc, ingest, json};
use telemetry_gateway::inspector::{Config, DEFAULT_CAPACITY, Inspector};

#[path = "support/inspector_payload.rs"]
mod inspector_payload;
use inspector_payload::{EVENT, METADATA, process};

fn payload(c: &mut Criterion) {
    let event = json::parse_event(EVENT).expect("bench event parses");
    let metadata = json::parse_metadata(METADATA).expect("bench metadata parses");
    let publisher = Publisher::new(&metadata).expect("publisher");
    let events: Vec<Event> = (0..1000)
        .map(|i| {
            let mut e = event.clone();
            e.id = format!("0190f6b4-8c2e-7a3b-9d1e-{i:012x}");
            e
        })
        .collect();
    let off = Inspector::off();
    let max_bytes = 32 * 1024 * 1024;
    let on = Inspector::new(Config::new(DEFAULT_CAPACITY, max_bytes, None).expect("config"));
    let keep_all = Inspector::new(
        Config::new(DEFAULT_CAPACITY, max_bytes, None)
            .expect("config")
            .with_max_rate(0),
    );
    // Fill the stores first, so that every measured entry also evicts one.
    for inspector in [&on, &keep_all] {
        process(inspector, &publisher, events.clone());
        process(inspector, &publisher, events.clone());
    }

    let mut g = c.benchmark_group("payload_1000");
    g.throughput(Throughput::Elements(events.len() as u64));
    // The baseline drops its outcomes inside the measurement, as `process` (and the server) do.
    g.bench_function("baseline/ingest", |b| {
        b.iter_batched(
            || events.clone(),
            |ev| black_box(ingest(&publisher, ev, Rpc::RecordEvents, MAX_MESSAGE_BYTES).len()),
            BatchSize::LargeInput,
        )
    });
    g.bench_function("ingest+inspector_off", |b| {
        b.iter_batched(
            || events.clone(),
            |ev| black_box(process(&off, &publisher, ev)),
            BatchSize::LargeInput,
        )
    });
    g.bench_function("ingest+inspector_on", |b| {
        b.iter_batched(
            || events.clone(),
            |ev| black_box(process(&on, &publisher, ev)),
            BatchSize::LargeInput,
        )
    });
    g.bench_function("ingest+inspector_keep_all", |b| {
        b.iter_batched(
            || events.clone(),
            |ev| black_box(process(&keep_all, &publisher, ev)),
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, payload);
criterion_main!(benches);
