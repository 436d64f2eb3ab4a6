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
  check "fetch of an image already stored, sangja-image (ms)" "$(median "image: fetch only, image already stored" sangja-image)" "<" 100
  local cold="build: cold, 6 steps (RUN, COPY, ADD tar)"
  check "$cold, sangja-image / buildah" "$(ratio "$(median "$cold" sangja-image)" "$(median "$cold" buildah)")" "<" 1.0
  check "no-change rebuild, sangja-image (ms)" "$(median "build: no-change rebuild, 6 steps" sangja-image)" "<" 500
  check "shim RSS per running container, containerd-shim-sangja-v2 (MiB)" "$(median "shim RSS per running container" sangja-shim)" "<=" 3
  check "ctr run --rm, containerd-shim-sangja-v2 / Go runc shim with runc" "$(ratio "$(median "ctr run --rm (true), wall time" sangja-shim)" "$(median "ctr run --rm (true), wall time" "containerd-shim-runc-v2, runc")")" "<" 1.0
  if ! grep -q 'sangja-image pull' "$RESULTS"; then
    echo "- note: sangja-image has no pull yet; its image rows load the registry's copy of the image from an oci-archive (see the tool column)."
  fi
}
