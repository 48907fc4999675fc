//! The live event inspector: a bounded in-memory record of recent events and what happened to
//! them, served on the diagnostics port as a web page (`/inspector/`), a REST API
//! (`/inspector/api/…`) and a server-sent-event stream that `telemetry-gateway tail` follows.
//!
//! ```text
//! $ telemetry-gateway serve                      # the inspector is on with the defaults
//! $ open http://127.0.0.1:10081/inspector/       # watch events arrive
//! $ curl -s 'http://127.0.0.1:10081/inspector/api/events?outcome=rejected' | jq .
//! $ telemetry-gateway tail --outcome rejected    # the same stream in a terminal
//! ```
//!
//! The serving path calls one hook per payload: [`Inspector::payload`] before the core's
//! `ingest` (it notes each event's feature and action, and renders the few events that fail the
//! core's field checks, since `ingest` consumes them), then [`PayloadRecorder::record`] once per
//! event outcome; the recorder hands its entries to the store in one short lock when dropped.
//! When the inspector is off both calls do nothing.
//!
//! Every event is counted (by outcome, and per second for rates). Its details — body,
//! attributes, decoded event — are kept for at most [`Config::max_rate`] events per second
//! (published events and the others — rejected, dropped, failed — each have their own budget,
//! so a flood of one kind never hides the other); beyond that an event is counted as
//! `notKept`. That bounds the inspector's work on the serving path at any load: at a few
//! hundred events per second everything is kept; at 80,000 per second the store would cycle
//! through its 1,000 entries every 12 ms anyway.
//!
//! The inspector never holds the only copy of anything: it copies what the sink was given (at
//! most [`Limits::max_body_bytes`] of each body) after the fact, and what it keeps is bounded by
//! count and bytes, oldest evicted first.
//!
//! | file | concern |
//! |---|---|
//! | `entry.rs` | what one record holds, its memory cost, its JSON |
//! | `store.rs` | the bounded record, counters, the per-second window |
//! | `filter.rs` | query parameters: filters and paging |
//! | `api.rs` | the REST handlers, authentication and the Host check |
//! | `live.rs` | the server-sent-event stream (bounded subscribers, lag notices) |
//! | `page.rs`, `assets/` | the embedded web page |
//! | `tail.rs` | `telemetry-gateway tail`, the terminal client |

pub mod api;
pub mod entry;
pub mod filter;
pub mod live;
pub mod page;
pub mod store;
pub mod tail;

use crate::sink::dead_letter;
use entry::{
    Content, Entry, MAX_ERROR_BYTES, MAX_FIELD_BYTES, MAX_METADATA_BYTES, OutcomeKind,
    PackedBuilder, PayloadContext, Summary,
};
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Instant, SystemTime, UNIX_EPOCH};
pub use store::Limits;
use store::Store;
use telemetry_core::proto::Event;
use telemetry_core::{Acknowledgement, EventOutcome, Outcome, Publisher};
use tokio::sync::broadcast;

/// Default most events kept.
pub const DEFAULT_CAPACITY: usize = 1000;
/// Default most bytes kept.
pub const DEFAULT_MAX_BYTES: &str = "32MiB";
/// Default most events kept per second, for published events and for the others each.
pub const DEFAULT_MAX_RATE: u32 = 1000;
/// Largest accepted `--inspector-capacity` (a snapshot copies one pointer per entry).
pub const MAX_CAPACITY: usize = 100_000;
/// Smallest accepted `--inspector-max-bytes`.
pub const MIN_MAX_BYTES: usize = 64 * 1024;
/// Longest body kept per entry (also at most an eighth of the byte limit).
pub const MAX_BODY_BYTES: usize = 256 * 1024;
/// Most concurrent live-stream subscribers (the page and `tail`); more get `503`.
pub const MAX_SUBSCRIBERS: usize = 16;
/// Entries the live stream buffers for its subscribers (summaries only, a few hundred bytes
/// each); a subscriber further behind is told how many it missed (`event: lagged`).
pub const LIVE_BUFFER: usize = 1024;

