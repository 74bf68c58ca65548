#!/usr/bin/env bash
# Fault injection: Porter's guarantees checked with SIGKILL, over TLS on loopback, against a server of its own
# (an isolated HOME holds the server's token and identity, which its clients recognise).
#
#   1. File transfers. TRANSFERS rounds (default 100), `porter get` and `porter put` in turn, each of a random
#      size (0 B to 200 MiB, random content) with a random victim: the client or the server is SIGKILLed after
#      a random delay between 0 and the transfer's expected time (measured uninterrupted at the start).
#      A killed server is restarted on the same port. Then: the destination holds either nothing under the final
#      name or a byte-identical copy, and nothing but the hidden `.NAME.porter-part`; the same transfer with
#      `--resume` exits 0 and leaves a byte-identical file and no part file. The server itself waits up to 2 s
#      for the part file of a killed transfer it is still closing; a resume refused as busy ("another transfer
#      ... is in progress") is a failure, unless BUSY_SECONDS (default 0) allows retrying for that long.
#   2. Remote commands. EXEC_ROUNDS rounds (default 30) of `porter exec` running a process tree that lasts (plain,
#      on a pseudo-terminal, flooding output, flooding output to a reader that never reads, flooding input,
#      ignoring SIGHUP and SIGTERM, leaving reparented children, with its output closed); the client is
#      SIGKILLed after 0-1 s. Every process of the command carries a marker (an environment variable, and the
#      shell's argv): within 10 s none may remain. Then the server must answer `porter hello`, and its open file
#      descriptors must be back to about their number before the rounds.
#
# Prints a summary and writes every round to bench/results/faults-YYYYmmdd-HHMMSS.tsv. Exit status 1 if any
# check failed. SEED reproduces a run's random choices (sizes, victims, delays).
#   bash reliability/faults.sh            bash reliability/faults.sh 10            EXEC_ROUNDS=60 bash reliability/faults.sh
#   PORTER=.build/debug/porter bash reliability/faults.sh
# The binary is $PORTER (default .build-release/release/porter, brought up to date first). Files live under /dev/shm
# (or $TMPDIR without it): SIGKILL leaves the page cache intact, so memory behaves as a disk would here.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
transfers=${1:-100}
exec_rounds=${EXEC_ROUNDS:-30}
busy_seconds=${BUSY_SECONDS:-0}
seed=${SEED:-$((($$ << 16) ^ $(date +%s)))}
RANDOM=$seed

porter=${PORTER:-.build-release/release/porter}
# Without $PORTER, the release build is brought up to date (quick when it is), with the shipped binary's flags
# (scripts/release-flags.sh): other flags would rebuild the whole of .build-release, here and at the next benchmark.
[ -n "${PORTER:-}" ] || bash -c 'source bench/lib.sh && build_release porter' >/dev/null
[ -x "$porter" ] || { echo "no executable at PORTER=$porter" >&2; exit 1; }

base=/dev/shm
[ -d "$base" ] && [ -w "$base" ] || base=${TMPDIR:-/tmp}
tmp=$(mktemp -d "$base/porter-faults.XXXXXX")
server_pid=
client_pid=
stall_fd=
tag="porter-fault-$$-" # every remote command's marker starts with this
cleanup() {
    [ -n "$server_pid" ] && kill -KILL "$server_pid" 2>/dev/null
    [ -n "$client_pid" ] && kill -KILL "$client_pid" 2>/dev/null
    local left
    read -ra left <<<"$(marked_pids "$tag")"
    [ ${#left[@]} = 0 ] || kill -KILL "${left[@]}" 2>/dev/null
    [ -n "$stall_fd" ] && exec {stall_fd}>&-
    rm -rf "$tmp"
}
trap 'cleanup 2>/dev/null || true' EXIT
trap 'exit 130' INT TERM

# A copy of the binary, which a rebuild in the build directory cannot change mid-run.
cp "$porter" "$tmp/porter"
binary_info="$porter ($(stat -c '%y' "$porter" | cut -d. -f1))"
porter=$tmp/porter
# The server's token and identity are created under this HOME on first start; clients find them there.
export HOME=$tmp/home
mkdir -p "$HOME"
served=$tmp/served   # the server's --root
landing=$tmp/landing # where downloads go
mkdir -p "$served/src" "$landing"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
server=127.0.0.1:$port
results=bench/results/faults-$(date +%Y%m%d-%H%M%S).tsv
mkdir -p bench/results

# Microseconds since 1970, in the variable named $1.
now_us() { local t=$EPOCHREALTIME; printf -v "$1" '%s' "${t/./}"; }
# A random integer in [0, $1], in the variable named $2 (30 random bits).
random_upto() { printf -v "$2" '%d' $((((RANDOM << 15) | RANDOM) % ($1 + 1))); }
# Milliseconds as seconds for sleep.
seconds() { printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)); }

