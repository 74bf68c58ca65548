# Sourced by the benchmark scripts: a scratch directory and clean-up of everything started, a release build of
# Porter, a Porter server, and a private sshd to compare against.

# Installs the Debian package $2 unless the command $1 is there.
need() { command -v "$1" >/dev/null || { apt-get update -qq && apt-get install -y -qq "$2" >/dev/null; }; }

# Prints hyperfine's JSON export $1 as a Markdown table, each row's mean as a ratio to the row named $2.
ratio_table() {
    python3 - "$1" "$2" <<'PY'
import json, sys
results = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
base = results[sys.argv[2]]["mean"]
print(f"| command | mean ms | stddev ms | {sys.argv[2]} ÷ this |")
print("|---|---:|---:|---:|")
for name, r in results.items():
    print(f'| {name} | {r["mean"] * 1000:.2f} | {r["stddev"] * 1000:.2f} | {base / r["mean"]:.2f}× |')
print()
PY
}

source scripts/release-flags.sh

# Release builds go to their own directory, beside the debug build in .build, so neither rebuilds the other.
build=${BUILD:-.build-release}
porter="$build/release/porter"
tmp=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    [ -S "$tmp/ssh-control" ] && ssh -o ControlPath="$tmp/ssh-control" -O exit x 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT

# Prints the machine, then builds the given products in release mode, with the Swift runtime linked in as
# scripts/build-release.sh builds the shipped binary (the same flags, so the two share one build).
build_release() {
    echo "machine: $(nproc) cores, kernel $(uname -r), $(swift --version 2>&1 | head -1), $(date -u +%FT%TZ)"
    for product in "$@"; do
        swift build "${release_flags[@]}" --scratch-path "$build" --product "$product" >"$tmp/build.log" 2>&1 || {
            cat "$tmp/build.log" >&2
            echo "the release build of $product failed" >&2
            return 1
        }
    done
}

# Starts `porter serve` on a free loopback port with its own token and identity, and any further options
# given. Sets endpoint, port, fingerprint, server_pid and PORTER_ARGS (the client options that reach it: token
# file and pinned fingerprint).
start_porter() {
    "$porter" serve --listen 127.0.0.1:0 --token-file "$tmp/token" --identity "$tmp/identity.pem" \
        --log-level error "$@" >"$tmp/porter.out" 2>"$tmp/porter.err" &
    server_pid=$!
    pids+=("$server_pid")
    for _ in $(seq 300); do grep -q 'listening on' "$tmp/porter.out" 2>/dev/null && break; sleep 0.1; done
    endpoint=$(grep -oE 'listening on [^ ]+' "$tmp/porter.out" | head -1 | cut -d' ' -f3)
    [ -n "$endpoint" ] || { echo "porter did not start: $(cat "$tmp/porter.err")" >&2; exit 1; }
    port=${endpoint##*:}
    fingerprint=$("$porter" serve --print-fingerprint --identity "$tmp/identity.pem")
    PORTER_ARGS="--token-file $tmp/token --fingerprint $fingerprint"
}

# Starts a private sshd on a free loopback port (aes128-gcm, key authentication), installing openssh-server if
# missing. Sets SSH (an ssh command line up to the remote command) and SSH_MASTER (the same through a
# ControlMaster connection opened here).
#
# sshd runs every command through the user's login shell, and bash run by sshd reads ~/.bashrc; here root's
# costs ~150 ms (pyenv). So the commands run as a user of their own, `porter-bench`, whose shell is /bin/sh and who
# has no rc files, as Porter's commands have none: the baseline measures ssh, not a shell profile.
start_sshd() {
    if ! command -v /usr/sbin/sshd >/dev/null; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssh-server >/dev/null
    fi
    local user=porter-bench
    id "$user" >/dev/null 2>&1 || useradd --system --no-create-home --shell /bin/sh "$user"
    # No password, yet not locked (sshd refuses locked accounts); the scratch directory as its home.
    usermod --password '*' --home "$tmp" "$user"
    mkdir -p /run/sshd
    ssh-keygen -q -t ed25519 -N '' -f "$tmp/ssh_host_key"
    ssh-keygen -q -t ed25519 -N '' -f "$tmp/client_key"
    cp "$tmp/client_key.pub" "$tmp/authorized_keys"
    chmod 755 "$tmp"
    chmod 644 "$tmp/authorized_keys"
    local port
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    cat >"$tmp/sshd_config" <<CONF
Port $port
ListenAddress 127.0.0.1
HostKey $tmp/ssh_host_key
AuthorizedKeysFile $tmp/authorized_keys
PidFile $tmp/sshd.pid
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PrintMotd no
PrintLastLog no
Ciphers aes128-gcm@openssh.com
CONF
    /usr/sbin/sshd -f "$tmp/sshd_config" -D -e 2>"$tmp/sshd.log" &
    pids+=($!)
    local options=(-p "$port" -i "$tmp/client_key" -o BatchMode=yes -o StrictHostKeyChecking=no
        -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -c aes128-gcm@openssh.com)
    SSH="ssh ${options[*]} $user@127.0.0.1"
    for _ in $(seq 100); do $SSH true 2>/dev/null && break; sleep 0.1; done
    $SSH true || { echo "sshd did not start: $(cat "$tmp/sshd.log")" >&2; exit 1; }
    SSH_MASTER="$SSH -o ControlPath=$tmp/ssh-control"
    ssh "${options[@]}" -o ControlMaster=yes -o ControlPath="$tmp/ssh-control" -o ControlPersist=300 -N -f \
        "$user@127.0.0.1" </dev/null >/dev/null 2>&1
}
