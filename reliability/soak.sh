#!/usr/bin/env bash
# Soak test: one Porter server under a steady mixed workload for MINUTES (default 10), to show that nothing
# fails, that the server's memory stays flat and that it leaks no file descriptors.
#
#   bash reliability/soak.sh [MINUTES]           PORTER=.build/debug/porter bash reliability/soak.sh 1
#
# The server (TLS, loopback, its own HOME, token and identity, `--root` a scratch directory, UDP echo and the
# HTTP endpoint for /metrics) is first primed with one operation of every kind, so that whatever it opens
# lazily is open, and its idle file descriptors are counted. Then workers run in parallel, each one operation
# at a time with a short pause (the load keeps a 2-core machine busy, not saturated):
#   exec    `sh -c 'echo $((6*7))'` must print 42; every 10th prints `seq 1 100000` (checked by MD5), every
#           10th forwards 256 KiB of standard input to `md5sum`;
#   files   `put` a random file of 1 KiB to 8 MiB (a quarter of them into a subdirectory), `get` it back under
#           another name and `cmp`; every 5th round also `ls` (the file must be listed with its size);
#   echo    lines of mixed-case text through `porter echo` (must come back with ASCII letters upper-cased),
#           every other time words as arguments, every 5th time datagrams through `porter udp echo`;
#   chat    two members in one room for a minute at a time: bob listens, ann says numbered lines (and `/who`);
#           bob must receive every line in order, see ann join and leave, and both must exit 0. Each minute
#           the pair leaves and joins again under the same names.
# A failure is a non-zero exit (or a time-out) or a wrong output; it is logged with the client's stderr.
#
# Every 10 s a sampler appends to bench/results/soak-YYYYmmdd-HHMMSS.tsv: time, server RSS (kB), open file
# descriptors, threads, child processes, open connections, server CPU seconds, load average and the cumulative
# counts per operation kind. At the deadline the workers finish their operation in flight; once the server is
# idle again (no connections, commands, transfers or chat members) a last sample is taken.
#
# Exit status 1 if any operation failed, if the server died, if it did not return to idle, if it has more
# file descriptors idle at the end than idle at the start (no tolerance: priming has opened whatever is opened
# lazily), or if its RSS grew by more than 20% from the first sample after the warm-up (60 s, or a fifth of a
# run shorter than 5 minutes) to the last sample under load or to the final idle sample.
set -euo pipefail
invoked_from=$PWD
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

minutes=${1:-10}
[[ $minutes =~ ^[1-9][0-9]*$ ]] || { echo "usage: bash reliability/soak.sh [MINUTES]" >&2; exit 2; }
duration=$((minutes * 60))
warmup=$((duration / 5 < 60 ? duration / 5 : 60))
sample_every=10
rss_growth_limit=20   # percent, from the first sample after the warm-up
chat_session=60       # seconds a chat pair stays in its room
op_timeout=120        # seconds one client command may take before it counts as a failure
kinds=(exec files ls echo udp chat chat-session)

