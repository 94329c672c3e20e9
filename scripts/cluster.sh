# shellcheck shell=bash
# Start and stop a local HyperDex cluster. Source this file from bash; it
# defines functions only and changes no shell options.
#
#   cluster_start DIR HOST COORD_PORT DAEMON_PORT...
#       Starts one coordinator and one daemon per DAEMON_PORT, in the
#       background, with exactly the commands of the tutorial:
#         (cd DIR/coordinator && hyperdex coordinator -f -l HOST -p COORD_PORT)
#         hyperdex daemon -f --listen=HOST --listen-port=P \
#             --coordinator=HOST --coordinator-port=COORD_PORT --data=DIR/daemon-P
#       Logs go to DIR/coordinator.log and DIR/daemon-P.log. Returns once
#       `hyperdex show-config` lists a server at HOST:P for every daemon port P
#       and each such port accepts connections (deadline: $CLUSTER_START_TIMEOUT_S,
#       default 60 s); on failure it prints the logs' tails, stops what it
#       started and returns 1.
#   cluster_stop
#       Sends SIGTERM to every process cluster_start started, waits for them
#       (deadline $CLUSTER_STOP_TIMEOUT_S, default 10 s), then SIGKILLs the rest.
#       Safe to call more than once, and from a trap.
#   cluster_free_ports N      prints N distinct free loopback TCP ports.
#   cluster_ports_free P...   succeeds when every port can be bound on 127.0.0.1.
#
# The hyperdex binary is "$HYPERDEX" if set, else `hyperdex` from PATH.
# Process ids of the started servers are in the array CLUSTER_PIDS.

CLUSTER_PIDS=()
CLUSTER_LOGS=()

_cluster_hyperdex() {
    "${HYPERDEX:-hyperdex}" "$@"
}

cluster_free_ports() {
    python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}

cluster_ports_free() {
    python3 - "$@" <<'PY'
import socket, sys
busy = []
for p in sys.argv[1:]:
    s = socket.socket()
    # As the servers do (Rust's TcpListener sets it): a port whose old
    # connections linger in TIME_WAIT is free.
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", int(p)))
    except OSError:
        busy.append(p)
    finally:
        s.close()
if busy:
    sys.stderr.write("port(s) already in use on 127.0.0.1: %s\n" % " ".join(busy))
    sys.exit(1)
PY
}

# Succeeds when show-config lists a server at HOST:P for every daemon port P
# and each of those ports accepts a connection. (After a restart the
# coordinator may list servers from its saved state before they are back.)
_cluster_daemons_ready() {
    local host=$1 port=$2 out dport
    shift 2
    out=$(_cluster_hyperdex show-config -h "$host" -p "$port" 2>/dev/null) || return 1
    for dport in "$@"; do
        grep -q "^server id=.* address=$host:$dport\b" <<<"$out" || return 1
        (exec 3<>"/dev/tcp/$host/$dport") 2>/dev/null || return 1
    done
}

# Fails when one of the started processes has exited.
_cluster_all_alive() {
    local pid
    for pid in "${CLUSTER_PIDS[@]}"; do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "cluster: process $pid exited early" >&2
            return 1
        fi
    done
}

_cluster_dump_logs() {
    local log
    for log in "${CLUSTER_LOGS[@]}"; do
        echo "---- last lines of $log ----" >&2
        tail -n 30 "$log" >&2 2>/dev/null || true
    done
}

# Waits until every daemon of DAEMON_PORT... is listed and listening.
_cluster_wait_daemons() {
    local host=$1 port=$2 timeout_s=$3
    shift 3
    local deadline=$((SECONDS + timeout_s))
    until _cluster_daemons_ready "$host" "$port" "$@"; do
        _cluster_all_alive || return 1
        if [ "$SECONDS" -ge "$deadline" ]; then
            echo "cluster: after ${timeout_s}s show-config does not list every daemon of $*:" >&2
            _cluster_hyperdex show-config -h "$host" -p "$port" 2>&1 | grep '^server' >&2
            return 1
        fi
        sleep 0.1 # poll interval of a condition wait with a deadline
    done
}

