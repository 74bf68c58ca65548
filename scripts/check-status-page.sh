#!/usr/bin/env bash
# Opens the HTTP status page of a live server in headless Chromium: checks that the page's script filled it from
# /status.json (a running command and a chat room with its members appear), and saves a screenshot.
#   bash scripts/check-status-page.sh                # writes docs/status-page.png
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
swift build --product porter >/dev/null
porter=$(swift build --show-bin-path)/porter
tmp=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT

head -c 32 /dev/urandom | base64 >"$tmp/token"
chmod 600 "$tmp/token"
"$porter" serve --plaintext --listen 127.0.0.1:0 --http 127.0.0.1:0 --root "$tmp" --token-file "$tmp/token" \
    >"$tmp/serve.out" 2>"$tmp/serve.err" &
pids+=($!)
for _ in $(seq 100); do grep -q '^http on' "$tmp/serve.out" 2>/dev/null && break; sleep 0.1; done
endpoint=$(grep -oE 'listening on 127[^ ]+' "$tmp/serve.out" | cut -d' ' -f3)
http=$(grep -oE '^http on [^ ]+' "$tmp/serve.out" | cut -d' ' -f3)
[ -n "$endpoint" ] && [ -n "$http" ] || { echo "the server did not start: $(cat "$tmp/serve.err")" >&2; exit 1; }
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
for _ in $(seq 100); do
    curl -fs "http://$http/status.json" | grep -q '"bob"' && curl -fs "http://$http/status.json" | grep -q sleep && break
    sleep 0.1
done

chrome=(chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --virtual-time-budget=3000)
dom=$("${chrome[@]}" --dump-dom "http://$http/" 2>/dev/null)
for expected in '<td>sleep</td>' '<td>ops</td>' '<td>ann, bob</td>' 'id="connections">3<'; do
    grep -qF "$expected" <<<"$dom" || { echo "the page in Chromium lacks $expected:" >&2; echo "$dom" >&2; exit 1; }
done
"${chrome[@]}" --window-size=1100,820 --screenshot="$root/docs/status-page.png" "http://$http/" 2>/dev/null
echo "status page checked in $(chromium --version); screenshot: docs/status-page.png"
