#!/usr/bin/env bash
# Starts, stops or reports one local Kafka node: KRaft controller and broker in one JVM,
# listening on 127.0.0.1 only. The jars come from Maven Central through deploy/pom.xml
# and are cached per Kafka version.
#
# Usage: deploy/local/kafka.sh start|stop|status
#
# Environment (every path may be relative to the current directory):
#   KAFKA_PORT             client (PLAINTEXT) port, default 19092
#   KAFKA_CONTROLLER_PORT  KRaft controller port, default 19093
#   KAFKA_DATA_DIR         Kafka's log.dirs, default $VEVEE_STATE/kafka/data
#   KAFKA_PID_FILE         default $VEVEE_STATE/kafka/kafka.pid; the generated
#                          server.properties goes into the same folder
#   KAFKA_LOG              the broker's stdout and stderr, default $VEVEE_STATE/logs/kafka.log
#   KAFKA_HEAP_OPTS        JVM heap options, default "-Xms256m -Xmx768m"
#   KAFKA_OPTS             extra JVM options, default none
#   KAFKA_START_TIMEOUT    seconds `start` waits for the broker to be ready, default 90
#   KAFKA_STOP_TIMEOUT     seconds `stop` waits after SIGTERM before SIGKILL, default 30
#   JAVA_HOME              Java 17 or later; without it, `java` on PATH
#   VEVEE_STATE            state folder, default <repository>/.vevee; the jar cache is
#                          $VEVEE_STATE/cache/kafka-<version>/libs
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

KAFKA_PORT="${KAFKA_PORT:-19092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-19093}"
KAFKA_DATA_DIR="${KAFKA_DATA_DIR:-$VEVEE_STATE/kafka/data}"
KAFKA_PID_FILE="${KAFKA_PID_FILE:-$VEVEE_STATE/kafka/kafka.pid}"
KAFKA_LOG="${KAFKA_LOG:-$VEVEE_STATE/logs/kafka.log}"
KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms256m -Xmx768m}"
KAFKA_OPTS="${KAFKA_OPTS:-}"
KAFKA_START_TIMEOUT="${KAFKA_START_TIMEOUT:-90}"
KAFKA_STOP_TIMEOUT="${KAFKA_STOP_TIMEOUT:-30}"

pom="$VEVEE_ROOT/deploy/pom.xml"
templates="$VEVEE_ROOT/deploy/local/kafka"
kafka_version="$(sed -n 's|.*<kafka.version>\(.*\)</kafka.version>.*|\1|p' "$pom")"
libs_dir="$VEVEE_STATE/cache/kafka-$kafka_version/libs"
java_bin="${JAVA_HOME:+$JAVA_HOME/bin/}java"

# Turns a path into an absolute one, because the broker and the pid check need one
# spelling of each path whatever the current directory is.
absolute_path() {
  mkdir -p "$(dirname "$1")"
  echo "$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
}

KAFKA_DATA_DIR="$(absolute_path "$KAFKA_DATA_DIR")"
KAFKA_PID_FILE="$(absolute_path "$KAFKA_PID_FILE")"
KAFKA_LOG="$(absolute_path "$KAFKA_LOG")"
config_file="$(dirname "$KAFKA_PID_FILE")/server.properties"

# Prints the pid from the pid file when that process is alive and runs this node's config.
running_pid() {
  local pid cmdline
  [[ -f "$KAFKA_PID_FILE" ]] || return 1
  pid="$(<"$KAFKA_PID_FILE")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  vevee_pid_alive "$pid" || return 1

  # After the broker exits its pid may be reused, and that process must not be stopped.
  cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
  [[ "$cmdline" == *"kafka.Kafka $config_file"* ]] || return 1
  echo "$pid"
}

# Copies the broker jars into the cache unless the cache was filled from this pom.
fetch_jars() {
  local stamp="$libs_dir/.pom.sha256"
  local log="$VEVEE_STATE/logs/kafka-fetch.log"
  local staging="$libs_dir.tmp.$$"
  local pom_hash
  pom_hash="$(sha256sum "$pom" | cut -d ' ' -f 1)"

  if [[ -f "$stamp" && "$(<"$stamp")" == "$pom_hash" ]]; then
    return 0
  fi
  if ! command -v mvn >/dev/null; then
    echo "mvn not found on PATH; install Maven 3.6.3 or later to fetch the Kafka jars" >&2
    return 1
  fi

  echo "fetching Kafka $kafka_version jars with Maven into $libs_dir" >&2
  mkdir -p "$(dirname "$log")"
  rm -rf "$staging"
  if ! mvn -B -q -f "$pom" dependency:copy-dependencies -DoutputDirectory="$staging" \
    >"$log" 2>&1; then
    rm -rf "$staging"
    echo "fetching the Kafka jars with Maven failed; log: $log" >&2
    return 1
  fi
  echo "$pom_hash" >"$staging/.pom.sha256"

  # A second run that fetched at the same time may have filled the cache first, and
  # then `mv -T` fails and this copy is dropped.
  rm -rf "$libs_dir"
  mv -T "$staging" "$libs_dir" 2>/dev/null || rm -rf "$staging"
}

write_config() {
  local text
  text="$(<"$templates/server.properties.in")"
  text="${text//@KAFKA_PORT@/"$KAFKA_PORT"}"
  text="${text//@KAFKA_CONTROLLER_PORT@/"$KAFKA_CONTROLLER_PORT"}"
  text="${text//@KAFKA_DATA_DIR@/"$KAFKA_DATA_DIR"}"
  printf '%s\n' "$text" >"$config_file"
}

