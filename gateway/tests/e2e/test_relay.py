"""`telemetry-gateway relay` end to end, on loopback, with real parts: the gateway binary, the
relay binary, `curl`, and a real PostgreSQL server started here (Debian's `postgresql`, installed
by scripts/setup). Fault tests (bounded): two exporters draining one PostgreSQL queue (no row sent
by both in the same run; after a crash, duplicates are counted), the relay SIGKILLed while clients
are posting (every answered event arrives), and the gateway down for a while (everything arrives
after). Duplicate counts are printed."""

import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import pytest

from conftest import gateway_bin
from test_export import export_cmd, free_port, run_export, sink_ids, start_fixed_gateway, write_events, EXPORT_ENV

MUTATION = "mutation RecordTelemetryEvents($events: [TelemetryEventInput!]!) { telemetry { recordEvents(events: $events) { alwaysNil } } }"


def _pg_bin():
    if os.environ.get("TELEMETRY_TEST_PG_BIN"):
        return Path(os.environ["TELEMETRY_TEST_PG_BIN"])
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    assert found, "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): run scripts/setup"
    return Path(found[-1]).parent


class Postgres:
    """A throwaway cluster on 127.0.0.1 (as the `postgres` user when run as root)."""

    def __init__(self):
        self.bin = _pg_bin()
        self.dir = Path(tempfile.mkdtemp(prefix="tg-pg-e2e-"))
        self.data = self.dir / "data"
        self.as_postgres = os.geteuid() == 0
        if self.as_postgres:
            shutil.chown(self.dir, "postgres", "postgres")
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8")
        self.port = free_port()
        opts = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.dir} -c fsync=off -c max_connections=100"
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-w", "-t", "30", "-o", opts, "-l", str(self.dir / "log"), "start")
        self.n = 0

    def _run(self, *args):
        cmd = (["runuser", "-u", "postgres", "--"] if self.as_postgres else []) + list(args)
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, f"{args[0]} failed: {p.stdout}{p.stderr}"

    def psql(self, sql, db="postgres"):
        p = subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", db, "-At", "-c", sql], capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        return p.stdout.strip()

    def new_database(self):
        self.n += 1
        name = f"relay_{self.n}"
        self.psql(f"CREATE DATABASE {name}")
        return f"postgres://postgres@127.0.0.1:{self.port}/{name}", name

    def stop(self):
        try:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def postgres():
    pg = Postgres()
    yield pg
    pg.stop()


