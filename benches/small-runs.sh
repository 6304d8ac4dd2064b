#!/usr/bin/env bash
# Fixed cost of one `spillway profile` process: the README's first profile (the bundled Azure
# conversation trace, 19,366 requests) run 40 times; prints the mean wall time per run and the
# peak RSS. This is the time a user waits on every small log, and the serial part of every
# large one.
#
#   benches/small-runs.sh [BINARY]     # default: a release build from this checkout
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=${CARGO_TARGET_DIR:-$PWD/target}
BIN=${1:-}
if [ -z "$BIN" ]; then
  CARGO_TARGET_DIR=$TARGET cargo build --release --quiet
  BIN=$TARGET/release/spillway
fi
INPUT=samples/AzureLLMInferenceTrace_conv_2023.csv
RUNS=40
"$BIN" profile "$INPUT" > /dev/null # page cache
start=$(date +%s%N)
for _ in $(seq $RUNS); do "$BIN" profile "$INPUT" > /dev/null; done
end=$(date +%s%N)
rss=$( { /usr/bin/time -f "%M" "$BIN" profile "$INPUT" > /dev/null; } 2>&1 )
echo "$BIN: $(( (end - start) / RUNS / 1000 )) µs per run (mean of $RUNS), peak RSS $(( rss / 1024 )) MiB"
