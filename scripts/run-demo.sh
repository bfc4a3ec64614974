#!/usr/bin/env bash
# `make run`: the broker on :9001 in front of the OpenStack plugin on :9006
# (every OpenStack version of the catalog), which reaches a real Keystone
# (:5000) and the OpenStack simulator (:9010) registered in its catalog.
# Region demo/RegionOne (vim id demo_RegionOne, the one `demo volte` uses)
# has the Keystone admin's credentials in the inventory. The catalog's vmware
# and azure types have no plugin here: the broker answers their regions 502.
# BROKER_PORT, PLUGIN_PORT, KEYSTONE_PORT, OPENSTACK_PORT and DEMO_DIR
# (default var/) move them; BIN names the virtual environment's bin.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
BROKER_PORT=${BROKER_PORT:-9001}
PLUGIN_PORT=${PLUGIN_PORT:-9006}
KEYSTONE_PORT=${KEYSTONE_PORT:-5000}
OPENSTACK_PORT=${OPENSTACK_PORT:-9010}
DEMO_DIR=${DEMO_DIR:-var}
mkdir -p "$DEMO_DIR"
# etc/demo.conf, then a file of this run's ports and paths.
RUN_CONF=$DEMO_DIR/demo-run.conf
{
    printf '[DEFAULT]\nbind_port = %s\n[inventory]\nsqlite_path = %s\n' \
        "$BROKER_PORT" "$DEMO_DIR/inventory.sqlite"
    printf '[openstack_plugin]\nbind_host = 127.0.0.1\nbind_port = %s\nbroker_url = %s\n' \
        "$PLUGIN_PORT" "http://127.0.0.1:$BROKER_PORT"
    printf '[plugins]\nendpoints = '
    for plugin in ocata pike titaniumcloud starlingx; do
        printf 'multicloud-%s:http://127.0.0.1:%s,' "$plugin" "$PLUGIN_PORT"
    done | sed 's/,$//'
    printf '\n'
} > "$RUN_CONF"
CONF=(--config-file etc/demo.conf --config-file "$RUN_CONF")

STARTED=()
stop_all() {
    for pid in "${STARTED[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${STARTED[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap stop_all EXIT

# wait_for FILE PATTERN PID WHAT: until a started process has printed its ready line.
wait_for() {
    for _ in $(seq 600); do
        if grep -q "$2" "$1" 2>/dev/null; then return 0; fi
        if ! kill -0 "$3" 2>/dev/null; then
            echo "run-demo: $4 stopped:" >&2; tail -5 "$1" >&2; exit 1
        fi
        sleep 0.2
    done
    echo "run-demo: $4 did not start in 120 s" >&2; exit 1
}

# The real Keystone (its venv is built and cached on the first run: about a
# minute), with an admin password made once for this demo directory.
if [ ! -s "$DEMO_DIR/keystone-admin-password" ]; then
    (umask 077; "$BIN/python" -c 'import secrets; print(secrets.token_urlsafe(18))' \
        > "$DEMO_DIR/keystone-admin-password")
fi
KEYSTONE_ADMIN_PASSWORD=$(cat "$DEMO_DIR/keystone-admin-password")
export KEYSTONE_ADMIN_PASSWORD
KEYSTONE=http://127.0.0.1:$KEYSTONE_PORT/v3
"$BIN/python" -m multicloud_broker.simulators.keystone --workdir "$DEMO_DIR/keystone" \
    --port "$KEYSTONE_PORT" --admin-password="$KEYSTONE_ADMIN_PASSWORD" \
    > "$DEMO_DIR/keystone.out" 2>&1 &
STARTED+=($!)
wait_for "$DEMO_DIR/keystone.out" OS_AUTH_URL $! Keystone

"$BIN/python" -m multicloud_broker.simulators.openstack --bind-host 127.0.0.1 \
    --bind-port "$OPENSTACK_PORT" --keystone-url "$KEYSTONE" --admin-user admin \
    --admin-password="$KEYSTONE_ADMIN_PASSWORD" --admin-project admin --register \
    --image-dir "$DEMO_DIR/images" > "$DEMO_DIR/openstack-simulator.out" 2>&1 &
STARTED+=($!)
wait_for "$DEMO_DIR/openstack-simulator.out" "openstack simulator on" $! "the OpenStack simulator"

# Added afresh each run (the access may have changed); demo/OpenStack is
# the second region earlier versions of this script added.
for region in RegionOne OpenStack; do
    "$BIN/multicloud-broker" region remove "${CONF[@]}" --cloud-owner demo \
        --cloud-region-id "$region" >/dev/null 2>&1 || true
done
"$BIN/multicloud-broker" region add "${CONF[@]}" --cloud-owner demo \
    --cloud-region-id RegionOne --cloud-type openstack --cloud-region-version ocata \
    --auth-url "$KEYSTONE" --username admin --password-env KEYSTONE_ADMIN_PASSWORD \
    --project admin --openstack-region RegionOne

"$BIN/multicloud-broker" openstack-plugin "${CONF[@]}" &
STARTED+=($!)
# Ready before the broker sends it anything.
"$BIN/python" - "http://127.0.0.1:$PLUGIN_PORT/readyz" <<'PY'
import sys, time, urllib.request
for _ in range(300):
    try:
        urllib.request.urlopen(sys.argv[1], timeout=1).close()
        break
    except OSError:
        time.sleep(0.1)
else:
    sys.exit("run-demo: the OpenStack plugin did not become ready")
PY

B=http://127.0.0.1:$BROKER_PORT/api/multicloud
# The demo logs in to Keystone through the broker as the admin: its password
# comes from OS_PASSWORD.
DEMO="OS_PASSWORD=\$(cat $DEMO_DIR/keystone-admin-password) $BIN/multicloud-broker demo volte"
[ "$BROKER_PORT" = 9001 ] || DEMO="$DEMO --broker http://127.0.0.1:$BROKER_PORT"
cat <<MSG

multicloud-broker on http://127.0.0.1:$BROKER_PORT. Try:

  curl -s $B/v0/vim_types
  curl -s -X POST $B/v0/check_vim_capacity -H 'Content-Type: application/json' \\
      -d '{"vCPU": 4, "Memory": 16, "Storage": 100, "VIMs": ["demo_RegionOne"]}'
  $DEMO            # the VoLTE flow, API v0
  $DEMO --api v1   # the same as one infra_workload (Heat)

OpenStack through MultiCloud (region demo_RegionOne: the OpenStack plugin on
:$PLUGIN_PORT, Keystone on :$KEYSTONE_PORT, the simulated OpenStack on :$OPENSTACK_PORT):

  export OS_AUTH_URL=$B/v0/demo_RegionOne/identity/v3 OS_USERNAME=admin \\
      OS_PASSWORD=\$(cat $DEMO_DIR/keystone-admin-password) OS_PROJECT_NAME=admin \\
      OS_USER_DOMAIN_NAME=Default OS_PROJECT_DOMAIN_NAME=Default OS_REGION_NAME=RegionOne
  $BIN/openstack network create demo-net && $BIN/openstack server list
  curl -s $B/v0/demo_RegionOne/tenants

Ctrl-C stops them all.
MSG

"$BIN/multicloud-broker" serve "${CONF[@]}"
