#!/usr/bin/env bash
# Runs Vevee on this machine: a local Kafka broker, the database migrations, then the
# standalone service in the foreground. Ctrl-C or deploy/local/stop.sh (from another
# terminal) stops the service. This script then stops the broker if it started it.
#
# Environment (and the kafka.sh variables, such as KAFKA_PORT):
#   KAFKA_BROKERS  set it to use a broker you run yourself; then no local broker is
#                  started. Default 127.0.0.1:$KAFKA_PORT with the local broker.
#   DATABASE_URL   default postgres://postgres@127.0.0.1:5432/vevee
#   VEVEE_STATE    state folder, default <repository>/.vevee
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/runtime.sh"
cd "$VEVEE_ROOT"

export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/vevee}"
export VEVEE_STATE
service_pid_file="$VEVEE_STATE/run/vevee.pid"
service_log="$VEVEE_STATE/logs/vevee.log"
mkdir -p "$VEVEE_STATE/run" "$VEVEE_STATE/logs"

owns_kafka=false

cleanup() {
  local status=$?
  rm -f "$service_pid_file"
  if $owns_kafka; then
    bash "$here/kafka.sh" stop || echo "stopping kafka failed" >&2
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- Kafka ----
if [[ -z "${KAFKA_BROKERS:-}" ]]; then
  export KAFKA_PORT="${KAFKA_PORT:-19092}"
  export KAFKA_BROKERS="127.0.0.1:$KAFKA_PORT"
  # A broker that was running before this script stays running after it.
  if ! bash "$here/kafka.sh" status >/dev/null; then
    owns_kafka=true
  fi
  bash "$here/kafka.sh" start
fi

# ---- Database migrations ----
# TODO: apply the migrations to $DATABASE_URL here. On failure print
# "database migrations failed; log: <path>" and exit 1.

# ---- Service ----
# The subshell writes its own pid and then execs node, so the pid file contains node's
# pid for stop.sh. Node runs in the foreground and receives Ctrl-C itself. `tee -i` ignores
# SIGINT, so it keeps copying the service's shutdown output to the log.
echo "starting the vevee service (Kafka $KAFKA_BROKERS; log: $service_log)" >&2
status=0
(
  echo "$BASHPID" >"$service_pid_file"
  exec node --import tsx services/standalone/src/main.ts
) 2>&1 | tee -i -a "$service_log" || status=$?

if ((status != 0)); then
  echo "the vevee service exited with status $status; log: $service_log" >&2
fi
exit "$status"
