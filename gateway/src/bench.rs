//! `telemetry-gateway bench`: a bounded loopback load generator. It starts gateway child
//! processes on 127.0.0.1 one after the other — a baseline that decodes and acknowledges without
//! checks or publishing, the real server with the file sink and the event inspector off, the
//! same with the inspector on (its defaults), and on keeping every event — drives each with the same payloads (closed loop:
//! each stream sends one payload and waits for its response), and reports events/s, p50/p99 per
//! payload, the throughput ratios, and each server's peak RSS (VmHWM).

use crate::proto::telemetery_gateway_service_client::TelemeteryGatewayServiceClient;
use anyhow::Context;
use std::io::BufRead;
use std::time::{Duration, Instant};
use telemetry_core::proto::{
    Event, EventParameters, EventSource, RecordEventsRequest, RecordEventsRequestMetadata,
    identifier, record_events_request,
};

/// Bench options.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Payloads per stream (bounded).
    #[arg(long, default_value_t = 100)]
    pub payloads: usize,
    /// Events per payload.
    #[arg(long, default_value_t = 1000)]
    pub events_per_payload: usize,
    /// Concurrent streams.
    #[arg(long, default_value_t = 4)]
    pub streams: usize,
    /// Directory for the file sink (default: a temporary directory, removed afterwards).
    #[arg(long)]
    pub dir: Option<std::path::PathBuf>,
}

/// One server's results.
#[derive(Debug, Clone)]
pub struct BenchResult {
    /// Events per second.
    pub events_per_sec: f64,
    /// Median payload latency.
    pub p50: Duration,
    /// 99th percentile payload latency.
    pub p99: Duration,
    /// Peak RSS of the server, KiB.
    pub peak_rss_kib: Option<u64>,
    /// Server CPU time (user + system, all threads) per event, microseconds: steadier than
    /// throughput on a shared machine, since time spent waiting for a CPU is not counted.
    pub cpu_us_per_event: Option<f64>,
}

