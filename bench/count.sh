#!/usr/bin/env bash
# `make bench-count`: allocations and system calls per operation in the daemons, the
# speed issue's target 5 (under one of each per operation at window 1024, amortised).
# One client (bench/loadgen.c, window W, 16-byte keys, 100-byte values):
#   put  N new objects into 1 daemon (`tolerate 0 failures`);
#   get  the same N objects from it;
#   f1   put N new objects into 3 daemons with `tolerate 1 failures` (per client put,
#        summed over the daemons: each put runs on two of them).
# Allocations are counted by bench/alloccount.c, preloaded into the daemons (every
# malloc/calloc/realloc/memalign-family call, per thread); system calls by
# `perf stat -e raw_syscalls:sys_enter --per-thread` when perf can read that tracepoint
# (otherwise the column says n/a). Prints, per phase, the counts per operation for each
# thread kind (event loop `hyperdex`, `storage`, fjall's threads, ...) and in total.
# See docs/benchmarks.md.
#
# Environment: N (300000), W (1024), PARTITIONS (16), KEEP_BENCH_DIR=1 keeps the
# temporary directory.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
# shellcheck source=scripts/cluster.sh
. scripts/cluster.sh
# shellcheck source=bench/common.sh
. bench/common.sh

N=${N:-300000}
W=${W:-1024}
PARTITIONS=${PARTITIONS:-16}
HOST=127.0.0.1

bench_init bench-count
bench_build
${CC:-cc} -O2 -Wall -Wextra -shared -fPIC bench/alloccount.c -o "$work/alloccount.so" -lpthread

perf_ok=0
if command -v perf >/dev/null && perf stat -e raw_syscalls:sys_enter -o /dev/null -- true 2>/dev/null; then
    perf_ok=1
fi

# alloc_snapshot FILE: "PID/TID COMM COUNT" for every thread of every daemon, from the shim's
# files, once each file has been rewritten after this call started (it is every 10 ms).
alloc_snapshot() {
    local out=$1 pid f mark
    mark="$work/mark"
    : >"$mark"
    : >"$out"
    for pid in "${CLUSTER_PIDS[@]:1}"; do
        f="$work/alloc.$pid"
        local deadline=$((SECONDS + 10))
        until [ -f "$f" ] && [ "$f" -nt "$mark" ]; do
            [ "$SECONDS" -lt "$deadline" ] || { echo "bench-count: no allocation counts from $pid" >&2; exit 1; }
            sleep 0.005 # the shim rewrites its file every 10 ms
        done
        awk -v p="$pid" '{ print p "/" $1, $2, $3 }' "$f" >>"$out"
    done
}

# phase NAME OP: runs loadgen OP over N objects and prints the counts per operation.
phase() {
    local name=$1 op=$2 pids perf_pid=
    pids=$(IFS=,; echo "${CLUSTER_PIDS[*]:1}")
    alloc_snapshot "$work/alloc.before"
    if [ "$perf_ok" = 1 ]; then
        perf stat -e raw_syscalls:sys_enter --per-thread -x, -p "$pids" -o "$work/perf.txt" &
        perf_pid=$!
        sleep 0.3 # perf attaches asynchronously; it reports no readiness
    fi
    "$work/bin/loadgen" -h "$HOST" -p "$cport" -s bench -n "$N" -w "$W" -L 0 -o "$op" >"$work/load.txt"
    if [ -n "$perf_pid" ]; then
        kill -INT "$perf_pid"
        wait "$perf_pid" || true
    fi
    alloc_snapshot "$work/alloc.after"
    [ "$(value errors "$work/load.txt")" = 0 ] || { echo "bench-count: $name: errors" >&2; exit 1; }
    echo "$name: $(value "${op}_ops_per_sec" "$work/load.txt") ops/s (N=$N W=$W)"
    # Allocations per thread kind: difference of the snapshots, keyed by pid/tid.
    awk -v n="$N" '
        FNR == NR { before[$1] = $3; next }
        { kind[$2] += $3 - before[$1] }
        END { for (k in kind) if (kind[k] > 0) printf "alloc %s %.3f\n", k, kind[k] / n }
    ' "$work/alloc.before" "$work/alloc.after" >"$work/rows.txt"
    if [ "$perf_ok" = 1 ]; then
        # perf -x, --per-thread: "comm-tid,count,,raw_syscalls:sys_enter,..."
        awk -F, -v n="$N" '
            $4 ~ /sys_enter/ { c = $1; sub(/-[0-9]+$/, "", c); gsub(/ /, "_", c); s[c] += $2 }
            END { for (k in s) if (s[k] > 0) printf "sys %s %.3f\n", k, s[k] / n }
        ' "$work/perf.txt" >>"$work/rows.txt"
    fi
    printf "  %-20s %10s %12s\n" thread allocs/op syscalls/op
    awk -v perf="$perf_ok" '
        { v[$1 " " $2] = $3; kinds[$2] = 1 }
        END {
            for (k in kinds)
                printf "  %-20s %10.3f %12s\n", k, v["alloc " k], perf ? sprintf("%.3f", v["sys " k]) : "n/a"
        }' "$work/rows.txt" | sort
    awk -v name="$name" -v perf="$perf_ok" '
        { t[$1] += $3 }
        END {
            printf "%s_allocs_per_op %.3f\n", name, t["alloc"]
            printf "%s_syscalls_per_op %s\n", name, perf ? sprintf("%.3f", t["sys"]) : "n/a"
        }' "$work/rows.txt"
}

# cluster DAEMONS FAILURES: a fresh cluster whose daemons count their allocations.
cluster() {
    local n=$1 f=$2 ports
    read -r -a ports <<<"$(cluster_free_ports $((n + 1)))"
    cport=${ports[0]}
    rm -rf "$work/cluster" "$work"/alloc.*
    LD_PRELOAD="$work/alloccount.so" ALLOCCOUNT_OUT="$work/alloc" \
        cluster_start "$work/cluster" "$HOST" "$cport" "${ports[@]:1}" >/dev/null
    echo "space bench key k attributes v create $PARTITIONS partitions tolerate $f failures" |
        hyperdex add-space -h "$HOST" -p "$cport"
    hyperdex wait-until-stable -h "$HOST" -p "$cport" >/dev/null
}

cluster 1 0
phase put put
phase get get
cluster_stop
cluster 3 1
phase f1 put
cluster_stop

echo
echo "machine: $(nproc) cores, $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)," \
    "git $(git rev-parse --short HEAD 2>/dev/null || echo unknown), load $(cut -d' ' -f1-3 /proc/loadavg)"
