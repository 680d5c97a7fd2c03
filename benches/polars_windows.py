"""count + exact distinct dst ports + sum of bytes per src_ip per 1-minute tumbling window, in
polars (`group_by_dynamic`, the tool a data scientist would pick), on the Parquet file that
`cargo bench -p vigil --bench windows` writes. Times read + aggregate end to end, best of
--repeat runs (--truncate: also a plain group_by on the truncated time). With --vigil it also times vigil's Python API (CPU backend) in the same way,
and with --check it asserts that vigil's table equals polars' (same groups, same values).

    python benches/polars_windows.py target/bench-data/flows_10000000.parquet [--vigil] [--check]
"""

from __future__ import annotations

import argparse
import time

import polars as pl


def polars_run(path: str) -> pl.DataFrame:
    df = pl.read_parquet(path)
    return (
        df.group_by_dynamic("ts", every="1m", group_by="src_ip")
        .agg(
            pl.len().alias("count"),
            pl.col("dst_port").n_unique().alias("distinct_ports"),
            pl.col("bytes").sum().alias("bytes"),
        )
    )


def polars_truncate_run(path: str) -> pl.DataFrame:
    """The same table through a plain group_by on the truncated time (tumbling windows only)."""
    df = pl.read_parquet(path)
    return (
        df.group_by("src_ip", pl.col("ts").dt.truncate("1m"))
        .agg(
            pl.len().alias("count"),
            pl.col("dst_port").n_unique().alias("distinct_ports"),
            pl.col("bytes").sum().alias("bytes"),
        )
    )


def vigil_run(path: str) -> pl.DataFrame:
    import pyarrow.parquet as pq

    import vigil

    table = pq.read_table(path)
    aggs = [
        vigil.count(by="src_ip", every="1m", name="count"),
        vigil.distinct_count("dst_port", by="src_ip", every="1m", name="distinct_ports"),
        vigil.sum("bytes", by="src_ip", every="1m", name="bytes"),
    ]
    return pl.from_arrow(vigil.aggregate(table, aggs, backend="cpu"))


def best(fn, path: str, repeat: int) -> tuple[float, pl.DataFrame]:
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn(path)
        times.append(time.perf_counter() - t)
    return min(times), out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("path")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--vigil", action="store_true")
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--truncate", action="store_true", help="also time polars group_by on dt.truncate")
    args = ap.parse_args()
    t, ref = best(polars_run, args.path, args.repeat)
    print(f"polars {pl.__version__} group_by_dynamic: {t:.3f} s (best of {args.repeat}), {ref.height} groups")
    if args.truncate:
        t, alt = best(polars_truncate_run, args.path, args.repeat)
        print(f"polars {pl.__version__} group_by(src_ip, ts.dt.truncate('1m')): {t:.3f} s (best of {args.repeat}), {alt.height} groups")
    if args.vigil or args.check:
        t, ours = best(vigil_run, args.path, args.repeat)
        print(f"vigil (Python, CPU): {t:.3f} s (best of {args.repeat}), {ours.height} groups")
    if args.check:
        ref = ref.rename({"ts": "window_start"}).with_columns(
            pl.col("count").cast(pl.UInt64), pl.col("distinct_ports").cast(pl.UInt64)
        ).sort("src_ip", "window_start")
        ours = ours.with_columns(pl.col("window_start").dt.cast_time_unit("us")).sort("src_ip", "window_start")
        assert ours.equals(ref.select(ours.columns)), "vigil and polars differ"
        print("check: vigil's table equals polars'")


if __name__ == "__main__":
    main()
