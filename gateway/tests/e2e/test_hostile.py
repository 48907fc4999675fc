"""Hostile clients: one test per attack, each played against a real gateway process on loopback
while a well-behaved exporter runs beside it. Each asserts that the gateway's peak RSS stays
within its configured memory budget plus a fixed overhead, that it stays healthy, and that the
well-behaved exporter gets every event acknowledged (and into the sink).

The gateway runs with a small budget (HOSTILE_ARGS) so the bound is tight; the 90 MiB test uses
the defaults. Every test prints one `[hostile]` line with its figures (see RELIABILITY.md).
"""

import json
import resource
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
import pytest

from conftest import ev_req, md_req, pb, pb_grpc, unlicensed_metadata
from hostile import GoodExporter, Proc, RawH2, grpc_frame, health_latency, sink_event_ids, tiny_event

BUDGET_MIB = 64
# What the process holds besides the budget: code, thread stacks, allocator slack, HTTP/2
# connection buffers, the dead-letter queue. Measured idle RSS of a debug build is ~25 MiB.
OVERHEAD_MIB = 64

HOSTILE_ARGS = [
    "--max-inflight-bytes", f"{BUDGET_MIB}MiB",
    "--max-message-size", "32MiB",
    "--max-pending-response-bytes", "256KiB",
    "--idle-timeout-seconds", "3",
    "--stream-deadline-seconds", "6",
    "--publish-timeout-seconds", "3",
    "--receive-timeout-seconds", "2",
    "--shutdown-drain-seconds", "3",
    "--max-connections", "200",
]


def report(name, proc, good=None, **figures):
    extra = " ".join(f"{k}={v}" for k, v in figures.items())
    acked = f" good_client_acked={len(good.acked)}/{len(good.sent)}" if good else ""
    print(f"\n[hostile] {name}: peak_rss_mib={proc.peak_rss_mib():.1f} budget_mib={BUDGET_MIB}{acked} {extra}")


def assert_within_budget(proc, budget_mib=BUDGET_MIB):
    peak = proc.peak_rss_mib()
    assert peak <= budget_mib + OVERHEAD_MIB, f"peak RSS {peak:.1f} MiB over {budget_mib} + {OVERHEAD_MIB} MiB"


def assert_healthy(gw):
    ok, _ = health_latency(gw.channel)
    assert ok, "gateway not SERVING"
    assert gw.proc.poll() is None, "gateway exited"


@pytest.fixture
def hostile(make_gateway):
    def make(*extra, **kw):
        gw = make_gateway(*HOSTILE_ARGS, *extra, **kw)
        return gw, Proc(gw.proc.pid)
    return make


def call(gw, *requests, metadata=None, timeout=60):
    acked, err = [], None
    try:
        for r in gw.stub.RecordEvents(iter(requests), metadata=metadata, timeout=timeout):
            acked.extend(r.succeeded_events)
    except grpc.RpcError as e:
        err = e
    return acked, err


def test_tiny_event_flood(hostile):
    gw, proc = hostile()
    good = GoodExporter(gw.addr)
    good.start()
    # 200,000 tiny valid events (5 MB): over the events-per-payload cap, refused before any work.
    flood = ev_req([tiny_event(i) for i in range(200_000)])
    size = flood.ByteSize()
    acked, err = call(gw, md_req(unlicensed_metadata()), flood)
    assert err is not None and err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.details() == "events payload holds 200000 events, over the limit of 100000 (--max-events-per-payload)"
    # 100,000 of them (2.6 MB) are within the cap: processed lazily, in bounded memory.
    acked, err = call(gw, md_req(unlicensed_metadata()), ev_req([tiny_event(i) for i in range(100_000)]))
    assert err is None and len(acked) == 100_000
    good.finish().assert_all_acknowledged(sink_event_ids(gw.sink_path))
    assert_healthy(gw)
    assert_within_budget(proc)
    report("tiny-event flood", proc, good, request_bytes=size)