# The binary: $PORTER, or a release build made here.
default_porter=.build-release/release/porter
porter=${PORTER:-$default_porter}
if [ -n "${PORTER:-}" ] && [[ $porter != /* ]]; then porter=$invoked_from/$porter; fi
if [ -z "${PORTER:-}" ]; then
    echo "soak: building $default_porter"
    # With the benchmarks' flags (bench/lib.sh), which are the shipped binary's: other flags would rebuild the
    # whole of .build-release, here and again at the next benchmark.
    bash -c 'source bench/lib.sh && build_release porter' >/dev/null
fi
[ -x "$porter" ] || { echo "soak: no executable at PORTER=$PORTER" >&2; exit 2; }
porter=$(cd "$(dirname "$porter")" && pwd)/$(basename "$porter")

tmp=$(mktemp -d)
export HOME=$tmp/home   # the server's token and identity go here, and the clients find them here
mkdir -p "$HOME" "$tmp/root/sub" "$tmp/counts"
# A private copy of the binary: a rebuild during the run neither changes it nor makes it busy.
porter_origin="$porter (built $(date -r "$porter" '+%F %T'))"
cp "$porter" "$tmp/porter"
porter=$tmp/porter
failures=$tmp/failures.log
: >"$failures"
mkdir -p bench/results
stamp=$(date +%Y%m%d-%H%M%S)
tsv=bench/results/soak-$stamp.tsv
pids=()
server_pid=

cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT   # so that Ctrl-C, even during `wait`, ends the run and cleans up
trap 'exit 143' TERM

before_deadline() { [ "$EPOCHSECONDS" -lt "$deadline" ]; }

# Polls until FILE has a line matching the extended regular expression; gives up after SECONDS.
wait_for_line() {
    local file=$1 pattern=$2 seconds=$3 tries
    for ((tries = seconds * 10; tries > 0; tries--)); do
        grep -qE "$pattern" "$file" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# Starts `porter serve` on free loopback ports and waits until it listens. Sets server_pid, endpoint,
# udp_endpoint and http_endpoint.
start_server() {
    "$porter" serve --listen 127.0.0.1:0 --udp 127.0.0.1:0 --http 127.0.0.1:0 --root "$tmp/root" \
        --log-level warning >"$tmp/server.out" 2>"$tmp/server.err" &
    server_pid=$!
    wait_for_line "$tmp/server.out" '^http on ' 30 || {
        echo "soak: porter serve did not start: $(cat "$tmp/server.err")" >&2
        exit 1
    }
    endpoint=$(grep -oE 'listening on [^ ]+' "$tmp/server.out" | head -1 | cut -d' ' -f3)
    udp_endpoint=$(grep -oE '^udp echo on [^ ]+' "$tmp/server.out" | cut -d' ' -f4)
    http_endpoint=$(grep -oE '^http on [^ ]+' "$tmp/server.out" | cut -d' ' -f3)
    local tries
    for ((tries = 100; tries > 0; tries--)); do
        "$porter" hello "$endpoint" -c 1 >/dev/null 2>"$tmp/hello.err" && return 0
        sleep 0.1
    done
    echo "soak: porter hello $endpoint fails: $(cat "$tmp/hello.err")" >&2
    exit 1
}

# Operation counts: one file per kind holding "OK FAILED", written only by the worker that owns the kind.
reset_counts() {
    local kind
    for kind in "${kinds[@]}"; do echo "0 0" >"$tmp/counts/$kind"; done
}

# record KIND ok|fail [N]: adds N (1) to a count.
record() {
    local kind=$1 result=$2 n=${3:-1} ok failed
    read -r ok failed <"$tmp/counts/$kind"
    if [ "$result" = ok ]; then ok=$((ok + n)); else failed=$((failed + n)); fi
    echo "$ok $failed" >"$tmp/counts/$kind.new"
    mv "$tmp/counts/$kind.new" "$tmp/counts/$kind"
}

# fail KIND MESSAGE [STDERR-FILE] [N]: counts N (1) failures and logs them with the client's stderr.
fail() {
    local kind=$1 message=$2 errors=${3:-$work/err} n=${4:-1}
    record "$kind" fail "$n"
    {
        echo "$(date +%T) $kind: $message"
        [ -s "$errors" ] && head -5 "$errors" | sed 's/^/    /'
    } >>"$failures"
    return 0
}

# run KIND LABEL COMMAND...: runs COMMAND with a time limit, stdout to $work/out and stderr to $work/err; a
# non-zero status counts as a failure of KIND. Returns COMMAND's status.
run() {
    local kind=$1 label=$2 status=0
    shift 2
    timeout "$op_timeout" "$@" >"$work/out" 2>"$work/err" || status=$?
    [ "$status" -eq 0 ] || fail "$kind" "$label: exit status $status"
    return "$status"
}

# expect KIND LABEL FILE WANTED-FILE: a success if the two files are identical, else a failure.
expect() {
    if cmp -s "$3" "$4"; then
        record "$1" ok
    else
        fail "$1" "$2: wrong output ($(wc -c <"$3") bytes, first line: $(head -c 80 "$3" | head -1))"
    fi
}

# One exec operation; I selects the variant.
exec_once() {
    local i=$1
    if ((i % 10 == 0)); then
        seq 1 100000 >"$work/want"
        run exec "seq 1 100000" "$porter" exec "$endpoint" -n -- seq 1 100000 &&
            expect exec "seq 1 100000" "$work/out" "$work/want"
    elif ((i % 10 == 5)); then
        head -c 262144 /dev/urandom >"$work/in"
        md5sum <"$work/in" >"$work/want"
        run exec "md5sum of 256 KiB of stdin" "$porter" exec "$endpoint" -- md5sum <"$work/in" &&
            expect exec "md5sum of 256 KiB of stdin" "$work/out" "$work/want"
    else
        echo 42 >"$work/want"
        # shellcheck disable=SC2016 # the remote shell expands it
        run exec "echo 42" "$porter" exec "$endpoint" -n -- sh -c 'echo $((6*7))' &&
            expect exec "echo 42" "$work/out" "$work/want"
    fi
    return 0
}

# A size from 1 KiB to 8 MiB, spread evenly over the powers of two.
random_size() {
    local base=$((1 << (10 + RANDOM % 14)))
    local size=$((base + (RANDOM * 32768 + RANDOM) % base))
    echo $((size > 8388608 ? 8388608 : size))
}

# One put, get and cmp; every 5th also an ls. I selects the remote name.
files_once() {
    local i=$1 size name dir
    size=$(random_size)
    name=soak-$((i % 4)).bin
    ((i % 4 == 0)) && name=sub/$name
    head -c "$size" /dev/urandom >"$work/src"
    rm -f "$work/back"
    if run files "put $size bytes as $name" "$porter" put "$endpoint" "$work/src" "$name" --no-progress &&
        run files "get $name ($size bytes)" "$porter" get "$endpoint" "$name" "$work/back" --no-progress; then
        if cmp -s "$work/src" "$work/back"; then
            record files ok
        else
            fail files "get $name ($size bytes): differs from what was put"
        fi
    fi
    if ((i % 5 == 0)); then
        dir=.
        [[ $name == sub/* ]] && dir=sub
        if run ls "ls $dir" "$porter" ls "$endpoint" "$dir"; then
            if awk -v name="${name#sub/}" -v size="$size" '$NF == name && $2 == size { found = 1 } END { exit !found }' \
                "$work/out"; then
                record ls ok
            else
                fail ls "ls $dir: $name with $size bytes not listed" "$work/out"
            fi
        fi
    fi
    return 0
}

# Upper-cases ASCII letters only, as the echo service does: every other byte passes unchanged.
# shellcheck disable=SC2018,SC2019
upper_ascii() { LC_ALL=C tr a-z A-Z; }

# One echo operation: lines on stdin, words as arguments, or UDP datagrams; I selects which.
echo_once() {
    local i=$1 words
    if ((i % 5 == 0)); then
        words=$(head -c 96 /dev/urandom | base64 -w 24 | tr '\n' ' ')
        # shellcheck disable=SC2086 # one datagram per word
        printf '%s\n' $words | upper_ascii >"$work/want"
        # shellcheck disable=SC2086
        run udp "udp echo" "$porter" udp echo "$udp_endpoint" $words && expect udp "udp echo" "$work/out" "$work/want"
    elif ((i % 2 == 0)); then
        words=$(head -c 60 /dev/urandom | base64 -w 20 | tr '\n' ' ')
        echo "${words% }" | upper_ascii >"$work/want"
        # shellcheck disable=SC2086 # the words are sent as one message joined by spaces
        run echo "echo words" "$porter" echo "$endpoint" $words && expect echo "echo words" "$work/out" "$work/want"
    else
        {
            head -c $(((1 + RANDOM % 50) * 36)) /dev/urandom | base64 -w 48
            printf 'Grüße, ñandú — mixed Case, digits 0123 and a\ttab\n'
        } >"$work/in"
        upper_ascii <"$work/in" >"$work/want"
        run echo "echo $(wc -l <"$work/in") lines" "$porter" echo "$endpoint" <"$work/in" &&
            expect echo "echo $(wc -l <"$work/in") lines" "$work/out" "$work/want"
    fi
    return 0
}

# One chat session of SECONDS (cut short by the deadline): bob joins room "soak" and listens; ann joins, asks
# /who and says a numbered line every 0.25 s; then ann leaves and bob leaves. Their standard inputs are FIFOs
# held open here, so that closing them is leaving.
chat_session() {
    local seconds=$1 dir=$work/chat sent=0 ann bob annw bobw status missing
    local end=$((EPOCHSECONDS + seconds)) limit=$((seconds + op_timeout))
    rm -rf "$dir"
    mkdir -p "$dir"
    mkfifo "$dir/ann.in" "$dir/bob.in"
    timeout "$limit" "$porter" chat "$endpoint" --name bob --room soak <"$dir/bob.in" >"$dir/bob.out" 2>"$dir/bob.err" &
    bob=$!
    exec {bobw}>"$dir/bob.in"
    if ! wait_for_line "$dir/bob.out" '^\* joined soak as bob' 30; then
        fail chat-session "bob did not join" "$dir/bob.err"
        exec {bobw}>&-
        wait "$bob" || true
        return 0
    fi
    timeout "$limit" "$porter" chat "$endpoint" --name ann --room soak <"$dir/ann.in" >"$dir/ann.out" 2>"$dir/ann.err" &
    ann=$!
    exec {annw}>"$dir/ann.in"
    if wait_for_line "$dir/ann.out" '^\* joined soak as ann' 30 && wait_for_line "$dir/bob.out" '^\* ann joined' 30; then
        echo /who >&"$annw" || true
        while [ "$EPOCHSECONDS" -lt "$end" ] && before_deadline; do
            sent=$((sent + 1))
            printf 'msg %d from ann: Grüße %s\n' "$sent" "$RANDOM" >&"$annw" || break
            sleep 0.25
        done
    else
        fail chat-session "ann did not join" "$dir/ann.err"
    fi
    exec {annw}>&-
    status=0
    wait "$ann" || status=$?
    [ "$status" -eq 0 ] || fail chat-session "ann: exit status $status" "$dir/ann.err"
    wait_for_line "$dir/bob.out" '^\* ann left' 30 || fail chat-session "bob did not see ann leave" "$dir/bob.err"
    exec {bobw}>&-
    status=0
    wait "$bob" || status=$?
    [ "$status" -eq 0 ] || fail chat-session "bob: exit status $status" "$dir/bob.err"

    sed -n 's/^ann: msg \([0-9][0-9]*\) from ann: .*/\1/p' "$dir/bob.out" >"$dir/got"
    seq 1 "$sent" >"$dir/want"
    if cmp -s "$dir/got" "$dir/want"; then
        [ "$sent" -eq 0 ] || record chat ok "$sent"
    else
        missing=$(sort "$dir/want" | comm -23 - <(sort -u "$dir/got") | wc -l)
        record chat ok $((sent - missing))
        fail chat "bob got $(wc -l <"$dir/got") of $sent lines, $missing missing (or out of order)" \
            "$dir/bob.err" $((missing > 0 ? missing : 1))
    fi
    grep -qE '^\* in soak: .*(ann, bob|bob, ann)' "$dir/ann.out" ||
        fail chat-session "ann's /who did not list ann and bob" "$dir/ann.out"
    grep -q '^ann: msg' "$dir/ann.out" && fail chat-session "ann received her own lines back" "$dir/ann.out"
    record chat-session ok
}

# The workers: one operation, a pause, until the deadline.
worker_exec() {
    local work=$tmp/work-exec i=0
    mkdir -p "$work"
    while before_deadline; do i=$((i + 1)); exec_once "$i"; sleep 0.2; done
}
worker_files() {
    local work=$tmp/work-files i=0
    mkdir -p "$work"
    while before_deadline; do i=$((i + 1)); files_once "$i"; sleep 0.5; done
}
worker_echo() {
    local work=$tmp/work-echo i=0
    mkdir -p "$work"
    while before_deadline; do i=$((i + 1)); echo_once "$i"; sleep 0.3; done
}
worker_chat() {
    local work=$tmp/work-chat
    mkdir -p "$work"
    trap '' PIPE # a client that died makes the write fail, not the worker
    while before_deadline; do chat_session "$chat_session"; done
}

# metric NAME: a value from the server's /metrics, or "-".
metric() {
    curl -sf --max-time 5 "http://$http_endpoint/metrics" 2>/dev/null |
        awk -v name="$1" '$1 == name { print $2 + 0; found = 1 } END { if (!found) print "-" }'
}

# busy_gauges: the sum of the gauges that are zero on an idle server, or "-".
busy_gauges() {
    curl -sf --max-time 5 "http://$http_endpoint/metrics" 2>/dev/null | awk '
        $1 ~ /^porter_(connections_open|connections_unauthenticated|commands_running|transfers_active|chat_members)$/ {
            sum += $2; n++ }
        END { if (n == 5) print sum + 0; else print "-" }'
}

fd_count() { find "/proc/$server_pid/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
children() { cat "/proc/$server_pid/task/"*/children 2>/dev/null | wc -w; }

# sample PHASE: appends one row to the TSV.
sample() {
    local phase=$1 rss threads cpu kind ok failed counts=() ticks
    [ -r "/proc/$server_pid/status" ] || { echo "$(date +%T) server: not running" >>"$failures"; return 1; }
    rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$server_pid/status")
    threads=$(awk '/^Threads:/ { print $2 }' "/proc/$server_pid/status")
    ticks=$(getconf CLK_TCK)
    cpu=$(awk -v hz="$ticks" '{ sub(/^.*\) /, ""); printf "%.1f", ($12 + $13) / hz }' "/proc/$server_pid/stat")
    for kind in "${kinds[@]}"; do
        read -r ok failed <"$tmp/counts/$kind"
        counts+=("$ok" "$failed")
    done
    local row=("$(date +%FT%T)" $((EPOCHSECONDS - t0)) "$phase" "$rss" "$(fd_count)" "$threads" "$(children)"
        "$(metric porter_connections_open)" "$cpu" "$(cut -d' ' -f1 /proc/loadavg)" "${counts[@]}")
    (IFS=$'\t'; echo "${row[*]}") >>"$tsv"
}

# Samples every $sample_every seconds until the deadline.
sampler() {
    local next=$((t0 + sample_every))
    while [ "$next" -le "$deadline" ]; do
        while [ "$EPOCHSECONDS" -lt "$next" ]; do sleep 0.5; done
        sample load || return 1
        next=$((next + sample_every))
    done
}

# Polls until the server is idle: /metrics shows no connection, command, transfer or chat member, and it has
# no child process. Gives up after SECONDS.
wait_idle() {
    local tries
    for ((tries = $1 * 10; tries > 0; tries--)); do
        [ "$(busy_gauges)" = 0 ] && [ "$(children)" -eq 0 ] && return 0
        sleep 0.1
    done
    return 1
}

# One operation of every kind, so that what the server opens on first use is open before counting its fds.
prime() {
    local work=$tmp/work-prime i
    mkdir -p "$work"
    deadline=$((EPOCHSECONDS + 3600))
    for i in 1 5 10; do exec_once "$i"; done
    for i in 1 4 5; do files_once "$i"; done
    for i in 1 2 5; do echo_once "$i"; done
    chat_session 3
}

start_server
fd_boot=$(fd_count)
reset_counts
prime
if [ -s "$failures" ]; then
    echo "soak: priming failed:" >&2
    cat "$failures" >&2
    exit 1
fi
reset_counts
wait_idle 60 || { echo "soak: the server did not become idle after priming" >&2; exit 1; }

header=(time elapsed_s phase rss_kb fds threads children connections server_cpu_s load1)
for kind in "${kinds[@]}"; do header+=("${kind}_ok" "${kind}_failed"); done
(IFS=$'\t'; echo "${header[*]}") >"$tsv"
echo "soak: $minutes min against $endpoint (udp $udp_endpoint, http $http_endpoint) with $porter_origin"
echo "soak: samples in $tsv"
t0=$EPOCHSECONDS
deadline=$((t0 + duration))
sample idle-start

worker_pids=()
for worker in worker_exec worker_files worker_echo worker_chat; do
    "$worker" </dev/null &
    worker_pids+=($!)
    pids+=($!)
done
sampler &
sampler_pid=$!
pids+=("$sampler_pid")

problems=()
for pid in "${worker_pids[@]}"; do wait "$pid" || problems+=("a worker stopped with status $?"); done
wait "$sampler_pid" || problems+=("the server stopped running during the run")
finished=$EPOCHSECONDS

# Idle again: the gauges back to zero, then the fds given a moment to fall back to the idle count (a leak is
# what stays).
if kill -0 "$server_pid" 2>/dev/null; then
    wait_idle 60 || problems+=("the server did not return to idle within 60 s ($(busy_gauges) connections, commands, transfers or members; $(children) child processes)")
    fd_start=$(awk -F'\t' '$3 == "idle-start" { print $5 }' "$tsv")
    for ((tries = 300; tries > 0; tries--)); do
        [ "$(fd_count)" -le "$fd_start" ] && break
        sleep 0.1
    done
    sample idle-end || true
else
    problems+=("the server is not running")
fi

# The summary.
echo
echo "soak: ran $minutes min; the workers finished $((finished - t0 - duration)) s after the deadline"
printf '%-14s %10s %8s\n' operation ok failed
total_failed=0
for kind in "${kinds[@]}"; do
    read -r ok failed <"$tmp/counts/$kind"
    printf '%-14s %10d %8d\n' "$kind" "$ok" "$failed"
    total_failed=$((total_failed + failed))
done
((total_failed == 0)) || problems+=("$total_failed operations failed")

if grep -q idle-end "$tsv"; then
    read -r rss_warm warm_at rss_load rss_end rss_max fd_start fd_end threads_start threads_end children_end < <(
        awk -F'\t' -v warmup="$warmup" '
            NR == 1 { next }
            $3 == "idle-start" { fds0 = $5; threads0 = $6; if (warm == "") { warm = $4; at = $2 } }
            $3 == "load" { if (!late && $2 >= warmup) { warm = $4; at = $2; late = 1 } last = $4 }
            $3 == "idle-end" { end = $4; fds1 = $5; threads1 = $6; children1 = $7 }
            { if ($4 > max) max = $4 }
            END { if (last == "") last = warm; print warm, at, last, end, max, fds0, fds1, threads0, threads1, children1 }' "$tsv"
    )
    growth() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%+.1f", (b - a) * 100 / a }'; }
    over() { awk -v a="$1" -v b="$2" -v limit="$rss_growth_limit" 'BEGIN { exit !((b - a) * 100 / a > limit) }'; }
    echo "server RSS:     $rss_warm kB after the warm-up (t=${warm_at} s); $rss_load kB at the last sample under load ($(growth "$rss_warm" "$rss_load")%);"
    echo "                $rss_end kB idle at the end ($(growth "$rss_warm" "$rss_end")%, limit +$rss_growth_limit%); max $rss_max kB"
    echo "server fds:     $fd_start idle before the workers (after priming; $fd_boot just after start), $fd_end idle after them"
    echo "server threads: $threads_start before, $threads_end after; child processes at the end: $children_end"
    over "$rss_warm" "$rss_load" && problems+=("RSS grew by more than $rss_growth_limit% under load")
    over "$rss_warm" "$rss_end" && problems+=("RSS grew by more than $rss_growth_limit% at the end")
    ((fd_end <= fd_start)) || problems+=("$((fd_end - fd_start)) more file descriptors idle at the end than at the start")
    ((children_end == 0)) || problems+=("$children_end child processes of the server left")
fi
echo "samples:        $tsv"

if [ -s "$tmp/server.err" ]; then
    cp "$tmp/server.err" "bench/results/soak-$stamp-server.log"
    echo "server log:     bench/results/soak-$stamp-server.log ($(wc -l <"$tmp/server.err") lines)"
fi
if [ -s "$failures" ]; then
    cp "$failures" "bench/results/soak-$stamp-failures.log"
    echo "failures:       bench/results/soak-$stamp-failures.log; the first:"
    head -20 "$failures" | sed 's/^/    /'
fi
if ((${#problems[@]})); then
    printf 'FAIL: %s\n' "${problems[@]}"
    exit 1
fi
echo "PASS"
