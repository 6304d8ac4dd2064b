"""pandas baseline for the profile benchmark: read_csv + 1-minute resample + the same statistics
spillway reports (mean, p50/p90/p95/p99/p99.9, max of RPM and TPM; per-request percentiles).

Usage: python pandas_profile.py TRACE.csv   (prints wall seconds and a few figures as JSON)
"""
import json
import sys
import time

import pandas as pd

t0 = time.perf_counter()
df = pd.read_csv(sys.argv[1], usecols=["TIMESTAMP", "ContextTokens", "GeneratedTokens"])
df["TIMESTAMP"] = pd.to_datetime(df["TIMESTAMP"], format="%Y-%m-%d %H:%M:%S.%f")
per_min = df.set_index("TIMESTAMP").resample("1min").agg({"ContextTokens": ["size", "sum"], "GeneratedTokens": "sum"})
rpm = per_min[("ContextTokens", "size")]
tpm = per_min[("ContextTokens", "sum")] + per_min[("GeneratedTokens", "sum")]
q = [0.5, 0.9, 0.95, 0.99, 0.999]
out = {
    "rows": len(df),
    "windows": len(per_min),
    "rpm": {"mean": rpm.mean(), "max": float(rpm.max()), "quantiles": rpm.quantile(q).tolist()},
    "tpm": {"mean": tpm.mean(), "max": float(tpm.max()), "quantiles": tpm.quantile(q).tolist()},
    "prompt_quantiles": df["ContextTokens"].quantile(q).tolist(),
    "completion_quantiles": df["GeneratedTokens"].quantile(q).tolist(),
}
out["seconds"] = time.perf_counter() - t0
print(json.dumps(out))
