# The runtimes under test, each with a private --root, and the one bundle they all run:
# busybox `true` with `runc spec`'s defaults (all namespaces, read-only rootfs).

declare -A RT_BIN
RT_NAMES=()

# add_runtime NAME BINARY [REASON-IT-CANNOT-RUN]
add_runtime() {
  local name=$1 bin=$2 reason=${3:-}
  if [ -n "$reason" ]; then
    RT_SKIP[$name]=$reason
    return
  fi
  RT_BIN[$name]=$bin
  RT_NAMES+=("$name")
  mkdir -p "$RUNDIR/root-$name"
}
declare -A RT_SKIP

# The command prefix for a runtime, as a string for hyperfine and eval.
rtcmd() { printf '%s --root %s' "${RT_BIN[$1]}" "$RUNDIR/root-$1"; }

make_bundle() {
  local dir=$1
  bash "$REPO/scripts/mkrootfs.sh" "$dir/rootfs" >/dev/null
  /usr/sbin/runc spec --bundle "$dir"
  jq '.process.terminal = false | .process.args = ["/bin/true"]' "$dir/config.json" >"$dir/config.json.new"
  mv "$dir/config.json.new" "$dir/config.json"
}

# Deletes every container a runtime still has under its private root (after a failure).
purge_runtime() {
  local name=$1 id
  for id in $(ls "$RUNDIR/root-$name" 2>/dev/null); do
    [ -d "$RUNDIR/root-$name/$id" ] || continue
    eval "$(rtcmd "$name")" delete --force "$id" >/dev/null 2>&1 || true
  done
}

# Waits until the process in pid file $1 has exited. PID 1 here reaps orphans only every
# few seconds, so a zombie counts as gone. A builtin-only loop: no fork per poll.
wait_exit() {
  local pid s
  # Pid files end without a newline: read then fails but still sets pid.
  read -r pid <"$1" || [ -n "$pid" ] || return 1
  while { read -r _ _ s _ <"/proc/$pid/stat"; } 2>/dev/null && [ "$s" != Z ]; do :; done
}
export -f wait_exit
