#!/usr/bin/env bash
# make demo: a busybox bundle run through `sangja create`, `start` and `delete`,
# showing what the container printed.
set -euo pipefail
SANGJA=${1:-$(dirname "$0")/../target/release/sangja}
work=$(mktemp -d /tmp/sangja-demo.XXXXXX)
root="$work/state"
id="demo-$$"
cleanup() {
  "$SANGJA" --root "$root" delete --force "$id" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

bash "$(dirname "$0")/mkrootfs.sh" "$work/bundle/rootfs" >/dev/null
"$SANGJA" spec -b "$work/bundle"
# runc spec's default asks for a terminal and an interactive shell; the demo prints instead.
python3 - "$work/bundle/config.json" <<'PY'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
c["process"]["terminal"] = False
c["process"]["args"] = ["sh", "-c",
    "echo \"hello from $(hostname), pid $$ in its own namespace\"; "
    "echo \"user: $(id)\"; echo \"capabilities: $(grep CapEff /proc/self/status)\"; "
    "echo \"mounts:\"; cut -d' ' -f5,6 /proc/self/mountinfo | head -8"]
json.dump(c, open(p, "w"), indent=2)
PY
echo "\$ sangja create --bundle $work/bundle $id"
"$SANGJA" --root "$root" create --bundle "$work/bundle" "$id" > "$work/out" 2>&1
echo "\$ sangja state $id"
"$SANGJA" --root "$root" state "$id"
echo "\$ sangja start $id"
"$SANGJA" --root "$root" start "$id"
# The container writes to the stdout create gave it; wait for it to stop.
for _ in $(seq 100); do
  "$SANGJA" --root "$root" state "$id" | grep -q '"stopped"' && break
  sleep 0.05
done
echo "--- what the container printed ---"
cat "$work/out"
echo "----------------------------------"
echo "\$ sangja delete $id"
"$SANGJA" --root "$root" delete "$id"
echo "demo: ok"
