# Turns the results TSV into the printed table and bench/results.md.

# Adds the "ratio to sangja" column: each row's median over its group's first sangja* row.
with_ratios() {
  awk -F'\t' -v OFS='\t' '
    { g[NR] = $1; line[NR] = $0; med[NR] = $3
      if (!($1 in ref) && $2 ~ /^sangja/ && $3 ~ /^[0-9.]+$/) ref[$1] = $3 }
    END { for (i = 1; i <= NR; i++) {
      r = "-"
      if ((g[i] in ref) && med[i] ~ /^[0-9.]+$/ && ref[g[i]] > 0) r = sprintf("%.2f", med[i] / ref[g[i]])
      print line[i], r } }' "$1"
}

print_table() {
  {
    printf 'GROUP\tTOOL\tMEDIAN\tMIN\tMAX\tUNIT\tNOTE\tx SANGJA\n'
    with_ratios "$1"
  } | awk -F'\t' -v OFS='\t' '{ print $1, $2, $3, $4, $5, $6, $8 }' | column -t -s$'\t'
}

markdown_table() {
  printf '| what | tool | median | min | max | unit | ratio to sangja | note |\n'
  printf '|---|---|---:|---:|---:|---|---:|---|\n'
  with_ratios "$1" | awk -F'\t' '{ printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $8, $7 }'
}

machine_description() {
  local cpu mem os cg
  cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
  mem=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
  os=$(. /etc/os-release && echo "$PRETTY_NAME")
  if [ -f /sys/fs/cgroup/cgroup.controllers ]; then cg="cgroup v2"; elif [ -d /sys/fs/cgroup/unified ]; then cg="cgroup v1 hybrid"; else cg="cgroup v1"; fi
  echo "- Machine: $os, kernel $(uname -r), $(nproc) x $cpu, $mem RAM, $cg"
  echo "- Runtimes: sangja $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?') (make dist: static PIE, dist-runtime profile), $(/usr/sbin/runc --version | head -1), $(/usr/bin/crun --version | head -1)"
  echo "- Image tools: $(skopeo --version), $(umoci --version), $(hyperfine --version)"
  echo "- Load average at start: $LOAD_START; at end: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine makes timings noisy; ratios within one run are what count)"
}
