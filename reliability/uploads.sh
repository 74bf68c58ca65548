#!/usr/bin/env bash
# Concurrent uploads to one name, for docs/RELIABILITY.md. ROUNDS rounds (default 30): UPLOADERS (5) `porter
# put` clients send different files (1-40 MiB, random content) to the same remote name at once; in every other
# round one or two of them are SIGKILLed after a random delay. After a round in which some client exited 0, the
# remote name must hold a byte-identical copy of one client's file: one told it succeeded, or one killed after
# the server had stored it whole — never a mix, never the file of a client refused as busy. Every client must
# exit 0, or exit 1 with "in progress" (refused as busy), or have been killed.
#
#   bash reliability/uploads.sh [ROUNDS]        UPLOADERS=5 SEED=...
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh
rounds=${1:-30}
uploaders=${UPLOADERS:-5}
seed=${SEED:-$((($$ << 16) ^ $(date +%s)))}
RANDOM=$seed

build_release porter
served=$tmp/served
mkdir -p "$served" "$tmp/local"
start_porter --root "$served"

ok=0 busy=0 killed=0 failed=0 corrupt=0
for round in $(seq "$rounds"); do
    rm -f "$tmp"/local/*
    for i in $(seq "$uploaders"); do
        head -c $(((RANDOM % 40 + 1) << 20)) /dev/urandom >"$tmp/local/$i.bin"
    done
    upload_pids=()
    for i in $(seq "$uploaders"); do
        # shellcheck disable=SC2086
        "$porter" put "$endpoint" "$tmp/local/$i.bin" r.bin --no-progress $PORTER_ARGS \
            >"$tmp/local/$i.out" 2>"$tmp/local/$i.err" &
        upload_pids+=($!)
    done
    killers=()
    if ((round % 2 == 0)); then
        for _ in $(seq $((RANDOM % 2 + 1))); do
            victim=${upload_pids[$((RANDOM % uploaders))]}
            (sleep "0.$((RANDOM % 10))" && kill -9 "$victim" 2>/dev/null || true) &
            killers+=($!)
        done
    fi
    succeeded=()
    stored_or_killed=()
    for i in $(seq "$uploaders"); do
        status=0
        wait "${upload_pids[$((i - 1))]}" || status=$?
        if [ "$status" -eq 0 ]; then
            ok=$((ok + 1)); succeeded+=("$i"); stored_or_killed+=("$i")
        elif [ "$status" -eq 137 ]; then
            killed=$((killed + 1)); stored_or_killed+=("$i")
        elif [ "$status" -eq 1 ] && grep -q "in progress" "$tmp/local/$i.err"; then
            busy=$((busy + 1))
        else
            failed=$((failed + 1)); echo "round $round: client $i exited $status: $(cat "$tmp/local/$i.err")"
        fi
    done
    for killer in "${killers[@]}"; do wait "$killer" || true; done
    if [ ${#succeeded[@]} -gt 0 ]; then
        final=$(sha256sum <"$served/r.bin" | cut -d' ' -f1)
        match=0
        for i in "${stored_or_killed[@]}"; do
            [ "$(sha256sum <"$tmp/local/$i.bin" | cut -d' ' -f1)" = "$final" ] && match=1
        done
        if [ "$match" -eq 0 ]; then
            corrupt=$((corrupt + 1)); echo "round $round: r.bin matches no upload that was stored whole"
        fi
    fi
done
echo "seed $seed: $rounds rounds of $uploaders uploads to one name: $ok stored, $busy refused as busy," \
    "$killed killed, $failed failed otherwise; $corrupt rounds with a wrong final file"
[ "$failed" -eq 0 ] && [ "$corrupt" -eq 0 ]
