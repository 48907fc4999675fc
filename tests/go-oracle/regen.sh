#!/usr/bin/env bash
# Regenerates the translate/ingest expectations of tests/conformance with the real Go protojson
# library (and canonicalizes the hand-written redact/record events). Offline:
#   - Go from the Debian package golang-go (1.19) with the GOPATH-mode protobuf library from
#     golang-google-protobuf-dev (/usr/share/gocode); no module downloads.
#   - A FileDescriptorSet of proto/telemetrygateway/v1/telemetrygateway.proto, built with
#     `python3 -m grpc_tools.protoc` (pip install grpcio-tools) or `protoc` if available.
# Usage: tests/go-oracle/regen.sh   (from anywhere)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

proto_args=(-I "$repo/proto" --include_imports --descriptor_set_out="$work/telemetrygateway.desc"
  "$repo/proto/telemetrygateway/v1/telemetrygateway.proto")
if python3 -c 'import grpc_tools' 2>/dev/null; then
  python3 -m grpc_tools.protoc "${proto_args[@]}"
elif command -v protoc >/dev/null; then
  protoc "${proto_args[@]}"
else
  echo "need grpcio-tools (pip install grpcio-tools) or protoc" >&2
  exit 1
fi

export GO111MODULE=off GOPATH="${ORACLE_GOPATH:-/usr/share/gocode}" GOFLAGS=
export GOCACHE="${GOCACHE:-$work/gocache}"
(cd "$here" && go build -o "$work/go-oracle" .)

python3 "$here/regen.py" "$work/go-oracle" "$work/telemetrygateway.desc" "$repo/tests/conformance"
python3 "$repo/tests/conformance/check_corpus.py"
