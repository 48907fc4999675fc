"""The Pub/Sub sink against the local Pub/Sub emulator: publish over the gateway, then pull from
a subscription (emulator REST API) and compare data and attributes with what the file sink
writes for the same events."""

import base64
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import ev_req, event, md_req, stream, unlicensed_metadata

EMULATOR = Path("/usr/lib/google-cloud-sdk/platform/pubsub-emulator/bin/cloud-pubsub-emulator")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rest(method, url, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read() or b"{}")


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    if not EMULATOR.exists():
        pytest.skip("Pub/Sub emulator not installed")
    port = free_port()
    log = open(tmp_path_factory.mktemp("emulator") / "emulator.log", "w")
    proc = subprocess.Popen(
        [str(EMULATOR), "--host=127.0.0.1", f"--port={port}"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                urllib.request.urlopen(base, timeout=1).read()
                break
            except OSError:
                if time.time() > deadline or proc.poll() is not None:
                    pytest.fail("Pub/Sub emulator did not start")
                time.sleep(0.2)
        yield base
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def test_publish_to_emulator_and_pull(emulator, make_gateway):
    project, topic, sub = "tg-test", "events", "events-sub"
    rest("PUT", f"{emulator}/v1/projects/{project}/topics/{topic}", {})
    rest("PUT", f"{emulator}/v1/projects/{project}/subscriptions/{sub}", {"topic": f"projects/{project}/topics/{topic}"})

    events = [event(f"ps-{i}") for i in range(20)]
    events.append(event("ps-private"))
    events[-1].parameters.private_metadata.update({"k": "v"})
    events[-1].parameters.metadata["recordsPrivateMetadataTranscript"] = 1.0
    msgs = [md_req(unlicensed_metadata(request_id="pubsub")), ev_req(events[:10]), ev_req(events[10:])]

    ps = make_gateway("--pubsub-endpoint", emulator, sink=f"pubsub:projects/{project}/topics/{topic}", name="pubsub")
    responses = [list(r.succeeded_events) for r in ps.stub.RecordEvents(stream(*msgs), timeout=60)]
    assert responses == [[e.id for e in events[:10]], [e.id for e in events[10:]]]
    ps.stop()

    # The same stream through the file sink gives the expected messages.
    fs = make_gateway(name="file")
    list(fs.stub.RecordEvents(stream(*msgs), timeout=60))
    expected = sorted(fs.sink_lines(), key=lambda m: m["data"])

    pulled = []
    deadline = time.time() + 30
    while len(pulled) < len(events) and time.time() < deadline:
        r = rest("POST", f"{emulator}/v1/projects/{project}/subscriptions/{sub}:pull", {"maxMessages": 100})
        got = r.get("receivedMessages", [])
        if got:
            rest("POST", f"{emulator}/v1/projects/{project}/subscriptions/{sub}:acknowledge", {"ackIds": [m["ackId"] for m in got]})
        for m in got:
            msg = m["message"]
            pulled.append({"data": base64.b64decode(msg["data"]).decode(), "attributes": msg.get("attributes", {})})
    pulled.sort(key=lambda m: m["data"])
    assert len(pulled) == len(events)
    assert pulled == expected
    private = [m for m in pulled if '"ps-private"' in m["data"]][0]
    assert private["attributes"]["event.hasPrivateMetadata"] == "true"
    assert private["attributes"]["event.recordsPrivateMetadataTranscript"] == "true"


def test_health_reports_missing_topic(emulator, make_gateway):
    gw = make_gateway("--pubsub-endpoint", emulator, sink="pubsub:projects/tg-test/topics/does-not-exist")
    deadline = time.time() + 20
    status = None
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://{gw.diagnostics}/healthz", timeout=5)
            status = 200
        except urllib.error.HTTPError as e:
            status = e.code
            break
        time.sleep(0.5)
    assert status == 503