# Sets java_cmd to the JVM command line without its main class.
build_java_cmd() {
  local heap_opts extra_opts
  read -ra heap_opts <<<"$KAFKA_HEAP_OPTS"
  read -ra extra_opts <<<"$KAFKA_OPTS"
  java_cmd=("$java_bin" "${heap_opts[@]}" -XX:+UseG1GC -XX:+ExitOnOutOfMemoryError
    -Djava.awt.headless=true -Dlog4j2.configurationFile="$templates/log4j2.properties"
    "${extra_opts[@]}" -cp "$libs_dir/*")
}

run_java() {
  "${java_cmd[@]}" "$@"
}

# Formats the data directory as a one-voter KRaft cluster, unless it is formatted already.
# The storage tool reads the listeners and log.dirs from the config, so write it first.
format_storage() {
  local cluster_id
  if [[ -f "$KAFKA_DATA_DIR/meta.properties" ]]; then
    return 0
  fi

  # The tool prints the id on its last line of output, after any log lines.
  cluster_id="$(run_java kafka.tools.StorageTool random-uuid 2>>"$KAFKA_LOG" | tail -n 1)"
  if [[ ! "$cluster_id" =~ ^[A-Za-z0-9_-]{22}$ ]]; then
    echo "kafka.tools.StorageTool random-uuid printed no cluster id: '$cluster_id'" >&2
    return 1
  fi
  run_java kafka.tools.StorageTool format -t "$cluster_id" -c "$config_file" --standalone \
    >>"$KAFKA_LOG" 2>&1
}

# Waits until the broker has logged that it started and accepts connections on KAFKA_PORT.
wait_ready() {
  local pid="$1"
  local deadline=$((SECONDS + KAFKA_START_TIMEOUT))

  until grep -qF "Kafka Server started" "$KAFKA_LOG" 2>/dev/null \
    && vevee_port_open "$KAFKA_PORT"; do
    if ! vevee_pid_alive "$pid"; then
      echo "kafka (pid $pid) exited during start" >&2
      return 1
    fi
    if ((SECONDS >= deadline)); then
      echo "kafka (pid $pid) was not ready within ${KAFKA_START_TIMEOUT}s" >&2
      return 1
    fi
    sleep 0.2
  done
}

fail_start() {
  echo "kafka failed to start; log: $KAFKA_LOG" >&2
  tail -n 30 "$KAFKA_LOG" >&2 2>/dev/null || true
  exit 1
}

start() {
  local pid port

  if pid="$(running_pid)"; then
    wait_ready "$pid" || fail_start
    echo "kafka already running (pid $pid, 127.0.0.1:$KAFKA_PORT)"
    return 0
  fi
  rm -f "$KAFKA_PID_FILE"

  for port in "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT"; do
    if vevee_port_open "$port"; then
      echo "port $port on 127.0.0.1 is already in use;" \
        "set KAFKA_PORT and KAFKA_CONTROLLER_PORT to free ports" >&2
      exit 1
    fi
  done
  if ! command -v "$java_bin" >/dev/null; then
    echo "$java_bin not found; install Java 17 or later or set JAVA_HOME" >&2
    exit 1
  fi

  fetch_jars || exit 1
  build_java_cmd
  mkdir -p "$KAFKA_DATA_DIR" "$(dirname "$KAFKA_LOG")"
  write_config

  # Keep the previous run's log for post-mortems. The ready check must not find
  # its "Kafka Server started" line.
  if [[ -f "$KAFKA_LOG" ]]; then
    mv -f "$KAFKA_LOG" "$KAFKA_LOG.1"
  fi
  format_storage || fail_start

  # setsid puts the broker in its own session, so a Ctrl-C meant for the caller's
  # foreground process does not reach it. Without job control the background child
  # is not a process group leader, so setsid execs java in place and $! is java's pid.
  setsid "${java_cmd[@]}" kafka.Kafka "$config_file" >>"$KAFKA_LOG" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$KAFKA_PID_FILE"

  if ! wait_ready "$pid"; then
    vevee_stop_pid "$pid" kafka "$KAFKA_STOP_TIMEOUT" || true
    rm -f "$KAFKA_PID_FILE"
    fail_start
  fi
  echo "kafka started (pid $pid, 127.0.0.1:$KAFKA_PORT, log: $KAFKA_LOG)"
}

stop() {
  local pid
  if ! pid="$(running_pid)"; then
    if [[ -f "$KAFKA_PID_FILE" ]]; then
      echo "removing stale pid file $KAFKA_PID_FILE"
      rm -f "$KAFKA_PID_FILE"
    fi
    echo "kafka is not running"
    return 0
  fi

  vevee_stop_pid "$pid" kafka "$KAFKA_STOP_TIMEOUT"
  rm -f "$KAFKA_PID_FILE"
  echo "kafka stopped (pid $pid)"
}

# Exits 0 when running and 3 when stopped, as LSB init scripts do.
status() {
  local pid
  if ! pid="$(running_pid)"; then
    echo "kafka stopped (port $KAFKA_PORT, pid file $KAFKA_PID_FILE)"
    exit 3
  fi
  if vevee_port_open "$KAFKA_PORT"; then
    echo "kafka running (pid $pid, 127.0.0.1:$KAFKA_PORT)"
  else
    echo "kafka starting (pid $pid, port $KAFKA_PORT not open yet)"
  fi
}

case "${1:-}" in
  start | stop | status) "$1" ;;
  *)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
