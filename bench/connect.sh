#!/usr/bin/env bash
# Connection set-up benchmark: a fresh `porter hello -c 1` (new process, TCP, TLS 1.3, token proof, one round
# trip) against a fresh `ssh host true` to a private local sshd, and against ssh reusing a ControlMaster
# connection, timed by hyperfine in one run. Prints a Markdown table with ratios.
#   bash bench/connect.sh                 RUNS=100 bash bench/connect.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
runs=${RUNS:-50}
build=${BUILD:-.build}
command -v hyperfine >/dev/null || { apt-get update -qq && apt-get install -y -qq hyperfine >/dev/null; }

echo "machine: $(nproc) cores, kernel $(uname -r), $(swift --version 2>&1 | head -1), $(date -u +%FT%TZ)"
swift build -c release --scratch-path "$build" --product porter >/dev/null
porter="$build/release/porter"
tmp=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    [ -S "$tmp/ssh-control" ] && ssh -o ControlPath="$tmp/ssh-control" -O exit x 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
source bench/sshd.sh
start_sshd

"$porter" serve --listen 127.0.0.1:0 --token-file "$tmp/token" --identity "$tmp/identity.pem" --log-level error \
    >"$tmp/porter.out" 2>"$tmp/porter.err" &
pids+=($!)
for _ in $(seq 300); do grep -q 'listening on' "$tmp/porter.out" 2>/dev/null && break; sleep 0.1; done
endpoint=$(grep -oE 'listening on [^ ]+' "$tmp/porter.out" | head -1 | cut -d' ' -f3)
fingerprint=$("$porter" serve --print-fingerprint --identity "$tmp/identity.pem")
hello="$porter hello $endpoint -c 1 --token-file $tmp/token --fingerprint $fingerprint"
$hello >/dev/null

hyperfine -N --warmup 5 --runs "$runs" --export-json "$tmp/connect.json" \
    -n "porter hello (TLS)" "$hello" \
    -n "ssh true" "$SSH true" \
    -n "ssh true (ControlMaster)" "$SSH_MASTER true" >/dev/null

python3 - "$tmp/connect.json" <<'PY'
import json, sys
results = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
porter = results["porter hello (TLS)"]["mean"]
print("| command | mean ms | stddev ms | porter ÷ this |")
print("|---|---:|---:|---:|")
for name, r in results.items():
    print(f'| {name} | {r["mean"] * 1000:.2f} | {r["stddev"] * 1000:.2f} | {porter / r["mean"]:.2f}× |')
PY
