#!/usr/bin/env bash
# Runs Vevee on this machine: a local Kafka broker, then the standalone service (which
# creates the database, runs its migrations and applies deploy/local/seed.json), then
# the demo, which replays a real LLM request trace through the SDK and prints what
# happened. The service keeps running until Ctrl-C, or deploy/local/stop.sh from
# another terminal. This script then stops the broker if it started it.
#
# Environment (and the kafka.sh variables, such as KAFKA_PORT):
#   HTTP_PORT      the service's port, default 4000
#   DEMO=0         skip the demo
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

service_pid=""
written_pid=""

cleanup() {
  local status=$?
  if [[ -n "$service_pid" ]]; then
    vevee_stop_pid "$service_pid" "vevee service" 30 || status=1
  fi
  # Only this run's pid file: a second start that fails must not orphan the first.
  if [[ -n "$written_pid" && -f "$service_pid_file" && "$(<"$service_pid_file")" == "$written_pid" ]]; then
    rm -f "$service_pid_file"
  fi
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

# ---- Service ----
export HTTP_PORT="${HTTP_PORT:-4000}"
export VEVEE_SEED_FILE="${VEVEE_SEED_FILE:-$here/seed.json}"
url="http://127.0.0.1:$HTTP_PORT"
if vevee_port_open "$HTTP_PORT"; then
  echo "port $HTTP_PORT is in use; stop what listens there or set HTTP_PORT" >&2
  exit 1
fi

echo "starting the vevee service (Kafka $KAFKA_BROKERS; log: $service_log)" >&2
node --import tsx services/standalone/src/main.ts >>"$service_log" 2>&1 &
service_pid=$!
written_pid=$service_pid
echo "$service_pid" >"$service_pid_file"

# The service creates the database, migrates it and replays the ledger before it listens.
deadline=$((SECONDS + 120))
until curl -fs "$url/readyz" >/dev/null 2>&1; do
  if ! vevee_pid_alive "$service_pid"; then
    echo "the vevee service failed to start; log: $service_log" >&2
    tail -n 30 "$service_log" >&2
    service_pid=""
    exit 1
  fi
  if ((SECONDS > deadline)); then
    echo "the vevee service was not ready on $url/readyz within 120 s; log: $service_log" >&2
    exit 1
  fi
  sleep 0.2
done

# ---- Demo ----
api_key="$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).workspaces[0].apiKeys[0])' "$VEVEE_SEED_FILE")"
if [[ "${DEMO:-1}" != "0" ]]; then
  echo "running the demo: the Azure LLM inference trace, replayed through the SDK" >&2
  VEVEE_URL="$url" VEVEE_API_KEY="$api_key" node --import tsx services/demo/src/main.ts ||
    echo "the demo failed; the service keeps running (log: $service_log)" >&2
fi

cat <<EOT

Vevee is running. Press Ctrl-C to stop it.
  RPC (Connect)  $url/vevee.v1.QuotaService/{Reserve,Commit,Release,Track,Check,UpsertSubscription,GrantCredits,Alias}
  GraphQL        $url/graphql
  Metrics        $url/metrics
  API key        $api_key  (workspace from $VEVEE_SEED_FILE)
  Logs           $service_log, ${KAFKA_LOG:-$VEVEE_STATE/logs/kafka.log}
EOT

status=0
wait "$service_pid" || status=$?
service_pid=""
if ((status != 0 && status != 130 && status != 143)); then
  echo "the vevee service exited with status $status; log: $service_log" >&2
fi
exit "$status"
