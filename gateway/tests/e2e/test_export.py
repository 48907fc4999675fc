"""`telemetry-gateway export` end to end, on loopback: recordings are redacted before they are
queued and reach the gateway's sink as the gateway publishes them; and fault tests (bounded) —
the gateway SIGKILLed and restarted mid-export, a sink rejecting a share of publishes, the
exporter SIGKILLed between send and acknowledgement. After recovery every event is on the sink
at least once and none is missing; the duplicate counts are printed."""

import json
import os
import signal
import socket
import subprocess
import time
from collections import Counter

from conftest import gateway_bin

EXPORT_ENV = {k: v for k, v in os.environ.items() if not k.startswith(("TELEMETRY_GATEWAY_", "SRC_", "SAMS_"))}


def export_cmd(gateway_addr, queue, *extra):
    args = [gateway_bin(), "export", "--queue", str(queue), "--unlicensed", "--instance-id", "e2e-instance", "--external-url", "https://sg.example.com", "--summary-json", "--retry-base-ms", "100", "--retry-max-ms", "1000"]
    if gateway_addr:
        args += ["--gateway", f"http://{gateway_addr}"]
    return args + [str(a) for a in extra]


def run_export(gateway_addr, queue, *extra, timeout=300):
    p = subprocess.run(export_cmd(gateway_addr, queue, *extra), capture_output=True, text=True, env=EXPORT_ENV, timeout=timeout)
    summary = json.loads(p.stdout.strip().splitlines()[-1]) if p.stdout.strip() else None
    return p, summary


def write_events(path, n, prefix="evt"):
    """Full events (proto3 JSON) with known ids, private metadata and marketing data."""
    with open(path, "w") as f:
        for i in range(n):
            e = {
                "id": f"{prefix}-{i:06d}",
                "timestamp": f"2026-11-22T10:{(i // 60) % 60:02d}:{i % 60:02d}Z",
                "feature": "cody.chat-question" if i % 2 else "search",
                "action": "submitted",
                "source": {"server": {"version": "6.0.0"}, "client": {"name": "VSCode.Cody"}},
                "parameters": {"version": 1, "metadata": {"n": i}, "privateMetadata": {"chatModel": "m", "prompt": f"PRIVATE-{i}"}},
                "marketingTracking": {"url": f"https://example.com/MARKETING-{i}"},
            }
            f.write(json.dumps(e) + "\n")
    return {f"{prefix}-{i:06d}" for i in range(n)}


def sink_ids(path):
    """Event ids on the sink; a line torn by a SIGKILL mid-write is skipped (its events were not
    acknowledged, so they are resent)."""
    ids, torn = [], 0
    if not os.path.exists(path):
        return ids, torn
    with open(path) as f:
        for line in f:
            try:
                ids.append(json.loads(json.loads(line)["data"])["event"]["id"])
            except (ValueError, KeyError):
                torn += 1
    return ids, torn


def check_and_report(capsys, name, expected, path):
    ids, torn = sink_ids(path)
    counts = Counter(ids)
    missing = expected - set(counts)
    duplicates = sum(c - 1 for c in counts.values())
    with capsys.disabled():
        print(f"\n[export-fault] {name}: events={len(expected)} sink_lines={len(ids)} duplicates={duplicates} torn_lines={torn} missing={len(missing)}")
    assert not missing, f"{len(missing)} events missing, e.g. {sorted(missing)[:5]}"
    assert set(counts) <= expected
    return duplicates


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_fixed_gateway(port, sink_path, log_path):
    log = open(log_path, "a")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEMETRY_GATEWAY_", "SAMS_"))}
    proc = subprocess.Popen(
        [gateway_bin(), "serve", "--listen", f"127.0.0.1:{port}", "--diagnostics-listen", "off", "--sink", f"file:{sink_path}", "--log-format", "json"],
        stdout=subprocess.DEVNULL, stderr=log, env=env,
    )
    deadline = time.time() + 30
    while time.time() < deadline:
        assert proc.poll() is None, open(log_path).read()
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("gateway did not start")


