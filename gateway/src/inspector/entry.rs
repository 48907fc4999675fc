//! What the inspector keeps about one event, how much memory that costs, and how it renders as
//! JSON for the REST API, the live stream and `tail`.
//!
//! An entry is split in two: a small [`Summary`] (every string cut at [`MAX_FIELD_BYTES`], the
//! error at [`MAX_ERROR_BYTES`]) that the live stream shares with its subscribers, and the detail
//! (attributes, the message body or the decoded event, the stream metadata) that only the store
//! holds. So a subscriber that falls behind never keeps bodies alive after the store evicted them.

use serde::Serialize;
use serde_json::value::RawValue;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Longest id, feature, action, source, instance or request id kept, in bytes; longer values are
/// cut at a character boundary and end with `…`.
pub const MAX_FIELD_BYTES: usize = 1024;
/// Longest error text kept, in bytes (the core's messages are far shorter; a marshal error names
/// the offending key, which a client controls).
pub const MAX_ERROR_BYTES: usize = 4096;
/// Longest stream metadata JSON kept per payload, in bytes.
pub const MAX_METADATA_BYTES: usize = 64 * 1024;

/// What happened to an event, as the metrics label it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutcomeKind {
    /// The sink accepted the message.
    Published,
    /// Refused by the core's checks (not retryable).
    Rejected,
    /// Dropped (and acknowledged) because its message would be too large.
    DroppedOversized,
    /// The sink failed or timed out; the event was not acknowledged, the client retries it.
    PublishFailed,
}

impl OutcomeKind {
    /// Every outcome, in a fixed order (index = [`OutcomeKind::index`]).
    pub const ALL: [OutcomeKind; 4] = [
        OutcomeKind::Published,
        OutcomeKind::Rejected,
        OutcomeKind::DroppedOversized,
        OutcomeKind::PublishFailed,
    ];

