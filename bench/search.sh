#!/usr/bin/env bash
# `make bench-search`: what a search costs next to a get, measured in ONE run on a
# 3-daemon cluster (the machine is shared and noisy, so the ratios, taken within
# the same run, are what to read). See docs/benchmarks.md.
#
#  1. builds, installs into a temporary prefix, builds bench/searchgen.c (-O2);
#  2. starts a coordinator and 3 daemons on free loopback ports, creates
#       space bench key k attributes string name, int n, int other, float f
#             subspace name subspace n create $PARTITIONS partitions tolerate 1 failures
#     (name and n each have a subspace, `other` has none), checks that every
#     region has 2 replicas;
#  3. runs ONE searchgen (one client): loads N objects (window W, 100 bytes of
#     values), then ROUNDS rounds of
#       - L pairs: synchronous get of a random key / synchronous search
#         name == <a random object's unique name>       -> p50, p99, ratio of p50s
#       - search with no checks, every object streamed   -> objects/s
#       - count other >= 0 (every object)                -> objects examined/s
#       - count with no checks, then sorted_search with no checks, by n, max,
#         limit 10                                       -> sorted / count
#     and the regions each search reads (hyperclient_search_describe);
#  4. prints every round, the medians, the targets (for reading only: nothing
#     here passes or fails on a number) and the exact searchgen command.
#
# Environment: N (100000), W (1024), L (1000 pairs per round), ROUNDS (5),
# PARTITIONS (8), SETTLE_MS (1000: pause after loading), DIAG (0; D > 0 runs
# searchgen -d D afterwards: D samples each of other selective searches, to see
# where an equality search spends its time), KEEP_BENCH_DIR=1 keeps the
# temporary directory.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
# shellcheck source=scripts/cluster.sh
. scripts/cluster.sh
# shellcheck source=bench/common.sh
. bench/common.sh

N=${N:-100000}
W=${W:-1024}
L=${L:-1000}
ROUNDS=${ROUNDS:-5}
PARTITIONS=${PARTITIONS:-8}
SETTLE_MS=${SETTLE_MS:-1000}
DIAG=${DIAG:-0}
HOST=127.0.0.1
SPACE=bench
DAEMONS=3
FAILURES=1

for v in N W L ROUNDS PARTITIONS SETTLE_MS DIAG; do
    case "${!v}" in '' | *[!0-9]*) echo "bench-search: $v must be a number" >&2; exit 2 ;; esac
done
[ "$ROUNDS" -ge 1 ] && [ "$ROUNDS" -le 64 ] || { echo "bench-search: ROUNDS must be 1..64" >&2; exit 2; }

bench_init bench-search
bench_build

