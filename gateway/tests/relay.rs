//! The relay in process, with the real gateway in process (file sink), over loopback HTTP:
//! the GraphQL mutation real clients send and the JSON endpoint; hydration from configuration
//! and headers; redaction and export mode at queue time; every limit as a hostile client meets
//! it; CORS; the worker's size trigger; metrics; and each sink line byte-identical to the
//! core's translation of the hydrated, redacted event.

use clap::Parser;
use serde_json::{Value as Json, json};
use std::time::{Duration, Instant, SystemTime};
use telemetry_core::proto::{EventUser, Identifier, RecordEventsRequestMetadata, identifier};
use telemetry_core::{
    RecordContext, RedactionPolicy, TelemetryEventInput, Translation, record, translate,
};
use telemetry_gateway::config::ServeArgs;
use telemetry_gateway::relay::{self, RelayArgs};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Parser)]
struct Wrap {
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Parser)]
struct WrapRelay {
    #[command(flatten)]
    relay: RelayArgs,
}

const MUTATION: &str = "mutation RecordTelemetryEvents($events: [TelemetryEventInput!]!) {\n  telemetry {\n    recordEvents(events: $events) {\n      alwaysNil\n    }\n  }\n}";

fn recording(i: usize) -> Json {
    let mut r = json!({
        "feature": if i.is_multiple_of(2) { "cody.chat-question" } else { "search.results" },
        "action": if i.is_multiple_of(2) { "submitted" } else { "viewed" },
        "source": {"client": "VSCode.Cody", "clientVersion": "1.2.3"},
        "parameters": {
            "version": 2,
            "metadata": [{"key": "seq", "value": i}, {"key": "ratio", "value": 0.25}],
            "privateMetadata": {"chatModel": format!("model-{i}"), "prompt": format!("PRIVATE-{i}")},
            "billingMetadata": {"product": "cody", "category": "core"}
        },
        "marketingTracking": {"url": format!("https://example.com/MARKETING-{i}")}
    });
    if i.is_multiple_of(3) {
        r["timestamp"] = json!("2026-11-20T10:00:00.123Z");
        r["parameters"]["interactionID"] = json!(format!("from-params-{i}"));
    }
    r
}

async fn gateway(dir: &std::path::Path) -> (telemetry_gateway::Running, std::path::PathBuf) {
    let sink = dir.join("sink.ndjson");
    let args = Wrap::try_parse_from([
        "x",
        "--listen",
        "127.0.0.1:0",
        "--diagnostics-listen",
        "off",
        "--sink",
        &format!("file:{}", sink.display()),
    ])
    .unwrap()
    .serve;
    (telemetry_gateway::start(&args).await.unwrap(), sink)
}

fn relay_args(extra: &[&str]) -> RelayArgs {
    let mut argv = vec![
        "x",
        "--listen",
        "127.0.0.1:0",
        "--diagnostics-listen",
        "127.0.0.1:0",
    ];
    argv.extend_from_slice(extra);
    WrapRelay::try_parse_from(argv).unwrap().relay
}

fn sink_lines(path: &std::path::Path) -> Vec<Json> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

