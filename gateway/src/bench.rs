//! `telemetry-gateway bench`: what one acknowledged event costs the gateway, next to the floor.
//!
//! 1. **The floor**, in this process, single-threaded, for the same payload: prost decode of the
//!    `RecordEventsRequest`, the core's `ingest` (migrate, validate, translate, attributes) and
//!    rendering each sink line — CPU µs per event.
//! 2. **The server**, as child processes on 127.0.0.1 driven by this process (a separate process,
//!    pre-encoded requests, `--streams` × `--window` payloads in flight): a no-publish baseline,
//!    then the real gateway with the file sink at each `--workers` count (and once with the event
//!    inspector off, to show what it costs). For each: events/s,
//!    payload latency, peak RSS, and the server's CPU (user + sys from `/proc`) per acknowledged
//!    event, and its ratio to the floor.
//! 3. **Small payloads**: round trips of a 1-event `RecordEvents` payload and of unary
//!    `RecordEvent` (a managed service; token introspection by a stub on loopback, cached).
//! 4. **Memory per in-flight payload**: the gateway's peak RSS over its idle RSS, per payload in
//!    flight.
//!
//! Bounded: at most 100,000 payloads per stream and 64 streams.

use anyhow::Context;
use bytes::{Buf, BufMut, Bytes};
use prost::Message as _;
use std::collections::VecDeque;
use std::io::BufRead;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use telemetry_core::proto::{
    Event, Identifier, RecordEventRequest, RecordEventsRequest, RecordEventsRequestMetadata,
    RecordEventsResponse, identifier, record_events_request,
};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

/// Bench options.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Payloads per stream (bounded).
    #[arg(long, default_value_t = 60)]
    pub payloads: usize,
    /// Events per payload.
    #[arg(long, default_value_t = 1000)]
    pub events_per_payload: usize,
    /// Concurrent streams.
    #[arg(long, default_value_t = 16)]
    pub streams: usize,
    /// Payloads in flight per stream (pipelined: the next is sent when one is answered).
    #[arg(long, default_value_t = 4)]
    pub window: usize,
    /// Worker-thread counts to run the gateway with, one measurement each.
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    pub workers: Vec<usize>,
    /// Round trips for the small-payload latencies.
    #[arg(long, default_value_t = 500)]
    pub round_trips: usize,
    /// Directory for the file sink (default: a temporary directory, removed afterwards, on
    /// tmpfs (`/dev/shm`) when there is one, so the figures are the gateway's rather than the
    /// disk's).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Gateway binaries to measure (repeatable; default: this one), e.g. builds with different
    /// allocators, compared in the same run.
    #[arg(long = "gateway-bin")]
    pub gateway_bins: Vec<PathBuf>,
    /// Extra `serve` option for the measured gateway (repeatable), e.g. `--server-arg=--sink-fsync`.
    #[arg(long = "server-arg", allow_hyphen_values = true)]
    pub server_args: Vec<String>,
}

/// A realistic event (the core's benchmark event: metadata, private metadata, user, flags,
/// marketing, interaction) with a distinct id, about 1.4 KB on the wire.
fn realistic_event(template: &Event, i: usize) -> Event {
    let mut e = template.clone();
    e.id = format!("0190f6b4-8c2e-7a3b-9d1e-{i:012x}");
    e
}

fn template_event() -> anyhow::Result<Event> {
    let mut e = telemetry_core::json::parse_event(include_str!("../../core/benches/event.json"))
        .context("the benchmark event")?;
    if let Some(p) = e
        .parameters
        .as_mut()
        .and_then(|p| p.private_metadata.as_mut())
    {
        p.fields.insert(
            "completion".to_string(),
            prost_types::Value {
                kind: Some(prost_types::value::Kind::StringValue(
                    "    if err != nil {\n        return fmt.Errorf(\"reading config: %w\", err)\n    }\n"
                        .repeat(9),
                )),
            },
        );
    }
    Ok(e)
}

fn unlicensed_metadata(request_id: &str) -> RecordEventsRequestMetadata {
    RecordEventsRequestMetadata {
        request_id: request_id.to_string(),
        identifier: Some(Identifier {
            identifier: Some(identifier::Identifier::UnlicensedInstance(
                identifier::UnlicensedInstanceIdentifier {
                    instance_id: "bench-instance".to_string(),
                    external_url: "https://sourcegraph.example.com".to_string(),
                },
            )),
        }),
    }
}

fn encode_request(payload: record_events_request::Payload) -> Bytes {
    Bytes::from(
        RecordEventsRequest {
            payload: Some(payload),
        }
        .encode_to_vec(),
    )
}

