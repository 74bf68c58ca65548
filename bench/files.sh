#!/usr/bin/env bash
# File transfer benchmark, every row in one run, one SIZE_MB random file (default 1 GiB) over loopback:
#   1. encrypted download: `porter get` (TLS 1.3) against sftp and scp to a private local sshd (aes128-gcm);
#   2. encrypted upload: `porter put` against sftp and scp;
#   3. plaintext download: `porter get --plaintext` over TCP and over a unix socket against socat with 128 KiB
#      buffers over the same (no digest, no fsync: the ceiling);
#   4. plaintext upload: `porter put --plaintext` against socat the other way.
# Porter verifies every file end to end (XXH3-128 by default; one row with --checksum sha256) and fsyncs it; sftp,
# scp and socat do neither. Every run writes a new file on the scratch directory's filesystem (the last one removed
# first); each tool's last output is checked against the source's SHA-256, untimed. Prints Markdown tables with
# ratios and the targets. The scratch directory is under $TMPDIR: on a disk, fsync makes the disk's write speed
# part of every Porter row; TMPDIR=/dev/shm (memory, where fsync is free) measures the transfer path alone.
#   bash bench/files.sh          SIZE_MB=256 RUNS=3 bash bench/files.sh          TMPDIR=/dev/shm bash bench/files.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
runs=${RUNS:-5}
size_mb=${SIZE_MB:-1024}
source bench/lib.sh
need hyperfine hyperfine
need socat socat
need sftp openssh-client
build_release porter
start_sshd

