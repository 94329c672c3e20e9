# HyperDex (Rust rewrite): build, install, run, test, bench.
# GNU make. `make help` lists the targets.

CARGO       ?= cargo
CC          ?= cc

PREFIX      ?= /usr/local
DESTDIR     ?=
BINDIR      ?= $(PREFIX)/bin
LIBDIR      ?= $(PREFIX)/lib
INCLUDEDIR  ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
# Pure-Python package directory. Fixed (not taken from the running Python) so
# the layout is the same on every machine; put it on PYTHONPATH, or override,
# e.g. PYTHONDIR=$$(python3 -c 'import sysconfig; print(sysconfig.get_path("purelib"))').
PYTHONDIR   ?= $(LIBDIR)/python3/site-packages

# The package version, from [workspace.package] in Cargo.toml (the first
# `version = "..."` line), and the shared library's major version (SONAME).
VERSION     := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
SOMAJOR     := $(firstword $(subst ., ,$(VERSION)))
SONAME      := libhyperclient.so.$(SOMAJOR)
SOFILE      := libhyperclient.so.$(VERSION)
# What the static library needs from the system, as printed by
# `cargo rustc --release --lib --crate-type staticlib -- --print native-static-libs`.
# `make test` links an example statically with these, so a change shows up.
LIBS_PRIVATE := -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc

RELEASE     := target/release
EXAMPLES    := hello window friends poll_loop containers search
EXAMPLES_OUT ?= build/examples-c
C_WARNINGS  := -std=c99 -Wall -Wextra -Werror -pedantic

INSTALL     ?= install

.PHONY: all build header check-header install uninstall run clean-data test \
        examples bench bench-ops bench-chains bench-count bench-node bench-search bench-scale bench-reads bench-faults bench-coord fuzz help

all: build

help:
	@echo "make / make build     cargo build --release --workspace"
	@echo "make run              build, then a local cluster in the foreground (Ctrl-C stops it)"
	@echo "make test             every check and test (what CI runs)"
	@echo "make install          PREFIX=$(PREFIX) DESTDIR=$(DESTDIR)"
	@echo "make uninstall        remove what make install put in PREFIX"
	@echo "make examples         build examples-c/ against an installed PREFIX (pkg-config)"
	@echo "make header           regenerate include/hyperclient.h and include/hyperdex.h"
	@echo "make check-header     fail when the committed headers are stale"
	@echo "make bench            bench/compare.sh: our load generator against redis-benchmark"
	@echo "make bench-ops        bench/ops.sh: put against atomic/container ops, 1 and 3 daemons"
	@echo "make bench-chains     bench/chains.sh: put on 1 daemon against 3 daemons with tolerate 1 and 2"
	@echo "make bench-count      bench/count.sh: allocations and system calls per operation in the daemons"
	@echo "make bench-node       the daemon's core alone: CPU per put through chains of 1-3 servers, no I/O"
	@echo "make bench-search     bench/search.sh: search, count, sorted_search against get, 3 daemons"
	@echo "make bench-scale      bench/scale.sh: 100k to 10M objects next to Redis (throughput, latency, memory)"
	@echo "make bench-reads      bench/reads.sh: CPU per get, by thread, for gets that miss the object cache"
	@echo "make bench-faults     kill -9 under load: time to resume writes, throughput during repair and rebuild"
	@echo "make bench-coord      coordinator group: configuration changes per second (1 vs 3), leader kill to next change"
	@echo "make fuzz             every fuzz target, FUZZ_SECONDS (20) each (scripts/fuzz-ci.sh)"
	@echo "make clean-data       delete ./data (state of make run)"

build:
	$(CARGO) build --release --workspace

header:
	$(CARGO) run --release -p gen-header

check-header:
	$(CARGO) run --release -p gen-header -- --check