def test_huge_metadata_strings(hostile):
    gw, proc = hostile()
    good = GoodExporter(gw.addr)
    good.start()

    def with_url(url):
        return pb.RecordEventsRequestMetadata(request_id="r", identifier=pb.Identifier(
            unlicensed_instance=pb.Identifier.UnlicensedInstanceIdentifier(instance_id="i", external_url=url)))

    huge = "https://" + "x" * (1 << 20)
    _, err = call(gw, md_req(with_url(huge)), ev_req([tiny_event(1)]))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.details() == f"unlicensed_instance.external_url is {len(huge)} bytes, over the limit of 8192 bytes (--max-external-url-bytes)"
    _, err = call(gw, md_req(unlicensed_metadata(request_id="r" * 5000)))
    assert err.details() == "metadata.request_id is 5000 bytes, over the limit of 1024 bytes (--max-id-bytes)"
    _, err = call(gw, md_req(unlicensed_metadata()), ev_req([tiny_event(1, prefix="i" * 2000)]))
    assert err.details() == "event.id is 2001 bytes, over the limit of 1024 bytes (--max-id-bytes)"
    # At the cap, every message body carries the 8 KiB URL: bodies are built as they are
    # published, so memory does not grow with the payload.
    at_cap = "https://" + "x" * (8192 - 8)
    for p in range(5):
        acked, err = call(gw, md_req(with_url(at_cap)), ev_req([tiny_event(i, prefix=f"m{p}-") for i in range(1000)]))
        assert err is None and len(acked) == 1000
    good.finish().assert_all_acknowledged(sink_event_ids(gw.sink_path))
    assert_healthy(gw)
    assert_within_budget(proc)
    report("1 MiB metadata strings x many events", proc, good, sink_mib=round(gw.sink_path.stat().st_size / 2**20, 1))


def test_client_that_never_reads_responses(hostile):
    gw, proc = hostile()
    good = GoodExporter(gw.addr)
    good.start()
    raw = RawH2(gw.addr, read_data=False)
    sid = raw.open_stream()
    raw.send(sid, grpc_frame(md_req(unlicensed_metadata()).SerializeToString()))
    payloads = 0
    blocked = False
    deadline = time.time() + 15
    while time.time() < deadline:
        body = grpc_frame(ev_req([tiny_event(i, prefix=f"nr{payloads}-") for i in range(1000)]).SerializeToString())
        if raw.send(sid, body, deadline=time.time() + 2) < len(body):
            blocked = True
            break
        payloads += 1
    assert blocked, f"the gateway kept reading a client that reads nothing ({payloads} payloads)"
    stopped_after = payloads
    # The stream outlives neither its deadline nor the hard response deadline: it is reset.
    deadline = time.time() + 30
    while time.time() < deadline and sid not in raw.resets and sid not in raw.trailers and not raw.closed:
        raw.pump(0.2)
    ended = sid in raw.resets or sid in raw.trailers or raw.closed
    raw.close()
    good.finish().assert_all_acknowledged(sink_event_ids(gw.sink_path))
    assert ended, "the non-reading stream was never ended"
    assert_healthy(gw)
    assert_within_budget(proc)
    report("client that never reads", proc, good, payloads_before_backpressure=stopped_after)


