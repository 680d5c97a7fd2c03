"""Streaming from Python: Model.stream over polars / pyarrow / Arrow IPC equals whole-table
scoring; a chunked table with window stages is scored in one piece (counts checked against
polars group_by); late events are counted, not dropped; vigil.tail follows a growing log."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.ipc as ipc

import vigil

BASE = dt.datetime(2024, 3, 9, 22, 0, tzinfo=dt.timezone.utc)


def events(n: int, seed: int) -> pl.DataFrame:
    """Time-ordered events of 20 sources, gaps of 0-20 s: 1-minute windows hold a few rows."""
    rng = np.random.default_rng(seed)
    gaps = rng.integers(0, 20_000_000, n).cumsum()
    return pl.DataFrame({
        "src_ip": [f"10.0.0.{i}" for i in rng.integers(0, 20, n)],
        "dst": rng.choice(["a.example", "b.example", "c.example"], n),
        "dst_port": rng.choice([22, 53, 80, 443], n).astype(np.int64),
        "ts": [BASE + dt.timedelta(microseconds=int(g)) for g in gaps],
    }).with_columns(pl.col("ts").dt.cast_time_unit("us"))


def windowed_model(baseline: pl.DataFrame) -> vigil.Model:
    return vigil.Pipeline([
        vigil.count(by="src_ip", every="1m", name="n_1m"),
        vigil.distinct_count("dst_port", by="src_ip", every="1m", period="5m", name="ports_5m"),
        vigil.since_previous(by="src_ip", name="gap"),
        vigil.time_features("ts"),
        vigil.beaconing("src_ip", "dst"),
        vigil.entropy("dst"),
    ], detector=vigil.IsolationForest(n_trees=20)).fit(baseline)


def test_stream_equals_whole_table_scoring_for_polars_and_pyarrow():
    model = windowed_model(events(800, 1))
    df = events(1500, 2)
    whole = model.score(df)
    for size in (1, 7, 1000):
        parts = list(model.stream(df.slice(i, size) for i in range(0, df.height, size)))
        assert all(isinstance(p, pl.DataFrame) for p in parts)
        assert pl.concat(parts).equals(whole)
    table = df.to_arrow()
    out = list(model.stream(table.to_batches(max_chunksize=97)))
    assert pa.concat_tables([pa.Table.from_batches([b]) if isinstance(b, pa.RecordBatch) else b
                             for b in out]).equals(model.score(table))


def test_stream_reads_an_arrow_ipc_stream(tmp_path):
    model = windowed_model(events(800, 3))
    table = events(1200, 4).to_arrow()
    path = tmp_path / "events.arrows"
    with ipc.new_stream(str(path), table.schema) as w:
        for b in table.to_batches(max_chunksize=100):
            w.write_batch(b)
    with ipc.open_stream(str(path)) as reader:
        out = pa.concat_tables(pa.Table.from_batches([b]) for b in model.stream(reader))
    assert out.equals(model.score(table))


def test_a_chunked_table_is_scored_in_one_piece():
    # Before streaming landed, each chunk of a pyarrow table was scored apart, cutting windows.
    model = vigil.Pipeline([vigil.count(by="src_ip", every="1m", name="n")]).fit(events(500, 5))
    df = events(2000, 6)
    chunked = pa.Table.from_batches(df.to_arrow().to_batches(max_chunksize=333))
    assert chunked.column("ts").num_chunks > 1
    got = pl.from_arrow(model.score(chunked, features=True))
    ref = (df.with_row_index("i")
             .with_columns(pl.len().over("src_ip", pl.col("ts").dt.truncate("1m")).alias("ref")))
    assert got["n"].cast(pl.Int64).to_list() == ref["ref"].cast(pl.Int64).to_list()


def test_late_events_are_counted_and_kept():
    model = vigil.Pipeline([vigil.count(by="src_ip", every="1m", name="n")]).fit(events(500, 7))
    df = events(300, 8)
    late = df.slice(0, 1)                         # the first event again, after later ones
    stream = model.stream([df.slice(0, 150), late, df.slice(150, 150)], features=True)
    out = pl.concat(list(stream))
    assert out.height == 301
    assert stream.stats["late_rows"] == 1
    assert out["n"][150] is None
    # With a lateness of a day nothing is late and the late row's window counts it.
    stream = model.stream([df.slice(0, 150), late, df.slice(150, 150)], lateness="1d")
    out = pl.concat(list(stream))
    assert stream.stats["late_rows"] == 0
    whole = model.score(pl.concat([df.slice(0, 150), late, df.slice(150, 150)]))
    assert out.equals(whole)


def test_tail_follows_a_growing_log(tmp_path):
    path = tmp_path / "app.jsonl"
    df = events(400, 9)
    lines = [json.dumps({"src_ip": r["src_ip"], "dst": r["dst"], "ts": r["ts"].timestamp()})
             for r in df.iter_rows(named=True)]
    path.write_text("\n".join(lines[:100]) + "\n" + lines[100][:10])   # a line cut mid-write
    whole = pl.from_arrow(pa.Table.from_pylist([json.loads(x) for x in lines]))
    model = vigil.Pipeline([vigil.count(by="src_ip", every="1m", name="n", time="ts")],
                           detector=vigil.Rarity(["src_ip"])).fit(whole)

    def writer():
        time.sleep(0.3)
        with open(path, "a") as f:
            f.write(lines[100][10:] + "\n")
            for i in range(101, 400, 50):
                f.write("\n".join(lines[i:i + 50]) + "\n")
                f.flush()
                time.sleep(0.1)

    t = threading.Thread(target=writer)
    t.start()
    # The reader gives text fields: `prepare` casts the time to epoch seconds before scoring.
    parts = list(vigil.tail(str(path), "jsonl", model=model, poll_seconds=0.05, idle_seconds=1.5, features=True,
                            prepare=lambda d: d.with_columns(pl.col("ts").cast(pl.Float64))))
    t.join()
    out = pl.concat(parts)
    assert out.height == 400
    assert out["_line"].to_list() == list(range(1, 401))
    # Every event's window count equals the count over the whole file (polars reference).
    ref = whole.with_columns(pl.len().over("src_ip", (pl.col("ts") // 60)).alias("ref"))
    assert out["n"].cast(pl.Int64).to_list() == ref["ref"].cast(pl.Int64).to_list()
