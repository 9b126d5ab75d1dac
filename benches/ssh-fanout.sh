#!/usr/bin/env bash
# Fan a `true` check out to 200 loopback sshd endpoints (13 sshd x <=16 ports) and compare
# pdsh -f 32 with bringup, side by side, under hyperfine; then measure one step on an
# already-open session. Only 127.0.0.1 is contacted; every sshd is killed on exit.
#
# usage: benches/ssh-fanout.sh [BRINGUP_COMMAND]
#   BRINGUP_COMMAND defaults to the library's fan-out example:
#     target/release/examples/fanout --ports-file "$FANOUT_PORTS" --key "$FANOUT_KEY" \
#       --known-hosts "$FANOUT_KNOWN_HOSTS"
#   Once `bringup run --check-only` exists, pass e.g.
#     'target/release/bringup run --check-only "$FANOUT_RUNBOOK"'
#   The command sees FANOUT_DIR, FANOUT_PORTS, FANOUT_KEY, FANOUT_KNOWN_HOSTS,
#   FANOUT_SSH_CONFIG and FANOUT_RUNBOOK (a runbook with the 200 hosts and one `true` check).
# env: HOSTS (200), RUNS (10), FANOUT (32)
set -euo pipefail

HOSTS=${HOSTS:-200}
RUNS=${RUNS:-10}
FANOUT=${FANOUT:-32}
cd "$(dirname "$0")/.."

export FANOUT_DIR
FANOUT_DIR=$(mktemp -d /tmp/ssh-fanout.XXXXXX)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$FANOUT_DIR"
}
trap cleanup EXIT

export FANOUT_PORTS=$FANOUT_DIR/ports FANOUT_KEY=$FANOUT_DIR/client_ed25519
export FANOUT_KNOWN_HOSTS=$FANOUT_DIR/known_hosts FANOUT_SSH_CONFIG=$FANOUT_DIR/ssh_config
export FANOUT_RUNBOOK=$FANOUT_DIR/fanout.toml
mkdir -p /run/sshd
ssh-keygen -q -t ed25519 -N '' -C bench -f "$FANOUT_KEY"
ssh-keygen -q -t ed25519 -N '' -C bench-host -f "$FANOUT_DIR/host_ed25519"
cp "$FANOUT_KEY.pub" "$FANOUT_DIR/authorized_keys"
hostkey=$(cut -d' ' -f1,2 "$FANOUT_DIR/host_ed25519.pub")
user=${USER:-$(id -un)}

# Free ports: ask the kernel for HOSTS of them at once.
python3 - "$HOSTS" >"$FANOUT_PORTS" <<'PY'
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks: s.bind(("127.0.0.1", 0))
print("\n".join(str(s.getsockname()[1]) for s in socks))
PY

mapfile -t ports <"$FANOUT_PORTS"
: >"$FANOUT_KNOWN_HOSTS"; : >"$FANOUT_SSH_CONFIG"
{
    echo '[runbook]'; echo 'name = "ssh fan-out bench"'; echo
    echo '[defaults]'; echo "concurrency = $FANOUT"; echo "user = \"$user\""; echo
} >"$FANOUT_RUNBOOK"
for i in "${!ports[@]}"; do
    p=${ports[$i]}
    echo "[127.0.0.1]:$p $hostkey" >>"$FANOUT_KNOWN_HOSTS"
    printf 'Host h%d\n  HostName 127.0.0.1\n  Port %d\n' "$i" "$p" >>"$FANOUT_SSH_CONFIG"
    printf '[hosts.h%d]\naddress = "127.0.0.1"\nport = %d\nidentity = "%s"\n\n' "$i" "$p" "$FANOUT_KEY" >>"$FANOUT_RUNBOOK"
done
cat >>"$FANOUT_SSH_CONFIG" <<EOF2
Host *
  User $user
  IdentityFile $FANOUT_KEY
  IdentitiesOnly yes
  UserKnownHostsFile $FANOUT_KNOWN_HOSTS
  StrictHostKeyChecking yes
  BatchMode yes
EOF2
{
    echo '[[service]]'; echo 'id = "fanout"'; echo 'name = "fan-out check"'; echo 'tier = 1'
    printf 'hosts = ['; for i in "${!ports[@]}"; do printf '"h%d",' "$i"; done; echo ']'
    echo '  [[service.check]]'; echo '  name = "true"'; echo '  run = "true"'
} >>"$FANOUT_RUNBOOK"

# 16 ports per sshd.
for ((start = 0; start < HOSTS; start += 16)); do
    cfg=$FANOUT_DIR/sshd_$start.conf
    {
        echo "HostKey $FANOUT_DIR/host_ed25519"
        echo "AuthorizedKeysFile $FANOUT_DIR/authorized_keys"
        printf 'StrictModes no\nUsePAM no\nPidFile none\nPasswordAuthentication no\n'
        printf 'PermitRootLogin yes\nSetEnv SHLVL=1\nMaxStartups 200\nLogLevel ERROR\n'
        for p in "${ports[@]:start:16}"; do echo "ListenAddress 127.0.0.1:$p"; done
    } >"$cfg"
    /usr/sbin/sshd -D -e -f "$cfg" 2>>"$FANOUT_DIR/sshd.log" &
    PIDS+=($!)
done
echo "started ${#PIDS[@]} sshd on $HOSTS ports" >&2
for p in "${ports[@]}"; do
    for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$p") 2>/dev/null && break; sleep 0.05; done
done

cargo build --release --quiet --example fanout
BRINGUP_COMMAND=${1:-'target/release/examples/fanout --ports-file "$FANOUT_PORTS" --key "$FANOUT_KEY" --known-hosts "$FANOUT_KNOWN_HOSTS" --concurrency '"$FANOUT"}

export PDSH_SSH_ARGS_APPEND="-F $FANOUT_SSH_CONFIG -o KexAlgorithms=curve25519-sha256"
last=$((HOSTS - 1))
hyperfine --warmup 1 --runs "$RUNS" \
    -n "pdsh -f $FANOUT" "pdsh -R ssh -f $FANOUT -w h[0-$last] true" \
    -n "bringup" "$BRINGUP_COMMAND"

target/release/examples/fanout --ports-file "$FANOUT_PORTS" --key "$FANOUT_KEY" \
    --known-hosts "$FANOUT_KNOWN_HOSTS" --step-cost 500
