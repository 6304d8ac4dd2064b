#!/usr/bin/env bash
# `spillway plan` over the one-week trace (16,809,014 requests, built from the bundled Azure code
# trace by benches/make_week_trace.py): a sweep of 30 candidate sizes (--max-candidates 30,
# without the sensitivity re-runs), as a user runs it, on all cores. Prints wall time, peak RSS
# and how many simulations ran, for each of RUNS runs.
#
#   benches/plan-week.sh            # RUNS=3, the trace in target/bench/week.csv
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
mkdir -p target/bench
W=${WEEK:-target/bench/week.csv}
[ -f "$W" ] || python3 benches/make_week_trace.py samples/AzureLLMInferenceTrace_code_2023.csv "$W"
cargo build --release --locked -q
for i in $(seq "$RUNS"); do
  /usr/bin/time -f "%e %M" -o target/bench/plan.time \
    target/release/spillway plan -t benches/week-plan.toml --trace "$W" \
    --max-candidates 30 --no-sensitivity --format json -q > target/bench/plan.json
  read -r wall rss < target/bench/plan.time
  python3 - "$wall" "$rss" <<'PY'
import json, sys
j = json.load(open("target/bench/plan.json"))
wall, rss = float(sys.argv[1]), int(sys.argv[2])
print(f"{wall:.1f} s wall, {rss / 1024:.0f} MiB peak RSS, {j['run']['simulations']} candidates "
      f"simulated ({j['traffic']['requests']:,} requests each); recommended "
      f"{j['recommended']['deployments'][0]['capacity']} PTU")
PY
done
