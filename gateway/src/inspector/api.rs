//! The REST API under `/inspector/api/` (JSON), the page routes, and what guards them: a bearer
//! token when one is configured, and otherwise a Host check that only answers requests
//! addressed to an IP address or `localhost` (so a web page elsewhere cannot read the inspector
//! through DNS rebinding).
//!
//! | request | answer |
//! |---|---|
//! | `GET /inspector/api/events?FILTERS&limit&before&after&full` | newest first: `{events, matched, nextBefore, retained, newestSeq}` |
//! | `GET /inspector/api/events/{seq}` | one entry with its decoded event, attributes, metadata, body |
//! | `GET /inspector/api/summary?FILTERS` | counts by outcome (every event), `notKept`, rates, per-second series, retained sizes, limits, and counts by feature/action of the matching kept entries |
//! | `DELETE /inspector/api/events` | forgets every entry and counter |
//! | `GET /inspector/api/stream?FILTERS&backlog&after&full&stats` | server-sent events (`live.rs`) |

use super::entry::{EntryJson, Field, OutcomeKind, RowJson, format_ms};
use super::filter::{Endpoint, ParamError, Query};
use super::store::{RATE_WINDOW_SECONDS, Stats};
use super::{Live, MAX_SUBSCRIBERS, Shared, live, now_ms, page};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;

/// Most feature/action groups a summary lists (the most frequent first).
pub const MAX_GROUPS: usize = 100;

/// The query pairs of a request, as axum parses them.
pub type RawPairs = Result<axum::extract::Query<Vec<(String, String)>>, QueryRejection>;

