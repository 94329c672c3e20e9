#!/usr/bin/env bash
# `make bench-scale`: how throughput, latency and memory change as the number of objects
# grows, next to Redis holding the same keys, measured in the same invocation (the
# machine is shared and noisy: compare the ratios). See docs/benchmarks.md.
#
#  1. installs Debian's redis-server if missing; builds, installs into a temporary prefix,
#     builds bench/loadgen.c (-O2);
#  2. one daemon (tolerate 0 failures, PARTITIONS partitions): loads objects in steps up to
#     each count of POINTS (16-byte keys, 100-byte values, window W); at each count:
#       - put: the throughput of loading that step (new objects),
#       - get: GETS asynchronous gets of keys drawn at random among all loaded (window W),
#         right after the load (while the storage engine flushes and compacts what it
#         took), and again SETTLE_S seconds later, of another random sample (loadgen -x:
#         keys the first gets read are in the object cache, and reading them again would
#         measure the cache),
#       - sync get p50/p99: L synchronous gets of random loaded keys (right after the load;
#         keys the asynchronous gets did not read),
#       - the daemon's resident memory (VmRSS), and per object;
#  3. the same on 3 daemons with tolerate 1 failures, up to each count of POINTS3 (RSS is
#     the sum over the daemons, per object and per replica);
#  4. redis-server (persistence off) loaded with the same number of keys at each count
#     (redis-cli --pipe of SETs; keys and values as ours), then
#       redis-benchmark -t set,get -n GETS -d 100 -P W -c 1 -r COUNT   (random keys)
#       redis-benchmark -t get -n L -d 100 -P 1 -c 1 -r COUNT          (latency)
#     and its VmRSS;
#  5. prints a table and machine-readable lines
#       scale <who> <count> <put/s> <get/s> <sync get p50 us> <p99 us> <rss bytes> <get/s settled>
#     and, with PLOT=file.svg, draws them (bench/scale_plot.py).
#
# Environment: POINTS ("100000 1000000 3000000 10000000"), POINTS3 ("100000 1000000
# 3000000"; empty skips step 3), GETS (200000), L (5000), W (1024), PARTITIONS (16),
# SETTLE_S (15),
# CACHE_MB (the daemon's object cache; default: the daemon's default), PLOT (none),
# KEEP_BENCH_DIR=1.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
# shellcheck source=scripts/cluster.sh
. scripts/cluster.sh
# shellcheck source=bench/common.sh
. bench/common.sh

POINTS=${POINTS:-"100000 1000000 3000000 10000000"}
POINTS3=${POINTS3-"100000 1000000 3000000"}
GETS=${GETS:-200000}
L=${L:-5000}
W=${W:-1024}
PARTITIONS=${PARTITIONS:-16}
SETTLE_S=${SETTLE_S:-15}
HOST=127.0.0.1

bench_init bench-scale
bench_need_redis
bench_build
if [ -n "${CACHE_MB:-}" ]; then
    # The cluster helper starts daemons with the binary named by HYPERDEX: wrap it to pass
    # the cache size.
    cat >"$work/hyperdex-cache" <<EOF
#!/bin/sh
if [ "\$1" = daemon ]; then shift; exec "$top/target/release/hyperdex" daemon --cache-mb=$CACHE_MB "\$@"; fi
exec "$top/target/release/hyperdex" "\$@"
EOF
    chmod +x "$work/hyperdex-cache"
    export HYPERDEX="$work/hyperdex-cache"
fi

results="$work/results.txt"
sample=0 # which random samples the get phases read (loadgen -x)
: >"$results"
rss_of() { awk '/^VmRSS:/ { printf "%.0f\n", $2 * 1024 }' "/proc/$1/status"; }

# ours LABEL DAEMONS TOLERATE POINTS...
ours() {
    local label=$1 n=$2 tolerate=$3
    shift 3
    local ports cport loaded=0 count rss pid
    read -r -a ports <<<"$(cluster_free_ports $((n + 1)))"
    cport=${ports[0]}
    rm -rf "$work/cluster"
    cluster_start "$work/cluster" "$HOST" "$cport" "${ports[@]:1}"
    echo "space scale key k attributes v create $PARTITIONS partitions tolerate $tolerate failures" |
        hyperdex add-space -h "$HOST" -p "$cport"
    hyperdex wait-until-stable -h "$HOST" -p "$cport"
    for count in "$@"; do
        echo "bench-scale: $label: loading objects $loaded..$count"
        "$work/bin/loadgen" -h "$HOST" -p "$cport" -s scale -n $((count - loaded)) -w "$W" -L 0 \
            -b "$loaded" -o put >"$work/load.txt"
        loaded=$count
        "$work/bin/loadgen" -h "$HOST" -p "$cport" -s scale -n "$GETS" -w "$W" -L "$L" -G \
            -r "$count" -x "$((2 * ++sample))" -o get >"$work/get.txt"
        rss=0
        for pid in "${CLUSTER_PIDS[@]:1}"; do
            rss=$((rss + $(rss_of "$pid")))
        done
        # Gets once the storage engine's background work on the load is done (a benchmark
        # pause, not a synchronisation: nothing depends on it being complete).
        sleep "$SETTLE_S"
        "$work/bin/loadgen" -h "$HOST" -p "$cport" -s scale -n "$GETS" -w "$W" -L 0 \
            -r "$count" -x "$((2 * sample + 1))" -o get >"$work/settled.txt"
        echo "scale $label $count $(value put_ops_per_sec "$work/load.txt") $(value get_ops_per_sec "$work/get.txt") $(value get_p50_us "$work/get.txt") $(value get_p99_us "$work/get.txt") $rss $(value get_ops_per_sec "$work/settled.txt")" |
            tee -a "$results"
    done
    cluster_stop
}

