#!/usr/bin/env bash
# Echo benchmark: 64-byte request/response at 1, 10 and 100 connections against Porter's echo channel (through
# Porter's client library over TLS and over --plaintext, and raw frames over plaintext), the course's Python
# ThreadingTCPServer and a C epoll server, in one interleaved run. The library's connections run their loops on
# `ClientConnection.taskExecutor`; the row porter-global runs the TLS one on Swift's global executor, as a task
# does by default. Prints a Markdown table with ratios, and each
# server's CPU time per request (from /proc, over the run): with the load generator on the same cores, req/s is
# shared between the two, and the CPU per request is the server's own cost.
#
# ROUNDS=N repeats the interleaved runs N times and reports each row's median over the rounds (req/s, latencies
# and CPU per request), with the spread of its ratio to the C server: single runs on a shared host swing by 10%.
#   bash bench/echo.sh          DURATION=10 CONNS="100" bash bench/echo.sh          ROUNDS=6 CONNS=100 bash bench/echo.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
duration=${DURATION:-5}
conns=${CONNS:-1 10 100}
rounds=${ROUNDS:-1}
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
# The server's CPU time so far, in clock ticks (user + system, every thread).
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
serve=("$porter" serve --listen 127.0.0.1:0 --token-file "$tmp/token" --log-level error)
start porter "${serve[@]}" --identity "$tmp/identity.pem"; porter_port=$port; porter_pid=${pids[-1]}
start porter-plain "${serve[@]}" --plaintext; plain_port=$port; plain_pid=${pids[-1]}
start python python3 bench/baselines/python_echo_server.py 127.0.0.1 0; python_port=$port; python_pid=${pids[-1]}
start c "$tmp/c_echo_server" 127.0.0.1 0; c_port=$port; c_pid=${pids[-1]}
fingerprint=$("$porter" serve --print-fingerprint --identity "$tmp/identity.pem")

mkdir -p bench/results
results=bench/results/echo-$(date +%Y%m%d-%H%M%S).jsonl
# One run of the load generator against the server NAME (process PID): a JSON line with the result and the
# server's CPU ticks over it.
load() {
    local name=$1 pid=$2; shift 2
    local before result
    before=$(cpu_ticks "$pid")
    result=$("$build/release/porter-echo-load" --host 127.0.0.1 --duration "$duration" --size 64 "$@")
    echo "{\"server\":\"$name\",\"round\":$round,\"cpu_ticks\":$(($(cpu_ticks "$pid") - before)),\"result\":$result}" >>"$results"
}
porter_args=(--token-file "$tmp/token" --fingerprint "$fingerprint")
for round in $(seq "$rounds"); do
    for n in $conns; do
        load python "$python_pid" --port "$python_port" --mode raw --connections "$n"
        load c-epoll "$c_pid" --port "$c_port" --mode raw --connections "$n"
        load porter "$porter_pid" --port "$porter_port" --mode porter --connections "$n" "${porter_args[@]}"
        load porter-global "$porter_pid" --port "$porter_port" --mode porter --connections "$n" "${porter_args[@]}" \
            --executor global
        load porter-plain "$plain_pid" --port "$plain_port" --mode porter --connections "$n" --token-file "$tmp/token" --plaintext
        load porter-raw-plain "$plain_pid" --port "$plain_port" --mode frames --connections "$n" --token-file "$tmp/token" --plaintext
    done
done

python3 - "$results" "$(getconf CLK_TCK)" <<'PY'
import json, statistics, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
hz = int(sys.argv[2])
rounds = sorted({r["round"] for r in rows})
servers = ("porter", "porter-global", "porter-plain", "porter-raw-plain", "python", "c-epoll")
print(f"Medians over {len(rounds)} round(s); the last column is the ratio to the C server in each round, lowest to highest.")
print()
print("| connections | server | req/s | p50 µs | p99 µs | errors | Porter ÷ this | this ÷ c-epoll | server CPU µs/req | CPU ÷ c-epoll's | this ÷ c-epoll, by round |")
print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
for n in sorted({r["result"]["connections"] for r in rows}):
    runs = {s: [r for r in rows if r["server"] == s and r["result"]["connections"] == n] for s in servers}
    def median(server, f):
        return statistics.median(f(r) for r in runs[server])
    rps = {s: median(s, lambda r: r["result"]["rps"]) for s in servers}
    cpu = {s: median(s, lambda r: r["cpu_ticks"] * 1e6 / hz / max(r["result"]["requests"], 1)) for s in servers}
    c_by_round = {r["round"]: r["result"]["rps"] for r in runs["c-epoll"]}
    for server in servers:
        errors = sum(r["result"]["errors"] for r in runs[server])
        by_round = sorted(r["result"]["rps"] / c_by_round[r["round"]] for r in runs[server])
        spread = " ".join(f"{x:.2f}" for x in by_round)
        print(f'| {n} | {server} | {rps[server]:,.0f} | {median(server, lambda r: r["result"]["p50_us"]):.0f} | {median(server, lambda r: r["result"]["p99_us"]):.0f} | {errors} | {rps["porter"] / rps[server]:.2f}× | {rps[server] / rps["c-epoll"]:.2f}× | {cpu[server]:.1f} | {cpu[server] / cpu["c-epoll"]:.2f}× | {spread} |')
PY
echo "raw results: $results"