install: build
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) \
		$(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(PYTHONDIR)/hyperclient
	$(INSTALL) -m 755 $(RELEASE)/hyperdex $(DESTDIR)$(BINDIR)/hyperdex
	$(INSTALL) -m 755 $(RELEASE)/libhyperclient.so $(DESTDIR)$(LIBDIR)/$(SOFILE)
	ln -sf $(SOFILE) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libhyperclient.so
	$(INSTALL) -m 644 $(RELEASE)/libhyperclient.a $(DESTDIR)$(LIBDIR)/libhyperclient.a
	$(INSTALL) -m 644 include/hyperclient.h include/hyperdex.h $(DESTDIR)$(INCLUDEDIR)/
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' \
	    -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' -e 's|@VERSION@|$(VERSION)|g' \
	    -e 's|@LIBS_PRIVATE@|$(LIBS_PRIVATE)|g' \
	    hyperclient.pc.in >$(DESTDIR)$(PKGCONFIGDIR)/hyperclient.pc
	chmod 644 $(DESTDIR)$(PKGCONFIGDIR)/hyperclient.pc
	find python/hyperclient -name __pycache__ -prune -o -type f ! -name '*.so*' -print | \
	    while read -r f; do \
	        $(INSTALL) -D -m 644 "$$f" "$(DESTDIR)$(PYTHONDIR)/$${f#python/}" || exit 1; \
	    done
# (The Python package loads the libhyperclient.so that sits next to it.)
	ln -sf $$(realpath -m -s --relative-to=$(PYTHONDIR)/hyperclient $(LIBDIR)/$(SONAME)) \
		$(DESTDIR)$(PYTHONDIR)/hyperclient/libhyperclient.so

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/hyperdex \
	      $(DESTDIR)$(LIBDIR)/$(SOFILE) $(DESTDIR)$(LIBDIR)/$(SONAME) \
	      $(DESTDIR)$(LIBDIR)/libhyperclient.so $(DESTDIR)$(LIBDIR)/libhyperclient.a \
	      $(DESTDIR)$(INCLUDEDIR)/hyperclient.h $(DESTDIR)$(INCLUDEDIR)/hyperdex.h \
	      $(DESTDIR)$(PKGCONFIGDIR)/hyperclient.pc
	rm -rf $(DESTDIR)$(PYTHONDIR)/hyperclient

# Builds the C examples and the load generators against an INSTALLED library,
# found through pkg-config in $(PKGCONFIGDIR) (so: make install PREFIX=... first;
# DESTDIR is not used here).
examples:
	mkdir -p $(EXAMPLES_OUT)
	@set -e; flags=$$(PKG_CONFIG_PATH=$(PKGCONFIGDIR) pkg-config --cflags --libs hyperclient); \
	for p in $(EXAMPLES); do \
	    echo "$(CC) $(C_WARNINGS) examples-c/$$p.c -o $(EXAMPLES_OUT)/$$p $$flags"; \
	    $(CC) $(C_WARNINGS) examples-c/$$p.c -o $(EXAMPLES_OUT)/$$p $$flags; \
	done; \
	for p in loadgen searchgen echo; do \
	    echo "$(CC) $(C_WARNINGS) -O2 bench/$$p.c -o $(EXAMPLES_OUT)/$$p $$flags"; \
	    $(CC) $(C_WARNINGS) -O2 bench/$$p.c -o $(EXAMPLES_OUT)/$$p $$flags; \
	done

run: build
	scripts/run-cluster.sh

clean-data:
	rm -rf data

# The one command that runs every test. Cheap checks first.
test:
	$(CARGO) fmt --all -- --check
	$(MAKE) --no-print-directory check-header
	$(CARGO) clippy --release --workspace --all-targets -- -D warnings
	$(MAKE) --no-print-directory build
	$(CARGO) test --release --workspace
	scripts/test-integration.sh
	$(MAKE) --no-print-directory fuzz

# fuzz/ is a separate cargo workspace built with RUSTC_BOOTSTRAP=1 by the script only.
fuzz:
	scripts/fuzz-ci.sh

bench:
	bench/compare.sh

bench-ops:
	bench/ops.sh

bench-chains:
	bench/chains.sh

bench-count:
	bench/count.sh

# One glibc arena, as the daemon's event loop (the main thread) has: the test's own thread
# would otherwise grow a secondary arena with an mprotect call every few pages.
bench-node:
	cargo test --release -p hyperdex-server --lib --no-run
	for t in 0 1 2; do \
	    TOL=$$t GLIBC_TUNABLES=glibc.malloc.arena_max=1 cargo test -q --release -p hyperdex-server --lib \
	        node_put_cost -- --ignored --nocapture | grep node_put_cost: || exit 1; \
	done

bench-search:
	bench/search.sh

bench-scale:
	bench/scale.sh

bench-reads:
	bench/reads.sh

bench-coord:
	cargo build --release --workspace
	cargo test --release --test coord_group bench_coord -- --ignored --nocapture

bench-faults:
	cargo build --release --workspace
	cargo test --release --test failures bench_faults -- --ignored --nocapture
	cargo test --release --test failures bench_catch_up -- --ignored --nocapture
