# Churn: CHURN_N busybox `true` containers, CHURN_PAR at a time: create them all, measure
# what each held container costs, start them all, wait, delete them all. The wall time
# covers create+start+wait+delete (the memory reading in between is not counted).

CHURN_N=${CHURN_N:-100}
CHURN_PAR=${CHURN_PAR:-2}
CHURN_ROUNDS=${CHURN_ROUNDS:-3}

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# Sum over the held init processes of: Pss (KiB) and the container's memory cgroup usage (KiB).
held_memory_kib() {
  local dir=$1 f pid pss=0 cg=0 v path
  for f in "$dir"/*.pid; do
    pid=$(<"$f")
    v=$(awk '/^Pss:/ { print $2 }' "/proc/$pid/smaps_rollup")
    pss=$((pss + v))
    path=$(awk -F: '$2 == "memory" { print $3 }' "/proc/$pid/cgroup")
    v=$(<"/sys/fs/cgroup/memory$path/memory.usage_in_bytes")
    cg=$((cg + v / 1024))
  done
  echo "$pss $cg"
}

# churn_round NAME: prints "wall_ms pss_kib_per_container cgroup_kib_per_container".
churn_round() {
  local name=$1 c dir t0 t1 m0 m1 mem
  c=$(rtcmd "$name")
  dir=$WORK/churn-$name
  rm -rf "$dir" && mkdir -p "$dir"
  t0=$(now_ms)
  # shellcheck disable=SC2086
  seq "$CHURN_N" | xargs -P "$CHURN_PAR" -I{} $c create --bundle "$BUNDLE" --pid-file "$dir/{}.pid" $ID_PREFIX-{} || return 1
  m0=$(now_ms)
  mem=$(held_memory_kib "$dir") || return 1
  m1=$(now_ms)
  # shellcheck disable=SC2086
  seq "$CHURN_N" | xargs -P "$CHURN_PAR" -I{} $c start $ID_PREFIX-{} || return 1
  local f
  for f in "$dir"/*.pid; do wait_exit "$f"; done
  # shellcheck disable=SC2086
  seq "$CHURN_N" | xargs -P "$CHURN_PAR" -I{} $c delete $ID_PREFIX-{} || return 1
  t1=$(now_ms)
  set -- $mem
  echo "$((t1 - t0 - (m1 - m0))) $(($1 / CHURN_N)) $(($2 / CHURN_N))"
}

churn_section() {
  local name r out wall=() pss=() cg=()
  for name in "${RT_NAMES[@]}"; do
    wall=() pss=() cg=()
    for ((r = 0; r < CHURN_ROUNDS; r++)); do
      if ! out=$(churn_round "$name"); then
        purge_runtime "$name"
        break
      fi
      set -- $out
      wall+=("$1") pss+=("$2") cg+=("$3")
    done
    local note="$CHURN_N containers, $CHURN_PAR at a time, $CHURN_ROUNDS rounds"
    row_samples "churn: wall time ($CHURN_N containers)" "$name" ms "$note" "${wall[@]}"
    row_samples "churn: Pss per held container" "$name" KiB "runtime processes waiting for start" "${pss[@]}"
    if [ -n "${RT_NOTE[$name]:-}" ]; then
      skip_row "churn: memory cgroup per held container" "$name" "${RT_NOTE[$name]}"
    else
      row_samples "churn: memory cgroup per held container" "$name" KiB "memory.usage_in_bytes while created" "${cg[@]}"
    fi
    purge_runtime "$name"
  done
}