ours ours1 1 0 $POINTS
if [ -n "$POINTS3" ]; then
    # shellcheck disable=SC2086
    ours ours3 3 1 $POINTS3
fi

# --- Redis -----------------------------------------------------------------
read -r rport <<<"$(cluster_free_ports 1)"
bench_start_redis "$rport"
loaded=0
for count in $POINTS; do
    echo "bench-scale: redis: loading keys $loaded..$count"
    start=$(date +%s.%N)
    python3 bench/redis_load.py "$loaded" "$count" 100 | redis-cli -p "$rport" --pipe >"$work/pipe.txt"
    grep -q "errors: 0," "$work/pipe.txt" || { echo "bench-scale: redis-cli --pipe reported errors: $(tail -1 "$work/pipe.txt")" >&2; exit 1; }
    end=$(date +%s.%N)
    load_rate=$(awk -v n=$((count - loaded)) -v a="$start" -v b="$end" 'BEGIN { printf "%.0f", n / (b - a) }')
    loaded=$count
    [ "$(redis-cli -p "$rport" dbsize)" -eq "$count" ] || { echo "bench-scale: redis holds $(redis-cli -p "$rport" dbsize) keys, not $count" >&2; exit 1; }
    redis-benchmark -p "$rport" --csv -d 100 -t set,get -n "$GETS" -P "$W" -c 1 -r "$count" >"$work/rb.csv"
    redis-benchmark -p "$rport" --csv -d 100 -t get -n "$L" -P 1 -c 1 -r "$count" >"$work/rbs.csv"
    # redis-benchmark's SETs overwrote random existing keys: the count is unchanged.
    r_get=$(redis_csv GET rps "$work/rb.csv" | awk '{ printf "%.0f", $1 }')
    echo "scale redis $count $(redis_csv SET rps "$work/rb.csv" | awk '{ printf "%.0f", $1 }') $r_get $(redis_csv GET p50_latency_ms "$work/rbs.csv" | awk '{ printf "%.1f", $1 * 1000 }') $(redis_csv GET p99_latency_ms "$work/rbs.csv" | awk '{ printf "%.1f", $1 * 1000 }') $(rss_of "$redis_pid") $r_get" |
        tee -a "$results"
    echo "scale redis_load $count $load_rate" | tee -a "$results"
done

# --- Summary ---------------------------------------------------------------
echo
echo "== summary: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, git $(git rev-parse --short HEAD 2>/dev/null || echo '?'), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "   16-byte keys, 100-byte values, one client, window $W; gets: $GETS random loaded keys; sync: $L"
printf '%-7s %10s %11s %13s %11s %13s %10s %10s %13s\n' who objects "put/s" "get/s (load)" "get/s" "sync get p50" p99 "RSS MiB" "bytes/object"
awk '$1 == "scale" && $2 != "redis_load" {
    printf "%-7s %10d %11d %13d %11d %13.1f %10.1f %10.0f %13.0f\n", $2, $3, $4, $5, $9, $6, $7, $8 / 1048576, $8 / $3
}' "$results"
echo "(get/s (load): right after loading; get/s: $SETTLE_S s later)"
echo "(redis put/s: random SETs over the loaded keys; redis_load: the --pipe load rate)"
awk '$1 == "scale" && $2 == "redis_load" { printf "redis_load %d %d\n", $3, $4 }' "$results"
# Ratios at each count of the one-daemon run.
awk '$1 == "scale" && $2 != "redis_load" { k = $2 " " $3; put[k] = $4; load_get[k] = $5; get[k] = $9; p50[k] = $6 }
    END {
        for (k in put) {
            split(k, a, " ")
            if (a[1] == "ours1" && (("redis " a[2]) in put)) {
                r = "redis " a[2]
                printf "ratio_at %d put %.2f get %.2f get_right_after_load %.2f sync_get_p50 %.2f\n", a[2], put[k] / put[r], get[k] / get[r], load_get[k] / get[r], p50[k] / p50[r]
            }
        }
    }' "$results" | sort -k2 -n
if [ -n "${PLOT:-}" ]; then
    python3 bench/scale_plot.py "$results" "$PLOT"
    echo "bench-scale: plot written to $PLOT"
fi