# Whether process $1 is running: not gone, not a zombie.
running() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [[ ${stat:0:1} != [ZX] ]]
}

# Waits up to $2 seconds for our child $1 to end; sets status to its exit status, or to "hung" after killing it.
# (Standard error is discarded: the shell's "Killed" notices of the victims.)
await() {
    local deadline=$((SECONDS + $2))
    while running "$1" && [ $SECONDS -lt "$deadline" ]; do sleep 0.02; done
    if running "$1"; then
        kill -KILL "$1" 2>/dev/null || true
        wait "$1" 2>/dev/null || true
        status=hung
    else
        status=0
        wait "$1" 2>/dev/null || status=$?
    fi
} 2>/dev/null

# Starts `porter serve` on the fixed port (SO_REUSEADDR: a restarted server binds at once) and waits until
# `porter hello` is answered.
start_server() {
    "$porter" serve --listen "$server" --root "$served" --log-level error \
        </dev/null >>"$tmp/server.out" 2>>"$tmp/server.err" &
    server_pid=$!
    local deadline=$((SECONDS + 60))
    until "$porter" hello "$server" -c 1 --connect-timeout 5 </dev/null >/dev/null 2>"$tmp/hello.err"; do
        running "$server_pid" || { echo "porter serve exited: $(tail -5 "$tmp/server.err")" >&2; exit 1; }
        [ $SECONDS -lt "$deadline" ] || { echo "porter serve not ready in 60 s: $(cat "$tmp/hello.err")" >&2; exit 1; }
        sleep 0.02
    done
}

# Whether the server is still running; if it is not (it crashed), counts it, shows its last words and restarts it.
check_server() {
    running "$server_pid" && return 0
    local status=0
    wait "$server_pid" 2>/dev/null || status=$?
    server_crashes=$((server_crashes + 1))
    echo "  FAIL: the server exited by itself (status $status): $(tail -5 "$tmp/server.err")"
    start_server
    return 1
}