/// A JSON response that is never cached.
pub fn json(status: StatusCode, body: &impl Serialize) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (
            status,
            [
                (header::CONTENT_TYPE, "application/json"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            bytes,
        )
            .into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

/// `{"error": message}` with a status.
pub fn error(status: StatusCode, message: &str) -> Response {
    let body = serde_json::json!({ "error": message }).to_string();
    (
        status,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

/// Parses a request's query for an endpoint, or the `400` answer's message.
pub fn parse_query(pairs: RawPairs, endpoint: Endpoint) -> Result<Query, String> {
    let pairs = pairs.map_err(|e| format!("invalid query string: {e}"))?;
    Query::parse(&pairs.0, endpoint).map_err(|e: ParamError| e.to_string())
}

/// Runs CPU work (scans, serialisation) off the async workers, so a large answer never delays
/// the gRPC serving path that shares the runtime.
async fn blocking(f: impl FnOnce() -> Response + Send + 'static) -> Response {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()))
}

/// The routes when the inspector is on.
pub(crate) fn routes(shared: Arc<Shared>) -> axum::Router {
    axum::Router::new()
        .route("/inspector", get(page::redirect))
        .route("/inspector/", get(page::index))
        .route("/inspector/app.js", get(page::script))
        .route("/inspector/style.css", get(page::style))
        .route("/inspector/api/events", get(list).delete(reset))
        .route("/inspector/api/events/{seq}", get(one))
        .route("/inspector/api/summary", get(summary))
        .route("/inspector/api/stream", get(live::stream))
        .route("/inspector/{*rest}", get(not_found))
        .layer(axum::middleware::from_fn_with_state(shared.clone(), guard))
        .with_state(shared)
}

/// The routes when the inspector is off: they say so.
pub(crate) fn off_routes() -> axum::Router {
    let off = || async {
        error(
            StatusCode::NOT_FOUND,
            "the event inspector is off (telemetry-gateway serve --inspector off)",
        )
    };
    axum::Router::new()
        .route("/inspector", get(off))
        .route("/inspector/", get(off))
        .route("/inspector/{*rest}", get(off).delete(off))
}

async fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "no such inspector resource")
}

/// Whether a Host header names an IP address or `localhost` (with or without a port).
pub fn host_is_local_or_ip(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        match rest.split_once(']') {
            Some((v6, _)) => return v6.parse::<std::net::Ipv6Addr>().is_ok(),
            None => return false,
        }
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
            _ => host,
        }
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<std::net::IpAddr>().is_ok()
}

/// Compares secrets in time independent of where they differ (written by hand: five lines, and
/// the comparison is the only use).
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn guard(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let api = path.starts_with("/inspector/api/");
    match &shared.config.token {
        Some(token) => {
            if api {
                let presented = request
                    .headers()
                    .get(header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("Bearer "))
                    .map(str::trim);
                let ok = presented.is_some_and(|p| same_secret(p.as_bytes(), token.as_bytes()));
                if !ok {
                    let mut r = error(
                        StatusCode::UNAUTHORIZED,
                        "the inspector needs 'Authorization: Bearer TOKEN' (--inspector-token)",
                    );
                    r.headers_mut().insert(
                        header::WWW_AUTHENTICATE,
                        HeaderValue::from_static("Bearer realm=\"telemetry-gateway inspector\""),
                    );
                    return r;
                }
            }
        }
        None => {
            let host = request
                .headers()
                .get(header::HOST)
                .and_then(|v| v.to_str().ok())
                .or_else(|| request.uri().authority().map(|a| a.as_str()));
            if let Some(host) = host
                && !host_is_local_or_ip(host)
            {
                return error(
                    StatusCode::FORBIDDEN,
                    &format!(
                        "the inspector answers requests for an IP address or localhost only, not {host:?} (DNS-rebinding protection); set --inspector-token to serve it under a host name"
                    ),
                );
            }
        }
    }
    next.run(request).await
}

#[derive(Serialize)]
#[serde(untagged)]
enum Item<'a> {
    Row(RowJson<'a>),
    Full(Box<EntryJson<'a>>),
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ListJson<'a> {
    events: Vec<Item<'a>>,
    /// Kept entries matching the filters (and the before/after window).
    matched: usize,
    /// Pass as `before` to get the next (older) page; null on the last page.
    next_before: Option<u64>,
    /// Entries kept in all.
    retained: usize,
    /// The newest sequence number assigned so far.
    newest_seq: u64,
}

async fn list(State(shared): State<Arc<Shared>>, pairs: RawPairs) -> Response {
    let q = match parse_query(pairs, Endpoint::List) {
        Ok(q) => q,
        Err(m) => return error(StatusCode::BAD_REQUEST, &m),
    };
    let (snapshot, newest_seq) = {
        let store = shared.store();
        (store.snapshot(), store.newest_seq())
    };
    blocking(move || {
        let mut page = Vec::new();
        let mut matched = 0;
        for e in snapshot.iter().rev() {
            if !q.in_window(e.summary.seq()) || !q.filter.matches(e) {
                continue;
            }
            matched += 1;
            if page.len() < q.limit {
                page.push(e);
            }
        }
        let next_before = (matched > page.len())
            .then(|| page.last().map(|e| e.summary.seq()))
            .flatten();
        let events = page
            .iter()
            .map(|e| {
                if q.full {
                    Item::Full(Box::new(EntryJson::of(e)))
                } else {
                    Item::Row(RowJson::of(&e.summary))
                }
            })
            .collect();
        json(
            StatusCode::OK,
            &ListJson {
                events,
                matched,
                next_before,
                retained: snapshot.len(),
                newest_seq,
            },
        )
    })
    .await
}

async fn one(State(shared): State<Arc<Shared>>, Path(seq): Path<String>) -> Response {
    let Ok(seq) = seq.parse::<u64>() else {
        return error(
            StatusCode::BAD_REQUEST,
            &format!("{seq:?} is not an event sequence number (the `seq` of a listed event)"),
        );
    };
    let Some(entry) = shared.store().get(seq) else {
        return error(
            StatusCode::NOT_FOUND,
            &format!("no event with seq {seq} is kept (evicted, reset, or not recorded yet)"),
        );
    };
    blocking(move || json(StatusCode::OK, &EntryJson::of(&entry))).await
}

async fn reset(State(shared): State<Arc<Shared>>) -> Response {
    let newest_seq = {
        let mut store = shared.store();
        store.reset(now_ms());
        let _ = shared.live.send(Live::Reset);
        store.newest_seq()
    };
    tracing::info!("event inspector reset");
    json(
        StatusCode::OK,
        &serde_json::json!({ "reset": true, "newestSeq": newest_seq }),
    )
}

/// Counts by outcome, rates and the per-second series (the summary, and the stream's `stats`).
pub fn stats_json(stats: &Stats, now: i64) -> serde_json::Value {
    let elapsed_s = ((now - stats.since_ms) as f64 / 1000.0).clamp(1.0, RATE_WINDOW_SECONDS as f64);
    let mut window = [0u64; 4];
    for (_, counts) in &stats.series {
        for (w, c) in window.iter_mut().zip(counts) {
            *w += c;
        }
    }
    let mut per_second = serde_json::Map::new();
    for o in OutcomeKind::ALL {
        let n = window.get(o.index()).copied().unwrap_or(0) as f64;
        per_second.insert(o.as_str().into(), round2(n / elapsed_s).into());
    }
    per_second.insert(
        "total".into(),
        round2(window.iter().sum::<u64>() as f64 / elapsed_s).into(),
    );
    let series: Vec<serde_json::Value> = stats
        .series
        .iter()
        .map(|(second, counts)| {
            let mut m = serde_json::Map::new();
            m.insert("t".into(), format_ms(second * 1000).into());
            for o in OutcomeKind::ALL {
                m.insert(
                    o.as_str().into(),
                    counts.get(o.index()).copied().unwrap_or(0).into(),
                );
            }
            serde_json::Value::Object(m)
        })
        .collect();
    serde_json::json!({
        "since": format_ms(stats.since_ms),
        "counts": Stats::counts_json(&stats.counts),
        "notKept": stats.not_kept,
        "rates": {
            "windowSeconds": RATE_WINDOW_SECONDS,
            "eventsPerSecond": per_second,
            "series": series,
        },
        "retained": {
            "events": stats.retained,
            "bytes": stats.retained_bytes,
            "oldestSeq": stats.oldest_seq,
            "newestSeq": stats.newest_seq,
            "evicted": stats.evicted,
        },
    })
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

async fn summary(State(shared): State<Arc<Shared>>, pairs: RawPairs) -> Response {
    let q = match parse_query(pairs, Endpoint::Summary) {
        Ok(q) => q,
        Err(m) => return error(StatusCode::BAD_REQUEST, &m),
    };
    let now = now_ms();
    let (snapshot, stats) = {
        let store = shared.store();
        (store.snapshot(), store.stats(now))
    };
    let limits = shared.config.limits;
    let max_rate = shared.config.max_rate;
    let subscribers = shared
        .subscribers
        .load(std::sync::atomic::Ordering::Relaxed);
    blocking(move || {
        let mut matching = [0u64; 4];
        let mut groups: HashMap<(&str, &str), [u64; 4]> = HashMap::new();
        for e in &snapshot {
            if !q.filter.matches(e) {
                continue;
            }
            let i = e.summary.outcome.index();
            if let Some(c) = matching.get_mut(i) {
                *c += 1;
            }
            let g = groups
                .entry((e.summary.get(Field::Feature), e.summary.get(Field::Action)))
                .or_default();
            if let Some(c) = g.get_mut(i) {
                *c += 1;
            }
        }
        let mut groups: Vec<_> = groups.into_iter().collect();
        groups.sort_by(|a, b| {
            b.1.iter()
                .sum::<u64>()
                .cmp(&a.1.iter().sum::<u64>())
                .then(a.0.cmp(&b.0))
        });
        let truncated = groups.len() > MAX_GROUPS;
        let by_feature_action: Vec<serde_json::Value> = groups
            .iter()
            .take(MAX_GROUPS)
            .map(|((feature, action), counts)| {
                let mut m = serde_json::Map::new();
                m.insert("feature".into(), (*feature).into());
                m.insert("action".into(), (*action).into());
                if let serde_json::Value::Object(c) = Stats::counts_json(counts) {
                    m.extend(c);
                }
                serde_json::Value::Object(m)
            })
            .collect();
        let mut body = stats_json(&stats, now);
        if let serde_json::Value::Object(m) = &mut body {
            m.insert(
                "matching".into(),
                serde_json::json!({
                    "counts": Stats::counts_json(&matching),
                    "byFeatureAction": by_feature_action,
                    "byFeatureActionTruncated": truncated,
                }),
            );
            m.insert(
                "limits".into(),
                serde_json::json!({
                    "capacity": limits.capacity,
                    "maxBytes": limits.max_bytes,
                    "maxBodyBytes": limits.max_body_bytes,
                    "maxRate": max_rate,
                    "maxSubscribers": MAX_SUBSCRIBERS,
                }),
            );
            m.insert("subscribers".into(), subscribers.into());
        }
        json(StatusCode::OK, &body)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_check() {
        for ok in [
            "127.0.0.1",
            "127.0.0.1:10081",
            "localhost",
            "LOCALHOST:80",
            "[::1]:10081",
            "[::1]",
            "10.1.2.3:8080",
        ] {
            assert!(host_is_local_or_ip(ok), "{ok}");
        }
        for bad in [
            "evil.example.com",
            "evil.example.com:10081",
            "localhost.evil.com",
            "[::1",
        ] {
            assert!(!host_is_local_or_ip(bad), "{bad}");
        }
    }

    #[test]
    fn secrets_compare() {
        assert!(same_secret(b"abc", b"abc"));
        assert!(!same_secret(b"abc", b"abd"));
        assert!(!same_secret(b"abc", b"abcd"));
    }
}