# lib.sh's sshd has no sftp subsystem, which sftp and scp (the sftp protocol since OpenSSH 9) need: add it and
# have sshd re-read its configuration (SIGHUP: it re-executes itself, same process).
ssh_options=${SSH#ssh }
ssh_options=${ssh_options% *}
ssh_target=${SSH##* }
copy_options=${ssh_options/-p /-P } # sftp and scp spell the port -P
echo "Subsystem sftp internal-sftp" >>"$tmp/sshd_config"
kill -HUP "$(cat "$tmp/sshd.pid")"
for _ in $(seq 100); do sftp $copy_options -b /dev/null "$ssh_target" >/dev/null 2>&1 && break; sleep 0.1; done
sftp $copy_options -b /dev/null "$ssh_target" >/dev/null || { echo "sshd has no sftp: $(cat "$tmp/sshd.log")" >&2; exit 1; }

# The served directory (Porter's root; sftp-server runs as porter-bench and writes there too) holds the source;
# downloads land in another directory of the same filesystem.
served=$tmp/served
landing=$tmp/landing
mkdir -p "$served" "$landing"
chown porter-bench "$served"
src=$served/src.bin
head -c $((size_mb * 1048576)) /dev/urandom >"$src"
chmod 644 "$src"
digest=$(sha256sum "$src" | cut -d' ' -f1)
echo "file: $size_mb MiB random, $runs runs after 1 warm-up, $(df --output=fstype "$tmp" | tail -1) on $(df --output=source "$tmp" | tail -1)"

# A copy of the binary, which a rebuild in the shared build directory cannot change mid-run. start_porter serves
# its working directory: start it from the directory served.
cp "$porter" "$tmp/porter"
porter=$tmp/porter
cd "$served"
start_porter
cd "$root"
# A plaintext Porter server on TCP and on a unix socket, serving the same directory.
"$porter" serve --plaintext --listen 127.0.0.1:0 --listen "unix:$tmp/porter.sock" --root "$served" \
    --token-file "$tmp/token" --log-level error >"$tmp/plain.out" 2>"$tmp/plain.err" &
pids+=($!)
for _ in $(seq 300); do [ "$(grep -c 'listening on' "$tmp/plain.out" 2>/dev/null)" = 2 ] && break; sleep 0.1; done
plain=$(grep -oE 'listening on 127[^ ]+' "$tmp/plain.out" | cut -d' ' -f3 || true)
[ -n "$plain" ] && [ -S "$tmp/porter.sock" ] || { echo "plaintext porter did not start: $(cat "$tmp/plain.err")" >&2; exit 1; }

# socat servers with 128 KiB buffers: each connection (a forked child) sends the source, or writes what it
# receives to the upload destination. `-U` sends from the second address to the first.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
socat_server() {
    local ready=$1; shift
    socat -b131072 "$@" 2>>"$tmp/socat.err" &
    pids+=($!)
    for _ in $(seq 100); do
        if [[ $ready == /* ]]; then [ -S "$ready" ] && return; else [ -n "$(ss -Hltn "sport = :$ready")" ] && return; fi
        sleep 0.1
    done
    echo "socat did not start: $(cat "$tmp/socat.err")" >&2; exit 1
}
socat_get_port=$(free_port)
socat_server "$socat_get_port" -U "TCP-LISTEN:$socat_get_port,bind=127.0.0.1,reuseaddr,fork" "OPEN:$src,rdonly"
socat_server "$tmp/socat-get.sock" -U "UNIX-LISTEN:$tmp/socat-get.sock,fork" "OPEN:$src,rdonly"
socat_put_port=$(free_port)
socat_server "$socat_put_port" -u "TCP-LISTEN:$socat_put_port,bind=127.0.0.1,reuseaddr,fork" \
    "OPEN:$served/up.bin,creat,trunc"
socat_server "$tmp/socat-put.sock" -u "UNIX-LISTEN:$tmp/socat-put.sock,fork" "OPEN:$served/up.bin,creat,trunc"

# Times COMMAND, which writes OUTPUT (removed before every run), in GROUP; then checks the last OUTPUT against the
# source and removes it. BASE names the Porter row this one is compared with.
rows=$tmp/rows.tsv
: >"$rows"
measure() {
    local group=$1 base=$2 name=$3 output=$4 command=$5 json=$tmp/row-$(wc -l <"$rows").json
    hyperfine -N --warmup 1 --runs "$runs" --prepare "rm -f $output" --export-json "$json" -n "$name" "$command" \
        >/dev/null 2>"$tmp/hyperfine.err" || { cat "$tmp/hyperfine.err" >&2; exit 1; }
    # socat's upload client is done once it has sent the last byte; its server may still be writing a few.
    for _ in $(seq 100); do [ "$(stat -c %s "$output" 2>/dev/null)" = $((size_mb * 1048576)) ] && break; sleep 0.1; done
    local got
    got=$(sha256sum "$output" | cut -d' ' -f1)
    [ "$got" = "$digest" ] || { echo "$name: $output has SHA-256 $got, the source $digest" >&2; exit 1; }
    rm -f "$output"
    printf '%s\t%s\t%s\n' "$group" "$base" "$json" >>"$rows"
}
get="$porter get --no-progress"
put="$porter put --no-progress"
down=$landing/down.bin
up=$served/up.bin
encrypted="porter get (TLS)"
measure "encrypted download" "$encrypted" "$encrypted" "$down" "$get $endpoint $PORTER_ARGS src.bin $down"
measure "encrypted download" "$encrypted" "porter get (TLS, --checksum sha256)" "$down" \
    "$get $endpoint $PORTER_ARGS --checksum sha256 src.bin $down"
echo "get $src $down" >"$tmp/sftp-get"
measure "encrypted download" "$encrypted" "sftp get" "$down" "sftp $copy_options -b $tmp/sftp-get $ssh_target"
measure "encrypted download" "$encrypted" "scp download" "$down" "scp $copy_options $ssh_target:$src $down"

encrypted="porter put (TLS)"
measure "encrypted upload" "$encrypted" "$encrypted" "$up" "$put $endpoint $PORTER_ARGS $src up.bin"
echo "put $src $up" >"$tmp/sftp-put"
measure "encrypted upload" "$encrypted" "sftp put" "$up" "sftp $copy_options -b $tmp/sftp-put $ssh_target"
measure "encrypted upload" "$encrypted" "scp upload" "$up" "scp $copy_options $src $ssh_target:$up"

tcp="porter get --plaintext (TCP)"
unix="porter get (unix socket)"
measure "plaintext download" "$tcp" "$tcp" "$down" \
    "$get $plain --token-file $tmp/token --plaintext src.bin $down"
measure "plaintext download" "$tcp" "socat (TCP)" "$down" \
    "socat -b131072 -u TCP:127.0.0.1:$socat_get_port OPEN:$down,creat,trunc"
measure "plaintext download" "$unix" "$unix" "$down" "$get unix:$tmp/porter.sock --token-file $tmp/token src.bin $down"
measure "plaintext download" "$unix" "socat (unix socket)" "$down" \
    "socat -b131072 -u UNIX-CONNECT:$tmp/socat-get.sock OPEN:$down,creat,trunc"

tcp="porter put --plaintext (TCP)"
unix="porter put (unix socket)"
measure "plaintext upload" "$tcp" "$tcp" "$up" "$put $plain --token-file $tmp/token --plaintext $src up.bin"
measure "plaintext upload" "$tcp" "socat (TCP)" "$up" "socat -b131072 -u OPEN:$src,rdonly TCP:127.0.0.1:$socat_put_port"
measure "plaintext upload" "$unix" "$unix" "$up" "$put unix:$tmp/porter.sock --token-file $tmp/token $src up.bin"
measure "plaintext upload" "$unix" "socat (unix socket)" "$up" \
    "socat -b131072 -u OPEN:$src,rdonly UNIX-CONNECT:$tmp/socat-put.sock"

python3 - "$rows" "$size_mb" <<'PY'
import json, sys
size = int(sys.argv[2])
groups = {}
for line in open(sys.argv[1]):
    group, base, path = line.rstrip("\n").split("\t")
    result = json.load(open(path))["results"][0]
    groups.setdefault(group, {})[result["command"]] = (base, result)
def ratio(group, name, base=None):
    row_base, result = groups[group][name]
    return result["mean"] / groups[group][base or row_base][1]["mean"]
for group, rows in groups.items():
    print(f"| {group}, {size} MiB | mean s | stddev s | MiB/s | porter ÷ this |")
    print("|---|---:|---:|---:|---:|")
    for name, (base, r) in rows.items():
        print(f'| {name} | {r["mean"]:.3f} | {r["stddev"]:.3f} | {size / r["mean"]:,.0f} | {ratio(group, name):.2f}× |')
    print()
print("| target: porter's throughput ÷ | ratio | goal | |")
print("|---|---:|---:|---|")
for group, name, goal, base in [
    ("encrypted download", "sftp get", 2.5, None),
    ("plaintext download", "socat (TCP)", 0.8, None),
    ("plaintext download", "socat (unix socket)", 0.8, None),
    ("plaintext upload", "socat (TCP)", 0.8, None),
    ("plaintext upload", "socat (unix socket)", 0.8, None),
]:
    value = ratio(group, name, base)
    label = f"{group}: {name}"
    print(f'| {label} | {value:.2f}× | ≥ {goal}× | {"met" if value >= goal else "missed"} |')
PY
