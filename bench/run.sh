#!/usr/bin/env bash
# make bench: sangja against runc, crun, skopeo and umoci, side by side in one run.
# Prints the table and writes bench/results.md. Expects the binaries built (the Makefile's
# bench target builds them); knobs: RUNS, WARMUP, SECTIONS, IMG_RUNS, CHURN_N, CHURN_ROUNDS, SHIM_N, SHIM_RUNS, CRI_ROUNDS.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
SANGJA=${SANGJA:-$REPO/target/x86_64-unknown-linux-gnu/dist-runtime/sangja}
SANGJA_IMAGE=${SANGJA_IMAGE:-$REPO/target/dist/sangja-image}
PROTECT_BIN=${PROTECT_BIN:-$REPO/target/bench-protect/release/sangja-bench-protect}
RUNS=${RUNS:-30}
WARMUP=${WARMUP:-3}
SECTIONS=${SECTIONS:-footprint protect lifecycle churn images build shims cri}
OUT=${OUT:-$REPO/bench/results.md}

[ "$(id -u)" = 0 ] || { echo "bench: needs root (containers, mounts, cgroups)" >&2; exit 1; }
for b in "$SANGJA" "$SANGJA_IMAGE"; do
  [ -x "$b" ] || { echo "bench: $b missing; run 'make bench'" >&2; exit 1; }
done

# shellcheck source=/dev/null
for f in "$REPO"/bench/lib/*.sh "$REPO"/bench/sections/*.sh; do . "$f"; done

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
STARTED=$(date +%s)
ID_PREFIX=sjb$$
WORK=$(mktemp -d /tmp/sangja-bench.XXXXXX)
# State directories go under /run, where /run/runc and /run/crun live (tmpfs on most hosts;
# on this VM /run is the ext4 root, and every runtime pays the same for it).
RUNDIR=$(mktemp -d /run/sangja-bench.XXXXXX)
RESULTS=$WORK/results.tsv
: >"$RESULTS"
trap run_cleanups EXIT
trap 'exit 130' INT TERM
on_exit "rm -rf '$WORK'"
on_exit "rm -rf '$RUNDIR'"

BUNDLE=$WORK/bundle
make_bundle "$BUNDLE"

add_runtime sangja "$SANGJA"
add_runtime runc /usr/sbin/runc
if mount_v1_for_crun; then
  add_runtime crun /usr/bin/crun
else
  add_runtime crun /usr/bin/crun "crun needs hugetlb and net_cls,net_prio as cgroup v1 hierarchies; mounting them failed"
fi
on_exit 'for n in "${RT_NAMES[@]}"; do purge_runtime "$n"; done'
on_exit "find /sys/fs/cgroup -depth -mindepth 2 -maxdepth 4 -type d -name '$ID_PREFIX-*' -exec rmdir {} + 2>/dev/null"

# A runtime that leaves its init in our own memory cgroup creates no cgroups: its numbers
# then lack that work, and its rows say so.
probe_cgroup() {
  local name=$1 c pid mine theirs
  c=$(rtcmd "$name")
  $c create --bundle "$BUNDLE" --pid-file "$WORK/probe.pid" "$ID_PREFIX-probe" >/dev/null 2>&1 || return 0
  pid=$(<"$WORK/probe.pid")
  mine=$(grep -E '^[0-9]+:memory:' /proc/self/cgroup)
  theirs=$(grep -E '^[0-9]+:memory:' "/proc/$pid/cgroup")
  [ "$mine" = "$theirs" ] && RT_NOTE[$name]="creates no cgroup yet (init stays in the caller's)"
  $c delete --force "$ID_PREFIX-probe" >/dev/null 2>&1 || true
}

# A runtime that cannot run the bundle at all gets a reason, not numbers.
usable=()
for name in "${RT_NAMES[@]}"; do
  if err=$(eval "$(rtcmd "$name")" run --bundle "$BUNDLE" "$ID_PREFIX-probe" 2>&1); then
    usable+=("$name")
    probe_cgroup "$name"
  else
    RT_SKIP[$name]="cannot run a busybox container here: $(echo "$err" | tail -1 | cut -c1-100)"
    purge_runtime "$name"
  fi
done
RT_NAMES=("${usable[@]}")
echo "bench: runtimes ${RT_NAMES[*]}; sections: $SECTIONS"

for s in $SECTIONS; do
  echo "== $s"
  t=$(date +%s)
  "${s}_section"
  echo "== $s took $(($(date +%s) - t))s"
done

# Every per-runtime group gets a row saying why a skipped runtime has no number.
for name in "${!RT_SKIP[@]}"; do
  for g in $(awk -F'\t' '$2 == "sangja" { print $1 }' "$RESULTS" | sort -u | tr ' ' '\001'); do
    skip_row "${g//$'\001'/ }" "$name" "${RT_SKIP[$name]}"
  done
done

elapsed=$(($(date +%s) - STARTED))
echo
print_table "$RESULTS"
echo
targets | tee "$WORK/targets.md"
{
  echo "# sangja benchmark results"
  echo
  echo "Written by \`make bench\` ($(date -u '+%Y-%m-%d %H:%M UTC'); measuring took ${elapsed}s). Lower is better everywhere; the ratio is the row's median over sangja's in the same group."
  echo
  machine_description
  echo "- Lifecycle: hyperfine, $WARMUP warm-up + $RUNS runs per row; a busybox \`true\` container from \`runc spec\` defaults (all namespaces, read-only rootfs); a private --root per runtime under /run. Phases: the other phases run in hyperfine's untimed --prepare."
  [ -n "${IMAGE_DESC:-}" ] && echo "- Image: $IMAGE_DESC, built with umoci and served by a local docker-registry. hyperfine: fetch+unpack rows $IMG_RUNS runs each (cold first; its last run leaves the stores filled for the warm rows), fetch-only rows 1 warm-up + $IMG_FETCH_RUNS runs."
  echo "- Churn: $CHURN_N containers, $CHURN_PAR at a time, $CHURN_ROUNDS rounds: create all, read memory, start all, wait, delete all."
  echo "- Shims: a private containerd 1.6 (CRI off); per row $SHIM_N containers (\`sleep\`) held with \`ctr run -d\`, Rss and Pss from each shim's smaps_rollup summed and divided by the containers; the sandbox rows give the containers one io.kubernetes.cri.sandbox-id. \`ctr run --rm\` of \`true\`: hyperfine, $WARMUP warm-up + $SHIM_RUNS runs."
  echo "- CRI: a private containerd 1.6 with its CRI plugin from docs/containerd-cri.toml, driven by the clients suite's CRI v1 client (clients/src/cri); per handler 1 untimed warm-up + $CRI_ROUNDS pod lifecycles, handlers taking turns; each row is one CRI call's wall time (ContainerStatus twice per lifecycle), the whole-lifecycle row includes the suite's checks between calls (cgroup reads, the websocket exec exchange). Host-network pods, busybox from a local registry."
  echo "- Peak RSS: GNU time %M of the runtime command (itself and the children it waited for), $RSS_SAMPLES runs."
  echo
  markdown_table "$RESULTS"
  echo
  echo "## Targets"
  echo
  cat "$WORK/targets.md"
} >"$OUT"
echo "bench: wrote $OUT (${elapsed}s)"
