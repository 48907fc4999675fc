"""The live event inspector (issue #11) against the real binary: every REST filter and paging,
one event, the summary and reset, the bounds (oldest first, bytes under a flood, a stalled live
reader, the subscriber limit), security (Host check, bearer token, off), and `tail`."""

import json
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from conftest import ev_req, event, gateway_bin, md_req, pb, stream, unlicensed_metadata

# Exact upstream messages (core/src/validate.rs).
BAD_FEATURE_ERROR = (
    "invalid event 'feature' or 'action': 'feature' must start with a lowercase letter "
    "and contain only letters, dashes, and dots"
)


def api(gw, path, token=None, host=None, method="GET"):
    """(status, JSON body) of an inspector request."""
    req = urllib.request.Request(f"http://{gw.diagnostics}{path}", method=method)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    if host:
        req.add_header("Host", host)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def ids(gw, query=""):
    status, body = api(gw, "/inspector/api/events?" + query)
    assert status == 200, body
    return [e["eventId"] for e in body["events"]]


def licensed_metadata(instance_id="inst-b"):
    return pb.RecordEventsRequestMetadata(
        request_id="req-b",
        identifier=pb.Identifier(
            licensed_instance=pb.Identifier.LicensedInstanceIdentifier(license_key="key", instance_id=instance_id)
        ),
    )


def send(gw, metadata, events):
    return list(gw.stub.RecordEvents(stream(md_req(metadata), ev_req(events)), timeout=60))


def big_event(i, size):
    e = event(i)
    e.parameters.private_metadata["blob"] = "x" * size
    return e


def no_timestamp(i):
    e = pb.Event(id=str(i), feature="search", action="viewed")
    return e


