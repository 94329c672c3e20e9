#!/usr/bin/env bash
# `make bench-chains`: what replication costs a put. One client (bench/loadgen.c, window
# W, 16-byte keys, 100-byte values) puts N new objects into a fresh cluster of each kind:
#   f0  1 daemon,  space with `tolerate 0 failures` (chains of 1, the baseline);
#   f1  3 daemons, `tolerate 1 failures` (every write on 2 servers);
#   f2  3 daemons, `tolerate 2 failures` (every write on all 3).
# The three run one after the other, ROUNDS times in turn (so drift on a shared machine
# lands on all of them), each on free loopback ports and stopped before the next starts.
# Prints every run, the median put rate of each kind, and the ratios of the medians to
# f0 (`ratio_f1_vs_f0`, `ratio_f2_vs_f0`): the speed issue's targets are 0.5 and 0.35.
# Also the daemons' CPU seconds per thread kind and run (from /proc), which shows where
# a replicated put spends its time. See docs/benchmarks.md.
#
# Environment: N (300000), W (1024), ROUNDS (3), PARTITIONS (16),
# KEEP_BENCH_DIR=1 keeps the temporary directory.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
# shellcheck source=scripts/cluster.sh
. scripts/cluster.sh
# shellcheck source=bench/common.sh
. bench/common.sh

N=${N:-300000}
W=${W:-1024}
ROUNDS=${ROUNDS:-3}
PARTITIONS=${PARTITIONS:-16}
HOST=127.0.0.1

bench_init bench-chains
case "$ROUNDS" in '' | *[!0-9]* | 0) echo "bench-chains: ROUNDS must be a positive integer" >&2; exit 2 ;; esac
bench_build

results="$work/results.txt"
: >"$results"

# cpu_snapshot: "thread-kind ticks" for every thread of every daemon.
cpu_snapshot() {
    local pid t
    for pid in "${CLUSTER_PIDS[@]:1}"; do
        for t in /proc/"$pid"/task/*; do
            echo "$(tr ' ' _ <"$t/comm") $(awk '{ print $14 + $15 }' "$t/stat")"
        done
    done
}

# run KIND DAEMONS FAILURES ROUND
run() {
    local kind=$1 n=$2 f=$3 round=$4 ports cport rate cpu
    read -r -a ports <<<"$(cluster_free_ports $((n + 1)))"
    cport=${ports[0]}
    rm -rf "$work/cluster"
    cluster_start "$work/cluster" "$HOST" "$cport" "${ports[@]:1}" >/dev/null
    echo "space bench key k attributes v create $PARTITIONS partitions tolerate $f failures" |
        hyperdex add-space -h "$HOST" -p "$cport"
    hyperdex wait-until-stable -h "$HOST" -p "$cport" >/dev/null
    cpu_snapshot >"$work/cpu.before"
    "$work/bin/loadgen" -h "$HOST" -p "$cport" -s bench -n "$N" -w "$W" -L 0 -o put >"$work/load.txt"
    cpu_snapshot >"$work/cpu.after"
    cluster_stop
    rate=$(value put_ops_per_sec "$work/load.txt")
    [ "$(value errors "$work/load.txt")" = 0 ] || { echo "bench-chains: $kind: errors" >&2; exit 1; }
    # CPU seconds per thread kind, summed over the daemons (clock ticks of 10 ms).
    cpu=$(paste "$work/cpu.before" "$work/cpu.after" |
        awk '{ s[$1] += ($4 - $2) / 100 } END { for (k in s) printf "%s=%.2fs ", k, s[k] }')
    echo "bench-chains: round $round $kind: $rate puts/s; daemon CPU $cpu"
    echo "$kind $rate" >>"$results"
}

for round in $(seq "$ROUNDS"); do
    run f0 1 0 "$round"
    run f1 3 1 "$round"
    run f2 3 2 "$round"
done

median() {
    awk -v k="$1" '$1 == k { print $2 }' "$results" | sort -n |
        awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
f0=$(median f0)
f1=$(median f1)
f2=$(median f2)
echo
echo "machine: $(nproc) cores, $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)," \
    "git $(git rev-parse --short HEAD 2>/dev/null || echo unknown), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "median of $ROUNDS rounds, N=$N W=$W PARTITIONS=$PARTITIONS:"
echo "f0_put_ops_per_sec $f0"
echo "f1_put_ops_per_sec $f1"
echo "f2_put_ops_per_sec $f2"
awk -v a="$f1" -v b="$f0" 'BEGIN { printf "ratio_f1_vs_f0 %.2f\n", a / b }'
awk -v a="$f2" -v b="$f0" 'BEGIN { printf "ratio_f2_vs_f0 %.2f\n", a / b }'
