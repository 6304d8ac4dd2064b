"""Builds a 16.8 M-row token trace (the size of one week of Azure's 2024 code trace) by laying
1,906 copies of the hour-long Azure 2023 code trace end to end, one hour apart.

Usage: python3 make_week_trace.py samples/AzureLLMInferenceTrace_code_2023.csv OUT.csv
Keeps the 2023 format (7 fractional digits, no zone, CRLF). Shifting by whole hours only
changes the date-and-hour prefix of each timestamp, so copies are written by string surgery.
"""
import datetime
import sys

COPIES = 1906

src, dst = sys.argv[1], sys.argv[2]
with open(src, "rb") as f:
    data = f.read()
lines = data.split(b"\r\n")
header, rows = lines[0], [l for l in lines[1:] if l]
base = datetime.datetime(2023, 11, 16)
by_hour = {}
for r in rows:
    by_hour.setdefault(int(r[11:13]), []).append(r[13:])
with open(dst, "wb") as out:
    out.write(header + b"\r\n")
    for k in range(COPIES):
        for hour in sorted(by_hour):
            t = base + datetime.timedelta(hours=hour + k)
            prefix = t.strftime("%Y-%m-%d %H").encode()
            out.write(b"\r\n".join(prefix + rest for rest in by_hour[hour]))
            out.write(b"\r\n")
print(f"{COPIES * len(rows):,} rows", file=sys.stderr)
