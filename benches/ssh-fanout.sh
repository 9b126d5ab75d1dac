#!/usr/bin/env bash
# Fan a `true` check out to 200 loopback sshd endpoints (13 sshd x <=16 ports) and compare
# `bringup run --check-only` with pdsh -f 32, side by side, under hyperfine; then measure the
# cost of one step on an already-open session, twice: the transport alone (the library's
# `fanout --step-cost` example) and a whole `bringup run` (engine, journal fsyncs, driver)
# doing 200 restore steps in a row on one host. Only 127.0.0.1 is contacted; every sshd is
# killed on exit.
#
# usage: benches/ssh-fanout.sh [BRINGUP_COMMAND]
#   BRINGUP_COMMAND defaults to
#     target/release/bringup run --check-only "$FANOUT_RUNBOOK"
#   run from $FANOUT_DIR (journals land in its journal/) with HOME=$FANOUT_DIR/home, whose
#   .ssh/known_hosts holds the servers' key. The command also sees FANOUT_PORTS, FANOUT_KEY,
#   FANOUT_KNOWN_HOSTS and FANOUT_SSH_CONFIG.
# env: HOSTS (200), RUNS (10), FANOUT (32), STEPS (200); BASELINE=/path/to/another/bringup
#   adds that binary's `run --check-only` to the same hyperfine run (before/after a change);
#   ETCD_ENDPOINTS=127.0.0.1:P1,127.0.0.1:P2,... adds `run --check-only` journaled as a shared
#   run in that etcd (a new run name each time) to the same hyperfine run, and does the
#   step-cost run on etcd too (benches/etcd-fanout.sh starts a 3-member loopback cluster).
set -euo pipefail

HOSTS=${HOSTS:-200}
RUNS=${RUNS:-10}
FANOUT=${FANOUT:-32}
STEPS=${STEPS:-200}
cd "$(dirname "$0")/.."
REPO=$PWD

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

cargo build --release --quiet --bin bringup --example fanout
BRINGUP=$REPO/target/release/bringup
mkdir -p "$FANOUT_DIR/home/.ssh"
cp "$FANOUT_KNOWN_HOSTS" "$FANOUT_DIR/home/.ssh/known_hosts"
export HOME=$FANOUT_DIR/home
unset SSH_AUTH_SOCK
cd "$FANOUT_DIR"
# The run must work before it is timed: every host checked healthy.
"$BRINGUP" run --check-only --format json "$FANOUT_RUNBOOK" >"$FANOUT_DIR/first.jsonl"
healthy=$(grep -c '"to":"healthy"' "$FANOUT_DIR/first.jsonl" || true)
oks=$(grep -c '"kind":"step_finished".*"outcome":"ok"' "$FANOUT_DIR/first.jsonl" || true)
echo "first run: $oks/$HOSTS checks ok, $healthy service(s) healthy" >&2
[ "$oks" -eq "$HOSTS" ] || { echo "not every host answered" >&2; exit 1; }

BRINGUP_COMMAND=${1:-"$BRINGUP run --check-only $FANOUT_RUNBOOK"}
export PDSH_SSH_ARGS_APPEND="-F $FANOUT_SSH_CONFIG -o KexAlgorithms=curve25519-sha256"
last=$((HOSTS - 1))
baseline=()
[ -n "${BASELINE:-}" ] && baseline=(-n "baseline run --check-only" "$BASELINE run --check-only $FANOUT_RUNBOOK")
shared=()
if [ -n "${ETCD_ENDPOINTS:-}" ]; then
    # hyperfine's shell expands $(date ...) on every iteration: each is a new shared run.
    shared=(-n "bringup run --check-only, etcd journal"
        "$BRINGUP run --check-only --journal etcd://$ETCD_ENDPOINTS/fanout-\$(date +%s%N) $FANOUT_RUNBOOK")
    "$BRINGUP" run --check-only --journal "etcd://$ETCD_ENDPOINTS/fanout-first" "$FANOUT_RUNBOOK" >/dev/null
    "$BRINGUP" verify "etcd://$ETCD_ENDPOINTS/fanout-first" >&2