/// What the inspector was configured with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Count and byte limits.
    pub limits: Limits,
    /// If set, every API request needs `Authorization: Bearer TOKEN`.
    pub token: Option<String>,
    /// Most events kept per second, for published events and for the others each (bursts up to
    /// the capacity); 0: no limit.
    pub max_rate: u32,
}

impl Config {
    /// Checks and completes limits from the command line (with the default record rate).
    pub fn new(capacity: usize, max_bytes: usize, token: Option<String>) -> anyhow::Result<Self> {
        anyhow::ensure!(
            (1..=MAX_CAPACITY).contains(&capacity),
            "--inspector-capacity must be from 1 to {MAX_CAPACITY}, got {capacity}"
        );
        anyhow::ensure!(
            max_bytes >= MIN_MAX_BYTES,
            "--inspector-max-bytes must be at least {MIN_MAX_BYTES} bytes (64KiB), got {max_bytes}"
        );
        let token = token.filter(|t| !t.is_empty());
        Ok(Config {
            limits: Limits {
                capacity,
                max_bytes,
                max_body_bytes: MAX_BODY_BYTES.min(max_bytes / 8),
            },
            token,
            max_rate: DEFAULT_MAX_RATE,
        })
    }

    /// The same with another record rate (0: keep every event).
    pub fn with_max_rate(mut self, max_rate: u32) -> Self {
        self.max_rate = max_rate;
        self
    }
}