def test_idle_connections_and_stream_flood(hostile):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    gw, proc = hostile()
    port = int(gw.addr.rsplit(":", 1)[1])
    good = GoodExporter(gw.addr)
    good.start()
    socks = []
    most = 0
    for _ in range(1000):
        try:
            socks.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        except OSError:
            pass
        if len(socks) % 100 == 0:
            most = max(most, proc.tcp_connections(port))
    time.sleep(1)
    settled = proc.tcp_connections(port)
    # 200 allowed (plus the exporter's); during the burst, evicted connections take a moment
    # to close.
    assert settled <= 200 + 2, f"{settled} connections held (at most {most} during the burst)"
    # Idle connections go after the idle timeout.
    time.sleep(4)
    left = proc.tcp_connections(port)
    assert left <= 5, f"{left} idle connections still held"
    for s in socks:
        s.close()

    # 5,000 streams on one connection: the gateway serves 100 at a time and refuses the rest.
    raw = RawH2(gw.addr)
    raw.pump(0.2)
    from h2.settings import SettingCodes
    remote = raw.conn.remote_settings
    advertised = remote.max_concurrent_streams
    remote[SettingCodes.MAX_CONCURRENT_STREAMS] = 100_000
    remote.acknowledge()
    md = grpc_frame(md_req(unlicensed_metadata()).SerializeToString())
    opened = 0
    for _ in range(5000):
        if raw.closed:
            break
        try:
            sid = raw.open_stream()
            raw.send(sid, md)
            opened += 1
        except Exception:
            break
        raw.pump(0.0)
    for _ in range(20):
        raw.pump(0.1)
    raw.close()
    good.finish().assert_all_acknowledged(sink_event_ids(gw.sink_path))
    assert advertised == 100
    assert_healthy(gw)
    assert_within_budget(proc)
    report("1,000 idle connections + 5,000 streams on one connection", proc, good,
           most_during_burst=most, settled=settled, idle_left=left, streams_opened=opened, refused=raw.refused,
           connection_closed=raw.closed)


def test_slowloris_stream(hostile):
    gw, proc = hostile()
    good = GoodExporter(gw.addr)
    good.start()
    raw = RawH2(gw.addr)
    sid = raw.open_stream()
    raw.send(sid, grpc_frame(md_req(unlicensed_metadata()).SerializeToString()))
    body = grpc_frame(ev_req([tiny_event(i, prefix="slow") for i in range(2000)]).SerializeToString())
    raw.send(sid, body[:100])
    started = time.time()
    i = 100
    while time.time() - started < 20 and sid not in raw.trailers and sid not in raw.resets and not raw.closed:
        raw.send(sid, body[i:i + 1])  # one byte a second
        i += 1
        for _ in range(10):
            raw.pump(0.1)
    took = time.time() - started
    status, message = raw.grpc_status(sid)
    raw.close()
    good.finish().assert_all_acknowledged(sink_event_ids(gw.sink_path))
    assert status == "4", (status, message, raw.resets.get(sid))
    assert "request message stalled" in (message or "")
    assert took < 10, f"the slowloris stream lasted {took:.1f} s"
    assert_healthy(gw)
    assert_within_budget(proc)
    report("slowloris (one byte a second)", proc, good, ended_after_s=round(took, 1))


def _idle_stream(gw):
    """A stream that sent its metadata and then nothing; returns (thread, result holder)."""
    release = threading.Event()
    result = {}

    def requests():
        yield md_req(unlicensed_metadata())
        release.wait(60)

    def run():
        try:
            list(gw.stub.RecordEvents(requests(), timeout=60))
            result["code"] = grpc.StatusCode.OK
        except grpc.RpcError as e:
            result["code"], result["details"] = e.code(), e.details()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    time.sleep(0.5)
    return t, result, release


def test_sigterm_with_an_idle_stream_exits_within_the_drain(hostile):
    gw, proc = hostile()
    good = GoodExporter(gw.addr)
    good.start()
    time.sleep(0.5)
    good.finish().assert_all_acknowledged()
    t, result, release = _idle_stream(gw)
    started = time.time()
    gw.proc.send_signal(signal.SIGTERM)
    rc = gw.proc.wait(timeout=20)
    took = time.time() - started
    t.join(10)
    release.set()
    assert rc == 0, gw.logs()[-2000:]
    assert took < 3 + 2.5, f"exit took {took:.1f} s with a 3 s drain"
    assert result.get("code") == grpc.StatusCode.UNAVAILABLE, result
    assert "shutting down" in result.get("details", "")
    sink_event_ids(gw.sink_path)  # flushed, every line parses
    print(f"\n[hostile] SIGTERM with an idle stream: exited after {took:.1f} s (drain 3 s), stream ended UNAVAILABLE")


