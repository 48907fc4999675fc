//! The exporter's hardening (issue #8), against a scripted gateway on loopback: events the
//! gateway keeps refusing are set aside after N runs instead of blocking newer events (listed,
//! re-queueable, never deleted); a run has a deadline; the connection sends HTTP/2 keepalive
//! pings; plaintext `http://` is refused for hosts that are not loopback addresses.

use prost::Message;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use telemetry_core::proto::{Event, Identifier, RecordEventResponse, identifier};
use telemetry_core::{ExportMode, RedactionPolicy};
use telemetry_gateway::export::client::{ExportTarget, check_gateway_url};
use telemetry_gateway::export::queue::{self, ExportQueue, SqliteQueue};
use telemetry_gateway::export::run::{Exporter, Progress, RunOptions, export_all};
use telemetry_gateway::proto::telemetery_gateway_service_server::{
    TelemeteryGatewayService, TelemeteryGatewayServiceServer,
};
use telemetry_gateway::wire::{
    IncomingPayload, IncomingRecordEventRequest, IncomingRecordEventsRequest,
    OutgoingRecordEventsResponse,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_stream::Stream;

/// A gateway whose behaviour the test scripts.
#[derive(Default)]
struct Scripted {
    /// Ids starting with this are never acknowledged (while `refusing`).
    refusing: AtomicBool,
    /// Acknowledge what arrives, but never end the response stream.
    hang: AtomicBool,
    /// Every id received.
    received: Mutex<Vec<String>>,
}

type Responses =
    Pin<Box<dyn Stream<Item = Result<OutgoingRecordEventsResponse, tonic::Status>> + Send>>;

struct Service(Arc<Scripted>);

#[tonic::async_trait]
impl TelemeteryGatewayService for Service {
    type RecordEventsStream = Responses;

    async fn record_events(
        &self,
        request: tonic::Request<tonic::Streaming<IncomingRecordEventsRequest>>,
    ) -> Result<tonic::Response<Responses>, tonic::Status> {
        let mut incoming = request.into_inner();
        let me = self.0.clone();
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        tokio::spawn(async move {
            while let Ok(Some(msg)) = incoming.message().await {
                if let Some(IncomingPayload::Events(raw)) = msg.payload {
                    let mut ok = Vec::new();
                    for bytes in raw.iter() {
                        let e = Event::decode(bytes).unwrap();
                        me.received.lock().unwrap().push(e.id.clone());
                        if !(me.refusing.load(Ordering::SeqCst) && e.id.starts_with("poison")) {
                            ok.push(e.id);
                        }
                    }
                    let response =
                        OutgoingRecordEventsResponse::from_ids(ok.iter().map(String::as_str));
                    let _ = tx.send(Ok(response)).await;
                }
            }
            if me.hang.load(Ordering::SeqCst) {
                // keep the response stream open: the client's deadline must end the run
                tokio::time::sleep(Duration::from_secs(3600)).await;
            }
            drop(tx);
        });
        Ok(tonic::Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }

    async fn record_event(
        &self,
        _: tonic::Request<IncomingRecordEventRequest>,
    ) -> Result<tonic::Response<RecordEventResponse>, tonic::Status> {
        Err(tonic::Status::unimplemented("not in this test"))
    }
}

async fn start_scripted(s: Arc<Scripted>) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TelemeteryGatewayServiceServer::new(Service(s)))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    addr
}

fn target(addr: impl std::fmt::Display) -> ExportTarget {
    ExportTarget::new(
        format!("http://{addr}"),
        Identifier {
            identifier: Some(identifier::Identifier::UnlicensedInstance(
                identifier::UnlicensedInstanceIdentifier {
                    instance_id: "hardening".into(),
                    external_url: String::new(),
                },
            )),
        },
    )
}

fn options(max_refusals: u32) -> RunOptions {
    RunOptions {
        batch_size: 100,
        max_attempts: 10,
        retry_base_ms: 1,
        retry_max_ms: 5,
        retention: Duration::from_secs(3600),
        max_refusals,
        min_refusal_span: Duration::ZERO,
        testing_pause_after_send: None,
    }
}

fn ev(id: &str, secs: i64) -> Event {
    Event {
        id: id.into(),
        feature: "search".into(),
        action: "submitted".into(),
        timestamp: Some(prost_types::Timestamp {
            seconds: secs,
            nanos: 0,
        }),
        ..Default::default()
    }
}

