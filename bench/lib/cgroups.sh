# crun 1.8.1 refuses every container on this hybrid host until hugetlb and net_cls,net_prio
# are mounted as cgroup v1 hierarchies (as systemd would mount them). Mount what is missing,
# say so, and leave it mounted: an unmounted v1 hierarchy does not go away while any
# process created since its mount lives (their css_sets hold its root), it stays listed in
# every /proc/PID/cgroup, and containerd's runc shim then fails "cannot find cgroup mount
# destination" for every task (no OOM events, no stats) until the machine reboots.

mount_v1_for_crun() {
  local ctrl dir
  for ctrl in hugetlb net_cls,net_prio; do
    dir=/sys/fs/cgroup/$ctrl
    mountpoint -q "$dir" && continue
    mkdir -p "$dir"
    if mount -t cgroup -o "$ctrl" cgroup "$dir"; then
      echo "bench: mounted the $ctrl cgroup v1 hierarchy at $dir for crun (left mounted: see bench/lib/cgroups.sh)"
    else
      rmdir "$dir" 2>/dev/null
      return 1
    fi
  done
}
