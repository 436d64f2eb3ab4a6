#!/usr/bin/env bash
# Every test of the workspace. Each runner prints its own closing count line.
set -euo pipefail
cd "$(dirname "$0")/.."
export SANGJA_BIN="$PWD/target/release/sangja"
export SANGJA_SHIM_BIN="$PWD/target/release/containerd-shim-sangja-v2"
# Each part's heading carries the seconds spent so far, so a slow CI run shows where.
phase() { echo "== [${SECONDS}s] $*"; }

# The crash-consistency test (runtime/tests/crash.rs) kills this build at each named phase:
# sangja with the test-only crash-points feature, in its own target dir (never shipped).
phase "the crash-points build of sangja for the crash-consistency test"
cargo build --profile break -p sangja --features crash-points --target-dir target/crash
export SANGJA_CRASH_BIN="$PWD/target/crash/break/sangja"

# sangja-image with the crash-points feature (kills itself where SANGJA_IMAGE_CRASH_AT
# says) for image-tools/tests/crash.rs: a debug build in its own target dir, so it never
# invalidates the normal build and can never be mistaken for it.
phase "crash-points build of sangja-image (target/crash)"
cargo build -p sangja-image --features crash-points --bin sangja-image --target-dir target/crash
export SANGJA_IMAGE_CRASH_BIN="$PWD/target/crash/debug/sangja-image"

phase "unit and integration tests (cargo test --release --workspace)"
# The output is kept so that, on a failure, each failed test's own report (libtest's
# "---- NAME stdout ----" sections) is printed again last: a CI log is often read from
# its tail, where cargo otherwise leaves only the names of the failing targets.
mkdir -p target/test-logs
log=target/test-logs/cargo-test.log
if ! cargo test --release --workspace --no-fail-fast 2>&1 | tee "$log"; then
    echo "== the failed tests' reports (from $log)"
    awk '/^failures:$/ {on = 1} on {print} /^test result:/ {on = 0}' "$log"
    exit 1
fi

phase "conformance suite against sangja (make test-conformance)"
make -s test-conformance

phase "protections proved: each guarding case fails against a broken build (make prove-protections)"
make -s prove-protections

phase "conformance suite against the shipped runtime: static PIE, dist-runtime profile (make test-dist)"
make -s test-dist
phase "done"