    /// The stable name used in the API, the metrics and `tail`.
    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeKind::Published => "published",
            OutcomeKind::Rejected => "rejected",
            OutcomeKind::DroppedOversized => "dropped_oversized",
            OutcomeKind::PublishFailed => "publish_failed",
        }
    }

    /// Position in [`OutcomeKind::ALL`].
    pub fn index(self) -> usize {
        match self {
            OutcomeKind::Published => 0,
            OutcomeKind::Rejected => 1,
            OutcomeKind::DroppedOversized => 2,
            OutcomeKind::PublishFailed => 3,
        }
    }

    /// Parses a stable name.
    pub fn parse(s: &str) -> Option<Self> {
        OutcomeKind::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

/// Cuts `s` to at most `max` bytes at a character boundary, marking a cut with `…`.
pub fn cut(s: &str, max: usize) -> std::borrow::Cow<'_, str> {
    if s.len() <= max {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut end = max.saturating_sub('…'.len_utf8());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    std::borrow::Cow::Owned(format!("{}…", s.get(..end).unwrap_or_default()))
}

/// The small strings of a summary, packed into one allocation (the serving path makes one of
/// these per event, so fewer allocations matter).
#[derive(Debug)]
struct Packed {
    text: Box<str>,
    ends: [u32; Field::COUNT],
}

/// The packed string fields of a [`Summary`].
#[derive(Debug, Clone, Copy)]
pub enum Field {
    /// The event id.
    EventId = 0,
    /// `event.feature`.
    Feature,
    /// `event.action`.
    Action,
    /// `publisher.source`.
    Source,
    /// The instance id (licensed or unlicensed instance) or the service id (managed service).
    Instance,
    /// The stream's request id.
    RequestId,
    /// The exact error text (rejected, publish failed), empty otherwise.
    Error,
}

impl Field {
    const COUNT: usize = 7;
}

/// Builds the packed string fields of a [`Summary`], in field order.
pub struct PackedBuilder {
    text: String,
    ends: [u32; Field::COUNT],
    next: usize,
}

impl PackedBuilder {
    /// Starts a summary's strings; `hint` is the expected total length.
    pub fn with_capacity(hint: usize) -> Self {
        PackedBuilder {
            text: String::with_capacity(hint),
            ends: [0; Field::COUNT],
            next: 0,
        }
    }

    /// Appends the next field, cut at `max` bytes.
    pub fn push(mut self, value: &str, max: usize) -> Self {
        self.text.push_str(&cut(value, max));
        if let Some(end) = self.ends.get_mut(self.next) {
            *end = u32::try_from(self.text.len()).unwrap_or(u32::MAX);
        }
        self.next += 1;
        self
    }

    fn finish(self) -> Packed {
        Packed {
            text: self.text.into_boxed_str(),
            ends: self.ends,
        }
    }
}

/// The small, shareable part of an entry: what the table, the live stream and `tail` show.
#[derive(Debug)]
pub struct Summary {
    seq: AtomicU64,
    /// When the gateway processed the payload, milliseconds since the Unix epoch.
    pub received_ms: i64,
    /// What happened.
    pub outcome: OutcomeKind,
    /// The machine-readable rejection reason (the dead-letter `reason`), for rejected events.
    pub reason: Option<&'static str>,
    /// `RecordEvents` or `RecordEvent`.
    pub rpc: &'static str,
    /// The message body's size in bytes (published, publish failed, dropped as oversized).
    pub body_bytes: Option<usize>,
    packed: Packed,
}

impl Summary {
    /// Creates a summary; its sequence number is assigned when the store takes it.
    pub fn new(
        received_ms: i64,
        outcome: OutcomeKind,
        reason: Option<&'static str>,
        rpc: &'static str,
        body_bytes: Option<usize>,
        strings: PackedBuilder,
    ) -> Self {
        Summary {
            seq: AtomicU64::new(0),
            received_ms,
            outcome,
            reason,
            rpc,
            body_bytes,
            packed: strings.finish(),
        }
    }

    /// The store's sequence number (1, 2, …; never reused until a reset).
    pub fn seq(&self) -> u64 {
        self.seq.load(Ordering::Relaxed)
    }

    pub(crate) fn set_seq(&self, seq: u64) {
        self.seq.store(seq, Ordering::Relaxed);
    }

    /// One of the packed string fields.
    pub fn get(&self, field: Field) -> &str {
        let i = field as usize;
        let start = if i == 0 {
            0
        } else {
            self.packed.ends.get(i - 1).copied().unwrap_or(0) as usize
        };
        let end = self.packed.ends.get(i).copied().unwrap_or(0) as usize;
        self.packed.text.get(start..end).unwrap_or_default()
    }

    fn cost(&self) -> usize {
        std::mem::size_of::<Summary>() + self.packed.text.len()
    }

    /// The same summary with another outcome and error text (a published event whose publish
    /// failed after it was recorded).
    pub fn with_outcome(&self, outcome: OutcomeKind, error: &str, max_error: usize) -> Summary {
        let strings = PackedBuilder::with_capacity(self.packed.text.len() + error.len())
            .push(self.get(Field::EventId), usize::MAX)
            .push(self.get(Field::Feature), usize::MAX)
            .push(self.get(Field::Action), usize::MAX)
            .push(self.get(Field::Source), usize::MAX)
            .push(self.get(Field::Instance), usize::MAX)
            .push(self.get(Field::RequestId), usize::MAX)
            .push(error, max_error);
        Summary::new(
            self.received_ms,
            outcome,
            self.reason,
            self.rpc,
            self.body_bytes,
            strings,
        )
    }
}

/// The per-payload context every entry of a payload shares.
#[derive(Debug)]
pub struct PayloadContext {
    /// The stream metadata as protojson (as in the message body), unless longer than
    /// [`MAX_METADATA_BYTES`].
    pub metadata_json: Option<Box<str>>,
    /// Bytes this context costs.
    pub cost: usize,
}

/// What the inspector holds of an event's content.
#[derive(Debug)]
pub enum Content {
    /// Nothing (dropped as oversized: the message is not kept).
    None,
    /// The exact message body (published, or publish failed), cut at the store's body limit.
    Message {
        /// The body bytes kept (a prefix when `full_len` is larger).
        data: Box<[u8]>,
        /// The body's full length.
        full_len: usize,
    },
    /// A rejected event as decoded JSON (the core's protojson writer), cut at the body limit.
    Event {
        /// The JSON kept (a prefix when `full_len` is larger).
        json: Box<str>,
        /// The JSON's full length.
        full_len: usize,
    },
    /// A rejected event that could not be rendered as JSON, and why.
    Unrenderable(Box<str>),
    /// A rejected event the inspector did not keep a copy of (its checks passed until the
    /// protojson writer failed): only its id, feature, action and error are known.
    NotHeld,
}

impl Content {
    fn cost(&self) -> usize {
        match self {
            Content::None | Content::NotHeld => 0,
            Content::Message { data, .. } => data.len(),
            Content::Event { json, .. } => json.len(),
            Content::Unrenderable(s) => s.len(),
        }
    }

    /// The text a search looks through.
    pub fn searchable(&self) -> &[u8] {
        match self {
            Content::Message { data, .. } => data,
            Content::Event { json, .. } => json.as_bytes(),
            Content::Unrenderable(s) => s.as_bytes(),
            Content::None | Content::NotHeld => &[],
        }
    }
}

/// One recorded event.
#[derive(Debug)]
pub struct Entry {
    /// The shareable part.
    pub summary: Arc<Summary>,
    /// The payload's context.
    pub context: Arc<PayloadContext>,
    /// The message attributes as a JSON object (published, publish failed).
    pub attributes: Option<Box<str>>,
    /// The body or decoded event.
    pub content: Content,
    /// Bytes charged to the store for this entry.
    cost: usize,
}

impl Entry {
    /// Replaces the summary (before the entry is in the store).
    pub(crate) fn replace_summary(&mut self, summary: Summary) {
        self.cost = self.cost - self.summary.cost() + summary.cost();
        self.summary = Arc::new(summary);
    }

    /// Assembles an entry; `context_share` is this entry's share of the payload context's cost.
    pub fn new(
        summary: Summary,
        context: Arc<PayloadContext>,
        attributes: Option<Box<str>>,
        content: Content,
        context_share: usize,
    ) -> Self {
        let cost = std::mem::size_of::<Entry>()
            + summary.cost()
            + attributes.as_ref().map_or(0, |a| a.len())
            + content.cost()
            + context_share;
        Entry {
            summary: Arc::new(summary),
            context,
            attributes,
            content,
            cost,
        }
    }

    /// Bytes charged to the store.
    pub fn cost(&self) -> usize {
        self.cost
    }
}

/// Formats milliseconds since the epoch as RFC 3339 UTC with milliseconds.
pub fn format_ms(ms: i64) -> String {
    let ts = prost_types::Timestamp {
        seconds: ms.div_euclid(1000),
        nanos: (ms.rem_euclid(1000) * 1_000_000) as i32,
    };
    let mut out = Vec::with_capacity(24);
    match telemetry_core::json::format_timestamp(&mut out, &ts) {
        Ok(()) => String::from_utf8(out).unwrap_or_default(),
        Err(_) => ms.to_string(),
    }
}

/// The JSON form of a summary (the list rows, the live stream, `tail --json`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RowJson<'a> {
    seq: u64,
    received_at: String,
    outcome: &'static str,
    event_id: &'a str,
    feature: &'a str,
    action: &'a str,
    publisher_source: &'a str,
    instance: &'a str,
    request_id: &'a str,
    rpc: &'static str,
    reason: Option<&'static str>,
    error: Option<&'a str>,
    body_bytes: Option<usize>,
}

