# The issue's targets, checked against this run's medians.

# median GROUP TOOL-PREFIX: the median of the first row in GROUP whose tool starts so.
median() {
  awk -F'\t' -v g="$1" -v t="$2" '$1 == g && index($2, t) == 1 && $3 ~ /^[0-9.]+$/ { print $3; exit }' "$RESULTS"
}

# check DESCRIPTION VALUE OP LIMIT: one verdict line (OP is an awk comparison).
check() {
  local what=$1 v=$2 op=$3 limit=$4
  if [ -z "$v" ] || [ -z "$limit" ]; then
    echo "- not measured: $what"
  elif awk -v v="$v" -v l="$limit" "BEGIN { exit !(v $op l) }"; then
    echo "- met: $what ($v $op $limit)"
  else
    echo "- MISSED: $what ($v, target $op $limit)"
  fi
}

ratio() { [ -n "$1" ] && [ -n "$2" ] && awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

targets() {
  local g s
  for g in "lifecycle: run" "lifecycle: create+start+wait+delete"; do
    s=$(median "$g" sangja)
    check "$g, sangja/crun" "$(ratio "$s" "$(median "$g" crun)")" "<=" 1.0
    check "$g, sangja/runc" "$(ratio "$s" "$(median "$g" runc)")" "<=" 0.5
  done
  for g in "peak RSS: create" "peak RSS: run"; do
    check "$g, sangja/crun" "$(ratio "$(median "$g" sangja)" "$(median "$g" crun)")" "<=" 1.0
  done
  check "binary size of sangja (bytes, stripped)" "$(stat -L -c %s "$SANGJA")" "<" $((5 << 20))
  for g in "image: fetch+unpack, cold (empty store)" "image: fetch+unpack, warm (blobs stored)"; do
    s=$(median "$g" sangja-image)
    check "$g, sangja-image / skopeo+umoci from the registry" "$(ratio "$s" "$(median "$g" "skopeo copy (registry)")")" "<=" 1.0
    local arc
    arc=$(median "$g" "skopeo copy (oci-archive)")
    [ -n "$arc" ] && check "$g, sangja-image / skopeo+umoci from the same oci-archive" "$(ratio "$s" "$arc")" "<=" 1.0
  done
  # Round 2 (issue 28).
  for g in "image: fetch+unpack, cold (empty store)" "image: fetch+unpack, warm (blobs stored)"; do
    s=$(median "$g" sangja-image)
    check "$g, sangja-image / skopeo+umoci (round 2: at least 3x faster)" "$(ratio "$s" "$(median "$g" "skopeo copy (registry)")")" "<=" 0.34
    check "$g, sangja-image / tar -xzf of the layers (round 2: within 1.5x of the floor)" "$(ratio "$s" "$(median "$g" "tar -xzf")")" "<=" 1.5
  done
  check "lifecycle: run, sangja/crun (round 2)" "$(ratio "$(median "lifecycle: run" sangja)" "$(median "lifecycle: run" crun)")" "<=" 0.75
  check "lifecycle: create+start+wait+delete, sangja/crun (round 2)" "$(ratio "$(median "lifecycle: create+start+wait+delete" sangja)" "$(median "lifecycle: create+start+wait+delete" crun)")" "<=" 0.7
  g="churn: memory cgroup per held container"
  check "$g, sangja/crun (round 2)" "$(ratio "$(median "$g" sangja)" "$(median "$g" crun)")" "<=" 1.5
  check "fetch of an image already stored, sangja-image (ms)" "$(median "image: fetch only, image already stored" sangja-image)" "<" 100
  local cold="build: cold, 6 steps (RUN, COPY, ADD tar)"
  check "$cold, sangja-image / buildah" "$(ratio "$(median "$cold" sangja-image)" "$(median "$cold" buildah)")" "<" 1.0
  check "no-change rebuild, sangja-image (ms)" "$(median "build: no-change rebuild, 6 steps" sangja-image)" "<" 500
  check "shim RSS per running container, containerd-shim-sangja-v2 (MiB)" "$(median "shim RSS per running container" sangja-shim)" "<=" 3
  check "ctr run --rm, containerd-shim-sangja-v2 / Go runc shim with runc" "$(ratio "$(median "ctr run --rm (true), wall time" sangja-shim)" "$(median "ctr run --rm (true), wall time" "containerd-shim-runc-v2, runc")")" "<" 1.0
  if ! grep -q 'sangja-image pull' "$RESULTS"; then
    echo "- note: sangja-image has no pull yet; its image rows load the registry's copy of the image from an oci-archive (see the tool column)."
  fi
  baseline_rows
}

# Issue 28: no sangja row may get worse than the results at cd4f3f5 (kept in
# bench/baseline-cd4f3f5.md). Timings move with the machine's load between runs, so a row
# counts as worse only beyond 10%; the line gives both medians either way.
BASELINE=${BASELINE:-$REPO/bench/baseline-cd4f3f5.md}
baseline_rows() {
  [ -f "$BASELINE" ] || { echo "- not measured: rows against the baseline ($BASELINE missing)"; return; }
  local group tool old new
  while IFS=$'\t' read -r group tool old; do
    new=$(awk -F'\t' -v g="$group" -v t="$tool" '$1 == g && $2 == t && $3 ~ /^[0-9.]+$/ { print $3; exit }' "$RESULTS")
    [ -n "$new" ] || continue
    check "$group, $tool against cd4f3f5 ($old)" "$new" "<=" "$(awk -v o="$old" 'BEGIN { printf "%.2f", o * 1.10 }')"
  done < <(awk -F' \\| ' '/^\| / && $2 ~ /^sangja/ && $3 ~ /^[0-9.]+$/ { sub(/^\| /, "", $1); print $1 "\t" $2 "\t" $3 }' "$BASELINE")
}
