# sangja: an OCI container runtime (runc's command line), its conformance suite and image tools.
SHELL := /bin/bash
CARGO ?= cargo
PREFIX ?= /usr/local
RELEASE_DIR := target/release
SANGJA := $(CURDIR)/$(RELEASE_DIR)/sangja

.PHONY: all deps build install demo test test-runtime test-conformance test-image conformance bench clean lint

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

clean:
	$(CARGO) clean
