//! The export queue's contract, run against both backends: SQLite (a file) and a real
//! PostgreSQL server started here on loopback. Then what only PostgreSQL promises: two
//! exporters never claim the same rows at once, an abandoned claim releases its rows
//! unchanged, and a table whose `id` is a UUID (a Sourcegraph instance's) is drained as is.

mod support;

use prost::Message;
use prost_types::{Struct, Timestamp, Value, value::Kind};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use support::postgres::PgServer;
use telemetry_core::proto::{Event, EventMarketingTracking, EventParameters};
use telemetry_core::{ExportMode, RedactionPolicy};
use telemetry_gateway::export::queue::{
    self, BatchOutcome, EnqueueReport, ExportQueue, PreparedRow, QueueSpec, SqliteQueue,
};

fn ev(id: &str, feature: &str, action: &str, secs: i64) -> Event {
    let mut fields = std::collections::BTreeMap::new();
    for (k, v) in [("privateKey", "SECRET-private"), ("chatModel", "gpt-x")] {
        fields.insert(
            k.to_string(),
            Value {
                kind: Some(Kind::StringValue(v.to_string())),
            },
        );
    }
    Event {
        id: id.to_string(),
        timestamp: Some(Timestamp {
            seconds: secs,
            nanos: 0,
        }),
        feature: feature.to_string(),
        action: action.to_string(),
        parameters: Some(EventParameters {
            version: 1,
            private_metadata: Some(Struct { fields }),
            ..Default::default()
        }),
        marketing_tracking: Some(EventMarketingTracking {
            url: Some("https://secret.example.com/MARKETING".to_string()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

async fn claimed_ids(q: &dyn ExportQueue, limit: usize) -> Vec<String> {
    let batch = q.claim(limit).await.unwrap();
    let ids = batch.rows().iter().map(|r| r.id.clone()).collect();
    batch
        .finish(&BatchOutcome::default(), SystemTime::now())
        .await
        .unwrap();
    ids
}

fn outcome(acked: &[&str], refused: &[&str], max_refusals: u32) -> BatchOutcome {
    BatchOutcome {
        acknowledged: acked.iter().map(|s| s.to_string()).collect(),
        refused: refused.iter().map(|s| s.to_string()).collect(),
        reason: "refused in a test".into(),
        max_refusals,
        ..Default::default()
    }
}

async fn contract(q: Arc<dyn ExportQueue>) {
    let q = q.as_ref();
    let policy = RedactionPolicy::new(false, "").unwrap();

    // Redaction before queueing; the allowlisted key survives on the allowlisted event only.
    let report = queue::enqueue(
        q,
        [
            ev("a", "search", "submitted", 10),
            ev("b", "cody.chat-question", "submitted", 11),
        ],
        &policy,
        ExportMode::All,
        at(100),
    )
    .await
    .unwrap();
    assert_eq!(report.queued, 2);
    for id in ["a", "b"] {
        let (payload, exported) = q.get(id).await.unwrap().unwrap();
        assert!(!exported);
        assert!(
            !contains(&payload, "SECRET-private"),
            "{id}: private key queued"
        );
        assert!(!contains(&payload, "MARKETING"), "{id}: marketing queued");
    }
    let b = Event::decode(q.get("b").await.unwrap().unwrap().0.as_slice()).unwrap();
    let pm = b.parameters.unwrap().private_metadata.unwrap();
    assert_eq!(pm.fields.keys().collect::<Vec<_>>(), vec!["chatModel"]);
    let a = Event::decode(q.get("a").await.unwrap().unwrap().0.as_slice()).unwrap();
    assert!(a.parameters.unwrap().private_metadata.is_none());
    let dotcom = RedactionPolicy::new(true, "").unwrap();
    queue::enqueue(
        q,
        [ev("c", "search", "submitted", 12)],
        &dotcom,
        ExportMode::All,
        at(100),
    )
    .await
    .unwrap();
    assert!(contains(
        &q.get("c").await.unwrap().unwrap().0,
        "SECRET-private"
    ));

    // Export mode, duplicates, missing ids.
    let r = queue::enqueue(
        q,
        [
            ev("d", "search", "submitted", 1),
            ev("e", "cody.chat", "submitted", 2),
            ev("e", "cody.chat", "submitted", 2),
            ev("b", "cody.chat", "submitted", 2),
            ev("", "cody", "x", 3),
        ],
        &policy,
        ExportMode::CodyOnly,
        at(100),
    )
    .await
    .unwrap();
    assert_eq!(
        r,
        EnqueueReport {
            queued: 1,
            duplicates: 2,
            skipped_by_export_mode: 1,
            missing_id: 1
        }
    );
    let r = queue::enqueue(
        q,
        [ev("z", "cody", "x", 3)],
        &policy,
        ExportMode::Disabled,
        at(100),
    )
    .await
    .unwrap();
    assert_eq!(r.skipped_by_export_mode, 1);

    // Oldest first (e@2, a@10, b@11, c@12); only acknowledged ids are marked.
    let s = q.stats(at(1000)).await.unwrap();
    assert_eq!((s.rows, s.unexported, s.set_aside), (4, 4, 0));
    assert_eq!(s.oldest_unexported_age_seconds, 998);
    let batch = q.claim(2).await.unwrap();
    let ids: Vec<&str> = batch.rows().iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, vec!["e", "a"]);
    let report = batch
        .finish(&outcome(&["a", "never-sent"], &[], 3), at(1000))
        .await
        .unwrap();
    assert_eq!(report.marked, 1);
    assert_eq!(claimed_ids(q, 10).await, vec!["e", "b", "c"]);

    // A refused event is set aside after max_refusals runs and no longer blocks newer ones.
    for round in 1..=3u32 {
        let batch = q.claim(1).await.unwrap();
        assert_eq!(batch.rows()[0].id, "e", "round {round}");
        let r = batch
            .finish(&outcome(&[], &["e"], 3), at(1000))
            .await
            .unwrap();
        assert_eq!(r.set_aside, u64::from(round == 3), "round {round}");
    }
    assert_eq!(claimed_ids(q, 10).await, vec!["b", "c"]);
    let s = q.stats(at(1000)).await.unwrap();
    assert_eq!((s.rows, s.unexported, s.set_aside), (4, 2, 1));
    let aside = q.list_set_aside(10).await.unwrap();
    assert_eq!(aside.len(), 1);
    assert_eq!((aside[0].id.as_str(), aside[0].refusals), ("e", 3));
    assert_eq!(aside[0].last_error, "refused in a test");
    // Re-queued: claimable again, oldest first, with a fresh count.
    assert_eq!(q.requeue(Some(&["nope".to_string()])).await.unwrap(), 0);
    assert_eq!(q.requeue(Some(&["e".to_string()])).await.unwrap(), 1);
    assert_eq!(claimed_ids(q, 10).await, vec!["e", "b", "c"]);
    assert!(q.list_set_aside(10).await.unwrap().is_empty());

    // With a minimum span, max_refusals quick refusals are not enough (a transient gateway
    // fault); once the first refusal is old enough, the event is set aside.
    let mut spanned = outcome(&[], &["e"], 3);
    spanned.min_refusal_span = Duration::from_secs(3600);
    for t in [1000, 1001, 1002, 4599] {
        let batch = q.claim(1).await.unwrap();
        assert_eq!(batch.rows()[0].id, "e");
        assert_eq!(
            batch.finish(&spanned, at(t)).await.unwrap().set_aside,
            0,
            "at {t}"
        );
    }
    let batch = q.claim(1).await.unwrap();
    assert_eq!(batch.finish(&spanned, at(4600)).await.unwrap().set_aside, 1);
    assert_eq!(q.requeue(None).await.unwrap(), 1);

    // Undecodable rows are set aside at once, never deleted.
    q.insert(vec![PreparedRow {
        id: "garbage".into(),
        timestamp_micros: 0,
        payload_pb: vec![0xff, 0xff, 0xff],
    }])
    .await
    .unwrap();
    let batch = q.claim(1).await.unwrap();
    assert_eq!(batch.rows()[0].id, "garbage");
    let r = batch
        .finish(
            &BatchOutcome {
                undecodable: vec!["garbage".into()],
                max_refusals: 3,
                ..Default::default()
            },
            at(1000),
        )
        .await
        .unwrap();
    assert_eq!(r.set_aside, 1);
    assert!(q.get("garbage").await.unwrap().is_some());
    assert_eq!(q.requeue(None).await.unwrap(), 1);

    // Retention: kept within it, pruned after; unexported rows never are.
    let day = Duration::from_secs(24 * 3600);
    assert_eq!(q.prune(day, at(1000 + 3600)).await.unwrap(), 0);
    assert_eq!(q.prune(day, at(1000 + 24 * 3600 + 1)).await.unwrap(), 1);
    assert_eq!(q.prune(Duration::ZERO, at(10_000_000)).await.unwrap(), 0);
    let batch = q.claim(100).await.unwrap();
    let all: Vec<String> = batch.rows().iter().map(|r| r.id.clone()).collect();
    let all_refs: Vec<&str> = all.iter().map(String::as_str).collect();
    batch
        .finish(&outcome(&all_refs, &[], 3), at(2000))
        .await
        .unwrap();
    let s = q.stats(at(3000)).await.unwrap();
    assert_eq!((s.unexported, s.oldest_unexported_age_seconds), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_queue_contract() {
    let dir = tempfile::tempdir().unwrap();
    contract(Arc::new(
        SqliteQueue::open(&dir.path().join("q.sqlite3")).unwrap(),
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_queue_contract_and_concurrent_claims() {
    let pg = PgServer::start();
    let spec: QueueSpec = pg.url.parse().unwrap();
    let q: Arc<dyn ExportQueue> = Arc::from(queue::open(&spec).await.unwrap());
    contract(q.clone()).await;
    // the upstream table shape and partial index are there
    assert_eq!(
        pg.query_i64(
            "SELECT count(*) FROM pg_indexes WHERE tablename = 'telemetry_events_export_queue'
             AND indexdef LIKE '%(\"timestamp\") WHERE (exported_at IS NULL)%'"
        )
        .await,
        1
    );

    // Two exporters (separate pools, as two replicas) claim at the same time: disjoint rows.
    let policy = RedactionPolicy::new(false, "").unwrap();
    let events: Vec<Event> = (0..300)
        .map(|i| ev(&format!("p-{i:04}"), "search", "submitted", 5000 + i))
        .collect();
    queue::enqueue(
        q.as_ref(),
        events,
        &policy,
        ExportMode::All,
        SystemTime::now(),
    )
    .await
    .unwrap();
    let other: Arc<dyn ExportQueue> = Arc::from(queue::open(&spec).await.unwrap());
    let first = q.claim(200).await.unwrap();
    let second = other.claim(200).await.unwrap();
    let a: HashSet<&str> = first.rows().iter().map(|r| r.id.as_str()).collect();
    let b: HashSet<&str> = second.rows().iter().map(|r| r.id.as_str()).collect();
    assert_eq!((a.len(), b.len()), (200, 100));
    assert!(a.is_disjoint(&b), "both exporters claimed the same rows");
    // An abandoned claim (a crashed run) releases its rows unchanged.
    // (PostgreSQL notices the closed connection and rolls back within moments.)
    drop(second);
    let mut third = other.claim(200).await.unwrap();
    for _ in 0..50 {
        if third.rows().len() == 100 {
            break;
        }
        third
            .finish(&BatchOutcome::default(), SystemTime::now())
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        third = other.claim(200).await.unwrap();
    }
    assert_eq!(third.rows().len(), 100);
    let ids: Vec<String> = third.rows().iter().map(|r| r.id.clone()).collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    assert_eq!(
        third
            .finish(&outcome(&refs, &[], 3), SystemTime::now())
            .await
            .unwrap()
            .marked,
        100
    );
    drop(first);
    assert_eq!(q.stats(SystemTime::now()).await.unwrap().unexported, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_queue_drains_a_table_with_uuid_ids() {
    let pg = PgServer::start();
    // The table as a Sourcegraph instance has it after the migration to UUID ids.
    pg.execute(
        "CREATE TABLE telemetry_events_export_queue (
            id UUID PRIMARY KEY, timestamp TIMESTAMPTZ NOT NULL, payload_pb BYTEA NOT NULL,
            exported_at TIMESTAMPTZ DEFAULT NULL);
         CREATE INDEX telemetry_events_export_queue_unexported
            ON telemetry_events_export_queue (timestamp) WHERE exported_at IS NULL;",
    )
    .await;
    let q = queue::open(&pg.url.parse().unwrap()).await.unwrap();
    let policy = RedactionPolicy::new(false, "").unwrap();
    let id = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";
    queue::enqueue(
        q.as_ref(),
        [ev(id, "search", "x", 1)],
        &policy,
        ExportMode::All,
        at(5),
    )
    .await
    .unwrap();
    let err = queue::enqueue(
        q.as_ref(),
        [ev("not-a-uuid", "search", "x", 1)],
        &policy,
        ExportMode::All,
        at(5),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("is not a UUID"), "{err}");
    let batch = q.claim(10).await.unwrap();
    assert_eq!(batch.rows()[0].id, id);
    batch.finish(&outcome(&[], &[id], 1), at(6)).await.unwrap();
    assert_eq!(q.list_set_aside(10).await.unwrap()[0].id, id);
    q.requeue(None).await.unwrap();
    let batch = q.claim(10).await.unwrap();
    assert_eq!(
        batch
            .finish(&outcome(&[id], &[], 1), at(7))
            .await
            .unwrap()
            .marked,
        1
    );
    assert_eq!(
        pg.query_i64(
            "SELECT count(*) FROM telemetry_events_export_queue WHERE exported_at IS NOT NULL"
        )
        .await,
        1
    );
}
