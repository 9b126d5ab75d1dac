#!/bin/sh
# Peak memory (max RSS) and run time of `bringup run` with a secret of 1 MiB, of 64 KiB and
# with no secret: one local check that prints the secret (masked) and some text.
#   BIN=path/to/bringup sh scripts/bench-secret.sh      (default: target/release/bringup)
# Needs GNU time (`apt-get install -y time`) at /usr/bin/time.
set -eu
BIN=${BIN:-target/release/bringup}
[ -x /usr/bin/time ] || { echo "needs GNU time at /usr/bin/time (apt-get install -y time)" >&2; exit 2; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cat > "$dir/rb.toml" <<'TOML'
[runbook]
name = "bench-secret"
secret_vars = ["token"]

[hosts.box]
transport = "local"

[[service]]
id = "api"
hosts = ["box"]
  [[service.check]]
  name = "uses the token"
  run = "seq 1 20000; printf 'token: %s\\n' \"{{token}}\"; seq 1 20000"
TOML
# Base64 text: printable, no newline inside (a file's one trailing newline is dropped).
head -c 786432 /dev/urandom | base64 -w0 > "$dir/1mib"
head -c 49152 /dev/urandom | base64 -w0 > "$dir/64kib"
printf 'short-token-value' > "$dir/none"
printf '%-10s %12s %10s\n' case max_rss_kb seconds
for case in none 64kib 1mib; do
  if [ "$case" = none ]; then
    # No secret_vars: the same runbook without masking.
    sed '/^secret_vars/d' "$dir/rb.toml" > "$dir/run.toml"
  else
    cp "$dir/rb.toml" "$dir/run.toml"
  fi
  /usr/bin/time -f '%M %e' -o "$dir/time" "$BIN" run --yes --format json \
    --var-file "token=$dir/$case" --journal "$dir/$case.jsonl" --log-file "$dir/$case.log" \
    "$dir/run.toml" > /dev/null 2>"$dir/stderr"
  if grep -q "$(head -c 64 "$dir/$case")" "$dir/$case.jsonl" && [ "$case" != none ]; then
    echo "$case: the secret is in the journal" >&2; exit 1
  fi
  read -r rss secs < "$dir/time"
  printf '%-10s %12s %10s\n' "$case" "$rss" "$secs"
done