impl<'a> RowJson<'a> {
    /// The row of a summary.
    pub fn of(s: &'a Summary) -> Self {
        let error = s.get(Field::Error);
        RowJson {
            seq: s.seq(),
            received_at: format_ms(s.received_ms),
            outcome: s.outcome.as_str(),
            event_id: s.get(Field::EventId),
            feature: s.get(Field::Feature),
            action: s.get(Field::Action),
            publisher_source: s.get(Field::Source),
            instance: s.get(Field::Instance),
            request_id: s.get(Field::RequestId),
            rpc: s.rpc,
            reason: s.reason,
            error: (!error.is_empty()).then_some(error),
            body_bytes: s.body_bytes,
        }
    }
}

/// The JSON form of a whole entry: the row plus the decoded event, its attributes, the stream
/// metadata and the exact message body.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EntryJson<'a> {
    #[serde(flatten)]
    row: RowJson<'a>,
    /// The event as JSON: from the published body, or rendered by the core for a rejected one.
    event: Option<&'a RawValue>,
    /// The message attributes.
    attributes: Option<&'a RawValue>,
    /// The stream metadata as JSON (as in the message body).
    metadata: Option<&'a RawValue>,
    /// The exact message body (`{"event":…,"metadata":…}`), for published and failed events.
    body: Option<&'a RawValue>,
    /// Whether the body (or the rendered event) was longer than the store keeps.
    body_truncated: bool,
    /// The kept prefix of a truncated body or event, as text.
    #[serde(skip_serializing_if = "Option::is_none")]
    body_prefix: Option<std::borrow::Cow<'a, str>>,
    /// Why something is missing, when it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<String>,
}