async fn queue_with(dir: &tempfile::TempDir, events: Vec<Event>) -> Arc<dyn ExportQueue> {
    let q: Arc<dyn ExportQueue> =
        Arc::new(SqliteQueue::open(&dir.path().join("q.sqlite3")).unwrap());
    queue::enqueue(
        q.as_ref(),
        events,
        &RedactionPolicy::default(),
        ExportMode::All,
        SystemTime::now(),
    )
    .await
    .unwrap();
    q
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_events_are_set_aside_after_n_runs_and_newer_events_still_flow() {
    let gw = Arc::new(Scripted::default());
    gw.refusing.store(true, Ordering::SeqCst);
    let addr = start_scripted(gw.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    // The two oldest events are poison: with batch size 100 and 250 events, they would be in
    // every first batch forever if nothing set them aside.
    let mut events = vec![ev("poison-1", 1), ev("poison-2", 2)];
    events.extend((0..250).map(|i| ev(&format!("good-{i:03}"), 100 + i)));
    let q = queue_with(&dir, events).await;

    let mut progress = Progress::new(252, Duration::from_secs(60), false);
    let summary = export_all(q.clone(), &target(addr), &options(3), &mut progress)
        .await
        .unwrap();
    assert_eq!(summary.exported, 250);
    assert_eq!(summary.set_aside, 2);
    assert_eq!(summary.queue.unexported, 0);
    assert_eq!(summary.queue.set_aside, 2);
    let received = gw.received.lock().unwrap().clone();
    let poison_sends = received
        .iter()
        .filter(|id| id.starts_with("poison-1"))
        .count();
    assert_eq!(
        poison_sends, 3,
        "refused exactly max_refusals times, then set aside"
    );
    // Listed with their count and reason; nothing deleted.
    let aside = q.list_set_aside(10).await.unwrap();
    let ids: Vec<&str> = aside.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(ids, vec!["poison-1", "poison-2"]);
    assert!(aside.iter().all(|a| a.refusals == 3));
    assert!(
        aside[0].last_error.contains("did not acknowledge"),
        "{}",
        aside[0].last_error
    );
    assert_eq!(q.stats(SystemTime::now()).await.unwrap().rows, 252);

    // The gateway is fixed; re-queued events are delivered.
    gw.refusing.store(false, Ordering::SeqCst);
    assert_eq!(q.requeue(None).await.unwrap(), 2);
    let mut progress = Progress::new(2, Duration::from_secs(60), false);
    let summary = export_all(q.clone(), &target(addr), &options(3), &mut progress)
        .await
        .unwrap();
    assert_eq!((summary.exported, summary.set_aside), (2, 0));
    let s = q.stats(SystemTime::now()).await.unwrap();
    assert_eq!((s.unexported, s.set_aside), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_outlives_its_deadline_ends_and_keeps_what_was_acknowledged() {
    let gw = Arc::new(Scripted::default());
    gw.hang.store(true, Ordering::SeqCst);
    let addr = start_scripted(gw.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let q = queue_with(
        &dir,
        (0..150).map(|i| ev(&format!("e-{i:03}"), i)).collect(),
    )
    .await;
    let mut t = target(addr);
    t.run_timeout = Duration::from_millis(800);
    let mut exporter = Exporter::new(q.clone(), t, options(1), None);
    let started = Instant::now();
    let run = exporter.run_once(std::future::pending()).await.unwrap();
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(700) && took < Duration::from_secs(5),
        "{took:?}"
    );
    assert!(
        run.error.as_deref().unwrap().contains("deadline"),
        "{:?}",
        run.error
    );
    // the acknowledgements that arrived before the deadline are marked; nothing is refused or
    // set aside for a run that did not complete
    assert_eq!(run.marked, 100);
    assert_eq!((run.refused, run.set_aside), (0, 0));
    let s = q.stats(SystemTime::now()).await.unwrap();
    assert_eq!((s.unexported, s.set_aside), (50, 0));
}

/// A TCP proxy counting the HTTP/2 PING frames (not acknowledgements) the client sends.
async fn ping_counting_proxy(
    upstream: std::net::SocketAddr,
) -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let pings = Arc::new(AtomicUsize::new(0));
    let counter = pings.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let server = tokio::net::TcpStream::connect(upstream).await.unwrap();
            let (mut cr, mut cw) = client.into_split();
            let (mut sr, mut sw) = server.into_split();
            tokio::spawn(async move {
                let _ = tokio::io::copy(&mut sr, &mut cw).await;
            });
            let counter = counter.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 16384];
                let mut pos = 24; // the connection preface
                loop {
                    let n = match cr.read(&mut chunk).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    buf.extend_from_slice(&chunk[..n]);
                    if sw.write_all(&chunk[..n]).await.is_err() {
                        break;
                    }
                    while buf.len() >= pos + 9 {
                        let len = (usize::from(buf[pos]) << 16)
                            | (usize::from(buf[pos + 1]) << 8)
                            | usize::from(buf[pos + 2]);
                        let (kind, flags) = (buf[pos + 3], buf[pos + 4]);
                        if buf.len() < pos + 9 + len {
                            break;
                        }
                        if kind == 0x6 && flags & 0x1 == 0 {
                            counter.fetch_add(1, Ordering::SeqCst);
                        }
                        pos += 9 + len;
                    }
                }
            });
        }
    });
    (addr, pings)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_exporter_sends_http2_keepalive_pings_while_idle() {
    let gw = Arc::new(Scripted::default());
    let upstream = start_scripted(gw.clone()).await;
    let (proxy, pings) = ping_counting_proxy(upstream).await;
    let dir = tempfile::tempdir().unwrap();
    let q = queue_with(&dir, vec![ev("k-1", 1)]).await;
    let mut t = target(proxy);
    t.keepalive_interval = Duration::from_millis(250);
    let mut exporter = Exporter::new(q.clone(), t, options(3), None);
    let run = exporter.run_once(std::future::pending()).await.unwrap();
    assert_eq!(run.marked, 1);
    let before = pings.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(1600)).await; // idle, connection kept
    let during = pings.load(Ordering::SeqCst) - before;
    assert!(
        during >= 2,
        "{during} keepalive pings while idle for 1.6 s at a 250 ms interval"
    );
    drop(exporter);
}

