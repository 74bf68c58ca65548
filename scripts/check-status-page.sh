#!/usr/bin/env bash
# Opens the HTTP status page of a live server in headless Chromium: checks that the page's script filled it from
# /status.json (a running command and a chat room with its members appear), and saves a screenshot.
#   bash scripts/check-status-page.sh                  # writes docs/status-page.png
#   bash scripts/check-status-page.sh --no-screenshot  # the check alone (CI)
# Exits 1 when the page is wrong or the server does not come up; every wait is bounded, so it never hangs.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
screenshot=true
case "${1:-}" in
    --no-screenshot) screenshot=false ;;
    "") ;;
    *) echo "usage: bash scripts/check-status-page.sh [--no-screenshot]" >&2; exit 64 ;;
esac
fail() { echo "status page check failed: $*" >&2; exit 1; }
command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
swift build --product porter >/dev/null
porter=$(swift build --show-bin-path)/porter
tmp=$(mktemp -d)
pids=()
# Sends SIGTERM to the processes given and waits up to 5 s for them to go, then SIGKILL: a process that ignores
# SIGTERM must not hold the script.
stop() {
    local pid alive
    for pid; do kill "$pid" 2>/dev/null || true; done
    for _ in $(seq 50); do
        alive=false
        for pid; do kill -0 "$pid" 2>/dev/null && alive=true; done
        $alive || break
        sleep 0.1
    done
    for pid; do kill -KILL "$pid" 2>/dev/null || true; done
}
cleanup() {
    # The clients first, then the server (the first pid), so that no client reports the server going away.
    if [ ${#pids[@]} -gt 1 ]; then stop "${pids[@]:1}"; fi
    if [ ${#pids[@]} -gt 0 ]; then stop "${pids[0]}"; fi
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
# Waits up to $1 tenths of a second for the command after it to succeed.
within() {
    local tenths=$1
    shift
    for _ in $(seq "$tenths"); do "$@" && return 0; sleep 0.1; done
    return 1
}

head -c 32 /dev/urandom | base64 >"$tmp/token"
chmod 600 "$tmp/token"
"$porter" serve --plaintext --listen 127.0.0.1:0 --http 127.0.0.1:0 --root "$tmp" --token-file "$tmp/token" \
    >"$tmp/serve.out" 2>"$tmp/serve.err" &
pids+=($!)
within 300 grep -q '^http on' "$tmp/serve.out" || fail "the server did not start: $(cat "$tmp/serve.err")"
endpoint=$(grep -oE 'listening on 127[^ ]+' "$tmp/serve.out" | cut -d' ' -f3)
http=$(grep -oE '^http on [^ ]+' "$tmp/serve.out" | cut -d' ' -f3)
[ -n "$endpoint" ] && [ -n "$http" ] || fail "no addresses in the server's output: $(cat "$tmp/serve.out")"
client=(--token-file "$tmp/token" --plaintext)

# Something to show: a command that runs a while, and two members in a room (their input stays open on fifos).
"$porter" exec "$endpoint" "${client[@]}" -- sleep 60 &
pids+=($!)
for name in ann bob; do
    mkfifo "$tmp/$name.in"
    "$porter" chat "$endpoint" "${client[@]}" --name "$name" --room ops <"$tmp/$name.in" >/dev/null &
    pids+=($!)
    exec {fd}>"$tmp/$name.in"
done
shown() {
    local status
    status=$(curl -fs --max-time 2 "http://$http/status.json") || return 1
    grep -q '"bob"' <<<"$status" && grep -q sleep <<<"$status"
}
within 300 shown || fail "/status.json never showed the command and both members: $(curl -s --max-time 2 "http://$http/status.json")"

# A hung browser is killed after 60 s and fails the check.
chrome=(timeout 60 chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --virtual-time-budget=3000)
dom=$("${chrome[@]}" --dump-dom "http://$http/" 2>"$tmp/chromium.err") ||
    fail "chromium failed or timed out (status $?): $(tail -5 "$tmp/chromium.err")"
for expected in '<td>sleep</td>' '<td>ops</td>' '<td>ann, bob</td>' 'id="connections">3<'; do
    grep -qF "$expected" <<<"$dom" || { echo "$dom" >&2; fail "the page in Chromium lacks $expected (its DOM is above)"; }
done
if $screenshot; then
    "${chrome[@]}" --window-size=1100,820 --screenshot="$root/docs/status-page.png" "http://$http/" 2>/dev/null ||
        fail "chromium could not take the screenshot"
    echo "status page checked in $(chromium --version 2>/dev/null); screenshot: docs/status-page.png"
else
    echo "status page checked in $(chromium --version 2>/dev/null)"
fi
