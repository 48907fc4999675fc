//! Reading NDJSON input for `telemetry-gateway export --enqueue`: each line is either a client
//! recording (`TelemetryEventInput`, recorded here with a fresh UUID v7 and the current time, as
//! an instance's `recordEvents` does) or a full `Event` in proto3 JSON.

use prost_types::Timestamp;
use serde_json::Value as Json;
use std::io::BufRead;
use std::time::{SystemTime, UNIX_EPOCH};
use telemetry_core::proto::Event;
use telemetry_core::{RecordContext, TelemetryEventInput, record, validate_event};

/// What the lines are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum InputKind {
    /// Per line: an object with an `id` is an `Event`, anything else a recording.
    Auto,
    /// Every line is a `TelemetryEventInput` recording.
    Recordings,
    /// Every line is an `Event` in proto3 JSON.
    Events,
}

/// One line that could not become an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidLine {
    /// 1-based line number.
    pub line: usize,
    /// Why.
    pub error: String,
}

/// The events read, and the lines refused.
#[derive(Debug, Default)]
pub struct ReadResult {
    /// Events, in file order.
    pub events: Vec<Event>,
    /// How many of them were recordings.
    pub recorded: usize,
    /// Refused lines (never silently dropped).
    pub invalid: Vec<InvalidLine>,
}

fn timestamp(now: SystemTime) -> Timestamp {
    let d = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    Timestamp {
        seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        nanos: i32::try_from(d.subsec_nanos()).unwrap_or(0),
    }
}

/// Turns one JSON value into an event.
pub fn line_to_event(
    v: &Json,
    kind: InputKind,
    server_version: &str,
    now: SystemTime,
) -> Result<(Event, bool), String> {
    let is_event = match kind {
        InputKind::Events => true,
        InputKind::Recordings => false,
        InputKind::Auto => v.get("id").is_some(),
    };
    if is_event {
        let event =
            telemetry_core::json::parse_event_value(v).map_err(|e| format!("event: {e}"))?;
        validate_event(&event).map_err(|e| format!("event: {e}"))?;
        return Ok((event, false));
    }
    let input = TelemetryEventInput::from_json(v).map_err(|e| format!("recording: {e}"))?;
    let ctx = RecordContext {
        id: uuid::Uuid::now_v7().to_string(),
        now: timestamp(now),
        server_version: server_version.to_string(),
        ..Default::default()
    };
    let event = record(&input, &ctx).map_err(|e| format!("recording: {e}"))?;
    Ok((event, true))
}

/// Reads NDJSON; blank lines are ignored, every other refused line is reported.
pub fn read_ndjson(
    reader: impl BufRead,
    kind: InputKind,
    server_version: &str,
) -> std::io::Result<ReadResult> {
    let mut out = ReadResult::default();
    for (i, line) in reader.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let result = serde_json::from_str::<Json>(&line)
            .map_err(|e| format!("not JSON: {e}"))
            .and_then(|v| line_to_event(&v, kind, server_version, SystemTime::now()));
        match result {
            Ok((event, recorded)) => {
                out.recorded += usize::from(recorded);
                out.events.push(event);
            }
            Err(error) => out.invalid.push(InvalidLine { line: i + 1, error }),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recordings_and_events_are_told_apart_and_bad_lines_reported() {
        let text = concat!(
            r#"{"feature":"cody.chat","action":"submitted","source":{"client":"VSCode.Cody"},"parameters":{"version":1,"privateMetadata":{"k":"v"}}}"#,
            "\n\n",
            r#"{"id":"e-1","timestamp":"2024-07-01T12:34:56Z","feature":"search","action":"submitted","source":{"server":{"version":"5.5.0"}}}"#,
            "\n",
            "not json\n",
            r#"{"feature":"bad feature","action":"x","source":{"client":"c"},"parameters":{"version":0}}"#,
            "\n",
        );
        let r = read_ndjson(text.as_bytes(), InputKind::Auto, "6.0.0").unwrap();
        assert_eq!(r.events.len(), 2);
        assert_eq!(r.recorded, 1);
        let rec = &r.events[0];
        assert!(uuid::Uuid::parse_str(&rec.id).is_ok_and(|u| u.get_version_num() == 7));
        assert_eq!(
            rec.source
                .as_ref()
                .unwrap()
                .server
                .as_ref()
                .unwrap()
                .version,
            "6.0.0"
        );
        assert_eq!(r.events[1].id, "e-1");
        let lines: Vec<usize> = r.invalid.iter().map(|l| l.line).collect();
        assert_eq!(lines, vec![4, 5]);
        // forced kinds
        let r = read_ndjson(text.as_bytes(), InputKind::Recordings, "6").unwrap();
        assert_eq!(r.events.len(), 1);
        let r = read_ndjson(text.as_bytes(), InputKind::Events, "6").unwrap();
        assert_eq!(r.events.len(), 1);
    }
}