#[test]
fn plaintext_is_refused_for_hosts_that_are_not_loopback() {
    for ok in [
        "http://127.0.0.1:10080",
        "http://127.3.4.5:1",
        "http://localhost:10080",
        "http://[::1]:10080",
        "https://gateway.example.com",
        "https://10.1.2.3:443",
    ] {
        check_gateway_url(ok, false).unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
    for refused in [
        "http://gateway.example.com:80",
        "http://10.1.2.3:10080",
        "http://[2001:db8::1]:10080",
        "http://localhost.example.com",
    ] {
        let e = check_gateway_url(refused, false).unwrap_err().to_string();
        assert!(e.contains("--allow-insecure-http"), "{refused}: {e}");
        // the explicit flag allows it (checked only: nothing is sent anywhere here)
        check_gateway_url(refused, true).unwrap();
    }
    assert!(check_gateway_url("ftp://x", true).is_err());
}

#[tokio::test]
async fn the_export_command_refuses_plaintext_to_a_remote_gateway_before_connecting() {
    // The exporter's connect path checks the URL first: the error names the flag, and no
    // connection is attempted (the address is a TEST-NET one that is never dialled).
    let dir = tempfile::tempdir().unwrap();
    let q = queue_with(&dir, vec![ev("r-1", 1)]).await;
    let mut exporter = Exporter::new(q.clone(), target("192.0.2.1:10080"), options(3), None);
    let run = exporter.run_once(std::future::pending()).await.unwrap();
    assert!(!run.streamed);
    assert!(
        run.error
            .as_deref()
            .unwrap()
            .contains("--allow-insecure-http"),
        "{:?}",
        run.error
    );
    assert_eq!(q.stats(SystemTime::now()).await.unwrap().unexported, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_abandons_a_hanging_run_safely_on_shutdown() {
    use telemetry_gateway::export::metrics::ExportMetrics;
    use telemetry_gateway::export::worker::{self, ExportTrigger, WorkerOptions};
    let gw = Arc::new(Scripted::default());
    gw.hang.store(true, Ordering::SeqCst);
    let addr = start_scripted(gw.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let q = queue_with(
        &dir,
        (0..150).map(|i| ev(&format!("w-{i:03}"), i)).collect(),
    )
    .await;
    let exporter = Exporter::new(q.clone(), target(addr), options(3), None);
    let metrics = ExportMetrics::register(&prometheus::Registry::new()).unwrap();
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let running = worker::spawn(
        exporter,
        WorkerOptions {
            interval: Duration::from_millis(100),
            size_trigger: 0,
            cleanup_interval: Duration::from_secs(60),
            metrics_interval: Duration::from_secs(60),
            shutdown_grace: Duration::from_millis(300),
        },
        Arc::new(ExportTrigger::new(0)),
        metrics,
        stop_rx,
    );
    // the first run is in progress (its 100 events acknowledged, the stream held open)
    let deadline = Instant::now() + Duration::from_secs(10);
    while gw.received.lock().unwrap().len() < 100 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(gw.received.lock().unwrap().len(), 100);
    let started = Instant::now();
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(5), running.join())
        .await
        .expect("the worker did not stop within the grace period");
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "{:?}",
        started.elapsed()
    );
    // what was acknowledged is marked; the rest stays queued; nothing set aside
    let s = q.stats(SystemTime::now()).await.unwrap();
    assert_eq!((s.unexported, s.set_aside), (50, 0));
}
