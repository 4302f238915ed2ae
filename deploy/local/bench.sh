#!/usr/bin/env bash
# Runs the reserve benchmark: Vevee (the standalone process, through the SDK) against a
# naive PostgreSQL check-then-update, a PostgreSQL row-lock update and
# rate-limiter-flexible on Redis, and prints one report (docs/benchmarks.md explains it).
#
# It starts a throwaway Kafka broker on free ports in a temporary folder. The benchmark
# creates its own PostgreSQL databases and Redis keys and removes them at the end. The
# broker, the Vevee process and the folder are removed on every exit, Ctrl-C included.
# It takes about five minutes.
#
# Needs: what deploy/local/start.sh needs, and a Redis server at 127.0.0.1:6379
# (BENCH_REDIS_URL). BENCH_* variables (see docs/benchmarks.md) change rates and durations.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/runtime.sh"
cd "$VEVEE_ROOT"

run_dir="$(mktemp -d "${TMPDIR:-/tmp}/vevee-bench.XXXXXX")"
export BENCH_RUN_DIR="$run_dir"
export KAFKA_DATA_DIR="$run_dir/kafka/data"
export KAFKA_PID_FILE="$run_dir/kafka/kafka.pid"
export KAFKA_LOG="$run_dir/kafka.log"

bench_pid=""

# Stops PID with vevee_stop_pid if its command line still contains PATTERN, so a pid
# that was reused by another process is left alone.
stop_if_running() {
  local pid="$1" pattern="$2" name="$3" timeout="$4"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 0
  if tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -q "$pattern"; then
    vevee_stop_pid "$pid" "$name" "$timeout" || true
  fi
}

cleanup() {
  local status=$?
  # The benchmark stops Vevee and removes its databases and Redis keys when it gets
  # SIGTERM. The Vevee pid file covers a benchmark that died without doing so.
  stop_if_running "$bench_pid" 'reserve-bench/main.ts' "benchmark" 90
  if [[ -f "$run_dir/vevee.pid" ]]; then
    stop_if_running "$(<"$run_dir/vevee.pid")" 'services/standalone/src/main.ts' "vevee service" 30
  fi
  bash "$here/kafka.sh" stop >/dev/null || echo "stopping the benchmark broker failed" >&2
  if ((status != 0)); then
    mkdir -p "$VEVEE_STATE/logs"
    for log in kafka.log vevee.log; do
      if [[ -f "$run_dir/$log" ]]; then
        cp "$run_dir/$log" "$VEVEE_STATE/logs/bench-$log"
        echo "log kept: $VEVEE_STATE/logs/bench-$log" >&2
      fi
    done
  fi
  rm -rf "$run_dir"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ports="$(vevee_free_ports 2)"
read -r KAFKA_PORT KAFKA_CONTROLLER_PORT <<<"$ports"
export KAFKA_PORT KAFKA_CONTROLLER_PORT
echo "starting a Kafka broker on 127.0.0.1:$KAFKA_PORT" >&2
bash "$here/kafka.sh" start >&2
export KAFKA_BROKERS="127.0.0.1:$KAFKA_PORT"
KAFKA_BENCH_PID="$(<"$KAFKA_PID_FILE")"
KAFKA_VERSION="$(sed -n 's|.*<kafka.version>\(.*\)</kafka.version>.*|\1|p' "$VEVEE_ROOT/deploy/pom.xml")"
CLK_TCK="$(getconf CLK_TCK)"
export KAFKA_BENCH_PID KAFKA_VERSION CLK_TCK

# In the background, so that a signal to this script runs the cleanup at once rather
# than after the benchmark ends.
node --import tsx services/bench/src/reserve-bench/main.ts &
bench_pid=$!
wait "$bench_pid"
