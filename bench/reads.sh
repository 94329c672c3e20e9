#!/usr/bin/env bash
# `make bench-reads`: where a get's CPU goes when it misses the daemon's object cache.
# A profiling aid, like `make bench-count`: it prints rates and CPU per get, no ratio.
# See docs/benchmarks.md, "Reads beyond the object cache".
#
#  1. builds, installs into a temporary prefix, builds bench/loadgen.c;
#  2. one daemon (tolerate 0 failures, 16 partitions; THREADS reader threads, the
#     daemon's default when empty), loads COUNT objects (16-byte keys, 100-byte values,
#     window 1024), waits SETTLE_S seconds (the storage engine's background work);
#  3. SAMPLES times: GETS asynchronous gets (window 1024) of keys drawn at random among all
#     loaded, each sample another random draw (loadgen -x), so that they miss the object
#     cache as a store larger than it makes them;
#  4. for each sample prints the get rate and, from /proc, the CPU time per get of the
#     daemon's threads grouped by name (event loop, readers, storage, fjall's workers)
#     and of the load generator (with the client library):
#       reads <count> <sample> <gets/s> loop=<us> readers=<us> storage=<us> fjall=<us> loadgen=<us>
#
# Environment: COUNT (3000000), GETS (200000), SAMPLES (3), SETTLE_S (15), THREADS (empty),
# KEEP_BENCH_DIR=1.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
# shellcheck source=scripts/cluster.sh
. scripts/cluster.sh
# shellcheck source=bench/common.sh
. bench/common.sh

COUNT=${COUNT:-3000000}
GETS=${GETS:-200000}
SAMPLES=${SAMPLES:-3}
SETTLE_S=${SETTLE_S:-15}
THREADS=${THREADS:-}
HOST=127.0.0.1

bench_init bench-reads
bench_build
if [ -n "$THREADS" ]; then
    # The cluster helper starts daemons with the binary named by HYPERDEX: wrap it.
    cat >"$work/hyperdex-threads" <<EOF
#!/bin/sh
if [ "\$1" = daemon ]; then shift; exec "$top/target/release/hyperdex" daemon --threads=$THREADS "\$@"; fi
exec "$top/target/release/hyperdex" "\$@"
EOF
    chmod +x "$work/hyperdex-threads"
    export HYPERDEX="$work/hyperdex-threads"
fi

read -r -a ports <<<"$(cluster_free_ports 2)"
cport=${ports[0]}
cluster_start "$work/cluster" "$HOST" "$cport" "${ports[1]}"
echo "space scale key k attributes v create 16 partitions tolerate 0 failures" |
    hyperdex add-space -h "$HOST" -p "$cport"
hyperdex wait-until-stable -h "$HOST" -p "$cport"
daemon=${CLUSTER_PIDS[1]}

# CPU ticks of the daemon's threads, by group: "loop readers storage fjall".
ticks() {
    local t name n
    local loop=0 readers=0 storage=0 fjall=0
    for t in /proc/"$daemon"/task/*; do
        name=$(cat "$t/comm")
        n=$(awk '{ print $14 + $15 }' "$t/stat")
        case $name in
            hyperdex:read*) readers=$((readers + n)) ;;
            hyperdex:storag*) storage=$((storage + n)) ;;
            fjall*) fjall=$((fjall + n)) ;;
            *) loop=$((loop + n)) ;;
        esac
    done
    echo "$loop $readers $storage $fjall"
}

echo "bench-reads: loading $COUNT objects"
"$work/bin/loadgen" -h "$HOST" -p "$cport" -s scale -n "$COUNT" -w 1024 -L 0 -o put >"$work/load.txt"
echo "bench-reads: $(value put_ops_per_sec "$work/load.txt") puts/s; waiting ${SETTLE_S} s"
# A benchmark pause, not a synchronisation: nothing depends on the background work being done.
sleep "$SETTLE_S"
hz=$(getconf CLK_TCK)
for s in $(seq 1 "$SAMPLES"); do
    read -r l0 r0 s0 f0 <<<"$(ticks)"
    # The load generator's own CPU (user and system seconds: bash's time keyword).
    TIMEFORMAT='loadgen_cpu %U %S'
    { time "$work/bin/loadgen" -h "$HOST" -p "$cport" -s scale -n "$GETS" -w 1024 -L 0 -G \
        -r "$COUNT" -x "$((100 + s))" -o get >"$work/get.txt"; } 2>"$work/time.txt"
    read -r l1 r1 s1 f1 <<<"$(ticks)"
    lg=$(awk '$1 == "loadgen_cpu" { print $2 + $3 }' "$work/time.txt")
    awk -v c="$COUNT" -v s="$s" -v g="$GETS" -v hz="$hz" -v rate="$(value get_ops_per_sec "$work/get.txt")" \
        -v l=$((l1 - l0)) -v r=$((r1 - r0)) -v st=$((s1 - s0)) -v f=$((f1 - f0)) -v lg="$lg" \
        'BEGIN { us = 1e6 / hz / g;
                 printf "reads %d %d %d loop=%.2f readers=%.2f storage=%.2f fjall=%.2f loadgen=%.2f\n",
                        c, s, rate, l * us, r * us, st * us, f * us, lg * 1e6 / g }'
done
echo "(CPU per get in microseconds, from /proc at $hz ticks per second)"
