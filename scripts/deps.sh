#!/usr/bin/env bash
# Installs what building and testing sangja needs on a fresh Debian 12 machine.
# apt-get update runs first whenever anything is missing, so a brand-new machine passes.
set -euo pipefail
PKGS=(
  build-essential pkg-config libseccomp-dev   # building (libseccomp crate links libseccomp)
  busybox-static                              # test and demo rootfs
  runc crun                                   # reference runtimes
  iproute2 jq procps util-linux               # test tooling
  containernetworking-plugins iptables        # sangja-image run networking: CNI bridge, host-local, portmap, firewall, loopback
  uidmap passwd                               # rootless tests: newuidmap/newgidmap, useradd --add-subuids
  containerd podman skopeo umoci              # real clients and image interop
  criu                                        # checkpoint/restore (CRIU 3.17 fails `criu check` on this kernel: failure paths tested)
  buildah                                     # the oracle for sangja-image build
  docker-registry apache2-utils openssl       # a local registry with htpasswd auth; test certs and tokens
  golang-github-containers-common             # /usr/share/containers/seccomp.json
  hyperfine time file curl                    # make bench (timings, peak RSS, linkage, registry probe)
  protobuf-compiler                           # protoc: the k8s-cri crate generates the CRI v1 types (clients/)
)
# Installed without their Recommends: docker.io's (needrestart, apparmor, cgroupfs-mount,
# git) would hook every later apt run or touch the host's cgroup mounts, and the tests
# need none of them. docker.io brings /usr/bin/docker and /usr/sbin/dockerd (20.10).
BARE_PKGS=(
  docker.io                                   # real client: dockerd with --add-runtime sangja
)
missing_of() {
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"
  done
}
mapfile -t missing < <(missing_of "${PKGS[@]}")
mapfile -t missing_bare < <(missing_of "${BARE_PKGS[@]}")
if [ "${#missing[@]}" -gt 0 ] || [ "${#missing_bare[@]}" -gt 0 ]; then
  echo "deps: installing ${missing[*]} ${missing_bare[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  [ "${#missing[@]}" -eq 0 ] || apt-get install -y -q "${missing[@]}"
  [ "${#missing_bare[@]}" -eq 0 ] || apt-get install -y -q --no-install-recommends "${missing_bare[@]}"
fi
# Debian's docker-registry, containerd and docker.io packages start services on install
# on machines with an init system; none of our tests rely on those instances (the
# clients suite starts its own dockerd with its own data-root, exec-root and socket).
command -v cargo >/dev/null || { echo "deps: cargo not found (rustup toolchain expected)" >&2; exit 1; }
