#!/bin/sh
# What output costs on disk, and what reading it back costs (SPEC "Journal additions"):
#  1. a check printing MB megabytes of `yes` (default 20), then of random bytes: the journal
#     and its side files against the bytes printed (goal ≤ 1.5×), and the time of the run;
#  2. a journal of about BIG megabytes (default 500) of text output: peak RSS of `export`
#     in every format (goal < 100 MB) and of `verify`, and verify's events per second
#     (goal ≥ 500,000/s counting events; output chunks are large, so also MB/s).
# Needs a release build (cargo build --release).
set -eu
BIN=${BIN:-target/release/bringup}
MB=${MB:-20}
BIG=${BIG:-500}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

runbook() { # file command timeout
    cat > "$1" <<TOML
[runbook]
name = "output cost"
[hosts.box]
transport = "local"
[[service]]
id = "chatty"
name = "Chatty"
tier = 1
hosts = ["box"]
  [[service.check]]
  name = "prints"
  run = "$2"
  timeout = "$3"
TOML
}

recorded() { # journal → bytes of the journal and its side files
    j=$(stat -c %s "$1")
    s=0
    [ -d "$1.d" ] && s=$(du -sb "$1.d" | cut -f1)
    echo $((j + s))
}

cost() { # label command
    runbook "$WORK/rb.toml" "$2" "300s"
    rm -rf "$WORK/j.jsonl" "$WORK/j.jsonl.d"
    start=$(date +%s.%N)
    "$BIN" run --check-only --journal "$WORK/j.jsonl" "$WORK/rb.toml" >/dev/null 2>&1 || true
    end=$(date +%s.%N)
    bytes=$((MB * 1000000))
    rec=$(recorded "$WORK/j.jsonl")
    events=$(grep -c '"kind":"step_output"' "$WORK/j.jsonl" || true)
    outcome=$(grep '"kind":"step_finished"' "$WORK/j.jsonl" | tail -1 | sed 's/.*"outcome":"\([a-z]*\)".*/\1/')
    python3 -c "print(f'$1: {$bytes:,} bytes printed → {$rec:,} recorded ({$rec/$bytes:.3f}×), $events step_output events, run {$end-$start:.2f}s, check $outcome')"
}

# The same output with no bringup in between (the local transport runs `sh -c`).
start=$(date +%s.%N)
sh -c "yes | head -c $((MB * 1000000)) > /dev/null"
end=$(date +%s.%N)
python3 -c "print(f'yes x ${MB} MB to /dev/null without bringup: {$end-$start:.2f}s')"
cost "yes x ${MB} MB" "yes | head -c $((MB * 1000000))"
cost "random x ${MB} MB" "head -c $((MB * 1000000)) /dev/urandom"

[ "${SIZE_ONLY:-0}" = 1 ] && exit 0

# 2. A big journal: base64 text (valid UTF-8, few escapes) is kept inline.
runbook "$WORK/big.toml" "head -c $((BIG * 750000)) /dev/urandom | base64 -w 100" "900s"
"$BIN" run --check-only --journal "$WORK/big.jsonl" "$WORK/big.toml" >/dev/null
size=$(stat -c %s "$WORK/big.jsonl")
events=$(wc -l < "$WORK/big.jsonl")
python3 -c "print(f'big journal: {$size/1e6:.0f} MB, {$events:,} events')"
rss() { # label command...
    label=$1
    shift
    /usr/bin/time -f '%M %e' -o "$WORK/time" "$@" >/dev/null 2>"$WORK/err" || true
    read -r kb secs < "$WORK/time"
    echo "$label: peak RSS $((kb / 1024)) MB, $secs s"
}
for f in markdown status status-json notice html json csv; do
    rss "export --format $f" "$BIN" export --format "$f" "$WORK/big.jsonl" -o "$WORK/out.$f"
done
rss "verify" "$BIN" verify "$WORK/big.jsonl"
secs=$(cut -d' ' -f2 "$WORK/time")
python3 -c "print(f'verify: {$size/1e6/$secs:.0f} MB/s, {$events/$secs:,.0f} events/s on chunked output')"

# Verify's rate on small events is in `cargo bench --bench journal` (1,000,000 events).
