#!/usr/bin/env bash
# TCP forwarding benchmark, every row in one run, all on loopback: `porter forward` (TLS 1.3, one Porter
# connection) against `ssh -N -L` to a private local sshd (aes128-gcm), and the target reached directly (no
# forwarding: the ceiling).
#   1. throughput: one SIZE_MB download (default 256 MiB of random bytes, served by socat) read through each;
#   2. set-up: 100 connections opened at once through each, each sending 64 bytes to a C epoll echo server and
#      reading them back (a small Python client; its start-up is in every row alike).
# Each tool's download is checked for its length, untimed. Prints Markdown tables with ratios.
#   bash bench/forward.sh          SIZE_MB=1024 RUNS=10 bash bench/forward.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
runs=${RUNS:-5}
size_mb=${SIZE_MB:-256}
source bench/lib.sh
need hyperfine hyperfine
need socat socat
build_release porter
gcc -O2 -Wall -o "$tmp/c_echo_server" bench/baselines/c_echo_server.c
start_sshd
start_porter --allow-forward

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# Waits until something accepts connections on 127.0.0.1:$1.
wait_port() {
    for _ in $(seq 100); do
        python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $1), 1)" 2>/dev/null && return
        sleep 0.1
    done
    echo "nothing listens on port $1" >&2; exit 1
}

# The targets: a file served whole to each connection, and an echo server.
head -c $((size_mb * 1048576)) /dev/urandom >"$tmp/src.bin"
source_port=$(free_port)
# (Its complaints of readers that left early, the readiness probes among them, are not wanted.)
socat -U TCP-LISTEN:"$source_port",bind=127.0.0.1,fork,reuseaddr OPEN:"$tmp/src.bin",rdonly 2>/dev/null &
pids+=($!)
"$tmp/c_echo_server" 127.0.0.1 0 >"$tmp/echo.out" &
pids+=($!)
for _ in $(seq 100); do grep -q 'listening on' "$tmp/echo.out" 2>/dev/null && break; sleep 0.1; done
echo_port=$(grep -oE 'listening on [^ ]+' "$tmp/echo.out" | sed -E 's/.*:([0-9]+)$/\1/')
wait_port "$source_port"

# The forwards, each a listener for the file and one for the echo.
porter_source=$(free_port)
porter_echo=$(free_port)
# shellcheck disable=SC2086
"$porter" forward "$endpoint" $PORTER_ARGS -L "$porter_source:127.0.0.1:$source_port" \
    -L "$porter_echo:127.0.0.1:$echo_port" 2>"$tmp/forward.err" &
pids+=($!)
ssh_source=$(free_port)
ssh_echo=$(free_port)
# shellcheck disable=SC2086
ssh -N -L "$ssh_source:127.0.0.1:$source_port" -L "$ssh_echo:127.0.0.1:$echo_port" ${SSH#ssh } &
pids+=($!)
for port in "$porter_source" "$porter_echo" "$ssh_source" "$ssh_echo"; do wait_port "$port"; done

for port in "$source_port" "$porter_source" "$ssh_source"; do
    got=$(socat -u TCP:127.0.0.1:"$port" - | wc -c)
    [ "$got" = $((size_mb * 1048576)) ] || { echo "port $port gave $got bytes" >&2; exit 1; }
done

cat >"$tmp/connect.py" <<'PY'
import socket, sys, threading
port, count, label = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
payload = bytes(range(64))
def one(errors):
    try:
        with socket.create_connection(("127.0.0.1", port), 30) as s:
            s.sendall(payload)
            got = b""
            while len(got) < len(payload):
                chunk = s.recv(64)
                if not chunk: break
                got += chunk
            if got != payload: errors.append(got)
    except OSError as error:
        errors.append(error)
errors = []
threads = [threading.Thread(target=one, args=(errors,)) for _ in range(count)]
for t in threads: t.start()
for t in threads: t.join()
if errors: sys.exit(f"{label}: {len(errors)} of {count} connections failed: {errors[0]!r}")
PY

python3 "$tmp/connect.py" "$echo_port" 100 direct
python3 "$tmp/connect.py" "$porter_echo" 100 "porter forward"
python3 "$tmp/connect.py" "$ssh_echo" 100 "ssh -N -L"

hyperfine --warmup 1 --runs "$runs" --export-json "$tmp/throughput.json" \
    -n "porter forward: ${size_mb} MiB download" "socat -u TCP:127.0.0.1:$porter_source OPEN:/dev/null" \
    -n "ssh -N -L: ${size_mb} MiB download" "socat -u TCP:127.0.0.1:$ssh_source OPEN:/dev/null" \
    -n "direct, no forwarding: ${size_mb} MiB download" "socat -u TCP:127.0.0.1:$source_port OPEN:/dev/null" \
    >/dev/null
hyperfine --warmup 2 --runs $((runs * 4)) --export-json "$tmp/connect.json" \
    -n "porter forward: 100 connections at once" "python3 $tmp/connect.py $porter_echo 100 porter" \
    -n "ssh -N -L: 100 connections at once" "python3 $tmp/connect.py $ssh_echo 100 ssh" \
    -n "direct, no forwarding: 100 connections at once" "python3 $tmp/connect.py $echo_port 100 direct" >/dev/null

ratio_table "$tmp/throughput.json" "porter forward: ${size_mb} MiB download"
ratio_table "$tmp/connect.json" "porter forward: 100 connections at once"
