# Shared paths and process helpers for the scripts in deploy/local. Source it, don't run it.
# It needs only bash and /proc, so kafka.sh can use it without Node.

VEVEE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export VEVEE_ROOT
export VEVEE_STATE="${VEVEE_STATE:-$VEVEE_ROOT/.vevee}"

# Succeeds when something accepts TCP connections on 127.0.0.1:PORT.
vevee_port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Succeeds when PID is a live process. A zombie counts as exited, because a detached
# process may be reparented to a PID 1 that does not reap it at once.
vevee_pid_alive() {
  local state
  state="$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" || return 1
  [[ -n "$state" && "$state" != "Z" ]]
}

# Waits up to SECONDS for PID to exit. Fails if it is still alive then.
vevee_wait_exit() {
  local pid="$1" deadline=$((SECONDS + $2))
  while vevee_pid_alive "$pid"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
}

# Sends SIGTERM to PID and waits up to TIMEOUT seconds for it to exit, then sends SIGKILL.
# Usage: vevee_stop_pid PID NAME TIMEOUT
vevee_stop_pid() {
  local pid="$1" name="$2" timeout="$3"

  vevee_pid_alive "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  vevee_wait_exit "$pid" "$timeout" && return 0

  echo "$name (pid $pid) did not exit within ${timeout}s of SIGTERM; sending SIGKILL" >&2
  kill -KILL "$pid" 2>/dev/null || true
  if ! vevee_wait_exit "$pid" 5; then
    echo "$name (pid $pid) is still alive after SIGKILL" >&2
    return 1
  fi
}
