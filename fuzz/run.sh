#!/usr/bin/env bash
# Builds Porter's fuzz targets with libFuzzer and AddressSanitizer, then runs them from their corpus.
#
#   bash fuzz/run.sh                              # every target for FUZZ_SECONDS (default 60) each
#   FUZZ_SECONDS=20 bash fuzz/run.sh frames paths # some targets
#   FUZZ_RUNS=10000000 bash fuzz/run.sh           # each target for a number of inputs
#
# Targets (Sources/PorterFuzz/Fuzz.swift): frames (the frame decoder), frames2 (the channel form of protocol 2's
# frames and its messages), connection2 (an authenticated protocol 2 server connection), client2 (the same for
# a client, fed what a server could send), messages (every control message),
# paths (the peer path checks), udp (UDP echo datagrams), classic (the classic exec, ftp and chat requests),
# keys (public key and signature blobs, private key files, authorized keys files).
# Each checks a property of what it accepts besides not crashing.
#
# The corpus is fuzz/seeds/TARGET plus fuzz/regressions/TARGET, and what a run adds is kept in
# .build-fuzz/corpus/TARGET. An input that fails is written to fuzz/crashes/TARGET-*; once the bug is fixed,
# move it to fuzz/regressions/TARGET/ under a name that says what it was: the tests replay every file there.
#
# The exit status is 1 if any target failed. One line per target gives the inputs run and their rate; with
# FUZZ_LOG=FILE the lines are also appended to FILE.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scratch=.build-fuzz
all=(frames frames2 connection2 client2 messages paths udp classic keys)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")
for target in "${targets[@]}"; do
    [[ " ${all[*]} " == *" $target "* ]] || { echo "unknown fuzz target '$target' (${all[*]})" >&2; exit 2; }
done
configuration=${FUZZ_CONFIGURATION:-release}
mkdir -p "$scratch"
if ! swift build -c "$configuration" --product PorterFuzz --scratch-path "$scratch" \
    -Xswiftc -sanitize=fuzzer,address >"$scratch/build.log" 2>&1; then
    grep -E 'error' "$scratch/build.log" >&2 || tail -20 "$scratch/build.log" >&2
    exit 1
fi
# An executable target cannot take libFuzzer's main: the static library is linked by hand.
swiftc "$scratch/$configuration/libPorterFuzz.a" -sanitize=fuzzer,address -o "$scratch/porter-fuzz" 2>/dev/null

limit=(-max_total_time="${FUZZ_SECONDS:-60}")
[ -z "${FUZZ_RUNS:-}" ] || limit=(-runs="$FUZZ_RUNS")
mkdir -p fuzz/crashes
failed=0
for target in "${targets[@]}"; do
    corpus=$scratch/corpus/$target
    mkdir -p "$corpus" "fuzz/regressions/$target"
    log=$scratch/$target.log
    start=$(date +%s)
    # The Swift backtracer would spend minutes symbolicating a failed check; libFuzzer prints its own trace.
    status=0
    SWIFT_BACKTRACE=enable=no PORTER_FUZZ_TARGET=$target "$scratch/porter-fuzz" \
        "$corpus" "fuzz/seeds/$target" "fuzz/regressions/$target" "${limit[@]}" \
        -max_len=4096 -print_final_stats=1 -artifact_prefix="fuzz/crashes/$target-" >"$log" 2>&1 || status=$?
    seconds=$(($(date +%s) - start))
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    line="$target: ${runs:-?} inputs in ${seconds} s ($((${runs:-0} / (seconds > 0 ? seconds : 1))) per second), corpus $(find "$corpus" -type f | wc -l) files, exit $status"
    echo "$line"
    [ -z "${FUZZ_LOG:-}" ] || echo "$(date -u +%FT%TZ) $line" >>"$FUZZ_LOG"
    if [ "$status" -ne 0 ]; then
        failed=1
        grep -E 'Precondition failed|Fatal error|ERROR: AddressSanitizer|SUMMARY|Test unit written' "$log" >&2 || tail -20 "$log" >&2
    fi
done
exit "$failed"
