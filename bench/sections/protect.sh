# The cost of keeping a container from writing through the runtime binary (DESIGN.md):
# bench/protect replays runtime/src/process/exe.rs's sequence on the sangja binary, in the
# sangja --root directory, next to the sealed-memfd alternative and no protection at all.

PROTECT_ITERATIONS=${PROTECT_ITERATIONS:-300}

protect_section() {
  local group="protect runtime binary (per create/exec)"
  if [ ! -x "$PROTECT_BIN" ]; then
    skip_row "$group" "sangja" "bench/protect was not built ($PROTECT_BIN)"
    return
  fi
  local out name median min max
  out=$("$PROTECT_BIN" "$SANGJA" "$RUNDIR/root-sangja" "$PROTECT_ITERATIONS") || {
    skip_row "$group" "sangja" "bench/protect failed"
    return
  }
  local size_mib
  size_mib=$(stat -L -c %s "$SANGJA" | awk '{ printf "%.2f", $1 / 1048576 }')
  while IFS=$'\t' read -r name median min max; do
    local note="$PROTECT_ITERATIONS iterations incl. close"
    case $name in
      sealed*) note+="; holds a $size_mib MiB unshared copy per waiting init" ;;
      read-only*) note+="; shares the page cache" ;;
    esac
    row "$group" "sangja: $name" "$median" "$min" "$max" µs "$note"
  done <<<"$out"
}
