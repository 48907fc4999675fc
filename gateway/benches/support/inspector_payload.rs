//! Shared by the inspector's criterion bench (`benches/inspector.rs`) and its instruction-count
//! example (`examples/inspector_instruction_counts.rs`): the realistic event and metadata, and
//! the server's per-payload core work with the inspector's hook around it.

use telemetry_core::proto::Event;
use telemetry_core::{Acknowledgement, MAX_MESSAGE_BYTES, Publisher, Rpc, ingest};
use telemetry_gateway::inspector::Inspector;

pub const EVENT: &str = include_str!("../../../core/benches/event.json");
pub const METADATA: &str = include_str!("../../../core/benches/metadata.json");

/// What `server/publish.rs` does per payload, with the inspector's calls: `note` each event
/// before `ingest`, `record` each outcome after.
pub fn process(inspector: &Inspector, publisher: &Publisher, events: Vec<Event>) -> usize {
    let mut recorder = inspector.payload(publisher, "bench", "RecordEvents", events.len());
    for (i, e) in events.iter().enumerate() {
        recorder.note(i, e);
    }
    let outcomes = ingest(publisher, events, Rpc::RecordEvents, MAX_MESSAGE_BYTES);
    for (i, o) in outcomes.iter().enumerate() {
        recorder.record(i, o, Acknowledgement::assuming_published(&o.outcome), None);
    }
    drop(recorder);
    outcomes.len()
}
