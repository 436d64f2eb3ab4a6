# CRI: the clients suite's pod lifecycle (clients/src/cri/lifecycle.rs) on a private
# containerd 1.6 with its CRI plugin, configured from docs/containerd-cri.toml, per
# RuntimeClass handler: sangja (containerd-shim-sangja-v2), sangja-runc-shim (the Go
# runc shim with BinaryName sangja) and runc. The wall time of each CRI call and of
# the whole lifecycle; the handlers take turns within each round.
# Knob: CRI_ROUNDS (lifecycles per handler, after one untimed warm-up each).

CRI_ROUNDS=${CRI_ROUNDS:-15}
CRI_BENCH=${CRI_BENCH:-$REPO/target/release/sangja-cri-bench}

cri_section() {
  local why="" shim=${SANGJA_SHIM:-$REPO/target/x86_64-unknown-linux-gnu/dist-runtime/containerd-shim-sangja-v2}
  command -v containerd >/dev/null || why="containerd not installed"
  command -v docker-registry >/dev/null || why="docker-registry not installed"
  [ -x "$shim" ] || why="$shim missing (make dist)"
  [ -x "$CRI_BENCH" ] || why="$CRI_BENCH missing (make bench builds it)"
  local tools=("sangja (containerd-shim-sangja-v2)" "sangja-runc-shim (Go runc shim, sangja)" "runc (Go runc shim, runc)")
  if [ -n "$why" ]; then
    local t
    for t in "${tools[@]}"; do skip_row "CRI whole pod lifecycle (checks included)" "$t" "$why"; done
    return 0
  fi
  local out=$WORK/cri.tsv
  if ! SANGJA_BIN=$SANGJA SANGJA_SHIM_BIN=$shim "$CRI_BENCH" "$CRI_ROUNDS" >"$out" 2>"$WORK/cri.err"; then
    local t
    for t in "${tools[@]}"; do
      skip_row "CRI whole pod lifecycle (checks included)" "$t" "sangja-cri-bench failed: $(tail -1 "$WORK/cri.err" | cut -c1-100)"
    done
    return 0
  fi
  local group tool median min max unit note
  while IFS=$'\t' read -r group tool median min max unit note; do
    row "$group" "$tool" "$median" "$min" "$max" "$unit" "$note"
  done <"$out"
}
