//! Runs one variant of the server's per-payload work N times, for instruction counting under
//! callgrind (deterministic, unlike wall-clock time on a shared machine): `clone` (the payload
//! copy every variant starts from), `ingest` (the core's work, outcomes dropped, as the server
//! does), and `ingest` with the event inspector's hook `off`, `count_only` (its record rate
//! spent: every event counted, none kept — what a busy gateway does beyond 1,000 events/s) and
//! `keep_all` (`--inspector-max-rate 0`, store full: every entry kept and one evicted). (The
//! default's record rate depends on the clock, which callgrind slows down: so the extremes.)
//! `gateway/benches/inspector_instruction_counts.sh` runs them; BENCHMARKS.md has the figures.

use std::hint::black_box;
use telemetry_core::proto::Event;
use telemetry_core::{MAX_MESSAGE_BYTES, Publisher, Rpc, ingest, json};
use telemetry_gateway::inspector::{Config, DEFAULT_CAPACITY, Inspector};

#[path = "../benches/support/inspector_payload.rs"]
mod inspector_payload;
use inspector_payload::{EVENT, METADATA, process};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let op = args.next().unwrap_or_else(|| "clone".into());
    let n: usize = args.next().unwrap_or_else(|| "4".into()).parse()?;
    let event = json::parse_event(EVENT)?;
    let publisher = Publisher::new(&json::parse_metadata(METADATA)?)?;
    let events: Vec<Event> = (0..1000)
        .map(|i| {
            let mut e = event.clone();
            e.id = format!("0190f6b4-8c2e-7a3b-9d1e-{i:012x}");
            e
        })
        .collect();
    let config = Config::new(DEFAULT_CAPACITY, 32 * 1024 * 1024, None)?;
    let inspector = match op.as_str() {
        "off" => Inspector::off(),
        "count_only" => Inspector::new(config.with_max_rate(1)),
        "keep_all" => Inspector::new(config.with_max_rate(0)),
        _ => Inspector::off(),
    };
    // Warm-up outside the count difference: fill the store, spend the burst.
    for _ in 0..2 {
        process(&inspector, &publisher, events.clone());
    }
    for _ in 0..n {
        let payload = events.clone();
        let done = match op.as_str() {
            "clone" => payload.len(),
            "ingest" => ingest(&publisher, payload, Rpc::RecordEvents, MAX_MESSAGE_BYTES).len(),
            "off" | "count_only" | "keep_all" => process(&inspector, &publisher, payload),
            other => return Err(format!("unknown op {other}").into()),
        };
        black_box(done);
    }
    Ok(())
}
