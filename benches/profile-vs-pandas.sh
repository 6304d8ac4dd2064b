#!/usr/bin/env bash
# Profile throughput on a 16.8 M-row token trace, beside pandas (read_csv + resample) on the
# same file, same machine, same run. Prints a Markdown table (the README's figures).
#
#   benches/profile-vs-pandas.sh
#
# Needs python3; pandas is installed into a venv under the target directory from PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=${CARGO_TARGET_DIR:-$PWD/target}
export CARGO_TARGET_DIR=$TARGET
DATA=$TARGET/bench-data
VENV=$TARGET/venv-pandas
mkdir -p "$DATA"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet pandas
fi
TRACE=$DATA/azure_code_16.8M.csv
[ -s "$TRACE" ] || python3 benches/make_week_trace.py samples/AzureLLMInferenceTrace_code_2023.csv "$TRACE"
cargo build --release --quiet
BIN=$TARGET/release/spillway

best() { # best wall time of 3 runs, and the peak RSS of the last, of a command
  local best=999999 rss=0
  for _ in 1 2 3; do
    /usr/bin/time -f "%e %M" -o "$DATA/time.txt" "$@" > "$DATA/out.json"
    read -r s kb < "$DATA/time.txt"
    best=$(python3 -c "print(min($best, $s))"); rss=$kb
  done
  echo "$best $rss"
}
read -r ours ours_kb < <(best "$BIN" profile "$TRACE" --format json --quiet)
cp "$DATA/out.json" "$DATA/spillway.json"
read -r pandas pandas_kb < <(best "$VENV/bin/python" benches/pandas_profile.py "$TRACE")
cp "$DATA/out.json" "$DATA/pandas.json"

python3 - "$DATA" "$ours" "$ours_kb" "$pandas" "$pandas_kb" "$TRACE" <<'PY'
import json, os, sys
data, ours, ours_kb, pandas, pandas_kb, trace = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
s = json.load(open(os.path.join(data, "spillway.json")))
p = json.load(open(os.path.join(data, "pandas.json")))
assert s["requests"] == p["rows"], (s["requests"], p["rows"])
assert s["windows"] == p["windows"], (s["windows"], p["windows"])
assert abs(s["tpm"]["p50"] - p["tpm"]["quantiles"][0]) <= 1e-6 * max(1, p["tpm"]["quantiles"][0]), ("median TPM differs", s["tpm"]["p50"], p["tpm"]["quantiles"][0])
size = os.path.getsize(trace) / 1e6
print(f"Trace: {s['requests']:,} rows, {size:,.0f} MB, {s['windows']:,} one-minute windows; {os.cpu_count()} cores\n")
print("| tool | wall time (best of 3) | rows/s | peak RSS |")
print("|---|---|---|---|")
print(f"| spillway profile | {ours:.2f} s | {s['requests']/ours/1e6:.1f} M | {ours_kb/1024:,.0f} MB |")
print(f"| pandas read_csv + resample | {pandas:.2f} s | {p['rows']/pandas/1e6:.1f} M | {pandas_kb/1024:,.0f} MB |")
print(f"\nspeed-up: {pandas/ours:.1f}x; median TPM identical ({s['tpm']['p50']:,.0f})")
PY
