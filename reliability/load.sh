#!/usr/bin/env bash
# Load on one Porter server, with figures for docs/RELIABILITY.md:
#   idle   CONNECTIONS (10,000) authenticated connections held idle, over TLS and over plaintext TCP: the
#          server's RSS, CPU and descriptors while they are held, the rate they were accepted at, and a ping on
#          every one at the end. The same for plain TCP connections to the course's Python threading echo
#          server and to a C epoll echo server (bench/baselines), as baselines.
#   echo   ECHO_CLIENTS (1,000) clients echoing at once for 10 s: no errors.
#   room   a chat room of MEMBERS (200) with one member that never reads: every other member receives every
#          message, the slow one is dropped, and the server's memory stays bounded. Ten senders send RATE (200)
#          messages a second between them, each to every member: 40,000 events a second. Server and load client
#          share the two cores; on a host too slow for that, readers that merely fall behind are dropped as slow
#          too (RATE=100 halves the load).
#
#   bash reliability/load.sh [idle|echo|room]...        (default: all three)
#
# The server and the load client each hold a descriptor per connection: the script raises the limit.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh
build_release porter porter-load porter-echo-load
load="$build/release/porter-load"
echo_load="$build/release/porter-echo-load"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
echo "descriptor limit: $(ulimit -n)"

connections=${CONNECTIONS:-10000}
failed=0

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
# CPU time (user + system) a process has used, in milliseconds.
cpu_ms() { awk -v tick="$(getconf CLK_TCK)" '{print int(($14 + $15) * 1000 / tick)}' "/proc/$1/stat"; }
fd_count() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 | wc -l; }

stop_server() {
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    rm -f "$tmp/porter.out"
}

# Waits until FILE has a line containing TEXT, or the process PID is gone.
wait_for_line() {
    local file=$1 text=$2 pid=$3
    until grep -q "$text" "$file" 2>/dev/null; do
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.2
    done
}

# The value of "KEY" in a JSON line.
json() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }

# Starts a baseline echo server (python or c) on a free port; sets server_pid and port.
start_baseline() {
    case $1 in
    python) python3 bench/baselines/python_echo_server.py 127.0.0.1 0 >"$tmp/porter.out" 2>"$tmp/porter.err" & ;;
    c) "$tmp/c_echo_server" 127.0.0.1 0 >"$tmp/porter.out" 2>"$tmp/porter.err" & ;;
    esac
    server_pid=$!
    pids+=("$server_pid")
    for _ in $(seq 300); do grep -q 'listening on' "$tmp/porter.out" 2>/dev/null && break; sleep 0.1; done
    port=$(grep -oE 'listening on [^ ]+' "$tmp/porter.out" | head -1 | sed -E 's/.*:([0-9]+)$/\1/')
}

