#!/usr/bin/env bash
# Instructions the whole gateway process executes per event, with the event inspector off,
# counting only (its record rate spent: `--inspector-max-rate 1`) and keeping every event
# (`--inspector-max-rate 0`), under callgrind: deterministic (to about 0.3%) where wall-clock
# figures on a shared machine are not. A Python grpcio client (stubs generated from proto/) sends
# PAYLOADS x 1,000 realistic events over one RecordEvents stream to the release binary with the
# file sink; startup and shutdown are subtracted with a run that sends nothing.
# Usage: gateway/benches/inspector_server_instructions.sh [PAYLOADS]  (from the repository root;
# needs valgrind, python3 with grpcio and grpcio-tools; 127.0.0.1 only; a few minutes)
set -euo pipefail
payloads="${1:-20}"
cargo build -q --release -p telemetry-gateway --bin telemetry-gateway
bin="$(cd "${CARGO_TARGET_DIR:-target}/release" && pwd)/telemetry-gateway"
proto="$(pwd)/proto"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
python3 -m grpc_tools.protoc -I"$proto" --python_out=. --grpc_python_out=. telemetrygateway/v1/telemetrygateway.proto
touch telemetrygateway/__init__.py telemetrygateway/v1/__init__.py
cat > drive.py <<'PY'
import sys, grpc
from telemetrygateway.v1 import telemetrygateway_pb2 as pb, telemetrygateway_pb2_grpc as pbg
addr, payloads = sys.argv[1], int(sys.argv[2])
ch = grpc.insecure_channel(addr, options=[("grpc.max_send_message_length", 100 * 1024 * 1024)])
grpc.channel_ready_future(ch).result(timeout=120)
stub = pbg.TelemeteryGatewayServiceStub(ch)
def ev(i):  # the shape of `telemetry-gateway bench`'s realistic event
    e = pb.Event(id=f"0190f6b4-8c2e-7a3b-9d1e-{i:012x}", feature="cody.completion", action="accepted")
    e.timestamp.FromSeconds(1_719_837_296 + i)
    e.source.server.version = "5.5.0"; e.source.client.name = "VSCode.Cody"; e.source.client.version = "1.24.0"
    e.parameters.version = 1
    e.parameters.metadata["durationMs"] = 1234.5; e.parameters.metadata["count"] = i % 17
    e.parameters.metadata["recordsPrivateMetadataTranscript"] = 1
    e.parameters.private_metadata["query"] = "repo:^github\\.com/sourcegraph/sourcegraph$ lang:go telemetry"
    e.user.user_id = 1234; e.user.anonymous_user_id = "anon-5678"
    return e
md = pb.RecordEventsRequestMetadata(request_id="cg", identifier=pb.Identifier(
    unlicensed_instance=pb.Identifier.UnlicensedInstanceIdentifier(instance_id="cg-instance")))
batch = [ev(i) for i in range(1000)]
def reqs():
    yield pb.RecordEventsRequest(metadata=md)
    for _ in range(payloads):
        yield pb.RecordEventsRequest(events=pb.RecordEventsRequest.EventsPayload(events=batch))
acked = sum(len(r.succeeded_events) for r in stub.RecordEvents(reqs(), timeout=3600))
assert acked == payloads * 1000, acked
PY
# run VARIANT PAYLOADS: total instructions of the server process
run() {
  local extra
  case $1 in
    off) extra=(--inspector off) ;;
    count_only) extra=(--inspector on --inspector-max-rate 1) ;;
    keep_all) extra=(--inspector on --inspector-max-rate 0) ;;
  esac
  rm -f events.ndjson log.txt
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" serve --listen 127.0.0.1:0 \
    --diagnostics-listen 127.0.0.1:0 --sink file:events.ndjson --log-format json "${extra[@]}" 2> log.txt &
  local vg=$! addr=""
  for _ in $(seq 600); do
    addr=$(grep -o '"listen":"[^"]*"' log.txt | head -1 | cut -d'"' -f4 || true)
    [ -n "$addr" ] && break
    sleep 0.2
  done
  [ -n "$addr" ] || { kill -KILL $vg; echo "gateway did not start" >&2; exit 1; }
  python3 drive.py "$addr" "$2"
  kill -TERM $vg
  wait $vg || true
  grep -oP 'Collected : \K[0-9]+' log.txt | awk '{ s += $1 } END { print s }'
}
printf '%-12s %22s %10s\n' inspector "instructions / event" "vs off"
off=""
for v in off count_only keep_all; do
  per=$(( ($(run $v "$payloads") - $(run $v 0)) / (payloads * 1000) ))
  off=${off:-$per}
  printf '%-12s %22d %10s\n' "$v" "$per" "$(awk -v a="$per" -v b="$off" 'BEGIN { printf "%.3f", a / b }')"
done
