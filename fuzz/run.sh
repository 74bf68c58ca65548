#!/usr/bin/env bash
# Builds Porter's fuzz targets with libFuzzer and AddressSanitizer, then runs them on their seed corpus.
#   bash fuzz/run.sh                                 # every target for FUZZ_SECONDS (default 60) each
#   FUZZ_RUNS=10000000 bash fuzz/run.sh frames       # one target for a number of inputs
# Targets: frames (the frame decoder), messages (every control message), paths (the path checks), udp (UDP echo
# datagrams). Inputs that crash are written to fuzz/crashes/; each becomes a regression test.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scratch=.build-fuzz
swift build --product PorterFuzz --scratch-path "$scratch" -Xswiftc -sanitize=fuzzer,address >/dev/null
swiftc "$scratch/debug/libPorterFuzz.a" -sanitize=fuzzer,address -o "$scratch/porter-fuzz"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(frames messages paths udp classic)
mkdir -p fuzz/crashes
for target in "${targets[@]}"; do
    corpus=$scratch/corpus/$target
    mkdir -p "$corpus"
    limit=(-max_total_time="${FUZZ_SECONDS:-60}")
    [ -z "${FUZZ_RUNS:-}" ] || limit=(-runs="$FUZZ_RUNS")
    echo "== $target"
    PORTER_FUZZ_TARGET=$target "$scratch/porter-fuzz" "$corpus" "fuzz/seeds/$target" "${limit[@]}" \
        -max_len=4096 -print_final_stats=1 -artifact_prefix="fuzz/crashes/$target-" 2>&1 |
        grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units|==[0-9]+==ERROR|SUMMARY|Done)' || true
    # libFuzzer's exit status is lost in the pipe: a crash leaves its input in fuzz/crashes.
    if ls fuzz/crashes/"$target"-* >/dev/null 2>&1; then echo "$target: crash inputs in fuzz/crashes" >&2; exit 1; fi
done
