#!/usr/bin/env bash
# `make run`: the broker on :9001 fronting the simulated cloud on :9006, with
# the demo region demo/RegionOne (vim id demo_RegionOne) registered.
# BROKER_PORT, CLOUD_PORT and DEMO_DIR (default var/) move it; BIN names
# the virtual environment's bin directory.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
BROKER_PORT=${BROKER_PORT:-9001}
CLOUD_PORT=${CLOUD_PORT:-9006}
DEMO_DIR=${DEMO_DIR:-var}
mkdir -p "$DEMO_DIR"
# etc/demo.conf, then a file of this run's ports and paths.
RUN_CONF=$DEMO_DIR/demo-run.conf
{
    printf '[DEFAULT]\nbind_port = %s\n[inventory]\nsqlite_path = %s\n[plugins]\nendpoints = ' \
        "$BROKER_PORT" "$DEMO_DIR/inventory.sqlite"
    for plugin in ocata pike titaniumcloud starlingx vio azure; do
        printf 'multicloud-%s:http://127.0.0.1:%s,' "$plugin" "$CLOUD_PORT"
    done | sed 's/,$/\n/'
} > "$RUN_CONF"
CONF=(--config-file etc/demo.conf --config-file "$RUN_CONF")

"$BIN/multicloud-broker" fakecloud --bind-host 127.0.0.1 --bind-port "$CLOUD_PORT" \
    --state-file "$DEMO_DIR/fakecloud.sqlite" &
FAKECLOUD=$!
trap 'kill "$FAKECLOUD" 2>/dev/null || true; wait "$FAKECLOUD" 2>/dev/null || true' EXIT

if ! "$BIN/multicloud-broker" region show "${CONF[@]}" \
        --cloud-owner demo --cloud-region-id RegionOne >/dev/null 2>&1; then
    "$BIN/multicloud-broker" region add "${CONF[@]}" --cloud-owner demo \
        --cloud-region-id RegionOne --cloud-type openstack --cloud-region-version ocata
fi

B=http://127.0.0.1:$BROKER_PORT/api/multicloud
DEMO="$BIN/multicloud-broker demo volte"
[ "$BROKER_PORT" = 9001 ] || DEMO="$DEMO --broker http://127.0.0.1:$BROKER_PORT"
cat <<MSG

multicloud-broker on http://127.0.0.1:$BROKER_PORT (simulated cloud on :$CLOUD_PORT). Try:

  curl -s $B/v0/vim_types
  TOKEN=\$(curl -si -X POST $B/v0/demo_RegionOne/identity/v3/auth/tokens \\
      -H 'Content-Type: application/json' \\
      -d '{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"demo","password":"demo","domain":{"name":"Default"}}}}}}' \\
      | tr -d '\r' | awk -F': ' 'tolower(\$1)=="x-subject-token"{print \$2}')
  curl -s $B/v0/demo_RegionOne/tenants -H "X-Auth-Token: \$TOKEN"
  curl -s -X POST $B/v0/check_vim_capacity -H 'Content-Type: application/json' \\
      -d '{"vCPU": 4, "Memory": 16, "Storage": 100, "VIMs": ["demo_RegionOne"]}'
  $DEMO            # the VoLTE flow, API v0
  $DEMO --api v1   # the same as one infra_workload

Ctrl-C stops both.
MSG

"$BIN/multicloud-broker" serve "${CONF[@]}"
