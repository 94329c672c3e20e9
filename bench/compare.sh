#!/usr/bin/env bash
# `make bench`: our one-client throughput and latency, next to Redis measured in
# the same run on the same machine (the machine is shared and noisy, so only
# the ratios mean something). See docs/benchmarks.md.
#
#  1. installs Debian's redis-server if redis-server/redis-benchmark are missing;
#  2. builds, installs into a temporary prefix, builds bench/loadgen.c and echo.c (-O2);
#  3. starts a one-daemon cluster on free ports, creates
#       space bench key k attributes v create $PARTITIONS partitions tolerate 0 failures
#     and runs the load generator (N ops, window W, 16-byte keys, 100-byte values);
#  4. starts redis-server on a free loopback port (no persistence) and runs
#       redis-benchmark -n N -d 100 -P W -c 1  -t set,get -r 1000000   (the comparison)
#       redis-benchmark -n N -d 100 -P W -c 50 -t set,get -r 1000000   (for reference)
#       redis-benchmark -n L -d 100 -P 1 -c 1  -t set,get -r 1000000   (latency)
#       redis-benchmark -n N -d 100 -P CW -c C -t set,get -r 1000000 (many clients)
#     after the same many-client load on our daemon: C load generator processes at
#     once, each with a window of CW, on disjoint keys (N in all); then restarts it
#     with an append-only file written before every answer and never fsynced
#     (--appendonly yes --appendfsync no: the durability of our daemon's default) and
#       redis-benchmark -n N -d 100 -P W -c 1  -t set,get -r 1000000   (Redis AOF)
#  5. times L round trips of 100 bytes through a loopback TCP echo (bench/echo.c): the
#     floor for the synchronous get's p50 (the issue's target: within 1.3x of it);
#  6. prints every number and the ratios ours / redis; stops everything.
#
# Environment: N (200000), W (1024), L (10000, synchronous ops), PARTITIONS (16),
# CLIENTS (8), CLIENT_W (128), KEEP_BENCH_DIR=1 keeps the temporary directory.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
# shellcheck source=scripts/cluster.sh
. scripts/cluster.sh
# shellcheck source=bench/common.sh
. bench/common.sh

N=${N:-200000}
W=${W:-1024}
CLIENTS=${CLIENTS:-8}
CLIENT_W=${CLIENT_W:-128}
L=${L:-10000}
PARTITIONS=${PARTITIONS:-16}
HOST=127.0.0.1

bench_init bench
bench_need_redis
bench_build

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

# --- HyperDex --------------------------------------------------------------
read -r cport dport rport eport <<<"$(cluster_free_ports 4)"
cluster_start "$work/cluster" "$HOST" "$cport" "$dport"
echo "space bench key k attributes v create $PARTITIONS partitions tolerate 0 failures" |
    hyperdex add-space -h "$HOST" -p "$cport"
echo "bench: loadgen -n $N -w $W -L $L"
"$work/bin/loadgen" -h "$HOST" -p "$cport" -s bench -n "$N" -w "$W" -L "$L" | tee "$work/ours.txt"
# many PHASE: CLIENTS load generators at once on disjoint keys; prints ops/s over the
# whole group: all their operations over the time from the first one's start of the phase
# to the last one's end (the load generators report both on the monotonic clock), so the
# start-up of 8 processes is not counted, as redis-benchmark does not count its set-up.
many() {
    local per=$((N / CLIENTS)) i
    local pids=()
    for i in $(seq 0 $((CLIENTS - 1))); do
        "$work/bin/loadgen" -h "$HOST" -p "$cport" -s bench -n "$per" -w "$CLIENT_W" -L 0 \
            -b $((i * per)) -o "$1" >"$work/many-$1-$i.txt" &
        pids+=("$!")
    done
    for i in "${pids[@]}"; do
        wait "$i"
    done
    cat "$work"/many-"$1"-*.txt | awk -v n=$((per * CLIENTS)) -v p="$1" '
        $1 == p "_start_s" && (a == "" || $2 < a) { a = $2 }
        $1 == p "_end_s" && (b == "" || $2 > b) { b = $2 }
        END { printf "%.0f", n / (b - a) }'
}
echo "bench: $CLIENTS loadgen processes at once, -w $CLIENT_W each"
many_put=$(many put)
many_get=$(many get)
echo "many_put_ops_per_sec $many_put"
echo "many_get_ops_per_sec $many_get"
cluster_stop

# --- The floor for a synchronous request: a loopback TCP echo ------------------
"$work/bin/echo" -s "$eport" &
echo_pid=$!
echo "bench: echo -c $eport -n $L -b 100 (one round trip of 100 bytes, nothing done at the other end)"
for _ in $(seq 50); do
    # Retried until the server listens (it was just started).
    if "$work/bin/echo" -c "$eport" -n "$L" -b 100 >"$work/echo.txt" 2>/dev/null; then break; fi
    sleep 0.1
done
kill "$echo_pid" 2>/dev/null || true
wait "$echo_pid" 2>/dev/null || true
cat "$work/echo.txt"

