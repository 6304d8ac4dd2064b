"""Builds a 16.8 M-row token trace, the size of one week of Azure's 2024 code trace, from the
hour-long Azure 2023 code trace: 1,906 copies, each shifted 5 minutes after the previous one,
so copies overlap as concurrent traffic and the whole spans 6.6 days (~28 requests/s, like the
2024 week).

Usage: python3 make_week_trace.py samples/AzureLLMInferenceTrace_code_2023.csv OUT.csv
Keeps the 2023 format (7 fractional digits, no zone, CRLF). Shifting by whole minutes only
changes the "YYYY-MM-DD HH:MM" prefix of each timestamp, so rows are written by string surgery
with one date computation per copy and minute.
"""
import datetime
import sys

COPIES = 1906
SHIFT = datetime.timedelta(minutes=5)

src, dst = sys.argv[1], sys.argv[2]
with open(src, "rb") as f:
    data = f.read()
lines = data.split(b"\r\n")
header, rows = lines[0], [l for l in lines[1:] if l]
by_minute = {}
for r in rows:
    by_minute.setdefault(r[:16], []).append(r[16:])
minutes = sorted(by_minute)
parsed = {m: datetime.datetime.strptime(m.decode(), "%Y-%m-%d %H:%M") for m in minutes}
with open(dst, "wb") as out:
    out.write(header + b"\r\n")
    for k in range(COPIES):
        for m in minutes:
            prefix = (parsed[m] + k * SHIFT).strftime("%Y-%m-%d %H:%M").encode()
            out.write(b"\r\n".join(prefix + rest for rest in by_minute[m]))
            out.write(b"\r\n")
print(f"{COPIES * len(rows):,} rows", file=sys.stderr)
