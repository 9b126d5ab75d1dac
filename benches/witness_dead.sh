#!/bin/sh
# A dead witness must not slow the run. The same runbook (local transport, 60 services checked
# in waves and two restored, ~2.5 s of steps, ~260 events, so a head every 50 events and one
# at the end) is run RUNS times (default 5) in each case, interleaved: no witness; a live
# directory witness; a live 1-member loopback etcd witness; a missing directory (an unmounted
# share); an etcd URL to a closed loopback port (connection refused); a frozen etcd (SIGSTOP:
# it accepts connections and never answers). Prints each case's median wall time of the
# whole `bringup run` process, its ratio to the run without a witness (goal: within 5 %),
# and the median CPU time (user + system) of the process, which load does not inflate.
# Needs a build (BIN, default target/release/bringup), etcd and python3.
set -eu
BIN=${BIN:-target/release/bringup}
RUNS=${RUNS:-5}
WORK=$(mktemp -d)
trap 'kill -CONT $(cat "$WORK"/pids 2>/dev/null) 2>/dev/null; kill $(cat "$WORK"/pids 2>/dev/null) 2>/dev/null; rm -rf "$WORK"' EXIT

BIN="$BIN" RUNS="$RUNS" WORK="$WORK" python3 - <<'PY'
import os, resource, signal, socket, statistics, subprocess, time, urllib.request

bin_, runs, work = os.environ["BIN"], int(os.environ["RUNS"]), os.environ["WORK"]

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port

def etcd(name):
    client, peer = free_port(), free_port()
    p = subprocess.Popen([
        "etcd", "--name", name, "--data-dir", f"{work}/{name}",
        "--listen-client-urls", f"http://127.0.0.1:{client}",
        "--advertise-client-urls", f"http://127.0.0.1:{client}",
        "--listen-peer-urls", f"http://127.0.0.1:{peer}",
        "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
        "--initial-cluster", f"{name}=http://127.0.0.1:{peer}",
    ], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with open(f"{work}/pids", "a") as f:
        f.write(f"{p.pid}\n")
    for _ in range(300):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{client}/health", timeout=1)
            return p, client
        except Exception:
            time.sleep(0.1)
    raise SystemExit(f"etcd {name} did not start")

live, live_port = etcd("live")
frozen, frozen_port = etcd("frozen")
os.kill(frozen.pid, signal.SIGSTOP)
closed_port = free_port()
os.mkdir(f"{work}/heads")

def runbook(witness):
    services = ""
    for i in range(60):
        services += f'''
[[service]]
id = "svc-{i}"
hosts = ["box"]
tier = 1
  [[service.check]]
  name = "up"
  run = "sleep 0.{(i % 5) * 2}"
'''
    return f'''
[runbook]
name = "bench"
[hosts.box]
transport = "local"
{witness}
{services}
[[service]]
id = "db"
hosts = ["box"]
tier = 2
  [[service.check]]
  name = "up"
  run = "test -e '{work}/db'"
  [[service.restore]]
  name = "start"
  run = "sleep 1; touch '{work}/db'"
'''

cases = [
    ("no witness", ""),
    ("live directory", f'[[witness]]\npath = "{work}/heads"\n'),
    ("live etcd", f'[[witness]]\nurl = "etcd://127.0.0.1:{live_port}/bench"\n'),
    ("missing directory", f'[[witness]]\npath = "{work}/unmounted"\n'),
    ("etcd, closed port", f'[[witness]]\nurl = "etcd://127.0.0.1:{closed_port}/bench"\n'),
    ("etcd, frozen (SIGSTOP)", f'[[witness]]\nurl = "etcd://127.0.0.1:{frozen_port}/bench"\n'),
]
for i, (_, w) in enumerate(cases):
    with open(f"{work}/rb{i}.toml", "w") as f:
        f.write(runbook(w))

times = {name: [] for name, _ in cases}
cpu = {name: [] for name, _ in cases}
env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
for r in range(runs):
    for i, (name, _) in enumerate(cases):
        try:
            os.remove(f"{work}/db")
        except FileNotFoundError:
            pass
        journal = f"{work}/j{i}-{r}.jsonl"
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.monotonic()
        p = subprocess.run([bin_, "run", "--yes", "--journal", journal, f"{work}/rb{i}.toml"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        took = time.monotonic() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu[name].append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if p.returncode != 0:
            raise SystemExit(f"{name}: bringup exited {p.returncode}")
        times[name].append(took)
        if r == 0:
            kinds = [l.split('"kind":"')[1].split('"')[0] for l in open(journal)]
            print(f"{name}: {len(kinds)} events, "
                  f"{kinds.count('witness_failed')} witness_failed")

base = statistics.median(times["no witness"])
print(f"\n{'case':<24} {'median':>8}  {'ratio':>6}  {'cpu':>7}  runs (s)")
for name, _ in cases:
    m = statistics.median(times[name])
    c = statistics.median(cpu[name])
    runs_s = " ".join(f"{t:.3f}" for t in times[name])
    print(f"{name:<24} {m:>7.3f}s  {m / base:>6.3f}  {c:>6.3f}s  {runs_s}")
PY
