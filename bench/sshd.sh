# Sourced by benchmarks: starts a private sshd on a free loopback port, as a baseline to compare against.
# Needs openssh-server (installed here if missing). Sets SSH (an ssh command line without the host command)
# and SSH_MASTER (the same through a ControlMaster connection opened here). Cleans up with the caller's $tmp.
start_sshd() {
    if ! command -v /usr/sbin/sshd >/dev/null; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssh-server >/dev/null
    fi
    mkdir -p /run/sshd
    ssh-keygen -q -t ed25519 -N '' -f "$tmp/ssh_host_key"
    ssh-keygen -q -t ed25519 -N '' -f "$tmp/client_key"
    cp "$tmp/client_key.pub" "$tmp/authorized_keys"
    local port
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    cat >"$tmp/sshd_config" <<CONF
Port $port
ListenAddress 127.0.0.1
HostKey $tmp/ssh_host_key
AuthorizedKeysFile $tmp/authorized_keys
PidFile $tmp/sshd.pid
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
Ciphers aes128-gcm@openssh.com
CONF
    /usr/sbin/sshd -f "$tmp/sshd_config" -D -e 2>"$tmp/sshd.log" &
    pids+=($!)
    local options=(-p "$port" -i "$tmp/client_key" -o BatchMode=yes -o StrictHostKeyChecking=no
        -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -c aes128-gcm@openssh.com)
    SSH="ssh ${options[*]} $(whoami)@127.0.0.1"
    for _ in $(seq 100); do $SSH true 2>/dev/null && break; sleep 0.1; done
    $SSH true || { echo "sshd did not start: $(cat "$tmp/sshd.log")" >&2; exit 1; }
    SSH_MASTER="$SSH -o ControlPath=$tmp/ssh-control"
    ssh "${options[@]}" -o ControlMaster=yes -o ControlPath="$tmp/ssh-control" -o ControlPersist=300 -N -f \
        "$(whoami)@127.0.0.1"
}