/// A codec that sends pre-encoded messages and returns raw ones: the load generator spends no
/// CPU encoding requests.
#[derive(Clone, Default)]
struct RawCodec;

#[derive(Clone, Default)]
struct RawCoder;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = RawCoder;
    type Decoder = RawCoder;

    fn encoder(&mut self) -> RawCoder {
        RawCoder
    }

    fn decoder(&mut self) -> RawCoder {
        RawCoder
    }
}

impl Encoder for RawCoder {
    type Item = Bytes;
    type Error = tonic::Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawCoder {
    type Item = Bytes;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, tonic::Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

const RECORD_EVENTS: &str = "/telemetrygateway.v1.TelemeteryGatewayService/RecordEvents";
const RECORD_EVENT: &str = "/telemetrygateway.v1.TelemeteryGatewayService/RecordEvent";

/// A gateway child process.
struct Child {
    child: std::process::Child,
    addr: String,
    /// Its last warning and error log lines (shown if a measurement fails).
    problems: std::sync::Arc<std::sync::Mutex<VecDeque<String>>>,
}

impl Child {
    fn spawn(bin: &std::path::Path, extra: &[String]) -> anyhow::Result<Child> {
        let mut child = std::process::Command::new(bin)
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--diagnostics-listen",
                "off",
                "--log-format",
                "json",
                "--log-level",
                "warn,telemetry_gateway=info",
            ])
            .args(extra)
            .stderr(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
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
        let problems = std::sync::Arc::new(std::sync::Mutex::new(VecDeque::new()));
        let kept = problems.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                if (line.contains("\"WARN\"") || line.contains("\"ERROR\""))
                    && let Ok(mut k) = kept.lock()
                {
                    if k.len() >= 10 {
                        k.pop_front();
                    }
                    k.push_back(line);
                }
            }
        });
        Ok(Child {
            child,
            addr,
            problems,
        })
    }

    fn status_kib(&self, key: &str) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        status
            .lines()
            .find(|l| l.starts_with(key))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    }

    fn peak_rss_kib(&self) -> Option<u64> {
        self.status_kib("VmHWM:")
    }

    fn rss_kib(&self) -> Option<u64> {
        self.status_kib("VmRSS:")
    }

    /// User + system CPU seconds the process has used.
    fn cpu_seconds(&self) -> anyhow::Result<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))?;
        // Fields after the command name (which may hold spaces): state is field 3, utime 14,
        // stime 15.
        let rest = stat.rsplit_once(')').context("malformed /proc stat")?.1;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| -> anyhow::Result<f64> {
            Ok(fields.get(i).context("short /proc stat")?.parse::<f64>()?)
        };
        Ok((ticks(11)? + ticks(12)?) / clock_ticks_per_second())
    }
}

impl Child {
    /// Adds the child's last problems to an error.
    fn explain(&self, e: anyhow::Error) -> anyhow::Error {
        let lines: Vec<String> = self
            .problems
            .lock()
            .map(|p| p.iter().cloned().collect())
            .unwrap_or_default();
        if lines.is_empty() {
            e
        } else {
            e.context(format!("the gateway logged:\n{}", lines.join("\n")))
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf only reads a configuration value.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as f64 } else { 100.0 }
}

async fn connect(addr: &str) -> anyhow::Result<tonic::client::Grpc<tonic::transport::Channel>> {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))?
        .tcp_nodelay(true)
        .connect()
        .await?;
    Ok(tonic::client::Grpc::new(channel)
        .max_decoding_message_size(usize::MAX)
        .max_encoding_message_size(usize::MAX))
}

fn acked(response: &Bytes) -> anyhow::Result<usize> {
    Ok(RecordEventsResponse::decode(response.as_ref())?
        .succeeded_events
        .len())
}

