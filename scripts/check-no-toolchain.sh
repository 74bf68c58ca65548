#!/usr/bin/env bash
# Runs the self-contained release binary as on a Linux machine without Swift: in a private mount namespace, an
# empty directory covers the Swift toolchain, and there `porter serve`, `hello`, `exec`, `put`, `get`, `ls` and
# `shell` run against each other over TLS. Needs root (for the mount namespace) and util-linux's `script`.
#
#   bash scripts/check-no-toolchain.sh            # builds with scripts/build-release.sh first
#   bash scripts/check-no-toolchain.sh PATH       # checks the binary at PATH
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
binary=${1:-$(bash "$root/scripts/build-release.sh" | tail -1)}
swift=$(command -v swift) || { echo "no swift on PATH: nothing to hide" >&2; exit 1; }
# /opt/swift/usr/bin/swift -> /opt/swift
toolchain=$(dirname "$(dirname "$(dirname "$(readlink -f "$swift")")")")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp "$binary" "$tmp/porter"

cat >"$tmp/check.sh" <<'CHECK'
set -euo pipefail
toolchain=$1
tmp=$2
mount -t tmpfs none "$toolchain"
if [ -e "$toolchain/usr/lib/swift/linux/libswiftCore.so" ]; then echo "the toolchain is still visible" >&2; exit 1; fi
cd "$tmp"
porter=$tmp/porter
export HOME=$tmp/home
mkdir -p "$HOME" files
server=
stop() { [ -z "$server" ] || kill "$server" 2>/dev/null || true; wait 2>/dev/null || true; }
trap stop EXIT
"$porter" serve --listen 127.0.0.1:0 --root files --log-level error >serve.out 2>serve.err &
server=$!
for _ in $(seq 300); do grep -q 'listening on' serve.out 2>/dev/null && break; sleep 0.1; done
endpoint=$(grep -oE 'listening on [^ ]+' serve.out | head -1 | cut -d' ' -f3)
[ -n "$endpoint" ] || { echo "serve did not start: $(cat serve.err)" >&2; exit 1; }
pin=(--fingerprint "$("$porter" serve --print-fingerprint)")

"$porter" hello "$endpoint" "${pin[@]}" >hello.out
grep -q 'connected and authenticated' hello.out || { echo "hello: $(cat hello.out)" >&2; exit 1; }
[ "$("$porter" exec "$endpoint" "${pin[@]}" -- echo exec works)" = "exec works" ] || { echo "exec failed" >&2; exit 1; }
status=0
"$porter" exec "$endpoint" "${pin[@]}" -- sh -c 'exit 7' || status=$?
[ "$status" -eq 7 ] || { echo "exec: exit status $status, expected 7" >&2; exit 1; }
head -c 3000000 /dev/urandom >payload
"$porter" put "$endpoint" "${pin[@]}" --no-progress payload uploaded 2>put.err
cmp payload files/uploaded || { echo "put: the stored file differs" >&2; exit 1; }
"$porter" get "$endpoint" "${pin[@]}" --no-progress uploaded downloaded 2>get.err
cmp payload downloaded || { echo "get: the received file differs" >&2; exit 1; }
"$porter" ls "$endpoint" "${pin[@]}" | grep -q uploaded || { echo "ls does not show the file" >&2; exit 1; }
# A pseudo-terminal session, typed into through `script`'s own terminal.
printf 'echo "shell-$((6 * 7))"\nexit\n' |
    timeout 60 script -qec "$porter shell $endpoint ${pin[*]}" /dev/null >shell.out 2>&1 || true
grep -q 'shell-42' shell.out || { echo "shell: $(tr -d '\r' <shell.out | tail -5)" >&2; exit 1; }
echo "without the toolchain: serve, hello, exec, put, get, ls and shell work"
CHECK
unshare -m --propagation private bash "$tmp/check.sh" "$toolchain" "$tmp"
