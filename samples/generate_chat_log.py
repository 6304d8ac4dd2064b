"""Generates samples/chat-log.jsonl: two hours of gateway chat logs from three tenants.

    python3 samples/generate_chat_log.py > samples/chat-log.jsonl

Deterministic (fixed seed). All prompt text is composed here from our own templates and word
lists: no third-party text. When python tiktoken is importable (see the README, "Golden token
counts"), `usage.prompt_tokens` is filled in with the OpenAI cookbook formula, as the service
reports it; about a fifth of the lines carry no usage (streamed responses without
`stream_options.include_usage`), so spillway counts those itself.

Traffic shape (UTC, 2026-11-16 08:00-10:00): a morning ramp, a ten-minute burst at 09:00 when a
batch job of the search tenant starts, and a quieter tail.
"""
import json
import math
import random
import sys

SEED = 20261116
START = 1_794_816_000  # 2026-11-16T08:00:00Z
DURATION_S = 2 * 3600

rng = random.Random(SEED)

try:
    import tiktoken

    ENC = {"gpt-4o": tiktoken.get_encoding("o200k_base"), "gpt-4o-mini": tiktoken.get_encoding("o200k_base")}
except Exception:  # tiktoken absent: no usage.prompt_tokens
    ENC = None

PRODUCTS = ["Contoso Router X2", "Contoso Mesh Pro", "Contoso Cam 4K", "Contoso Hub Mini", "Contoso Door Lock"]
ISSUES = [
    "keeps dropping the connection every few minutes",
    "shows a red light after the latest firmware update",
    "cannot be added to the app although pairing mode is on",
    "reports the wrong temperature in the living room",
    "was charged twice on my last invoice",
    "stopped recording at night since Tuesday",
]
ASKS = [
    "What should I try first?",
    "Can you walk me through a reset without losing my settings?",
    "Is this covered by the warranty?",
    "How do I get a refund for the duplicate charge?",
    "Should I send it in for repair?",
]
TOPICS = ["provisioned throughput", "token quotas", "retry policies", "regional failover", "prompt caching",
          "rate limits", "cost allocation", "latency budgets", "capacity reservations", "load balancing"]
VERBS = ["reduces", "increases", "stabilises", "caps", "shifts", "spreads", "isolates", "exposes"]
NOUNS = ["the p95 latency", "the monthly bill", "throttled requests", "queueing delay", "idle capacity",
         "spillover traffic", "cache hit rates", "regional load", "burst tolerance", "error budgets"]
CODE_NAMES = ["parse_invoice", "retry_with_backoff", "merge_windows", "allocate_quota", "render_report",
              "validate_payload", "compute_percentile", "rotate_keys"]

SUPPORT_SYSTEM = (
    "You are Contoso's customer support assistant. Be concise and friendly. Follow this policy:\n"
    + "\n".join(
        f"{i + 1}. " + rng.choice([
            "Never promise refunds before the billing team confirms the charge.",
            "Ask for the device serial number when a hardware fault is reported.",
            "Offer the self-service reset guide before escalating to a technician.",
            "Warranty covers manufacturing defects for 24 months from the purchase date.",
            "Escalate safety issues (overheating, smoke, water damage) immediately.",
            "Do not collect payment card numbers in chat.",
            "Summarise the customer's issue in one sentence before answering.",
            "Use the customer's language; default to English.",
        ])
        for i in range(90)
    )
)


def sentence():
    return (f"{rng.choice(TOPICS).capitalize()} {rng.choice(VERBS)} {rng.choice(NOUNS)} "
            f"when {rng.choice(TOPICS)} {rng.choice(VERBS)} {rng.choice(NOUNS)}.")


def passage(n):
    return " ".join(sentence() for _ in range(n))


def code_snippet():
    name = rng.choice(CODE_NAMES)
    body = "\n".join(
        f"    {v} = {rng.choice(['sum', 'max', 'min', 'len'])}({rng.choice(['rows', 'items', 'window'])}[{i}:]) * {rng.randint(2, 97)}"
        for i, v in enumerate(rng.sample(["total", "peak", "floor", "count", "share", "delta", "limit"], 5))
    )
    return f"def {name}(rows, items, window):\n{body}\n    return total / max(count, 1)\n"


