#!/usr/bin/env bash
# Connection set-up benchmark: a fresh `porter hello -c 1` (new process, TCP, TLS 1.3, token proof, one round
# trip) against a fresh `ssh host true` to a private local sshd, and against ssh reusing a ControlMaster
# connection, timed by hyperfine in one run. Prints a Markdown table with ratios.
#   bash bench/connect.sh                 RUNS=100 bash bench/connect.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
runs=${RUNS:-50}
source bench/lib.sh
need hyperfine hyperfine
build_release porter
start_sshd
start_porter
hello="$porter hello $endpoint -c 1 $PORTER_ARGS"
$hello >/dev/null

hyperfine -N --warmup 5 --runs "$runs" --export-json "$tmp/connect.json" \
    -n "porter hello (TLS)" "$hello" \
    -n "ssh true" "$SSH true" \
    -n "ssh true (ControlMaster)" "$SSH_MASTER true" >/dev/null

ratio_table "$tmp/connect.json" "porter hello (TLS)"