# --- Redis -----------------------------------------------------------------
bench_start_redis "$rport"
rb() { redis-benchmark -p "$rport" --csv -d 100 -t set,get -r 1000000 "$@"; }
echo "bench: redis-benchmark -n $N -d 100 -P $W -c 1 -t set,get -r 1000000"
rb -n "$N" -P "$W" -c 1 | tee "$work/redis-c1.csv"
echo "bench: redis-benchmark -n $N -d 100 -P $W -c 50 -t set,get -r 1000000"
rb -n "$N" -P "$W" -c 50 | tee "$work/redis-c50.csv"
echo "bench: redis-benchmark -n $L -d 100 -P 1 -c 1 -t set,get -r 1000000"
rb -n "$L" -P 1 -c 1 | tee "$work/redis-sync.csv"
echo "bench: redis-benchmark -n $N -d 100 -P $CLIENT_W -c $CLIENTS -t set,get -r 1000000"
rb -n "$N" -P "$CLIENT_W" -c "$CLIENTS" | tee "$work/redis-many.csv"
# The same comparison against Redis that, like our daemon by default, has written every
# write to the operating system (not fsynced) before answering it.
kill "$redis_pid" 2>/dev/null || true
wait "$redis_pid" 2>/dev/null || true
mkdir -p "$work/redis-aof"
bench_start_redis "$rport" --appendonly yes --appendfsync no --dir "$work/redis-aof"
echo "bench: redis-benchmark -n $N -d 100 -P $W -c 1 -t set,get -r 1000000 (appendonly yes, appendfsync no)"
rb -n "$N" -P "$W" -c 1 | tee "$work/redis-aof-c1.csv"

# --- Summary ---------------------------------------------------------------
ours_put=$(value put_ops_per_sec "$work/ours.txt")
ours_get=$(value get_ops_per_sec "$work/ours.txt")
r1_set=$(redis_csv SET rps "$work/redis-c1.csv" | awk '{ printf "%.0f", $1 }')
r1_get=$(redis_csv GET rps "$work/redis-c1.csv" | awk '{ printf "%.0f", $1 }')
r50_set=$(redis_csv SET rps "$work/redis-c50.csv" | awk '{ printf "%.0f", $1 }')
r50_get=$(redis_csv GET rps "$work/redis-c50.csv" | awk '{ printf "%.0f", $1 }')
rm_set=$(redis_csv SET rps "$work/redis-many.csv" | awk '{ printf "%.0f", $1 }')
rm_get=$(redis_csv GET rps "$work/redis-many.csv" | awk '{ printf "%.0f", $1 }')
ra_set=$(redis_csv SET rps "$work/redis-aof-c1.csv" | awk '{ printf "%.0f", $1 }')
ra_get=$(redis_csv GET rps "$work/redis-aof-c1.csv" | awk '{ printf "%.0f", $1 }')
rs_set_p50=$(redis_csv SET p50_latency_ms "$work/redis-sync.csv")
rs_get_p50=$(redis_csv GET p50_latency_ms "$work/redis-sync.csv")
rs_set_p99=$(redis_csv SET p99_latency_ms "$work/redis-sync.csv")
rs_get_p99=$(redis_csv GET p99_latency_ms "$work/redis-sync.csv")

echo
echo "== summary: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, git $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
echo "   N=$N W=$W L=$L, 16-byte keys, 100-byte values, one client; HyperDex: 1 daemon, $PARTITIONS partitions"
printf '%-30s %16s %12s %12s\n' "" "hyperdex" "redis -c 1" "redis -c 50"
printf '%-30s %16s %12s %12s\n' "put/SET ops/s (window $W)" "$ours_put" "$r1_set" "$r50_set"
printf '%-30s %16s %12s %12s\n' "get/GET ops/s (window $W)" "$ours_get" "$r1_get" "$r50_get"
printf '%-30s %16s %12s\n' "sync put/SET p50, p99 (us)" \
    "$(value put_p50_us "$work/ours.txt"), $(value put_p99_us "$work/ours.txt")" \
    "$(awk -v a="$rs_set_p50" -v b="$rs_set_p99" 'BEGIN { printf "%.1f, %.1f", a * 1000, b * 1000 }')"
printf '%-30s %16s %12s\n' "sync get/GET p50, p99 (us)" \
    "$(value get_p50_us "$work/ours.txt"), $(value get_p99_us "$work/ours.txt")" \
    "$(awk -v a="$rs_get_p50" -v b="$rs_get_p99" 'BEGIN { printf "%.1f, %.1f", a * 1000, b * 1000 }')"
printf '%-30s %16s\n' "loopback echo p50, p99 (us)" "$(value echo_p50_us "$work/echo.txt"), $(value echo_p99_us "$work/echo.txt")"
printf '%-30s %16s %12s\n' "$CLIENTS clients x window $CLIENT_W: put" "$many_put" "$rm_set (-c $CLIENTS -P $CLIENT_W)"
printf '%-30s %16s %12s\n' "$CLIENTS clients x window $CLIENT_W: get" "$many_get" "$rm_get"
printf '%-30s %16s %12s\n' "put/SET, Redis with AOF" "$ours_put" "$ra_set (-c 1, appendfsync no)"
printf '%-30s %16s %12s\n' "get/GET, Redis with AOF" "$ours_get" "$ra_get"
echo "ratio_sync_get_p50_vs_echo_p50 $(awk -v a="$(value get_p50_us "$work/ours.txt")" -v b="$(value echo_p50_us "$work/echo.txt")" 'BEGIN { printf "%.2f", a / b }')"
echo "ratio_put_vs_redis_c1 $(ratio "$ours_put" "$r1_set")"
echo "ratio_get_vs_redis_c1 $(ratio "$ours_get" "$r1_get")"
echo "ratio_put_vs_redis_c50 $(ratio "$ours_put" "$r50_set")"
echo "ratio_get_vs_redis_c50 $(ratio "$ours_get" "$r50_get")"
echo "ratio_many_put_vs_redis_c${CLIENTS}_p${CLIENT_W} $(ratio "$many_put" "$rm_set")"
echo "ratio_many_get_vs_redis_c${CLIENTS}_p${CLIENT_W} $(ratio "$many_get" "$rm_get")"
echo "ratio_put_vs_redis_aof_c1 $(ratio "$ours_put" "$ra_set")"
echo "ratio_get_vs_redis_aof_c1 $(ratio "$ours_get" "$ra_get")"