# Holds `connections` idle connections to one server: $1 is tls or plaintext (Porter, authenticated), or python
# or c (a baseline echo server, plain TCP held open).
idle_run() {
    local server=$1 flags=()
    case $server in
    tls) start_porter --max-connections $((connections + 64)) ;;
    plaintext) start_porter --max-connections $((connections + 64)) --plaintext && flags=(--plaintext) ;;
    *) start_baseline "$server" && flags=(--raw) ;;
    esac
    local idle_rss idle_fds cpu_before
    idle_rss=$(rss_kb "$server_pid")
    idle_fds=$(fd_count "$server_pid")
    cpu_before=$(cpu_ms "$server_pid")
    # shellcheck disable=SC2086
    "$load" idle --port "$port" ${PORTER_ARGS:-} "${flags[@]}" --connections "$connections" --hold 10 \
        >"$tmp/idle.out" 2>"$tmp/idle.err" &
    local client=$!
    wait_for_line "$tmp/idle.out" '"held"' "$client" || { cat "$tmp/idle.err" >&2; return 1; }
    local held peak_rss=0 peak_fds=0 rss fds server_cpu
    held=$(grep '"held"' "$tmp/idle.out")
    # The load client shares the two cores: the server's own CPU per connection says what it could accept alone.
    server_cpu=$(($(cpu_ms "$server_pid") - cpu_before))
    # Sample while every connection is held (the client holds them 10 s).
    for _ in 1 2 3 4 5 6 7 8; do
        rss=$(rss_kb "$server_pid")
        fds=$(fd_count "$server_pid")
        [ "$rss" -le "$peak_rss" ] || peak_rss=$rss
        [ "$fds" -le "$peak_fds" ] || peak_fds=$fds
        sleep 1
    done
    wait "$client" || true
    local checked up alive
    checked=$(grep '"checked"' "$tmp/idle.out" || echo '{"alive":0}')
    up=$(json "$held" up)
    alive=$(json "$checked" alive)
    printf 'idle %-9s %s connections: %s up, %s failed in %s s = %s accepted/s (server CPU %s ms: %s us per connection); server RSS %s MB idle, %s MB holding them (%s kB per connection); %s descriptors; %s answered at the end\n' \
        "$server" "$connections" "$up" "$(json "$held" failed)" "$(json "$held" seconds)" \
        "$(json "$held" per_second)" "$server_cpu" $((server_cpu * 1000 / (up > 0 ? up : 1))) \
        $((idle_rss / 1024)) $((peak_rss / 1024)) $(((peak_rss - idle_rss) / (up > 0 ? up : 1))) "$peak_fds" "$alive"
    [ "$up" -eq "$connections" ] && [ "$alive" -eq "$connections" ] || failed=1
    # The server is back to where it started once the clients are gone.
    for _ in $(seq 100); do [ "$(fd_count "$server_pid")" -le "$idle_fds" ] && break; sleep 0.1; done
    echo "idle $server: descriptors $idle_fds before, $(fd_count "$server_pid") after the clients left; RSS $(($(rss_kb "$server_pid") / 1024)) MB after"
    stop_server
}

echo_run() {
    local clients=${ECHO_CLIENTS:-1000}
    start_porter --max-connections $((clients + 64))
    local result
    # shellcheck disable=SC2086
    result=$("$echo_load" --mode porter --port "$port" $PORTER_ARGS --connections "$clients" --duration 10)
    echo "echo: $clients clients for 10 s: $result; server RSS $(($(rss_kb "$server_pid") / 1024)) MB"
    [ "$(json "$result" errors)" -eq 0 ] && [ "$(json "$result" requests)" -gt 0 ] || failed=1
    stop_server
}

room_run() {
    local members=${MEMBERS:-200}
    start_porter
    local idle_rss peak_rss=0 rss
    idle_rss=$(rss_kb "$server_pid")
    # shellcheck disable=SC2086
    "$load" room --port "$port" $PORTER_ARGS --members "$members" --slow 1 --rate "${RATE:-200}" \
        >"$tmp/room.out" 2>"$tmp/room.err" &
    local client=$!
    while kill -0 "$client" 2>/dev/null; do
        rss=$(rss_kb "$server_pid")
        [ "$rss" -le "$peak_rss" ] || peak_rss=$rss
        sleep 0.5
    done
    wait "$client" || true
    local done_line slow
    done_line=$(grep '"done"' "$tmp/room.out" || { cat "$tmp/room.err" >&2; echo '{"complete":0}'; })
    slow=$(grep '"slow-reader"' "$tmp/room.out" || echo '{"received":"?","dropped":false}')
    echo "room: $members members at ${RATE:-200} messages/s, $(json "$done_line" messages) messages in $(json "$done_line" seconds) s; complete: $(json "$done_line" complete) of $members (the slow reader counts when it was dropped); slow reader got $(json "$slow" received) before it was dropped; server RSS $((idle_rss / 1024)) MB before, peak $((peak_rss / 1024)) MB"
    [ "$(json "$done_line" complete)" -eq "$members" ] || failed=1
    stop_server
}

runs=("$@")
[ ${#runs[@]} -gt 0 ] || runs=(idle echo room)
for run in "${runs[@]}"; do
    case $run in
    idle)
        gcc -O2 -Wall -o "$tmp/c_echo_server" bench/baselines/c_echo_server.c
        for server in tls plaintext python c; do idle_run "$server" || failed=1; done
        ;;
    echo) echo_run ;;
    room) room_run ;;
    *) echo "unknown run '$run' (idle, echo or room)" >&2 && exit 2 ;;
    esac
done
exit "$failed"