# Waits until the coordinator answers show-config at all.
_cluster_wait_coordinator() {
    local host=$1 port=$2 timeout_s=$3
    local deadline=$((SECONDS + timeout_s))
    until _cluster_hyperdex show-config -h "$host" -p "$port" >/dev/null 2>&1; do
        _cluster_all_alive || return 1
        if [ "$SECONDS" -ge "$deadline" ]; then
            echo "cluster: coordinator $host:$port did not answer within ${timeout_s}s" >&2
            return 1
        fi
        sleep 0.1 # poll interval of a condition wait with a deadline
    done
}

cluster_start() {
    local dir=$1 host=$2 cport=$3
    shift 3
    local timeout_s=${CLUSTER_START_TIMEOUT_S:-60}
    local dport log pid

    cluster_ports_free "$cport" "$@" || return 1
    mkdir -p "$dir/coordinator" || return 1
    dir=$(cd "$dir" && pwd) || return 1

    log="$dir/coordinator.log"
    CLUSTER_LOGS+=("$log")
    # The coordinator keeps its state in its working directory (no -D), as in
    # the tutorial.
    (cd "$dir/coordinator" && exec "${HYPERDEX:-hyperdex}" coordinator -f -l "$host" -p "$cport") \
        >"$log" 2>&1 </dev/null &
    pid=$!
    CLUSTER_PIDS+=("$pid")
    if ! _cluster_wait_coordinator "$host" "$cport" "$timeout_s"; then
        _cluster_dump_logs
        cluster_stop
        return 1
    fi

    for dport in "$@"; do
        mkdir -p "$dir/daemon-$dport" || return 1
        log="$dir/daemon-$dport.log"
        CLUSTER_LOGS+=("$log")
        "${HYPERDEX:-hyperdex}" daemon -f --listen="$host" --listen-port="$dport" \
            --coordinator="$host" --coordinator-port="$cport" --data="$dir/daemon-$dport" \
            >"$log" 2>&1 </dev/null &
        pid=$!
        CLUSTER_PIDS+=("$pid")
    done

    if ! _cluster_wait_daemons "$host" "$cport" "$timeout_s" "$@"; then
        _cluster_dump_logs
        cluster_stop
        return 1
    fi
    echo "cluster: coordinator $host:$cport, daemons on port(s) $*, files in $dir"
}

# Sends SIGTERM to the given processes and waits for them to exit, up to the
# deadline; SIGKILLs whatever is left, then reaps them all.
_cluster_term_wait() {
    local timeout_s=${CLUSTER_STOP_TIMEOUT_S:-10}
    local pid deadline alive
    [ "$#" -eq 0 ] && return 0
    kill -TERM "$@" 2>/dev/null || true
    deadline=$((SECONDS + timeout_s))
    while :; do
        alive=()
        for pid in "$@"; do
            kill -0 "$pid" 2>/dev/null && alive+=("$pid")
        done
        [ "${#alive[@]}" -eq 0 ] && break
        if [ "$SECONDS" -ge "$deadline" ]; then
            echo "cluster: killing ${alive[*]} (no exit ${timeout_s}s after SIGTERM)" >&2
            kill -KILL "${alive[@]}" 2>/dev/null || true
            break
        fi
        sleep 0.1 # poll interval of a condition wait with a deadline
    done
    for pid in "$@"; do
        wait "$pid" 2>/dev/null || true
    done
}

cluster_stop() {
    [ "${#CLUSTER_PIDS[@]}" -eq 0 ] && return 0
    # The daemons first (so they do not see the coordinator vanish), then the
    # coordinator, which was started first.
    _cluster_term_wait "${CLUSTER_PIDS[@]:1}"
    _cluster_term_wait "${CLUSTER_PIDS[0]}"
    CLUSTER_PIDS=()
    CLUSTER_LOGS=()
}
