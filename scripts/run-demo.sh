#!/usr/bin/env bash
# `make run`: the broker on :9001 fronting the simulated cloud on :9006, with
# the demo region demo/RegionOne (vim id demo_RegionOne) registered.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
CONF=etc/demo.conf
mkdir -p var

"$BIN/multicloud-broker" fakecloud --bind-host 127.0.0.1 --bind-port 9006 \
    --state-file var/fakecloud.sqlite &
FAKECLOUD=$!
trap 'kill "$FAKECLOUD" 2>/dev/null || true; wait "$FAKECLOUD" 2>/dev/null || true' EXIT

if ! "$BIN/multicloud-broker" region show --config-file "$CONF" \
        --cloud-owner demo --cloud-region-id RegionOne >/dev/null 2>&1; then
    "$BIN/multicloud-broker" region add --config-file "$CONF" --cloud-owner demo \
        --cloud-region-id RegionOne --cloud-type openstack --cloud-region-version ocata
fi

B=http://127.0.0.1:9001/api/multicloud
cat <<MSG

multicloud-broker on http://127.0.0.1:9001 (simulated cloud on :9006). Try:

  curl -s $B/v0/vim_types
  TOKEN=\$(curl -si -X POST $B/v0/demo_RegionOne/identity/v3/auth/tokens \\
      -H 'Content-Type: application/json' \\
      -d '{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"demo","password":"demo","domain":{"name":"Default"}}}}}}' \\
      | tr -d '\r' | awk -F': ' 'tolower(\$1)=="x-subject-token"{print \$2}')
  curl -s $B/v0/demo_RegionOne/tenants -H "X-Auth-Token: \$TOKEN"
  curl -s -X POST $B/v0/check_vim_capacity -H 'Content-Type: application/json' \\
      -d '{"vCPU": 4, "Memory": 16, "Storage": 100, "VIMs": ["demo_RegionOne"]}'
  .venv/bin/multicloud-broker demo volte            # the VoLTE flow, API v0
  .venv/bin/multicloud-broker demo volte --api v1   # the same as one infra_workload

Ctrl-C stops both.
MSG

"$BIN/multicloud-broker" serve --config-file "$CONF"
