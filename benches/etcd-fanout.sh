#!/usr/bin/env bash
# The 200-host check sweep with a shared-run (etcd) journal against the file journal, in one
# hyperfine run: starts a 3-member etcd cluster on 127.0.0.1 (free ports, data in a temp
# folder, every member killed on exit) and runs benches/ssh-fanout.sh with ETCD_ENDPOINTS
# set. Needs Debian's etcd-server (scripts/test installs it), hyperfine and pdsh.
#
# usage: benches/etcd-fanout.sh    (env as for ssh-fanout.sh: HOSTS, RUNS, FANOUT, STEPS)
set -euo pipefail
cd "$(dirname "$0")/.."

ETCD=$(command -v etcd || echo /usr/bin/etcd)
DIR=$(mktemp -d /tmp/etcd-fanout.XXXXXX)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$DIR"
}
trap cleanup EXIT

mapfile -t ports < <(python3 - <<'PY'
import socket
socks = [socket.socket() for _ in range(6)]
for s in socks: s.bind(("127.0.0.1", 0))
print("\n".join(str(s.getsockname()[1]) for s in socks))
PY
)
initial=m1=http://127.0.0.1:${ports[3]},m2=http://127.0.0.1:${ports[4]},m3=http://127.0.0.1:${ports[5]}
endpoints=()
for i in 0 1 2; do
    client=http://127.0.0.1:${ports[$i]} peer=http://127.0.0.1:${ports[$((i + 3))]}
    "$ETCD" --name "m$((i + 1))" --data-dir "$DIR/m$((i + 1))" \
        --listen-client-urls "$client" --advertise-client-urls "$client" \
        --listen-peer-urls "$peer" --initial-advertise-peer-urls "$peer" \
        --initial-cluster "$initial" --initial-cluster-state new \
        --initial-cluster-token "bench-$$" 2>"$DIR/m$((i + 1)).log" &
    PIDS+=($!)
    endpoints+=("127.0.0.1:${ports[$i]}")
done
ETCD_ENDPOINTS=$(IFS=,; echo "${endpoints[*]}")
# Writable once a put through the JSON gateway answers (bounded: 30 s).
for _ in $(seq 150); do
    curl -sf -X POST -d '{"key":"YmVuY2g=","value":"MQ=="}' \
        "http://${endpoints[0]}/v3/kv/put" >/dev/null 2>&1 && break
    sleep 0.2
done
curl -sf -X POST -d '{"key":"YmVuY2g=","value":"MQ=="}' "http://${endpoints[0]}/v3/kv/put" >/dev/null \
    || { echo "etcd did not start: see $DIR/m1.log" >&2; cat "$DIR/m1.log" >&2; exit 1; }
echo "etcd: 3 members on $ETCD_ENDPOINTS" >&2
ETCD_ENDPOINTS=$ETCD_ENDPOINTS benches/ssh-fanout.sh
