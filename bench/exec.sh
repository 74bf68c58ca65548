#!/usr/bin/env bash
# Remote execution benchmark, every row in one run:
#   1. a fresh `porter exec H -- true` (new process, TCP, TLS 1.3, token proof, spawn, exit status) against a
#      fresh `ssh host true` to a private local sshd (aes128-gcm), and against ssh over a ControlMaster;
#   2. commands per second over one persistent Porter session against spawning `sh -c true` locally;
#   3. a command printing 100 MB, through Porter and through ssh with ControlMaster.
# Prints Markdown tables with ratios.      bash bench/exec.sh          RUNS=50 COUNT=2000 bash bench/exec.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
runs=${RUNS:-30}
count=${COUNT:-1000}
command -v hyperfine >/dev/null || { apt-get update -qq && apt-get install -y -qq hyperfine >/dev/null; }
source bench/lib.sh
build_release porter porter-exec-load
start_sshd
start_porter
pexec="$porter exec $endpoint $PORTER_ARGS --"
$pexec true

hyperfine -N --warmup 5 --runs "$runs" --export-json "$tmp/fresh.json" \
    -n "porter exec true" "$pexec true" \
    -n "ssh true" "$SSH true" \
    -n "ssh true (ControlMaster)" "$SSH_MASTER true" >/dev/null
hyperfine --warmup 1 --runs 5 --export-json "$tmp/output.json" \
    -n "porter exec: 100 MB of output" "$pexec head -c 100000000 /dev/zero >/dev/null" \
    -n "ssh (ControlMaster): 100 MB of output" "$SSH_MASTER head -c 100000000 /dev/zero >/dev/null" >/dev/null

load="$build/release/porter-exec-load"
session=$("$load" --mode porter --port "${endpoint##*:}" --count "$count" $PORTER_ARGS)
local_rate=$("$load" --mode local --count "$count")

python3 - "$tmp/fresh.json" "$tmp/output.json" "$session" "$local_rate" <<'PY'
import json, sys
def table(path, first):
    results = {r["command"]: r for r in json.load(open(path))["results"]}
    base = results[first]["mean"]
    print("| command | mean ms | stddev ms | porter ÷ this |")
    print("|---|---:|---:|---:|")
    for name, r in results.items():
        print(f'| {name} | {r["mean"] * 1000:.1f} | {r["stddev"] * 1000:.1f} | {base / r["mean"]:.2f}× |')
    print()
table(sys.argv[1], "porter exec true")
table(sys.argv[2], "porter exec: 100 MB of output")
session, local = json.loads(sys.argv[3]), json.loads(sys.argv[4])
print("| commands one after another | per second | porter ÷ this |")
print("|---|---:|---:|")
print(f'| porter: `sh -c true` over one session ({session["count"]}) | {session["per_second"]:,.0f} | 1.00× |')
print(f'| local posix_spawn of `sh -c true` ({local["count"]}) | {local["per_second"]:,.0f} | {session["per_second"] / local["per_second"]:.2f}× |')
PY
