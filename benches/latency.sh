#!/usr/bin/env bash
# The latency benchmark of issue 14: every contender copies the same trees from one latfs
# mount to another (benches/src/bin/latfs: every metadata request answered D ms after it
# arrived, nothing cached, as NFS with actimeo=0; reads and writes not delayed), for the
# initial copy, a re-sync without change and a re-sync after 1% of the files changed.
# A benchmark, not a test.
#
#   benches/latency.sh [--delay-ms D] [--runs R] [--workers LIST] [--trees LIST]
#                      [--scenarios LIST] [--scale F] [--quick]
#
#   --delay-ms D      latfs delay per metadata request, on both mounts (default 1)
#   --runs R          runs of everything; the table shows medians (default 3)
#   --workers LIST    the N of fpsync and zkrsync, comma-separated (default 1,2,4,8,16)
#   --trees LIST      of balanced, flat, skewed (default all three):
#                       balanced  10,000 files, 10 a directory, 1,110 directories 3 levels deep
#                       flat      one directory of 20,000 files beside 4 of 100 files
#                       skewed    10,000 files, 9,000 of them below skew/sub/heavy (depth 3)
#   --scenarios LIST  of initial, nochange, change (default all three; always run in
#                     that order; without initial, each destination starts as a direct,
#                     untimed rsync -a copy)
#   --scale F         multiplies the file counts (and so the directories) by F, for a
#                     quick look (default 1)
#   --quick           scale 0.05, runs 1, workers 1,2,4, delay 1; an option given beside it
#                     wins whatever the order
#
# Contenders: `rsync -a SRC/ DST/` (one local rsync, mount to mount); `fpsync -n N -E`
# (fpart's crawl, one rsync job per directory list, --delete on); `zkrsync-launch` with
# the host file `localhost slots=2N+1` and `-n N`: 1 master, N copying workers and N
# destinations (rsync daemons) on this machine, with a standing ZooKeeper started once,
# outside the timed runs. Extra zkrsync source options go in ZKRSYNC_OPTS (default none).
# Each contender copies into a directory of its own; every result is verified on the
# directories behind the mounts with `rsync -anc --delete` (not timed). A failed
# contender or verification is shown as such in the table and the script exits 1.
#
# Trees are generated once (gen-shape) in $CARGO_TARGET_DIR/latency/trees (default
# target/) and reused; the change scenario changes them for good. Logs of every run in
# …/latency/logs. The table goes to stdout and target/latency-bench.md. Needs root, FUSE
# (fusermount3), rsync, fpsync (fpart) and ZooKeeper: scripts/setup installs them. Whatever
# happens (a failure, Ctrl-C, SIGTERM), the contender is stopped, ZooKeeper stopped and
# both mounts unmounted at the end.
set -euo pipefail
me=latency.sh
usage="usage: benches/latency.sh [--delay-ms D] [--runs R] [--workers LIST] [--trees LIST] [--scenarios LIST] [--scale F] [--quick]"
refuse() { echo "$me: $*" >&2; exit 2; }
cd "$(dirname "$0")/.."
root=$PWD