def test_second_signal_exits_at_once(make_gateway):
    gw = make_gateway("--shutdown-drain-seconds", "60")
    t, result, release = _idle_stream(gw)
    gw.proc.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    assert gw.proc.poll() is None, "the first signal must drain, not exit"
    started = time.time()
    gw.proc.send_signal(signal.SIGTERM)
    rc = gw.proc.wait(timeout=10)
    release.set()
    assert time.time() - started < 2
    assert rc == 130


def test_disk_full_never_tears_a_line(hostile):
    gw, proc = hostile()
    good = GoodExporter(gw.addr, per_payload=50, interval=0.05)
    good.start()
    time.sleep(1)
    size = gw.sink_path.stat().st_size
    # The file may grow 30 KB more: then every write fails (EFBIG), part-way through a line.
    subprocess.run(["prlimit", "--pid", str(gw.proc.pid), f"--fsize={size + 30_000}:"], check=True)
    unhealthy = None
    deadline = time.time() + 15
    while time.time() < deadline and unhealthy is None:
        try:
            urllib.request.urlopen(f"http://{gw.diagnostics}/healthz", timeout=5)
        except urllib.error.HTTPError as e:
            unhealthy = e.read().decode()
        time.sleep(0.2)
    failing_pending = len(good.pending)
    subprocess.run(["prlimit", "--pid", str(gw.proc.pid), "--fsize=unlimited:"], check=True)
    time.sleep(1)
    good.finish()
    assert unhealthy is not None and "last write failed" in unhealthy, unhealthy
    ids = sink_event_ids(gw.sink_path)  # raises if any line is torn
    good.assert_all_acknowledged(ids)
    with urllib.request.urlopen(f"http://{gw.diagnostics}/healthz", timeout=5) as r:
        assert r.status == 200
    assert_within_budget(proc)
    report("disk full (RLIMIT_FSIZE), then space again", proc, good,
           lines=len(ids), health_while_full=json.dumps(unhealthy.strip()[:60]))
    assert failing_pending >= 0


def _poison_event(i):
    e = tiny_event(i, prefix="poison")
    for k in range(150):
        e.parameters.metadata[f"recordsPrivateMetadataKey{k:03d}"] = 1
    return e


def test_poison_attributes_against_whole_batch_failures(hostile, tmp_path):
    dead = tmp_path / "dead.ndjson"
    gw, proc = hostile("--dead-letter-sink", f"file:{dead}", sink=f"pubsub-limits:file:{tmp_path / 'strict.ndjson'}")
    goods = [GoodExporter(gw.addr, prefix=f"good{n}", interval=0.02) for n in range(3)]
    for g in goods:
        g.start()
    poison_acked = 0
    for i in range(40):
        acked, err = call(gw, md_req(unlicensed_metadata()), ev_req([_poison_event(i), tiny_event(i, prefix="beside")]))
        assert err is None
        # Refused as not retryable: acknowledged to an instance, so it stops retrying.
        assert acked == [f"poison{i}", f"beside{i}"]
        poison_acked += 1
        time.sleep(0.02)
    for g in goods:
        g.finish()
    ids = sink_event_ids(tmp_path / "strict.ndjson")
    for g in goods:
        g.assert_all_acknowledged(ids)
    assert not any(i.startswith("poison") for i in ids)
    assert all(f"beside{i}" in ids for i in range(40))
    letters = [json.loads(json.loads(l)["data"]) for l in dead.read_text().splitlines()]
    assert {l["reason"] for l in letters} == {"pubsub_limits"}
    assert letters[0]["error"] == "event exceeds pub/sub limits: 154 attributes, over the limit of 100"
    assert_healthy(gw)
    assert_within_budget(proc)
    report("poison attributes vs whole-batch failures", proc, goods[0], poison_events=poison_acked,
           dead_letters=len(letters))


