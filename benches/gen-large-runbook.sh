#!/usr/bin/env bash
# Write a large, valid runbook to stdout: SERVICES services over 10 tiers, HOSTS hosts behind
# a bastion, one group per service, 1-3 dependencies each (same or lower tier), two checks,
# two restores (one confirm, one manual every fifth service) and an inject per service.
#   benches/gen-large-runbook.sh [SERVICES=1000] [HOSTS=2000] > large.toml
set -euo pipefail
services="${1:-1000}"
hosts="${2:-2000}"
awk -v S="$services" -v H="$hosts" 'BEGIN {
  srand(42)
  print "[runbook]"
  print "name = \"Generated: " S " services on " H " hosts\""
  print "secret_vars = [\"token\"]"
  print ""
  print "[defaults]\ntimeout = \"30s\"\nretries = 1\nretry_delay = \"5s\"\nuser = \"sre\"\nconcurrency = 64\n"
  print "[vars]\nsite = \"gasan\"\ndomain = \"example.internal\"\n"
  print "[hosts.bastion]\naddress = \"203.0.113.10\"\n"
  print "[hosts.operator]\ntransport = \"local\"\n"
  print "[hosts]"
  for (h = 0; h < H; h++)
    printf "h%04d = { address = \"10.%d.%d.%d\", jump = \"bastion\", tags = [\"gen\"] }\n", h, int(h / 65536) % 256, int(h / 256) % 256, h % 256
  print "\n[groups]"
  per = int(H / S); if (per < 1) per = 1
  for (s = 0; s < S; s++) {
    printf "g%04d = [", s
    for (k = 0; k < per; k++) printf "%s\"h%04d\"", (k ? ", " : ""), (s * per + k) % H
    print "]"
  }
  for (s = 0; s < S; s++) {
    tier = int(s * 10 / S) + 1
    printf "\n[[service]]\nid = \"svc-%04d\"\nname = \"Generated service %d\"\ntier = %d\nrto = \"%dm\"\nhosts = [\"@g%04d\"]\n", s, s, tier, 15 * tier, s
    if (s > 0) {
      n = 1 + int(rand() * 3); printf "depends_on = ["
      for (k = 0; k < n; k++) printf "%s\"svc-%04d\"", (k ? ", " : ""), int(rand() * s)
      print "]"
    }
    printf "  [[service.check]]\n  name = \"health\"\n  feature = \"Feature %d\"\n  run = \"curl -fsS http://{{address}}:8080/health?site={{site}}\"\n  expect_output = \"^ok\"\n  timeout = \"5s\"\n", s
    printf "  [[service.check]]\n  name = \"from outside\"\n  hosts = [\"operator\"]\n  run = \"curl -fsS -H \\\"Authorization: Bearer {{token}}\\\" https://svc-%04d.{{domain}}/health\"\n", s
    printf "  [[service.restore]]\n  name = \"start\"\n  run = \"sudo systemctl start svc-%04d\"\n  confirm = true\n  retries = 2\n", s
    if (s % 5 == 0) printf "  [[service.restore]]\n  name = \"move the VIP\"\n  manual = \"Ask netops to move the VIP of {{service}} to {{site}}.\"\n"
    else printf "  [[service.restore]]\n  name = \"warm caches\"\n  run = \"/opt/svc/bin/warm --service {{service}} --host {{host}}\"\n  timeout = \"2m\"\n"
    printf "  [[service.inject]]\n  name = \"stop\"\n  run = \"sudo systemctl stop svc-%04d\"\n", s
  }
}'