# --- options -----------------------------------------------------------------------------
declare -A given=()
quick=0
while [ $# -gt 0 ]; do
  case $1 in
    --delay-ms|--runs|--workers|--trees|--scenarios|--scale)
      [ $# -ge 2 ] || refuse "$1 needs a value; $usage"
      given[${1#--}]=$2; shift 2 ;;
    --delay-ms=*|--runs=*|--workers=*|--trees=*|--scenarios=*|--scale=*)
      opt=${1%%=*}; given[${opt#--}]=${1#*=}; shift ;;
    --quick) quick=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    *) refuse "unknown argument $1; $usage" ;;
  esac
done
if [ "$quick" = 1 ]; then
  delay=1 runs=1 workers=1,2,4 scale=0.05
else
  delay=1 runs=3 workers=1,2,4,8,16 scale=1
fi
trees=balanced,flat,skewed scenarios=initial,nochange,change
delay=${given[delay-ms]:-$delay} runs=${given[runs]:-$runs} workers=${given[workers]:-$workers}
trees=${given[trees]:-$trees} scenarios=${given[scenarios]:-$scenarios} scale=${given[scale]:-$scale}

number='^[0-9]+([.][0-9]+)?$'
[[ $delay =~ $number ]] && awk -v d="$delay" 'BEGIN { exit !(d <= 1000) }' \
  || refuse "--delay-ms $delay is not a delay: give milliseconds from 0 to 1000 (fractions allowed)"
[[ $runs =~ ^[0-9]+$ ]] && [ "$runs" -ge 1 ] && [ "$runs" -le 99 ] \
  || refuse "--runs $runs is not a number of runs: give 1 to 99"
[[ $scale =~ $number ]] && awk -v f="$scale" 'BEGIN { exit !(f >= 0.001 && f <= 100) }' \
  || refuse "--scale $scale is out of range: give a factor from 0.001 to 100"
# list_of OPTION VALUE ALLOWED-REGEX WHAT: refuses VALUE unless it is a comma-separated
# list of distinct items that match; sets the array items.
list_of() {
  local item seen=,
  [[ -n $2 && $2 != *,,* && $2 != ,* && $2 != *, ]] \
    || refuse "--$1 '$2' has an empty item: give a comma-separated list such as --$1 ${5}"
  IFS=, read -ra items <<<"$2"
  for item in "${items[@]}"; do
    [[ $item =~ $3 ]] || refuse "--$1 $2: $item is not one of $4"
    [[ $seen == *,$item,* ]] && refuse "--$1 $2 names $item twice: give each once"
    seen+=$item,
  done
}
list_of workers "$workers" '^([1-9]|[1-5][0-9]|6[0-4])$' "the worker counts 1 to 64" 1,2,4
worker_list=("${items[@]}")
list_of trees "$trees" '^(balanced|flat|skewed)$' "balanced, flat, skewed" balanced,flat
tree_list=("${items[@]}")
list_of scenarios "$scenarios" '^(initial|nochange|change)$' "initial, nochange, change" initial,change
scenario_list=()
for sc in initial nochange change; do [[ ,$scenarios, == *,$sc,* ]] && scenario_list+=("$sc"); done

[ "$(id -u)" -eq 0 ] || refuse "latfs mounts need root: run it as root (sudo benches/latency.sh …)"
[ -c /dev/fuse ] || refuse "/dev/fuse is missing: this machine has no FUSE (modprobe fuse; in a container, pass --device /dev/fuse)"
for tool in fusermount3 rsync fpsync java; do
  command -v "$tool" >/dev/null || refuse "$tool is missing: run scripts/setup"
done
[ -x /usr/share/zookeeper/bin/zkServer.sh ] || refuse "ZooKeeper is not installed: run scripts/setup"

# --- everything this script starts, and how it is stopped ---------------------------------
target=${CARGO_TARGET_DIR:-target}
case $target in /*) ;; *) target=$root/$target ;; esac
bin=$target/release
work=$target/latency
trees_dir=$work/trees dsts=$work/dst logs=$work/logs
tmp=$(mktemp -d "${TMPDIR:-/tmp}/zkrsync-latency.XXXXXX")
tmp=$(realpath "$tmp")
msrc=$tmp/mnt-src mdst=$tmp/mnt-dst
mounts=() cpid="" zk=""

# The processes of the session SID (a contender runs in a session of its own, so that its
# children are found even in process groups of their own, as fpsync's jobs are).
session_pids() { ps -eo pid=,sid= | awk -v s="$1" '$2 == s { print $1 }'; }
stop_contender() {
  [ -n "$cpid" ] || return 0
  local sig i pids
  for sig in INT TERM KILL; do
    pids=$(session_pids "$cpid")
    [ -n "$pids" ] || break
    # shellcheck disable=SC2086
    kill -"$sig" $pids 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
      [ -z "$(session_pids "$cpid")" ] && break 2
      sleep 0.1 # waits for processes told to stop, when stopping only
    done
  done
  wait "$cpid" 2>/dev/null || true
  cpid=""
}
mounted() { M=$1 awk '$5 == ENVIRON["M"] { found = 1 } END { exit !found }' /proc/self/mountinfo; }
cleanup() {
  local rc=$? p m
  trap - EXIT INT TERM
  stop_contender
  [ -n "$zk" ] && { scripts/zk stop "$tmp/zk" >/dev/null 2>&1 || true; }
  for p in "${mounts[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${mounts[@]}"; do wait "$p" 2>/dev/null || true; done
  for m in "$msrc" "$mdst"; do
    if mounted "$m"; then fusermount3 -u -z "$m" 2>/dev/null || umount -l "$m" || true; fi
  done
  if mounted "$msrc" || mounted "$mdst"; then
    echo "$me: a latfs mount in $tmp is still there: left $tmp as it is (umount -l it, then remove it)" >&2
  else
    rm -rf --one-file-system "$tmp" "$dsts"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- build, trees, mounts, ZooKeeper (none of it timed) -----------------------------------
cargo build --release -q -p zkrsync-launcher -p zkrsync-benches --bins
declare -A files_of=([balanced]=10000 [flat]=20000 [skewed]=10000)
declare -A tree_name=() tree_desc=()
mkdir -p "$trees_dir"
for tree in "${tree_list[@]}"; do
  files=$(awk -v n="${files_of[$tree]}" -v f="$scale" 'BEGIN { n = int(n * f + 0.5); print (n < 10) ? 10 : n }')
  name=$tree-$files
  tree_name[$tree]=$name
  if [ ! -f "$trees_dir/$name.complete" ]; then
    rm -rf "${trees_dir:?}/$name"
    "$bin/gen-shape" "$trees_dir/$name" --shape "$tree" --files "$files" >&2
    touch "$trees_dir/$name.complete"
  fi
  tree_desc[$tree]="$(find "$trees_dir/$name" -type f | wc -l) files, $(find "$trees_dir/$name" -mindepth 1 -type d | wc -l) directories, $(du -sh "$trees_dir/$name" | cut -f1)"
done
rm -rf "$dsts" "$logs"
mkdir -p "$dsts" "$logs" "$msrc" "$mdst" "$tmp/fpsync"

# mount_latfs BACKING MOUNTPOINT: latfs-mount.sh holds the mount until it gets SIGTERM
# (in a session of its own: a Ctrl-C reaches the contender, and the mounts stay until the
# contender has stopped).
mount_latfs() {
  local log=$logs/latfs-$(basename "$2").log i
  LATFS=$bin/latfs setsid benches/latfs-mount.sh --delay-ms "$delay" "$1" "$2" </dev/null 2>"$log" &
  mounts+=($!)
  for ((i = 0; i < 600; i++)); do
    grep -q '; ready$' "$log" && return 0
    kill -0 "${mounts[-1]}" 2>/dev/null || { cat "$log" >&2; echo "$me: latfs did not mount $1 at $2" >&2; exit 1; }
    sleep 0.1 # waits for the mount, before anything is timed
  done
  echo "$me: latfs did not mount $1 at $2 within 60 s; see $log" >&2
  exit 1
}
mount_latfs "$trees_dir" "$msrc"
mount_latfs "$dsts" "$mdst"
zk=$(scripts/zk start "$tmp/zk")

# --- the contenders ------------------------------------------------------------------------
contenders=(rsync)
for n in "${worker_list[@]}"; do contenders+=("fpsync-$n"); done
for n in "${worker_list[@]}"; do contenders+=("zkrsync-$n"); done
read -ra zkrsync_opts <<<"${ZKRSYNC_OPTS:-}"

# contender_command NAME TREE DST: the command line of contender NAME, in the array cmd.
contender_command() {
  local n=${1#*-}
  case $1 in
    rsync) cmd=(rsync -a "$msrc/$2/" "$mdst/$3/") ;;
    fpsync-*) cmd=(fpsync -n "$n" -E -t "$tmp/fpsync" "$msrc/$2/" "$mdst/$3/") ;;
    zkrsync-*)
      printf '# 1 master + %d workers + %d destinations\nlocalhost slots=%d\n' "$n" "$n" $((2 * n + 1)) >"$tmp/hosts-$n"
      cmd=("$bin/zkrsync-launch" "$tmp/hosts-$n" --zk "$zk" --src "$msrc/$2" --dst "$mdst/$3" -n "$n" -- "${zkrsync_opts[@]}") ;;
  esac
}

# measure NAME TREE DST LOG: runs the contender in a session of its own (signals at their
# defaults; so that a stop reaches all it started) and sets secs to its wall time in
# seconds, or to "failed" (its exit code and the end of its log on stderr).
measure() {
  local start end code=0
  contender_command "$1" "$2" "$3"
  sync
  start=$EPOCHREALTIME
  setsid env --default-signal=INT,QUIT "${cmd[@]}" </dev/null >"$4" 2>&1 &
  cpid=$!
  wait "$cpid" || code=$?
  end=$EPOCHREALTIME
  if [ -n "$(session_pids "$cpid")" ]; then
    echo "$me: $1 left processes behind ($(session_pids "$cpid" | xargs)): stopping them" >&2
  fi
  stop_contender
  secs=$(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.3f", e - s }')
  if [ "$code" -ne 0 ]; then
    { echo "$me: $1 exited with $code after $secs s; the end of $4:"; tail -n 5 "$4"; } >&2
    secs=failed
  fi
}

# verify TREE DST: no difference left between the trees behind the mounts.
verify() {
  local diff
  diff=$(rsync -anc --delete --itemize-changes "$trees_dir/$1/" "$dsts/$2/")
  [ -z "$diff" ] && return 0
  echo "$me: $2 differs from $1 in $(echo "$diff" | wc -l) entries, e.g. $(echo "$diff" | head -1)" >&2
  return 1
}

declare -A t=()
failures=0
for tree in "${tree_list[@]}"; do
  name=${tree_name[$tree]}
  for r in $(seq "$runs"); do
    for c in "${contenders[@]}"; do
      mkdir "$dsts/$name-$c-$r"
      # Without the initial scenario, the re-syncs start from a direct, untimed copy.
      [[ ${scenario_list[0]} == initial ]] || rsync -a "$trees_dir/$name/" "$dsts/$name-$c-$r/"
    done
    for sc in "${scenario_list[@]}"; do
      if [ "$sc" = change ]; then
        # A new seed every time (the tree is kept from one benchmark to the next).
        seed=$(( $(cat "$trees_dir/$name.changes" 2>/dev/null || echo 0) + 1 ))
        echo "$seed" >"$trees_dir/$name.changes"
        "$bin/gen-shape" "$trees_dir/$name" --change 10 --seed "$seed" >&2
      fi
      for c in "${contenders[@]}"; do
        dst=$name-$c-$r
        measure "$c" "$name" "$dst" "$logs/$dst-$sc.log"
        if [ "$secs" != failed ] && ! verify "$name" "$dst"; then secs=failed; fi
        [ "$secs" = failed ] && failures=$((failures + 1))
        t[$tree,$sc,$c,$r]=$secs
        echo "$me: $tree, run $r of $runs, $sc, $c: $secs$([ "$secs" = failed ] || echo ' s')" >&2
      done
    done
  done
  rm -rf "${dsts:?}/$name"-*
done

# --- the table -----------------------------------------------------------------------------
mkdir -p "$root/target"
median() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
declare -A title=([initial]="initial copy" [nochange]="re-sync, no change" [change]="re-sync, 1% changed")
{
  echo "Latency benchmark: \`benches/latency.sh --delay-ms $delay --runs $runs --workers $workers --trees $trees --scenarios $scenarios --scale $scale\`${ZKRSYNC_OPTS:+ with ZKRSYNC_OPTS=\"$ZKRSYNC_OPTS\"}"
  echo
  echo "latfs on source and destination (two mounts): $delay ms per metadata request, reads and writes not delayed; $(nproc) cores; $(date -u +%Y-%m-%d)."
  echo "Median seconds of $runs run(s); in brackets the speed-up over the single rsync (its time over the contender's in the same run, median over runs; >1 is faster)."
  echo "zkrsync-N: zkrsync-launch -n N, host file \`localhost slots=2N+1\` (1 master, N workers, N destinations), standing ZooKeeper."
  for tree in "${tree_list[@]}"; do echo "- $tree: ${tree_desc[$tree]}"; done
  echo
  header="| tree | contender |" rule="|---|---|"
  for sc in "${scenario_list[@]}"; do header+=" ${title[$sc]} |"; rule+="---|"; done
  echo "$header"
  echo "$rule"
  for tree in "${tree_list[@]}"; do
    for c in "${contenders[@]}"; do
      row="| $tree | $c |"
      for sc in "${scenario_list[@]}"; do
        vals=() ratios=() bad=0
        for r in $(seq "$runs"); do
          v=${t[$tree,$sc,$c,$r]} base=${t[$tree,$sc,rsync,$r]}
          if [ "$v" = failed ]; then bad=$((bad + 1)); continue; fi
          vals+=("$v")
          [ "$base" = failed ] || ratios+=("$(awk -v b="$base" -v v="$v" 'BEGIN { print b / v }')")
        done
        cell=""
        [ ${#vals[@]} -gt 0 ] && cell=$(printf '%.2f s' "$(median "${vals[@]}")")
        [ ${#ratios[@]} -gt 0 ] && cell+=$(printf ' (%.2f×)' "$(median "${ratios[@]}")")
        [ "$bad" -gt 0 ] && cell+="${cell:+; }failed $bad of $runs"
        row+=" $cell |"
      done
      echo "$row"
    done
  done
} | tee "$root/target/latency-bench.md.part"
mv "$root/target/latency-bench.md.part" "$root/target/latency-bench.md"
if [ "$failures" -gt 0 ]; then
  echo "$me: $failures measurement(s) failed (see above and $logs)" >&2
  exit 1
fi
