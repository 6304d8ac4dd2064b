#!/bin/sh
# Regenerates the bundled usage logs from the Azure LLM inference trace (code, 2023; see
# NOTICE.md): the hour of samples/AzureLLMInferenceTrace_code_2023.csv replayed by `spillway
# simulate --log-out` through the set-ups the users see in
#   samples/topology-calibration.toml          (APIM priority policy)
#   samples/topology-calibration-litellm.toml  (LiteLLM simple-shuffle with order tiers)
# but with the provisioned deployment's hidden behaviour set to what no price list says:
#   input_tpm_per_ptu = 2000   (the catalog says 2,500 for gpt-4o)
#   bucket_s = 20              (the simulator's default burst tolerance is 60 s)
# `spillway calibrate` must recover both from the logs' 429s and spillover.
#
# Writes samples/apim-llm.csv.gz + samples/apim-gateway.csv.gz (ApiManagementGatewayLlmLog and
# ApiManagementGatewayLogs as Log Analytics CSV exports with ISO dates) and
# samples/litellm-spend.csv.gz (a LiteLLM_SpendLogs dump). With `--json DIR` it writes the APIM
# pair as diagnostic-setting JSON lines into DIR instead (what the Spark query reads).
#
# Usage: samples/make_usage_logs.sh [--json DIR]      (from anywhere; builds spillway first)
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
cargo build --release --quiet
bin="${CARGO_TARGET_DIR:-$root/target}/release/spillway"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
trace=samples/AzureLLMInferenceTrace_code_2023.csv
seed=2023 # not the default seed: the fit must not depend on replaying the same random draws

truth() {
    sed '/^sku = "GlobalProvisionedManaged"/a input_tpm_per_ptu = 2000\nbucket_s = 20' "$1" >"$2"
}
truth samples/topology-calibration.toml "$tmp/apim.toml"
truth samples/topology-calibration-litellm.toml "$tmp/litellm.toml"

if [ "${1:-}" = "--json" ]; then
    out=${2:?--json needs a directory}
    mkdir -p "$out"
    "$bin" -q simulate -t "$tmp/apim.toml" --trace "$trace" --seed "$seed" \
        --log-out "$out/apim" --log-format apim-json >/dev/null
    exit 0
fi

"$bin" -q simulate -t "$tmp/apim.toml" --trace "$trace" --seed "$seed" \
    --log-out "$tmp/apim" --log-format apim >/dev/null
"$bin" -q simulate -t "$tmp/litellm.toml" --trace "$trace" --seed "$seed" \
    --log-out "$tmp/litellm-spend" --log-format litellm >/dev/null
for f in apim-llm apim-gateway litellm-spend; do
    gzip -9 -n -c "$tmp/$f.csv" >"samples/$f.csv.gz"
done
ls -l samples/apim-llm.csv.gz samples/apim-gateway.csv.gz samples/litellm-spend.csv.gz
