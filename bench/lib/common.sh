# Shared by every bench section: where results go, how a row is recorded, cleanup.
# Sourced by bench/run.sh; sections rely on RESULTS, WORK, RUNS, WARMUP being set there.

# A row: group, tool, median, min, max, unit, note. The ratio column is computed at render
# time against the group's row whose tool starts with "sangja", so a row needs nothing else.
row() {
  local group=$1 tool=$2 median=$3 min=$4 max=$5 unit=$6 note=${7:-}
  # What a runtime leaves out (run.sh's probe) travels with every one of its rows.
  [ -n "${RT_NOTE[$tool]:-}" ] && note="${note:+$note; }${RT_NOTE[$tool]}"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$group" "$tool" "$median" "$min" "$max" "$unit" "$note" >>"$RESULTS"
  printf '  %-44s %-28s %10s %s  (min %s, max %s)%s\n' "$group" "$tool" "$median" "$unit" "$min" "$max" "${note:+  [$note]}"
}

# A row that could not be measured here: the reason goes in the table instead of a number.
skip_row() {
  local group=$1 tool=$2 reason=$3
  printf '%s\t%s\tn/a\tn/a\tn/a\t\t%s\n' "$group" "$tool" "$reason" >>"$RESULTS"
  printf '  %-44s %-28s  not measured: %s\n' "$group" "$tool" "$reason"
}

# Median, min and max of numbers on stdin, printed as "median min max" with 2 decimals.
stats() {
  grep . | sort -g | awk '{v[NR]=$1} END {
    if (NR == 0) exit 1
    m = (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2
    printf "%.2f %.2f %.2f\n", m, v[1], v[NR] }'
}

# row_samples GROUP TOOL UNIT NOTE VALUE...: a row from raw samples.
row_samples() {
  local group=$1 tool=$2 unit=$3 note=$4
  shift 4
  local s
  s=$(printf '%s\n' "$@" | stats) || { skip_row "$group" "$tool" "no samples"; return; }
  # shellcheck disable=SC2086
  row "$group" "$tool" $s "$unit" "$note"
}

# hf GROUP -- NAME PREPARE COMMAND [NAME PREPARE COMMAND ...]
# One hyperfine run over several commands (each with its own --prepare, "" for none);
# every command becomes a row in GROUP, in ms. Commands run in bash with the functions
# exported by the caller, and hyperfine subtracts the cost of spawning that shell.
hf() {
  local group=$1
  shift 2
  local args=() names=() json
  json=$(mktemp -p "$WORK" hf.XXXXXX.json)
  while [ $# -gt 0 ]; do
    names+=("$1")
    args+=(--command-name "$1" --prepare "${2:-true}" "$3")
    shift 3
  done
  if ! hyperfine --shell bash --style none --warmup "$WARMUP" --runs "$RUNS" \
      --export-json "$json" "${args[@]}" >"$WORK/hf.log" 2>&1; then
    tail -5 "$WORK/hf.log" >&2
    for n in "${names[@]}"; do skip_row "$group" "$n" "failed: $(grep -m1 -i error "$WORK/hf.log" | cut -c1-120)"; done
    return 0
  fi
  local i=0 n
  for n in "${names[@]}"; do
    # shellcheck disable=SC2046
    row "$group" "$n" $(jq -r ".results[$i] | [.median, .min, .max] | map(. * 1000 * 100 | round / 100) | @tsv" "$json") ms "$RUNS runs"
    i=$((i + 1))
  done
}

# Cleanup actions run in reverse order on exit, whatever the exit status.
declare -A RT_NOTE
CLEANUPS=()
on_exit() { CLEANUPS+=("$1"); }
run_cleanups() {
  local i
  for ((i = ${#CLEANUPS[@]} - 1; i >= 0; i--)); do
    eval "${CLEANUPS[$i]}" || true
  done
  CLEANUPS=()
}
