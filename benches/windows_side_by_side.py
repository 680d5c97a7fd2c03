"""Windowed aggregates, vigil vs polars, through the Python API, whole process, side by side.

count + exact distinct dst ports + sum of bytes per src_ip per 1-minute tumbling window, in
two shapes: the per-window table (`vigil.aggregate`) and per event (`vigil.extract`), against
every polars formulation worth trying (table: `group_by` + `dt.truncate`, `group_by_dynamic`;
per event: `.over([...])`, `group_by` + `dt.truncate` + join back). Each run is its own
process timed with `/usr/bin/time` (seconds and peak RSS), best of `--repeat`; the outputs of
every formulation are checked to agree (group count and value sums) before a figure is shown.

Data (seeded, generated once into `--dir`): flows with `ts` (timestamp[us]) over 24 h,
`src_ip`, `dst_ip`, `dst_port` (int32, 1% random scan ports), `bytes` (int64, log-normal):
- uniform: 5,000 sources, uniform random times (the shared `gen_flows.py` shape);
- skewed: 2,000 sources, a few busy (source index = 2000 * u^2);
each as sorted by time + naive timestamps, and with `--variants`: `unsorted` (rows shuffled)
and `tz` (timestamp[us, Europe/Paris]).

    python benches/windows_side_by_side.py --rows 2000000 10000000 --shapes uniform skewed \
        --variants sorted unsorted tz

Run it under `flock /work/bench.lock` on a shared machine so two benchmarks never overlap.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile

EVERY = "1m"


def generate(path: str, rows: int, shape: str, variant: str, seed: int = 11) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    r = np.random.default_rng(seed)
    ts = np.sort(r.integers(0, 86_400_000_000, rows)).astype("int64") + 1_700_000_000_000_000
    if shape == "uniform":
        src = r.integers(0, 5_000, rows)
    else:
        src = (2_000 * r.random(rows) ** 2).astype("int64")
    dst = r.integers(0, 50_000, rows)
    # Build the address strings once per distinct value, then gather (fast for 10M rows).
    src_names = np.array([f"10.0.{s // 256}.{s % 256}" for s in range(5_000)], dtype=object)
    dst_names = np.array([f"172.16.{d // 256}.{d % 256}" for d in range(50_000)], dtype=object)
    port = r.choice(np.array([22, 53, 80, 443, 445, 3389, 8080], dtype="int32"), rows)
    scan = r.random(rows) < 0.01
    port[scan] = r.integers(1, 65535, scan.sum()).astype("int32")
    nbytes = r.lognormal(7, 2, rows).astype("int64")
    order = r.permutation(rows) if variant == "unsorted" else np.arange(rows)
    tz = "Europe/Paris" if variant == "tz" else None
    table = pa.table({
        "ts": pa.array(ts[order], pa.timestamp("us", tz=tz)),
        "src_ip": pa.array(src_names[src[order]], pa.string()),
        "dst_ip": pa.array(dst_names[dst[order]], pa.string()),
        "dst_port": pa.array(port[order]),
        "bytes": pa.array(nbytes[order]),
    })
    pq.write_table(table, path)


# --- one formulation, run in its own process: prints a fingerprint of its output ----------


def run(mode: str, path: str) -> None:
    import polars as pl

    df = pl.read_parquet(path)
    w = ["src_ip", pl.col("ts").dt.truncate(EVERY)]
    aggs = dict(n=pl.len(), ports=pl.col("dst_port").n_unique(), total=pl.col("bytes").sum())
    if mode.startswith("vigil"):
        os.environ.setdefault("VIGIL_BACKEND", "cpu")
        import vigil

        feats = [vigil.count(by="src_ip", every=EVERY, name="n"),
                 vigil.distinct_count("dst_port", by="src_ip", every=EVERY, name="ports"),
                 vigil.sum("bytes", by="src_ip", every=EVERY, name="total")]
        out = vigil.aggregate(df, feats) if mode == "vigil-table" else vigil.extract(df, feats)
    elif mode == "polars-truncate":
        out = df.group_by(*w).agg(**aggs)
    elif mode == "polars-dynamic":
        out = df.sort("ts").group_by_dynamic("ts", every=EVERY, group_by="src_ip").agg(**aggs)
    elif mode == "polars-over":
        out = df.with_columns(**{k: v.over(w) for k, v in aggs.items()})
    elif mode == "polars-join":
        df = df.with_columns(win=pl.col("ts").dt.truncate(EVERY))
        out = df.join(df.group_by("src_ip", "win").agg(**aggs), on=["src_ip", "win"], how="left")
    else:
        raise SystemExit(f"unknown mode {mode}")
    if mode.endswith("table") or mode in ("polars-truncate", "polars-dynamic"):
        print("FP", fingerprint(out, per_event=False))
    else:
        assert out.height == df.height
        print("FP", fingerprint(out, per_event=True))


def fingerprint(out, per_event: bool) -> str:
    """Group count (table) or row count (per event), and exact Int64 sums of the values (vigil
    returns Int64 per event and per window)."""
    import polars as pl

    s = out.select(pl.len().alias("rows"),
                   *[pl.col(c).cast(pl.Int64).sum() for c in ("n", "ports", "total")],
                   (pl.col("n").cast(pl.Float64) * pl.col("ports").cast(pl.Float64)).sum().alias("np"))
    return " ".join(f"{v:.6g}" if isinstance(v, float) else str(v) for v in s.row(0))


# --- the driver -----------------------------------------------------------------------------

TABLE = ["vigil-table", "polars-truncate", "polars-dynamic"]
EVENT = ["vigil-event", "polars-over", "polars-join"]


def timed(mode: str, path: str) -> tuple[float, int, str]:
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        p = subprocess.run(["/usr/bin/time", "-o", tf.name, "-f", "%e %M", sys.executable, __file__,
                            "--run", mode, path], capture_output=True, text=True)
        if p.returncode != 0:
            raise SystemExit(f"{mode} failed on {path}:\n{p.stderr}")
        secs, rss = tf.read().split()[-2:]
    fp = next(line[3:] for line in p.stdout.splitlines() if line.startswith("FP "))
    return float(secs), int(rss) // 1024, fp


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", nargs=2, metavar=("MODE", "PATH"), help=argparse.SUPPRESS)
    ap.add_argument("--rows", type=int, nargs="+", default=[2_000_000])
    ap.add_argument("--shapes", nargs="+", default=["uniform", "skewed"])
    ap.add_argument("--variants", nargs="+", default=["sorted"], help="sorted, unsorted, tz")
    ap.add_argument("--shape-of", nargs="+", default=["table", "event"], help="table, event")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip", nargs="*", default=[], help="formulations left out, e.g. polars-dynamic")
    ap.add_argument("--dir", default=os.path.join(tempfile.gettempdir(), "vigil-windows-bench"))
    args = ap.parse_args()
    if args.run:
        run(*args.run)
        return
    os.makedirs(args.dir, exist_ok=True)
    print(f"{'data':<28} {'shape':<6} {'formulation':<16} {'best s':>7} {'peak MiB':>9}  vs vigil")
    for rows in args.rows:
        for shape in args.shapes:
            for variant in args.variants:
                path = os.path.join(args.dir, f"flows_{shape}_{variant}_{rows}.parquet")
                if not os.path.exists(path):
                    generate(path, rows, shape, variant)
                for kind in args.shape_of:
                    modes = [m for m in (TABLE if kind == "table" else EVENT) if m not in args.skip]
                    res = {}
                    for _ in range(args.repeat):
                        for m in modes:  # interleaved, so load changes hit every side alike
                            secs, rss, fp = timed(m, path)
                            best = res.get(m)
                            res[m] = (min(secs, best[0]) if best else secs, max(rss, best[1]) if best else rss, fp)
                    fps = {m: r[2] for m, r in res.items()}
                    if len(set(fps.values())) != 1:
                        raise SystemExit(f"outputs differ on {path} ({kind}): {fps}")
                    ours = res[modes[0]][0]
                    data = f"{shape} {rows // 1_000_000}M {variant}"
                    for m in modes:
                        secs, rss, _ = res[m]
                        ratio = "" if m == modes[0] else f"{secs / ours:.2f}x"
                        print(f"{data:<28} {kind:<6} {m:<16} {secs:>7.2f} {rss:>9}  {ratio}", flush=True)


if __name__ == "__main__":
    main()
