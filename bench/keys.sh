#!/usr/bin/env bash
# What a key costs: a fresh `porter exec H -- true` authenticated with the token, with an Ed25519 key file (from
# `porter keygen`), an ECDSA P-256 key file (from ssh-keygen) and an Ed25519 key held by ssh-agent, every row in
# one run against one server that accepts them all. Every row runs through `env` with a home of its own, so that
# none finds a token or key it was not given.
# Prints a Markdown table with ratios to the token's row.      bash bench/keys.sh          RUNS=100 bash bench/keys.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
runs=${RUNS:-50}
source bench/lib.sh
need hyperfine hyperfine
need ssh-agent openssh-client
build_release porter

"$porter" keygen --file "$tmp/ed25519" --comment bench >/dev/null
ssh-keygen -q -t ecdsa -b 256 -N '' -C bench -f "$tmp/ecdsa"
ssh-keygen -q -t ed25519 -N '' -C bench-agent -f "$tmp/agent-key"
cat "$tmp/ed25519.pub" "$tmp/ecdsa.pub" "$tmp/agent-key.pub" >"$tmp/authorized_keys"
ssh-agent -D -a "$tmp/agent.sock" >/dev/null &
pids+=($!)
for _ in $(seq 100); do [ -S "$tmp/agent.sock" ] && break; sleep 0.05; done
SSH_AUTH_SOCK="$tmp/agent.sock" ssh-add -q "$tmp/agent-key"
mkdir -p "$tmp/home"

start_porter --authorized-keys "$tmp/authorized_keys"
client="env -u PORTER_TOKEN -u SSH_AUTH_SOCK HOME=$tmp/home"
exec_true="exec $endpoint --fingerprint $fingerprint"
$client "$porter" $exec_true --token-file "$tmp/token" -- true
hyperfine -N --warmup 5 --runs "$runs" --export-json "$tmp/keys.json" \
    -n "token" "$client $porter $exec_true --token-file $tmp/token -- true" \
    -n "Ed25519 key file" "$client $porter $exec_true --key $tmp/ed25519 -- true" \
    -n "ECDSA P-256 key file" "$client $porter $exec_true --key $tmp/ecdsa -- true" \
    -n "Ed25519 key in ssh-agent" "$client SSH_AUTH_SOCK=$tmp/agent.sock $porter $exec_true -- true" >/dev/null
ratio_table "$tmp/keys.json" "token"