read -r -a ports <<<"$(cluster_free_ports "$((DAEMONS + 1))")"
cport=${ports[0]}
cluster_start "$work/cluster" "$HOST" "$cport" "${ports[@]:1}"
space_def="space $SPACE key k attributes string name, int n, int other, float f subspace name subspace n create $PARTITIONS partitions tolerate $FAILURES failures"
echo "$space_def" | hyperdex add-space -h "$HOST" -p "$cport"
hyperdex show-config -h "$HOST" -p "$cport" >"$work/config.txt"
# Every region of the space has FAILURES+1 replicas; count the regions too.
regions_total=$(awk -v s="$SPACE" -v want="$((FAILURES + 1))" '
    /^space / { in_space = ($0 ~ ("name=" s "$")) }
    in_space && /region id=/ { n++; if (gsub(/\(id=server\(/, "") != want) bad++ }
    END { if (n == 0 || bad) exit 1; print n }' "$work/config.txt") ||
    { echo "bench-search: some region of $SPACE lacks $((FAILURES + 1)) replicas" >&2; exit 1; }

cmd=(searchgen -h "$HOST" -p "$cport" -s "$SPACE" -n "$N" -w "$W" -L "$L" -r "$ROUNDS" -S "$SETTLE_MS")
if [ "$DIAG" -gt 0 ]; then cmd+=(-d "$DIAG"); fi
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
echo "bench-search: ${cmd[*]}"
started=$SECONDS
"$work/bin/${cmd[0]}" "${cmd[@]:1}" | tee "$work/searchgen.txt"
elapsed=$((SECONDS - started))
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
cluster_stop

# --- Summary ---------------------------------------------------------------
out=$work/searchgen.txt
# value NAME: the rest of the line "NAME ..." of the searchgen output.
value() { awk -v k="$1" '$1 == k { $1 = ""; sub(/^ /, ""); print; exit }' "$out"; }
# row LABEL METRIC TARGET OP BOUND: every round, the median, and the target (for reading).
row() {
    local label=$1 metric=$2 target=${3:-} op=${4:-} bound=${5:-} r med met=
    printf '%-34s' "$label"
    for r in $(seq 1 "$ROUNDS"); do printf ' %10s' "$(value "r${r}_$metric")"; done
    med=$(value "$metric")
    if [ -n "$op" ]; then
        met=$(awk -v v="$med" -v b="$bound" -v op="$op" 'BEGIN {
            ok = (op == "<=") ? (v <= b) : (v >= b); print ok ? "met" : "NOT met" }')
    fi
    printf ' %10s   %-12s %s\n' "$med" "$target" "$met"
}

cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
echo
echo "== summary: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores ($cpu), git $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- src crates 2>/dev/null || echo ' (src/crates modified)')"
echo "   load average before: $load_before, after: $load_after; searchgen ran ${elapsed}s"
echo "   $DAEMONS daemons, $space_def"
echo "   ($regions_total regions in all: $PARTITIONS per subspace, key subspace included)"
echo "   loaded $(value objects) objects in $(value load_seconds) s ($(value load_puts_per_sec) puts/s, window $W), $(value pairs) pairs per round"
echo "   command: ${cmd[*]}"
printf '%-34s' "round"
for r in $(seq 1 "$ROUNDS"); do printf ' %10s' "$r"; done
printf ' %10s   %-12s %s\n' "median" "target" ""
row "get p50 (us)" get_p50_us
row "get p99 (us)" get_p99_us
row "search name==x p50 (us)" eq_p50_us
row "search name==x p99 (us)" eq_p99_us
row "  its object's event p50 (us)" eq_first_p50_us
row "ratio search name==x / get (p50)" ratio_eq_vs_get_p50 "<= 3x" "<=" 3
row "search all: objects/s" all_objects_per_sec ">= 500000/s" ">=" 500000
row "  first object after (ms)" all_first_ms
row "count other>=0: objects/s" count_objects_per_sec ">= 1000000/s" ">=" 1000000
row "count {} (ms)" pair_count_ms
row "sorted_search {} n max 10 (ms)" pair_sorted_ms
row "ratio sorted_search / count" ratio_sorted_vs_count "<= 2x" "<=" 2
echo "regions read (hyperclient_search_describe, lines \"region(\"):"
printf '   %-28s %s   (%s)\n' "search name==x" "$(value regions_eq)" "$(value describe_eq)"
printf '   %-28s %s   (%s)\n' "search all" "$(value regions_all)" "$(value describe_all)"
printf '   %-28s %s   (%s)\n' "count other>=0" "$(value regions_count)" "$(value describe_count)"
printf '   %-28s %s   (%s)\n' "sorted_search / count {}" "$(value regions_sorted)" "$(value describe_sorted)"
# spread NAME: the matching objects in each region a describe lists, and per server
# (by address, from show-config).
spread() {
    awk -v k="describe_${1}_line" '
        FNR == NR { if ($1 == "server") { id = $2; sub(/^id=/, "", id); a = $3; sub(/^address=/, "", a); addr[id] = a }; next }
        $1 == k {
            # region(R) server(S) touched by search: N matching object(s)
            s = $3
            n = $(NF - 2)
            regions = regions " " n
            if (!(s in per)) order[++servers] = s
            per[s] += n
        }
        END {
            printf "%s;  per server:", regions
            for (i = 1; i <= servers; i++) printf " %s %d", (order[i] in addr ? addr[order[i]] : order[i]), per[order[i]]
            print ""
        }' "$work/config.txt" "$out"
}
echo "objects in each region read, as search_describe counts them:"
printf '   %-28s%s\n' "search all" "$(spread all)"
printf '   %-28s%s\n' "search name==x" "$(spread eq)"
if [ "$DIAG" -gt 0 ]; then
    echo "diagnostics ($DIAG samples each, after the rounds; searchgen.c says what each is):"
    printf '   %-12s %10s %10s %8s  %s\n' "" "p50 (us)" "p99 (us)" "regions" "objects in each region read"
    for d in empty_eq name_eq count_eq key_eq n_eq other_eq; do
        printf '   %-12s %10s %10s %8s %s\n' "$d" "$(value "diag_${d}_p50_us")" "$(value "diag_${d}_p99_us")" \
            "$(value "regions_diag_$d")" "$(spread "diag_$d" | sed 's/;.*//')"
    done
fi
echo "(targets are for reading only; medians over $ROUNDS rounds; ratios are taken within each round)"
