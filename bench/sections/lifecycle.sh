# Lifecycle of a busybox `true` container: `run`, the full create+start+wait+delete cycle,
# and each phase on its own (the other phases happen in hyperfine's untimed --prepare).

lifecycle_section() {
  local args_run=() args_cycle=() args_create=() args_start=() args_delete=()
  local name c id pid
  for name in "${RT_NAMES[@]}"; do
    c=$(rtcmd "$name")
    id=$ID_PREFIX-$name
    pid=$WORK/$name.pid
    local del="$c delete --force $id >/dev/null 2>&1 || true"
    local create="$c create --bundle $BUNDLE --pid-file $pid $id"
    args_run+=("$name" "$del" "$c run --bundle $BUNDLE $id")
    args_cycle+=("$name" "$del" "$create && $c start $id && wait_exit $pid && $c delete $id")
    args_create+=("$name" "$del" "$create")
    args_start+=("$name" "$del; $create" "$c start $id")
    args_delete+=("$name" "$del; $create && $c start $id && wait_exit $pid" "$c delete $id")
  done
  hf "lifecycle: run" -- "${args_run[@]}"
  hf "lifecycle: create+start+wait+delete" -- "${args_cycle[@]}"
  hf "phase: create" -- "${args_create[@]}"
  hf "phase: start" -- "${args_start[@]}"
  hf "phase: delete" -- "${args_delete[@]}"
  for name in "${RT_NAMES[@]}"; do purge_runtime "$name"; done
}
