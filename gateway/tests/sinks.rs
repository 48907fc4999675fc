//! Sinks: the NDJSON line format, group-committed writes, spec parsing, fault injection.

use std::collections::BTreeMap;
use telemetry_core::Message;
use telemetry_gateway::sink::{self, Batch, SinkOptions, SinkSpec};
use tokio::time::{Duration, Instant};

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(30)
}

fn message(i: usize) -> Message {
    let mut attributes = BTreeMap::new();
    attributes.insert("event.feature".to_string(), "a.b".to_string());
    Message {
        data: format!(r#"{{"event":{{"id":"{i}","x":"<\u2028>"}},"metadata":{{}}}}"#).into_bytes(),
        attributes,
    }
}

#[tokio::test]
async fn file_sink_writes_one_exact_line_per_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("out.ndjson");
    let spec: SinkSpec = format!("file:{}", path.display()).parse().expect("spec");
    let s = sink::build(&spec, &SinkOptions::default())
        .await
        .expect("sink");
    let publishes = (0..500).map(|i| {
        let s = s.clone();
        tokio::spawn(async move { s.publish(Batch::of(vec![message(i)]), soon()).await })
    });
    for p in publishes {
        assert!(p.await.expect("join").is_ok(), "published");
    }
    // And a batch of many in one go.
    let batch: Vec<Message> = (500..600).map(message).collect();
    assert!(s.publish(Batch::of(batch), soon()).await.is_ok());
    s.flush().await.expect("flush");
    let text = std::fs::read_to_string(&path).expect("read");
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(lines.len(), 600);
    let mut datas: Vec<String> = lines
        .iter()
        .map(|l| l["data"].as_str().expect("data string").to_string())
        .collect();
    datas.sort();
    let mut expected: Vec<String> = (0..600)
        .map(|i| String::from_utf8(message(i).data).expect("utf8"))
        .collect();
    expected.sort();
    assert_eq!(datas, expected);
    assert_eq!(lines[0]["attributes"]["event.feature"], "a.b");
}

#[tokio::test]
async fn fault_sink_fails_about_the_requested_share() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spec: SinkSpec = format!("fault:0.25:file:{}", dir.path().join("f").display())
        .parse()
        .expect("spec");
    let s = sink::build(&spec, &SinkOptions::default())
        .await
        .expect("sink");
    let mut failed = 0;
    for chunk in 0..10 {
        let batch: Vec<Message> = (chunk * 100..chunk * 100 + 100).map(message).collect();
        let result = s.publish(Batch::of(batch), soon()).await;
        // Failed indices are distinct and within the batch.
        let mut idx: Vec<usize> = result.failed.iter().map(|(i, _)| *i).collect();
        idx.dedup();
        assert!(idx.iter().all(|i| *i < 100) && idx.len() == result.failed.len());
        failed += result.failed.len();
    }
    assert!((150..350).contains(&failed), "failed {failed}");
    assert!(s.describe().contains("testing only"));
}

#[test]
fn sink_specs() {
    assert_eq!("stdout".parse::<SinkSpec>(), Ok(SinkSpec::Stdout));
    assert_eq!(
        "pubsub:projects/p/topics/t".parse::<SinkSpec>(),
        Ok(SinkSpec::PubSub {
            topic: "projects/p/topics/t".into()
        })
    );
    for bad in [
        "",
        "file:",
        "pubsub:p/t",
        "pubsub:projects//topics/t",
        "fault:2:stdout",
        "kafka:x",
    ] {
        assert!(bad.parse::<SinkSpec>().is_err(), "{bad}");
    }
}