class Relay:
    """A relay process; its recording address is read from its JSON log."""

    def __init__(self, tmp, queue, gateway_addr=None, extra=(), port=0, name="relay"):
        self.log_path = Path(tmp) / f"{name}.log"
        args = [gateway_bin(), "relay", "--listen", f"127.0.0.1:{port}", "--diagnostics-listen", "127.0.0.1:0", "--queue", str(queue),
                "--log-format", "json", "--export-interval-seconds", "1", "--retry-base-ms", "100", "--retry-max-ms", "1000",
                "--server-version", "6.3.0", "--rate-limit-per-second", "5000", "--rate-limit-burst", "5000", "--max-concurrent-requests", "256"]
        if gateway_addr:
            args += ["--gateway", f"http://{gateway_addr}", "--unlicensed", "--instance-id", "relay-e2e"]
        else:
            args += ["--no-export"]
        self.log = open(self.log_path, "a")
        self.proc = subprocess.Popen(args + list(extra), stdout=subprocess.DEVNULL, stderr=self.log, env=EXPORT_ENV)
        self.addr = self.diagnostics = None
        deadline = time.time() + 30
        while time.time() < deadline and self.addr is None:
            assert self.proc.poll() is None, f"relay exited: {self.log_path.read_text()}"
            for line in self.log_path.read_text().splitlines():
                try:
                    f = json.loads(line).get("fields", {})
                except ValueError:
                    continue
                if f.get("message") == "relay listening":
                    self.addr, self.diagnostics = f["listen"], f["diagnostics"]
            time.sleep(0.05)
        assert self.addr, "relay did not start"

    def post(self, events, timeout=30):
        body = json.dumps({"query": MUTATION, "variables": {"events": events}}).encode()
        req = urllib.request.Request(f"http://{self.addr}/.api/graphql?RecordTelemetryEvents", data=body, headers={"content-type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read())

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


def recording(seq, tag="relay"):
    return {
        "feature": f"{tag}.feature", "action": "submitted",
        "source": {"client": "e2e", "clientVersion": "1.0"},
        "parameters": {"version": 1, "metadata": [{"key": "seq", "value": seq}], "privateMetadata": {"prompt": f"PRIVATE-{seq}"}},
    }


def sink_seqs(path):
    seqs = []
    if not os.path.exists(path):
        return seqs
    with open(path) as f:
        for line in f:
            try:
                seqs.append(int(json.loads(json.loads(line)["data"])["event"]["parameters"]["metadata"]["seq"]))
            except (ValueError, KeyError):
                pass
    return seqs


def wait_until(pred, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def test_quick_start_gateway_relay_and_curl(make_gateway, tmp_path):
    """The README's three pieces: gateway, relay, a curl of the mutation; the event on the sink."""
    gw = make_gateway()
    relay = Relay(tmp_path, tmp_path / "q.sqlite3", gw.addr)
    try:
        doc = {"query": MUTATION, "variables": {"events": [{"feature": "search", "action": "submitted", "source": {"client": "curl"}, "parameters": {"version": 0}}]}}
        out = subprocess.run(["curl", "-sS", f"http://{relay.addr}/.api/graphql", "-H", "content-type: application/json", "-d", json.dumps(doc)],
                             capture_output=True, text=True, timeout=30)
        assert json.loads(out.stdout) == {"data": {"telemetry": {"recordEvents": {"alwaysNil": None}}}}, out
        wait_until(lambda: len(gw.sink_lines()) == 1, 20, "the event on the gateway's sink")
        event = json.loads(gw.sink_lines()[0]["data"])["event"]
        assert (event["feature"], event["source"]["server"]["version"], event["source"]["client"]["name"]) == ("search", "6.3.0", "curl")
        health = json.loads(urllib.request.urlopen(f"http://{relay.diagnostics}/healthz", timeout=10).read())
        assert health["status"] == "ok"
        # the queue files are private to their owner
        for suffix in ("", "-wal", "-shm"):
            assert os.stat(f"{tmp_path / 'q.sqlite3'}{suffix}").st_mode & 0o777 == 0o600
        # SIGTERM: a graceful exit
        assert relay.stop() == 0
    finally:
        relay.stop(signal.SIGKILL)


def test_two_exporters_on_one_postgres_queue(postgres, tmp_path, capsys):
    url, db = postgres.new_database()
    events = tmp_path / "e.ndjson"
    expected = write_events(events, 20_000)
    p, _ = run_export(None, url, "--enqueue-only", "--enqueue", events)
    assert p.returncode == 0, p.stderr
    port, sink = free_port(), tmp_path / "sink.ndjson"
    gw = start_fixed_gateway(port, sink, tmp_path / "gw.log")
    try:
        # Two exporters at once; small batches and a pause per run keep both busy together.
        procs = [subprocess.Popen(export_cmd(f"127.0.0.1:{port}", url, "--batch-size", "500", "--testing-pause-after-send-ms", "30"),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=EXPORT_ENV) for _ in range(2)]
        summaries = []
        for proc in procs:
            out, err = proc.communicate(timeout=240)
            assert proc.returncode == 0, err
            summaries.append(json.loads(out.strip().splitlines()[-1]))
        exported = [s["exported"] for s in summaries]
        assert sum(exported) == 20_000 and min(exported) > 0, exported
        ids, _ = sink_ids(sink)
        counts = Counter(ids)
        with capsys.disabled():
            print(f"\n[relay-pg] two exporters, no crash: exported={exported} sink_lines={len(ids)} duplicates={len(ids) - len(counts)}")
        assert set(counts) == expected
        assert len(ids) == len(counts), "a row was sent by both exporters"

        # Again with a crash: one exporter SIGKILLed between send and acknowledgement, then
        # restarted. Nothing is missing; the duplicates (its unmarked run) are counted.
        events2 = tmp_path / "e2.ndjson"
        expected2 = write_events(events2, 10_000, prefix="crash")
        p, _ = run_export(None, url, "--enqueue-only", "--enqueue", events2)
        assert p.returncode == 0, p.stderr
        slow = export_cmd(f"127.0.0.1:{port}", url, "--batch-size", "500", "--testing-pause-after-send-ms", "400")
        victim = subprocess.Popen(slow, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=EXPORT_ENV)
        other = subprocess.Popen(slow, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=EXPORT_ENV)
        wait_until(lambda: sum(1 for i in sink_ids(sink)[0] if i.startswith("crash")) >= 1000, 60, "progress before the crash")
        victim.send_signal(signal.SIGKILL)
        victim.communicate()
        restarted = subprocess.Popen(slow, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=EXPORT_ENV)
        for proc in (other, restarted):
            out, err = proc.communicate(timeout=240)
            assert proc.returncode == 0, err
        ids2 = [i for i in sink_ids(sink)[0] if i.startswith("crash")]
        c2 = Counter(ids2)
        with capsys.disabled():
            print(f"[relay-pg] two exporters, one SIGKILLed mid-run: sink_lines={len(ids2)} duplicates={len(ids2) - len(c2)} missing={len(expected2 - set(c2))}")
        assert set(c2) == expected2
        assert postgres.psql("SELECT count(*) FROM telemetry_events_export_queue WHERE exported_at IS NULL", db) == "0"
    finally:
        gw.kill()
        gw.wait()


def test_relay_killed_mid_write_loses_nothing_acknowledged(postgres, tmp_path, capsys):
    url, db = postgres.new_database()
    relay_port = free_port()
    relay = Relay(tmp_path, url, None, port=relay_port, name="relay1")
    acked, stop = set(), threading.Event()
    lock = threading.Lock()
    counter = iter(range(10_000_000))

    def client():
        while not stop.is_set():
            with lock:
                seqs = [next(counter) for _ in range(10)]
            try:
                status, body = relay.post([recording(s) for s in seqs], timeout=10)
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.05)
                continue
            if status == 200 and "errors" not in body:
                with lock:
                    acked.update(seqs)

    threads = [threading.Thread(target=client) for _ in range(8)]
    for t in threads:
        t.start()
    try:
        wait_until(lambda: len(acked) >= 3000, 60, "3000 acknowledged events")
        relay.stop(signal.SIGKILL)  # mid-write: requests are in flight
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=20)
    in_queue = int(postgres.psql("SELECT count(*) FROM telemetry_events_export_queue", db))
    assert in_queue >= len(acked), f"{len(acked)} acknowledged, {in_queue} queued"
    # A new relay on the same queue exports everything to a gateway.
    gw_port, sink = free_port(), tmp_path / "sink.ndjson"
    gw = start_fixed_gateway(gw_port, sink, tmp_path / "gw.log")
    relay2 = Relay(tmp_path, url, f"127.0.0.1:{gw_port}", name="relay2")
    try:
        wait_until(lambda: postgres.psql("SELECT count(*) FROM telemetry_events_export_queue WHERE exported_at IS NULL", db) == "0", 120, "the queue drained")
        seqs = Counter(sink_seqs(sink))
        missing = acked - set(seqs)
        with capsys.disabled():
            print(f"\n[relay-pg] relay SIGKILLed mid-write: acknowledged={len(acked)} queued={in_queue} on_sink={len(seqs)} missing={len(missing)} duplicates={sum(seqs.values()) - len(seqs)}")
        assert not missing, f"{len(missing)} acknowledged events missing, e.g. {sorted(missing)[:5]}"
        assert "PRIVATE-" not in sink.read_text()
    finally:
        relay2.stop()
        gw.kill()
        gw.wait()


def test_gateway_down_for_a_while_then_everything_arrives(postgres, tmp_path, capsys):
    url, db = postgres.new_database()
    gw_port, sink = free_port(), tmp_path / "sink.ndjson"
    relay = Relay(tmp_path, url, f"127.0.0.1:{gw_port}")
    try:
        for batch in range(50):
            status, body = relay.post([recording(batch * 10 + j) for j in range(10)])
            assert status == 200 and "errors" not in body, body
        time.sleep(3)  # the exporter fails against the absent gateway and backs off
        assert not os.path.exists(sink)
        assert postgres.psql("SELECT count(*) FROM telemetry_events_export_queue WHERE exported_at IS NULL", db) == "500"
        metrics = urllib.request.urlopen(f"http://{relay.diagnostics}/metrics", timeout=10).read().decode()
        assert 'telemetry_export_runs_total{result="failed"}' in metrics
        gw = start_fixed_gateway(gw_port, sink, tmp_path / "gw.log")
        try:
            wait_until(lambda: len(set(sink_seqs(sink))) == 500, 60, "all 500 events on the sink")
            seqs = sink_seqs(sink)
            with capsys.disabled():
                print(f"\n[relay-pg] gateway down ~3 s: events=500 sink_lines={len(seqs)} duplicates={len(seqs) - len(set(seqs))}")
            assert set(seqs) == set(range(500))
        finally:
            gw.kill()
            gw.wait()
    finally:
        relay.stop()


def test_refused_events_are_set_aside_listed_and_requeued_by_the_commands(make_gateway, sams_server, tmp_path):
    """A managed service's invalid event is refused by the real gateway (not acknowledged) while
    the other events are acknowledged; after --max-refusals such runs `export` sets it aside
    instead of retrying it forever, exits 1 and says so; `queue set-aside` lists it, `queue
    requeue` puts it back; an undecodable row is set aside at once. Nothing is deleted."""
    import sqlite3
    from conftest import GOOD_TOKEN, pb, sams_args

    url, _ = sams_server
    gw = make_gateway(*sams_args(url))
    queue = tmp_path / "q.sqlite3"
    p, _ = run_export(None, queue, "--enqueue-only")
    assert p.returncode == 0, p.stderr
    bad = pb.Event(id="bad-feature", feature="Not Valid", action="x")
    bad.timestamp.FromSeconds(1)
    db = sqlite3.connect(queue)
    db.execute("INSERT INTO telemetry_events_export_queue (id, timestamp, payload_pb) VALUES (?, ?, ?)", ("bad-feature", 0, bad.SerializeToString()))
    db.execute("INSERT INTO telemetry_events_export_queue (id, timestamp, payload_pb) VALUES (?, ?, ?)", ("garbage", 1, b"\xff\xff\xff"))
    db.commit()
    db.close()
    env = dict(EXPORT_ENV, TELEMETRY_GATEWAY_EXPORT_TOKEN=GOOD_TOKEN)
    cmd = [gateway_bin(), "export", "--queue", str(queue), "--gateway", f"http://{gw.addr}", "--managed-service", "svc-relay",
           "--summary-json", "--retry-base-ms", "10", "--retry-max-ms", "50", "--max-attempts", "2", "--max-refusals", "3", "--min-refusal-span-seconds", "0"]
    # Three exports, each with new good events: the bad one is refused alongside them each time.
    for round in range(3):
        events = tmp_path / f"e{round}.ndjson"
        write_events(events, 10, prefix=f"good{round}")
        p = subprocess.run(cmd + ["--enqueue", str(events)], capture_output=True, text=True, env=env, timeout=120)
        assert p.returncode == 1, p.stderr
        summary = json.loads(p.stdout.strip().splitlines()[-1])
        assert summary["exported"] == 10, summary
        if round < 2:
            # alone in the queue, it is not counted against (a run with nothing acknowledged)
            assert "1 events remain unexported after 2 attempts (last error: 1 events did not get recorded successfully)" in p.stderr, p.stderr
        else:
            assert summary["set_aside"] == 1 and summary["queue"]["unexported"] == 0, summary
            assert "1 events were set aside" in p.stderr, p.stderr
    assert len(gw.sink_lines()) == 30
    q = ["--queue", str(queue)]
    listed = subprocess.run([gateway_bin(), "queue", "set-aside", *q], capture_output=True, text=True, timeout=30)
    rows = {r["id"]: r for r in map(json.loads, listed.stdout.splitlines())}
    assert set(rows) == {"bad-feature", "garbage"}
    assert rows["bad-feature"]["refusals"] == 3 and "did not acknowledge" in rows["bad-feature"]["last_error"]
    assert rows["garbage"]["last_error"] == "the stored event does not decode"
    stats = json.loads(subprocess.run([gateway_bin(), "queue", "stats", *q], capture_output=True, text=True, timeout=30).stdout)
    assert stats == {"rows": 32, "unexported": 0, "set_aside": 2, "oldest_unexported_age_seconds": 0}
    p = subprocess.run([gateway_bin(), "queue", "requeue", "bad-feature", "no-such-id", *q], capture_output=True, text=True, timeout=30)
    assert p.returncode == 1 and "1 set-aside events re-queued" in p.stderr and "1 of the given ids were not set aside" in p.stderr
    p = subprocess.run([gateway_bin(), "queue", "requeue", "--all", *q], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0 and "1 set-aside events re-queued" in p.stderr
    stats = json.loads(subprocess.run([gateway_bin(), "queue", "stats", *q], capture_output=True, text=True, timeout=30).stdout)
    assert (stats["unexported"], stats["set_aside"], stats["rows"]) == (2, 0, 32)
