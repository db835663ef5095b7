#!/usr/bin/env bash
# A smoke measurement of latfs (not a test, not the contender benchmark): `find | xargs stat`
# over a 2,000-file tree, directly and through latfs at 0 and 1 ms per metadata request,
# with 1 client and with 8 concurrent ones (each over the whole tree, or each over an eighth
# of it), to show that the delay is applied and that concurrent clients overlap their
# waits. One run each; wall times in ms, and the requests latfs served.
#
#   benches/latfs-smoke.sh        (as root, about 30 s)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p zkrsync-benches --bins
target=${CARGO_TARGET_DIR:-target}
case "$target" in /*) ;; *) target=$PWD/$target ;; esac
export LATFS=$target/release/latfs
tree=$target/bench-trees/tree-f4-l2-n125
"$target/release/gen-tree" "$tree" --fanout 4 --levels 2 --files 125 >/dev/null
mnt=$(mktemp -d "${TMPDIR:-/tmp}/latfs-smoke.XXXXXX")
log=$mnt.log
trap 'rmdir "$mnt"; rm -f "$log"' EXIT

# walk ROOT CLIENTS SHARE: CLIENTS concurrent `find -type f | xargs stat`, each over the
# whole tree (SHARE=whole) or over its eighth of the 16 leaf directories (SHARE=eighth);
# prints the wall time in ms.
walk() {
  local root=$1 clients=$2 share=$3 start end i
  local -a leaves
  mapfile -t leaves < <(find "$root" -mindepth 2 -maxdepth 2 -type d | sort)
  start=$(date +%s%N)
  for ((i = 0; i < clients; i++)); do
    if [ "$share" = whole ]; then
      set -- "$root"
    else
      set -- "${leaves[@]:$((i * 2)):2}"
    fi
    (find "$@" -type f -print0 | xargs -0 stat -c %s >/dev/null) &
  done
  wait
  end=$(date +%s%N)
  echo $(((end - start) / 1000000))
}
export -f walk

files=$(find "$tree" -type f | wc -l)
echo "tree: $files files in $(find "$tree" -mindepth 1 -type d | wc -l) directories; $(nproc) cores"
printf '%-28s %10s %22s %22s\n' "clients" "direct" "latfs 0 ms" "latfs 1 ms"
for run in "1 whole" "8 whole" "8 eighth"; do
  set -- $run
  what="$1 x $([ "$2" = whole ] && echo "the whole tree" || echo "an eighth each")"
  direct=$(walk "$tree" "$1" "$2")
  row=("$direct ms")
  for delay in 0 1; do
    ms=$(benches/latfs-mount.sh --delay-ms "$delay" "$tree" "$mnt" -- bash -c 'walk "$@"' walk "$mnt" "$1" "$2" 2>"$log")
    requests=$(sed -n 's/^latfs: served \([0-9]*\) request.*/\1/p' "$log")
    row+=("$ms ms ($requests req)")
  done
  printf '%-28s %10s %22s %22s\n' "$what" "${row[@]}"
done