fi
hyperfine --warmup 1 --runs "$RUNS" --export-json "$FANOUT_DIR/hyperfine.json" \
    -n "pdsh -f $FANOUT" "pdsh -R ssh -f $FANOUT -w h[0-$last] true" \
    -n "bringup run --check-only" "$BRINGUP_COMMAND" "${baseline[@]}" "${shared[@]}"
python3 - "$FANOUT_DIR/hyperfine.json" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
p, b = r[next(k for k in r if k.startswith("pdsh"))], r["bringup run --check-only"]
print(f"bringup/pdsh mean: {b['mean'] / p['mean']:.2f}x  median: {b['median'] / p['median']:.2f}x")
e = r.get("bringup run --check-only, etcd journal")
if e:
    print(f"etcd journal/file journal mean: {e['mean'] / b['mean']:.2f}x  median: {e['median'] / b['median']:.2f}x")
PY

echo "--- one step on an open session: transport only (fanout --step-cost 500)" >&2
"$REPO/target/release/examples/fanout" --ports-file "$FANOUT_PORTS" --key "$FANOUT_KEY" \
    --known-hosts "$FANOUT_KNOWN_HOSTS" --step-cost 500

echo "--- one step on an open session: bringup run, $STEPS restore steps of 'true' on h0" >&2
steps_rb=$FANOUT_DIR/steps.toml
{
    echo '[runbook]'; echo 'name = "step cost"'; echo
    echo '[defaults]'; echo "user = \"$user\""; echo
    printf '[hosts.h0]\naddress = "127.0.0.1"\nport = %d\nidentity = "%s"\n\n' "${ports[0]}" "$FANOUT_KEY"
    echo '[[service]]'; echo 'id = "steps"'; echo 'name = "steps"'; echo 'tier = 0'; echo 'hosts = ["h0"]'
    echo '  [[service.check]]'; echo '  name = "done"'; echo "  run = \"test -f $FANOUT_DIR/steps-done\""
    for ((i = 1; i < STEPS; i++)); do
        echo '  [[service.restore]]'; echo "  name = \"step $i\""; echo '  run = "true"'
    done
    echo '  [[service.restore]]'; echo "  name = \"step $STEPS\""; echo "  run = \"touch $FANOUT_DIR/steps-done\""
} >"$steps_rb"
"$BRINGUP" run --yes --journal "$FANOUT_DIR/steps.jsonl" "$steps_rb" >/dev/null
journals=("$FANOUT_DIR/steps.jsonl")
if [ -n "${ETCD_ENDPOINTS:-}" ]; then
    rm -f "$FANOUT_DIR/steps-done"
    url=etcd://$ETCD_ENDPOINTS/steps-$(date +%s%N)
    "$BRINGUP" run --yes --journal "$url" "$steps_rb" >/dev/null
    "$BRINGUP" pull "$url" -o "$FANOUT_DIR/steps-etcd.jsonl" >&2
    journals+=("$FANOUT_DIR/steps-etcd.jsonl")
fi
for journal in "${journals[@]}"; do
echo "--- $(basename "$journal")" >&2
python3 - "$journal" <<'PY'
import json, sys, statistics
from datetime import datetime
ev = [json.loads(l) for l in open(sys.argv[1])]
ts = lambda e: datetime.fromisoformat(e["ts"].replace("Z", "+00:00")).timestamp() * 1000
fin = [e for e in ev if e["kind"] == "step_finished" and e["phase"] == "restore"]
sta = [e for e in ev if e["kind"] == "step_started" and e["phase"] == "restore"]
assert all(e["outcome"] == "ok" for e in fin) and ev[-1]["outcome"] == "restored", "run failed"
d = sorted(e["duration_ms"] for e in fin)
gaps = sorted(ts(b) - ts(a) for a, b in zip(sta, sta[1:]))
print(f"{len(fin)} restore steps: transport duration_ms median {statistics.median(d)} p90 {d[int(len(d) * .9)]}; "
      f"step_started to next step_started (journal ts, ms resolution) median {statistics.median(gaps)} "
      f"p90 {gaps[int(len(gaps) * .9)]}; whole phase {(ts(fin[-1]) - ts(sta[0])) / len(fin):.2f} ms/step")
PY
done
