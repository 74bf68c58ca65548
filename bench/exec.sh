#!/usr/bin/env bash
# Remote execution benchmark, every row in one run (a fresh `porter exec H -- true` against ssh is in
# bench/startup.sh, beside the binary's start-up):
#   1. commands per second over one persistent Porter connection (a channel per command) against spawning
#      `sh -c true` locally, one after another, and 16 at once (16 tasks sharing one connection); the tasks run
#      on `ClientConnection.taskExecutor`, and once more one after another on Swift's global executor;
#   2. a command printing 100 MB, through Porter and through ssh with ControlMaster (aes128-gcm).
# Prints Markdown tables with ratios.      bash bench/exec.sh          RUNS=50 COUNT=2000 bash bench/exec.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
runs=${RUNS:-30}
count=${COUNT:-1000}
source bench/lib.sh
need hyperfine hyperfine
build_release porter porter-exec-load
start_sshd
start_porter
pexec="$porter exec $endpoint $PORTER_ARGS --"
$pexec true

hyperfine --warmup 1 --runs 5 --export-json "$tmp/output.json" \
    -n "porter exec: 100 MB of output" "$pexec head -c 100000000 /dev/zero >/dev/null" \
    -n "ssh (ControlMaster): 100 MB of output" "$SSH_MASTER head -c 100000000 /dev/zero >/dev/null" >/dev/null

load="$build/release/porter-exec-load"
session=$("$load" --mode porter --port "${endpoint##*:}" --count "$count" $PORTER_ARGS)
global=$("$load" --mode porter --executor global --port "${endpoint##*:}" --count "$count" $PORTER_ARGS)
local_rate=$("$load" --mode local --count "$count")
at_once=$((count / 16 * 16))
parallel2=$("$load" --mode porter --parallel 16 --port "${endpoint##*:}" --count "$at_once" $PORTER_ARGS)
local_parallel=$("$load" --mode local --parallel 16 --count "$at_once")

ratio_table "$tmp/output.json" "porter exec: 100 MB of output"
python3 - "$session" "$local_rate" "$parallel2" "$local_parallel" "$global" <<'PY'
import json, sys
session, local, parallel2, local_parallel, global_ = (json.loads(arg) for arg in sys.argv[1:6])
print("| commands one after another | per second | ÷ local spawn |")
print("|---|---:|---:|")
print(f'| porter, a channel per command: `sh -c true` over one connection ({session["count"]}) | {session["per_second"]:,.0f} | {session["per_second"] / local["per_second"]:.2f}× |')
print(f'| the same, the task on the global executor ({global_["count"]}) | {global_["per_second"]:,.0f} | {global_["per_second"] / local["per_second"]:.2f}× |')
print(f'| local posix_spawn of `sh -c true` ({local["count"]}) | {local["per_second"]:,.0f} | 1.00× |')
print()
print("| 16 commands at once | per second | ÷ local spawn |")
print("|---|---:|---:|")
print(f'| porter version 2: 16 tasks sharing one connection ({parallel2["count"]}) | {parallel2["per_second"]:,.0f} | {parallel2["per_second"] / local_parallel["per_second"]:.2f}× |')
print(f'| local: 16 posix_spawns, then 16 waits ({local_parallel["count"]}) | {local_parallel["per_second"]:,.0f} | 1.00× |')
PY
