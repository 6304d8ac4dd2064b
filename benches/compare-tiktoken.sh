#!/usr/bin/env bash
# Token-counting throughput of spillway beside python tiktoken, same machine, same run, same
# documents, with the identical-count check. Prints a Markdown table (the README's figures).
#
#   benches/compare-tiktoken.sh
#
# Needs: the Rust toolchain and python3 (a venv with tiktoken 0.14.0 is created under the target
# directory from PyPI). No other network: python tiktoken's vocabulary cache is seeded from the
# files tiktoken-rs ships, which are byte-identical to the ones tiktoken downloads (it checks
# their sha256). The corpus is built by `cargo bench --bench tokens` (see benches/tokens.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=${CARGO_TARGET_DIR:-$PWD/target}
export CARGO_TARGET_DIR=$TARGET
VENV=$TARGET/venv-tiktoken
CACHE=$TARGET/tiktoken-cache

if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet "tiktoken==0.14.0"
fi

cargo fetch --quiet
ASSETS=$(cargo metadata --format-version 1 | python3 -c '
import json, os, sys
for p in json.load(sys.stdin)["packages"]:
    if p["name"] == "tiktoken-rs":
        print(os.path.join(os.path.dirname(p["manifest_path"]), "assets")); break')
mkdir -p "$CACHE"
for e in cl100k_base o200k_base p50k_base r50k_base; do
  url="https://openaipublic.blob.core.windows.net/encodings/$e.tiktoken"
  cp "$ASSETS/$e.tiktoken" "$CACHE/$(printf '%s' "$url" | sha1sum | cut -d' ' -f1)"
done

cargo bench --quiet --bench tokens -- count >&2

CORPUS=$TARGET/bench-corpus
TIKTOKEN_CACHE_DIR=$CACHE HTTPS_PROXY=http://127.0.0.1:9 \
  "$VENV/bin/python" benches/tiktoken_baseline.py "$CORPUS" > "$CORPUS/python.json"

python3 - "$TARGET" <<'PY'
import json, os, sys
target = sys.argv[1]
corpus = os.path.join(target, "bench-corpus")
ours = json.load(open(os.path.join(corpus, "spillway-counts.json")))
py = json.load(open(os.path.join(corpus, "python.json")))
def mb_s(name, enc, mode):
    est = os.path.join(target, "criterion", f"count-{name}", f"{enc}_{mode}", "new", "estimates.json")
    ns = json.load(open(est))["mean"]["point_estimate"]
    return ours[name]["bytes"] / ns * 1e3
print(f"python tiktoken {py['tiktoken']}; {py['threads']} threads; MB = 10^6 bytes\n")
print("| corpus | encoding | python 1 thread | python batch, all threads | spillway 1 thread | spillway all threads | 1-thread speed-up | tokens (identical) |")
print("|---|---|---|---|---|---|---|---|")
ok = True
for name in ["prose", "code"]:
    for enc in ["cl100k_base", "o200k_base"]:
        p = py[name][enc]
        one, allt = mb_s(name, enc, "1-thread"), mb_s(name, enc, "all-threads")
        same = p["tokens"] == ours[name][enc]
        ok &= same
        tokens = f"{p['tokens']:,}" if same else f"MISMATCH python {p['tokens']:,} vs spillway {ours[name][enc]:,}"
        label = f"{name} ({ours[name]['documents']:,} docs, {ours[name]['bytes']/1e6:.1f} MB)"
        print(f"| {label} | {enc} | {p['one_thread_mb_s']:.1f} MB/s | {p['batch_mb_s']:.1f} MB/s | {one:.1f} MB/s | {allt:.1f} MB/s | {one / p['one_thread_mb_s']:.1f}x | {tokens} |")
sys.exit(0 if ok else 1)
PY