fn realistic_event(i: usize) -> Event {
    let mut metadata = std::collections::BTreeMap::new();
    metadata.insert("durationMs".to_string(), 1234.5);
    metadata.insert("count".to_string(), (i % 17) as f64);
    metadata.insert("recordsPrivateMetadataTranscript".to_string(), 1.0);
    let mut fields = std::collections::BTreeMap::new();
    fields.insert(
        "query".to_string(),
        prost_types::Value {
            kind: Some(prost_types::value::Kind::StringValue(
                "repo:^github\\.com/sourcegraph/sourcegraph$ lang:go telemetry".to_string(),
            )),
        },
    );
    Event {
        id: format!("0190f6b4-8c2e-7a3b-9d1e-{i:012x}"),
        timestamp: Some(prost_types::Timestamp {
            seconds: 1_719_837_296 + i as i64,
            nanos: 789_000_000,
        }),
        feature: "cody.completion".to_string(),
        action: "accepted".to_string(),
        source: Some(EventSource {
            server: Some(telemetry_core::proto::event_source::Server {
                version: "5.5.0".to_string(),
            }),
            client: Some(telemetry_core::proto::event_source::Client {
                name: "VSCode.Cody".to_string(),
                version: Some("1.24.0".to_string()),
            }),
        }),
        parameters: Some(EventParameters {
            version: 1,
            metadata,
            private_metadata: Some(prost_types::Struct { fields }),
            ..Default::default()
        }),
        user: Some(telemetry_core::proto::EventUser {
            user_id: Some(1234),
            anonymous_user_id: Some("anon-5678".to_string()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

struct Child {
    child: std::process::Child,
    addr: String,
}

impl Child {
    fn spawn(diagnostics: &str, extra: &[&str]) -> anyhow::Result<Child> {
        let exe = std::env::current_exe()?;
        let mut child = std::process::Command::new(exe)
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--diagnostics-listen",
                diagnostics,
                "--log-format",
                "json",
                "--log-level",
                "info",
            ])
            .args(extra)
            .stderr(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()?;
        let stderr = child.stderr.take().context("child stderr")?;
        let mut lines = std::io::BufReader::new(stderr).lines();
        let addr = loop {
            let line = lines.next().context("gateway exited before listening")??;
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line)
                && let Some(a) = v["fields"]["listen"].as_str()
            {
                break a.to_string();
            }
        };
        std::thread::spawn(move || for _ in lines {});
        Ok(Child { child, addr })
    }

    fn peak_rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    }
}

impl Child {
    /// CPU seconds (user + system) the server used so far, from `/proc/PID/stat`.
    fn cpu_seconds(&self) -> Option<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).ok()?;
        // Fields after the command name (which may hold spaces) start at field 3 (`state`);
        // utime and stime are fields 14 and 15, in clock ticks (USER_HZ: 100 on Linux).
        let rest = stat.rsplit_once(')')?.1;
        let mut fields = rest.split_whitespace().skip(11);
        let utime: f64 = fields.next()?.parse().ok()?;
        let stime: f64 = fields.next()?.parse().ok()?;
        Some((utime + stime) / 100.0)
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn drive(
    addr: &str,
    args: &BenchArgs,
    payload: &[Event],
) -> anyhow::Result<(f64, Vec<Duration>)> {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for s in 0..args.streams {
        let endpoint = format!("http://{addr}");
        let payload = payload.to_vec();
        let n = args.payloads;
        tasks.push(tokio::spawn(async move {
            let mut client = TelemeteryGatewayServiceClient::connect(endpoint)
                .await?
                .max_decoding_message_size(usize::MAX)
                .max_encoding_message_size(usize::MAX);
            let (tx, rx) = tokio::sync::mpsc::channel::<RecordEventsRequest>(2);
            tx.send(RecordEventsRequest {
                payload: Some(record_events_request::Payload::Metadata(
                    RecordEventsRequestMetadata {
                        request_id: format!("bench-{s}"),
                        identifier: Some(telemetry_core::proto::Identifier {
                            identifier: Some(identifier::Identifier::UnlicensedInstance(
                                identifier::UnlicensedInstanceIdentifier {
                                    instance_id: "bench-instance".to_string(),
                                    external_url: "https://sourcegraph.example.com".to_string(),
                                },
                            )),
                        }),
                    },
                )),
            })
            .await?;
            let mut responses = client
                .record_events(tokio_stream::wrappers::ReceiverStream::new(rx))
                .await?
                .into_inner();
            let mut latencies = Vec::with_capacity(n);
            for _ in 0..n {
                let t = Instant::now();
                tx.send(RecordEventsRequest {
                    payload: Some(record_events_request::Payload::Events(
                        telemetry_core::proto::record_events_request::EventsPayload {
                            events: payload.clone(),
                        },
                    )),
                })
                .await?;
                let r = responses.message().await?.context("stream ended early")?;
                anyhow::ensure!(
                    r.succeeded_events.len() == payload.len(),
                    "only {} of {} events acknowledged",
                    r.succeeded_events.len(),
                    payload.len()
                );
                latencies.push(t.elapsed());
            }
            drop(tx);
            while responses.message().await?.is_some() {}
            anyhow::Ok(latencies)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let events = (args.streams * args.payloads * payload.len()) as f64;
    Ok((events / elapsed, all))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(idx).copied().unwrap_or_default()
}

async fn measure(
    child: &Child,
    args: &BenchArgs,
    payload: &[Event],
) -> anyhow::Result<BenchResult> {
    // Warm-up: a few payloads, not measured.
    let warm = BenchArgs {
        payloads: 3,
        ..args.clone()
    };
    drive(&child.addr, &warm, payload).await?;
    let cpu_before = child.cpu_seconds();
    let (events_per_sec, mut latencies) = drive(&child.addr, args, payload).await?;
    let events = (args.streams * args.payloads * payload.len()) as f64;
    let cpu_us_per_event = cpu_before
        .zip(child.cpu_seconds())
        .map(|(before, after)| (after - before) * 1e6 / events);
    latencies.sort();
    Ok(BenchResult {
        events_per_sec,
        p50: percentile(&latencies, 0.5),
        p99: percentile(&latencies, 0.99),
        peak_rss_kib: child.peak_rss_kib(),
        cpu_us_per_event,
    })
}

/// Runs the benchmark and prints the report.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.payloads > 0 && args.streams > 0 && args.events_per_payload > 0,
        "all counts must be positive"
    );
    anyhow::ensure!(
        args.payloads <= 100_000 && args.streams <= 64,
        "bench is bounded: at most 100000 payloads and 64 streams"
    );
    let tmp;
    let dir = match &args.dir {
        Some(d) => d.clone(),
        None => {
            tmp = TempDir::new()?;
            tmp.0.clone()
        }
    };
    let sink_path = dir.join("bench-events.ndjson");
    let payload: Vec<Event> = (0..args.events_per_payload).map(realistic_event).collect();
    let payload_bytes = prost::Message::encoded_len(
        &telemetry_core::proto::record_events_request::EventsPayload {
            events: payload.clone(),
        },
    );

    let baseline = Child::spawn("off", &["--baseline", "--sink", "stdout"])?;
    let base = measure(&baseline, &args, &payload).await?;
    drop(baseline);
    let sink_spec = format!("file:{}", sink_path.display());
    // Both real servers serve diagnostics; only the inspector differs.
    let real = Child::spawn("127.0.0.1:0", &["--sink", &sink_spec, "--inspector", "off"])?;
    let gw = measure(&real, &args, &payload).await?;
    drop(real);
    let sink_bytes = std::fs::metadata(&sink_path).map(|m| m.len()).unwrap_or(0);
    let _ = std::fs::remove_file(&sink_path);
    let inspected = Child::spawn("127.0.0.1:0", &["--sink", &sink_spec, "--inspector", "on"])?;
    let insp = measure(&inspected, &args, &payload).await?;
    drop(inspected);
    let _ = std::fs::remove_file(&sink_path);
    let keeping = Child::spawn(
        "127.0.0.1:0",
        &[
            "--sink",
            &sink_spec,
            "--inspector",
            "on",
            "--inspector-max-rate",
            "0",
        ],
    )?;
    let keep_all = measure(&keeping, &args, &payload).await?;
    drop(keeping);

    let row = |name: &str, r: &BenchResult| {
        println!(
            "{name:<22} {:>12.0} {:>10.1} {:>10.1} {:>14} {:>14}",
            r.events_per_sec,
            r.p50.as_secs_f64() * 1000.0,
            r.p99.as_secs_f64() * 1000.0,
            r.peak_rss_kib
                .map(|k| format!("{:.1}", k as f64 / 1024.0))
                .unwrap_or_else(|| "n/a".into()),
            r.cpu_us_per_event
                .map(|c| format!("{c:.2}"))
                .unwrap_or_else(|| "n/a".into())
        );
    };
    println!(
        "telemetry-gateway bench: {} streams x {} payloads x {} events ({} KiB per payload), loopback",
        args.streams,
        args.payloads,
        args.events_per_payload,
        payload_bytes / 1024
    );
    println!(
        "{:<22} {:>12} {:>10} {:>10} {:>14} {:>14}",
        "server", "events/s", "p50 ms", "p99 ms", "peak RSS MiB", "CPU µs/event"
    );
    row("baseline (no publish)", &base);
    row("gateway (file sink)", &gw);
    row("gateway + inspector", &insp);
    row("  ... keeping all", &keep_all);
    println!(
        "throughput ratio gateway/baseline: {:.2} ({:.0}%); sink file {} MiB",
        gw.events_per_sec / base.events_per_sec,
        100.0 * gw.events_per_sec / base.events_per_sec,
        sink_bytes / (1024 * 1024)
    );
    let cpu_ratio = |on: &BenchResult| {
        on.cpu_us_per_event
            .zip(gw.cpu_us_per_event)
            .map(|(on, off)| format!("{:.2}", on / off))
            .unwrap_or_else(|| "n/a".into())
    };
    println!(
        "inspector on/off (defaults: {} events, {}, {} kept/s): throughput ratio {:.2}, server CPU per event ratio {}",
        crate::inspector::DEFAULT_CAPACITY,
        crate::inspector::DEFAULT_MAX_BYTES,
        crate::inspector::DEFAULT_MAX_RATE,
        insp.events_per_sec / gw.events_per_sec,
        cpu_ratio(&insp),
    );
    println!(
        "inspector keeping every event (--inspector-max-rate 0) / off: throughput ratio {:.2}, server CPU per event ratio {}",
        keep_all.events_per_sec / gw.events_per_sec,
        cpu_ratio(&keep_all),
    );
    Ok(())
}

struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new() -> anyhow::Result<Self> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_nanos();
        let p = std::env::temp_dir().join(format!(
            "telemetry-gateway-bench-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&p)?;
        Ok(TempDir(p))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
