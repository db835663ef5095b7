#!/bin/bash
# Captures the rsync outputs that run_counts/tests.rs counts: one small tree copied by one
# `rsync -a --stats` (single-*.txt) and by runs of the units of several chunkings
# (NAME-RUN.txt), each run with zkrsync's options and `--from0 --files-from`, in a dry run to
# an empty directory (dry-*) and for real, one run after the other, children first (real-*).
# Run from this directory: ./capture.sh (needs rsync 3.1+).
set -euo pipefail
here=$PWD
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
src=$tmp/src
mkdir -p "$src/a/b/c" "$src/a/e" "$src/x" "$src/a/new
line"
echo 1 > "$src/f"; echo 22 > "$src/a/fa"; echo 333 > "$src/a/b/fb"; echo 4444 > "$src/a/b/c/fc"
echo 5 > "$src/x/fx"; echo 6 > "$src/a/new
line/g"; ln -s f "$src/l"
# Every entry's time, children before their directory (touching a child changes its parent).
find "$src" -depth -exec touch -d '2020-01-01 00:00' {} +
base=(--numeric-ids -lptgoD --stats -ii '--out-format=zkrsync-item %i %n%L')
mkdir "$tmp/single"
rsync -a --stats -ii '--out-format=zkrsync-item %i %n%L' "$src/" "$tmp/single/" > "$here/single.txt"
# run NAME OPTION ENTRY...: one run of the entries, dry to an empty directory and for real
# into real/.
mkdir "$tmp/real"
run() {
    local name=$1 opt=$2; shift 2
    printf '%s\0' "$@" > "$tmp/list"
    rm -rf "$tmp/empty"; mkdir "$tmp/empty"
    (cd "$src" && rsync "${base[@]}" "$opt" --dry-run --from0 --files-from="$tmp/list" ./ "$tmp/empty/") > "$here/dry-$name.txt"
    (cd "$src" && rsync "${base[@]}" "$opt" --from0 --files-from="$tmp/list" ./ "$tmp/real/") > "$here/real-$name.txt"
}
# depth 1: the root's own entries, then its subdirectories' subtrees.
rm -rf "$tmp/real"; mkdir "$tmp/real"
run d1-rec -r a x
run d1-root -d .
# depth 3, two entries of one directory in one run, a parent and its child in another.
rm -rf "$tmp/real"; mkdir "$tmp/real"
run d3-rec -r a/b/c
run d3-ab -d a/b/. a/.
run d3-xe -d x/. a/e/. "a/new
line/."
run d3-root -d .
# the root cut into two buckets (bucket_of(name, 2): a in 0; f, l, x in 1).
rm -rf "$tmp/real"; mkdir "$tmp/real"
run b-rec -r a x
run b-1 -d f l x
run b-0 -d a
# a deletions-only run of a/ on a destination with extraneous entries.
rm -rf "$tmp/del"; cp -a "$tmp/single" "$tmp/del"; mkdir "$tmp/del/a/gone"; touch "$tmp/del/a/gone/x" "$tmp/del/a/extra"
printf '%s\0' a/. > "$tmp/list"
(cd "$src" && rsync "${base[@]}" -d --delete --existing --ignore-existing --from0 --files-from="$tmp/list" ./ "$tmp/del/") > "$here/deletes.txt"
rm -rf "$tmp/del2"; cp -a "$tmp/single" "$tmp/del2"; mkdir "$tmp/del2/a/gone"; touch "$tmp/del2/a/gone/x" "$tmp/del2/a/extra"
rsync -a --delete --stats "$src/" "$tmp/del2/" > "$here/single-delete.txt"
