#!/usr/bin/env bash
# Tests against installed files and live processes. `make test` runs this after
# the cargo build and tests (it expects target/release to be built):
#   1. make install into a temporary PREFIX and check what was installed;
#   2. build examples-c/, bench/loadgen.c and bench/searchgen.c against that
#      PREFIX through pkg-config (and hello.c once more against the static
#      library);
#   3. on a cluster on free ports: the C examples, hello under valgrind,
#      short runs of both load generators, the Python tests (python/tests), the
#      conformance vectors (tests/conformance/*.jsonl) through the C ABI and
#      through the Python module, and the README's Python tour (its pycon
#      block) as a doctest;
#   4. on a cluster started with the tutorial's exact commands and ports
#      (1982, 2012-2014): the seed doctest tests/acceptance/seed_async.txt,
#      then the quick-start phonebook doctest tests/acceptance/phonebook.txt.
# Every server is stopped on exit, whether the tests pass or not.
# On failure the servers' logs and data stay in the temporary directory (its
# name is printed); KEEP_TEST_DIR=1 keeps everything, even after a pass.
# HYPERCLIENT_TEST_REQUIRE_ALL=0 lets Python tests of C functions the library
# does not export yet skip instead of fail.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
# shellcheck source=scripts/cluster.sh
. scripts/cluster.sh

HOST=127.0.0.1
C_WARNINGS=(-std=c99 -Wall -Wextra -Werror -pedantic)
RUN_TIMEOUT_S=${RUN_TIMEOUT_S:-300} # per program: a hang fails instead of blocking CI

work=$(mktemp -d "${TMPDIR:-/tmp}/hyperdex-test.XXXXXX")
prefix="$work/prefix"
bin="$work/bin"

