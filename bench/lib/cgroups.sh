# crun 1.8.1 refuses every container on this hybrid host until hugetlb and net_cls,net_prio
# are mounted as cgroup v1 hierarchies (as systemd would mount them). Mount what is missing,
# say so, and unmount it again at exit so the host returns to its boot state.

mount_v1_for_crun() {
  local ctrl dir
  for ctrl in hugetlb net_cls,net_prio; do
    dir=/sys/fs/cgroup/$ctrl
    mountpoint -q "$dir" && continue
    mkdir -p "$dir"
    if mount -t cgroup -o "$ctrl" cgroup "$dir"; then
      echo "bench: mounted the $ctrl cgroup v1 hierarchy at $dir for crun (unmounted at exit)"
      on_exit "umount '$dir' && rmdir '$dir'"
    else
      rmdir "$dir" 2>/dev/null
      return 1
    fi
  done
}
