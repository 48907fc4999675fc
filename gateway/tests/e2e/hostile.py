"""Tools for the hostile-client tests (test_hostile.py): a raw HTTP/2 gRPC client that misbehaves
on purpose, a well-behaved exporter that runs beside every attack, and measurements of the
gateway process (peak RSS, open sockets). Loopback only; every loop is bounded in time."""

import json
import socket
import struct
import threading
import time
import urllib.parse

import grpc
import h2.config
import h2.connection
import h2.events
import h2.settings

from conftest import pb, pb_grpc

SERVICE = "/telemetrygateway.v1.TelemeteryGatewayService/"


def grpc_frame(message_bytes):
    """gRPC's length-prefixed framing of one message."""
    return b"\x00" + struct.pack(">I", len(message_bytes)) + message_bytes


def tiny_event(i, prefix="t"):
    """The smallest valid event: id, feature, action, timestamp."""
    e = pb.Event(id=f"{prefix}{i}", feature="a.b", action="cd")
    e.timestamp.seconds = 1_719_837_296
    return e


class Proc:
    """Measurements of a running process from /proc."""

    def __init__(self, pid):
        self.pid = pid

    def _status_kib(self, key):
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
        raise KeyError(key)

    def peak_rss_mib(self):
        return self._status_kib("VmHWM") / 1024

    def rss_mib(self):
        return self._status_kib("VmRSS") / 1024

    def tcp_connections(self, port):
        """Established TCP connections whose local port is `port` (the gateway's side)."""
        n = 0
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            try:
                with open(table) as f:
                    next(f)
                    for line in f:
                        parts = line.split()
                        local, state = parts[1], parts[3]
                        if state == "01" and int(local.rsplit(":", 1)[1], 16) == port:
                            n += 1
            except FileNotFoundError:
                pass
        return n