/// One stream: metadata, then `n` payloads with `window` in flight; returns payload latencies.
async fn drive_stream(
    addr: String,
    metadata: Bytes,
    payload: Bytes,
    events: usize,
    n: usize,
    window: usize,
) -> anyhow::Result<Vec<Duration>> {
    let mut client = connect(&addr).await?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(window + 2);
    tx.send(metadata).await?;
    client.ready().await?;
    let mut responses = client
        .streaming(
            tonic::Request::new(tokio_stream::wrappers::ReceiverStream::new(rx)),
            http::uri::PathAndQuery::from_static(RECORD_EVENTS),
            RawCodec,
        )
        .await?
        .into_inner();
    let mut in_flight = VecDeque::with_capacity(window);
    let mut sent = 0;
    let mut tx = Some(tx);
    let mut latencies = Vec::with_capacity(n);
    while sent < n.min(window) {
        if let Some(t) = &tx {
            t.send(payload.clone()).await?;
        }
        in_flight.push_back(Instant::now());
        sent += 1;
    }
    while let Some(r) = responses.message().await? {
        let started = in_flight
            .pop_front()
            .context("a response without a payload")?;
        latencies.push(started.elapsed());
        anyhow::ensure!(
            acked(&r)? == events,
            "only {} of {events} events acknowledged",
            acked(&r)?
        );
        if sent < n {
            if let Some(t) = &tx {
                t.send(payload.clone()).await?;
            }
            in_flight.push_back(Instant::now());
            sent += 1;
        } else if in_flight.is_empty() {
            tx = None;
        }
    }
    drop(tx);
    anyhow::ensure!(latencies.len() == n, "the stream ended early");
    Ok(latencies)
}

/// The result of loading one server.
struct Load {
    events_per_sec: f64,
    cpu_us_per_event: f64,
    p50: Duration,
    p99: Duration,
    peak_rss_kib: Option<u64>,
    idle_rss_kib: Option<u64>,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(idx).copied().unwrap_or_default()
}

async fn load(
    child: &Child,
    args: &BenchArgs,
    metadata: &Bytes,
    payload: &Bytes,
) -> anyhow::Result<Load> {
    let idle_rss_kib = child.rss_kib();
    // Warm-up, not measured.
    run_streams(child, args, metadata, payload, 3).await?;
    let cpu_before = child.cpu_seconds()?;
    let started = Instant::now();
    let mut latencies = run_streams(child, args, metadata, payload, args.payloads).await?;
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = child.cpu_seconds()? - cpu_before;
    let events = (args.streams * args.payloads * args.events_per_payload) as f64;
    latencies.sort();
    Ok(Load {
        events_per_sec: events / elapsed,
        cpu_us_per_event: cpu / events * 1e6,
        p50: percentile(&latencies, 0.5),
        p99: percentile(&latencies, 0.99),
        peak_rss_kib: child.peak_rss_kib(),
        idle_rss_kib,
    })
}

async fn run_streams(
    child: &Child,
    args: &BenchArgs,
    metadata: &Bytes,
    payload: &Bytes,
    n: usize,
) -> anyhow::Result<Vec<Duration>> {
    let mut tasks = Vec::new();
    for _ in 0..args.streams {
        tasks.push(tokio::spawn(drive_stream(
            child.addr.clone(),
            metadata.clone(),
            payload.clone(),
            args.events_per_payload,
            n,
            args.window,
        )));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    Ok(all)
}

/// CPU time this thread has used (not wall time: the machine may be busy with other work).
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    let ok = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) } == 0;
    if !ok {
        return Duration::ZERO;
    }
    Duration::new(
        u64::try_from(ts.tv_sec).unwrap_or(0),
        u32::try_from(ts.tv_nsec).unwrap_or(0),
    )
}

/// The floor: µs of CPU per event to decode, ingest and render the payload, single-threaded.
fn floor_us_per_event(
    request: &Bytes,
    metadata: &RecordEventsRequestMetadata,
) -> anyhow::Result<f64> {
    let publisher = telemetry_core::Publisher::new(metadata)?;
    let mut line = Vec::with_capacity(1 << 20);
    let mut times = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut events = 0;
    while times.len() < 5 || Instant::now() < deadline {
        let started = thread_cpu_time();
        let request = RecordEventsRequest::decode(request.as_ref())?;
        let Some(record_events_request::Payload::Events(payload)) = request.payload else {
            anyhow::bail!("not an events payload");
        };
        events = payload.events.len();
        let outcomes = telemetry_core::ingest(
            &publisher,
            payload.events,
            telemetry_core::Rpc::RecordEvents,
            telemetry_core::MAX_MESSAGE_BYTES,
        );
        for o in &outcomes {
            if let telemetry_core::Outcome::Publish(m) = &o.outcome {
                crate::sink::lines::render_into(&mut line, m)?;
            }
        }
        line.clear();
        drop(outcomes);
        times.push(thread_cpu_time().saturating_sub(started));
        if times.len() > 1000 {
            break;
        }
    }
    times.sort();
    Ok(percentile(&times, 0.5).as_secs_f64() * 1e6 / events.max(1) as f64)
}

