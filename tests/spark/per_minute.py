"""Runs `spillway query spark` on APIM diagnostic-setting JSON with pyspark in local mode.

Usage: python per_minute.py LLM.json GATEWAY.json QUERY.sql OUT.csv

The views are registered as the query's header says (`llm`, `gateway`, session time zone UTC);
the result is written as one CSV with a header, as a lakehouse job would write it.
"""

import csv
import sys

from pyspark.sql import SparkSession


def main() -> None:
    llm, gateway, query, out = sys.argv[1:5]
    spark = (
        SparkSession.builder.master("local[2]")
        .appName("spillway-per-minute")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    spark.read.json(llm).createOrReplaceTempView("llm")
    spark.read.json(gateway).createOrReplaceTempView("gateway")
    with open(query, encoding="utf-8") as f:
        sql = f.read()
    df = spark.sql(sql)
    with open(out, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(df.columns)
        for row in df.collect():
            w.writerow(["" if v is None else v for v in row])
    spark.stop()


if __name__ == "__main__":
    main()
