//! The exporter against an in-process gateway (file sink) on loopback: redacted events queued,
//! exported, and every sink line byte-for-byte the core's translation of the queued event.

use clap::Parser;
use prost::Message;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use telemetry_core::proto::{Event, Identifier, RecordEventsRequestMetadata, identifier};
use telemetry_core::{ExportMode, RedactionPolicy, Translation, translate};
use telemetry_gateway::config::ServeArgs;
use telemetry_gateway::export::client::ExportTarget;
use telemetry_gateway::export::input::{InputKind, read_ndjson};
use telemetry_gateway::export::queue::{self, ExportQueue, SqliteQueue};
use telemetry_gateway::export::run::{Progress, RunOptions, export_all};

#[derive(Parser)]
struct Wrap {
    #[command(flatten)]
    serve: ServeArgs,
}

fn recordings(n: usize) -> String {
    let mut s = String::new();
    for i in 0..n {
        let (feature, action) = if i % 2 == 0 {
            ("cody.chat-question", "submitted")
        } else {
            ("search", "results")
        };
        s.push_str(&format!(
            r#"{{"timestamp":"2026-11-22T10:00:{:02}Z","feature":"{feature}","action":"{action}","source":{{"client":"VSCode.Cody","clientVersion":"1.0"}},"parameters":{{"version":2,"metadata":[{{"key":"n","value":{i}}}],"privateMetadata":{{"chatModel":"m-{i}","secretPrompt":"PRIVATE-{i}"}}}},"marketingTracking":{{"url":"https://example.com/MARKETING-{i}"}}}}"#,
            i % 60
        ));
        s.push('\n');
    }
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exported_events_are_redacted_and_published_as_the_core_translates_them() {
    let dir = tempfile::tempdir().unwrap();
    let sink = dir.path().join("sink.ndjson");
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
    let gateway = telemetry_gateway::start(&args).await.unwrap();

    let read = read_ndjson(recordings(300).as_bytes(), InputKind::Auto, "6.1.0").unwrap();
    assert!(read.invalid.is_empty(), "{:?}", read.invalid);
    let queue: Arc<dyn ExportQueue> =
        Arc::new(SqliteQueue::open(&dir.path().join("q.sqlite3")).unwrap());
    let policy = RedactionPolicy::new(false, "").unwrap();
    let report = queue::enqueue(
        queue.as_ref(),
        read.events,
        &policy,
        ExportMode::All,
        SystemTime::now(),
    )
    .await
    .unwrap();
    assert_eq!(report.queued, 300);
    let claimed = queue.claim(1000).await.unwrap();
    let queued: Vec<Event> = claimed
        .rows()
        .iter()
        .map(|r| Event::decode(r.payload_pb.as_slice()).unwrap())
        .collect();
    drop(claimed); // releases the claim unchanged

    let identifier = Identifier {
        identifier: Some(identifier::Identifier::UnlicensedInstance(
            identifier::UnlicensedInstanceIdentifier {
                instance_id: "instance-x".into(),
                external_url: "https://sg.example.com".into(),
            },
        )),
    };
    let target = ExportTarget {
        gateway: format!("http://{}", gateway.addr),
        identifier: identifier.clone(),
        token: None,
        ca_cert_pem: None,
        allow_insecure_http: false,
        run_timeout: Duration::from_secs(60),
        keepalive_interval: Duration::from_secs(20),
    };
    let opts = RunOptions {
        batch_size: 100,
        max_attempts: 3,
        retry_base_ms: 10,
        retry_max_ms: 100,
        retention: Duration::from_secs(3600),
        max_refusals: 5,
        min_refusal_span: Duration::from_secs(3600),
        testing_pause_after_send: None,
    };
    let mut progress = Progress::new(300, Duration::from_secs(60), false);
    let summary = export_all(queue.clone(), &target, &opts, &mut progress)
        .await
        .unwrap();
    assert_eq!(summary.exported, 300);
    assert_eq!(summary.runs, 3);
    assert_eq!(summary.queue.unexported, 0);
    assert_eq!(summary.queue.rows, 300);
    gateway.shutdown().await.unwrap();

    let text = std::fs::read_to_string(&sink).unwrap();
    assert!(
        !text.contains("PRIVATE-"),
        "private metadata reached the sink"
    );
    assert!(
        !text.contains("MARKETING-"),
        "marketing data reached the sink"
    );
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 300);
    let ids: std::collections::HashSet<String> = lines
        .iter()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l["data"].as_str().unwrap()).unwrap();
            v["event"]["id"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(ids.len(), 300, "each event once");
    let by_id: std::collections::HashMap<&str, &Event> =
        queued.iter().map(|e| (e.id.as_str(), e)).collect();
    for line in &lines {
        let data: serde_json::Value = serde_json::from_str(line["data"].as_str().unwrap()).unwrap();
        let request_id = data["metadata"]["requestId"].as_str().unwrap().to_string();
        let metadata = RecordEventsRequestMetadata {
            request_id,
            identifier: Some(identifier.clone()),
        };
        let event = by_id[data["event"]["id"].as_str().unwrap()];
        let publisher = telemetry_core::Publisher::new(&metadata).unwrap();
        let Translation::Publish(expected) =
            translate(&publisher, event, telemetry_core::MAX_MESSAGE_BYTES).unwrap()
        else {
            panic!("oversized")
        };
        assert_eq!(line["data"].as_str().unwrap().as_bytes(), expected.data);
        let attrs: std::collections::BTreeMap<String, String> =
            serde_json::from_value(line["attributes"].clone()).unwrap();
        assert_eq!(attrs, expected.attributes);
    }
}