def test_recordings_are_redacted_queued_and_exported(make_gateway, tmp_path):
    gw = make_gateway()
    rec = tmp_path / "recordings.ndjson"
    with open(rec, "w") as f:
        for i in range(300):
            feature = "cody.chat-question" if i % 3 == 0 else "search"
            f.write(json.dumps({
                "feature": feature, "action": "submitted",
                "source": {"client": "VSCode.Cody", "clientVersion": "1.2.3"},
                "parameters": {"version": 2, "metadata": [{"key": "count", "value": i}], "privateMetadata": {"chatModel": f"model-{i}", "prompt": f"PRIVATE-{i}"}},
                "marketingTracking": {"url": f"https://example.com/?MARKETING-{i}", "cohortID": "c"},
            }) + "\n")
        f.write("{not json\n")
        f.write(json.dumps({"feature": "Bad Feature", "action": "x", "source": {"client": "c"}, "parameters": {"version": 0}}) + "\n")
    queue = tmp_path / "q.sqlite3"
    p, summary = run_export(gw.addr, queue, "--enqueue", rec, "--server-version", "6.2.0", "--batch-size", "100")
    # invalid lines are reported with their numbers and make the exit status non-zero...
    assert p.returncode == 1, p.stderr
    assert f"{rec}:301: not JSON" in p.stderr and f"{rec}:302: recording:" in p.stderr
    assert "2 input lines were invalid" in p.stderr
    # ...while the valid ones are queued and exported
    assert summary["exported"] == 300 and summary["invalid_lines"] == 2
    assert summary["queue"] == {"rows": 300, "unexported": 0, "set_aside": 0, "oldest_unexported_age_seconds": 0}
    assert summary["runs"] == 3
    text = gw.sink_path.read_text()
    assert "PRIVATE-" not in text and "MARKETING-" not in text
    lines = gw.sink_lines()
    assert len(lines) == 300
    seen = set()
    for line in lines:
        data = json.loads(line["data"])
        ev, md = data["event"], data["metadata"]
        seen.add(ev["id"])
        assert md["identifier"]["unlicensedInstance"]["instanceId"] == "e2e-instance"
        assert line["attributes"]["publisher.source"] == "unlicensed_instance"
        assert ev["source"]["server"]["version"] == "6.2.0"
        assert ev["source"]["client"] == {"name": "VSCode.Cody", "version": "1.2.3"}
        assert "marketingTracking" not in ev
        i = int(ev["parameters"]["metadata"]["count"])
        if ev["feature"] == "cody.chat-question":
            # allowlisted: only the allowed key survives
            assert ev["parameters"]["privateMetadata"] == {"chatModel": f"model-{i}"}
        else:
            assert "privateMetadata" not in ev["parameters"]
    assert len(seen) == 300
    # a second run finds nothing to do; the queue is reported
    p, summary = run_export(gw.addr, queue)
    assert p.returncode == 0, p.stderr
    assert summary["exported"] == 0 and summary["runs"] == 0
    assert "queue: 0 unexported" in p.stderr
    # retention 0 prunes the exported rows
    p, summary = run_export(gw.addr, queue, "--retention-hours", "0")
    assert p.returncode == 0 and summary["pruned"] == 300 and summary["queue"]["rows"] == 0


def test_unreachable_gateway_exits_non_zero_and_keeps_the_queue(tmp_path):
    events = tmp_path / "e.ndjson"
    write_events(events, 50)
    queue = tmp_path / "q.sqlite3"
    p, summary = run_export(f"127.0.0.1:{free_port()}", queue, "--enqueue", events, "--max-attempts", "2")
    assert p.returncode == 1
    assert "50 events remain unexported after 2 attempts" in p.stderr
    assert summary["queue"]["unexported"] == 50
    p, summary = run_export(None, queue, "--enqueue-only")
    assert p.returncode == 0 and summary["queue"]["unexported"] == 50
    # the same ids are not queued twice
    p, _ = run_export(None, queue, "--enqueue-only", "--enqueue", events)
    assert "queued 0, already queued 50" in p.stderr


