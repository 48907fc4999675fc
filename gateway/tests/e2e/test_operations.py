"""Operations: gRPC health, server reflection, gRPC-Web with CORS, Prometheus metrics, the
dead-letter sink, graceful shutdown, and the defaults of a bare `telemetry-gateway`."""

import json
import signal
import struct
import subprocess
import time
import urllib.request

import grpc

from conftest import ev_req, event, gateway_bin, md_req, pb, stream, unlicensed_metadata


def test_health_reports_serving(make_gateway):
    gw = make_gateway()
    check = gw.channel.unary_unary("/grpc.health.v1.Health/Check")
    # HealthCheckRequest{service} / HealthCheckResponse{status=1 SERVING}
    svc = b"telemetrygateway.v1.TelemeteryGatewayService"
    assert check(b"", timeout=10) == b"\x08\x01"
    assert check(b"\x0a" + bytes([len(svc)]) + svc, timeout=10) == b"\x08\x01"


def test_reflection_lists_the_service(make_gateway):
    gw = make_gateway()
    call = gw.channel.stream_stream("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo")
    # ServerReflectionRequest{list_services = 7: ""}
    responses = list(call(iter([b"\x3a\x00"]), timeout=10))
    assert b"telemetrygateway.v1.TelemeteryGatewayService" in responses[0]


def test_grpc_web_and_cors(make_gateway):
    gw = make_gateway("--cors-allowed-origins", "https://app.example.com")
    url = f"http://{gw.addr}/telemetrygateway.v1.TelemeteryGatewayService/RecordEvent"
    pre = urllib.request.Request(url, method="OPTIONS", headers={
        "Origin": "https://app.example.com",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-grpc-web",
    })
    with urllib.request.urlopen(pre, timeout=10) as r:
        assert r.headers["access-control-allow-origin"] == "https://app.example.com"
    body = pb.RecordEventRequest(metadata=unlicensed_metadata(), event=event(1)).SerializeToString()
    req = urllib.request.Request(url, data=b"\x00" + struct.pack(">I", len(body)) + body, method="POST", headers={
        "Content-Type": "application/grpc-web+proto", "X-Grpc-Web": "1", "Origin": "https://app.example.com",
    })
    with urllib.request.urlopen(req, timeout=10) as r:
        payload = r.read()
        status = r.headers.get("grpc-status")
        if status is None:  # trailers in the body's trailer frame
            assert b"grpc-status:12" in payload.replace(b" ", b"")
        else:
            assert status == "12"  # Unimplemented: RecordEvent is for managed services only


def test_metrics_and_dead_letters(make_gateway, tmp_path):
    dead = tmp_path / "dead.ndjson"
    gw = make_gateway("--dead-letter-sink", f"file:{dead}")
    list(gw.stub.RecordEvents(stream(md_req(unlicensed_metadata(request_id="dl")), ev_req([event("ok"), event("bad", feature="Bad")])), timeout=30))
    letters = [json.loads(l) for l in dead.read_text().splitlines()]
    assert len(letters) == 1
    body = json.loads(letters[0]["data"])
    assert body["reason"] == "invalid_feature_or_action" and body["eventId"] == "bad"
    assert body["requestId"] == "dl" and body["eventProtobuf"]
    assert letters[0]["attributes"] == {"dead_letter.reason": "invalid_feature_or_action", "publisher.source": "unlicensed_instance"}
    text = urllib.request.urlopen(f"http://{gw.diagnostics}/metrics", timeout=10).read().decode()
    assert 'telemetry_gateway_events_total{kind="unlicensed_instance",outcome="published"} 1' in text
    assert 'telemetry_gateway_events_total{kind="unlicensed_instance",outcome="rejected"} 1' in text
    assert 'telemetry_gateway_requests_total{code="Ok",rpc="RecordEvents"} 1' in text
    assert "telemetry_gateway_publish_duration_seconds_bucket" in text
    assert "telemetry_gateway_message_bytes_bucket" in text


def test_graceful_shutdown_finishes_in_flight_payloads(make_gateway):
    gw = make_gateway()
    n = 200

    def requests():
        yield md_req(unlicensed_metadata())
        for i in range(n):
            if i == 20:
                gw.proc.send_signal(signal.SIGTERM)
            yield ev_req([event(f"g{i}-{j}") for j in range(10)])

    responses = [list(r.succeeded_events) for r in gw.stub.RecordEvents(requests(), timeout=60)]
    assert len(responses) == n
    assert gw.proc.wait(timeout=30) == 0
    assert len(gw.sink_lines()) == n * 10
    assert "sink flushed" in gw.logs()


def test_defaults_without_options(tmp_path):
    proc = subprocess.Popen([gateway_bin()], cwd=tmp_path, stderr=subprocess.PIPE, text=True,
                            env={"PATH": "/usr/bin:/bin", "TELEMETRY_GATEWAY_DIAGNOSTICS_LISTEN": "off"})
    try:
        line = ""
        deadline = time.time() + 20
        while "listening" not in line and time.time() < deadline:
            line = proc.stderr.readline()
        assert "127.0.0.1:10080" in line
        assert str(tmp_path / "telemetry-events.ndjson") in line
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_help_documents_options():
    out = subprocess.run([gateway_bin(), "serve", "--help"], capture_output=True, text=True, check=True).stdout
    for opt in ["--listen", "--sink", "--pubsub-endpoint", "--dead-letter-sink", "--publish-concurrency",
                "TELEMETRY_GATEWAY_EVENTS_STREAM_PUBLISH_CONCURRENCY", "SAMS_URL", "--license-public-keys",
                "--refuse-unlicensed-instances", "--cors-allowed-origins", "--diagnostics-listen", "--log-format"]:
        assert opt in out
