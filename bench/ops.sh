#!/usr/bin/env bash
# `make bench-ops`: one-client throughput of put against the atomic and
# container operations (atomic_add, set_add, map_add, list_rpush), each with
# its ratio to put measured in the same run, on two clusters started here:
#   (a) 1 daemon,  space created with `tolerate 0 failures` (chains of 1);
#   (b) 3 daemons, space created with `tolerate 2 failures` (chains of 3).
# See docs/benchmarks.md.
#
#  1. builds, installs into a temporary prefix, builds bench/loadgen.c (-O2);
#  2. for each cluster: starts it on free loopback ports, creates
#       space bench_ops key k attributes v, int n, list(string) l, set(string) s,
#             map(string, int) m create $PARTITIONS partitions tolerate F failures
#     checks that every region has F+1 replicas, and runs ONE load generator
#     (one client, N ops per phase, window W, 16-byte keys, 100-byte values):
#       put                     creates the N objects (the ops need them: an
#                               atomic or container op on a missing key is NOTFOUND)
#       ROUNDS times:  put, then every op of OPS, each on all N keys (round r
#                      starts at the r-th op, so that no op always comes first)
#       get                     reads every object back and checks every attribute
#     Every phase's ratio is taken against the put of its own round (a put of
#     the 100-byte value over an existing object, the same conditions as the ops).
#  3. prints per cluster and op the median over the rounds of ops/s and of the
#     ratio to put, and machine-readable lines; stops everything.
#
# Environment: N (100000), W (1024), ROUNDS (5), PARTITIONS (16),
# OPS (atomic_add,set_add,map_add,list_rpush; any loadgen -o operation but
# put/get), KEEP_BENCH_DIR=1 keeps the temporary directory.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
# shellcheck source=scripts/cluster.sh
. scripts/cluster.sh
# shellcheck source=bench/common.sh
. bench/common.sh

N=${N:-100000}
W=${W:-1024}
ROUNDS=${ROUNDS:-5}
PARTITIONS=${PARTITIONS:-16}
OPS=${OPS:-atomic_add,set_add,map_add,list_rpush}
# Pause before each phase so the daemons' background flushes and compactions from the
# previous phase finish instead of being charged to the next (loadgen -S).
SETTLE_MS=${SETTLE_MS:-1000}
HOST=127.0.0.1
SPACE=bench_ops

bench_init bench-ops

case "$ROUNDS" in '' | *[!0-9]* | 0) echo "bench-ops: ROUNDS must be a positive integer" >&2; exit 2 ;; esac
IFS=, read -r -a ops <<<"$OPS"
for op in "${ops[@]}"; do
    case "$op" in
    put | get | '') echo "bench-ops: OPS lists the operations compared with put, not '$op'" >&2; exit 2 ;;
    esac
done

bench_build

# Every measured op phase sits between two put phases: throughput drifts while the store
# grows (flushes and compactions), so each op is compared with the mean of the puts just
# before and just after it.
phases=put
for r in $(seq 0 $((ROUNDS - 1))); do
    for j in "${!ops[@]}"; do
        phases="$phases,put,${ops[$(((j + r) % ${#ops[@]}))]}"
    done
done
phases="$phases,put,get"

