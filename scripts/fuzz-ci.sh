#!/usr/bin/env bash
# Runs every fuzz target in fuzz/ for a bounded time (`make fuzz`; `make test` ends with it).
#
#   FUZZ_SECONDS=20    seconds per target (libFuzzer's -max_total_time)
#   FUZZ_TARGETS="..." space-separated targets to run (default: all, `cargo fuzz list`)
#   FUZZ_JOBS=2        targets run at once (default: the number of cores, at most 2)
#
# The committed seeds in fuzz/corpus/<target>/ are read, never written: what a run finds
# goes to a temporary directory (FUZZ_KEEP=dir keeps it there; merge it with `cargo fuzz
# cmin` by hand if it is worth keeping). A crash leaves its input in fuzz/artifacts/<target>/
# and fails the script; replay it from fuzz/ with
#   RUSTC_BOOTSTRAP=1 cargo fuzz run -a -s none <target> artifacts/<target>/<file>
# (fuzz/README.md says more).
#
# cargo-fuzz needs nightly-only rustc flags (-Z options for the coverage instrumentation);
# RUSTC_BOOTSTRAP=1 lets the stable toolchain accept them. It is set here only, for the fuzz build: fuzz/ is its
# own workspace, so the main build never sees it.
set -euo pipefail

CARGO_FUZZ_VERSION=0.13.2
FUZZ_SECONDS=${FUZZ_SECONDS:-20}
nproc=$(nproc 2>/dev/null || echo 1)
FUZZ_JOBS=${FUZZ_JOBS:-$((nproc < 2 ? nproc : 2))}
# -a: debug assertions and overflow checks, so an arithmetic overflow is a crash.
# -s none: no AddressSanitizer. Everything fuzzed is safe Rust, and ASan doubled the cold
# build (about 2m15s against 1m05s on 2 cores); what it added here, a limit on
# allocations, the targets' own allocator does (hyperdex_fuzz::BudgetAlloc, fuzz/src/lib.rs).
BUILD_FLAGS=(-a -s none)
LIBFUZZER_FLAGS=(-max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1)

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top/fuzz"
export RUSTC_BOOTSTRAP=1

if [ "$(cargo fuzz --version 2>/dev/null)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]; then
    echo "fuzz: installing cargo-fuzz $CARGO_FUZZ_VERSION"
    cargo install --locked --version "$CARGO_FUZZ_VERSION" cargo-fuzz
fi

if [ -n "${FUZZ_TARGETS:-}" ]; then
    read -r -a targets <<<"$FUZZ_TARGETS"
else
    mapfile -t targets < <(cargo fuzz list)
fi

start=$SECONDS
# fuzz/ is outside the workspace that `cargo fmt --all` checks.
cargo fmt -- --check
echo "fuzz: building ${targets[*]}"
cargo fuzz build "${BUILD_FLAGS[@]}"
echo "fuzz: built in $((SECONDS - start))s; ${FUZZ_SECONDS}s per target, $FUZZ_JOBS at a time"

work=${FUZZ_KEEP:-$(mktemp -d "${TMPDIR:-/tmp}/hyperdex-fuzz.XXXXXX")}
mkdir -p "$work"
[ -n "${FUZZ_KEEP:-}" ] || trap 'rm -rf "$work"' EXIT

run_one() {
    local t=$1 extra=()
    mkdir -p "$work/corpus/$t" "corpus/$t"
    [ -f "dicts/$t.dict" ] && extra+=(-dict="dicts/$t.dict")
    # The first corpus directory receives new inputs; the committed one is only read.
    cargo fuzz run "${BUILD_FLAGS[@]}" "$t" "$work/corpus/$t" "corpus/$t" -- \
        "${LIBFUZZER_FLAGS[@]}" "${extra[@]}" >"$work/$t.log" 2>&1
}

declare -A pids=()
failed=()
wait_one() {
    local done_pid t
    wait -n -p done_pid "${!pids[@]}" && rc=0 || rc=$?
    t=${pids[$done_pid]}
    unset "pids[$done_pid]"
    local stats
    stats=$(grep -E '^stat::(number_of_executed_units|peak_rss_mb)' "$work/$t.log" | awk '{print $2}' | paste -sd/ -) || true
    if [ "$rc" -eq 0 ]; then
        printf 'fuzz: %-13s ok    (executions/peak MB: %s)\n' "$t" "${stats:-?}"
    else
        printf 'fuzz: %-13s FAILED (exit %s):\n' "$t" "$rc"
        # From the panic (or libFuzzer's own report) on, without the backtrace frames.
        awk '/panicked at|allocation budget exceeded|ERROR: libFuzzer|^Error:/ {on=1} on' "$work/$t.log" |
            grep -Ev '^ +([0-9]+: |at )' | head -n 24 | sed 's/^/    /' || true
        grep -A2 '^Reproduce with:' "$work/$t.log" | sed 's/^/    /' || true
        failed+=("$t")
    fi
}

for t in "${targets[@]}"; do
    while [ "${#pids[@]}" -ge "$FUZZ_JOBS" ]; do wait_one; done
    run_one "$t" &
    pids[$!]=$t
done
while [ "${#pids[@]}" -gt 0 ]; do wait_one; done

echo "fuzz: done in $((SECONDS - start))s"
if [ "${#failed[@]}" -gt 0 ]; then
    echo "fuzz: FAILED: ${failed[*]} (inputs in fuzz/artifacts/)"
    find artifacts -type f 2>/dev/null | sed 's|^|    fuzz/|' || true
    exit 1
fi
