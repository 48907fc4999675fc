//! Batch entry points for exporters: a batch of recordings crosses the boundary once.
//!
//! [`record_batch`] runs record → validate → redact → protobuf encoding for every
//! `TelemetryEventInput` of a batch and answers one buffer ([`RecordedBatch`]): each event's
//! wire bytes back to back (what an export queue stores, as upstream stores `payload_pb`), and a
//! JSON summary with each event's id and length, or the error that kept it out. One bad
//! recording never fails the batch.
//!
//! [`events_requests`] turns queued wire bytes into the `RecordEventsRequest` messages of one
//! export call: the events cut into `EventsPayload` chunks by [`crate::export::plan_chunks`],
//! each chunk framed as a request — without decoding and re-encoding the events.
//! [`frame_requests`] does the same for a batch just recorded, and answers where each event's
//! bytes landed, so an exporter records a batch and gets its requests in one crossing, keeping
//! each event's bytes as a range of its request.
//!
//! ```
//! use telemetry_core::ffi::batch::{record_batch, BatchContext};
//! use telemetry_core::proto::Event;
//! use prost::Message;
//!
//! let inputs = r#"[{"feature":"cody.chat","action":"submitted","source":{"client":"web"},"parameters":{"version":0}},
//!                  {"feature":"Bad","action":"x","source":{"client":"web"},"parameters":{"version":0}}]"#;
//! let mut n = 0;
//! let mut fresh_id = || { n += 1; format!("id-{n}") };
//! let context = BatchContext { context: r#"{"serverVersion":"5.5.0"}"#, per_event: false, now: "2024-07-01T12:00:00Z" };
//! let batch = record_batch(inputs, &context, r#"{}"#, &mut fresh_id)?;
//! assert_eq!(batch.summary(), r#"[{"id":"id-1","len":56},{"error":"'feature' must start with a lowercase letter and contain only letters, dashes, and dots"}]"#);
//! let event = Event::decode(&batch.events[..56])?;
//! assert_eq!((event.id.as_str(), event.feature.as_str()), ("id-1", "cody.chat"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::prelude::*;

use super::input::{Fields, InputSource, OpInput, PolicyRead, policy};
use super::{FfiError, policy_options};
use crate::export::{framed_len, plan_chunks};
use crate::json::read::{Reader, Stop};
use crate::json::write_json_string;
use crate::policy::RedactionPolicy;
use crate::proto::Event;
use crate::record::read::{ContextRead, recording_value};
use crate::record::{RecordContext, RecordError, TelemetryEventInput, record_owned};
use crate::validate::validate_event;
use core::cell::{Cell, RefCell};
use prost::Message as _;

/// What a batch is recorded with.
#[derive(Debug, Clone, Copy)]
pub struct BatchContext<'a> {
    /// JSON text of the record context (`{"serverVersion", "user"?, …}`), or with `per_event`
    /// a JSON array of one context per recording.
    pub context: &'a str,
    /// Whether `context` is an array of per-recording contexts.
    pub per_event: bool,
    /// RFC 3339 time used as `now` by every context that leaves it out.
    pub now: &'a str,
}

/// The answer of [`record_batch`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RecordedBatch {
    /// Each recorded event's protobuf wire bytes, back to back, in input order.
    pub events: Vec<u8>,
    /// One entry per input, in input order.
    pub entries: Vec<Recorded>,
}

/// What became of one recording of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// Recorded: the event's id, and the length of its bytes (the next `len` bytes of
    /// [`RecordedBatch::events`]).
    Event {
        /// The event id.
        id: String,
        /// The length of the event's wire bytes.
        len: usize,
    },
    /// Refused, with the core's message (no bytes).
    Error(String),
}