# replicas_ok F: every region of $SPACE in show-config has F+1 replicas.
replicas_ok() {
    hyperdex show-config -h "$HOST" -p "$cport" | awk -v s="$SPACE" -v want="$(($1 + 1))" '
        /^space / { in_space = ($0 ~ ("name=" s "$")) }
        in_space && /region id=/ { n++; if (gsub(/\(id=server\(/, "") != want) bad++ }
        END { exit !(n > 0 && bad == 0) }'
}

# run_cluster NAME DAEMONS FAILURES
run_cluster() {
    local name=$1 daemons=$2 f=$3 ports
    read -r -a ports <<<"$(cluster_free_ports "$((daemons + 1))")"
    cport=${ports[0]}
    cluster_start "$work/$name" "$HOST" "$cport" "${ports[@]:1}"
    echo "space $SPACE key k attributes v, int n, list(string) l, set(string) s, map(string, int) m" \
        "create $PARTITIONS partitions tolerate $f failures" | hyperdex add-space -h "$HOST" -p "$cport"
    replicas_ok "$f" || { echo "bench-ops: some region of $SPACE lacks $((f + 1)) replicas" >&2; exit 1; }
    echo "bench-ops: $name: loadgen -s $SPACE -n $N -w $W -L 0 -o $phases"
    "$work/bin/loadgen" -h "$HOST" -p "$cport" -s "$SPACE" -n "$N" -w "$W" -L 0 -S "$SETTLE_MS" -o "$phases" |
        tee "$work/$name.txt"
    cluster_stop
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
run_cluster f0 1 0
run_cluster f2 3 2
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# median: of the numbers on stdin ("n/a" if none).
median() {
    sort -g | awk '{ a[NR] = $1 } END {
        if (NR == 0) print "n/a"
        else if (NR % 2) print a[(NR + 1) / 2]
        else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
# values REGEX FILE: the numbers of the lines whose name matches REGEX (anchored).
values() { awk -v re="^($1)\$" '$1 ~ re { print $2 }' "$2"; }
# rate OP FILE / ratio OP FILE: medians over the rounds.
rate() {
    case "$1" in
    put_create) values 'put_ops_per_sec' "$2" ;;
    put) values 'put_[0-9]+_ops_per_sec' "$2" ;;
    get) values 'get_ops_per_sec' "$2" ;;
    *) values "$1(_[0-9]+)?_ops_per_sec" "$2" ;;
    esac | median | awk '{ if ($1 == "n/a") print; else printf "%.0f\n", $1 }'
}
ratio() {
    case "$1" in
    put) echo 1.00 ;;
    put_create | get) echo - ;;
    *) awk -v op="$1" '
            $1 ~ /_ops_per_sec$/ { n++; name[n] = $1; v[n] = $2 }
            END {
                isput = "^put(_[0-9]+)?_ops_per_sec$"
                for (i = 2; i < n; i++)
                    if (name[i] ~ ("^" op "(_[0-9]+)?_ops_per_sec$") && name[i - 1] ~ isput && name[i + 1] ~ isput)
                        print v[i] / ((v[i - 1] + v[i + 1]) / 2)
            }' "$2" | median | awk '{ if ($1 == "n/a") print; else printf "%.2f\n", $1 }' ;;
    esac
}

cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
echo
echo "== summary: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores ($cpu), git $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- src crates 2>/dev/null || echo ' (src/crates modified)')"
echo "   load average before: $load_before, after: $load_after"
echo "   N=$N W=$W ROUNDS=$ROUNDS PARTITIONS=$PARTITIONS, 16-byte keys, 100-byte values, one client"
echo "   ops/s: medians over $ROUNDS round(s); ratio: each op phase / mean of the put phases around it, median; put = overwrite"
printf '%-16s %12s %8s %12s %8s\n' "" "1 daemon" "f=0" "3 daemons" "f=2"
printf '%-16s %12s %8s %12s %8s\n' "op" "ops/s" "vs put" "ops/s" "vs put"
for op in put_create put "${ops[@]}" get; do
    printf '%-16s %12s %8s %12s %8s\n' "$op" \
        "$(rate "$op" "$work/f0.txt")" "$(ratio "$op" "$work/f0.txt")" \
        "$(rate "$op" "$work/f2.txt")" "$(ratio "$op" "$work/f2.txt")"
done
echo "(put_create: the first put phase, which creates the objects; get: the last phase, which checks them)"
for cfg in f0 f2; do
    for op in put_create put "${ops[@]}" get; do
        echo "${cfg}_${op}_ops_per_sec $(rate "$op" "$work/$cfg.txt")"
    done
    for op in "${ops[@]}"; do
        echo "${cfg}_ratio_${op}_vs_put $(ratio "$op" "$work/$cfg.txt")"
    done
done
