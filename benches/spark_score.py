"""vigil on Spark vs one machine vs a pandas UDF: events/s scoring the same Parquet file with
the same model, and the Spark overhead.

Data: `--rows` (default 10,000,000) synthetic DNS events (src_ip, query, ts) written once to
Parquet (row groups of 1M). Model: entropy + length + character classes of the query,
IsolationForest(50 trees), fitted on 200,000 rows; with `--windowed`, also a per-source
1-minute count (Spark repartitions by src_ip). Runs, each timed from reading the file to the
last scored row (Spark actions write to the `noop` sink, which computes every row):
  * single machine: pyarrow.parquet.read_table + vigil Model.score (2 cores via rayon);
  * vigil.spark.score on Spark local[2] (mapInArrow, Arrow in and out);
  * a pandas UDF doing the same (mapInPandas calling Model.score on each pandas frame).
Spark session start-up is reported apart.

Usage (release build; not part of CI):
  (cd python && maturin develop --release)
  flock /work/bench.lock .venv/bin/python benches/spark_score.py [--rows 10000000] [--windowed]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

import vigil
import vigil.spark


def make_events(n: int, seed: int, start_s: float = 1.7e9) -> pa.Table:
    rng = np.random.default_rng(seed)
    words = np.array(["mail", "www", "api", "cdn", "login", "static", "img", "auth", "update", "sync"])
    tlds = np.array(["example.com", "corp.local", "service.net", "cloud.org"])
    q = np.char.add(np.char.add(words[rng.integers(0, len(words), n)], "."), tlds[rng.integers(0, len(tlds), n)])
    q = q.astype(object)
    alphabet = np.array(list("abcdefghijklmnopqrstuvwxyz0123456789"))
    for i in np.flatnonzero(rng.random(n) < 0.01):
        q[i] = "".join(rng.choice(alphabet, 16)) + ".xyz"
    ips = np.array([f"10.{i // 256}.{i % 256}.1" for i in range(5000)], dtype=object)
    ts_us = (start_s * 1e6 + np.arange(n) * 100).astype(np.int64)
    return pa.table({
        "src_ip": pa.array(ips[rng.integers(0, 5000, n)].tolist(), pa.string()),
        "query": pa.array(q.tolist(), pa.string()),
        "ts": pa.array(ts_us, pa.timestamp("us", "UTC")),
    })


def write_data(path: Path, rows: int) -> None:
    schema = make_events(1, 0).schema
    with pq.ParquetWriter(path, schema) as w:
        for i, start in enumerate(range(0, rows, 1_000_000)):
            w.write_table(make_events(min(1_000_000, rows - start), 100 + i, 1.7e9 + start / 1e4))


def timed(label: str, rows: int, fn) -> float:
    t = time.perf_counter()
    fn()
    s = time.perf_counter() - t
    print(f"| {label} | {rows:,} | {s:.1f} | {rows / s:,.0f} |", flush=True)
    return s


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--windowed", action="store_true")
    ap.add_argument("--dir", default=tempfile.gettempdir())
    args = ap.parse_args()
    path = Path(args.dir) / f"vigil_spark_bench_{args.rows}.parquet"
    if not path.exists():
        t = time.perf_counter()
        write_data(path, args.rows)
        print(f"wrote {path} in {time.perf_counter() - t:.0f} s")
    feats = [vigil.entropy("query"), vigil.length("query"), vigil.char_classes("query")]
    if args.windowed:
        feats.append(vigil.count(by="src_ip", every="1m", name="n_1m"))
    model = vigil.Pipeline(feats, detector=vigil.IsolationForest(n_trees=50), backend="cpu").fit(
        make_events(200_000, 1, 1.6e9))

    print(f"model: {'windowed' if args.windowed else 'row features'}; machine: {os.cpu_count()} cores (shared)")
    print("| run | rows | seconds | events/s |")
    print("|---|---|---|---|")
    one = timed("single machine: read_table + Model.score", args.rows,
                lambda: model.score(pq.read_table(path)))

    from pyspark.sql import SparkSession

    os.environ["PYSPARK_PYTHON"] = sys.executable
    t = time.perf_counter()
    spark = (SparkSession.builder.master("local[2]").appName("vigil-bench")
             .config("spark.driver.memory", "6g")
             .config("spark.sql.shuffle.partitions", "8")
             .config("spark.sql.execution.arrow.maxRecordsPerBatch", "100000")
             .config("spark.ui.enabled", "false").config("spark.sql.session.timeZone", "UTC")
             .getOrCreate())
    spark.read.parquet(str(path)).limit(1).collect()
    print(f"(Spark session start-up and first read: {time.perf_counter() - t:.1f} s, not counted below)")
    df = spark.read.parquet(str(path))
    sp = timed("vigil.spark.score, local[2]", args.rows,
               lambda: vigil.spark.score(df, model).write.format("noop").mode("overwrite").save())
    if not args.windowed:
        text = model.to_json()
        out_schema = vigil.spark.spark_types(model.score(make_events(10, 3)).schema)

        def pandas_udf(frames):
            m = vigil.Model.from_json(text, backend="cpu")
            for pdf in frames:
                out = m._native.score(pa.Table.from_pandas(pdf, preserve_index=False), "cpu", None)
                yield out.cast(out_schema).to_pandas()

        from pyspark.sql.pandas.types import from_arrow_schema

        pu = timed("pandas UDF (mapInPandas + Model.score), local[2]", args.rows,
                   lambda: df.mapInPandas(pandas_udf, from_arrow_schema(out_schema))
                   .write.format("noop").mode("overwrite").save())
        print(f"pandas UDF / vigil.spark time: {pu / sp:.2f}")
    print(f"Spark overhead (vigil.spark time / single-machine time - 1): {sp / one - 1:+.0%}")
    print(f"per core on Spark: {args.rows / sp / 2:,.0f} events/s")
    spark.stop()


if __name__ == "__main__":
    main()
