#!/usr/bin/env bash
# Runs the project's checks and tests: tsc and ESLint when their configs exist, then
# vitest against a throwaway Kafka broker on free ports. Arguments go to `vitest run`.
#
# Each run gets its own temporary folder (VEVEE_TEST_RUN_DIR) that contains the broker's
# data, pid file and log, so runs do not share state. The broker is stopped and the
# folder deleted on every exit, Ctrl-C included. When the run fails, the broker log is
# first copied to $VEVEE_STATE/logs/test-kafka.log.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/runtime.sh"
cd "$VEVEE_ROOT"

run_dir="$(mktemp -d "${TMPDIR:-/tmp}/vevee-test.XXXXXX")"
export VEVEE_TEST_RUN_DIR="$run_dir"
export KAFKA_DATA_DIR="$run_dir/kafka/data"
export KAFKA_PID_FILE="$run_dir/kafka/kafka.pid"
export KAFKA_LOG="$run_dir/kafka.log"

step="setup"

cleanup() {
  local status=$?
  bash "$here/kafka.sh" stop >/dev/null || echo "stopping the test broker failed" >&2
  if ((status != 0)); then
    echo "test run failed in step '$step' (exit $status)" >&2
    if [[ -f "$KAFKA_LOG" ]]; then
      cp "$KAFKA_LOG" "$VEVEE_STATE/logs/test-kafka.log"
      echo "broker log: $VEVEE_STATE/logs/test-kafka.log" >&2
    fi
  fi
  rm -rf "$run_dir"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# `npx --no` fails instead of downloading a tool that node_modules lacks.
if [[ -f tsconfig.json ]]; then
  step="tsc"
  echo "== tsc --noEmit" >&2
  npx --no -- tsc -p tsconfig.json --noEmit
fi
if [[ -f eslint.config.js ]]; then
  step="eslint"
  echo "== eslint" >&2
  # The module-boundary rule reads Nx's project graph, which `nx show projects` computes.
  NX_DAEMON=false NX_NO_CLOUD=true npx --no -- nx show projects >/dev/null
  NX_DAEMON=false npx --no -- eslint .
fi

step="kafka start"
ports="$(vevee_free_ports 2)"
read -r KAFKA_PORT KAFKA_CONTROLLER_PORT <<<"$ports"
export KAFKA_PORT KAFKA_CONTROLLER_PORT
bash "$here/kafka.sh" start
export KAFKA_BROKERS="127.0.0.1:$KAFKA_PORT"

step="vitest"
echo "== vitest run $*" >&2
status=0
vitest_log="$VEVEE_STATE/logs/vitest.log"
npx --no -- vitest run "$@" 2>&1 | tee "$vitest_log" || status=$?
if ((status != 0)) && grep -q "Unhandled" "$vitest_log"; then
  # CI shows the end of the output, so the unhandled errors are repeated here.
  echo "== unhandled errors (full output: $vitest_log)" >&2
  sed 's/\x1b\[[0-9;]*m//g' "$vitest_log" | grep -A 12 "Unhandled" | head -60 >&2
fi
exit "$status"