finish() {
    local rc=$?
    trap - EXIT INT TERM
    if [ "$rc" -ne 0 ] && [ "${#CLUSTER_LOGS[@]}" -gt 0 ]; then
        _cluster_dump_logs
    fi
    cluster_stop
    if [ "$rc" -ne 0 ] || [ -n "${KEEP_TEST_DIR:-}" ]; then
        # Keep the servers' logs and data; the install is easy to remake.
        [ -n "${KEEP_TEST_DIR:-}" ] || rm -rf "$prefix" "$bin"
        echo "test-integration: files kept in $work" >&2
    else
        rm -rf "$work"
    fi
    if [ "$rc" -eq 0 ]; then
        echo "test-integration: all passed (${SECONDS}s)"
    else
        echo "test-integration: FAILED (status $rc)" >&2
    fi
    exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

step() { printf '\n== %s  [%ss]\n' "$*" "$SECONDS"; }
fail() {
    echo "test-integration: $*" >&2
    exit 1
}
# Runs a test program with a deadline; the name and arguments are echoed.
run() {
    echo "+ $*"
    timeout --foreground --kill-after=10 "$RUN_TIMEOUT_S" "$@"
}

export PATH="$top/target/release:$PATH"
[ -x target/release/hyperdex ] || fail "target/release/hyperdex is missing (make build)"
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
major=${version%%.*}

# ---------------------------------------------------------------------------
step "install into $prefix"
make --no-print-directory -s install PREFIX="$prefix"

lib="$prefix/lib"
pydir="$lib/python3/site-packages"
export PKG_CONFIG_PATH="$lib/pkgconfig"

for f in bin/hyperdex "lib/libhyperclient.so.$version" lib/libhyperclient.a \
    include/hyperclient.h include/hyperdex.h lib/pkgconfig/hyperclient.pc \
    lib/python3/site-packages/hyperclient/__init__.py; do
    [ -f "$prefix/$f" ] || fail "not installed: $f"
done
[ "$(readlink "$lib/libhyperclient.so.$major")" = "libhyperclient.so.$version" ] ||
    fail "libhyperclient.so.$major is not a symlink to libhyperclient.so.$version"
[ "$(readlink "$lib/libhyperclient.so")" = "libhyperclient.so.$major" ] ||
    fail "libhyperclient.so is not a symlink to libhyperclient.so.$major"
readelf -d "$lib/libhyperclient.so.$version" | grep -q "(SONAME).*\[libhyperclient.so.$major\]" ||
    fail "libhyperclient.so.$version lacks SONAME libhyperclient.so.$major"
nm -D --defined-only "$lib/libhyperclient.so.$version" | grep -q ' T hyperclient_loop$' ||
    fail "libhyperclient.so does not export hyperclient_loop"
[ "$(pkg-config --modversion hyperclient)" = "$version" ] || fail "pkg-config version is not $version"
[ -e "$pydir/hyperclient/libhyperclient.so" ] ||
    fail "no libhyperclient.so next to the installed Python package"
# From a directory where nothing else named hyperclient can be imported.
(cd "$work" && PYTHONPATH="$pydir" python3 -c \
    'import hyperclient, sys; sys.exit(0 if hyperclient.__file__.startswith(sys.argv[1]) else 1)' \
    "$pydir") || fail "the installed Python package does not import"
echo "installed layout OK (version $version)"

# ---------------------------------------------------------------------------
step "build the C examples and the load generators with pkg-config"
make --no-print-directory examples PREFIX="$prefix" EXAMPLES_OUT="$bin"
# The static library, with the Libs.private of the .pc file.
static_libs=$(pkg-config --static --libs-only-l hyperclient)
static_libs=${static_libs/-lhyperclient/}
echo "+ cc ${C_WARNINGS[*]} examples-c/hello.c $lib/libhyperclient.a $static_libs"
# shellcheck disable=SC2046,SC2086
cc "${C_WARNINGS[@]}" examples-c/hello.c -o "$bin/hello-static" \
    $(pkg-config --cflags hyperclient) "$lib/libhyperclient.a" $static_libs
# The C runner of the conformance vectors, against the installed library.
echo "+ cc ${C_WARNINGS[*]} tests/conformance/runner.c $(pkg-config --cflags --libs hyperclient)"
# shellcheck disable=SC2046
cc "${C_WARNINGS[@]}" tests/conformance/runner.c -o "$bin/conformance-runner" \
    $(pkg-config --cflags --libs hyperclient)

# ---------------------------------------------------------------------------
read -r cport d1 d2 d3 <<<"$(cluster_free_ports 4)"
step "cluster on free ports: coordinator $cport, daemons $d1 $d2 $d3"
cluster_start "$work/cluster" "$HOST" "$cport" "$d1" "$d2" "$d3"

step "C examples"
export LD_LIBRARY_PATH="$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
# Every program of EXAMPLES in the Makefile (the list `make examples` built).
examples=$(sed -n 's/^EXAMPLES *:= *//p' Makefile)
[ -n "$examples" ] || fail "no EXAMPLES list found in the Makefile"
for p in $examples; do
    run "$bin/$p" "$HOST" "$cport"
done
run "$bin/hello-static" "$HOST" "$cport"

if command -v valgrind >/dev/null; then
    step "hello under valgrind"
    run valgrind -q --error-exitcode=1 --leak-check=full "$bin/hello" "$HOST" "$cport"
else
    echo "(valgrind not installed: skipping the valgrind run)"
fi

step "load generators (short runs) and the add-space / rm-space tools"
echo "space loadgen_smoke key k attributes v create 4 partitions tolerate 0 failures" |
    hyperdex add-space -h "$HOST" -p "$cport"
run "$bin/loadgen" -h "$HOST" -p "$cport" -s loadgen_smoke -n 5000 -w 256 -L 500
# Random gets of those keys (another sample per seed; the synchronous ones beyond the
# asynchronous ones' draws), every value checked.
run "$bin/loadgen" -h "$HOST" -p "$cport" -s loadgen_smoke -n 2000 -w 256 -L 200 -G -r 5000 -x 3 -o get
hyperdex rm-space -h "$HOST" -p "$cport" loadgen_smoke
# Every operation of loadgen -o, on chains of three; the final get checks them all.
echo "space loadgen_ops key k attributes v, int n, list(string) l, set(string) s," \
    "map(string, int) m create 4 partitions tolerate 2 failures" |
    hyperdex add-space -h "$HOST" -p "$cport"
run "$bin/loadgen" -h "$HOST" -p "$cport" -s loadgen_ops -n 2000 -w 256 -L 0 \
    -o put,atomic_add,string_append,list_rpush,set_add,map_add,map_atomic_add,get
hyperdex rm-space -h "$HOST" -p "$cport" loadgen_ops
# The search benchmark's client (make bench-search), briefly: every kind of search it
# times, each result checked.
echo "space searchgen_smoke key k attributes string name, int n, int other, float f" \
    "subspace name subspace n create 4 partitions tolerate 1 failures" |
    hyperdex add-space -h "$HOST" -p "$cport"
run "$bin/searchgen" -h "$HOST" -p "$cport" -s searchgen_smoke -n 3000 -w 256 -L 50 -r 1 -S 0 -d 3
hyperdex rm-space -h "$HOST" -p "$cport" searchgen_smoke

step "Python tests (python/tests) against the installed package"
compgen -G "python/tests/test*.py" >/dev/null || fail "no python/tests/test*.py"
# A C function the library lacks fails these tests (instead of skipping them)
# unless HYPERCLIENT_TEST_REQUIRE_ALL=0 is set.
(cd "$work" && HYPERDEX_COORD_HOST="$HOST" HYPERDEX_COORD_PORT="$cport" PYTHONPATH="$pydir" \
    HYPERCLIENT_TEST_REQUIRE_ALL="${HYPERCLIENT_TEST_REQUIRE_ALL:-1}" \
    timeout --foreground --kill-after=10 "$RUN_TIMEOUT_S" \
    python3 -m unittest discover -s "$top/python/tests" -p 'test*.py' -v)

step "conformance vectors (tests/conformance): C ABI, then the Python module"
conformance=("$top"/tests/conformance/*.jsonl)
[ -e "${conformance[0]}" ] || fail "no tests/conformance/*.jsonl"
run "$bin/conformance-runner" "$HOST" "$cport" "${conformance[@]}"
(cd "$work" && export PYTHONPATH="$pydir" &&
    run python3 "$top/tests/conformance/run.py" "$HOST" "$cport" "${conformance[@]}")

step "the README's Python tour, as a doctest"
awk '/^```pycon$/ { on = 1; next } on && /^```$/ { on = 0 } on' README.md |
    sed "s/'127.0.0.1', 1982/'$HOST', $cport/" >"$work/readme_tour.txt"
grep -q '^>>> ' "$work/readme_tour.txt" || fail "no pycon block found in README.md"
(cd "$work" && PYTHONPATH="$pydir" timeout --foreground --kill-after=10 "$RUN_TIMEOUT_S" \
    python3 -m doctest -o NORMALIZE_WHITESPACE readme_tour.txt)
echo "README.md tour: passed"

cluster_stop

# ---------------------------------------------------------------------------
step "seed and phonebook doctests on a cluster started with the tutorial's commands"
cluster_ports_free 1982 2012 2013 2014 ||
    fail "the tutorial's ports are taken (is 'make run' or another test running?)"
cluster_start "$work/tutorial" 127.0.0.1 1982 2012 2013 2014
mkdir -p "$work/doctest"
(cd "$work/doctest" && PYTHONPATH="$pydir" timeout --foreground --kill-after=10 "$RUN_TIMEOUT_S" \
    python3 -m doctest -o ELLIPSIS -o NORMALIZE_WHITESPACE "$top/tests/acceptance/seed_async.txt")
echo "seed_async.txt: passed"
(cd "$work/doctest" && PYTHONPATH="$pydir" timeout --foreground --kill-after=10 "$RUN_TIMEOUT_S" \
    python3 -m doctest -o NORMALIZE_WHITESPACE "$top/tests/acceptance/phonebook.txt")
echo "phonebook.txt: passed"
