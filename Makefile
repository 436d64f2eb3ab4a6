# sangja: an OCI container runtime (runc's command line), its conformance suite and image tools.
SHELL := /bin/bash
CARGO ?= cargo
PREFIX ?= /usr/local
RELEASE_DIR := target/release
SANGJA := $(CURDIR)/$(RELEASE_DIR)/sangja

.PHONY: all deps build install demo test test-runtime test-conformance test-image conformance conformance-checker prove-protections bench clean lint

all: build

deps:
	@bash scripts/deps.sh

build:
	$(CARGO) build --release --workspace

install: build
	install -D -m 0755 $(RELEASE_DIR)/sangja $(PREFIX)/bin/sangja

# A busybox container run through create/start/delete, printing what it saw.
demo: deps build
	@bash scripts/demo.sh $(SANGJA)

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --release --workspace --all-targets -- -D warnings

# Every test. Each part prints its own closing count line.
test: deps build
	@bash scripts/test.sh

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
bench: deps
	$(CARGO) build --profile dist -p sangja -p sangja-image
	$(CARGO) build --release --manifest-path bench/protect/Cargo.toml --target-dir $(CURDIR)/target/bench-protect
	@bash bench/run.sh

clean:
	$(CARGO) clean
