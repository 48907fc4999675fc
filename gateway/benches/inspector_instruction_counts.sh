#!/usr/bin/env bash
# Instructions per event of the server's per-payload work with and without the event
# inspector's hook, under callgrind (deterministic on a shared, noisy machine). Each figure is
# net of setup, warm-up and the payload copy: (count(op, 8) - count(op, 4)) / 4000 events.
# Usage: gateway/benches/inspector_instruction_counts.sh (from the repository root).
set -euo pipefail
cargo build -q --release -p telemetry-gateway --example inspector_instruction_counts
bin=target/release/examples/inspector_instruction_counts
count() { valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$1" "$2" 2>&1 | grep -oP 'Collected : \K[0-9]+'; }
per() { echo $(( ($(count "$1" 8) - $(count "$1" 4)) / 4000 )); }
clone=$(per clone)
ingest=$(( $(per ingest) - clone ))
printf '%-34s %14s %10s\n' "per event" instructions "vs ingest"
printf '%-34s %14d %10s\n' "ingest (the core's work)" "$ingest" "1.000"
for op in off count_only keep_all; do
  v=$(( $(per $op) - clone ))
  printf '%-34s %14d %10s\n' "ingest + inspector $op" "$v" "$(awk -v a="$v" -v b="$ingest" 'BEGIN { printf "%.3f", a / b }')"
done
