#!/usr/bin/env bash
# Proves that every container-escape protection's conformance case can fail (issue 7).
#
# For each break-* feature of the runtime (runtime/Cargo.toml) it builds sangja with that
# feature alone (cargo --profile break: into target/break/, never over target/release, and
# the features refuse to build in release or dist), then runs the cases guarding that
# protection side by side against the same build without any feature ("unbroken") and a
# temporary copy of the broken one. A proof passes when each case passes unbroken and
# FAILS broken. The broken binaries run from a temporary copy, so an exploit that works
# (the CVE-2019-5736 case writes through the runtime's executable) only touches that copy.
#
# Usage: scripts/prove-protections.sh   (as root; `make prove-protections` builds first)
set -euo pipefail
cd "$(dirname "$0")/.."

target=${CARGO_TARGET_DIR:-$PWD/target}
conformance=$target/release/sangja-conformance
export SANGJA_CHECK=${SANGJA_CHECK:-$target/static/x86_64-unknown-linux-gnu/release/sangja-check}

# feature, then the ids of the cases that must catch it.
proofs=(
    "break-exe-protection security.runtime-binary-not-writable"
    "break-fd-cloexec security.inherited-fds-closed default.fds"
    "break-cwd-check security.cwd-no-host-leak"
    "break-resolve-in-root mounts.symlink-destination-stays-inside"
    "break-devnull-check masked.dev-null-checked"
    "break-masked-paths default.masked-paths default.readonly-paths masked.custom readonly.custom"
)

for f in "$conformance" "$SANGJA_CHECK"; do
    [[ -x $f ]] || { echo "missing $f: run make build conformance-checker" >&2; exit 2; }
done
if [[ $(id -u) != 0 ]]; then
    echo "0 passed, 0 failed, ${#proofs[@]} skipped (not root: the cases create containers)"
    exit 0
fi

started=$SECONDS
tmp=$(mktemp -d /tmp/sangja-prove.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# build FEATURE|"" NAME: the sangja binary of the break profile, copied to $tmp/NAME.
build() {
    local features=()
    [[ -n $1 ]] && features=(--features "$1")
    cargo build --quiet --profile break -p sangja --bin sangja "${features[@]}"
    install -m 0755 "$target/break/sangja" "$tmp/$2"
}

echo "-- building sangja (profile break) with each break-* feature, then unbroken"
for p in "${proofs[@]}"; do
    read -r feature _ <<<"$p"
    build "$feature" "$feature"
done
# Last, so what stays at target/break/sangja is the unbroken build.
build "" unbroken
echo "   built in $((SECONDS - started))s"

passed=0 failed=0 skipped=0
for p in "${proofs[@]}"; do
    read -r feature cases <<<"$p"
    filters=()
    for c in $cases; do filters+=(--filter "$c"); done
    echo "-- $feature"
    "$conformance" --runtime "unbroken=$tmp/unbroken" --runtime "$feature=$tmp/$feature" \
        "${filters[@]}" >"$tmp/$feature.table" 2>&1 || true
    sed 's/^/   | /' "$tmp/$feature.table"
    for c in $cases; do
        row=$(awk -v id="$c" '$1 == id' "$tmp/$feature.table")
        read -r _ unbroken broken reason <<<"$row" || true
        case "${unbroken:-}/${broken:-}" in
        pass/FAIL)
            passed=$((passed + 1))
            echo "   ok: $c catches $feature" ;;
        skip/*)
            skipped=$((skipped + 1))
            echo "   skipped: $c cannot run here: ${reason:-}" ;;
        FAIL/*)
            failed=$((failed + 1))
            echo "   FAILED: $c fails even unbroken, so it proves nothing about $feature" ;;
        */pass | */skip)
            failed=$((failed + 1))
            echo "   FAILED: $c does not catch $feature (it passes with the protection broken)" ;;
        *)
            failed=$((failed + 1))
            echo "   FAILED: no result for $c (see the table above)" ;;
        esac
    done
done
echo "protections proved in $((SECONDS - started))s"
echo "$passed passed, $failed failed, $skipped skipped"
[[ $failed == 0 ]]
