"""Streaming throughput and per-batch latency of `Model.stream` (the Rust `Scorer` under the
Python binding), at 1k, 10k and 100k events per batch, beside whole-table `Model.score` of
the same events.

Events: `--events` (default 1,000,000) synthetic DNS-like events, time-ordered, 2,000
events per second of event time from 5,000 sources. Two models, IsolationForest(50 trees):
  * rows:     entropy + length + character classes of the query (no window state);
  * windowed: the same + per-source 1-minute count, 1-minute distinct queries and
              seconds since the source's previous event (rows wait for their window).
Per-batch latency is the wall time of one `push` (processing time of that batch, including
the rows it releases); the event-time wait of a windowed row (up to its window length,
1 minute here) comes on top and is a property of the window, not of the machine.

Usage (release build; not part of CI):
  (cd python && maturin develop --release)
  flock /work/bench.lock .venv/bin/python benches/stream_latency.py [--events 1000000]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import pyarrow as pa

import vigil


def events(n: int, seed: int, start_s: float = 1.7e9) -> pa.Table:
    rng = np.random.default_rng(seed)
    words = np.array(["mail", "www", "api", "cdn", "login", "static", "img", "auth", "update", "sync"])
    tlds = np.array(["example.com", "corp.local", "service.net", "cloud.org"])
    q = np.char.add(np.char.add(words[rng.integers(0, len(words), n)], "."), tlds[rng.integers(0, len(tlds), n)])
    noisy = rng.random(n) < 0.01
    q = q.astype(object)
    for i in np.flatnonzero(noisy):
        q[i] = "".join(rng.choice(list("abcdefghijklmnopqrstuvwxyz0123456789"), 16)) + ".xyz"
    ts_us = (start_s * 1e6 + np.arange(n) * 500 + rng.integers(0, 500, n)).astype(np.int64)  # 2,000 ev/s
    return pa.table({
        "src_ip": pa.array([f"10.{i // 256 % 256}.{i % 256}.1" for i in rng.integers(0, 5000, n)]),
        "query": pa.array(q.tolist(), pa.string()),
        "ts": pa.array(ts_us, pa.timestamp("us", "UTC")),
    })


def models(baseline: pa.Table) -> dict[str, vigil.Model]:
    rows = [vigil.entropy("query"), vigil.length("query"), vigil.char_classes("query")]
    windowed = rows + [vigil.count(by="src_ip", every="1m", name="n_1m"),
                       vigil.distinct_count("query", by="src_ip", every="1m", name="q_1m"),
                       vigil.since_previous(by="src_ip", name="gap")]
    det = vigil.IsolationForest(n_trees=50)
    return {"rows": vigil.Pipeline(rows, detector=det, backend="cpu").fit(baseline),
            "windowed": vigil.Pipeline(windowed, detector=det, backend="cpu").fit(baseline)}


def run(model: vigil.Model, table: pa.Table, batch: int) -> dict:
    stream = model.stream([])
    lat = []
    out_rows = 0
    t0 = time.perf_counter()
    for start in range(0, table.num_rows, batch):
        part = table.slice(start, batch)
        t = time.perf_counter()
        out = stream.push(part)
        lat.append(time.perf_counter() - t)
        out_rows += 0 if out is None else out.num_rows
    out = stream.finish()
    out_rows += 0 if out is None else out.num_rows
    total = time.perf_counter() - t0
    assert out_rows == table.num_rows
    lat.sort()
    q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] * 1e3  # noqa: E731
    return {"events_s": table.num_rows / total, "p50_ms": q(0.50), "p99_ms": q(0.99),
            "max_pending": stream.stats["pending_rows"]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=1_000_000)
    args = ap.parse_args()
    baseline = events(200_000, 1, start_s=1.6e9)
    table = events(args.events, 2)
    print(f"vigil {vigil.__version__}, {args.events:,} events, backend {vigil.backend_info('cpu')['requested']}")
    print("| model | batch | events/s | per-batch p50 (ms) | p99 (ms) |")
    print("|---|---|---|---|---|")
    for name, model in models(baseline).items():
        t = time.perf_counter()
        model.score(table)
        whole = table.num_rows / (time.perf_counter() - t)
        print(f"| {name} | whole table (score) | {whole:,.0f} | | |")
        for batch in (1_000, 10_000, 100_000):
            r = run(model, table, batch)
            print(f"| {name} | {batch:,} | {r['events_s']:,.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} |", flush=True)


if __name__ == "__main__":
    main()
