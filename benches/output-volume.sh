#!/usr/bin/env bash
# One check printing 169 MB (2,000,000 lines of 85 bytes) over loopback SSH, timed three
# ways side by side: `bringup run --check-only` in text mode with stdout to a file, the same
# with `--format json`, and plain `ssh HOST cat FILE` to a file. Goal: text mode within 1.5x
# of plain ssh. Prints each command's median wall time and CPU time (user + system of the
# process and its children: what does not depend on the machine's load) over RUNS runs.
# Only 127.0.0.1 is contacted; the sshd is killed on exit.
#
# usage: benches/output-volume.sh
# env: RUNS (5); LINES (2000000); BRINGUP=/path/to/bringup (default: a release build in
#   $CARGO_TARGET_DIR or target/); BASELINE=/path/to/another/bringup adds its text and json
#   runs to the same table (before/after a change); PERF_OUT=FILE records one text run with
#   `perf record -g` into FILE instead of timing (`perf report -i FILE`).
set -euo pipefail

RUNS=${RUNS:-5}
LINES=${LINES:-2000000}
cd "$(dirname "$0")/.."
REPO=$PWD
TARGET=${CARGO_TARGET_DIR:-$REPO/target}

DIR=$(mktemp -d /tmp/output-volume.XXXXXX)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$DIR"
}
trap cleanup EXIT

if [ -z "${BRINGUP:-}" ]; then
    cargo build --release --quiet --bin bringup
    BRINGUP=$TARGET/release/bringup
fi

mkdir -p /run/sshd "$DIR/home/.ssh"
ssh-keygen -q -t ed25519 -N '' -C bench -f "$DIR/client_ed25519"
ssh-keygen -q -t ed25519 -N '' -C bench-host -f "$DIR/host_ed25519"
cp "$DIR/client_ed25519.pub" "$DIR/authorized_keys"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
user=${USER:-$(id -un)}
echo "[127.0.0.1]:$port $(cut -d' ' -f1,2 "$DIR/host_ed25519.pub")" >"$DIR/home/.ssh/known_hosts"
cat >"$DIR/sshd.conf" <<EOF
HostKey $DIR/host_ed25519
AuthorizedKeysFile $DIR/authorized_keys
StrictModes no
UsePAM no
PidFile none
PasswordAuthentication no
PermitRootLogin yes
LogLevel ERROR
ListenAddress 127.0.0.1:$port
EOF
/usr/sbin/sshd -D -e -f "$DIR/sshd.conf" 2>>"$DIR/sshd.log" &
PIDS+=($!)
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break; sleep 0.05; done

# The output, made once: the step only reads it.
python3 - "$DIR/big.txt" "$LINES" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    pad = "0" * 75
    for i in range(int(sys.argv[2])):
        f.write(f"{i:08d} {pad}\n")
PY
echo "output: $(stat -c %s "$DIR/big.txt") bytes, $LINES lines" >&2

cat >"$DIR/ssh_config" <<EOF
Host h0
  HostName 127.0.0.1
  Port $port
  User $user
  IdentityFile $DIR/client_ed25519
  IdentitiesOnly yes
  UserKnownHostsFile $DIR/home/.ssh/known_hosts
  StrictHostKeyChecking yes
  BatchMode yes
EOF
cat >"$DIR/volume.toml" <<EOF
[runbook]
name = "output volume"

[defaults]
user = "$user"
timeout = "10m"

[hosts.h0]
address = "127.0.0.1"
port = $port
identity = "$DIR/client_ed25519"

[[service]]
id = "volume"
name = "169 MB of output"
tier = 1
hosts = ["h0"]

  [[service.check]]
  name = "print"
  run = "cat $DIR/big.txt"
EOF

export HOME=$DIR/home
unset SSH_AUTH_SOCK
cd "$DIR"
# It must work before it is timed: the whole output arrives.
"$BRINGUP" run --check-only --journal "$DIR/first.jsonl" "$DIR/volume.toml" >"$DIR/first.txt"
shown=$(grep -c ' │ ' "$DIR/first.txt" || true)
[ "$shown" -eq "$LINES" ] || { echo "text mode showed $shown of $LINES lines" >&2; exit 1; }
rm -rf "$DIR/first.jsonl" "$DIR/first.jsonl.d" "$DIR/first.txt"

if [ -n "${PERF_OUT:-}" ]; then
    # Where the time goes instead of how much: one text run under `perf record`.
    ${PERF_CMD:-perf record -F 2000 -g -o "$PERF_OUT"} -- \
        "$BRINGUP" run --check-only --journal "$DIR/j.jsonl" "$DIR/volume.toml" >"$DIR/out"
    exit 0
fi

commands=(
    "plain ssh to a file|ssh -F $DIR/ssh_config h0 cat $DIR/big.txt >$DIR/out"
    "bringup run, text|$BRINGUP run --check-only --journal $DIR/j.jsonl $DIR/volume.toml >$DIR/out"
    "bringup run --format json|$BRINGUP run --check-only --format json --journal $DIR/j.jsonl $DIR/volume.toml >$DIR/out"
)
if [ -n "${BASELINE:-}" ]; then
    commands+=(
        "baseline run, text|$BASELINE run --check-only --journal $DIR/j.jsonl $DIR/volume.toml >$DIR/out"
        "baseline run --format json|$BASELINE run --check-only --format json --journal $DIR/j.jsonl $DIR/volume.toml >$DIR/out"
    )
fi
python3 - "$RUNS" "$DIR" "${commands[@]}" <<'PY'
import os, resource, shutil, statistics, subprocess, sys, time
runs, work, commands = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
def clean():
    for p in ("j.jsonl", "j.jsonl.d", "out"):
        p = os.path.join(work, p)
        shutil.rmtree(p) if os.path.isdir(p) else os.path.exists(p) and os.remove(p)
rows = []
for spec in commands:
    name, cmd = spec.split("|", 1)
    walls, cpus = [], []
    for _ in range(runs):
        clean()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.monotonic()
        subprocess.run(cmd, shell=True, check=True, stderr=subprocess.DEVNULL)
        walls.append(time.monotonic() - t)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    rows.append((name, statistics.median(walls), min(walls), max(walls), statistics.median(cpus)))
clean()
ssh = rows[0][1]
print(f"| command | median wall | range | CPU (user+sys, median) | wall / plain ssh |")
print(f"| --- | --- | --- | --- | --- |")
for name, med, lo, hi, cpu in rows:
    print(f"| {name} | {med:.2f} s | {lo:.2f}–{hi:.2f} s | {cpu:.2f} s | {med / ssh:.2f}x |")
PY
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
