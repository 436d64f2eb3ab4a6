# sangja: an OCI container runtime (runc's command line), its conformance suite and image tools.
SHELL := /bin/bash
CARGO ?= cargo
PREFIX ?= /usr/local
RELEASE_DIR := target/release
SANGJA := $(CURDIR)/$(RELEASE_DIR)/sangja

.PHONY: init soak fuzz all deps build dist dist-runtime dist-shim test-dist install demo test test-runtime test-conformance test-image conformance conformance-checker prove-protections bench clean lint

all: build

deps:
	@bash scripts/deps.sh

build:
	$(CARGO) build --release --workspace
	@$(MAKE) -s init

# sangja-init, PID 1 of `sangja-image run --init` (docker's tini): static, as it runs
# inside any image's rootfs, and its own workspace (init/), so nothing else is built
# static. Copied next to sangja-image, where `run --init` looks for it.
INIT_BIN = target/static/$(DIST_TARGET)/release/sangja-init
init:
	RUSTFLAGS='-C target-feature=+crt-static' CARGO_TARGET_DIR=$(CURDIR)/target/static $(CARGO) build --release --target $(DIST_TARGET) --manifest-path init/Cargo.toml
	install -D -m 0755 $(INIT_BIN) $(RELEASE_DIR)/sangja-init

# What ships. The runtime is a static PIE built for size: its resident memory follows its
# code size (bench/results.md), and static linking saves the dynamic loader's work on every
# create. --target keeps RUSTFLAGS off build scripts and proc-macros.
DIST_TARGET := x86_64-unknown-linux-gnu
DIST_SANGJA := target/$(DIST_TARGET)/dist-runtime/sangja
dist: dist-runtime dist-shim
	$(CARGO) build --profile dist -p sangja-image

# The shim, like the runtime, static and built for size: one runs beside every container,
# and its resident memory follows the pages of code and libc it touches (bench/results.md).
DIST_SHIM := target/$(DIST_TARGET)/dist-runtime/containerd-shim-sangja-v2
dist-shim:
	RUSTFLAGS='-C target-feature=+crt-static -C force-unwind-tables=no' \
	$(CARGO) build --profile dist-runtime --target $(DIST_TARGET) -p sangja-shim

dist-runtime:
	RUSTFLAGS='-C target-feature=+crt-static -C force-unwind-tables=no' \
	LIBSECCOMP_LINK_TYPE=static LIBSECCOMP_LIB_PATH=/usr/lib/$(shell gcc -print-multiarch) \
	$(CARGO) build --profile dist-runtime --target $(DIST_TARGET) -p sangja

# The conformance suite against the shipped runtime binary (part of `make test`).
test-dist: build dist-runtime conformance-checker
	$(RELEASE_DIR)/sangja-conformance --runtime sangja-dist=$(CURDIR)/$(DIST_SANGJA)

install: dist init
	install -D -m 0755 $(INIT_BIN) $(PREFIX)/bin/sangja-init
	install -D -m 0755 $(DIST_SANGJA) $(PREFIX)/bin/sangja
	install -D -m 0755 target/dist/sangja-image $(PREFIX)/bin/sangja-image
	install -D -m 0755 $(DIST_SHIM) $(PREFIX)/bin/containerd-shim-sangja-v2

# A busybox container run through create/start/delete, printing what it saw.
demo: deps build
	@bash scripts/demo.sh $(SANGJA)

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --release --workspace --all-targets -- -D warnings

# Every test. Each part prints its own closing count line.
test: deps build
	@bash scripts/test.sh

# Long churn (issue 27): 1000 container lifecycles, then the host is checked for leftovers
# and the runtime's memory compared between the first and last cycles.
SOAK_CYCLES ?= 1000
soak: deps build
	SANGJA_CHURN_CYCLES=$(SOAK_CYCLES) $(CARGO) test --release -p sangja --test churn -- --nocapture
	SANGJA_CHURN_CYCLES=$(SOAK_CYCLES) SANGJA_BIN=$(CURDIR)/target/release/sangja $(CARGO) test --release -p sangja-image --test churn -- --nocapture

# The in-container checker, static (explicit target so proc-macros stay dynamic),
# in its own target dir so it never invalidates the normal build.
conformance-checker:
	RUSTFLAGS='-C target-feature=+crt-static' CARGO_TARGET_DIR=$(CURDIR)/target/static $(CARGO) build --release --target x86_64-unknown-linux-gnu -p sangja-conformance --bin sangja-check

# Every runtime-spec case against runc (information) and sangja (counted).
conformance: build conformance-checker
	$(RELEASE_DIR)/sangja-conformance --runtime runc=/usr/sbin/runc --runtime sangja=$(SANGJA)

# The suite against sangja only.
test-conformance: build conformance-checker
	$(RELEASE_DIR)/sangja-conformance --runtime sangja=$(SANGJA)

# Each protection's case seen failing: sangja built with one break-* feature at a time
# (profile break, target/break/ only, never installed) must fail the case guarding it.
prove-protections: build conformance-checker
	@bash scripts/prove-protections.sh

# sangja against runc, crun, skopeo and umoci, side by side (not part of `make test`):
# builds what ships (dist profile), prints the table and writes bench/results.md.
bench: deps dist
	$(CARGO) build --release --manifest-path bench/protect/Cargo.toml --target-dir $(CURDIR)/target/bench-protect
	$(CARGO) build --release -p sangja-clients --bin sangja-cri-bench
	@bash bench/run.sh

# Every fuzz target (fuzz/, cargo-fuzz, installed when missing) for FUZZ_SECONDS each,
# printing executions per target; not part of `make test`. Corpora grow in fuzz/corpus/.
FUZZ_SECONDS ?= 60
fuzz:
	@FUZZ_SECONDS=$(FUZZ_SECONDS) bash scripts/fuzz.sh

clean:
	$(CARGO) clean
