//! `GET /inspector/api/stream`: server-sent events for the page and `tail`.
//!
//! Events: `entry` (data: the row JSON, or the full entry with `full=true`; `id`: its seq),
//! `ready` once the past entries (`backlog`) are sent (`{"backlog": N, "newestSeq": S}`),
//! `lagged` (`{"missed": N}`: this subscriber fell more than [`LIVE_BUFFER`] entries behind and
//! those were skipped), `reset` (the record was reset), and `stats` every second unless
//! `stats=false` (counts by outcome, rates, the per-second series).
//!
//! Bounds: at most [`MAX_SUBSCRIBERS`] streams at once (more get `503`); the entries waiting
//! for subscribers live in one shared ring of [`LIVE_BUFFER`] summaries, so a reader that stops
//! reading costs nothing more: the stream is only polled as fast as the socket drains, and
//! whatever it falls behind is skipped and announced.

use super::api::{RawPairs, error, parse_query, stats_json};
use super::entry::{Entry, EntryJson, RowJson, Summary};
use super::filter::{Endpoint, MAX_PAGE, Query};
use super::{LIVE_BUFFER, Live, MAX_SUBSCRIBERS, Shared, now_ms};
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use http::{StatusCode, header};
use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

/// Holds one of the subscriber slots while a stream is open.
struct Slot(Arc<Shared>);