async fn wait_for_lines(path: &std::path::Path, n: usize, within: Duration) -> Vec<Json> {
    let deadline = Instant::now() + within;
    loop {
        let lines = sink_lines(path);
        if lines.len() >= n || Instant::now() > deadline {
            return lines;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn post(
    url: &str,
    body: &Json,
    headers: &[(&str, &str)],
) -> (u16, Json, reqwest::header::HeaderMap) {
    let mut req = reqwest::Client::new().post(url).json(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, resp.json().await.unwrap_or(Json::Null), headers)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recordings_travel_relay_queue_gateway_sink_hydrated_redacted_and_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    let (gw, sink) = gateway(dir.path()).await;
    let queue = dir.path().join("q.sqlite3");
    let args = relay_args(&[
        "--queue",
        queue.to_str().unwrap(),
        "--gateway",
        &format!("http://{}", gw.addr),
        "--unlicensed",
        "--instance-id",
        "relay-instance",
        "--external-url",
        "https://sg.example.com",
        "--server-version",
        "6.2.0",
        "--user-id-header",
        "X-Forwarded-User-Id",
        "--feature-flags-header",
        "X-Feature-Flags",
        "--export-interval-seconds",
        "300",
        "--export-size-trigger",
        "40",
    ]);
    let relay = relay::start(&args).await.unwrap();
    let url = format!("http://{}/.api/graphql?RecordTelemetryEvents", relay.addr);
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let headers = [
        ("X-Forwarded-User-Id", "42"),
        ("X-Sourcegraph-Actor-Anonymous-UID", "anon-7"),
        ("X-Feature-Flags", "new-ui=true,legacy=false"),
        ("X-Sourcegraph-Interaction-ID", "from-header"),
        ("traceparent", traceparent),
    ];
    let started = SystemTime::now();
    let mut sent = Vec::new();
    for call in 0..4 {
        let events: Vec<Json> = (0..10).map(|j| recording(call * 10 + j)).collect();
        sent.extend(events.clone());
        let (status, body, _) = post(
            &url,
            &json!({"query": MUTATION, "variables": {"events": events}}),
            &headers,
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(
            body,
            json!({"data": {"telemetry": {"recordEvents": {"alwaysNil": null}}}})
        );
    }
    // 40 queued reaches the size trigger: exported without waiting for the 5-minute interval.
    let lines = wait_for_lines(&sink, 40, Duration::from_secs(20)).await;
    assert_eq!(lines.len(), 40, "the size trigger did not export in time");

    // Each line: the core's translation of record(recording, hydrated context), redacted.
    let policy = RedactionPolicy::new(false, "").unwrap();
    let identifier = Identifier {
        identifier: Some(identifier::Identifier::UnlicensedInstance(
            identifier::UnlicensedInstanceIdentifier {
                instance_id: "relay-instance".into(),
                external_url: "https://sg.example.com".into(),
            },
        )),
    };
    let mut seen = std::collections::HashSet::new();
    for line in &lines {
        let data: Json = serde_json::from_str(line["data"].as_str().unwrap()).unwrap();
        let event = &data["event"];
        let seq = event["parameters"]["metadata"]["seq"].as_f64().unwrap() as usize;
        assert!(seen.insert(seq), "event {seq} twice");
        let id = event["id"].as_str().unwrap();
        let uuid = uuid::Uuid::parse_str(id).unwrap();
        assert_eq!(uuid.get_version_num(), 7);
        // the server's time unless the client gave one
        let ts = telemetry_core::json::parse_timestamp_str(event["timestamp"].as_str().unwrap())
            .unwrap();
        if seq.is_multiple_of(3) {
            assert_eq!(event["timestamp"], "2026-11-20T10:00:00.123Z");
        } else {
            let secs = started
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_secs() as i64;
            assert!((ts.seconds - secs).abs() < 60);
        }
        let input = TelemetryEventInput::from_json(&sent[seq]).unwrap();
        let ctx = RecordContext {
            id: id.to_string(),
            now: ts,
            server_version: "6.2.0".into(),
            user: Some(EventUser {
                user_id: Some(42),
                anonymous_user_id: Some("anon-7".into()),
                sams_external_id: None,
            }),
            feature_flags: [("new-ui", "true"), ("legacy", "false")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            trace_id: Some("4bf92f3577b34da6a3ce929d0e0e4736".into()),
            interaction_id: Some("from-header".into()),
            country_code: None,
        };
        let mut expected = record(&input, &ctx).unwrap();
        policy.redact(&mut expected);
        let metadata = RecordEventsRequestMetadata {
            request_id: data["metadata"]["requestId"].as_str().unwrap().to_string(),
            identifier: Some(identifier.clone()),
        };
        let publisher = telemetry_core::Publisher::new(&metadata).unwrap();
        let Translation::Publish(want) =
            translate(&publisher, &expected, telemetry_core::MAX_MESSAGE_BYTES).unwrap()
        else {
            panic!("oversized")
        };
        assert_eq!(
            line["data"].as_str().unwrap().as_bytes(),
            want.data,
            "event {seq}"
        );
        // the parameters' interactionID wins over the header
        let want_interaction = if seq.is_multiple_of(3) {
            format!("from-params-{seq}")
        } else {
            "from-header".into()
        };
        assert_eq!(
            event["interaction"]["interactionId"],
            json!(want_interaction)
        );
    }
    let text = std::fs::read_to_string(&sink).unwrap();
    assert!(!text.contains("PRIVATE-") && !text.contains("MARKETING-"));

    // Metrics on the diagnostics port.
    let metrics = reqwest::get(format!(
        "http://{}/metrics",
        relay.diagnostics_addr.unwrap()
    ))
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    for name in [
        "telemetry_relay_requests_total{endpoint=\"graphql\",status=\"200\"} 4",
        "telemetry_relay_events_total{outcome=\"queued\"} 40",
        "telemetry_export_exported_events_total 40",
        "telemetry_export_batch_size_count",
        "telemetry_export_queue_size",
        "telemetry_export_queue_oldest_unexported_seconds",
        "telemetry_export_pruned_events_total",
    ] {
        assert!(metrics.contains(name), "no {name} in\n{metrics}");
    }
    relay.shutdown().await;
    gw.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphql_and_json_semantics_export_mode_and_cors() {
    let dir = tempfile::tempdir().unwrap();
    let queue = dir.path().join("q.sqlite3");
    let args = relay_args(&[
        "--queue",
        queue.to_str().unwrap(),
        "--no-export",
        "--export-mode",
        "cody-only",
        "--cors-allowed-origins",
        "https://app.example.com",
    ]);
    let relay = relay::start(&args).await.unwrap();
    let gql = format!("http://{}/.api/graphql", relay.addr);
    let plain = format!("http://{}/telemetry/v1/events", relay.addr);
    let failed = json!({"telemetry": {"recordEvents": null}});

    let (s, b, _) = post(
        &gql,
        &json!({"query": MUTATION, "variables": {"events": []}}),
        &[],
    )
    .await;
    assert_eq!(
        (s, b["errors"][0]["message"].as_str().unwrap()),
        (200, "no events provided")
    );
    assert_eq!(b["data"], failed);
    assert_eq!(b["errors"][0]["path"], json!(["telemetry", "recordEvents"]));

    // one invalid event fails the whole call; nothing is queued
    let mut bad = recording(1);
    bad["feature"] = json!("Bad Feature");
    let (s, b, _) = post(
        &gql,
        &json!({"query": MUTATION, "variables": {"events": [recording(0), bad]}}),
        &[],
    )
    .await;
    assert_eq!(s, 200);
    assert!(
        b["errors"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("invalid event provided: 'feature' must start with a lowercase letter"),
        "{b}"
    );
    let mut non_numeric = recording(0);
    non_numeric["parameters"]["metadata"] = json!([{"key": "k", "value": "text"}]);
    let (_, b, _) = post(
        &gql,
        &json!({"query": MUTATION, "variables": {"events": [non_numeric]}}),
        &[],
    )
    .await;
    assert_eq!(
        b["errors"][0]["message"],
        "invalid event provided: metadata \"k\" has invalid value type string"
    );
    let inline =
        "mutation { telemetry { recordEvents(events: [{feature: \"a\"}]) { alwaysNil } } }";
    let (_, b, _) = post(&gql, &json!({"query": inline}), &[]).await;
    assert!(
        b["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("inline event literals are not supported")
    );

    // the JSON endpoint: same rules, HTTP statuses
    let (s, b, _) = post(&plain, &json!({"events": []}), &[]).await;
    assert_eq!(
        (s, b["error"].as_str().unwrap()),
        (400, "no events provided")
    );
    let (s, b, _) = post(
        &plain,
        &json!({"events": [recording(0), recording(1), recording(2)]}),
        &[],
    )
    .await;
    assert_eq!(s, 200);
    // cody-only: the search event is accepted but not queued
    assert_eq!(b, json!({"recorded": 3, "queued": 2, "notExported": 1}));
    let (s, _, _) = post(&plain, &json!({"nope": 1}), &[]).await;
    assert_eq!(s, 400);
    let r = reqwest::Client::new()
        .post(&plain)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // CORS: the configured origin gets a preflight answer, another origin does not
    let client = reqwest::Client::new();
    let preflight = |origin: &'static str| {
        client
            .request(reqwest::Method::OPTIONS, &gql)
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "content-type,x-sourcegraph-interaction-id",
            )
            .send()
    };
    let ok = preflight("https://app.example.com").await.unwrap();
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    assert!(
        ok.headers()["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("x-sourcegraph-interaction-id")
    );
    let other = preflight("https://evil.example.com").await.unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());

    // `*` needs its own flag
    let refused = relay::start(&relay_args(&[
        "--queue",
        queue.to_str().unwrap(),
        "--no-export",
        "--cors-allowed-origins",
        "*",
    ]))
    .await;
    assert!(
        refused
            .err()
            .unwrap()
            .to_string()
            .contains("--cors-allow-any-origin")
    );
    relay.shutdown().await;

    let q = telemetry_gateway::export::queue::SqliteQueue::open(&queue).unwrap();
    let stats = telemetry_gateway::export::queue::ExportQueue::stats(&q, SystemTime::now())
        .await
        .unwrap();
    assert_eq!(stats.rows, 2, "only the accepted cody events were queued");
}

async fn raw(addr: std::net::SocketAddr, head: &str, body: &[u8]) -> tokio::net::TcpStream {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(body).await.unwrap();
    s
}

/// Reads one HTTP/1.1 response (head and a content-length body), at most 10 s.
async fn status_of(mut s: tokio::net::TcpStream) -> (u16, String) {
    let mut buf = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut chunk = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&buf).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let len = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                break;
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, s.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
            _ => break,
        }
    }
    let text = String::from_utf8_lossy(&buf).to_string();
    let code = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_clients_meet_every_limit_with_a_clear_status() {
    let dir = tempfile::tempdir().unwrap();
    let queue = dir.path().join("q.sqlite3");
    let args = relay_args(&[
        "--queue",
        queue.to_str().unwrap(),
        "--no-export",
        "--max-body-bytes",
        "65536",
        "--max-events-per-request",
        "20",
        "--max-concurrent-requests",
        "1",
        "--request-timeout-seconds",
        "1",
        "--rate-limit-per-second",
        "1000",
        "--rate-limit-burst",
        "1000",
    ]);
    let relay = relay::start(&args).await.unwrap();
    let gql = format!("http://{}/.api/graphql", relay.addr);

    // a body above the limit: 413, announced or streamed
    let huge =
        json!({"query": MUTATION, "variables": {"events": [{"feature": "x".repeat(100_000)}]}});
    let (s, b, _) = post(&gql, &huge, &[]).await;
    assert_eq!(s, 413);
    assert!(
        b["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("larger than 65536 bytes")
    );
    let mut chunks = Vec::new();
    for _ in 0..20 {
        chunks.extend_from_slice(b"2000\r\n");
        chunks.extend_from_slice(&[b' '; 8192]);
        chunks.extend_from_slice(b"\r\n");
    }
    let chunked = raw(
        relay.addr,
        "POST /.api/graphql HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n",
        &chunks,
    )
    .await;
    let (code, text) = status_of(chunked).await;
    assert_eq!(code, 413, "{text}");

    // too many events in one call
    let many: Vec<Json> = (0..21).map(recording).collect();
    let (s, b, _) = post(
        &gql,
        &json!({"query": MUTATION, "variables": {"events": many}}),
        &[],
    )
    .await;
    assert_eq!(s, 413);
    assert_eq!(
        b["errors"][0]["message"],
        "too many events in one call: 21 (at most 20)"
    );

    // a client that never finishes its body: 408 after the request timeout
    let started = Instant::now();
    let slow = raw(
        relay.addr,
        "POST /.api/graphql HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n",
        b"{\"query\":",
    )
    .await;
    // while it holds the only request slot, another request is turned away: 503
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (s, _, h) = post(
        &gql,
        &json!({"query": MUTATION, "variables": {"events": [recording(0)]}}),
        &[],
    )
    .await;
    assert_eq!(s, 503);
    assert_eq!(h["retry-after"], "1");
    let (code, text) = status_of(slow).await;
    assert_eq!(code, 408, "{text}");
    assert!(text.contains("did not arrive within 1s"));
    assert!(started.elapsed() < Duration::from_secs(5));
    relay.shutdown().await;

    // the request rate: 3 per second with a burst of 3, the fourth at once is 429
    let args = relay_args(&[
        "--queue",
        queue.to_str().unwrap(),
        "--no-export",
        "--rate-limit-per-second",
        "3",
        "--rate-limit-burst",
        "3",
    ]);
    let relay = relay::start(&args).await.unwrap();
    let plain = format!("http://{}/telemetry/v1/events", relay.addr);
    let mut statuses = Vec::new();
    let mut retry = None;
    for _ in 0..4 {
        let (s, b, h) = post(&plain, &json!({"events": [recording(0)]}), &[]).await;
        statuses.push(s);
        if s == 429 {
            retry = h.get("retry-after").cloned();
            assert!(
                b["error"]
                    .as_str()
                    .unwrap()
                    .starts_with("rate limit exceeded")
            );
        }
    }
    assert_eq!(statuses, vec![200, 200, 200, 429]);
    assert_eq!(retry.unwrap(), "1");
    relay.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_bounded_in_number_and_closed_when_idle() {
    let dir = tempfile::tempdir().unwrap();
    let queue = dir.path().join("q.sqlite3");
    let args = relay_args(&[
        "--queue",
        queue.to_str().unwrap(),
        "--no-export",
        "--max-connections",
        "2",
        "--idle-timeout-seconds",
        "1",
    ]);
    let relay = relay::start(&args).await.unwrap();
    let plain = format!("http://{}/telemetry/v1/events", relay.addr);
    // two silent connections take both slots: a third client is not served meanwhile
    let a = tokio::net::TcpStream::connect(relay.addr).await.unwrap();
    let b = tokio::net::TcpStream::connect(relay.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let body = json!({"events": [recording(0)]});
    assert!(client.post(&plain).json(&body).send().await.is_err());
    // the idle timeout closes the silent connections; then the slots are free again
    let started = Instant::now();
    for mut idle in [a, b] {
        let mut buf = [0u8; 16];
        let n = tokio::time::timeout(Duration::from_secs(5), idle.read(&mut buf))
            .await
            .expect("an idle connection stayed open")
            .unwrap_or(0);
        assert_eq!(n, 0, "the server closed the idle connection");
    }
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let (s, b, _) = post(&plain, &body, &[]).await;
    assert_eq!(s, 200, "{b}");
    relay.shutdown().await;
}
