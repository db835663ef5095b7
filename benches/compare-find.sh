#!/usr/bin/env bash
# Compares `zkrsync paths` with `find R -maxdepth D -type d` on the same generated tree,
# warm cache, in one run: medians of RUNS runs each (interleaved), and the ratio.
#
#   benches/compare-find.sh [DEPTH] [RUNS]      (defaults: depth 4, 5 runs; 1M-entry tree)
#
# The tree (about 1M entries: 10x10x10 directories with 1,000 files each) is created once
# under target/bench-trees.
set -euo pipefail
cd "$(dirname "$0")/.."
depth=${1:-4}
runs=${2:-5}
cargo build --release -q -p zkrsync-launcher -p zkrsync-benches --bins
tree=target/bench-trees/tree-f10-l3-n1000
./target/release/gen-tree "$tree" --fanout 10 --levels 3 --files 1000 >/dev/null

zk() { ./target/release/zkrsync paths --path "$tree" --depth "$depth" >/dev/null 2>&1; }
fd() { find "$tree" -maxdepth "$depth" -type d >/dev/null; }
ms() { local s e; s=$(date +%s%N); "$@"; e=$(date +%s%N); echo $(((e - s) / 1000000)); }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

zk; fd # warm the cache
zk_times=() fd_times=()
for _ in $(seq "$runs"); do
  zk_times+=("$(ms zk)")
  fd_times+=("$(ms fd)")
done
zk_med=$(printf '%s\n' "${zk_times[@]}" | median)
fd_med=$(printf '%s\n' "${fd_times[@]}" | median)
units=$(./target/release/zkrsync paths --path "$tree" --depth "$depth" 2>/dev/null | wc -l)
dirs=$(find "$tree" -maxdepth "$depth" -type d | wc -l)
echo "tree: $(cat "$tree.complete") entries, depth $depth, $(nproc) cores, $runs runs each"
echo "zkrsync paths: median ${zk_med} ms (${zk_times[*]}), $units units"
echo "find -type d:  median ${fd_med} ms (${fd_times[*]}), $dirs directories"
awk -v z="$zk_med" -v f="$fd_med" 'BEGIN { if (z == 0) z = 1; printf "find / zkrsync = %.2f (above 1: zkrsync is faster)\n", f / z }'
