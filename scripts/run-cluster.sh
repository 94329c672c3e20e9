#!/usr/bin/env bash
# `make run`: a local cluster in the foreground. One coordinator on
# 127.0.0.1:1982 and three daemons on 127.0.0.1:2012-2014, the same commands as
# the tutorial. State and logs live under ./data/ (gitignored); the logs are
# also followed on the terminal. Ctrl-C (or SIGTERM) stops every process.
# If any server exits on its own, the others are stopped too.
#
# Environment: HOST (127.0.0.1), COORD_PORT (1982), DAEMON_PORTS ("2012 2013 2014"),
# DATA_DIR (./data), HYPERDEX (hyperdex binary; default: target/release/hyperdex).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/cluster.sh
. "$top/scripts/cluster.sh"

HOST=${HOST:-127.0.0.1}
COORD_PORT=${COORD_PORT:-1982}
read -r -a daemon_ports <<<"${DAEMON_PORTS:-2012 2013 2014}"
DATA_DIR=${DATA_DIR:-$top/data}
export HYPERDEX=${HYPERDEX:-$top/target/release/hyperdex}

if [ ! -x "$HYPERDEX" ]; then
    echo "run-cluster: $HYPERDEX not found; run 'make build' first" >&2
    exit 1
fi

tail_pid=
stop_all() {
    trap - INT TERM EXIT
    echo
    echo "run-cluster: stopping"
    cluster_stop
    if [ -n "$tail_pid" ]; then
        kill "$tail_pid" 2>/dev/null || true
        wait "$tail_pid" 2>/dev/null || true
    fi
}
trap 'stop_all; exit 130' INT
trap 'stop_all; exit 143' TERM
trap 'stop_all' EXIT

mkdir -p "$DATA_DIR"
cluster_start "$DATA_DIR" "$HOST" "$COORD_PORT" "${daemon_ports[@]}"

tail -n +1 -F "${CLUSTER_LOGS[@]}" &
tail_pid=$!

cat <<MSG

run-cluster: ready. Coordinator $HOST:$COORD_PORT, daemons on ${daemon_ports[*]}.
  Python:  PYTHONPATH=$top/python python3 -c "import hyperclient; c = hyperclient.Client('$HOST', $COORD_PORT)"
  Config:  $HYPERDEX show-config -h $HOST -p $COORD_PORT
Press Ctrl-C to stop.

MSG

# Returns when a server exits (or a trapped signal arrives).
set +e
wait -n "${CLUSTER_PIDS[@]}"
rc=$?
set -e
echo "run-cluster: a server exited (status $rc); stopping the others" >&2
exit 1
