# Shims: what each running container costs in shim memory under a private containerd
# 1.6, and `ctr run --rm` wall time, for containerd-shim-sangja-v2 (running sangja),
# containerd's Go runc shim with runc, and the Go shim with sangja as its runc binary.
# Knobs: SHIM_N (containers held per row), SHIM_RUNS (ctr run --rm samples).

SHIM_N=${SHIM_N:-5}
SHIM_RUNS=${SHIM_RUNS:-15}
SANGJA_SHIM=${SANGJA_SHIM:-$REPO/target/x86_64-unknown-linux-gnu/dist-runtime/containerd-shim-sangja-v2}
SHIM_IMAGE=docker.io/library/busybox:sangja-bench

# A busybox image for ctr: rootfs -> umoci layout -> skopeo oci-archive -> ctr import.
shim_image() {
  local d=$WORK/shim-image img
  img="$d/layout:bb"
  umoci init --layout "$d/layout" && umoci new --image "$img" &&
    umoci unpack --image "$img" "$d/unpacked" >/dev/null &&
    bash "$REPO/scripts/mkrootfs.sh" "$d/unpacked/rootfs" >/dev/null &&
    umoci repack --image "$img" "$d/unpacked" &&
    skopeo copy --quiet "oci:$img" "oci-archive:$d/bb.tar:$SHIM_IMAGE" &&
    shim_ctr image import "$d/bb.tar" >/dev/null
}

shim_ctr() { ctr --address "$SHIM_SOCK" --namespace "$SHIM_NS" "$@"; }

# The shim processes serving our namespace.
shim_pids() { pgrep -f -- "-namespace $SHIM_NS " || true; }

# shim_memory NAME RUN-ARGS...: holds SHIM_N sleeping containers started with
# `ctr run -d RUN-ARGS`, prints "rss_kib pss_kib shims" summed over their shims.
shim_memory() {
  local name=$1 i rss=0 pss=0 n=0 pid v
  shift
  for ((i = 0; i < SHIM_N; i++)); do
    shim_ctr run -d "$@" "$SHIM_IMAGE" "$ID_PREFIX-$name-$i" sleep 1000 >/dev/null || return 1
  done
  sleep 1
  for pid in $(shim_pids); do
    v=$(awk '/^Rss:/ { r = $2 } /^Pss:/ { p = $2 } END { print r, p }' "/proc/$pid/smaps_rollup") || continue
    set -- $v
    rss=$((rss + $1)) pss=$((pss + $2)) n=$((n + 1))
  done
  for ((i = 0; i < SHIM_N; i++)); do
    shim_ctr task kill --signal SIGKILL "$ID_PREFIX-$name-$i" >/dev/null 2>&1
  done
  for ((i = 0; i < SHIM_N; i++)); do
    while shim_ctr task ls 2>/dev/null | grep -q "^$ID_PREFIX-$name-$i .*RUNNING"; do sleep 0.1; done
    shim_ctr task delete "$ID_PREFIX-$name-$i" >/dev/null 2>&1
    shim_ctr container delete "$ID_PREFIX-$name-$i" >/dev/null 2>&1
  done
  echo "$rss $pss $n"
}