impl Slot {
    fn acquire(shared: &Arc<Shared>) -> Option<Slot> {
        let previous = shared.subscribers.fetch_add(1, Ordering::AcqRel);
        if previous >= MAX_SUBSCRIBERS {
            shared.subscribers.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(Slot(shared.clone()))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.subscribers.fetch_sub(1, Ordering::AcqRel);
    }
}

struct StreamState {
    slot: Slot,
    rx: tokio::sync::broadcast::Receiver<Live>,
    query: Query,
    backlog: VecDeque<Arc<Entry>>,
    /// The `ready` event, until sent.
    ready: Option<Event>,
    /// Entries up to this seq were in the store when the stream started (sent or filtered).
    start_seq: u64,
    ticker: Option<tokio::time::Interval>,
}

fn entry_event(e: &Entry, full: bool) -> Event {
    let data = if full {
        serde_json::to_string(&EntryJson::of(e))
    } else {
        serde_json::to_string(&RowJson::of(&e.summary))
    };
    Event::default()
        .event("entry")
        .id(e.summary.seq().to_string())
        .data(data.unwrap_or_else(|e| format!("{{\"error\":{:?}}}", e.to_string())))
}

fn row_event(s: &Summary) -> Event {
    Event::default()
        .event("entry")
        .id(s.seq().to_string())
        .data(serde_json::to_string(&RowJson::of(s)).unwrap_or_default())
}

impl StreamState {
    /// The next event of the stream (`None` ends it).
    async fn next(&mut self) -> Option<Event> {
        if let Some(e) = self.backlog.pop_front() {
            return Some(entry_event(&e, self.query.full));
        }
        if let Some(ready) = self.ready.take() {
            return Some(ready);
        }
        loop {
            let woke = {
                let rx = &mut self.rx;
                let ticker = &mut self.ticker;
                tokio::select! {
                    r = rx.recv() => Some(r),
                    () = async {
                        match ticker {
                            Some(t) => {
                                t.tick().await;
                            }
                            None => std::future::pending::<()>().await,
                        }
                    } => None,
                }
            };
            let Some(received) = woke else {
                let now = now_ms();
                let stats = self.slot.0.store().stats(now);
                let data = stats_json(&stats, now).to_string();
                return Some(Event::default().event("stats").data(data));
            };
            match received {
                Ok(Live::Entry(s)) => {
                    if s.seq() <= self.start_seq
                        || !self.query.in_window(s.seq())
                        || !self.query.filter.matches_summary(&s)
                    {
                        continue;
                    }
                    if !self.query.full && !self.query.filter.needs_content() {
                        return Some(row_event(&s));
                    }
                    let entry = self.slot.0.store().get(s.seq());
                    match entry {
                        Some(e) if self.query.filter.matches(&e) => {
                            return Some(entry_event(&e, self.query.full));
                        }
                        Some(_) => continue,
                        // Already evicted: without its body a text search cannot decide.
                        None if self.query.filter.needs_content() => continue,
                        None => return Some(row_event(&s)),
                    }
                }
                Ok(Live::Reset) => return Some(Event::default().event("reset").data("{}")),
                Err(RecvError::Lagged(missed)) => {
                    let data = serde_json::json!({
                        "missed": missed,
                        "message": format!("this reader fell more than {LIVE_BUFFER} events behind; {missed} were skipped (they remain in the API while kept)"),
                    });
                    return Some(Event::default().event("lagged").data(data.to_string()));
                }
                Err(RecvError::Closed) => return None,
            }
        }
    }
}

/// The stream handler.
pub(crate) async fn stream(State(shared): State<Arc<Shared>>, pairs: RawPairs) -> Response {
    let query = match parse_query(pairs, Endpoint::Stream) {
        Ok(q) => q,
        Err(m) => return error(StatusCode::BAD_REQUEST, &m),
    };
    let Some(slot) = Slot::acquire(&shared) else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!(
                "the inspector already serves {MAX_SUBSCRIBERS} live streams; close one and retry"
            ),
        );
    };
    // Subscribe and snapshot under the store lock: entries are published to subscribers under
    // the same lock, so every entry is either in the snapshot or arrives on `rx`, never both.
    let (rx, snapshot, start_seq) = {
        let store = shared.store();
        (
            shared.live.subscribe(),
            store.snapshot(),
            store.newest_seq(),
        )
    };
    // With `after` and no `backlog`, resume: send what was missed (up to MAX_PAGE).
    let backlog_len = if query.after.is_some() && query.limit == 0 {
        MAX_PAGE
    } else {
        query.limit
    };
    let q = query.clone();
    let backlog = tokio::task::spawn_blocking(move || {
        let mut picked: VecDeque<Arc<Entry>> = VecDeque::new();
        if backlog_len == 0 {
            return picked;
        }
        for e in snapshot.iter().rev() {
            if q.in_window(e.summary.seq()) && q.filter.matches(e) {
                picked.push_front(e.clone());
                if picked.len() >= backlog_len {
                    break;
                }
            }
        }
        picked
    })
    .await
    .unwrap_or_default();
    let ticker = query.stats.then(|| {
        let mut t = tokio::time::interval(Duration::from_secs(1));
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        t
    });
    let ready = Event::default()
        .event("ready")
        .data(serde_json::json!({ "backlog": backlog.len(), "newestSeq": start_seq }).to_string());
    let state = StreamState {
        slot,
        rx,
        query,
        backlog,
        ready: Some(ready),
        start_seq,
        ticker,
    };
    let events = futures::stream::unfold(state, |mut s| async move {
        s.next().await.map(|e| (Ok::<Event, Infallible>(e), s))
    });
    let mut response = Sse::new(events)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inspector::tests::{event, run};
    use crate::inspector::{Config, Inspector};

    fn state(insp: &Inspector, full: bool) -> StreamState {
        let shared = insp.shared().unwrap();
        let store = shared.store();
        StreamState {
            slot: Slot::acquire(shared).unwrap(),
            rx: shared.live.subscribe(),
            query: Query {
                full,
                ..Query::default()
            },
            backlog: VecDeque::new(),
            ready: None,
            start_seq: store.newest_seq(),
            ticker: None,
        }
    }

    #[tokio::test]
    async fn a_reader_that_falls_behind_is_told_and_memory_stays_bounded() {
        let insp = Inspector::new(Config::new(10, 1 << 20, None).unwrap().with_max_rate(0));
        let mut s = state(&insp, false);
        // A flood while the reader does not read: the ring keeps at most LIVE_BUFFER summaries.
        for i in 0..(LIVE_BUFFER + 500) / 100 {
            let events = (0..100)
                .map(|j| event(&format!("e{i}-{j}"), "search"))
                .collect();
            run(&insp, events, telemetry_core::MAX_MESSAGE_BYTES);
        }
        assert_eq!(insp.shared().unwrap().live.len(), LIVE_BUFFER);
        let first = s.next().await.unwrap();
        let text = format!("{first:?}");
        assert!(text.contains("lagged"), "{text}");
        assert!(text.contains("missed"), "{text}");
        // then it continues with the oldest entry still buffered
        let next = format!("{:?}", s.next().await.unwrap());
        assert!(next.contains("entry"), "{next}");
    }

    #[tokio::test]
    async fn subscribers_are_bounded() {
        let insp = Inspector::new(Config::new(10, 1 << 20, None).unwrap());
        let shared = insp.shared().unwrap();
        let slots: Vec<Slot> = (0..MAX_SUBSCRIBERS)
            .map(|_| Slot::acquire(shared).unwrap())
            .collect();
        assert!(Slot::acquire(shared).is_none());
        drop(slots);
        assert_eq!(shared.subscribers.load(Ordering::Relaxed), 0);
        assert!(Slot::acquire(shared).is_some());
    }

    #[tokio::test]
    async fn live_entries_follow_filters_and_reset() {
        let insp = Inspector::new(Config::new(100, 1 << 20, None).unwrap());
        let mut s = state(&insp, true);
        s.query.filter = Query::parse(
            &[("outcome".to_string(), "rejected".to_string())],
            Endpoint::Stream,
        )
        .unwrap()
        .filter;
        run(
            &insp,
            vec![event("ok", "search"), event("bad", "Bad")],
            telemetry_core::MAX_MESSAGE_BYTES,
        );
        let e = format!("{:?}", s.next().await.unwrap());
        assert!(
            e.contains("\\\"eventId\\\":\\\"bad\\\"") || e.contains("\"eventId\":\"bad\""),
            "{e}"
        );
        assert!(e.contains("invalid_feature_or_action"), "{e}");
        {
            let shared = insp.shared().unwrap();
            shared.store().reset(0);
            let _ = shared.live.send(Live::Reset);
        }
        let r = format!("{:?}", s.next().await.unwrap());
        assert!(r.contains("reset"), "{r}");
    }
}
