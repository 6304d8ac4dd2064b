"""Builds a multi-day trace with a working-day shape from the bundled Azure conversation trace:
request sizes are drawn (with a fixed seed) from samples/AzureLLMInferenceTrace_conv_2023.csv,
arrivals are Poisson at an hourly rate that is idle at night, moderate in working hours and
busy for two hours a day. Written in the Azure 2023 format, so every spillway command reads it.

Usage: python3 samples/make_diurnal_trace.py OUT.csv [--days 3] [--seed 1]
The shape (requests per minute by UTC hour) is in RATES below; the sizes are the real trace's.
"""
import argparse
import csv
import datetime as dt
import os
import random

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(HERE, "AzureLLMInferenceTrace_conv_2023.csv")
# Requests per minute by UTC hour: idle nights, a working day, a two-hour peak.
RATES = [0, 0, 0, 0, 0, 0, 2, 20, 40, 60, 240, 240, 60, 60, 60, 40, 40, 20, 10, 4, 2, 0, 0, 0]
START = dt.datetime(2026, 1, 5)  # a Monday


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--days", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    sizes = [(int(r["ContextTokens"]), int(r["GeneratedTokens"])) for r in csv.DictReader(open(SRC))]
    with open(a.out, "w", newline="") as f:
        f.write("TIMESTAMP,ContextTokens,GeneratedTokens\n")
        for day in range(a.days):
            for hour in range(24):
                rate = RATES[hour] / 60.0
                t = 0.0
                while rate > 0:
                    t += rng.expovariate(rate)
                    if t >= 3600:
                        break
                    ts = START + dt.timedelta(days=day, hours=hour, seconds=t)
                    p, c = rng.choice(sizes)
                    f.write(f"{ts.strftime('%Y-%m-%d %H:%M:%S.%f')}0,{p},{c}\n")


if __name__ == "__main__":
    main()