def test_every_filter_paging_one_summary_and_reset(make_gateway):
    gw = make_gateway("--insecure-accept-unverified-license-keys")
    needle = event("e3", feature="cody.completion", action="accepted")
    needle.parameters.private_metadata["prompt"] = "find the Needle-Text here"
    send(gw, unlicensed_metadata(request_id="req-a", instance_id="inst-a"), [
        event("e1"),
        event("e2", feature="Bad"),
        needle,
        big_event("e4", 10_000_001),
    ])
    time.sleep(0.05)
    between_ms = int(time.time() * 1000)
    time.sleep(0.05)
    send(gw, licensed_metadata(), [event("e5", action="viewed"), no_timestamp("e6")])

    # newest first, everything
    assert ids(gw) == ["e6", "e5", "e4", "e3", "e2", "e1"]
    # outcome (one, a list, repeated)
    assert ids(gw, "outcome=rejected") == ["e6", "e2"]
    assert ids(gw, "outcome=rejected,dropped_oversized") == ["e6", "e4", "e2"]
    assert ids(gw, "outcome=published&outcome=dropped_oversized") == ["e5", "e4", "e3", "e1"]
    # feature / action (exact, and prefix with *)
    assert ids(gw, "feature=search") == ["e6", "e5", "e4", "e1"]
    assert ids(gw, "feature=cody.*") == ["e3"]
    assert ids(gw, "action=viewed") == ["e6", "e5"]
    assert ids(gw, "feature=search&action=submitted") == ["e4", "e1"]
    # publisher source / instance
    assert ids(gw, "source=licensed_instance") == ["e6", "e5"]
    assert ids(gw, "source=unlicensed_instance") == ["e4", "e3", "e2", "e1"]
    assert ids(gw, "instance=inst-a") == ["e4", "e3", "e2", "e1"]
    assert ids(gw, "instance=inst-b") == ["e6", "e5"]
    assert ids(gw, "eventId=e3") == ["e3"]
    # text search in the body (ASCII case ignored), and in a rejected event's decoded JSON
    assert ids(gw, "q=needle-text") == ["e3"]
    assert ids(gw, "q=" + urllib.parse.quote('"feature":"Bad"')) == ["e2"]
    assert ids(gw, "q=nothing-matches-this") == []
    # time range, in ms and in RFC 3339
    assert ids(gw, f"since={between_ms}") == ["e6", "e5"]
    assert ids(gw, f"until={between_ms}") == ["e4", "e3", "e2", "e1"]
    iso = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(between_ms // 1000)) + f".{between_ms % 1000:03d}Z"
    assert ids(gw, "since=" + urllib.parse.quote(iso)) == ["e6", "e5"]
    assert ids(gw, "since=0&until=1") == []

    # paging: limit + before, the cursor in nextBefore; after
    status, page1 = api(gw, "/inspector/api/events?limit=4")
    assert [e["eventId"] for e in page1["events"]] == ["e6", "e5", "e4", "e3"]
    assert page1["matched"] == 6 and page1["retained"] == 6 and page1["newestSeq"] == 6
    status, page2 = api(gw, f"/inspector/api/events?limit=4&before={page1['nextBefore']}")
    assert [e["eventId"] for e in page2["events"]] == ["e2", "e1"]
    assert page2["nextBefore"] is None
    assert ids(gw, "after=4") == ["e6", "e5"]
    assert ids(gw, "after=2&before=5") == ["e4", "e3"]

    # rows by default, whole entries with full=true
    rows = api(gw, "/inspector/api/events?eventId=e1")[1]["events"]
    assert "event" not in rows[0] and rows[0]["outcome"] == "published"
    full = api(gw, "/inspector/api/events?eventId=e1&full=true")[1]["events"][0]
    assert full["event"]["id"] == "e1" and full["attributes"]["event.feature"] == "search"
    # the exact message body, as the sink got it
    sunk = {json.loads(l["data"])["event"]["id"]: l for l in gw.sink_lines()}
    assert json.dumps(full["body"], separators=(",", ":")) == sunk["e1"]["data"]
    assert full["attributes"] == sunk["e1"]["attributes"]

    # one event by seq: a rejected one shows its decoded event, exact reason and error
    by_id = {e["eventId"]: e for e in api(gw, "/inspector/api/events")[1]["events"]}
    status, bad = api(gw, f"/inspector/api/events/{by_id['e2']['seq']}")
    assert status == 200
    assert bad["outcome"] == "rejected" and bad["reason"] == "invalid_feature_or_action"
    assert bad["error"] == BAD_FEATURE_ERROR
    assert bad["event"]["feature"] == "Bad" and bad["event"]["id"] == "e2"
    assert bad["body"] is None and bad["attributes"] is None
    assert bad["metadata"]["identifier"]["unlicensedInstance"]["instanceId"] == "inst-a"
    status, nots = api(gw, f"/inspector/api/events/{by_id['e6']['seq']}")
    assert (nots["reason"], nots["error"]) == ("event_timestamp_required", "event timestamp is required")
    assert nots["publisherSource"] == "licensed_instance" and nots["instance"] == "inst-b"
    status, big = api(gw, f"/inspector/api/events/{by_id['e4']['seq']}")
    assert big["outcome"] == "dropped_oversized" and big["bodyBytes"] >= 10_000_000
    assert "dropped" in big["note"] and big["body"] is None
    assert api(gw, "/inspector/api/events/999")[0] == 404
    assert api(gw, "/inspector/api/events/abc")[0] == 400

    # malformed queries are refused with the reason
    for q, fragment in [
        ("outcome=ok", "unknown outcome"),
        ("featur=x", "unknown query parameter"),
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("since=yesterday", "is not a time"),
        ("full=maybe", "true or false"),
    ]:
        status, body = api(gw, "/inspector/api/events?" + q)
        assert status == 400 and fragment in body["error"], (q, body)

    # summary: counts by outcome and by feature/action, rates, sizes, limits
    status, s = api(gw, "/inspector/api/summary")
    assert s["counts"] == {"published": 3, "rejected": 2, "dropped_oversized": 1, "publish_failed": 0, "total": 6}
    groups = {(g["feature"], g["action"]): g for g in s["matching"]["byFeatureAction"]}
    assert groups[("search", "submitted")]["total"] == 2
    assert groups[("search", "submitted")]["dropped_oversized"] == 1
    assert groups[("Bad", "submitted")]["rejected"] == 1
    assert s["rates"]["windowSeconds"] == 60 and len(s["rates"]["series"]) == 60
    assert sum(sum(p[o] for o in ("published", "rejected", "dropped_oversized", "publish_failed")) for p in s["rates"]["series"]) == 6
    assert s["rates"]["eventsPerSecond"]["total"] > 0
    assert s["retained"]["events"] == 6 and 0 < s["retained"]["bytes"] <= s["limits"]["maxBytes"]
    assert s["limits"]["capacity"] == 1000
    status, s = api(gw, "/inspector/api/summary?outcome=rejected")
    assert s["matching"]["counts"]["total"] == 2 and s["counts"]["total"] == 6

    # reset forgets entries and counters; sequence numbers keep increasing
    status, r = api(gw, "/inspector/api/events", method="DELETE")
    assert status == 200 and r["reset"] is True
    assert ids(gw) == []
    assert api(gw, "/inspector/api/summary")[1]["counts"]["total"] == 0
    send(gw, unlicensed_metadata(), [event("after-reset")])
    status, body = api(gw, "/inspector/api/events")
    assert body["events"][0]["seq"] == 7 and body["events"][0]["eventId"] == "after-reset"


def test_publish_failed_is_recorded_with_the_sink_error(make_gateway, tmp_path):
    gw = make_gateway(sink=f"fault:1.0:file:{tmp_path / 'never.ndjson'}")
    responses = send(gw, unlicensed_metadata(), [event("f1")])
    assert list(responses[0].succeeded_events) == []  # not acknowledged: the client retries
    status, body = api(gw, "/inspector/api/events?outcome=publish_failed&full=true")
    [e] = body["events"]
    assert e["eventId"] == "f1" and e["error"].startswith("publishing event: ")
    assert e["body"]["event"]["id"] == "f1"  # what would have been published


def test_oldest_entries_go_first(make_gateway):
    gw = make_gateway("--inspector-capacity", "5")
    for i in range(1, 9):
        send(gw, unlicensed_metadata(), [event(f"n{i}")])
    assert ids(gw) == ["n8", "n7", "n6", "n5", "n4"]
    s = api(gw, "/inspector/api/summary")[1]
    assert s["retained"]["events"] == 5 and s["retained"]["evicted"] == 3
    assert (s["retained"]["oldestSeq"], s["retained"]["newestSeq"]) == (4, 8)
    assert s["counts"]["published"] == 8
    assert api(gw, "/inspector/api/events/3")[0] == 404
    assert api(gw, "/inspector/api/events/4")[0] == 200


def vm_kib(pid, field):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(field)


def test_memory_stays_bounded_under_a_flood(make_gateway):
    limit = 1024 * 1024
    gw = make_gateway("--inspector-max-bytes", "1MiB", "--inspector-capacity", "100000")
    # A live reader that never reads, on a tiny receive window: it must not hold entries either.
    stalled = socket.socket()
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    host, port = gw.diagnostics.rsplit(":", 1)
    stalled.connect((host, int(port)))
    stalled.sendall(b"GET /inspector/api/stream?full=true HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    deadline = time.time() + 10
    while api(gw, "/inspector/api/summary")[1]["subscribers"] < 1:
        assert time.time() < deadline
        time.sleep(0.05)
    # 40 payloads x 20 events x 250 KB of private metadata: 200 MB through the gateway.
    sent = 0
    for p in range(40):
        send(gw, unlicensed_metadata(), [big_event(f"b{p}-{i}", 250_000) for i in range(20)])
        sent += 20
        s = api(gw, "/inspector/api/summary")[1]
        assert s["retained"]["bytes"] <= limit, s["retained"]
    # small events too, so the count is far above what fits
    for p in range(10):
        send(gw, unlicensed_metadata(), [event(f"s{p}-{i}") for i in range(500)])
        sent += 500
    s = api(gw, "/inspector/api/summary")[1]
    assert s["counts"]["total"] == sent
    assert s["retained"]["bytes"] <= limit
    assert s["retained"]["events"] < sent and s["retained"]["evicted"] == sent - s["retained"]["events"]
    assert s["retained"]["newestSeq"] == sent and s["retained"]["oldestSeq"] == sent - s["retained"]["events"] + 1
    peak_mib = vm_kib(gw.proc.pid, "VmHWM") / 1024
    print(f"\ninspector flood: {sent} events (200 MB of bodies), kept {s['retained']['events']} in {s['retained']['bytes']} bytes; gateway peak RSS {peak_mib:.1f} MiB")
    # Unbounded, the bodies alone would be 200 MB; the gateway's own working set is a few
    # 5 MB payloads.
    assert peak_mib < 120, peak_mib
    # The stalled reader is told what it missed once it reads again.
    stalled.settimeout(10)
    seen = b""
    deadline = time.time() + 20
    while b"event: lagged" not in seen and time.time() < deadline:
        chunk = stalled.recv(65536)
        if not chunk:
            break
        seen += chunk
        seen = seen[-200_000:]
    stalled.close()
    assert b"event: lagged" in seen


def test_live_subscribers_are_bounded(make_gateway):
    gw = make_gateway()
    host, port = gw.diagnostics.rsplit(":", 1)
    socks = []
    for _ in range(16):
        s = socket.create_connection((host, int(port)), timeout=10)
        s.sendall(b"GET /inspector/api/stream?stats=false HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert b"200 OK" in s.recv(4096)
        socks.append(s)
    status, body = api(gw, "/inspector/api/stream")
    assert status == 503 and "16 live streams" in body["error"]
    socks.pop().close()
    deadline = time.time() + 10
    while api(gw, "/inspector/api/summary")[1]["subscribers"] > 15:
        assert time.time() < deadline
        time.sleep(0.05)
    s = socket.create_connection((host, int(port)), timeout=10)
    s.sendall(b"GET /inspector/api/stream?stats=false HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert b"200 OK" in s.recv(4096)
    socks.append(s)
    for s in socks:
        s.close()


def test_host_check_without_a_token(make_gateway):
    gw = make_gateway()
    port = gw.diagnostics.rsplit(":", 1)[1]
    status, body = api(gw, "/inspector/api/events", host=f"evil.example.com:{port}")
    assert status == 403 and "DNS-rebinding" in body["error"]
    assert api(gw, "/inspector/api/events", host=f"localhost:{port}")[0] == 200
    assert api(gw, "/inspector/api/events", host=f"127.0.0.1:{port}")[0] == 200


def test_bearer_token(make_gateway):
    gw = make_gateway("--inspector-token", "s3cret")
    req = urllib.request.Request(f"http://{gw.diagnostics}/inspector/api/events")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=10)
    assert e.value.code == 401 and e.value.headers["www-authenticate"].startswith("Bearer")
    assert api(gw, "/inspector/api/events", token="wrong")[0] == 401
    assert api(gw, "/inspector/api/stream", token="wrong")[0] == 401
    assert api(gw, "/inspector/api/events", token="s3cret")[0] == 200
    # with a token, any Host is served
    assert api(gw, "/inspector/api/events", token="s3cret", host="inspector.example.com")[0] == 200
    # the page itself holds no data and loads without the token
    with urllib.request.urlopen(f"http://{gw.diagnostics}/inspector/", timeout=10) as r:
        assert r.status == 200
        assert "script-src 'self'" in r.headers["content-security-policy"]
        assert b"Event inspector" in r.read()


def test_inspector_off(make_gateway):
    gw = make_gateway("--inspector", "off")
    status, body = api(gw, "/inspector/api/events")
    assert status == 404 and "inspector is off" in body["error"]
    assert '"inspector":"off"' in gw.logs()
    send(gw, unlicensed_metadata(), [event("x")])
    assert len(gw.sink_lines()) == 1


def test_page_and_assets_are_embedded(make_gateway):
    gw = make_gateway()
    base = f"http://{gw.diagnostics}/inspector/"
    for path, ctype in [("", "text/html"), ("app.js", "text/javascript"), ("style.css", "text/css")]:
        with urllib.request.urlopen(base + path, timeout=10) as r:
            assert r.headers["content-type"].startswith(ctype)
            body = r.read().decode()
            # nothing from another origin
            assert "http://" not in body and "https://" not in body, path


def tail(gw, *args, timeout=30):
    return subprocess.Popen(
        [gateway_bin(), "tail", "--gateway-diagnostics", gw.diagnostics, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ), timeout


def wait_subscribers(gw, n, token=None):
    deadline = time.time() + 15
    while api(gw, "/inspector/api/summary", token=token)[1]["subscribers"] < n:
        assert time.time() < deadline, "tail did not connect"
        time.sleep(0.05)


def test_tail_prints_one_line_per_event(make_gateway):
    gw = make_gateway()
    send(gw, unlicensed_metadata(instance_id="inst-t"), [event("past-1")])
    proc, timeout = tail(gw, "--lines", "5", "--count", "3", "--outcome", "rejected,published")
    wait_subscribers(gw, 1)
    send(gw, unlicensed_metadata(instance_id="inst-t"), [event("live-1"), event("live-bad", feature="Bad")])
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err
    lines = out.splitlines()
    assert len(lines) == 3, out
    assert " published " in lines[0] and "search/submitted  id=past-1  unlicensed_instance/inst-t" in lines[0]
    assert "id=live-1" in lines[1]
    assert " rejected " in lines[2] and "Bad/submitted  id=live-bad" in lines[2]
    assert lines[2].endswith("invalid_feature_or_action: " + BAD_FEATURE_ERROR)

    # --json: one object per line; filters apply
    proc, timeout = tail(gw, "--json", "--lines", "0", "--count", "1", "--feature", "cody.*")
    wait_subscribers(gw, 1)
    send(gw, unlicensed_metadata(), [event("skip-me"), event("json-1", feature="cody.chat")])
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err
    [row] = [json.loads(l) for l in out.splitlines()]
    assert row["eventId"] == "json-1" and row["outcome"] == "published" and row["feature"] == "cody.chat"

    # --json --full: the decoded event
    proc, timeout = tail(gw, "--json", "--full", "--lines", "1", "--count", "1")
    out, err = proc.communicate(timeout=timeout)
    assert json.loads(out)["event"]["id"] == "json-1"


def test_tail_errors_are_clear(make_gateway):
    gw = make_gateway("--inspector-token", "t0k")
    proc, timeout = tail(gw, "--count", "1")
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 1 and "401" in err and "--inspector-token" in err
    proc, timeout = tail(gw, "--token", "t0k", "--lines", "0", "--count", "1")
    wait_subscribers(gw, 1, token="t0k")
    send(gw, unlicensed_metadata(), [event("with-token")])
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0 and "id=with-token" in out, err
    proc, timeout = tail(gw, "--token", "t0k", "--outcome", "nope")
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 1 and "unknown outcome" in err
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    proc = subprocess.run(
        [gateway_bin(), "tail", "--gateway-diagnostics", f"127.0.0.1:{port}"],
        capture_output=True, text=True, timeout=30,
    )
    assert proc.returncode == 1 and "is the gateway running" in proc.stderr


def test_record_rate_bounds_details_not_counts(make_gateway):
    # Each budget (published, and the others) bursts to the capacity, then refills at 1/s.
    gw = make_gateway("--inspector-capacity", "20", "--inspector-max-rate", "1")
    proc, timeout = tail(gw, "--lines", "0")
    wait_subscribers(gw, 1)
    send(gw, unlicensed_metadata(), [event(f"ok{i}") for i in range(60)] + [event(f"bad{i}", feature="Bad") for i in range(60)])
    s = api(gw, "/inspector/api/summary")[1]
    assert s["counts"]["published"] == 60 and s["counts"]["rejected"] == 60
    assert s["notKept"] == 80 and s["limits"]["maxRate"] == 1
    # 20 of each kind kept, in order; the store holds the newest 20
    assert ids(gw) == [f"bad{i}" for i in range(19, -1, -1)]
    assert s["rates"]["eventsPerSecond"]["total"] > 0
    # tail says so on standard error (once a second, from the stream's stats)
    deadline = time.time() + 10
    err = ""
    import select
    while "not kept" not in err and time.time() < deadline:
        ready, _, _ = select.select([proc.stderr], [], [], 0.5)
        if ready:
            err += proc.stderr.readline()
    proc.terminate()
    out, rest = proc.communicate(timeout=timeout)
    assert "80 events over the inspector's record rate (--inspector-max-rate) were counted but not kept" in err + rest
    assert len(out.splitlines()) == 40
