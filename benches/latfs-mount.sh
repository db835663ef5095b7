#!/usr/bin/env bash
# Mounts SOURCE at MOUNTPOINT through the benchmark file system latfs (benches/src/bin/latfs:
# a pass-through that adds a delay to every metadata request), runs COMMAND under it, and
# always unmounts at the end: when the command ends, fails, or is interrupted.
#
#   benches/latfs-mount.sh [LATFS OPTIONS] SOURCE MOUNTPOINT [-- COMMAND...]
#
# LATFS OPTIONS: --delay-ms D (default 1), --data-delay-ms E (default 0), --threads T
# (default 64), --hang NAME; see `latfs --help`. Without a COMMAND it stays mounted until
# interrupted (Ctrl-C, SIGTERM). The command finds latfs's pid in LATFS_PID. Exit code: the
# command's; 2 for a wrong option, or when FUSE cannot be used here (no /dev/fuse, no
# fusermount3, not root), with a line that says what to do. latfs is built (release) first,
# unless LATFS names a latfs binary.
set -euo pipefail
me=latfs-mount.sh
refuse() { echo "$me: $*" >&2; exit 2; }
usage="usage: $me [--delay-ms D] [--data-delay-ms E] [--threads T] [--hang NAME] SOURCE MOUNTPOINT [-- COMMAND...]"

opts=() cmd=() places=()
while [ $# -gt 0 ]; do
  case "$1" in
    --) shift; cmd=("$@"); break ;;
    --delay-ms|--data-delay-ms|--threads|--hang)
      [ $# -ge 2 ] || refuse "$1 needs a value; $usage"
      opts+=("$1" "$2"); shift 2 ;;
    -h|--help) echo "$usage"; exit 0 ;;
    -*) opts+=("$1"); shift ;;
    *) places+=("$1"); shift ;;
  esac
done
[ ${#places[@]} -eq 2 ] || refuse "give SOURCE and MOUNTPOINT; $usage"
[ "$(id -u)" -eq 0 ] || refuse "FUSE mounts need root (latfs mounts with allow_other): run it as root (sudo $0 …)"
[ -c /dev/fuse ] || refuse "/dev/fuse is missing: this machine has no FUSE (modprobe fuse; in a container, pass --device /dev/fuse)"
command -v fusermount3 >/dev/null || refuse "fusermount3 is missing: install Debian's fuse3 (scripts/setup does)"
mountpoint=$(realpath -e -- "${places[1]}" 2>/dev/null) \
  || refuse "MOUNTPOINT ${places[1]} does not exist: create it first (mkdir -p)"

if [ -z "${LATFS:-}" ]; then
  root=$(cd "$(dirname "$0")/.." && pwd)
  (cd "$root" && cargo build --release -q -p zkrsync-benches --bin latfs)
  target=${CARGO_TARGET_DIR:-$root/target}
  case "$target" in /*) ;; *) target=$root/$target ;; esac
  LATFS=$target/release/latfs
fi

# Is something mounted at the mountpoint (field 5 of mountinfo, spaces written as \040)?
mounted() {
  M=${mountpoint// /\\040} awk '$5 == ENVIRON["M"] { found = 1 } END { exit !found }' /proc/self/mountinfo
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/latfs-mount.XXXXXX")
mkfifo "$tmp/ready"
pid=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  # latfs unmounts itself; if it died instead, detach what it left.
  if [ -n "$pid" ] && mounted; then
    fusermount3 -u -z "$mountpoint" || umount -l "$mountpoint" || true
  fi
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"$LATFS" "${opts[@]}" "${places[0]}" "$mountpoint" >"$tmp/ready" &
pid=$!
exec 3<"$tmp/ready"
if ! IFS= read -r -t 60 line <&3; then
  echo "$me: latfs did not mount ${places[0]} at $mountpoint (its error is above)" >&2
  wait "$pid" 2>/dev/null && exit 1
  exit $?
fi
echo "$line" >&2

if [ ${#cmd[@]} -eq 0 ]; then
  echo "$me: mounted until interrupted (Ctrl-C)" >&2
  wait "$pid" || true
  pid=""
  exit 0
fi
set +e
LATFS_PID=$pid "${cmd[@]}"
rc=$?
set -e
exit "$rc"
