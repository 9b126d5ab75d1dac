#!/bin/sh
# A dead webhook must not slow the run. The same runbook (local transport, ~3 s of steps,
# 14 state changes: two services healthy, two restored, one after the other) is run RUNS
# times (default 5) in each case, interleaved: no webhook; a webhook whose port is closed
# (connection refused); one that accepts the connection and never answers; and, for
# reference, one that answers 200 at once. Prints each case's median wall time of the whole
# `bringup run` process and its ratio to the run without a webhook (goal: within 5 %).
# Needs a release build (cargo build --release) and python3.
set -eu
BIN=${BIN:-target/release/bringup}
RUNS=${RUNS:-5}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

BIN="$BIN" RUNS="$RUNS" WORK="$WORK" python3 - <<'PY'
import os, socket, statistics, subprocess, threading, time

bin_, runs, work = os.environ["BIN"], int(os.environ["RUNS"]), os.environ["WORK"]

def listener():
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(64)
    return s

def silent(s):  # accepts, holds every socket, never reads or answers
    held = []
    while True:
        held.append(s.accept()[0])

def answering(s):  # reads one request, answers 200
    while True:
        c = s.accept()[0]
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = c.recv(65536)
            if not chunk:
                break
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        while len(body) < length:
            chunk = c.recv(65536)
            if not chunk:
                break
            body += chunk
        c.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
        c.close()

closed = listener()
closed_port = closed.getsockname()[1]
closed.close()  # nothing listens there now: connection refused
hold = listener()
threading.Thread(target=silent, args=(hold,), daemon=True).start()
ok = listener()
threading.Thread(target=answering, args=(ok,), daemon=True).start()

def runbook(port):
    notify = "" if port is None else f'''
[[notify]]
url = "http://127.0.0.1:{port}/hook"
format = "json"
'''
    return f'''
[runbook]
name = "bench"
[hosts.box]
transport = "local"
{notify}
[[service]]
id = "db"
hosts = ["box"]
tier = 1
  [[service.check]]
  name = "up"
  run = "test -e '{work}/db'"
  [[service.restore]]
  name = "start"
  run = "sleep 1; touch '{work}/db'"
[[service]]
id = "auth"
hosts = ["box"]
tier = 1
  [[service.check]]
  name = "up"
  run = "sleep 0.5"
[[service]]
id = "api"
hosts = ["box"]
tier = 2
depends_on = ["db"]
  [[service.check]]
  name = "up"
  run = "test -e '{work}/api'"
  [[service.restore]]
  name = "start"
  run = "sleep 1; touch '{work}/api'"
[[service]]
id = "web"
hosts = ["box"]
tier = 2
  [[service.check]]
  name = "up"
  run = "sleep 0.5"
'''

cases = [
    ("no webhook", None),
    ("closed port", closed_port),
    ("accepts, never answers", hold.getsockname()[1]),
    ("answers 200 (reference)", ok.getsockname()[1]),
]
for i, (_, port) in enumerate(cases):
    with open(f"{work}/rb{i}.toml", "w") as f:
        f.write(runbook(port))

times = {name: [] for name, _ in cases}
for r in range(runs):
    for i, (name, _) in enumerate(cases):
        for flag in ("db", "api"):
            try:
                os.remove(f"{work}/{flag}")
            except FileNotFoundError:
                pass
        journal = f"{work}/j{i}-{r}.jsonl"
        start = time.monotonic()
        p = subprocess.run([bin_, "run", "--yes", "--journal", journal, f"{work}/rb{i}.toml"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           env={k: v for k, v in os.environ.items() if "proxy" not in k.lower()})
        took = time.monotonic() - start
        if p.returncode != 0:
            raise SystemExit(f"{name}: bringup exited {p.returncode}")
        times[name].append(took)
        kinds = [l.split('"kind":"')[1].split('"')[0] for l in open(journal)]
        if r == 0:
            print(f"{name}: {kinds.count('service_state')} state changes, "
                  f"{kinds.count('notify_queued')} queued, {kinds.count('notify_sent')} sent, "
                  f"{kinds.count('notify_failed')} failed")

base = statistics.median(times["no webhook"])
print(f"\n{'case':<26} {'median':>8}  {'ratio':>6}  runs (s)")
for name, _ in cases:
    m = statistics.median(times[name])
    runs_s = " ".join(f"{t:.3f}" for t in times[name])
    print(f"{name:<26} {m:>7.3f}s  {m / base:>6.3f}  {runs_s}")
PY