def test_fault_gateway_killed_and_restarted_mid_export(tmp_path, capsys):
    events = tmp_path / "e.ndjson"
    expected = write_events(events, 20_000)
    queue = tmp_path / "q.sqlite3"
    p, _ = run_export(None, queue, "--enqueue-only", "--enqueue", events)
    assert p.returncode == 0, p.stderr
    port, sink = free_port(), tmp_path / "sink.ndjson"
    gw = start_fixed_gateway(port, sink, tmp_path / "gw.log")
    # small batches and a short pause per run keep the export running for several seconds
    exporter = subprocess.Popen(
        export_cmd(f"127.0.0.1:{port}", queue, "--batch-size", "200", "--testing-pause-after-send-ms", "40", "--max-attempts", "20"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=EXPORT_ENV,
    )
    try:
        deadline = time.time() + 60
        while len(sink_ids(sink)[0]) < 3000 and time.time() < deadline:
            time.sleep(0.02)
        assert exporter.poll() is None, "the export finished before the gateway could be killed"
        gw.send_signal(signal.SIGKILL)
        gw.wait()
        killed_at = len(sink_ids(sink)[0])
        time.sleep(1.5)  # the exporter fails and backs off meanwhile
        gw = start_fixed_gateway(port, sink, tmp_path / "gw.log")
        out, err = exporter.communicate(timeout=240)
    finally:
        if exporter.poll() is None:
            exporter.kill()
        gw.kill()
        gw.wait()
    assert exporter.returncode == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["imperfect_runs"] >= 1 and summary["queue"]["unexported"] == 0
    assert 0 < killed_at < len(expected)
    check_and_report(capsys, "gateway SIGKILL+restart", expected, sink)


def test_fault_sink_rejects_a_share_and_runs_converge(make_gateway, tmp_path, capsys):
    events = tmp_path / "e.ndjson"
    expected = write_events(events, 5_000)
    sink = tmp_path / "faulty.ndjson"
    gw = make_gateway(sink=f"fault:0.3:file:{sink}")
    queue = tmp_path / "q.sqlite3"
    p, summary = run_export(gw.addr, queue, "--enqueue", events, "--batch-size", "1000")
    assert p.returncode == 0, p.stderr
    assert summary["exported"] == 5_000 and summary["queue"]["unexported"] == 0
    assert summary["imperfect_runs"] >= 1 and summary["runs"] > 5
    duplicates = check_and_report(capsys, "sink rejects 30%", expected, sink)
    assert duplicates == 0  # a rejected publish never reached the sink


def test_fault_exporter_killed_between_send_and_ack(make_gateway, tmp_path, capsys):
    events = tmp_path / "e.ndjson"
    expected = write_events(events, 3_000)
    gw = make_gateway()
    queue = tmp_path / "q.sqlite3"
    exporter = subprocess.Popen(
        export_cmd(gw.addr, queue, "--enqueue", events, "--batch-size", "1000", "--testing-pause-after-send-ms", "60000"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=EXPORT_ENV,
    )
    try:
        line = ""
        deadline = time.time() + 60
        while "pausing" not in line and time.time() < deadline:
            line = exporter.stderr.readline()
            assert line or exporter.poll() is None, "exporter ended early"
        assert "TESTING: 1000 acknowledged" in line
        exporter.send_signal(signal.SIGKILL)
        exporter.wait()
    finally:
        if exporter.poll() is None:
            exporter.kill()
    # the gateway published the first batch, the exporter never marked it
    assert len(gw.sink_lines()) == 1000
    p, summary = run_export(gw.addr, queue)
    assert p.returncode == 0, p.stderr
    assert summary["exported"] == 3_000
    duplicates = check_and_report(capsys, "exporter SIGKILL between send and ack", expected, gw.sink_path)
    assert duplicates == 1000  # exactly the unmarked batch, resent (at-least-once)