/// Round trips of 1-event payloads on one stream.
async fn one_event_round_trips(
    child: &Child,
    metadata: &Bytes,
    event: &Event,
    n: usize,
) -> anyhow::Result<(Duration, Duration)> {
    let payload = encode_request(record_events_request::Payload::Events(
        record_events_request::EventsPayload {
            events: vec![event.clone()],
        },
    ));
    let mut client = connect(&child.addr).await?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(2);
    tx.send(metadata.clone()).await?;
    client.ready().await?;
    let mut responses = client
        .streaming(
            tonic::Request::new(tokio_stream::wrappers::ReceiverStream::new(rx)),
            http::uri::PathAndQuery::from_static(RECORD_EVENTS),
            RawCodec,
        )
        .await?
        .into_inner();
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        tx.send(payload.clone()).await?;
        let r = responses.message().await?.context("stream ended")?;
        anyhow::ensure!(acked(&r)? == 1, "not acknowledged");
        times.push(t.elapsed());
    }
    drop(tx);
    while responses.message().await?.is_some() {}
    times.sort();
    Ok((percentile(&times, 0.5), percentile(&times, 0.99)))
}

/// Round trips of unary `RecordEvent` (a managed service, token cached after the first call).
async fn unary_round_trips(
    child: &Child,
    event: &Event,
    n: usize,
) -> anyhow::Result<(Duration, Duration)> {
    let request = Bytes::from(
        RecordEventRequest {
            metadata: Some(RecordEventsRequestMetadata {
                request_id: "bench-unary".into(),
                identifier: Some(Identifier {
                    identifier: Some(identifier::Identifier::ManagedService(
                        identifier::ManagedServiceIdentifier {
                            service_id: "bench-service".into(),
                            service_environment: None,
                        },
                    )),
                }),
            }),
            event: Some(event.clone()),
        }
        .encode_to_vec(),
    );
    let mut client = connect(&child.addr).await?;
    let mut times = Vec::with_capacity(n);
    for i in 0..=n {
        let mut req = tonic::Request::new(request.clone());
        req.metadata_mut()
            .insert("authorization", "Bearer bench-token".parse()?);
        client.ready().await?;
        let t = Instant::now();
        client
            .unary(
                req,
                http::uri::PathAndQuery::from_static(RECORD_EVENT),
                RawCodec,
            )
            .await?;
        if i > 0 {
            // The first call introspects the token; later ones use the cache.
            times.push(t.elapsed());
        }
    }
    times.sort();
    Ok((percentile(&times, 0.5), percentile(&times, 0.99)))
}