/// A token bucket: how many more events may be kept now.
#[derive(Debug)]
struct Budget {
    /// Tokens per second; 0 means unlimited.
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl Budget {
    fn new(rate: u32, burst: usize) -> Self {
        Budget {
            rate: f64::from(rate),
            burst: burst as f64,
            tokens: burst as f64,
            last: Instant::now(),
        }
    }

    /// Takes up to `want` tokens; returns how many it got.
    fn take(&mut self, want: usize) -> usize {
        if self.rate == 0.0 {
            return want;
        }
        let now = Instant::now();
        let elapsed = now.duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        let got = (self.tokens.floor() as usize).min(want);
        self.tokens -= got as f64;
        got
    }

    /// Returns tokens taken but not used.
    fn give_back(&mut self, n: usize) {
        if self.rate != 0.0 {
            self.tokens = (self.tokens + n as f64).min(self.burst);
        }
    }
}

/// The two budgets: published events, and the others.
#[derive(Debug)]
struct Budgets {
    published: Budget,
    problems: Budget,
}

/// An event for the live stream.
#[derive(Debug, Clone)]
pub(crate) enum Live {
    /// A new entry.
    Entry(Arc<Summary>),
    /// The record was reset.
    Reset,
}

pub(crate) struct Shared {
    pub(crate) config: Config,
    store: Mutex<Store>,
    budgets: Mutex<Budgets>,
    pub(crate) live: broadcast::Sender<Live>,
    pub(crate) subscribers: AtomicUsize,
}

impl Shared {
    pub(crate) fn store(&self) -> MutexGuard<'_, Store> {
        // A panic while holding the lock cannot leave the store inconsistent in a way that
        // matters for a diagnostic view; keep serving.
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn budgets(&self) -> MutexGuard<'_, Budgets> {
        self.budgets.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The inspector handle the server holds: cheap to clone, and a no-op when off.
#[derive(Clone, Default)]
pub struct Inspector {
    shared: Option<Arc<Shared>>,
}

impl std::fmt::Debug for Inspector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.shared {
            Some(s) => write!(f, "Inspector({:?})", s.config.limits),
            None => write!(f, "Inspector(off)"),
        }
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl Inspector {
    /// The inspector turned off: every hook does nothing.
    pub fn off() -> Self {
        Inspector { shared: None }
    }

    /// An inspector with this configuration.
    pub fn new(config: Config) -> Self {
        let (live, _) = broadcast::channel(LIVE_BUFFER);
        Inspector {
            shared: Some(Arc::new(Shared {
                store: Mutex::new(Store::new(config.limits, now_ms())),
                budgets: Mutex::new(Budgets {
                    published: Budget::new(config.max_rate, config.limits.capacity),
                    problems: Budget::new(config.max_rate, config.limits.capacity),
                }),
                config,
                live,
                subscribers: AtomicUsize::new(0),
            })),
        }
    }

    /// The inspector `serve` options describe; off when the diagnostics port is off.
    pub fn from_args(
        args: &crate::config::InspectorArgs,
        diagnostics_on: bool,
    ) -> anyhow::Result<Self> {
        let max_bytes =
            crate::config::parse_size(&args.inspector_max_bytes).map_err(anyhow::Error::msg)?;
        let config = Config::new(
            args.inspector_capacity,
            max_bytes,
            args.inspector_token.clone(),
        )?
        .with_max_rate(args.inspector_max_rate);
        if !args.inspector.is_on() {
            return Ok(Inspector::off());
        }
        if !diagnostics_on {
            tracing::info!(
                "event inspector off: it is served on the diagnostics port, which is off"
            );
            return Ok(Inspector::off());
        }
        tracing::info!(
            capacity = config.limits.capacity,
            max_bytes = config.limits.max_bytes,
            max_rate = config.max_rate,
            token = config.token.is_some(),
            "event inspector on: recent events (with private metadata) are kept in memory and served at /inspector/ on the diagnostics port"
        );
        Ok(Inspector::new(config))
    }

    /// Whether the inspector records anything.
    pub fn is_on(&self) -> bool {
        self.shared.is_some()
    }

    #[cfg(test)]
    pub(crate) fn shared(&self) -> Option<&Arc<Shared>> {
        self.shared.as_ref()
    }

    /// THE SERVING-PATH HOOK, part 1: call once per payload of `count` events, before its
    /// events are processed. Does nothing when the inspector is off.
    pub fn payload(
        &self,
        publisher: &Publisher,
        request_id: &str,
        rpc: &'static str,
        count: usize,
    ) -> PayloadRecorder {
        let Some(shared) = &self.shared else {
            return PayloadRecorder { state: None };
        };
        let received_ms = now_ms();
        // One short lock per payload takes this payload's allowances; what is not used goes back
        // when the payload is done.
        let (problem_allowance, published_allowance) = {
            let mut b = shared.budgets();
            (b.problems.take(count), b.published.take(count))
        };
        let names = String::new();
        let name_ends = Vec::new();
        let held = Vec::new();
        let metadata_json = std::str::from_utf8(publisher.metadata_json())
            .ok()
            .filter(|m| m.len() <= MAX_METADATA_BYTES)
            .map(Box::<str>::from);
        let instance = metadata_json
            .as_deref()
            .map(instance_of)
            .unwrap_or_default();
        let context_cost =
            std::mem::size_of::<PayloadContext>() + metadata_json.as_ref().map_or(0, |m| m.len());
        let context = Arc::new(PayloadContext {
            metadata_json,
            cost: context_cost,
        });
        PayloadRecorder {
            state: Some(Box::new(Recording {
                shared: shared.clone(),
                context,
                received_ms,
                rpc,
                source: entry::cut(&publisher.source, MAX_FIELD_BYTES).into_owned(),
                instance: entry::cut(&instance, MAX_FIELD_BYTES).into_owned(),
                request_id: entry::cut(request_id, MAX_FIELD_BYTES).into_owned(),
                names,
                name_ends,
                // Grown as entries are kept: sizing it from the allowances (usually a full
                // problem budget that is given back) would allocate and free a large block per
                // payload, and freeing a block of 64 KiB or more makes glibc's allocator
                // consolidate its free lists, slowing every allocation of the server.
                count,
                held_pending: 0,
                entries: Vec::with_capacity(published_allowance.min(64)),
                indices: Vec::with_capacity(published_allowance.min(64)),
                held,
                published_allowance,
                problem_allowance,
                counts: [0; 4],
                not_kept: 0,
            })),
        }
    }
}

/// The length of the longest prefix of `bytes` of at most `max` bytes that does not split a
/// UTF-8 sequence (bodies are UTF-8 JSON; a cut one is still shown as text).
fn utf8_prefix_len(bytes: &[u8], max: usize) -> usize {
    if bytes.len() <= max {
        return bytes.len();
    }
    let mut end = max;
    while end > 0 && bytes.get(end).is_some_and(|b| (b & 0xC0) == 0x80) {
        end -= 1;
    }
    end
}

/// Renders a rejected event with the core's protojson writer, cut at `max` bytes.
fn render_event(e: &Event, max: usize) -> Content {
    match telemetry_core::json::event_to_json(e) {
        Ok(mut json) => {
            let full_len = json.len();
            json.truncate(utf8_prefix_len(&json, max));
            match String::from_utf8(json) {
                Ok(s) => Content::Event {
                    json: s.into_boxed_str(),
                    full_len,
                },
                Err(e) => Content::Unrenderable(e.to_string().into_boxed_str()),
            }
        }
        Err(e) => Content::Unrenderable(
            entry::cut(&e.to_string(), MAX_ERROR_BYTES)
                .into_owned()
                .into_boxed_str(),
        ),
    }
}

/// The instance id (licensed or unlicensed instance) or service id (managed service) in stream
/// metadata JSON.
fn instance_of(metadata_json: &str) -> String {
    #[derive(serde::Deserialize, Default)]
    #[serde(rename_all = "camelCase", default)]
    struct Instance {
        instance_id: String,
        service_id: String,
    }
    #[derive(serde::Deserialize, Default)]
    #[serde(rename_all = "camelCase", default)]
    struct Identifier {
        licensed_instance: Option<Instance>,
        unlicensed_instance: Option<Instance>,
        managed_service: Option<Instance>,
    }
    #[derive(serde::Deserialize, Default)]
    #[serde(default)]
    struct Metadata {
        identifier: Option<Identifier>,
    }
    let Ok(m) = serde_json::from_str::<Metadata>(metadata_json) else {
        return String::new();
    };
    let Some(id) = m.identifier else {
        return String::new();
    };
    match (
        id.licensed_instance,
        id.unlicensed_instance,
        id.managed_service,
    ) {
        (Some(i), _, _) | (_, Some(i), _) => i.instance_id,
        (_, _, Some(s)) => s.service_id,
        _ => String::new(),
    }
}

struct Recording {
    shared: Arc<Shared>,
    context: Arc<PayloadContext>,
    received_ms: i64,
    rpc: &'static str,
    source: String,
    instance: String,
    request_id: String,
    /// Every event's feature and action, concatenated; `name_ends[i]` = (feature end, action end).
    names: String,
    name_ends: Vec<(usize, usize)>,
    /// Rendered events that fail the field checks and are kept, by index (ascending).
    held: Vec<(usize, Content)>,
    /// Published events this payload may still keep.
    published_allowance: usize,
    /// Other events (found after the field checks) this payload may still keep.
    problem_allowance: usize,
    /// Events counted, by outcome index.
    counts: [u64; 4],
    /// Events counted but not kept (over the record rate).
    not_kept: u64,
    /// Events in the payload.
    count: usize,
    /// Rendered events in `held` not recorded yet (each will take a problem allowance).
    held_pending: usize,
    entries: Vec<Entry>,
    /// The payload index of each entry.
    indices: Vec<usize>,
}

/// Collects one payload's entries; hands them to the store when dropped.
pub struct PayloadRecorder {
    state: Option<Box<Recording>>,
}

impl PayloadRecorder {
    /// THE SERVING-PATH HOOK, part 2: call once per event, in order, with the decoded event
    /// before the core consumes it. Notes its feature and action, and renders it if it fails the
    /// core's field checks (it will be rejected, and the core drops it) — both only while this
    /// payload may still keep entries.
    pub fn note(&mut self, index: usize, e: &Event) {
        let Some(r) = self.state.as_deref_mut() else {
            return;
        };
        if r.problem_allowance == 0 && r.published_allowance == 0 {
            return;
        }
        // Notes come in order; one missed would shift the names of the rest.
        while r.name_ends.len() < index {
            let end = r.names.len();
            r.name_ends.push((end, end));
        }
        r.names.push_str(&entry::cut(&e.feature, MAX_FIELD_BYTES));
        let feature_end = r.names.len();
        r.names.push_str(&entry::cut(&e.action, MAX_FIELD_BYTES));
        r.name_ends.push((feature_end, r.names.len()));
        if r.problem_allowance > r.held_pending
            && telemetry_core::validate::check_required_fields(e).is_err()
        {
            let max_body = r.shared.config.limits.max_body_bytes;
            r.held.push((index, render_event(e, max_body)));
            r.held_pending += 1;
        }
    }