# The open file descriptors of the server.
server_fds() { find "/proc/$server_pid/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }

# Pids of the processes whose command line or environment contains $1 (the environment is inherited by every
# descendant, whatever it execs).
marked_pids() {
    {
        pgrep -f -- "$1" || true
        grep -laF -- "LC_PORTER_FAULT=$1" /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3 || true
    } | sort -un | tr '\n' ' '
}

# Test files: random content, in the server's root (sources of downloads and of uploads alike).
labels=(0B 1B 4K 1M 16M 64M 200M)
sizes=(0 1 4096 1048576 16777216 67108864 209715200)
largest=$((${#sizes[@]} - 1))
for i in "${!sizes[@]}"; do
    head -c "${sizes[$i]}" /dev/urandom >"$served/src/${labels[$i]}.bin"
done

echo "porter: $binary_info"
echo "machine: $(nproc) cores, kernel $(uname -r), files on $(df --output=fstype "$tmp" | tail -1) ($tmp)"
echo "rounds: $transfers transfers, $exec_rounds exec; SEED=$seed; server $server (TLS)"
start_server

# Calibration: uninterrupted transfers of the empty and the largest file, each way, the faster of two. A size's
# expected time is the empty file's (connection, authentication) plus its share of the largest's remainder.
calibrate() {
    local op=$1 label=$2 var=$3 t0 t1 ms best=
    local transfer=(get "$server" "src/$label.bin" "$tmp/calibration/$label.bin") copy=$tmp/calibration/$label.bin
    [ "$op" = get ] || transfer=(put "$server" "$served/src/$label.bin" "calibration/$label.bin") copy=$served/calibration/$label.bin
    for _ in 1 2; do
        rm -rf "$tmp/calibration" "$served/calibration" && mkdir -p "$tmp/calibration" "$served/calibration"
        now_us t0
        "$porter" "${transfer[@]}" --no-progress </dev/null >"$tmp/calibration.log" 2>&1 ||
            { echo "porter ${transfer[*]} failed: $(cat "$tmp/calibration.log")" >&2; exit 1; }
        now_us t1
        cmp -s "$served/src/$label.bin" "$copy" || { echo "porter ${transfer[*]}: the copy differs" >&2; exit 1; }
        ms=$(((t1 - t0) / 1000))
        [ -n "$best" ] && [ "$best" -le "$ms" ] || best=$ms
    done
    rm -rf "$tmp/calibration" "$served/calibration"
    printf -v "$var" '%d' "$best"
}
get_ms0=0 get_msl=0 put_ms0=0 put_msl=0
calibrate get 0B get_ms0
calibrate get "${labels[$largest]}" get_msl
calibrate put 0B put_ms0
calibrate put "${labels[$largest]}" put_msl
echo "calibration: get 0 B ${get_ms0} ms, ${labels[$largest]} ${get_msl} ms; put 0 B ${put_ms0} ms, ${labels[$largest]} ${put_msl} ms"
expected_ms() { # op size -> ms
    local ms0=$get_ms0 msl=$get_msl
    [ "$1" = get ] || { ms0=$put_ms0; msl=$put_msl; }
    echo $((ms0 + (msl > ms0 ? msl - ms0 : 0) * $2 / sizes[largest]))
}

# One line per round. Transfers: op get/put, size in bytes, victim, kill_ms (from the client's start to the kill),
# the client's exit status, landed (the transfer had not finished: the kill cut it short), part_bytes (the part
# file's size before --resume, - if none), final (what was under the final name after the kill: absent, identical,
# CORRUPT), the resume's exit status, wait_ms (time its retries waited for the server to let the part file go),
# outcome. Exec: op is the kind of command, landed whether its processes were running at the kill, wait_ms the
# time until none was left after the kill.
printf 'section\tround\top\tsize\tvictim\tkill_ms\tclient_status\tlanded\tpart_bytes\tfinal\tresume_status\twait_ms\toutcome\tdetail\n' >"$results"

n_get=0 n_put=0 kills_client=0 kills_server=0 landed_count=0 parts_found=0 resumed_bytes=0 parts_restarted=0
corrupt=0 stray=0 failed_resumes=0 unexpected_status=0 hung=0 server_crashes=0 busy_rounds=0 busy_max_ms=0

# One transfer round: $1 round number.
transfer_round() {
    local n=$1 op i label size victim delay_ms expected name dir final part remote cpid landed=no
    local t0 t1 kill_ms part_bytes=- final_state=absent resume_status=- wait_ms=0 outcome=ok detail='' entry log=$tmp/client.log
    op=$([ $((n % 2)) = 1 ] && echo get || echo put)
    i=$((RANDOM % ${#sizes[@]}))
    label=${labels[$i]} size=${sizes[$i]}
    victim=$([ $((RANDOM % 2)) = 0 ] && echo client || echo server)
    expected=$(expected_ms "$op" "$size")
    random_upto "$expected" delay_ms
    printf -v name 'r%04d-%s.bin' "$n" "$label"
    # Each round writes into a directory of its own: on this side for get, in the server's root for put.
    if [ "$op" = get ]; then dir=$landing/${name%.bin}; else dir=$served/${name%.bin}; fi
    mkdir -p "$dir"
    final=$dir/$name
    part=$dir/.$name.porter-part
    remote=${name%.bin}/$name
    local transfer=(get "$server" "src/$label.bin" "$final")
    [ "$op" = get ] || transfer=(put "$server" "$served/src/$label.bin" "$remote")
    if [ "$op" = get ]; then n_get=$((n_get + 1)); else n_put=$((n_put + 1)); fi

    now_us t0
    "$porter" "${transfer[@]}" --no-progress </dev/null >"$log" 2>&1 &
    cpid=$!
    client_pid=$cpid
    sleep "$(seconds "$delay_ms")"
    now_us t1
    kill_ms=$(((t1 - t0) / 1000))
    if [ "$victim" = client ]; then
        kills_client=$((kills_client + 1))
        kill -KILL "$cpid" 2>/dev/null || true
        await "$cpid" 30
    else
        kills_server=$((kills_server + 1))
        kill -KILL "$server_pid"
        wait "$server_pid" 2>/dev/null || true
        await "$cpid" 30
    fi
    client_pid=
    # The kill landed mid-transfer if the transfer did not finish: the client was killed (137), or the server
    # was and the client failed for it (255: Porter's own failure). Any other status is a failure of its own.
    case "$victim/$status" in
    */0) ;;
    client/137 | server/255) landed=yes ;;
    */hung) hung=$((hung + 1)) landed=yes outcome=FAIL detail="client did not end within 30 s of the kill; " ;;
    *) unexpected_status=$((unexpected_status + 1)) landed=yes outcome=FAIL detail="client exited $status: $(tail -1 "$log"); " ;;
    esac
    [ "$landed" = yes ] && landed_count=$((landed_count + 1))
    if [ "$victim" = server ]; then start_server; else check_server || { outcome=FAIL detail+="server crash; "; }; fi

    # After the kill: nothing, or the whole file, under the final name; at most the hidden part file beside it.
    if [ -e "$final" ]; then
        if cmp -s "$final" "$served/src/$label.bin"; then final_state=identical; else
            final_state=CORRUPT corrupt=$((corrupt + 1)) outcome=FAIL detail+="corrupt final file after the kill; "
            cp "$final" "$tmp/corrupt-$name"
        fi
    fi
    for entry in "$dir"/* "$dir"/.[!.]*; do
        [ -e "$entry" ] || continue
        case "$entry" in "$final" | "$part") ;; *)
            stray=$((stray + 1)) outcome=FAIL detail+="unexpected file ${entry##*/}; " ;;
        esac
    done

    # The same transfer with --resume, retried while the server still holds the killed transfer's part file.
    local busy=no deadline=$((SECONDS + busy_seconds)) limit=$((expected * 20 / 1000 + 60)) rlog=$tmp/resume.log
    now_us t0
    while true; do
        part_bytes=-
        [ -e "$part" ] && part_bytes=$(stat -c %s "$part" 2>/dev/null || echo -)
        now_us t1
        resume_status=0
        timeout -k 5 "$limit" "$porter" "${transfer[@]}" --resume --no-progress </dev/null >"$rlog" 2>&1 || resume_status=$?
        if [ "$resume_status" != 1 ] || ! grep -q 'is in progress' "$rlog"; then break; fi
        busy=yes
        [ $SECONDS -lt "$deadline" ] || break
        sleep 0.05
    done
    if [ "$busy" = yes ]; then
        wait_ms=$(((t1 - t0) / 1000))
        busy_rounds=$((busy_rounds + 1))
        [ "$wait_ms" -le "$busy_max_ms" ] || busy_max_ms=$wait_ms
    fi
    [ "$part_bytes" = - ] || { parts_found=$((parts_found + 1)) resumed_bytes=$((resumed_bytes + part_bytes)); }
    if [ "$part_bytes" != - ] && [ "$part_bytes" -gt 0 ] && [ "$resume_status" = 0 ] && ! grep -q 'resumed' "$rlog"; then
        parts_restarted=$((parts_restarted + 1)) detail+="part file of $part_bytes bytes not reused; "
    fi
    local resume_ok=yes
    if [ "$resume_status" != 0 ]; then resume_ok=no detail+="resume exited $resume_status: $(tail -1 "$rlog"); "; fi
    if ! cmp -s "$final" "$served/src/$label.bin" 2>/dev/null; then resume_ok=no detail+="final file not identical after resume; "; fi
    for entry in "$dir"/* "$dir"/.[!.]*; do
        [ -e "$entry" ] || continue
        [ "$entry" = "$final" ] || { resume_ok=no detail+="left after resume: ${entry##*/}; "; }
    done
    if [ "$resume_ok" = no ]; then failed_resumes=$((failed_resumes + 1)) outcome=FAIL; fi
    rm -rf "$dir"

    printf '%s\t%d\t%s\t%d\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n' transfer "$n" "$op" "$size" "$victim" \
        "$kill_ms" "$status" "$landed" "$part_bytes" "$final_state" "$resume_status" "$wait_ms" "$outcome" \
        "${detail%; }" >>"$results"
    printf 'transfer %3d/%d  %s %-4s kill %-6s at %5d ms  client %-4s landed %-3s part %-9s final %-9s resume %s%s\n' \
        "$n" "$transfers" "$op" "$label" "$victim" "$kill_ms" "$status" "$landed" "$part_bytes" "$final_state" \
        "$resume_status" "${detail:+  ${detail%; }}"
    if [ "$outcome" != ok ]; then
        echo "  FAIL: porter ${transfer[*]}: $(tr '\n' ' ' <"$log") / --resume: $(tr '\n' ' ' <"$rlog")"
    fi
}

for ((n = 1; n <= transfers; n++)); do transfer_round "$n"; done

# Remote commands: `sh -c SCRIPT MARKER` (the marker is the shell's $0, in its argv) with LC_PORTER_FAULT=MARKER
# (a name the server accepts by default; every process of the command inherits it, whatever it execs).
exec_kinds=(tree tree-tty flood flood-tty flood-stalled stdin-flood ignore-term reparented closed-output)
# shellcheck disable=SC2016 # expanded by the remote shell
exec_script() {
    case $1 in
    tree | tree-tty) echo 'sleep 300 & sleep 300 & exec sleep 300' ;;
    flood | flood-tty | flood-stalled) echo 'yes "$0" | head -c 1073741824 & exec cat /dev/zero' ;;
    stdin-flood) echo 'sleep 300 & exec cat' ;;
    ignore-term) echo 'trap "" HUP TERM; sleep 300 & sleep 300 & exec sleep 300' ;;
    reparented) echo '(trap "" HUP TERM; exec sleep 300) & (sleep 300 &); exec sleep 300' ;;
    closed-output) echo 'exec >/dev/null 2>&1 </dev/null; sleep 300 & exec sleep 300' ;;
    esac
}
# flood-stalled writes to a FIFO held open here and never read: the client blocks on its output, then the
# server on the connection, then the command on its pipe.
mkfifo "$tmp/stall"
exec {stall_fd}<>"$tmp/stall"