/// A loopback SAMS stub that grants every token the write scope.
async fn sams_stub() -> anyhow::Result<String> {
    let app = axum::Router::new().route(
        "/oauth/introspect",
        axum::routing::post(|| async {
            (
                [(http::header::CONTENT_TYPE, "application/json")],
                r#"{"active":true,"scope":"telemetry_gateway::events::write","client_id":"bench"}"#,
            )
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(format!("http://{addr}"))
}

fn mib(kib: Option<u64>) -> String {
    kib.map(|k| format!("{:.1}", k as f64 / 1024.0))
        .unwrap_or_else(|| "n/a".into())
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

/// Runs the benchmark and prints the report.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.payloads > 0 && args.streams > 0 && args.events_per_payload > 0 && args.window > 0,
        "all counts must be positive"
    );
    anyhow::ensure!(
        args.payloads <= 100_000 && args.streams <= 64 && args.window <= 64,
        "bench is bounded: at most 100000 payloads, 64 streams and a window of 64"
    );
    anyhow::ensure!(
        !args.workers.is_empty() && !args.workers.contains(&0),
        "--workers must list positive counts"
    );
    let tmp;
    let dir = match &args.dir {
        Some(d) => d.clone(),
        None => {
            tmp = TempDir::new()?;
            tmp.0.clone()
        }
    };
    println!("file sink in {}", dir.display());
    let bins = if args.gateway_bins.is_empty() {
        vec![std::env::current_exe()?]
    } else {
        args.gateway_bins.clone()
    };
    let bin = bins.first().cloned().context("a gateway binary")?;
    let template = template_event()?;
    let events: Vec<Event> = (0..args.events_per_payload)
        .map(|i| realistic_event(&template, i))
        .collect();
    let metadata = unlicensed_metadata("bench");
    let metadata_bytes = encode_request(record_events_request::Payload::Metadata(metadata.clone()));
    let payload = encode_request(record_events_request::Payload::Events(
        record_events_request::EventsPayload { events },
    ));
    let event_bytes = realistic_event(&template, 0).encoded_len();

    println!(
        "telemetry-gateway bench: {} streams x {} payloads x {} events ({} bytes per event, {} KiB per payload), window {}, loopback",
        args.streams,
        args.payloads,
        args.events_per_payload,
        event_bytes,
        payload.len() / 1024,
        args.window
    );
    let floor = floor_us_per_event(&payload, &metadata)?;
    println!(
        "floor (in-process, single-threaded: prost decode + ingest + sink line): {floor:.2} µs CPU per event"
    );
    println!();
    println!(
        "{:<30} {:>10} {:>12} {:>9} {:>9} {:>9} {:>10} {:>10}",
        "server",
        "events/s",
        "CPU µs/event",
        "vs floor",
        "p50 ms",
        "p99 ms",
        "idle MiB",
        "peak MiB"
    );
    let row = |name: &str, l: &Load| {
        println!(
            "{name:<30} {:>10.0} {:>12.2} {:>8.2}x {:>9} {:>9} {:>10} {:>10}",
            l.events_per_sec,
            l.cpu_us_per_event,
            l.cpu_us_per_event / floor,
            ms(l.p50),
            ms(l.p99),
            mib(l.idle_rss_kib),
            mib(l.peak_rss_kib)
        );
    };
    let worker_arg = |n: usize| vec!["--worker-threads".to_string(), n.to_string()];

    let mut base_args = vec!["--baseline".to_string(), "--sink".into(), "stdout".into()];
    base_args.extend(worker_arg(*args.workers.iter().max().unwrap_or(&1)));
    let baseline = Child::spawn(&bin, &base_args)?;
    let base = load(&baseline, &args, &metadata_bytes, &payload).await?;
    drop(baseline);
    row("baseline (decode + ack only)", &base);

    let sams = sams_stub().await?;
    let mut last = None;
    for b in &bins {
        let name = if bins.len() > 1 {
            format!(
                "{}, ",
                b.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            )
        } else {
            String::new()
        };
        for &workers in &args.workers {
            let sink = dir.join(format!("bench-events-{workers}.ndjson"));
            let mut extra = vec![
                "--sink".to_string(),
                format!("file:{}", sink.display()),
                "--sams-server-url".into(),
                sams.clone(),
            ];
            extra.extend(worker_arg(workers));
            extra.extend(args.server_args.iter().cloned());
            let gw = Child::spawn(b, &extra)?;
            let l = load(&gw, &args, &metadata_bytes, &payload)
                .await
                .map_err(|e| gw.explain(e))?;
            row(&format!("{name}gateway, {workers} worker(s)"), &l);
            let _ = std::fs::remove_file(&sink);
            last = Some((gw, l, workers));
        }
    }
    // The event inspector (on by default) against the same server with it off.
    if let Some(&workers) = args.workers.iter().max() {
        let sink = dir.join("bench-events-no-inspector.ndjson");
        let mut extra = vec![
            "--sink".to_string(),
            format!("file:{}", sink.display()),
            "--inspector".into(),
            "off".into(),
        ];
        extra.extend(worker_arg(workers));
        extra.extend(args.server_args.iter().cloned());
        let gw = Child::spawn(&bin, &extra)?;
        let l = load(&gw, &args, &metadata_bytes, &payload)
            .await
            .map_err(|e| gw.explain(e))?;
        row(&format!("gateway, {workers} worker(s), inspector off"), &l);
        let _ = std::fs::remove_file(&sink);
    }
    println!();
    if let Some((gw, l, workers)) = last {
        let in_flight = args.streams * args.window;
        if let (Some(peak), Some(idle)) = (l.peak_rss_kib, l.idle_rss_kib) {
            println!(
                "memory: peak RSS {:.1} MiB with {in_flight} payloads of {} KiB in flight ({} workers): {:.2} MiB over idle per in-flight payload",
                peak as f64 / 1024.0,
                payload.len() / 1024,
                workers,
                (peak.saturating_sub(idle)) as f64 / 1024.0 / in_flight as f64
            );
        }
        let (p50, p99) =
            one_event_round_trips(&gw, &metadata_bytes, &template, args.round_trips).await?;
        println!(
            "1-event RecordEvents payload round trip: p50 {} ms, p99 {} ms ({} round trips)",
            ms(p50),
            ms(p99),
            args.round_trips
        );
        let (p50, p99) = unary_round_trips(&gw, &template, args.round_trips).await?;
        println!(
            "unary RecordEvent round trip: p50 {} ms, p99 {} ms ({} round trips)",
            ms(p50),
            ms(p99),
            args.round_trips
        );
    }
    Ok(())
}

struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new() -> anyhow::Result<Self> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_nanos();
        let shm = std::path::Path::new("/dev/shm");
        let base = if shm.is_dir() {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        let p = base.join(format!(
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
