# Images: a multi-layer image with thousands of files, served by a local docker-registry,
# fetched and unpacked by skopeo+umoci and by sangja-image; cold (empty store), warm (blobs
# stored, fresh unpack) and a fetch of an image already stored.
#
# Until `sangja-image pull` exists, sangja's side loads the same image from an oci-archive
# (made from the registry copy) and its rows say so; skopeo+umoci also run from that
# archive, so one comparison is like for like whatever sangja-image can do.

# skopeo+umoci take seconds per cold run here (umoci hashes every file into an mtree):
# few runs for the unpack groups, more for the fetch-only group. The cold group runs first
# and leaves every store filled, which is the warm groups' starting point.
IMG_RUNS=${IMG_RUNS:-5}
IMG_FETCH_RUNS=${IMG_FETCH_RUNS:-10}

# A layer directory of COUNT files of SIZE bytes in 10 subdirectories, base64 text
# (compresses like real content rather than not at all). One split per directory.
gen_layer() {
  local dir=$1 count=$2 size=$3 d
  for d in 0 1 2 3 4 5 6 7 8 9; do
    mkdir -p "$dir/data/$(basename "$dir")/d$d"
    head -c $((count / 10 * size * 3 / 4)) /dev/urandom | base64 -w0 |
      split -b "$size" -a 3 - "$dir/data/$(basename "$dir")/d$d/f"
  done
}

# Builds the image with umoci (one `umoci insert` per layer) in OCI layout $IMG:bench.
make_image() {
  local gen=$WORK/imggen
  umoci init --layout "$IMG"
  umoci new --image "$IMG:bench"
  umoci insert --image "$IMG:bench" "$BUNDLE/rootfs" / >/dev/null
  gen_layer "$gen/small" 1000 512
  gen_layer "$gen/text" 1000 1024
  gen_layer "$gen/mid" 800 4096
  gen_layer "$gen/big" 300 16384
  head -c $((4 << 20)) /dev/urandom >"$gen/big/data/blob.bin"
  local l
  for l in small text mid big; do
    umoci insert --image "$IMG:bench" "$gen/$l/data" /data >/dev/null
  done
  umoci config --image "$IMG:bench" --config.cmd /bin/true >/dev/null
  umoci gc --layout "$IMG"
  rm -rf "$gen"
}

# Starts docker-registry on a free port; sets REGISTRY (host:port).
start_registry() {
  local port cfg=$WORK/registry.yml tries
  for tries in 1 2 3 4 5; do
    port=$((20000 + RANDOM % 40000))
    ss -Htln "sport = :$port" | grep -q . && continue
    cat >"$cfg" <<YML
version: 0.1
log: { level: error, accesslog: { disabled: true } }
storage: { filesystem: { rootdirectory: $WORK/registry }, delete: { enabled: true } }
http: { addr: 127.0.0.1:$port }
YML
    docker-registry serve "$cfg" >"$WORK/registry.log" 2>&1 &
    local pid=$!
    on_exit "kill $pid; wait $pid 2>/dev/null"
    local i
    for i in $(seq 50); do
      if curl -fsS "http://127.0.0.1:$port/v2/" >/dev/null 2>&1; then
        REGISTRY=127.0.0.1:$port
        return 0
      fi
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
  done
  echo "bench: docker-registry did not start: $(tail -3 "$WORK/registry.log")" >&2
  return 1
}

# Prints the sangja-image pull command for the registry image, or nothing if there is none.
sangja_pull_cmd() {
  local si=$1 help
  "$si" --help 2>/dev/null | grep -qE '^\s+pull\b' || return 0
  help=$("$si" pull --help 2>&1)
  local flags=""
  case $help in
    *--tls-verify*) flags="--tls-verify=false" ;;
    *--insecure*) flags="--insecure" ;;
    *--plain-http*) flags="--plain-http" ;;
  esac
  echo "$si --store \$S pull $flags $REGISTRY/bench:latest"
}

# A prepare step that clears the trees of the previous run by renaming them into a trash
# folder emptied after the section, not by deleting them. perf showed why: ext4 will not
# hand out an inode freed in the last ~30 s (dirty_expire_centisecs) and checks every
# candidate against the buffer cache (recently_deleted in find_inode_bit), so right after
# an rm -rf of 3400 files each file create scanned past all of them: 50% of the unpack's
# CPU, every tool 5-8x slower (tar -xzf 1.7 s instead of 0.22 s). A real pull does not
# follow the deletion of an equal tree by a second; renaming keeps that out of every row.
set_aside() {
  local p
  for p in "$@"; do
    [ -e "$p" ] || continue
    mv "$p" "$WORK/trash/$(basename "$p").$RANDOM$RANDOM$RANDOM"
  done
}

# tar -xzf of each layer in order into DIR: the floor for an unpack into this filesystem
# (whiteouts aside, which this image has none of).
tar_unpack() {
  local dir=$1 blob
  mkdir -p "$dir"
  for blob in $TAR_LAYERS; do
    tar -xzf "$blob" -C "$dir" 2>/dev/null
  done
}

