"""Shared fixtures for the gateway's end-to-end tests.

The client is independent of the Rust code: Python grpcio stubs generated at test time from
proto/telemetrygateway/v1/telemetrygateway.proto. The gateway binary comes from
$TELEMETRY_GATEWAY_BIN (scripts/test-gateway-e2e builds it and sets it).
"""

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
PROTO_ROOT = REPO / "proto"

_stub_dir = tempfile.mkdtemp(prefix="tg-stubs-")
subprocess.run(
    [
        sys.executable,
        "-m",
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"--python_out={_stub_dir}",
        f"--grpc_python_out={_stub_dir}",
        "telemetrygateway/v1/telemetrygateway.proto",
    ],
    check=True,
)
for d in ("telemetrygateway", "telemetrygateway/v1"):
    Path(_stub_dir, d, "__init__.py").touch()
sys.path.insert(0, _stub_dir)

import grpc  # noqa: E402
from telemetrygateway.v1 import telemetrygateway_pb2 as pb  # noqa: E402
from telemetrygateway.v1 import telemetrygateway_pb2_grpc as pb_grpc  # noqa: E402

GOOD_TOKEN = "good-token"
NO_SCOPE_TOKEN = "no-scope-token"
INACTIVE_TOKEN = "inactive-token"
PREFIX_SCOPE_TOKEN = "prefix-scope-token"
FAIL_TOKEN = "introspection-fails"


def gateway_bin():
    path = os.environ.get("TELEMETRY_GATEWAY_BIN")
    if not path:
        pytest.skip("TELEMETRY_GATEWAY_BIN not set (run scripts/test-gateway-e2e)")
    return path


class Gateway:
    """A gateway process on a free loopback port with a file sink in a temp dir."""

    def __init__(self, tmp, extra_args=(), sink=None, env=None):
        self.tmp = Path(tmp)
        self.sink_path = self.tmp / "events.ndjson"
        self.log_path = self.tmp / "gateway.log"
        sink = sink or f"file:{self.sink_path}"
        args = [
            gateway_bin(),
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--diagnostics-listen",
            "127.0.0.1:0",
            "--sink",
            sink,
            "--log-format",
            "json",
            *extra_args,
        ]
        self.log = open(self.log_path, "w")
        full_env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEMETRY_GATEWAY_", "SAMS_"))}
        full_env.update(env or {})
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=self.log, env=full_env)
        self.addr = None
        self.diagnostics = None
        deadline = time.time() + 30
        while time.time() < deadline and self.addr is None:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gateway exited: {self.log_path.read_text()}")
            for line in self.log_path.read_text().splitlines():
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                fields = rec.get("fields", {})
                if "listen" in fields:
                    self.addr = fields["listen"]
                    self.diagnostics = fields.get("diagnostics")
            time.sleep(0.05)
        if self.addr is None:
            self.stop()
            raise RuntimeError("gateway did not start")
        self.channel = grpc.insecure_channel(
            self.addr,
            options=[("grpc.max_send_message_length", 100 * 1024 * 1024)],
        )
        grpc.channel_ready_future(self.channel).result(timeout=10)
        self.stub = pb_grpc.TelemeteryGatewayServiceStub(self.channel)

    def sink_lines(self):
        if not self.sink_path.exists():
            return []
        return [json.loads(l) for l in self.sink_path.read_text().splitlines() if l]

    def logs(self):
        return self.log_path.read_text()

    def stop(self, timeout=10):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


class _Introspection(BaseHTTPRequestHandler):
    requests = []

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        _Introspection.requests.append(
            {"path": self.path, "body": body, "auth": self.headers.get("Authorization"), "ctype": self.headers.get("Content-Type")}
        )
        token = body[len("token="):] if body.startswith("token=") else ""
        if token == FAIL_TOKEN or self.path != "/oauth/introspect":
            self.send_response(500)
            self.end_headers()
            return
        resp = {"active": False}
        if token == GOOD_TOKEN:
            resp = {"active": True, "scope": "openid telemetry_gateway::events::write", "client_id": "svc", "exp": int(time.time()) + 3600}
        elif token == PREFIX_SCOPE_TOKEN:
            resp = {"active": True, "scope": "telemetry_gateway::events.sub::write", "client_id": "svc"}
        elif token == NO_SCOPE_TOKEN:
            resp = {"active": True, "scope": "telemetry_gateway::events::read other::events::write", "client_id": "svc"}
        data = json.dumps(resp).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture(scope="session")
def sams_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Introspection)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", _Introspection.requests
    server.shutdown()


def sams_args(url):
    return ["--sams-server-url", url + "/", "--sams-client-id", "gw-client", "--sams-client-secret", "gw-secret", "--sams-cache-ttl-seconds", "0"]


@pytest.fixture
def make_gateway(tmp_path):
    started = []

    def make(*extra_args, sink=None, env=None, name=None):
        d = tmp_path / (name or f"gw{len(started)}")
        d.mkdir()
        g = Gateway(d, extra_args, sink=sink, env=env)
        started.append(g)
        return g

    yield make
    for g in started:
        g.stop()


def unlicensed_metadata(request_id="req-1", instance_id="instance-1"):
    return pb.RecordEventsRequestMetadata(
        request_id=request_id,
        identifier=pb.Identifier(unlicensed_instance=pb.Identifier.UnlicensedInstanceIdentifier(instance_id=instance_id)),
    )


def managed_metadata(service_id="svc-1"):
    return pb.RecordEventsRequestMetadata(
        request_id="req-m",
        identifier=pb.Identifier(managed_service=pb.Identifier.ManagedServiceIdentifier(service_id=service_id)),
    )


def event(i, feature="search", action="submitted"):
    e = pb.Event(id=str(i), feature=feature, action=action)
    e.timestamp.FromSeconds(1_719_837_296)
    e.source.server.version = "5.5.0"
    e.parameters.metadata["count"] = float(len(str(i)))
    return e


def stream(*messages):
    for m in messages:
        yield m


def md_req(metadata):
    return pb.RecordEventsRequest(metadata=metadata)


def ev_req(events):
    return pb.RecordEventsRequest(events=pb.RecordEventsRequest.EventsPayload(events=list(events)))