class _CountingSams(BaseHTTPRequestHandler):
    calls = []

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        _CountingSams.calls.append(body)
        data = json.dumps({"active": False}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def test_junk_token_flood_bounds_introspection(hostile):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _CountingSams)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _CountingSams.calls = []
    url = f"http://127.0.0.1:{server.server_address[1]}"
    gw, proc = hostile("--sams-server-url", url, "--sams-introspections-per-second", "10")
    good = GoodExporter(gw.addr)
    good.start()
    md = pb.RecordEventsRequestMetadata(request_id="r", identifier=pb.Identifier(
        managed_service=pb.Identifier.ManagedServiceIdentifier(service_id="svc")))
    req = pb.RecordEventRequest(metadata=md, event=tiny_event(1))

    def attempt(token):
        try:
            gw.stub.RecordEvent(req, metadata=[("authorization", f"Bearer {token}")], timeout=20)
            return "OK"
        except grpc.RpcError as e:
            return e.code().name

    started = time.time()
    with ThreadPoolExecutor(32) as pool:
        distinct = list(pool.map(attempt, [f"junk-{i}" for i in range(600)]))
        same = list(pool.map(attempt, ["the-same-junk"] * 300))
    elapsed = time.time() - started
    calls = len(_CountingSams.calls)
    same_calls = sum(1 for c in _CountingSams.calls if c == "token=the-same-junk")
    server.shutdown()
    good.finish().assert_all_acknowledged(sink_event_ids(gw.sink_path))
    assert set(distinct) <= {"PERMISSION_DENIED", "RESOURCE_EXHAUSTED"}
    assert "RESOURCE_EXHAUSTED" in distinct
    # 10 per second, bursts of 20.
    assert calls <= 10 * elapsed + 20 + 2, f"{calls} introspection calls in {elapsed:.1f} s"
    assert same_calls <= 2, f"one token introspected {same_calls} times"
    assert_healthy(gw)
    assert_within_budget(proc)
    report("junk SAMS token flood", proc, good, requests=900, introspection_calls=calls,
           seconds=round(elapsed, 1))


def test_health_answers_during_a_90_mib_payload(make_gateway):
    gw = make_gateway()  # the defaults: 256 MiB budget, 90 MiB messages
    proc = Proc(gw.proc.pid)
    good = GoodExporter(gw.addr)
    good.start()
    blob = "x" * 1000
    events = []
    for i in range(88_000):
        e = tiny_event(i, prefix="big")
        e.parameters.private_metadata.update({"blob": blob})
        events.append(e)
    payload = ev_req(events)
    size = payload.ByteSize()
    assert 85 * 2**20 < size < 90 * 2**20
    latencies = []
    done = threading.Event()

    def probe():
        while not done.is_set():
            ok, took = health_latency(gw.channel, timeout=5)
            latencies.append((ok, took))
            time.sleep(0.1)

    t = threading.Thread(target=probe, daemon=True)
    t.start()
    channel = grpc.insecure_channel(gw.addr, options=[("grpc.max_send_message_length", 100 * 2**20)])
    stub = pb_grpc.TelemeteryGatewayServiceStub(channel)
    started = time.time()
    acked = []
    for r in stub.RecordEvents(iter([md_req(unlicensed_metadata()), payload]), timeout=300):
        acked.extend(r.succeeded_events)
    took = time.time() - started
    done.set()
    t.join(10)
    channel.close()
    good.finish().assert_all_acknowledged(sink_event_ids(gw.sink_path))
    assert len(acked) == 88_000
    worst = max(l for _, l in latencies)
    assert all(ok for ok, _ in latencies)
    assert worst < 1.0, f"a health check took {worst:.2f} s"
    assert_within_budget(proc, budget_mib=256)
    report("health during a 90 MiB payload", proc, good, payload_mib=round(size / 2**20, 1),
           processed_s=round(took, 1), health_checks=len(latencies), worst_health_ms=round(worst * 1000))


