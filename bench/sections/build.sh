# Builds: a 6-step Dockerfile (FROM, RUN, COPY of a directory, ADD of a .tar.gz, RUN,
# WORKDIR) from the busybox bundle's rootfs, by sangja-image (RUN steps in sangja) and by
# buildah bud (apt; chroot isolation, buildah's lightest: no runtime, no namespaces for
# RUN, so the comparison favours buildah). Cold: every step runs (`--no-cache`; buildah
# without --layers); no-change rebuild: every step from the layer cache.
BUILD_RUNS=${BUILD_RUNS:-10}

build_section() {
  local g_cold="build: cold, 6 steps (RUN, COPY, ADD tar)"
  local g_re="build: no-change rebuild, 6 steps"
  local W=$WORK/build si=$SANGJA_IMAGE
  mkdir -p "$W/ctx/site" "$W/tarsrc/pkg"
  for i in $(seq 50); do head -c 2048 /dev/urandom | base64 >"$W/ctx/site/f$i.txt"; done
  echo inside >"$W/tarsrc/pkg/inside"
  tar -C "$W/tarsrc" -czf "$W/ctx/pkg.tar.gz" pkg
  cat >"$W/ctx/Dockerfile" <<'DF'
FROM docker.io/library/busybox:bench
RUN mkdir -p /opt/app/data && echo built > /opt/app/data/marker
COPY site/ /opt/app/site/
ADD pkg.tar.gz /opt/
RUN ls /opt/app/site | wc -l > /opt/app/count
WORKDIR /opt/app
DF
  if ! "$si" --store "$W/ss" import "$BUNDLE/rootfs" busybox:bench >"$W/import.log" 2>&1; then
    skip_row "$g_cold" sangja-image "importing the base image failed: $(tail -1 "$W/import.log")"
    return
  fi
  local sib="$si --store $W/ss build -q --runtime $SANGJA"
  if ! $sib -t b:1 "$W/ctx" >"$W/si.log" 2>&1; then
    skip_row "$g_cold" sangja-image "the build failed: $(tail -1 "$W/si.log" | cut -c1-100)"
    skip_row "$g_re" sangja-image "the build failed"
  fi
  local bh=""
  if command -v buildah >/dev/null; then
    echo '{"default":[{"type":"insecureAcceptAnything"}]}' >"$W/policy.json"
    bh="buildah --root $W/bh-root --runroot $W/bh-run --storage-driver vfs"
    on_exit "$bh rm --all >/dev/null 2>&1; rm -rf $W/bh-root $W/bh-run"
    "$si" --store "$W/ss" save -o "$W/base.tar" busybox:bench
    if ! { $bh pull -q --signature-policy "$W/policy.json" "docker-archive:$W/base.tar" &&
      $bh tag localhost/busybox:bench docker.io/library/busybox:bench; } >"$W/bh.log" 2>&1; then
      skip_row "$g_cold" "buildah bud" "importing the base image failed: $(tail -1 "$W/bh.log" | cut -c1-100)"
      bh=""
    fi
  else
    skip_row "$g_cold" "buildah bud" "buildah not installed"
  fi
  local bhb="$bh bud -q --signature-policy $W/policy.json --isolation chroot --format docker"
  local RUNS=$BUILD_RUNS WARMUP=1
  local cold=("sangja-image build --no-cache" "" "$sib --no-cache -t b:1 $W/ctx")
  local re=("sangja-image build" "" "$sib -t b:1 $W/ctx")
  if [ -n "$bh" ]; then
    cold+=("buildah bud (chroot isolation)" "" "$bhb -t b:1 $W/ctx")
    $bhb --layers -t b:1 "$W/ctx" >/dev/null 2>&1 || true
    re+=("buildah bud --layers (chroot isolation)" "" "$bhb --layers -t b:1 $W/ctx")
  fi
  hf "$g_cold" -- "${cold[@]}"
  hf "$g_re" -- "${re[@]}"
  rm -rf "$W"
}