exec_client_errors=0 exec_running=0 orphan_rounds=0 orphan_procs=0

# One exec round: $1 round number.
exec_round() {
    local n=$1 kind marker delay_ms kill_ms cpid pid pids found=0 landed=no gone_ms=- outcome=ok detail='' t0 t1
    local flags=() input=/dev/null output=/dev/null deadline left
    kind=${exec_kinds[$(((n - 1) % ${#exec_kinds[@]}))]}
    printf -v marker '%sx%04d' "$tag" "$n"
    random_upto 1000 delay_ms
    case $kind in *-tty) flags=(--tty) ;; esac
    [ "$kind" = stdin-flood ] && input=/dev/zero
    [ "$kind" = flood-stalled ] && output=$tmp/stall
    now_us t0
    "$porter" exec "$server" "${flags[@]}" --env "LC_PORTER_FAULT=$marker" -- sh -c "$(exec_script "$kind")" \
        "$marker" <"$input" >"$output" 2>"$tmp/exec.err" &
    cpid=$!
    client_pid=$cpid
    sleep "$(seconds "$delay_ms")"
    # The command's processes at the kill (the client's own argv holds the marker too: not counted).
    for pid in $(marked_pids "$marker"); do [ "$pid" = "$cpid" ] || found=$((found + 1)); done
    kill -KILL "$cpid" 2>/dev/null || true
    now_us t1
    kill_ms=$(((t1 - t0) / 1000))
    t0=$t1
    await "$cpid" 10
    client_pid=
    [ "$found" -gt 0 ] && landed=yes exec_running=$((exec_running + 1))
    if [ "$status" != 137 ]; then
        exec_client_errors=$((exec_client_errors + 1)) outcome=FAIL
        detail+="client exited $status before the kill: $(tail -1 "$tmp/exec.err"); "
    fi
    # Everything the command started must end: the server terminates the group when the connection closes.
    deadline=$((SECONDS + 10))
    while pids=$(marked_pids "$marker") && [ -n "$pids" ] && [ $SECONDS -lt "$deadline" ]; do sleep 0.05; done
    now_us t1
    if [ -n "$pids" ]; then
        orphan_rounds=$((orphan_rounds + 1)) orphan_procs=$((orphan_procs + $(wc -w <<<"$pids"))) outcome=FAIL
        detail+="processes left after 10 s: ${pids% }; "
        echo "  FAIL: processes of round $n ($kind) left 10 s after the client was killed:"
        read -ra left <<<"$pids"
        ps -o pid,ppid,pgid,sid,stat,etime,cmd -p "$(IFS=,; echo "${left[*]}")" | sed 's/^/    /' || true
        kill -KILL "${left[@]}" 2>/dev/null || true
    else
        gone_ms=$(((t1 - t0) / 1000))
    fi
    check_server || { outcome=FAIL detail+="server crash; "; }
    printf '%s\t%d\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' exec "$n" "$kind" - client "$kill_ms" \
        "$status" "$landed" - - - "$gone_ms" "$outcome" "$found processes at the kill${detail:+; ${detail%; }}" >>"$results"
    printf 'exec     %3d/%d  %-13s kill client at %4d ms  processes at kill %d  all gone after %s ms%s\n' \
        "$n" "$exec_rounds" "$kind" "$kill_ms" "$found" "$gone_ms" "${detail:+  ${detail%; }}"
}

fds_before=$(server_fds)
for ((n = 1; n <= exec_rounds; n++)); do exec_round "$n"; done

# The server after every round: answering, its descriptors back to about their number before the exec rounds
# (connections of killed clients may take a moment to close), no unreaped children.
healthy=yes
"$porter" hello "$server" -c 1 </dev/null >/dev/null 2>"$tmp/hello.err" || healthy="no: $(cat "$tmp/hello.err")"
fd_slack=8
deadline=$((SECONDS + 10))
while fds_after=$(server_fds) && [ "$fds_after" -gt $((fds_before + fd_slack)) ] && [ $SECONDS -lt "$deadline" ]; do
    sleep 0.2
done
zombies=$(pgrep -c -P "$server_pid" -r Z || true)
fd_growth=no
[ "$fds_after" -le $((fds_before + fd_slack)) ] || fd_growth=yes

failures=$((corrupt + stray + failed_resumes + unexpected_status + hung + server_crashes + exec_client_errors + \
    orphan_rounds + zombies))
[ "$healthy" = yes ] || failures=$((failures + 1))
[ "$fd_growth" = no ] || failures=$((failures + 1))
verdict=PASS
[ "$failures" = 0 ] || verdict=FAIL
cat <<SUMMARY

summary (SEED=$seed, $binary_info)
  transfers               $transfers ($n_get get, $n_put put)
  kills of the client     $kills_client
  kills of the server     $kills_server
  landed mid-transfer     $landed_count
  partial files found     $parts_found
  resumed bytes total     $resumed_bytes (in part files before --resume; $parts_restarted part files not reused)
  resumes refused busy    $busy_rounds (server still held the killed transfer's part file; longest wait ${busy_max_ms} ms)
  corrupt final files     $corrupt (must be 0)
  failed resumes          $failed_resumes (must be 0)
  unexpected files        $stray (must be 0)
  unexpected client exits $unexpected_status (must be 0)
  hung clients            $hung (must be 0)
  server crashes          $server_crashes (must be 0)
  exec rounds             $exec_rounds ($exec_running with the command running at the kill)
  exec client errors      $exec_client_errors (must be 0)
  orphans                 $orphan_rounds rounds, $orphan_procs processes (must be 0)
  server after all rounds healthy: $healthy; open fds $fds_before before the exec rounds, $fds_after after; zombie children $zombies
  records                 $results
  wall time               ${SECONDS} s
  result                  $verdict
SUMMARY
[ "$verdict" = PASS ]
