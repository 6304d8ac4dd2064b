#!/usr/bin/env bash
# 2 threads against 1 as a user runs it: whole `spillway profile -j 1` and `-j 2` processes on
# the bundled chat log ×8 (75 MB), in pairs, every other pair in the reverse order; prints the
# median (quartiles) of the pairs' ratios, and the median over the pairs during which the
# hypervisor took no CPU time from this VM (steal in /proc/stat).
#
#   benches/cli-scaling.sh [PAIRS] [BINARY]   # default: 60 pairs, a release build
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=${CARGO_TARGET_DIR:-$PWD/target}
PAIRS=${1:-60}
BIN=${2:-}
if [ -z "$BIN" ]; then
  CARGO_TARGET_DIR=$TARGET cargo build --release --quiet
  BIN=$TARGET/release/spillway
fi
LOG=$TARGET/bench-data/chat-log-x8.jsonl
if [ ! -s "$LOG" ]; then
  mkdir -p "$(dirname "$LOG")"
  for _ in 1 2 3 4 5 6 7 8; do gzip -dc samples/chat-log.jsonl.gz; done > "$LOG"
fi
steal() { awk '/^cpu /{print $9}' /proc/stat 2>/dev/null || echo 0; }
run() { # prints: wall ms, stolen ticks
  local a s e b
  a=$(steal); s=$(date +%s%N)
  "$BIN" profile "$LOG" -j "$1" --quiet > /dev/null
  e=$(date +%s%N); b=$(steal)
  echo "$(( (e - s) / 1000000 )) $(( b - a ))"
}
"$BIN" profile "$LOG" --quiet > /dev/null # page cache
for i in $(seq "$PAIRS"); do
  if (( i % 2 )); then one=$(run 1); two=$(run 2); else two=$(run 2); one=$(run 1); fi
  echo "$one $two"
done | python3 -c '
import statistics, sys
rows = [list(map(int, l.split())) for l in sys.stdin]
ratio = [a / b for a, _, b, _ in rows]
clean = [a / b for a, sa, b, sb in rows if sa == 0 and sb == 0]
q1, q2, q3 = statistics.quantiles(ratio, n=4)
print("-j 1: %d ms, -j 2: %d ms (medians); 2 threads vs 1: %.2fx (quartiles %.2f-%.2f, %d pairs)" % (
    statistics.median(r[0] for r in rows), statistics.median(r[2] for r in rows),
    statistics.median(ratio), q1, q3, len(ratio)))
print("pairs without steal: %s" % ("%.2fx (%d pairs)" % (statistics.median(clean), len(clean)) if clean else "none"))
'