def support_request():
    msgs = [{"role": "system", "content": SUPPORT_SYSTEM}]
    for _ in range(rng.randint(0, 3)):
        msgs.append({"role": "user", "content": f"My {rng.choice(PRODUCTS)} {rng.choice(ISSUES)}."})
        msgs.append({"role": "assistant", "content": passage(rng.randint(1, 3))})
    msgs.append({"role": "user", "name": f"customer_{rng.randint(1000, 9999)}",
                 "content": f"My {rng.choice(PRODUCTS)} {rng.choice(ISSUES)}. {rng.choice(ASKS)}"})
    return msgs, "gpt-4o", rng.choice([400, 800]), max(8, int(rng.lognormvariate(5.0, 0.5)))


def search_request():
    docs = "\n\n".join(f"[doc {i + 1}] {passage(rng.randint(3, 12))}" for i in range(rng.randint(3, 8)))
    msgs = [
        {"role": "system", "content": "Answer only from the documents. Cite them as [doc N]."},
        {"role": "user", "content": f"Documents:\n{docs}\n\nQuestion: how do {rng.choice(TOPICS)} and {rng.choice(TOPICS)} interact?"},
    ]
    return msgs, "gpt-4o", 1000, max(20, int(rng.lognormvariate(5.6, 0.4)))


def code_request():
    msgs = [
        {"role": "system", "content": "You review Python code. Reply with a list of concrete issues."},
        {"role": "user", "content": "Review this function:\n```python\n" + code_snippet() + "```"},
    ]
    if rng.random() < 0.5:
        return msgs, "gpt-4o-mini", 300, max(5, int(rng.lognormvariate(4.2, 0.6)))
    return msgs, "gpt-4o", 600, max(10, int(rng.lognormvariate(4.8, 0.5)))


def prompt_tokens(model, msgs):
    enc = ENC[model]
    n = 3  # reply priming
    for m in msgs:
        n += 3
        for k, v in m.items():
            n += len(enc.encode_ordinary(v))
            if k == "name":
                n += 1
    return n


def rate(t):
    """Requests per second at t seconds after 08:00."""
    base = 0.08 + 0.17 * min(1.0, t / 2400)          # ramp over the first 40 minutes
    if 3600 <= t < 4200:                              # 09:00-09:10 burst
        base += 0.5
    if t >= 5400:                                     # quieter tail after 09:30
        base *= 0.6
    return base


TENANTS = [
    ("contoso-support", "ptu-swedencentral", support_request, 0.5),
    ("fabrikam-search", "ptu-swedencentral", search_request, 0.3),
    ("adatum-code", "payg-eastus", code_request, 0.2),
]


def main():
    t = 0.0
    out = sys.stdout
    while True:
        # Thinning of a Poisson process with the piecewise rate above.
        t += rng.expovariate(1.0)
        if t >= DURATION_S:
            break
        if rng.random() > rate(t):
            continue
        burst = 3600 <= t < 4200
        weights = [0.25, 0.65, 0.10] if burst else [w for *_, w in TENANTS]
        tenant, deployment, make, _ = rng.choices(TENANTS, weights=weights)[0]
        msgs, model, max_tokens, completion = make()
        completion = min(completion, max_tokens)
        ts = START + t
        line = {
            "timestamp": f"{_utc(ts)}",
            "tenant": tenant,
            "deployment": deployment,
            "model": model + ("-2024-08-06" if model == "gpt-4o" else "-2024-07-18"),
            "request": {"messages": msgs, "max_tokens": max_tokens, "temperature": 0.2},
        }
        if ENC is None or rng.random() >= 0.8:
            # A streamed response logged without usage: the gateway kept the text.
            line["response"] = passage(max(1, completion // 15))
        else:
            p = prompt_tokens(model, msgs)
            # Azure caches prompt prefixes of 1,024 tokens and more, in 128-token steps: the
            # shared support policy is such a prefix.
            system = prompt_tokens(model, msgs[:1]) - 3
            cached = (system // 128) * 128 if tenant == "contoso-support" and system >= 1024 and rng.random() < 0.7 else 0
            line["usage"] = {
                "prompt_tokens": p,
                "completion_tokens": completion,
                "total_tokens": p + completion,
                "prompt_tokens_details": {"cached_tokens": cached},
            }
        out.write(json.dumps(line, ensure_ascii=False) + "\n")


def _utc(ts):
    import datetime
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


if __name__ == "__main__":
    main()
