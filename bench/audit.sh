#!/usr/bin/env bash
# What the audit trail costs: two servers in one run, one plain and one with `--audit-log` and `--record`,
# each measured the same way, rows interleaved:
#   1. commands one after another over one connection (`sh -c true`, a channel each), as bench/exec.sh;
#   2. a fresh `porter exec H -- true` (a connection, its auth line and its exec line);
#   3. a command printing 100 MB (every byte counted on its way out).
# Prints Markdown tables with ratios to the plain server.      bash bench/audit.sh      RUNS=50 COUNT=2000 bash bench/audit.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
runs=${RUNS:-40}
count=${COUNT:-1000}
source bench/lib.sh
need hyperfine hyperfine
build_release porter porter-exec-load

start_porter
plain=$endpoint
start_porter --audit-log "$tmp/audit.ndjson" --record "$tmp/recordings"
audited=$endpoint
for server in "$plain" "$audited"; do "$porter" exec "$server" $PORTER_ARGS -- true; done

load="$build/release/porter-exec-load"
rates=()
for round in 1 2; do
    for server in "$plain" "$audited"; do
        rates+=("$("$load" --mode porter --port "${server##*:}" --count "$count" $PORTER_ARGS)")
    done
done

hyperfine -N --warmup 5 --runs "$runs" --export-json "$tmp/fresh.json" \
    -n "fresh exec, plain server" "$porter exec $plain $PORTER_ARGS -- true" \
    -n "fresh exec, --audit-log --record" "$porter exec $audited $PORTER_ARGS -- true" >/dev/null
hyperfine --warmup 1 --runs 5 --export-json "$tmp/output.json" \
    -n "100 MB of output, plain server" "$porter exec $plain $PORTER_ARGS -- head -c 100000000 /dev/zero >/dev/null" \
    -n "100 MB of output, --audit-log --record" \
    "$porter exec $audited $PORTER_ARGS -- head -c 100000000 /dev/zero >/dev/null" >/dev/null

python3 - "${rates[@]}" <<'PY'
import json, sys
plain1, audited1, plain2, audited2 = (json.loads(arg) for arg in sys.argv[1:5])
print("| commands one after another over one connection | per second, round 1 | round 2 | ÷ plain (both rounds) |")
print("|---|---:|---:|---:|")
plain = plain1["per_second"] + plain2["per_second"]
audited = audited1["per_second"] + audited2["per_second"]
print(f'| plain server | {plain1["per_second"]:,.0f} | {plain2["per_second"]:,.0f} | 1.00× |')
print(f'| `--audit-log --record` | {audited1["per_second"]:,.0f} | {audited2["per_second"]:,.0f} | {audited / plain:.2f}× |')
print()
PY
ratio_table "$tmp/fresh.json" "fresh exec, plain server"
echo
ratio_table "$tmp/output.json" "100 MB of output, plain server"
echo
echo "audit lines written: $(wc -l <"$tmp/audit.ndjson")"
