#!/usr/bin/env bash
# Stops what deploy/local/start.sh started: every process with a pid file in
# $VEVEE_STATE/run/, then the local Kafka broker. Each gets SIGTERM, and SIGKILL
# after 30 s. Takes the same environment as kafka.sh to find the broker.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/common.sh"

status=0

for pid_file in "$VEVEE_STATE"/run/*.pid; do
  [[ -f "$pid_file" ]] || continue
  name="$(basename "$pid_file" .pid)"
  pid="$(<"$pid_file")"

  # NOTE: unlike kafka.sh, this trusts the pid file. start.sh deletes it when the
  # process exits, but after a crash of start.sh the pid may belong to another process.
  if [[ "$pid" =~ ^[0-9]+$ ]] && vevee_pid_alive "$pid"; then
    if vevee_stop_pid "$pid" "$name" 30; then
      echo "$name stopped (pid $pid)"
    else
      echo "stopping $name (pid $pid) failed; log: $VEVEE_STATE/logs/$name.log" >&2
      status=1
    fi
  fi
  rm -f "$pid_file"
done

if ! bash "$here/kafka.sh" stop; then
  echo "stopping kafka failed; log: ${KAFKA_LOG:-$VEVEE_STATE/logs/kafka.log}" >&2
  status=1
fi
exit "$status"