impl RecordedBatch {
    /// The entries as a JSON array: `{"id", "len"}` or `{"error"}` per recording.
    pub fn summary(&self) -> String {
        let mut summary = Vec::with_capacity(self.entries.len() * 64 + 2);
        summary.push(b'[');
        for (i, entry) in self.entries.iter().enumerate() {
            if i > 0 {
                summary.push(b',');
            }
            match entry {
                Recorded::Event { id, len } => {
                    summary.extend_from_slice(br#"{"id":"#);
                    write_json_string(&mut summary, id);
                    summary.extend_from_slice(br#","len":"#);
                    summary.extend_from_slice(itoa::Buffer::new().format(*len).as_bytes());
                    summary.push(b'}');
                }
                Recorded::Error(message) => {
                    summary.extend_from_slice(br#"{"error":"#);
                    write_json_string(&mut summary, message);
                    summary.push(b'}');
                }
            }
        }
        summary.push(b']');
        // Built from UTF-8 pieces only.
        String::from_utf8(summary).unwrap_or_default()
    }
}

/// The most recordings one batch may hold (a JS exporter's batches are far smaller; the bound
/// keeps a runaway caller from building an unbounded answer).
pub const MAX_BATCH_RECORDINGS: usize = 100_000;

/// Records a batch: `inputs` is the JSON text of an array of `TelemetryEventInput`s, `policy` the
/// JSON text of the redaction policy (`{"dotcom"?, "additionalAllowedEventTypes"?}`).
/// `fresh_id` is called for each recording whose context has no `id`. A malformed request
/// (inputs not an array, an unusable shared context or policy) is an [`FfiError`]; a recording
/// the core refuses (or whose own context is unusable) is an `{"error"}` entry of the summary.
pub fn record_batch(
    inputs: &str,
    context: &BatchContext<'_>,
    policy: &str,
    fresh_id: &mut dyn FnMut() -> String,
) -> Result<RecordedBatch, FfiError> {
    let context_field = if context.per_event {
        "contexts"
    } else {
        "context"
    };
    let fields = [
        ("recordings", inputs),
        (context_field, context.context),
        ("policy", policy),
    ];
    let input = Fields(&fields).read::<BatchInput>()?.unwrap_or_default();
    let (dotcom, additional) = policy_options(input.policy)?;
    let policy = RedactionPolicy::new(dotcom, &additional)
        .map_err(|e| FfiError::MalformedInput(format!("policy: {e}")))?;
    let recordings = match input.recordings {
        Some(List::Items(items)) => items,
        Some(List::TooLong(n)) => {
            return Err(FfiError::MalformedInput(format!(
                "a batch holds at most {MAX_BATCH_RECORDINGS} recordings, got {n}"
            )));
        }
        _ => {
            return Err(FfiError::MalformedInput(
                "recordings must be an array of TelemetryEventInput".into(),
            ));
        }
    };

    let fresh = RefCell::new(fresh_id);
    let fresh_id = || (fresh.borrow_mut())();
    let now = || context.now.to_string();
    let contexts = if context.per_event {
        let list = match input.contexts {
            Some(List::Items(list)) if list.len() == recordings.len() => list,
            Some(List::Items(list)) => {
                return Err(FfiError::MalformedInput(format!(
                    "{} contexts for {} recordings",
                    list.len(),
                    recordings.len()
                )));
            }
            _ => {
                return Err(FfiError::MalformedInput(
                    "contexts must be an array with one context per recording".into(),
                ));
            }
        };
        Contexts::PerEvent(list.into_iter())
    } else {
        // One context for all: read once; a missing id means a fresh one per recording.
        let wanted_id = Cell::new(false);
        let probe = || {
            wanted_id.set(true);
            "-".to_string()
        };
        let read = input.context.unwrap_or_else(ContextRead::empty);
        let ctx = read
            .finish(Some(&probe), Some(&now))
            .map_err(|e| FfiError::MalformedInput(e.to_string()))?;
        Contexts::Shared {
            ctx: Box::new(ctx),
            fresh_ids: wanted_id.get(),
        }
    };

    let mut events = Vec::with_capacity(recordings.len() * 256);
    let mut entries = Vec::with_capacity(recordings.len());
    let mut contexts = contexts;
    for recording in recordings {
        entries.push(
            match contexts.with_next(&fresh_id, &now, |ctx| record_one(recording, ctx, &policy)) {
                Ok(mut event) => {
                    let start = events.len();
                    event.encode_raw(&mut events);
                    Recorded::Event {
                        id: core::mem::take(&mut event.id),
                        len: events.len() - start,
                    }
                }
                Err(message) => Recorded::Error(message),
            },
        );
    }
    Ok(RecordedBatch { events, entries })
}

fn record_one(
    recording: Result<TelemetryEventInput, RecordError>,
    ctx: Result<(&RecordContext, String), RecordError>,
    policy: &RedactionPolicy,
) -> Result<Event, String> {
    let (ctx, id) = ctx.map_err(|e| e.to_string())?;
    let input = recording.map_err(|e| e.to_string())?;
    let mut event = record_owned(input, ctx, id).map_err(|e| e.to_string())?;
    validate_event(&event).map_err(|e| e.to_string())?;
    policy.redact(&mut event);
    Ok(event)
}

/// The contexts of a batch: one for all, or one per recording (a context that cannot be used
/// fails only the recording it belongs to).
enum Contexts {
    Shared {
        ctx: Box<RecordContext>,
        fresh_ids: bool,
    },
    PerEvent(alloc::vec::IntoIter<ContextRead>),
}

impl Contexts {
    /// Runs `f` with the next recording's context and event id.
    fn with_next<T>(
        &mut self,
        fresh_id: &dyn Fn() -> String,
        now: &dyn Fn() -> String,
        f: impl FnOnce(Result<(&RecordContext, String), RecordError>) -> T,
    ) -> T {
        match self {
            Contexts::Shared { ctx, fresh_ids } => {
                let id = if *fresh_ids {
                    fresh_id()
                } else {
                    ctx.id.clone()
                };
                f(Ok((ctx, id)))
            }
            // One per recording (the lengths were checked to match).
            Contexts::PerEvent(list) => {
                match list
                    .next()
                    .unwrap_or_else(ContextRead::empty)
                    .finish(Some(fresh_id), Some(now))
                {
                    Ok(mut ctx) => {
                        let id = core::mem::take(&mut ctx.id);
                        f(Ok((&ctx, id)))
                    }
                    Err(e) => f(Err(e)),
                }
            }
        }
    }
}

/// The batch request's fields, each its own JSON text.
#[derive(Default)]
struct BatchInput {
    recordings: Option<List<Result<TelemetryEventInput, RecordError>>>,
    context: Option<ContextRead>,
    contexts: Option<List<ContextRead>>,
    policy: PolicyRead,
}

impl OpInput for BatchInput {
    fn read_field(&mut self, name: &str, r: &mut Reader<'_>) -> Result<(), Stop> {
        match name {
            "recordings" => self.recordings = Some(list(r, recording_value)?),
            "context" => self.context = Some(ContextRead::read(r)?),
            "contexts" => self.contexts = Some(list(r, ContextRead::read)?),
            "policy" => self.policy = policy(r)?,
            _ => {
                r.value()?;
            }
        }
        Ok(())
    }
}

/// An array read element by element (each element's error is its own), at most
/// [`MAX_BATCH_RECORDINGS`] elements kept.
enum List<T> {
    NotArray,
    Items(Vec<T>),
    TooLong(usize),
}

/// Reads the next value as an array, each element with `item`.
fn list<T>(
    r: &mut Reader<'_>,
    item: fn(&mut Reader<'_>) -> Result<T, Stop>,
) -> Result<List<T>, Stop> {
    if r.open_array()?.is_some() {
        return Ok(List::NotArray);
    }
    let mut out = Vec::new();
    while r.next_item()? {
        out.push(item(r)?);
        if out.len() > MAX_BATCH_RECORDINGS {
            let mut n = out.len();
            while r.next_item()? {
                r.value()?;
                n += 1;
            }
            return Ok(List::TooLong(n));
        }
    }
    Ok(List::Items(out))
}

/// The `RecordEventsRequest` messages (each `{events: EventsPayload}`) carrying queued events:
/// `events` holds each event's wire bytes back to back, `lens` their lengths. Events are cut into
/// chunks by [`plan_chunks`] with `limit` (bytes of an `EventsPayload`), and each chunk is framed
/// without re-encoding. Answers the requests back to back, each preceded by its length as a
/// 4-byte little-endian integer.
pub fn events_requests(events: &[u8], lens: &[u32], limit: usize) -> Result<Vec<u8>, FfiError> {
    let mut sizes = Vec::with_capacity(lens.len());
    let mut total = 0usize;
    for &len in lens {
        total = total.saturating_add(len as usize);
        sizes.push(len as usize);
    }
    if total > events.len() {
        return Err(FfiError::MalformedInput(format!(
            "event lengths add up to more than the {} bytes given",
            events.len()
        )));
    }
    if total != events.len() {
        return Err(FfiError::MalformedInput(format!(
            "event lengths add up to {total} bytes, not the {} given",
            events.len()
        )));
    }
    Ok(frame_requests(events, &sizes, limit)?.bytes)
}

/// Requests framed by [`frame_requests`], and where each event's bytes sit in them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FramedRequests {
    /// The requests back to back, each preceded by its length (4 bytes, little-endian), as
    /// [`events_requests`] answers them.
    pub bytes: Vec<u8>,
    /// For each event, the offset of its wire bytes in [`FramedRequests::bytes`] (the event
    /// travels as it was given: an exporter's queue can keep that range as the event's bytes).
    pub offsets: Vec<usize>,
}

/// [`events_requests`] for events whose lengths (`sizes`, adding up to `events.len()`) are known
/// to be right, e.g. a [`RecordedBatch`]'s: also answers where each event landed.
pub fn frame_requests(
    events: &[u8],
    sizes: &[usize],
    limit: usize,
) -> Result<FramedRequests, FfiError> {
    if limit == 0 {
        return Err(FfiError::MalformedInput(
            "limit must be a positive integer".into(),
        ));
    }
    let mut out = Vec::with_capacity(events.len() + sizes.len() * 6 + 64);
    let mut offsets = Vec::with_capacity(sizes.len());
    let mut at = 0usize;
    for range in plan_chunks(sizes, limit) {
        let chunk = sizes.get(range).unwrap_or_default();
        let payload_len: usize = chunk.iter().map(|&len| framed_len(len)).sum();
        // RecordEventsRequest.events (field 2, length-delimited) holding an EventsPayload whose
        // field 1 (length-delimited) repeats once per event.
        let request_len = framed_len(payload_len);
        let Ok(request_len) = u32::try_from(request_len) else {
            return Err(FfiError::MalformedInput(
                "a request over 4 GiB cannot be framed".into(),
            ));
        };
        out.extend_from_slice(&request_len.to_le_bytes());
        prost::encoding::encode_key(2, prost::encoding::WireType::LengthDelimited, &mut out);
        prost::encoding::encode_varint(payload_len as u64, &mut out);
        for &len in chunk {
            let end = at.saturating_add(len);
            let Some(event) = events.get(at..end) else {
                return Err(FfiError::MalformedInput(
                    "event lengths add up to more than the bytes given".into(),
                ));
            };
            prost::encoding::encode_key(1, prost::encoding::WireType::LengthDelimited, &mut out);
            prost::encoding::encode_varint(len as u64, &mut out);
            offsets.push(out.len());
            out.extend_from_slice(event);
            at = end;
        }
    }
    Ok(FramedRequests {
        bytes: out,
        offsets,
    })
}

/// The positions in `sent` (the event ids of one export call) that an encoded
/// `RecordEventsResponse` acknowledges, in `sent` order without duplicates, by
/// [`crate::export::acknowledged_indices`]: decoding the answer and applying the rule in one step.
pub fn acknowledged_in_response<S: AsRef<str>>(
    sent: &[S],
    response: &[u8],
) -> Result<Vec<usize>, FfiError> {
    let response = crate::proto::RecordEventsResponse::decode(response)
        .map_err(|e| FfiError::Decode(e.to_string()))?;
    Ok(crate::export::acknowledged_indices(
        sent,
        &response.succeeded_events,
    ))
}

/// Checks that each of `lens` consecutive byte ranges of `events` decodes as an `Event` (for
/// events read back from a persistent queue). Answers a JSON array with, per event, `null` or the
/// decode error.
pub fn check_events(events: &[u8], lens: &[u32]) -> String {
    let mut out = vec![b'['];
    let mut at = 0usize;
    for (i, &len) in lens.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let end = at.saturating_add(len as usize);
        match events.get(at..end).map(crate::proto::Event::decode) {
            Some(Ok(_)) => out.extend_from_slice(b"null"),
            Some(Err(e)) => write_json_string(&mut out, &format!("protobuf decode error: {e}")),
            None => write_json_string(&mut out, "event bytes missing"),
        }
        at = end;
    }
    out.push(b']');
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{Event, RecordEventsRequest, record_events_request::Payload};
    use serde_json::Value as Json;

    fn ids() -> impl FnMut() -> String {
        let mut n = 0;
        move || {
            n += 1;
            format!("0190f6b4-8c2e-7000-8000-{n:012}")
        }
    }

    const NOW: &str = "2024-07-01T12:00:00Z";

    fn input(feature: &str) -> String {
        format!(
            r#"{{"feature":"{feature}","action":"submitted","source":{{"client":"web"}},"parameters":{{"version":1,"metadata":[{{"key":"n","value":1}}],"privateMetadata":{{"prompt":"secret"}}}},"marketingTracking":{{"url":"https://example.com"}}}}"#
        )
    }

    fn summary(batch: &RecordedBatch) -> Vec<Json> {
        match serde_json::from_str(&batch.summary()) {
            Ok(Json::Array(items)) => items,
            other => panic!("summary is not an array: {other:?}"),
        }
    }

    #[test]
    fn each_event_is_what_record_validate_redact_make_of_it() {
        let inputs = format!("[{},{}]", input("cody.chat"), input("other.thing"));
        let ctx = BatchContext {
            context: r#"{"serverVersion":"5.5.0","user":{"userId":"42"}}"#,
            per_event: false,
            now: NOW,
        };
        let policy = r#"{"additionalAllowedEventTypes":"cody.chat::submitted::prompt"}"#;
        let batch = record_batch(&inputs, &ctx, policy, &mut ids()).unwrap();
        let entries = summary(&batch);
        assert_eq!(entries.len(), 2);
        let mut at = 0;
        for (i, entry) in entries.iter().enumerate() {
            let len = entry["len"].as_u64().unwrap() as usize;
            let event = Event::decode(&batch.events[at..at + len]).unwrap();
            at += len;
            assert_eq!(entry["id"], event.id.as_str());
            // The same event through the single-event entry points.
            let recorded: Json = serde_json::from_str(
                &super::super::run_op(
                    "record",
                    &format!(
                        r#"{{"event":{},"context":{{"serverVersion":"5.5.0","user":{{"userId":"42"}},"id":"{}","now":"{NOW}"}}}}"#,
                        if i == 0 { input("cody.chat") } else { input("other.thing") },
                        event.id
                    ),
                )
                .unwrap(),
            )
            .unwrap();
            let redacted: Json = serde_json::from_str(
                &super::super::run_op(
                    "redact",
                    &format!(r#"{{"event":{},"policy":{policy}}}"#, recorded["event"]),
                )
                .unwrap(),
            )
            .unwrap();
            let expected = crate::json::parse_event(&redacted["event"].to_string()).unwrap();
            assert_eq!(event, expected);
        }
        assert_eq!(at, batch.events.len());
        let first =
            Event::decode(&batch.events[..entries[0]["len"].as_u64().unwrap() as usize]).unwrap();
        assert!(first.parameters.unwrap().private_metadata.is_some());
    }

    #[test]
    fn a_refused_recording_is_an_entry_not_a_failure() {
        let inputs = format!(
            r#"[{},{{"feature":"x"}},{},{{"feature":"a.b","action":"cd","source":{{"client":"c"}},"parameters":{{"version":0,"metadata":[{{"key":"k","value":"s"}}]}}}}]"#,
            input("cody.chat"),
            input("Bad")
        );
        let ctx = BatchContext {
            context: r#"{"serverVersion":"1"}"#,
            per_event: false,
            now: NOW,
        };
        let batch = record_batch(&inputs, &ctx, "{}", &mut ids()).unwrap();
        let entries = summary(&batch);
        assert!(entries[0]["id"].is_string());
        assert_eq!(
            entries[1]["error"],
            "invalid event input: source: is required"
        );
        assert_eq!(
            entries[2]["error"],
            "'feature' must start with a lowercase letter and contain only letters, dashes, and dots"
        );
        assert_eq!(
            entries[3]["error"],
            "metadata \"k\" has invalid value type string"
        );
        assert_eq!(
            batch.events.len() as u64,
            entries[0]["len"].as_u64().unwrap()
        );
    }

    #[test]
    fn per_event_contexts_and_given_ids() {
        let inputs = format!("[{},{}]", input("cody.chat"), input("cody.chat"));
        let ctx = BatchContext {
            context: r#"[{"serverVersion":"1","id":"given","now":"2020-01-01T00:00:00Z"},{"serverVersion":"2","nope":1}]"#,
            per_event: true,
            now: NOW,
        };
        let batch = record_batch(&inputs, &ctx, "{}", &mut ids()).unwrap();
        let entries = summary(&batch);
        assert_eq!(entries[0]["id"], "given");
        assert_eq!(
            entries[1]["error"],
            "invalid record context: unknown field \"nope\""
        );
        let event = Event::decode(&batch.events[..]).unwrap();
        assert_eq!(event.timestamp.unwrap().seconds, 1_577_836_800);
        assert_eq!(event.source.unwrap().server.unwrap().version, "1");
    }

    #[test]
    fn malformed_requests_are_errors() {
        let ctx = BatchContext {
            context: "{}",
            per_event: false,
            now: NOW,
        };
        let run = |inputs: &str, ctx: &BatchContext<'_>, policy: &str| {
            record_batch(inputs, ctx, policy, &mut ids()).map(|_| ())
        };
        assert!(
            matches!(run("{}", &ctx, "{}"), Err(FfiError::MalformedInput(m)) if m.contains("array"))
        );
        assert!(
            matches!(run("[", &ctx, "{}"), Err(FfiError::MalformedInput(m)) if m.contains("not valid JSON"))
        );
        assert!(
            matches!(run("[]", &ctx, r#"{"dotcom":1}"#), Err(FfiError::MalformedInput(m)) if m == "policy.dotcom must be a boolean")
        );
        assert!(
            matches!(run("[]", &ctx, r#"{"additionalAllowedEventTypes":"x"}"#), Err(FfiError::MalformedInput(m)) if m.starts_with("policy: "))
        );
        let bad = BatchContext {
            context: "[]",
            per_event: true,
            now: NOW,
        };
        assert!(
            matches!(run("[{}]", &bad, "{}"), Err(FfiError::MalformedInput(m)) if m == "0 contexts for 1 recordings")
        );
        let bad = BatchContext {
            context: r#"{"now":"x"}"#,
            per_event: false,
            now: NOW,
        };
        assert!(
            matches!(run("[]", &bad, "{}"), Err(FfiError::MalformedInput(m)) if m.starts_with("invalid record context: now"))
        );
    }

    #[test]
    fn requests_follow_the_chunk_plan_and_decode() {
        let inputs = format!(
            "[{}]",
            (0..40)
                .map(|_| input("cody.chat"))
                .collect::<Vec<_>>()
                .join(",")
        );
        let ctx = BatchContext {
            context: r#"{"serverVersion":"1"}"#,
            per_event: false,
            now: NOW,
        };
        let batch = record_batch(&inputs, &ctx, r#"{"dotcom":true}"#, &mut ids()).unwrap();
        let lens: Vec<u32> = summary(&batch)
            .iter()
            .map(|e| e["len"].as_u64().unwrap() as u32)
            .collect();
        let sizes: Vec<usize> = lens.iter().map(|l| *l as usize).collect();
        let limit = 1000;
        let plan = plan_chunks(&sizes, limit);
        assert!(plan.len() > 3);
        let out = events_requests(&batch.events, &lens, limit).unwrap();
        let mut at = 0;
        let mut decoded = Vec::new();
        for range in &plan {
            let len = u32::from_le_bytes(out[at..at + 4].try_into().unwrap()) as usize;
            let request = RecordEventsRequest::decode(&out[at + 4..at + 4 + len]).unwrap();
            at += 4 + len;
            let Some(Payload::Events(payload)) = request.payload else {
                panic!("not an events payload")
            };
            assert_eq!(payload.events.len(), range.len());
            assert!(payload.encoded_len() < limit || range.len() == 1);
            decoded.extend(payload.events);
        }
        assert_eq!(at, out.len());
        let mut from_batch = Vec::new();
        let mut at = 0;
        for len in &lens {
            from_batch.push(Event::decode(&batch.events[at..at + *len as usize]).unwrap());
            at += *len as usize;
        }
        assert_eq!(decoded, from_batch);

        // The same requests with each event's place in them.
        let framed = frame_requests(&batch.events, &sizes, limit).unwrap();
        assert_eq!(framed.bytes, out);
        let mut at = 0;
        for (len, offset) in sizes.iter().zip(&framed.offsets) {
            assert_eq!(
                &framed.bytes[*offset..offset + len],
                &batch.events[at..at + len]
            );
            at += len;
        }
        assert!(frame_requests(&batch.events, &sizes, 0).is_err());
        assert!(frame_requests(&batch.events[1..], &sizes, limit).is_err());

        assert!(events_requests(&batch.events, &lens[1..], limit).is_err());
        assert!(events_requests(&batch.events[1..], &lens, limit).is_err());
        assert!(events_requests(&batch.events, &lens, 0).is_err());
        assert_eq!(events_requests(&[], &[], limit).unwrap(), Vec::<u8>::new());
    }

    #[test]
    fn acknowledgements_come_from_the_response() {
        let response = crate::proto::RecordEventsResponse {
            succeeded_events: vec!["c".into(), "a".into(), "zzz".into()],
        }
        .encode_to_vec();
        assert_eq!(
            acknowledged_in_response(&["a", "b", "c", "a"], &response).unwrap(),
            vec![0, 2]
        );
        assert!(matches!(
            acknowledged_in_response(&["a"], &[0xff, 0xff]),
            Err(FfiError::Decode(_))
        ));
    }

    #[test]
    fn check_events_reports_corrupt_bytes() {
        let event = Event {
            id: "x".into(),
            ..Default::default()
        }
        .encode_to_vec();
        let mut bytes = event.clone();
        bytes.extend_from_slice(&[0x0a, 0x05, 0x01]);
        let answer: Json =
            serde_json::from_str(&check_events(&bytes, &[event.len() as u32, 3, 10])).unwrap();
        assert_eq!(answer[0], Json::Null);
        assert!(
            answer[1]
                .as_str()
                .unwrap()
                .starts_with("protobuf decode error")
        );
        assert_eq!(answer[2], "event bytes missing");
    }
}
