#!/usr/bin/env bash
# Test build time and target/ size for two commits of bringup (e.g. the last one with 43
# integration-test binaries, 3cdd638, against the first with one, 0743c4e): a clean
# `cargo test --no-run` in a fresh clone each, then the rebuild after `touch src/lib.rs`.
# Usage: scripts/bench-ci.sh OLD NEW   (takes about 15 minutes on 2 idle cores)
set -euo pipefail
repo=$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for rev in "$@"; do
  git clone -q "$repo" "$work/$rev"
  git -C "$work/$rev" checkout -q "$rev"
  cd "$work/$rev"
  /usr/bin/time -f "$rev clean: wall %e s, user %U s, sys %S s" cargo test --no-run -q 2>&1 | tail -1
  echo "$rev target/: $(du -sb target | cut -f1) bytes"
  for try in 1 2; do
    touch src/lib.rs
    /usr/bin/time -f "$rev rebuild $try: wall %e s, user %U s, sys %S s" cargo test --no-run -q 2>&1 | tail -1
  done
done