def test_one_event_latency_without_nagle(hostile):
    """Regression: without TCP_NODELAY every response waited ~40 ms for a delayed ACK."""
    gw, proc = hostile()
    import queue
    q = queue.Queue()

    def requests():
        yield md_req(unlicensed_metadata())
        while True:
            item = q.get()
            if item is None:
                return
            yield item

    responses = gw.stub.RecordEvents(requests(), timeout=60)
    times = []
    for i in range(60):
        t = time.perf_counter()
        q.put(ev_req([tiny_event(i, prefix="lat")]))
        r = next(responses)
        times.append(time.perf_counter() - t)
        assert list(r.succeeded_events) == [f"lat{i}"]
    q.put(None)
    list(responses)
    times.sort()
    p50 = times[len(times) // 2]
    print(f"\n[hostile] one-event payload latency: p50={p50 * 1000:.2f} ms p90={times[int(len(times) * 0.9)] * 1000:.2f} ms")
    assert p50 < 0.010, f"p50 {p50 * 1000:.1f} ms: responses are delayed (Nagle?)"


def test_stream_deadline_answers_then_ends(hostile):
    gw, proc = hostile()  # --stream-deadline-seconds 6
    def requests():
        yield md_req(unlicensed_metadata())
        for i in range(40):
            yield ev_req([tiny_event(i, prefix="dl")])
            time.sleep(0.25)

    err = None
    acked = []
    try:
        for r in gw.stub.RecordEvents(requests(), timeout=60):
            acked.extend(r.succeeded_events)
    except grpc.RpcError as e:
        err = e
    assert err is not None and err.code() == grpc.StatusCode.DEADLINE_EXCEEDED, err
    assert "deadline of 6 s" in err.details()
    assert 15 <= len(acked) < 40
    ids = sink_event_ids(gw.sink_path)
    assert set(acked) <= ids


def test_exporter_sending_everything_before_reading_completes(make_gateway):
    """The upstream exporter: metadata, every payload (< 1 MiB), then all responses."""
    gw = make_gateway()  # default pending-response bound
    payloads = []
    n = 0
    for p in range(25):
        events = []
        for i in range(1000):
            e = tiny_event(n, prefix="up-")
            e.source.server.version = "5.5.0"
            events.append(e)
            n += 1
        payloads.append(ev_req(events))
    assert all(p.ByteSize() < 2**20 for p in payloads)
    call_ = gw.stub.RecordEvents(iter([md_req(unlicensed_metadata())] + payloads), timeout=120)
    time.sleep(2)  # send everything, read nothing yet
    acked = [i for r in call_ for i in r.succeeded_events]
    assert len(acked) == 25_000


def test_keepalive_closes_a_connection_whose_peer_went_silent(make_gateway):
    gw = make_gateway("--keepalive-interval-seconds", "1", "--keepalive-timeout-seconds", "1")
    proc = Proc(gw.proc.pid)
    raw = RawH2(gw.addr)
    sid = raw.open_stream()
    raw.send(sid, grpc_frame(md_req(unlicensed_metadata()).SerializeToString()))
    # A request is in flight (so the idle timeout does not apply) and the peer stops reading:
    # keepalive pings go unanswered and the gateway closes the connection.
    port = int(gw.addr.rsplit(":", 1)[1])
    time.sleep(0.5)
    assert proc.tcp_connections(port) >= 1
    deadline = time.time() + 10
    while time.time() < deadline and proc.tcp_connections(port) > 1:
        time.sleep(0.2)
    # Only the fixture's own grpc channel may remain.
    assert proc.tcp_connections(port) <= 1
    raw.close()


def _refused(*args):
    from conftest import gateway_bin
    p = subprocess.run([gateway_bin(), "serve", "--diagnostics-listen", "off", *args],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode != 0, p.stderr
    assert "panicked" not in p.stderr
    return p.stderr


def test_dangerous_or_invalid_options_are_refused_with_clear_errors(tmp_path):
    sink = ["--sink", f"file:{tmp_path / 'e.ndjson'}"]
    assert "only allowed on a loopback --listen address" in _refused("--baseline", "--listen", "0.0.0.0:0", *sink)
    assert "--cors-allow-any-origin" in _refused("--listen", "127.0.0.1:0", "--cors-allowed-origins", "*", *sink)
    assert "must use https" in _refused("--listen", "127.0.0.1:0", "--sams-server-url", "http://sams.example.com", *sink)
    assert "18446744073709551615" in _refused("--listen", "127.0.0.1:0", "--sams-cache-ttl-seconds", "18446744073709551615", *sink)
    assert "must be between 1 and 86400 seconds" in _refused("--listen", "127.0.0.1:0", "--stream-deadline-seconds", "99999999999", *sink)
    assert "too small for the largest message" in _refused("--listen", "127.0.0.1:0", "--max-inflight-bytes", "32MiB", *sink)


def test_any_origin_cors_is_allowed_with_its_flag_and_warned(make_gateway):
    gw = make_gateway("--cors-allowed-origins", "*", "--cors-allow-any-origin")
    assert "CORS allows any origin" in gw.logs()


def test_event_that_would_amplify_in_memory_is_refused_unread(hostile):
    """A few MB of one-entry structs decode to hundreds of MB (a B-tree node each): the gateway
    computes that from the wire bytes and refuses the event without decoding it."""
    gw, proc = hostile()
    good = GoodExporter(gw.addr)
    good.start()
    bomb = tiny_event(0, prefix="bomb")
    lst = bomb.parameters.private_metadata.get_or_create_list("l")
    for _ in range(300_000):
        lst.add_struct()["k"] = None
    size = bomb.ByteSize()
    acked, err = call(gw, md_req(unlicensed_metadata()), ev_req([bomb, tiny_event(1, prefix="beside")]))
    assert err is None
    assert acked == ["bomb0", "beside1"]  # refused as not retryable: acknowledged to an instance
    ids = sink_event_ids(gw.sink_path)
    good.finish().assert_all_acknowledged(sink_event_ids(gw.sink_path))
    assert "bomb0" not in ids and "beside1" in ids
    assert "event too large to process" in gw.logs()
    assert_healthy(gw)
    assert_within_budget(proc)
    report("memory-amplifying event (300k one-entry structs)", proc, good, event_bytes=size)


def test_soak_mixed_clients_memory_does_not_trend_up(hostile, tmp_path):
    """Good, bad and slow clients together at a steady rate for TELEMETRY_GATEWAY_SOAK_SECONDS
    (default 20; RELIABILITY.md records a longer run). RSS is sampled every second; the last
    third's mean may not exceed the first third's (after warm-up) by more than 10% + 4 MiB."""
    import os
    duration = float(os.environ.get("TELEMETRY_GATEWAY_SOAK_SECONDS", "20"))
    dead = tmp_path / "dead.ndjson"
    gw, proc = hostile("--dead-letter-sink", f"file:{dead}")
    stop = threading.Event()
    goods = [GoodExporter(gw.addr, prefix=f"soak{n}", per_payload=50, interval=0.05) for n in range(3)]
    for g in goods:
        g.start()
    counts = {"poison": 0, "slowloris": 0, "non_reader": 0, "idle": 0}

    def poison():
        i = 0
        while not stop.is_set():
            call(gw, md_req(unlicensed_metadata()), ev_req([_poison_event(i), tiny_event(i, prefix="bad-feature")]))
            i += 1
            counts["poison"] += 1
            stop.wait(0.1)

    def slowloris():
        while not stop.is_set():
            raw = RawH2(gw.addr)
            sid = raw.open_stream()
            raw.send(sid, grpc_frame(md_req(unlicensed_metadata()).SerializeToString()))
            body = grpc_frame(ev_req([tiny_event(i, prefix="sl") for i in range(500)]).SerializeToString())
            raw.send(sid, body[:50])
            t = time.time()
            while not stop.is_set() and time.time() - t < 5 and sid not in raw.trailers and not raw.closed:
                raw.pump(0.5)
            raw.close()
            counts["slowloris"] += 1

    def non_reader():
        while not stop.is_set():
            raw = RawH2(gw.addr, read_data=False)
            sid = raw.open_stream()
            raw.send(sid, grpc_frame(md_req(unlicensed_metadata()).SerializeToString()))
            t = time.time()
            j = 0
            while not stop.is_set() and time.time() - t < 4:
                body = grpc_frame(ev_req([tiny_event(i, prefix=f"nrs{j}-") for i in range(500)]).SerializeToString())
                if raw.send(sid, body, deadline=time.time() + 0.5) < len(body):
                    raw.pump(0.2)
                j += 1
            raw.close()
            counts["non_reader"] += 1

    def idle():
        port = int(gw.addr.rsplit(":", 1)[1])
        while not stop.is_set():
            socks = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(50)]
            stop.wait(2)
            for s in socks:
                s.close()
            counts["idle"] += 50

    threads = [threading.Thread(target=f, daemon=True) for f in (poison, slowloris, non_reader, idle)]
    for t in threads:
        t.start()
    samples = []
    started = time.time()
    while time.time() - started < duration:
        time.sleep(1)
        samples.append(proc.rss_mib())
    stop.set()
    for t in threads:
        t.join(15)
    for g in goods:
        g.finish()
    ids = sink_event_ids(gw.sink_path)
    for g in goods:
        g.assert_all_acknowledged(ids)
    warm = samples[len(samples) // 6:]
    third = max(1, len(warm) // 3)
    first, last = sum(warm[:third]) / third, sum(warm[-third:]) / third
    assert last <= first * 1.1 + 4, f"RSS trending up: {first:.1f} -> {last:.1f} MiB ({samples})"
    assert_healthy(gw)
    assert_within_budget(proc)
    acked = sum(len(g.acked) for g in goods)
    report("soak", proc, goods[0], seconds=int(duration), good_events_acked=acked,
           good_events_per_s=round(acked / duration), rss_first_third_mib=round(first, 1),
           rss_last_third_mib=round(last, 1), rss_min_mib=round(min(samples), 1),
           rss_max_mib=round(max(samples), 1), **counts)


def test_unary_record_event_latency(make_gateway, sams_server):
    """Regression: unary RecordEvent paid the same ~40 ms delayed-ACK stall as payloads."""
    from conftest import GOOD_TOKEN
    url, _ = sams_server
    gw = make_gateway("--sams-server-url", url, "--sams-client-id", "c", "--sams-client-secret", "s",
                      "--sams-cache-ttl-seconds", "60")
    md = pb.RecordEventsRequestMetadata(request_id="r", identifier=pb.Identifier(
        managed_service=pb.Identifier.ManagedServiceIdentifier(service_id="svc")))
    auth = [("authorization", f"Bearer {GOOD_TOKEN}")]
    gw.stub.RecordEvent(pb.RecordEventRequest(metadata=md, event=tiny_event(0, prefix="u")), metadata=auth, timeout=10)
    times = []
    for i in range(1, 61):
        t = time.perf_counter()
        gw.stub.RecordEvent(pb.RecordEventRequest(metadata=md, event=tiny_event(i, prefix="u")), metadata=auth, timeout=10)
        times.append(time.perf_counter() - t)
    times.sort()
    p50 = times[len(times) // 2]
    print(f"\n[hostile] unary RecordEvent latency: p50={p50 * 1000:.2f} ms")
    assert p50 < 0.010, f"p50 {p50 * 1000:.1f} ms"
