# What a runtime costs besides time: its peak RSS (GNU time's %M: the runtime process and
# the children it waited for) during create and run, and the size of its binary.

RSS_SAMPLES=${RSS_SAMPLES:-10}

# peak_rss_kib CMD...: the runtime's peak RSS in KiB for one invocation.
peak_rss_kib() {
  local out=$WORK/time.out
  /usr/bin/time -f %M -o "$out" "$@" >/dev/null 2>"$WORK/rss.err" || { cat "$WORK/rss.err" >&2; return 1; }
  cat "$out"
}

footprint_section() {
  local name c id pid i create=() run=()
  for name in "${RT_NAMES[@]}"; do
    c=$(rtcmd "$name")
    id=$ID_PREFIX-rss-$name
    pid=$WORK/$name.pid
    create=() run=()
    for ((i = 0; i < RSS_SAMPLES; i++)); do
      # shellcheck disable=SC2086
      create+=("$(peak_rss_kib $c create --bundle "$BUNDLE" --pid-file "$pid" "$id")") || break
      $c delete --force "$id" >/dev/null 2>&1
      # shellcheck disable=SC2086
      run+=("$(peak_rss_kib $c run --bundle "$BUNDLE" "$id")") || break
    done
    row_samples "peak RSS: create" "$name" KiB "$RSS_SAMPLES runs" "${create[@]}"
    row_samples "peak RSS: run" "$name" KiB "$RSS_SAMPLES runs" "${run[@]}"
    purge_runtime "$name"
  done
  for name in "${RT_NAMES[@]}"; do
    local bin=${RT_BIN[$name]} size link
    size=$(stat -L -c %s "$bin")
    link=$(file -L -b "$bin" | grep -o -e 'statically linked' -e 'dynamically linked' -e 'static-pie linked' || true)
    link+=", $(file -L -b "$bin" | grep -o -e 'not stripped' -e 'stripped' | head -1)"
    local mib
    mib=$(awk -v s="$size" 'BEGIN { printf "%.2f", s / 1048576 }')
    row "binary size" "$name" "$mib" "$mib" "$mib" MiB "$size bytes, $link"
  done
}
