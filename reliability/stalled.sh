#!/usr/bin/env bash
# The memory a stalled reader costs the server, for docs/RELIABILITY.md. For each mode, CLIENTS (20) clients
# over TLS start something and then never read:
#   exec   `exec yes`, its output never read
#   echo   echo mode, 1 MiB data frames sent until the server stops reading, the answers never read
# and the script prints the server's RSS before, while they are stalled (once it has stopped growing), and after
# they have gone (once the server has offered freed memory back, every 10 s by default).
#
#   bash reliability/stalled.sh [exec|echo]...        (default: both)     CLIENTS=20 HOLD=60
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh
clients=${CLIENTS:-20}
hold=${HOLD:-60}
modes=("$@")
[ ${#modes[@]} -gt 0 ] || modes=(exec echo)

build_release porter porter-load
load="$build/release/porter-load"
start_porter

rss() { awk '/VmRSS/ { print $2 }' "/proc/$server_pid/status"; }
# Waits until the server's RSS changes by less than 1% over 2 s (or 40 s pass), then prints it in kB.
settled_rss() {
    local previous current
    previous=$(rss)
    for _ in $(seq 20); do
        sleep 2
        current=$(rss)
        if [ $(((current > previous ? current - previous : previous - current) * 100)) -le "$previous" ]; then break; fi
        previous=$current
    done
    rss
}
mb() { awk -v kb="$1" 'BEGIN { printf "%.1f MB", kb / 1024 }'; }

echo "server: porter (TLS), $clients clients per mode"
for mode in "${modes[@]}"; do
    before=$(settled_rss)
    # shellcheck disable=SC2086
    "$load" stall --port "$port" $PORTER_ARGS --mode "$mode" --clients "$clients" --seconds "$hold" \
        >"$tmp/stall.out" 2>"$tmp/stall.err" &
    load_pid=$!
    pids+=("$load_pid")
    for _ in $(seq 600); do grep -q stalled "$tmp/stall.out" 2>/dev/null && break; sleep 0.1; done
    grep -q stalled "$tmp/stall.out" || { echo "the load did not start: $(cat "$tmp/stall.err")" >&2; exit 1; }
    during=$(settled_rss)
    kill "$load_pid" 2>/dev/null || true
    wait "$load_pid" 2>/dev/null || true
    # The server notices the clients are gone, ends their requests, then gives the memory back.
    sleep 12
    after=$(settled_rss)
    per=$(((during - before) / clients))
    echo "$mode: before $(mb "$before"), stalled $(mb "$during") ($(mb "$per") per client), after $(mb "$after")"
done
