#!/bin/sh
# Container entry point. Honours ONAP's deployment variables as the original
# broker image did: WEB_FRAMEWORK (django|pecan), MSB_ADDR, MSB_PORT,
# MSB_PROTO, AAI_ADDR, AAI_PORT, AAI_PROTOCOL, AAI_SCHEMA_VERSION,
# AAI_USERNAME, AAI_PASSWORD and SSL_ENABLED. The broker reads them itself
# (no source file is rewritten); this script only adds files and logs.
#
#   MULTICLOUD_BROKER_CONFIG  optional config file (default below, if present)
#   MULTICLOUD_BROKER_CONFIG_DIR  optional directory: every *.conf in it, in
#                             name order (later files win; Kubernetes mounts
#                             its ConfigMap there)
#   WORKERS                   worker processes (Kubernetes: the CPU limit via
#                             the downward API); unset: one per usable CPU
#   SSL_CERT_FILE, SSL_KEY_FILE  certificate and key when SSL_ENABLED=true
#   LOG_DIR                   write the access log there (e.g. ONAP's
#                             /var/log/onap/multicloud/multivimbroker);
#                             unset: standard output
set -eu

CONFIG=${MULTICLOUD_BROKER_CONFIG:-/etc/multicloud-broker/multicloud-broker.conf}
CERT_DIR=/etc/multicloud-broker/ssl

# WORKERS first: a --workers among the script's own arguments still wins.
if [ -n "${WORKERS:-}" ]; then
    set -- --workers "$WORKERS" "$@"
fi
set -- serve "$@"
if [ -r "$CONFIG" ]; then
    set -- "$@" --config-file "$CONFIG"
fi
if [ -n "${MULTICLOUD_BROKER_CONFIG_DIR:-}" ]; then
    for file in "$MULTICLOUD_BROKER_CONFIG_DIR"/*.conf; do
        if [ -r "$file" ]; then
            set -- "$@" --config-file "$file"
        fi
    done
fi

# Options that have no ONAP variable of their own go in a generated file.
GENERATED=$(mktemp /tmp/multicloud-broker.XXXXXX.conf)
echo "[DEFAULT]" > "$GENERATED"
if [ -n "${LOG_DIR:-}" ]; then
    mkdir -p "$LOG_DIR"
    echo "access_log = $LOG_DIR/access.log" >> "$GENERATED"
fi
# The values oslo.config takes as true, as the broker itself reads SSL_ENABLED.
case $(printf %s "${SSL_ENABLED:-false}" | tr 'A-Z' 'a-z') in
    true|1|yes|on) TLS=true ;;
    *) TLS=false ;;
esac
if [ "$TLS" = true ]; then
    printf '[ssl]\ncert_file = %s\nkey_file = %s\n' \
        "${SSL_CERT_FILE:-$CERT_DIR/cert.crt}" "${SSL_KEY_FILE:-$CERT_DIR/cert.key}" >> "$GENERATED"
fi
set -- "$@" --config-file "$GENERATED"

# exec: the broker is PID 1's successor and receives SIGTERM/SIGHUP directly.
exec multicloud-broker "$@"
