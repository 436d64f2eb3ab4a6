#!/usr/bin/env bash
# `make fuzz`: every cargo-fuzz target (fuzz/fuzz_targets/) for FUZZ_SECONDS each, then one
# line per target with its executions; exits non-zero when a target crashed, naming the
# input libFuzzer saved (fuzz/artifacts/<target>/). Not part of `make test`.
#
# Stable Rust only: `--sanitizer none` keeps cargo-fuzz off -Zsanitizer, and the
# instrumentation it adds (-Cpasses=sancov-module, -Cllvm-args=-sanitizer-coverage-*) is
# accepted by stable rustc, so no RUSTC_BOOTSTRAP is needed.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZ_SECONDS="${FUZZ_SECONDS:-60}"
TARGETS=(${FUZZ_TARGETS:-runtime_config dockerfile reference layer_extract registry_json docker_archive})

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz (crates.io)"
    cargo install cargo-fuzz --locked
fi

echo "== building fuzz targets (fuzz/, its own workspace)"
cargo fuzz build --sanitizer none -O

logs=$(mktemp -d /tmp/sangja-fuzz.XXXXXX)
trap 'rm -rf "$logs"' EXIT
failed=()
results=()
for t in "${TARGETS[@]}"; do
    echo "== fuzzing $t for ${FUZZ_SECONDS}s"
    mkdir -p "fuzz/corpus/$t" "fuzz/seeds/$t"
    status=0
    # -timeout: one input taking longer than 10 s is a hang, reported like a crash.
    cargo fuzz run --sanitizer none -O "$t" "fuzz/corpus/$t" "fuzz/seeds/$t" -- \
        -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 >"$logs/$t.log" 2>&1 || status=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$logs/$t.log" | tail -n 1)
    if [ "$status" -ne 0 ]; then
        failed+=("$t")
        grep -E "^(==[0-9]+== ERROR|thread '.*' panicked|panicked at|SUMMARY|Test unit written|artifact_prefix)" "$logs/$t.log" | head -n 8 || true
        results+=("$(printf '%-16s %12s executions  CRASHED (exit %s): see fuzz/artifacts/%s/' "$t" "${execs:-?}" "$status" "$t")")
    else
        results+=("$(printf '%-16s %12s executions  ok' "$t" "${execs:-?}")")
    fi
done

echo "== fuzz results (${FUZZ_SECONDS}s per target)"
printf '%s\n' "${results[@]}"
if [ "${#failed[@]}" -ne 0 ]; then
    echo "crashed: ${failed[*]} (reproduce: cargo fuzz run --sanitizer none -O TARGET fuzz/artifacts/TARGET/<file>)"
    exit 1
fi
