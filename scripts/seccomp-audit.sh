#!/usr/bin/env bash
# Lists the system calls a runtime's container init makes after loading its seccomp
# filter and before execve of the user process (issue 18: a profile denies whatever it
# does not name, so each of these is one an old allow-list may break).
# usage: seccomp-audit.sh RUNTIME BUNDLE   (the bundle's config.json has linux.seccomp)
set -euo pipefail
rt=${1:?usage: seccomp-audit.sh RUNTIME BUNDLE}
bundle=${2:?usage: seccomp-audit.sh RUNTIME BUNDLE}
command -v strace >/dev/null || { echo "seccomp-audit: strace missing (apt-get install strace)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
id="audit-$$"
(cd "$bundle" && strace -f -qq -o "$work/trace" "$rt" --root "$work/root" run "$id" >/dev/null) || true
"$rt" --root "$work/root" delete --force "$id" >/dev/null 2>&1 || true
# The thread that loaded the filter, then its calls up to the execve that succeeded.
awk '
  !loaded && /seccomp\(SECCOMP_SET_MODE_FILTER, [^,]*, \{len=/ && !/= -1/ { loaded = $1; next }
  /prctl\(PR_SET_SECCOMP, SECCOMP_MODE_FILTER/ && !loaded && !/= -1/ { loaded = $1; next }
  loaded && $1 == loaded {
    line = $0; sub(/^[0-9]+ +/, "", line)
    if (line ~ /^<\.\.\./) next
    name = line; sub(/\(.*/, "", name)
    if (name ~ /^(\+\+\+|---)/) next
    print name
    if (name == "execve") exit
  }' "$work/trace" | uniq -c
