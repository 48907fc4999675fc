#!/usr/bin/env bash
# Instruction counts per operation under callgrind: deterministic on a shared, noisy machine.
# Prints instructions per event for each op, net of setup and of the event copies the
# mutating ops need. Usage: core/benches/instruction_counts.sh (from the repository root).
set -euo pipefail
cargo build -q --release -p telemetry-core --features ffi --example instruction_counts
bin=target/release/examples/instruction_counts
count() { valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$1" "$2" 2>&1 | grep -oP 'Collected : \K[0-9]+'; }
n=2000
base=$(count noop $n)
clone=$(( ($(count clone_event $n) - base) / n ))
per() { echo $(( ($(count "$1" $n) - base) / n )); }
printf '%-26s %8s\n' op instructions/event
for op in prost_decode serde_json_to_vec_value validate translate; do printf '%-26s %8d\n' "$op" "$(per $op)"; done
printf '%-26s %8d\n' redact $(( $(per redact) - clone ))
payload_clone=$(( ($(count clone_payload_1000 4) - base) / 4 ))
ingest=$(( ($(count ingest_1000 4) - base) / 4 ))
printf '%-26s %8d\n' ingest_1000_per_event $(( (ingest - payload_clone) / 1000 ))
# The JSON-text entry points, from text to answer (the ffi ops include writing the answer), now
# and through the earlier serde_json::Value-based readers kept as the test oracle (`before_`), in
# the same binary (its `record` also converts the old input type: a little more than the old code).
printf '%-26s %8d\n' serde_json_from_str_value "$(per serde_json_from_str_value)"
for op in parse_event ffi_validate ffi_redact ffi_translate ffi_record; do
  now=$(per $op); before=$(per before_$op)
  printf '%-26s %8d   before %8d   now/before %s\n' "$op" "$now" "$before" "$(python3 -c "print(f'{$now/$before:.2f}')")"
done
printf '%-26s %8d\n' parse_metadata "$(per parse_metadata)"