shims_section() {
  local why=""
  command -v containerd >/dev/null || why="containerd not installed"
  [ -x "$SANGJA_SHIM" ] || why="$SANGJA_SHIM missing (make dist)"
  local variants=("sangja-shim (containerd-shim-sangja-v2, sangja)" "containerd-shim-runc-v2, runc" "containerd-shim-runc-v2, sangja as runc binary")
  local groups=("shim RSS per running container" "shim Pss per running container" "shim RSS per container, $SHIM_N in one sandbox" "ctr run --rm (true), wall time")
  if [ -n "$why" ]; then
    local g v
    for g in "${groups[@]}"; do for v in "${variants[@]}"; do skip_row "$g" "$v" "$why"; done; done
    return 0
  fi
  local d=$WORK/containerd
  SHIM_NS=$ID_PREFIX-shims
  SHIM_SOCK=$d/containerd.sock
  mkdir -p "$d" "$WORK/shimbin"
  # The shim runs the sangja beside the path containerd starts it by.
  ln -sf "$SANGJA_SHIM" "$WORK/shimbin/containerd-shim-sangja-v2"
  ln -sf "$SANGJA" "$WORK/shimbin/sangja"
  cat >"$d/config.toml" <<EOF
version = 2
root = "$d/root"
state = "$d/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$SHIM_SOCK"
[plugins."io.containerd.internal.v1.opt"]
  path = "$d/opt"
EOF
  containerd --config "$d/config.toml" >"$d/log" 2>&1 &
  local cpid=$!
  on_exit "kill $cpid 2>/dev/null; for p in \$(pgrep -f -- '-namespace $SHIM_NS '); do kill -9 \$p; done; rm -rf /run/containerd/sangja/$SHIM_NS /run/containerd/runc/$SHIM_NS; rmdir /run/containerd/sangja 2>/dev/null; find /sys/fs/cgroup -maxdepth 2 -type d -name '$SHIM_NS' -exec rmdir {} + 2>/dev/null"
  local i
  for ((i = 0; i < 100; i++)); do shim_ctr version >/dev/null 2>&1 && break; sleep 0.1; done
  if ! shim_image >"$WORK/shim-image.log" 2>&1; then
    local g v
    for g in "${groups[@]}"; do for v in "${variants[@]}"; do skip_row "$g" "$v" "image import failed: $(tail -1 "$WORK/shim-image.log")"; done; done
    return 0
  fi
  local args_of=(
    "--runtime $WORK/shimbin/containerd-shim-sangja-v2"
    "--runc-binary /usr/sbin/runc"
    "--runc-binary $SANGJA"
  )
  local k out rss pss n
  for k in 0 1 2; do
    # shellcheck disable=SC2086
    if out=$(shim_memory "v$k" ${args_of[$k]}); then
      set -- $out
      rss=$(awk -v r="$1" -v n="$SHIM_N" 'BEGIN { printf "%.2f", r / n / 1024 }')
      pss=$(awk -v r="$2" -v n="$SHIM_N" 'BEGIN { printf "%.2f", r / n / 1024 }')
      row "${groups[0]}" "${variants[$k]}" "$rss" "$rss" "$rss" MiB "$SHIM_N containers, $3 shim processes"
      row "${groups[1]}" "${variants[$k]}" "$pss" "$pss" "$pss" MiB "$SHIM_N containers, $3 shim processes"
    else
      skip_row "${groups[0]}" "${variants[$k]}" "ctr run -d failed: $(tail -1 "$d/log" | cut -c1-100)"
    fi
    # The same containers as one pod (io.kubernetes.cri.sandbox-id): the Go runc
    # shim groups them too.
    # shellcheck disable=SC2086
    if out=$(shim_memory "p$k" ${args_of[$k]} --annotation "io.kubernetes.cri.sandbox-id=$ID_PREFIX-pod$k"); then
      set -- $out
      rss=$(awk -v r="$1" -v n="$SHIM_N" 'BEGIN { printf "%.2f", r / n / 1024 }')
      row "${groups[2]}" "${variants[$k]}" "$rss" "$rss" "$rss" MiB "$SHIM_N containers, $3 shim processes"
    fi
  done
  export -f shim_ctr
  export SHIM_SOCK SHIM_NS SHIM_IMAGE
  local saved_runs=$RUNS
  RUNS=$SHIM_RUNS
  hf "${groups[3]}" -- \
    "${variants[0]}" "" "shim_ctr run --rm ${args_of[0]} \$SHIM_IMAGE sb-\$\$-\$RANDOM true" \
    "${variants[1]}" "" "shim_ctr run --rm ${args_of[1]} \$SHIM_IMAGE sb-\$\$-\$RANDOM true" \
    "${variants[2]}" "" "shim_ctr run --rm ${args_of[2]} \$SHIM_IMAGE sb-\$\$-\$RANDOM true"
  RUNS=$saved_runs
  kill "$cpid" 2>/dev/null
  wait "$cpid" 2>/dev/null || true
}
