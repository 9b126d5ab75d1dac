#!/usr/bin/env bash
# The 1,000-host loopback restore, with `batch = "10%"` against no batch (SPEC "Fleets").
# Starts ceil(HOSTS/16) OpenSSH sshd (one shared ed25519 host key, <=16 loopback ports each,
# one port per host), writes a runbook of one service on HOSTS hosts whose check passes once
# its restore touched done/HOST, and runs `bringup run --yes` RUNS times each way,
# alternating. Reported per run: the wall time, and the restore phase's span from the
# journal (first restore step_started to last restore step_finished); per batched run, what
# the barriers cost: (span with batches - median span without) / batches, against the median
# duration of one restore step on one host (the goal: a barrier costs no more than the last
# round of its batch draining, about one step). Only 127.0.0.1 is contacted; every sshd is
# killed on exit.
#
# usage: benches/fleet-batch.sh
# env: HOSTS (1000), RUNS (3), CONCURRENCY (32), BATCH ("10%"),
#      BRINGUP (default: target/release/bringup, built first)
set -euo pipefail

HOSTS=${HOSTS:-1000}
RUNS=${RUNS:-3}
CONCURRENCY=${CONCURRENCY:-32}
BATCH=${BATCH:-10%}
cd "$(dirname "$0")/.."
REPO=$PWD
if [ -z "${BRINGUP:-}" ]; then
    cargo build --release --quiet --bin bringup
    BRINGUP=${CARGO_TARGET_DIR:-$REPO/target}/release/bringup
fi

DIR=$(mktemp -d /tmp/fleet-batch.XXXXXX)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$DIR"
}
trap cleanup EXIT

mkdir -p /run/sshd "$DIR/home/.ssh" "$DIR/done"
ssh-keygen -q -t ed25519 -N '' -C bench -f "$DIR/client_ed25519"
ssh-keygen -q -t ed25519 -N '' -C bench-host -f "$DIR/host_ed25519"
cp "$DIR/client_ed25519.pub" "$DIR/authorized_keys"
hostkey=$(cut -d' ' -f1,2 "$DIR/host_ed25519.pub")
user=${USER:-$(id -un)}

python3 - "$HOSTS" >"$DIR/ports" <<'PY'
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks: s.bind(("127.0.0.1", 0))
print("\n".join(str(s.getsockname()[1]) for s in socks))
PY
mapfile -t ports <"$DIR/ports"

runbook() { # $1: extra step keys
    {
        printf '[runbook]\nname = "fleet batch bench"\n\n[defaults]\nconcurrency = %d\nuser = "%s"\ntimeout = "60s"\n\n' "$CONCURRENCY" "$user"
        for i in "${!ports[@]}"; do
            printf '[hosts.h%04d]\naddress = "127.0.0.1"\nport = %d\nidentity = "%s"\n\n' "$i" "${ports[$i]}" "$DIR/client_ed25519"
        done
        printf '[[service]]\nid = "fleet"\nhosts = ['
        for i in "${!ports[@]}"; do printf '"h%04d",' "$i"; done
        printf ']\n  [[service.check]]\n  name = "done"\n  run = "test -e %s/done/{{host}}"\n' "$DIR"
        printf '  [[service.restore]]\n  name = "restore"\n  run = "touch %s/done/{{host}}"\n%s\n' "$DIR" "$1"
    }
}
runbook "" >"$DIR/all.toml"
runbook "  batch = \"$BATCH\"" >"$DIR/batched.toml"
: >"$DIR/home/.ssh/known_hosts"
for p in "${ports[@]}"; do echo "[127.0.0.1]:$p $hostkey" >>"$DIR/home/.ssh/known_hosts"; done
: >"$DIR/home/.ssh/config"

for ((start = 0; start < HOSTS; start += 16)); do
    cfg=$DIR/sshd_$start.conf
    {
        echo "HostKey $DIR/host_ed25519"
        echo "AuthorizedKeysFile $DIR/authorized_keys"
        printf 'StrictModes no\nUsePAM no\nPidFile none\nPasswordAuthentication no\n'
        printf 'PermitRootLogin yes\nSetEnv SHLVL=1\nMaxStartups 200\nLogLevel ERROR\n'
        for p in "${ports[@]:start:16}"; do echo "ListenAddress 127.0.0.1:$p"; done
    } >"$cfg"
    /usr/sbin/sshd -D -e -f "$cfg" 2>>"$DIR/sshd.log" &
    PIDS+=($!)
done
for p in "${ports[@]}"; do
    for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$p") 2>/dev/null && break; sleep 0.05; done
done
echo "started ${#PIDS[@]} sshd on $HOSTS ports; bringup: $BRINGUP" >&2

export HOME=$DIR/home
unset SSH_AUTH_SOCK
cd "$DIR"

# $1: runbook, $2: journal. Prints "wall_s span_s step_median_ms batches".
one() {
    rm -f "$DIR"/done/*
    local t0 t1
    t0=$(date +%s%N)
    "$BRINGUP" run --yes --journal "$2" "$1" >/dev/null 2>"$DIR/stderr" || {
        cat "$DIR/stderr" >&2
        exit 1
    }
    t1=$(date +%s%N)
    python3 - "$2" "$t0" "$t1" "$HOSTS" <<'PY'
import json, sys
from datetime import datetime
ev = [json.loads(l) for l in open(sys.argv[1])]
ts = lambda e: datetime.fromisoformat(e["ts"].replace("Z", "+00:00")).timestamp()
rs = [e for e in ev if e.get("phase") == "restore"]
starts = [ts(e) for e in rs if e["kind"] == "step_started"]
ends = [e for e in rs if e["kind"] == "step_finished"]
assert len(starts) == int(sys.argv[4]) and all(e["outcome"] == "ok" for e in ends), "every host restored once"
assert any(e["kind"] == "service_state" and e["to"] == "restored" for e in ev), "restored"
d = sorted(e["duration_ms"] for e in ends)
span = max(ts(e) for e in ends) - min(starts)
print(f"{(int(sys.argv[3]) - int(sys.argv[2])) / 1e9:.2f} {span:.2f} {d[len(d) // 2]}")
PY
}

: >"$DIR/results"
for r in $(seq "$RUNS"); do
    echo "all $(one "$DIR/all.toml" "$DIR/all-$r.jsonl")" | tee -a "$DIR/results" >&2
    echo "batched $(one "$DIR/batched.toml" "$DIR/batched-$r.jsonl")" | tee -a "$DIR/results" >&2
done
python3 - "$DIR/results" "$HOSTS" "$BATCH" "$CONCURRENCY" <<'PY'
import math, statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
hosts, batch, conc = int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
size = math.ceil(hosts * int(batch[:-1]) / 100) if batch.endswith("%") else int(batch)
batches = math.ceil(hosts / size)
def col(kind, i): return [float(r[i]) for r in rows if r[0] == kind]
for kind in ("all", "batched"):
    print(f"{kind:8} wall median {statistics.median(col(kind, 1)):.2f} s   restore span median {statistics.median(col(kind, 2)):.2f} s   one step median {statistics.median(col(kind, 3)):.0f} ms")
extra = statistics.median(col("batched", 2)) - statistics.median(col("all", 2))
step = statistics.median(col("batched", 3)) / 1000
print(f"{hosts} hosts, batch {batch} = {batches} batches of {size}, concurrency {conc}")
print(f"batching added {extra:.2f} s to the restore = {extra / batches * 1000:.0f} ms per barrier; one step takes {step * 1000:.0f} ms (goal: a barrier <= a round of steps draining)")
PY
