# Shared by the benchmark scripts (bash, sourced after scripts/cluster.sh, from the
# repository's top directory): a temporary directory cleaned up on exit, the build, Redis.

# bench_init NAME: makes $work, and on exit stops the cluster and Redis (if started) and
# removes $work unless the script failed or KEEP_BENCH_DIR is set.
bench_init() {
    BENCH_NAME=$1
    redis_pid=
    work=$(mktemp -d "${TMPDIR:-/tmp}/hyperdex-$BENCH_NAME.XXXXXX")
    trap _bench_finish EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

_bench_finish() {
    local rc=$?
    trap - EXIT INT TERM
    cluster_stop
    if [ -n "$redis_pid" ]; then
        kill "$redis_pid" 2>/dev/null || true
        wait "$redis_pid" 2>/dev/null || true
    fi
    if [ "$rc" -ne 0 ] || [ -n "${KEEP_BENCH_DIR:-}" ]; then
        echo "$BENCH_NAME: files kept in $work" >&2
    else
        rm -rf "$work"
    fi
    exit "$rc"
}

# bench_build: release binaries, installed into $work/prefix, and the load generators in
# $work/bin, found through PATH and LD_LIBRARY_PATH.
bench_build() {
    echo "$BENCH_NAME: building"
    make --no-print-directory -s build
    make --no-print-directory -s install PREFIX="$work/prefix" >/dev/null
    make --no-print-directory -s examples PREFIX="$work/prefix" EXAMPLES_OUT="$work/bin" >/dev/null
    export LD_LIBRARY_PATH="$work/prefix/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    export PATH="$top/target/release:$PATH"
}

# bench_need_redis: installs Debian's redis-server if redis-server or redis-benchmark is
# missing.
bench_need_redis() {
    if ! command -v redis-server >/dev/null || ! command -v redis-benchmark >/dev/null; then
        echo "$BENCH_NAME: installing redis-server (Debian package)"
        local sudo=
        [ "$(id -u)" -eq 0 ] || sudo=sudo
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq redis-server >/dev/null
    fi
}

# bench_start_redis PORT [OPTION VALUE...]: redis-server on 127.0.0.1:PORT without
# persistence unless the options say otherwise (pid in $redis_pid, log in
# $work/redis.log), once it answers PING.
bench_start_redis() {
    local port=$1 deadline
    shift
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
        --daemonize no --logfile "$work/redis.log" "$@" &
    redis_pid=$!
    deadline=$((SECONDS + 30))
    until [ "$(redis-cli -p "$port" ping 2>/dev/null)" = "PONG" ]; do
        kill -0 "$redis_pid" 2>/dev/null || { echo "$BENCH_NAME: redis-server exited" >&2; return 1; }
        [ "$SECONDS" -lt "$deadline" ] || { echo "$BENCH_NAME: redis-server not ready" >&2; return 1; }
        sleep 0.1 # poll interval of a condition wait with a deadline
    done
}

# value NAME FILE: the number on the line "NAME <number>".
value() { awk -v k="$1" '$1 == k { print $2 }' "$2"; }

# redis_csv TEST FIELD FILE: one field of redis-benchmark --csv output
# ("test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms",...).
redis_csv() {
    awk -F, -v t="$1" -v f="$2" '
        { gsub(/"/, "") }
        NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
        $1 == t { print $(col[f]) }' "$3"
}