class RawH2:
    """A gRPC client over a plain socket and the `h2` state machine: it sends exactly what it is
    told, reads frames only when asked, and acknowledges response data only if `read_data`."""

    def __init__(self, addr, read_data=True, window=65535):
        host, port = addr.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        self.conn.local_settings = h2.settings.Settings(
            client=True, initial_values={h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: window}
        )
        self.conn.initiate_connection()
        self.addr = addr
        self.read_data = read_data
        self.data = {}
        self.trailers = {}
        self.headers = {}
        self.resets = {}
        self.closed = False
        self.refused = 0
        self._flush()

    def _flush(self):
        out = self.conn.data_to_send()
        if out:
            self.sock.sendall(out)

    def open_stream(self, method="RecordEvents"):
        sid = self.conn.get_next_available_stream_id()
        self.conn.send_headers(sid, [
            (":method", "POST"), (":scheme", "http"), (":path", SERVICE + method),
            (":authority", self.addr), ("content-type", "application/grpc"), ("te", "trailers"),
        ])
        self._flush()
        return sid

    def pump(self, timeout=0.05):
        """Reads and handles whatever frames arrived within `timeout`. Returns False once the
        connection is closed."""
        if self.closed:
            return False
        self.sock.settimeout(max(timeout, 0.001))
        try:
            chunk = self.sock.recv(65536)
        except (socket.timeout, BlockingIOError):
            return True
        except OSError:
            self.closed = True
            return False
        if not chunk:
            self.closed = True
            return False
        for ev in self.conn.receive_data(chunk):
            if isinstance(ev, h2.events.DataReceived):
                self.data.setdefault(ev.stream_id, bytearray()).extend(ev.data)
                if self.read_data:
                    self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, h2.events.ResponseReceived):
                self.headers[ev.stream_id] = dict(ev.headers)
            elif isinstance(ev, h2.events.TrailersReceived):
                self.trailers[ev.stream_id] = dict(ev.headers)
            elif isinstance(ev, h2.events.StreamReset):
                self.resets[ev.stream_id] = ev.error_code
                if ev.error_code == 7:  # REFUSED_STREAM
                    self.refused += 1
            elif isinstance(ev, h2.events.ConnectionTerminated):
                self.closed = True
        try:
            self._flush()
        except OSError:
            self.closed = True
        return not self.closed

    def send(self, sid, data, end=False, deadline=None):
        """Sends `data` on a stream as flow control allows, reading frames while it waits.
        Returns the bytes sent before `deadline` (all of them if it did not pass)."""
        sent = 0
        view = memoryview(data)
        while sent < len(data):
            if self.closed or (deadline is not None and time.time() > deadline):
                return sent
            try:
                window = min(self.conn.local_flow_control_window(sid), self.conn.max_outbound_frame_size)
            except Exception:  # the stream was reset
                return sent
            if window <= 0:
                self.pump(0.05)
                continue
            n = min(window, len(data) - sent)
            self.conn.send_data(sid, bytes(view[sent:sent + n]))
            sent += n
            try:
                self._flush()
            except OSError:
                self.closed = True
                return sent
        if end and not self.closed:
            self.conn.end_stream(sid)
            self._flush()
        return sent

    def grpc_status(self, sid):
        t = self.trailers.get(sid) or self.headers.get(sid) or {}
        message = t.get("grpc-message")
        return t.get("grpc-status"), urllib.parse.unquote(message) if message is not None else None

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class GoodExporter(threading.Thread):
    """A well-behaved exporter running beside an attack: every `interval` a new stream with
    metadata and one payload of fresh events; events not acknowledged are sent again on the next
    round, as the upstream exporter does. `finish()` stops it, retries what is left for up to
    `settle` seconds, and returns what was sent and acknowledged."""

    def __init__(self, addr, prefix="good", per_payload=20, interval=0.1):
        super().__init__(daemon=True)
        self.channel = grpc.insecure_channel(addr)
        self.stub = pb_grpc.TelemeteryGatewayServiceStub(self.channel)
        self.prefix = prefix
        self.per_payload = per_payload
        self.interval = interval
        self.sent = set()
        self.acked = set()
        self.pending = []
        self.errors = []
        self.latencies = []
        self.stop_flag = threading.Event()
        self.next_id = 0
        self.lock = threading.Lock()

    def _round(self, fresh=True):
        with self.lock:
            batch = list(self.pending)
            if fresh:
                for _ in range(self.per_payload):
                    eid = f"{self.prefix}-{self.next_id}"
                    self.next_id += 1
                    self.sent.add(eid)
                    batch.append(eid)
            self.pending = []
        if not batch:
            return
        events = []
        for eid in batch:
            e = pb.Event(id=eid, feature="good.client", action="sent")
            e.timestamp.seconds = 1_719_837_296
            events.append(e)
        md = pb.RecordEventsRequestMetadata(
            request_id=self.prefix,
            identifier=pb.Identifier(unlicensed_instance=pb.Identifier.UnlicensedInstanceIdentifier(instance_id=self.prefix)),
        )
        reqs = [pb.RecordEventsRequest(metadata=md),
                pb.RecordEventsRequest(events=pb.RecordEventsRequest.EventsPayload(events=events))]
        acked = set()
        t = time.time()
        try:
            for r in self.stub.RecordEvents(iter(reqs), timeout=20):
                acked.update(r.succeeded_events)
            self.latencies.append(time.time() - t)
        except grpc.RpcError as e:
            self.errors.append(f"{e.code()}: {e.details()}")
        with self.lock:
            self.acked |= acked
            self.pending.extend(eid for eid in batch if eid not in acked)

    def run(self):
        while not self.stop_flag.is_set():
            self._round()
            self.stop_flag.wait(self.interval)

    def finish(self, settle=30):
        self.stop_flag.set()
        self.join(timeout=60)
        deadline = time.time() + settle
        while self.pending and time.time() < deadline:
            self._round(fresh=False)
            if self.pending:
                time.sleep(0.2)
        self.channel.close()
        return self

    def assert_all_acknowledged(self, sink_ids=None):
        missing = self.sent - self.acked
        assert not missing, f"good client: {len(missing)} of {len(self.sent)} events never acknowledged; errors: {self.errors[:5]}"
        assert len(self.sent) > 0
        if sink_ids is not None:
            absent = self.sent - sink_ids
            assert not absent, f"good client: {len(absent)} acknowledged events missing from the sink"


def sink_event_ids(path):
    """Every event id in an NDJSON sink file (every line must parse)."""
    ids = set()
    if not path.exists():
        return ids
    with open(path, "rb") as f:
        for n, line in enumerate(f, 1):
            rec = json.loads(line)  # raises on a torn line
            ids.add(json.loads(rec["data"])["event"]["id"])
    return ids


def health_latency(channel, timeout=5):
    """One gRPC health check; returns (serving, seconds)."""
    check = channel.unary_unary("/grpc.health.v1.Health/Check")
    t = time.time()
    try:
        ok = check(b"", timeout=timeout) == b"\x08\x01"
    except grpc.RpcError:
        ok = False
    return ok, time.time() - t