#[derive(serde::Deserialize)]
struct BodyParts<'a> {
    #[serde(borrow)]
    event: &'a RawValue,
    #[serde(borrow)]
    metadata: &'a RawValue,
}

fn raw(text: &str) -> Option<&RawValue> {
    serde_json::from_str::<&RawValue>(text).ok()
}

impl<'a> EntryJson<'a> {
    /// The full JSON of an entry.
    pub fn of(e: &'a Entry) -> Self {
        let mut j = EntryJson {
            row: RowJson::of(&e.summary),
            event: None,
            attributes: e.attributes.as_deref().and_then(raw),
            metadata: e.context.metadata_json.as_deref().and_then(raw),
            body: None,
            body_truncated: false,
            body_prefix: None,
            note: None,
        };
        if e.context.metadata_json.is_none() {
            j.note = Some(format!(
                "the stream metadata is longer than {MAX_METADATA_BYTES} bytes and was not kept"
            ));
        }
        match &e.content {
            Content::Message { data, full_len } => {
                if data.len() < *full_len {
                    j.body_truncated = true;
                    j.body_prefix = Some(String::from_utf8_lossy(data));
                    j.note = Some(format!(
                        "the message body is {full_len} bytes; the inspector keeps the first {}",
                        data.len()
                    ));
                } else if let Ok(text) = std::str::from_utf8(data) {
                    j.body = raw(text);
                    if let Ok(parts) = serde_json::from_str::<BodyParts<'_>>(text) {
                        j.event = Some(parts.event);
                        j.metadata = Some(parts.metadata);
                    }
                }
            }
            Content::Event { json, full_len } => {
                if json.len() < *full_len {
                    j.body_truncated = true;
                    j.body_prefix = Some(std::borrow::Cow::Borrowed(json));
                    j.note = Some(format!(
                        "the event's JSON is {full_len} bytes; the inspector keeps the first {}",
                        json.len()
                    ));
                } else {
                    j.event = raw(json);
                }
            }
            Content::Unrenderable(why) => {
                j.note = Some(format!("the event cannot be rendered as JSON: {why}"));
            }
            Content::NotHeld => {
                j.note = Some(
                    "the event cannot be rendered as JSON (see the error); only its id, feature and action are kept"
                        .to_string(),
                );
            }
            Content::None => {
                if e.summary.outcome == OutcomeKind::DroppedOversized {
                    j.note = Some(format!(
                        "the message ({} bytes) is at or over the gateway's message-size limit: it was dropped (and acknowledged), not kept",
                        e.summary.body_bytes.unwrap_or_default()
                    ));
                }
            }
        }
        j
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_keeps_char_boundaries() {
        assert_eq!(cut("abc", 3), "abc");
        assert_eq!(cut("abcdef", 5), "ab…");
        let s = "ééééé"; // 10 bytes
        let c = cut(s, 6);
        assert!(c.len() <= 6, "{c}");
        assert!(c.ends_with('…'));
    }

    #[test]
    fn packed_fields_round_trip() {
        let b = PackedBuilder::with_capacity(16)
            .push("id-1", MAX_FIELD_BYTES)
            .push("feat", MAX_FIELD_BYTES)
            .push("act", MAX_FIELD_BYTES)
            .push("src", MAX_FIELD_BYTES)
            .push("", MAX_FIELD_BYTES)
            .push("req", MAX_FIELD_BYTES)
            .push("oops", MAX_ERROR_BYTES);
        let s = Summary::new(0, OutcomeKind::Rejected, None, "RecordEvents", None, b);
        assert_eq!(s.get(Field::EventId), "id-1");
        assert_eq!(s.get(Field::Feature), "feat");
        assert_eq!(s.get(Field::Action), "act");
        assert_eq!(s.get(Field::Source), "src");
        assert_eq!(s.get(Field::Instance), "");
        assert_eq!(s.get(Field::RequestId), "req");
        assert_eq!(s.get(Field::Error), "oops");
    }

    #[test]
    fn format_ms_is_rfc3339() {
        assert_eq!(format_ms(1_719_837_296_789), "2024-07-01T12:34:56.789Z");
        assert_eq!(format_ms(0), "1970-01-01T00:00:00Z");
    }
}