    /// THE SERVING-PATH HOOK, part 4: a published event whose publish then failed (its entry,
    /// if kept, becomes `publish_failed` with the sink's error).
    pub fn publish_failed(&mut self, index: usize, error: &str) {
        let Some(r) = self.state.as_deref_mut() else {
            return;
        };
        let published = OutcomeKind::Published.index();
        let failed = OutcomeKind::PublishFailed.index();
        if let Some(c) = r.counts.get_mut(published) {
            *c = c.saturating_sub(1);
        }
        if let Some(c) = r.counts.get_mut(failed) {
            *c += 1;
        }
        if let Ok(at) = r.indices.binary_search(&index)
            && let Some(entry) = r.entries.get_mut(at)
        {
            let summary =
                entry
                    .summary
                    .with_outcome(OutcomeKind::PublishFailed, error, MAX_ERROR_BYTES);
            entry.replace_summary(summary);
        }
    }

    /// THE SERVING-PATH HOOK, part 3: call once per event with its index in the payload, its
    /// outcome, its acknowledgement as far as known (a publish that fails later is reported with
    /// [`PayloadRecorder::publish_failed`]) and the error text the server reports (if any).
    pub fn record(
        &mut self,
        index: usize,
        outcome: &EventOutcome,
        ack: Acknowledgement,
        error: Option<&str>,
    ) {
        let Some(r) = self.state.as_deref_mut() else {
            return;
        };
        let kind = match (&outcome.outcome, ack) {
            (Outcome::Publish(_), Acknowledgement::PublishFailed) => OutcomeKind::PublishFailed,
            (Outcome::Publish(_), _) => OutcomeKind::Published,
            (Outcome::Reject(_), _) => OutcomeKind::Rejected,
            (Outcome::DropOversized { .. }, _) => OutcomeKind::DroppedOversized,
        };
        if let Some(c) = r.counts.get_mut(kind.index()) {
            *c += 1;
        }
        let keep = match (kind, &outcome.outcome) {
            (OutcomeKind::Published, _) => {
                let ok = r.published_allowance > 0;
                r.published_allowance = r.published_allowance.saturating_sub(1);
                ok
            }
            // Failed the field checks: kept if rendered in `payload` (within the budget).
            (OutcomeKind::Rejected, Outcome::Reject(e))
                if !matches!(
                    e,
                    telemetry_core::EventError::Marshal(_)
                        | telemetry_core::EventError::PubSubLimit(_)
                ) =>
            {
                let held = r.held.binary_search_by_key(&index, |(i, _)| *i).is_ok();
                if held {
                    r.problem_allowance = r.problem_allowance.saturating_sub(1);
                    r.held_pending = r.held_pending.saturating_sub(1);
                }
                held
            }
            // Outcomes found after the field checks: from the payload's problem allowance.
            _ => {
                let ok = r.problem_allowance > 0;
                r.problem_allowance = r.problem_allowance.saturating_sub(1);
                ok
            }
        };
        if !keep {
            r.not_kept += 1;
            return;
        }
        let start = index
            .checked_sub(1)
            .and_then(|p| r.name_ends.get(p))
            .map_or(0, |e| e.1);
        let (feature, action) = r.name_ends.get(index).map_or(("", ""), |&(mid, end)| {
            (
                r.names.get(start..mid).unwrap_or_default(),
                r.names.get(mid..end).unwrap_or_default(),
            )
        });
        let max_body = r.shared.config.limits.max_body_bytes;
        let (reason, body_bytes, attributes, content) = match &outcome.outcome {
            Outcome::Publish(m) => {
                let kept = m
                    .data
                    .get(..utf8_prefix_len(&m.data, max_body))
                    .unwrap_or_default();
                let attributes = serde_json::to_string(&m.attributes)
                    .ok()
                    .map(String::into_boxed_str);
                (
                    None,
                    Some(m.data.len()),
                    attributes,
                    Content::Message {
                        data: kept.into(),
                        full_len: m.data.len(),
                    },
                )
            }
            Outcome::Reject(e) => {
                let content = match r.held.binary_search_by_key(&index, |(i, _)| *i) {
                    Ok(at) => r.held.get_mut(at).map_or(Content::NotHeld, |h| {
                        std::mem::replace(&mut h.1, Content::NotHeld)
                    }),
                    Err(_) => Content::NotHeld,
                };
                (Some(dead_letter::reason(e)), None, None, content)
            }
            Outcome::DropOversized { size } => (None, Some(*size), None, Content::None),
        };
        let error_text = match (&outcome.outcome, error) {
            (_, Some(e)) => std::borrow::Cow::Borrowed(e),
            (Outcome::Reject(e), None) => std::borrow::Cow::Owned(e.to_string()),
            _ => std::borrow::Cow::Borrowed(""),
        };
        let strings = PackedBuilder::with_capacity(
            outcome.id.len()
                + feature.len()
                + action.len()
                + r.source.len()
                + r.instance.len()
                + r.request_id.len()
                + error_text.len(),
        )
        .push(&outcome.id, MAX_FIELD_BYTES)
        .push(feature, MAX_FIELD_BYTES)
        .push(action, MAX_FIELD_BYTES)
        .push(&r.source, MAX_FIELD_BYTES)
        .push(&r.instance, MAX_FIELD_BYTES)
        .push(&r.request_id, MAX_FIELD_BYTES)
        .push(&error_text, MAX_ERROR_BYTES);
        let summary = Summary::new(r.received_ms, kind, reason, r.rpc, body_bytes, strings);
        // Each entry carries a share of the payload context's cost, so the byte limit counts it
        // once per payload rather than once per event.
        let share = r.context.cost.div_ceil(r.count.max(1));
        r.entries.push(Entry::new(
            summary,
            r.context.clone(),
            attributes,
            content,
            share,
        ));
        r.indices.push(index);
    }
}

impl Drop for PayloadRecorder {
    fn drop(&mut self) {
        let Some(r) = self.state.take() else {
            return;
        };
        let Recording {
            shared,
            entries,
            counts,
            not_kept,
            received_ms,
            published_allowance,
            problem_allowance,
            ..
        } = *r;
        if published_allowance > 0 || problem_allowance > 0 {
            let mut b = shared.budgets();
            b.published.give_back(published_allowance);
            b.problems.give_back(problem_allowance);
        }
        if counts == [0; 4] {
            return;
        }
        let tell = shared.live.receiver_count() > 0;
        let mut store = shared.store();
        store.count(counts, not_kept, received_ms);
        for e in entries {
            let summary = store.push(e);
            if tell {
                // An error only means every subscriber left meanwhile.
                let _ = shared.live.send(Live::Entry(summary));
            }
        }
    }
}

/// The inspector's routes for the diagnostics server: the page, the REST API and the live
/// stream under `/inspector/`. When the inspector is off they answer `404` saying so.
pub fn router(inspector: Inspector) -> axum::Router {
    match inspector.shared {
        Some(shared) => api::routes(shared),
        None => api::off_routes(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use telemetry_core::proto::{Identifier, RecordEventsRequestMetadata, identifier};

    pub(crate) fn publisher() -> Publisher {
        Publisher::new(&RecordEventsRequestMetadata {
            request_id: "req-1".into(),
            identifier: Some(Identifier {
                identifier: Some(identifier::Identifier::UnlicensedInstance(
                    identifier::UnlicensedInstanceIdentifier {
                        instance_id: "inst-1".into(),
                        external_url: String::new(),
                    },
                )),
            }),
        })
        .unwrap()
    }

    pub(crate) fn event(id: &str, feature: &str) -> Event {
        Event {
            id: id.into(),
            feature: feature.into(),
            action: "viewed".into(),
            timestamp: Some(prost_types::Timestamp {
                seconds: 1_719_837_296,
                nanos: 0,
            }),
            ..Default::default()
        }
    }

    /// Runs a payload through the hook the way the server does.
    pub(crate) fn run(inspector: &Inspector, events: Vec<Event>, max_message_bytes: usize) {
        let p = publisher();
        let mut rec = inspector.payload(&p, "req-1", "RecordEvents", events.len());
        for (i, e) in events.iter().enumerate() {
            rec.note(i, e);
        }
        let outcomes = telemetry_core::ingest(
            &p,
            events,
            telemetry_core::Rpc::RecordEvents,
            max_message_bytes,
        );
        for (i, o) in outcomes.iter().enumerate() {
            let ack = Acknowledgement::assuming_published(&o.outcome);
            let err = match &o.outcome {
                Outcome::Reject(e) => Some(e.to_string()),
                _ => None,
            };
            rec.record(i, o, ack, err.as_deref());
        }
    }

    fn inspector() -> Inspector {
        Inspector::new(Config::new(100, 1 << 20, None).unwrap())
    }

    #[test]
    fn records_every_outcome_with_its_details() {
        let insp = inspector();
        let mut big = event("big", "big.event");
        big.parameters = Some(telemetry_core::proto::EventParameters {
            private_metadata: Some(prost_types::Struct {
                fields: [(
                    "blob".to_string(),
                    prost_types::Value {
                        kind: Some(prost_types::value::Kind::StringValue("x".repeat(600))),
                    },
                )]
                .into(),
            }),
            ..Default::default()
        });
        let mut nan = event("nan", "nan.event");
        nan.parameters = Some(telemetry_core::proto::EventParameters {
            private_metadata: Some(prost_types::Struct {
                fields: [(
                    "n".to_string(),
                    prost_types::Value {
                        kind: Some(prost_types::value::Kind::NumberValue(f64::NAN)),
                    },
                )]
                .into(),
            }),
            ..Default::default()
        });
        run(
            &insp,
            vec![event("ok", "search"), event("bad", "Bad"), big, nan],
            500,
        );
        let shared = insp.shared().unwrap();
        let snap = shared.store().snapshot();
        assert_eq!(snap.len(), 4);
        let json: Vec<serde_json::Value> = snap
            .iter()
            .map(|e| serde_json::to_value(entry::EntryJson::of(e)).unwrap())
            .collect();
        let ok = &json[0];
        assert_eq!(ok["outcome"], "published");
        assert_eq!(ok["seq"], 1);
        assert_eq!(ok["feature"], "search");
        assert_eq!(ok["instance"], "inst-1");
        assert_eq!(ok["publisherSource"], "unlicensed_instance");
        assert_eq!(ok["event"]["id"], "ok");
        assert_eq!(ok["attributes"]["event.feature"], "search");
        assert_eq!(ok["metadata"]["requestId"], "req-1");
        assert_eq!(ok["body"]["event"]["id"], "ok");
        let bad = &json[1];
        assert_eq!(bad["outcome"], "rejected");
        assert_eq!(bad["reason"], "invalid_feature_or_action");
        assert_eq!(
            bad["error"],
            "invalid event 'feature' or 'action': 'feature' must start with a lowercase letter and contain only letters, dashes, and dots"
        );
        assert_eq!(bad["event"]["feature"], "Bad");
        assert_eq!(bad["body"], serde_json::Value::Null);
        let big = &json[2];
        assert_eq!(big["outcome"], "dropped_oversized");
        assert_eq!(big["feature"], "big.event");
        assert!(big["bodyBytes"].as_u64().unwrap() >= 500);
        assert!(big["note"].as_str().unwrap().contains("dropped"));
        let nan = &json[3];
        assert_eq!(nan["outcome"], "rejected");
        assert_eq!(nan["reason"], "marshal_failed");
        assert_eq!(nan["feature"], "nan.event");
        assert_eq!(nan["event"], serde_json::Value::Null);
        assert!(
            nan["error"]
                .as_str()
                .unwrap()
                .contains("invalid number value NaN")
        );
    }

    #[test]
    fn off_records_nothing_and_costs_nothing() {
        let insp = Inspector::off();
        let p = publisher();
        let events = [event("a", "search")];
        let rec = insp.payload(&p, "r", "RecordEvents", events.len());
        assert!(rec.state.is_none());
    }

    #[test]
    fn bodies_are_cut_at_the_body_limit() {
        // 64 KiB store: bodies are kept up to 8 KiB
        let insp = Inspector::new(Config::new(100, 64 * 1024, None).unwrap());
        let mut e = event("long", "search");
        e.parameters = Some(telemetry_core::proto::EventParameters {
            private_metadata: Some(prost_types::Struct {
                fields: [(
                    "blob".to_string(),
                    prost_types::Value {
                        kind: Some(prost_types::value::Kind::StringValue("é".repeat(10_000))),
                    },
                )]
                .into(),
            }),
            ..Default::default()
        });
        run(&insp, vec![e], telemetry_core::MAX_MESSAGE_BYTES);
        let snap = insp.shared().unwrap().store().snapshot();
        let j = serde_json::to_value(entry::EntryJson::of(&snap[0])).unwrap();
        assert_eq!(j["bodyTruncated"], true);
        assert_eq!(j["body"], serde_json::Value::Null);
        assert!(j["bodyPrefix"].as_str().unwrap().len() <= 8 * 1024);
        assert!(j["bodyBytes"].as_u64().unwrap() > 20_000);
    }

    #[test]
    fn the_record_rate_bounds_what_is_kept_not_what_is_counted() {
        // each budget bursts to 5 and refills at 1 per second
        let insp = Inspector::new(Config::new(50, 1 << 20, None).unwrap().with_max_rate(1));
        {
            let shared = insp.shared().unwrap();
            let mut b = shared.budgets();
            b.published = Budget::new(1, 5);
            b.problems = Budget::new(1, 5);
        }
        let mut events: Vec<Event> = (0..20)
            .map(|i| event(&format!("ok{i}"), "search"))
            .collect();
        events.extend((0..20).map(|i| event(&format!("bad{i}"), "Bad")));
        run(&insp, events, telemetry_core::MAX_MESSAGE_BYTES);
        let shared = insp.shared().unwrap();
        let stats = shared.store().stats(now_ms());
        assert_eq!(stats.counts, [20, 20, 0, 0]);
        assert_eq!(stats.not_kept, 30);
        let kept: Vec<String> = shared
            .store()
            .snapshot()
            .iter()
            .map(|e| e.summary.get(entry::Field::EventId).to_string())
            .collect();
        // the first of each kind, in payload order
        assert_eq!(
            kept,
            [
                "ok0", "ok1", "ok2", "ok3", "ok4", "bad0", "bad1", "bad2", "bad3", "bad4"
            ]
        );
        // unused published tokens go back: a payload of rejections only takes none of them
        let insp = Inspector::new(Config::new(50, 1 << 20, None).unwrap().with_max_rate(1));
        run(
            &insp,
            vec![event("bad", "Bad")],
            telemetry_core::MAX_MESSAGE_BYTES,
        );
        let b = insp.shared().unwrap().budgets();
        assert!(b.published.tokens >= 50.0 - 1e-6, "{:?}", b.published);
    }

    #[test]
    fn rate_zero_keeps_everything() {
        let insp = Inspector::new(Config::new(10_000, 1 << 26, None).unwrap().with_max_rate(0));
        let events: Vec<Event> = (0..5000)
            .map(|i| event(&format!("e{i}"), "search"))
            .collect();
        run(&insp, events, telemetry_core::MAX_MESSAGE_BYTES);
        let stats = insp.shared().unwrap().store().stats(now_ms());
        assert_eq!((stats.retained, stats.not_kept), (5000, 0));
    }

    #[test]
    fn config_bounds() {
        assert!(Config::new(0, 1 << 20, None).is_err());
        assert!(Config::new(MAX_CAPACITY + 1, 1 << 20, None).is_err());
        assert!(Config::new(10, 1000, None).is_err());
        let c = Config::new(10, 1 << 30, Some(String::new())).unwrap();
        assert_eq!(c.limits.max_body_bytes, MAX_BODY_BYTES);
        assert_eq!(c.token, None);
    }
}
