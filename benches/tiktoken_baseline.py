"""python tiktoken on the benchmark corpus: single-thread and batch throughput, and token totals.

Usage: python tiktoken_baseline.py CORPUS_DIR > python.json   (reads prose.jsonl and code.jsonl)
Each line of DOCS.jsonl is one JSON string (one document). Run by benches/compare-tiktoken.sh.
"""
import json
import os
import sys
import time

import tiktoken


def best_of(n, fn):
    best = float("inf")
    result = None
    for _ in range(n):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def main():
    out = {"tiktoken": tiktoken.__version__, "threads": os.cpu_count()}
    for corpus in ["prose", "code"]:
        docs = [json.loads(line) for line in open(os.path.join(sys.argv[1], corpus + ".jsonl"), encoding="utf-8")]
        nbytes = sum(len(d.encode("utf-8")) for d in docs)
        res = {"documents": len(docs), "bytes": nbytes}
        for name in ["cl100k_base", "o200k_base"]:
            enc = tiktoken.get_encoding(name)
            enc.encode_ordinary("warm up")
            t1, total = best_of(3, lambda: sum(len(enc.encode_ordinary(d)) for d in docs))
            tb, batch = best_of(3, lambda: sum(len(t) for t in enc.encode_ordinary_batch(docs, num_threads=os.cpu_count())))
            assert batch == total
            res[name] = {"tokens": total, "one_thread_mb_s": nbytes / t1 / 1e6, "batch_mb_s": nbytes / tb / 1e6}
        out[corpus] = res
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
