#!/bin/sh
# A check printing LINES lines (default 200,000): wall time of the check in `bringup run`
# against the TUI (`bringup open` in a private tmux server at 120x40), both read from the
# journal (run_started → the check's step_finished), so start-up is counted alike. Then
# HOSTS local hosts (default 32) each printing MB megabytes (default 32) at once, with the
# TUI's peak RSS (VmHWM). Needs a release build (cargo build --release) and tmux.
set -eu
BIN=${BIN:-target/release/bringup}
LINES=${LINES:-200000}
HOSTS=${HOSTS:-32}
MB=${MB:-32}
# What each host prints: lines of 60 bytes, or LONG=1 for output with no newline at all.
if [ "${LONG:-0}" = 1 ]; then FLOOD="tr '\\\\000' x < /dev/zero"; else FLOOD="yes 0123456789abcdef0123456789abcdef0123456789abcdef012345678"; fi
WORK=$(mktemp -d)
trap 'tmux -L bringup-bench kill-server 2>/dev/null || true; rm -rf "$WORK"' EXIT

cat > "$WORK/lines.toml" <<TOML
[runbook]
name = "chatty check"
[hosts.box]
transport = "local"
[[service]]
id = "chatty"
name = "Chatty"
tier = 1
hosts = ["box"]
  [[service.check]]
  name = "prints"
  run = "seq $LINES"
  timeout = "30s"
TOML

span() { # journal → seconds from run_started to the last step_finished, and its outcome
    # Only the lines of those two kinds are parsed, so a journal of many gigabytes streams.
    grep -E '"kind":"(run_started|step_finished)"' "$1" | python3 -c '
import json, sys
from datetime import datetime
ev = [json.loads(l) for l in sys.stdin]
t = lambda e: datetime.fromisoformat(e["ts"].replace("Z", "+00:00"))
start = next(e for e in ev if e["kind"] == "run_started")
done = [e for e in ev if e["kind"] == "step_finished"]
last = max(done, key=t)
outcome = last["outcome"]
print(f"{(t(last) - t(start)).total_seconds():.2f}s outcome={outcome} steps={len(done)}")
'
}

wait_for() { # file pattern seconds
    i=0
    # Only the journal's last MiB: what is waited for was just appended, and a journal of
    # tens of gigabytes is not scanned again on every poll.
    while ! tail -c 1048576 "$1" 2>/dev/null | grep -q "$2"; do
        i=$((i + 1)); [ "$i" -gt $(($3 * 10)) ] && { echo "timed out waiting for $2" >&2; return 1; }
        sleep 0.1
    done
}

tui() { # runbook journal → runs the TUI in tmux until the sweep ends, quits, prints peak RSS
    tmux -L bringup-bench new-session -d -x 120 -y 40 -s bench \
        "$BIN open '$1' --journal '$2' --operator bench; sleep 30"
    wait_for "$2" '"run_started"' 30
    pid=$(pgrep -f "open $1 --journal $2" | head -1)
    wait_for "$2" "$3" 600
    hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
    tmux -L bringup-bench send-keys -t bench q
    sleep 1
    tmux -L bringup-bench send-keys -t bench y
    wait_for "$2" '"run_finished"' 60
    tmux -L bringup-bench kill-server
    echo "peak RSS $((hwm / 1024)) MB"
}

echo "== one check printing $LINES lines"
$BIN run --journal "$WORK/run.jsonl" "$WORK/lines.toml" >/dev/null 2>&1 || true
echo "run: $(span "$WORK/run.jsonl")"
tui "$WORK/lines.toml" "$WORK/tui.jsonl" '"step_finished"'
echo "tui: $(span "$WORK/tui.jsonl")"

echo "== $HOSTS hosts each printing $MB MB at once (TUI; LONG=${LONG:-0})"
{
    printf '[runbook]\nname = "chatty hosts"\n'
    i=0; while [ $i -lt "$HOSTS" ]; do printf '[hosts.h%d]\ntransport = "local"\n' $i; i=$((i + 1)); done
    printf '[[service]]\nid = "flood"\nname = "Flood"\ntier = 1\nhosts = ['
    i=0; while [ $i -lt "$HOSTS" ]; do printf '"h%d",' $i; i=$((i + 1)); done
    printf ']\n  [[service.check]]\n  name = "floods"\n  run = "%s | head -c %d"\n  timeout = "600s"\n' "$FLOOD" $((MB * 1024 * 1024))
} > "$WORK/flood.toml"
tui "$WORK/flood.toml" "$WORK/flood.jsonl" '"to":"healthy"\|"to":"down"\|"to":"partial"'
echo "tui: $(span "$WORK/flood.jsonl"); journal $(du -m "$WORK/flood.jsonl" | cut -f1) MB"
