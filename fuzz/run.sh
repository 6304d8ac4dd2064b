#!/usr/bin/env bash
# Runs spillway's fuzz targets (libFuzzer through cargo fuzz, on the stable toolchain).
#
#   fuzz/run.sh SECONDS [TARGET...]     each target (all by default) for SECONDS
#
# Each run starts from the committed seed corpus (fuzz/corpus/TARGET) and keeps what it finds
# in fuzz/work/TARGET (not committed), so that longer runs build on earlier ones. A crash ends
# that target's run with the input saved under fuzz/artifacts/TARGET/ (the others still run, and
# the script exits 1); add it to fuzz/regressions/TARGET/ (replayed by `cargo test`) once fixed.
# The summary gives each target's executions (libFuzzer's own count) and wall time.
#
# cargo-fuzz is installed when missing. libFuzzer needs the compiler's sanitizer-coverage
# flags, which the stable compiler accepts with RUSTC_BOOTSTRAP=1; no sanitizer is used
# (-s none: the product forbids unsafe code outside its allocator), but debug assertions and
# overflow checks are on (-a). With CARGO_TARGET_DIR set, the fuzz build lives in
# $CARGO_TARGET_DIR/fuzz, beside (not over) the normal build.
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:?usage: fuzz/run.sh SECONDS [TARGET...]}
shift
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install --locked cargo-fuzz@0.13.2
fi
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(ls fuzz_targets | sed 's/\.rs$//')
fi
export RUSTC_BOOTSTRAP=1
# One thread per target run: the exec counts are per core, and a second core stays free.
export RAYON_NUM_THREADS=1 POLARS_MAX_THREADS=1
flags=(-s none -a --codegen-units 16)
if [ -n "${CARGO_TARGET_DIR:-}" ]; then
  flags+=(--target-dir "$CARGO_TARGET_DIR/fuzz")
fi
# `cargo fuzz run` builds what it runs (`cargo fuzz build` takes other debug-info settings and
# would build everything twice).
summary=()
failed=()
for t in "${targets[@]}"; do
  mkdir -p "work/$t"
  log=$(mktemp)
  start=$SECONDS
  # -rss_limit_mb: polars' Parquet reader may allocate what a file's footer claims; the
  # product refuses such files, and a read that tried to allocate gigabytes is a finding.
  if ! cargo fuzz run "${flags[@]}" "$t" "work/$t" "corpus/$t" -- \
      -max_total_time="$seconds" -timeout=60 -rss_limit_mb=4096 -print_final_stats=1 \
      >"$log" 2>&1; then
    grep -v '^ *[0-9]*: \|^ *at ' "$log" | grep -B2 -A12 'panicked\|ERROR' | head -n 40
    echo "fuzz target $t failed; see fuzz/artifacts/$t/" >&2
    failed+=("$t")
  fi
  runs=$(grep -o 'number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  summary+=("$t: ${runs:-0} execs in $((SECONDS - start)) s (build included); corpus $(ls "work/$t" | wc -l) inputs")
  rm -f "$log"
done
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "failed: ${failed[*]}" >&2
  exit 1
fi
