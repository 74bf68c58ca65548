#!/usr/bin/env bash
# Echo benchmark: 64-byte request/response at 1, 10 and 100 connections against Porter (TLS, and plaintext with
# --plaintext; protocol version 1, and version 2's echo channel: through Porter's client library over TLS, and
# raw frames over plaintext), the course's Python ThreadingTCPServer and a C epoll server, in one interleaved
# run. Prints a Markdown table with ratios.
#   bash bench/echo.sh                    DURATION=10 CONNS="100" bash bench/echo.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
duration=${DURATION:-5}
conns=${CONNS:-1 10 100}
source bench/lib.sh
build_release porter porter-echo-load
gcc -O2 -Wall -o "$tmp/c_echo_server" bench/baselines/c_echo_server.c

# Starts a server in the background and sets $port once it has said `listening on HOST:PORT`.
start() {
    local name=$1; shift
    "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" &
    pids+=($!)
    for _ in $(seq 300); do
        port=$(grep -oE 'listening on [^ ]+' "$tmp/$name.out" | head -1 | sed -E 's/.*:([0-9]+)$/\1/' || true)
        [ -n "$port" ] && return
        sleep 0.1
    done
    echo "$name did not start: $(cat "$tmp/$name.err")" >&2; exit 1
}
serve=("$porter" serve --listen 127.0.0.1:0 --token-file "$tmp/token" --log-level error)
start porter "${serve[@]}" --identity "$tmp/identity.pem"; porter_port=$port
start porter-plain "${serve[@]}" --plaintext; plain_port=$port
start python python3 bench/baselines/python_echo_server.py 127.0.0.1 0; python_port=$port
start c "$tmp/c_echo_server" 127.0.0.1 0; c_port=$port
fingerprint=$("$porter" serve --print-fingerprint --identity "$tmp/identity.pem")

mkdir -p bench/results
results=bench/results/echo-$(date +%Y%m%d-%H%M%S).jsonl
load() { "$build/release/porter-echo-load" --host 127.0.0.1 --duration "$duration" --size 64 "$@"; }
for n in $conns; do
    echo "{\"server\":\"python\",\"result\":$(load --port "$python_port" --mode raw --connections "$n")}" >>"$results"
    echo "{\"server\":\"c-epoll\",\"result\":$(load --port "$c_port" --mode raw --connections "$n")}" >>"$results"
    echo "{\"server\":\"porter\",\"result\":$(load --port "$porter_port" --mode porter --connections "$n" --token-file "$tmp/token" --fingerprint "$fingerprint")}" >>"$results"
    echo "{\"server\":\"porter2\",\"result\":$(load --port "$porter_port" --mode porter --protocol 2 --connections "$n" --token-file "$tmp/token" --fingerprint "$fingerprint")}" >>"$results"
    echo "{\"server\":\"porter-plain\",\"result\":$(load --port "$plain_port" --mode porter --connections "$n" --token-file "$tmp/token" --plaintext)}" >>"$results"
    echo "{\"server\":\"porter2-plain\",\"result\":$(load --port "$plain_port" --mode porter2 --connections "$n" --token-file "$tmp/token" --plaintext)}" >>"$results"
done

python3 - "$results" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
print("| connections | server | req/s | p50 µs | p99 µs | errors | Porter ÷ this | this ÷ c-epoll |")
print("|---:|---|---:|---:|---:|---:|---:|---:|")
for n in sorted({r["result"]["connections"] for r in rows}):
    group = {r["server"]: r["result"] for r in rows if r["result"]["connections"] == n}
    porter, c = group["porter"]["rps"], group["c-epoll"]["rps"]
    for server in ("porter", "porter2", "porter-plain", "porter2-plain", "python", "c-epoll"):
        r = group[server]
        print(f'| {n} | {server} | {r["rps"]:,.0f} | {r["p50_us"]:.0f} | {r["p99_us"]:.0f} | {r["errors"]} | {porter / r["rps"]:.2f}× | {r["rps"] / c:.2f}× |')
PY
echo "raw results: $results"
