#!/usr/bin/env bash
# End-to-end comparison on a generated tree (20,000 files, ~280 MB, 1,111 directories):
# single rsync (local, and to an rsync daemon), fpsync -n 2, and zkrsync with 2 workers and
# 2 destinations, for the initial copy, a re-sync without change and a re-sync after 1% of
# the files changed. Every result is verified with rsync -anc; medians of RUNS runs; ratios
# to the single local rsync of the same run (>1 is faster). A benchmark, not a test.
#   benches/e2e.sh [RUNS]        (default 3; the table goes to stdout and target/e2e-bench.md)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
scripts/setup
cargo build --release -q -p zkrsync-launcher -p zkrsync-benches --bins
bin=$PWD/target/release/zkrsync
work=$PWD/target/e2e
src=$work/src
mkdir -p "$work"
if [ ! -f "$work/src.done" ]; then
  rm -rf "$src"
  ./target/release/gen-data "$src" >/dev/null
  touch "$work/src.done"
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/zkrsync-e2e.XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  scripts/zk stop "$tmp/zk" >/dev/null 2>&1 || true
  rm -rf "$tmp" "$work"/dst-*
}
trap cleanup EXIT

# Every run copies into fresh directories, removed at the end: an initial copy right after
# deleting 280 MB measured 5x slower on this machine (ext4 reusing just-freed blocks).
rm -rf "$work"/dst-*
sync

# A standing ZooKeeper, as at a site: started once, outside the timed runs.
zk=$(scripts/zk start "$tmp/zk")
# An rsync daemon for the single-rsync-to-a-daemon contender.
port=$(( 20000 + RANDOM % 20000 ))
cat >"$tmp/rsyncd.conf" <<EOF
address = 127.0.0.1
port = $port
reverse lookup = no
pid file = $tmp/rsyncd.pid
use chroot = no
[bench]
path = $work
read only = no
$( [ "$(id -u)" -eq 0 ] && printf 'uid = root\ngid = root\n' )
EOF
rsync --daemon --no-detach --config="$tmp/rsyncd.conf" & pids+=($!)
for _ in $(seq 100); do
  rsync "rsync://127.0.0.1:$port/" >/dev/null 2>&1 && break
  sleep 0.1 # polls the daemon's start-up only, outside the timed runs
done

now() { date +%s.%N; }
verify() { # verify NAME DST
  local diff
  diff=$(rsync -anc --delete --itemize-changes "$src/" "$2/")
  if [ -n "$diff" ]; then
    echo "e2e: $1 left $(echo "$diff" | wc -l) differences, e.g. $(echo "$diff" | head -1)" >&2
    return 1
  fi
}

session=0
run_zkrsync() { # run_zkrsync DST LOGDIR
  session=$((session + 1))
  local common=(--zk "$zk" --session "e2e-$$-$session") p code=0 list=()
  "$bin" dest "${common[@]}" --path "$1" --advertise 127.0.0.1 --id d1 >"$2/d1.log" 2>&1 & list+=($!)
  "$bin" dest "${common[@]}" --path "$1" --advertise 127.0.0.2 --id d2 >"$2/d2.log" 2>&1 & list+=($!)
  for s in 1 2 3; do
    "$bin" source "${common[@]}" --path "$src" --verbose >"$2/s$s.out" 2>"$2/s$s.log" & list+=($!)
  done
  for p in "${list[@]}"; do wait "$p" || code=$?; done
  return "$code"
}

# contender NAME SCENARIO: copies $src to that contender's destination.
contender() { # contender NAME SCENARIO RUN
  local dst=$work/dst-$1-$3
  case $1 in
    rsync) rsync -a "$src/" "$dst/" ;;
    daemon) rsync -a "$src/" "rsync://127.0.0.1:$port/bench/dst-daemon-$3/" ;;
    fpsync) mkdir -p "$dst" && fpsync -n 2 -t "$tmp/fpsync" "$src/" "$dst/" >/dev/null 2>>"$tmp/fpsync.err" ;;
    zkrsync)
      mkdir -p "$dst" "$tmp/logs-$2"
      rm -f "$tmp/logs-$2"/*
      run_zkrsync "$dst" "$tmp/logs-$2" ;;
  esac
}

names=(rsync daemon fpsync zkrsync)
scenarios=(initial nochange change)
declare -A t
for r in $(seq "$runs"); do
  for sc in "${scenarios[@]}"; do
    if [ "$sc" = change ]; then ./target/release/gen-data "$src" --change 10 --seed "$r" >/dev/null; fi
    for n in "${names[@]}"; do
      sync
      start=$(now)
      contender "$n" "$sc-$r" "$r"
      end=$(now)
      verify "$n ($sc, run $r)" "$work/dst-$n-$r"
      t[$n,$sc,$r]=$(echo "$end - $start" | bc)
      echo "e2e: run $r $sc $n: ${t[$n,$sc,$r]} s" >&2
      if [ "$n" = zkrsync ]; then
        # Fixed cost: start until the first rsync, and the last rsync's end until exit.
        logs=$tmp/logs-$sc-$r
        first=$(grep -h 'running "rsync"' "$logs"/s*.log | sed 's/\x1b\[[0-9;]*m//g' | awk '{print $1}' | sort | head -1)
        last=$(grep -h 'every chunk is done or failed' "$logs"/s*.log | sed 's/\x1b\[[0-9;]*m//g' | awk '{print $1}' | head -1)
        to_s() { date -d "$1" +%s.%N; }
        t[fixed_start,$sc,$r]=$(echo "$(to_s "$first") - $start" | bc)
        t[fixed_end,$sc,$r]=$(echo "$end - $(to_s "$last")" | bc)
      fi
    done
  done
done

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
{
  echo "| contender | initial copy | re-sync, no change | re-sync, 1% changed |"
  echo "|---|---|---|---|"
  for n in "${names[@]}"; do
    row="| $n |"
    for sc in "${scenarios[@]}"; do
      vals=() ratios=()
      for r in $(seq "$runs"); do
        vals+=("${t[$n,$sc,$r]}")
        ratios+=("$(echo "scale=4; ${t[rsync,$sc,$r]} / ${t[$n,$sc,$r]}" | bc)")
      done
      row+=" $(printf '%.2f s (%.2f×)' "$(median "${vals[@]}")" "$(median "${ratios[@]}")") |"
    done
    echo "$row"
  done
  for which in fixed_start fixed_end; do
    vals=()
    for sc in "${scenarios[@]}"; do for r in $(seq "$runs"); do vals+=("${t[$which,$sc,$r]}"); done; done
    case $which in
      fixed_start) label="zkrsync start until the first rsync" ;;
      fixed_end) label="zkrsync last result until every process exited" ;;
    esac
    echo
    printf '%s: median %.3f s over %d runs\n' "$label" "$(median "${vals[@]}")" "${#vals[@]}"
  done
} | tee target/e2e-bench.md