images_section() {
  local g_cold="image: fetch+unpack, cold (empty store)"
  local g_warm="image: fetch+unpack, warm (blobs stored)"
  local g_fetch="image: fetch only, image already stored"
  IMG=$WORK/img
  if ! make_image >"$WORK/img.log" 2>&1; then
    for g in "$g_cold" "$g_warm" "$g_fetch"; do skip_row "$g" sangja-image "building the test image failed: $(tail -1 "$WORK/img.log")"; done
    return
  fi
  local manifest layers entries=0 mib blob
  manifest=$IMG/blobs/sha256/$(jq -r '.manifests[0].digest' "$IMG/index.json" | cut -d: -f2)
  layers=$(jq '.layers | length' "$manifest")
  TAR_LAYERS=""
  for blob in $(jq -r '.layers[].digest | sub("sha256:"; "")' "$manifest"); do
    entries=$((entries + $(tar -tzf "$IMG/blobs/sha256/$blob" 2>/dev/null | wc -l)))
    TAR_LAYERS+=" $IMG/blobs/sha256/$blob"
  done
  export TAR_LAYERS WORK
  export -f set_aside tar_unpack
  mkdir -p "$WORK/trash"
  mib=$(du -sm "$IMG" | cut -f1)
  IMAGE_DESC="$layers layers, $entries tar entries, $mib MiB compressed"
  if ! start_registry; then
    for g in "$g_cold" "$g_warm" "$g_fetch"; do skip_row "$g" skopeo+umoci "docker-registry did not start"; done
    return
  fi
  skopeo copy -q --dest-tls-verify=false "oci:$IMG:bench" "docker://$REGISTRY/bench:latest"
  # The archive sangja-image loads is the registry's copy, so both sides get the same bytes.
  skopeo copy -q --src-tls-verify=false "docker://$REGISTRY/bench:latest" "oci-archive:$WORK/bench.tar:bench:latest"

  local RUNS=$IMG_RUNS WARMUP=0 # seen by hf (dynamic scope)
  local W=$WORK si=$SANGJA_IMAGE src="docker://$REGISTRY/bench:latest"
  local sk_reg="skopeo copy -q --src-tls-verify=false $src oci:$W/sk:latest"
  local sk_arc="skopeo copy -q oci-archive:$W/bench.tar oci:$W/sa:latest"
  local si_name si_fetch si_img
  local pull
  pull=$(sangja_pull_cmd "$si")
  if [ -n "$pull" ] && eval "${pull//\$S/$W/probe}" >"$W/pull.log" 2>&1; then
    si_name="sangja-image pull (registry)"
    si_fetch=${pull//\$S/$W/ss}
    si_img=$REGISTRY/bench:latest
  else
    si_name="sangja-image load (oci-archive; no pull yet)"
    [ -n "$pull" ] && si_name="sangja-image load (oci-archive; pull failed: $(tail -1 "$W/pull.log" | cut -c1-80))"
    si_fetch="$si --store $W/ss load -q -i $W/bench.tar"
    si_img=bench:latest
  fi
  set_aside "$W/probe"
  local si_unpack="$si --store $W/ss unpack $si_img $W/ss-root"
  # Only a result that matches umoci's gets timed: count what each side unpacked.
  local want got
  $sk_reg >/dev/null && umoci unpack --image "$W/sk:latest" "$W/sk-b" >/dev/null
  want=$(cd "$W/sk-b/rootfs" && find . | wc -l)
  got=$( (eval "$si_fetch" && eval "$si_unpack") >"$W/si.log" 2>&1 && cd "$W/ss-root" && find . | wc -l) || got="failed: $(tail -1 "$W/si.log" | cut -c1-80)"
  set_aside "$W/sk" "$W/sk-b" "$W/ss" "$W/ss-root"
  local cold=() warm=() fetch=()
  if [ "$got" = "$want" ]; then
    cold+=("$si_name + unpack" "set_aside $W/ss $W/ss-root" "$si_fetch && $si_unpack")
    warm+=("$si_name + unpack" "set_aside $W/ss-root" "$si_fetch && $si_unpack")
    fetch+=("$si_name" "" "$si_fetch")
  else
    local why="sangja-image unpacked ${got:-nothing} entries where umoci unpacked $want"
    skip_row "$g_cold" "$si_name + unpack" "$why"
    skip_row "$g_warm" "$si_name + unpack" "$why"
    skip_row "$g_fetch" "$si_name" "$why"
  fi
  local sa_unpack="umoci unpack --image $W/sa:latest $W/sa-b" sk_unpack="umoci unpack --image $W/sk:latest $W/sk-b"
  # skopeo from the same oci-archive is the like-for-like row only while sangja loads one.
  if [ "$si_img" = bench:latest ]; then
    cold+=("skopeo copy (oci-archive) + umoci unpack" "set_aside $W/sa $W/sa-b" "$sk_arc && $sa_unpack")
    warm+=("skopeo copy (oci-archive) + umoci unpack" "set_aside $W/sa-b" "$sk_arc && $sa_unpack")
    fetch+=("skopeo copy (oci-archive)" "" "$sk_arc")
  fi
  cold+=("skopeo copy (registry) + umoci unpack" "set_aside $W/sk $W/sk-b" "$sk_reg && $sk_unpack")
  warm+=("skopeo copy (registry) + umoci unpack" "set_aside $W/sk-b" "$sk_reg && $sk_unpack")
  fetch+=("skopeo copy (registry)" "" "$sk_reg")
  # The floor: the same layers, already on disk, through tar -xzf (no fetch, no checks).
  cold+=("tar -xzf of the layers (floor)" "set_aside $W/tar-root" "tar_unpack $W/tar-root")
  warm+=("tar -xzf of the layers (floor)" "set_aside $W/tar-root" "tar_unpack $W/tar-root")
  hf "$g_cold" -- "${cold[@]}"
  hf "$g_warm" -- "${warm[@]}"
  RUNS=$IMG_FETCH_RUNS WARMUP=1
  hf "$g_fetch" -- "${fetch[@]}"
  rm -rf "$W/ss" "$W/ss-root" "$W/sa" "$W/sa-b" "$W/sk" "$W/sk-b" "$W/tar-root" "$W/trash"
}
