"""Windowed aggregates against polars (group_by_dynamic / group_by) as the reference, the
pipeline integration, time features against polars' own time-zone arithmetic, beaconing."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import polars as pl
import pyarrow as pa
import pytest

import vigil

BASE = dt.datetime(2024, 3, 9, 22, 0, tzinfo=dt.timezone.utc)


def flows(n: int = 20_000, seed: int = 1, keys: int = 50, null_frac: float = 0.05) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    src = [f"10.0.0.{i}" for i in rng.integers(0, keys, n)]
    for i in np.flatnonzero(rng.random(n) < null_frac):
        src[i] = None
    port = rng.choice([22, 53, 80, 443, 8080, 3389], n).astype(np.int64)
    port_list = [int(p) if r > 0.03 else None for p, r in zip(port, rng.random(n))]
    offsets_us = rng.integers(0, 2 * 3600 * 10**6, n)
    return pl.DataFrame({
        "src_ip": src,
        "dst_port": port_list,
        "bytes": rng.integers(-100, 1_000_000, n),
        "status": rng.choice(["success", "failure"], n),
        "ts": [BASE + dt.timedelta(microseconds=int(o)) for o in offsets_us],
    }).with_columns(pl.col("ts").dt.cast_time_unit("us"))


def aggs(every, period=None):
    kw = dict(every=every, period=period)
    return [
        vigil.count(by="src_ip", **kw, name="n"),
        vigil.distinct_count("dst_port", by="src_ip", **kw, name="ports"),
        vigil.sum("bytes", by="src_ip", **kw, name="bytes_sum"),
        vigil.min("bytes", by="src_ip", **kw, name="bytes_min"),
        vigil.max("bytes", by="src_ip", **kw, name="bytes_max"),
        vigil.mean("bytes", by="src_ip", **kw, name="bytes_mean"),
        vigil.std("bytes", by="src_ip", **kw, name="bytes_std"),
        vigil.ratio("status", "==", "failure", by="src_ip", **kw, name="fail_ratio"),
    ]


POLARS_AGGS = [
    pl.len().cast(pl.UInt64).alias("n"),
    pl.col("dst_port").drop_nulls().n_unique().cast(pl.UInt64).alias("ports"),
    pl.col("bytes").sum().alias("bytes_sum"),
    pl.col("bytes").min().alias("bytes_min"),
    pl.col("bytes").max().alias("bytes_max"),
    pl.col("bytes").mean().alias("bytes_mean"),
    pl.col("bytes").std().alias("bytes_std"),
    (pl.col("status") == "failure").mean().alias("fail_ratio"),
]

EXACT = ["n", "ports", "bytes_sum", "bytes_min", "bytes_max"]
FLOATS = ["bytes_mean", "bytes_std", "fail_ratio"]


def compare(ours: pl.DataFrame, ref: pl.DataFrame, keys: list[str]) -> None:
    ours = ours.sort(keys, nulls_last=True)
    ref = ref.sort(keys, nulls_last=True)
    assert ours.height == ref.height
    for k in keys:
        assert ours[k].to_list() == ref[k].to_list(), k
    for c in EXACT:
        assert ours[c].to_list() == ref[c].to_list(), c
    for c in FLOATS:
        np.testing.assert_allclose(ours[c].to_numpy(), ref[c].to_numpy(), rtol=1e-9, atol=1e-9, err_msg=c)


def test_tumbling_equals_polars_group_by_dynamic_unsorted_with_null_keys():
    df = flows()
    ours = vigil.aggregate(df, aggs("1m"))  # unsorted input is fine for vigil
    assert isinstance(ours, pl.DataFrame)
    ref = (df.sort("ts").group_by_dynamic("ts", every="1m", group_by="src_ip").agg(POLARS_AGGS)
           .rename({"ts": "window_start"}))
    ours = ours.with_columns(pl.col("window_start").dt.cast_time_unit("us"))
    assert ours["src_ip"].null_count() > 0  # null sources are a group of their own
    compare(ours, ref, ["src_ip", "window_start"])


def test_whole_input_equals_polars_group_by():
    df = flows(seed=2)
    ours = vigil.aggregate(df, aggs(None))
    ref = df.group_by("src_ip").agg(POLARS_AGGS)
    compare(ours, ref, ["src_ip"])


def test_hopping_equals_polars_group_by_dynamic_with_period():
    df = flows(seed=3, n=8_000)
    ours = vigil.aggregate(df, aggs("1m", "5m")).with_columns(pl.col("window_start").dt.cast_time_unit("us"))
    ref = (df.sort("ts").group_by_dynamic("ts", every="1m", period="5m", group_by="src_ip").agg(POLARS_AGGS)
           .rename({"ts": "window_start"}))
    # polars starts each entity's windows at its first event's step; vigil also emits the
    # windows that started up to `period` earlier and already hold that event. Compare from
    # polars' first window on.
    first = df.group_by("src_ip").agg(pl.col("ts").min().dt.truncate("1m").alias("first"))
    ours = ours.join(first, on="src_ip", how="left", nulls_equal=True)
    ours = ours.filter(pl.col("window_start") >= pl.col("first")).drop("first")
    compare(ours, ref, ["src_ip", "window_start"])


def test_hll_within_stated_error():
    rng = np.random.default_rng(5)
    n = 300_000
    df = pl.DataFrame({
        "user": rng.choice(["a", "b", "c"], n),
        "value": rng.integers(0, 10**9, n),
        "ts": np.zeros(n, dtype=np.int64),
    })
    ours = vigil.aggregate(df, [vigil.distinct_count("value", by="user", approx=True, name="approx"),
                                vigil.distinct_count("value", by="user", name="exact")])
    ref = df.group_by("user").agg(pl.col("value").n_unique().alias("ref")).sort("user")
    ours = ours.sort("user")
    assert ours["exact"].to_list() == ref["ref"].to_list()
    rel = np.abs(ours["approx"].to_numpy() / ref["ref"].to_numpy() - 1)
    assert (rel <= 3 * 0.01625).all(), rel


def test_streaming_parquet_equals_in_memory(tmp_path):
    df = flows(seed=4)
    path = tmp_path / "flows.parquet"
    df.write_parquet(path, row_group_size=3000)
    streamed = pl.from_arrow(vigil.aggregate_parquet(path, aggs("1m"), batch_rows=2500))
    whole = vigil.aggregate(df, aggs("1m"))
    compare(streamed, whole, ["src_ip", "window_start"])


def test_pipeline_and_extract_broadcast_window_values():
    df = flows(seed=6, n=5_000)
    features = [vigil.count(by="src_ip", every="5m"), vigil.distinct_count("dst_port", by="src_ip", every="5m"),
                vigil.time_features("ts", tz="Europe/Paris"), vigil.entropy("status")]
    model = vigil.Pipeline(features, backend="cpu").fit(df)
    scored = model.score(df, features=True)
    assert isinstance(scored, pl.DataFrame) and scored.height == df.height
    assert "src_ip_count_5m" in model.feature_names
    ref = df.with_columns(pl.len().over("src_ip", pl.col("ts").dt.truncate("5m")).alias("ref"))
    assert scored["src_ip_count_5m"].cast(pl.UInt32).to_list() == ref["ref"].to_list()
    out = vigil.extract(df.to_arrow(), [vigil.distinct_count("dst_port", by="src_ip", every="5m", name="p5")])
    assert isinstance(out, pa.Table)
    ref = df.with_columns(pl.col("dst_port").drop_nulls().n_unique()
                          .over("src_ip", pl.col("ts").dt.truncate("5m")).alias("ref"))
    assert out.column("p5").to_pylist() == [float(x) for x in ref["ref"].to_list()]
    again = vigil.Model.from_json(model.to_json())
    assert again.feature_names == model.feature_names


def test_time_features_match_polars_time_zone_arithmetic():
    df = flows(seed=7, n=2_000)  # spans the 2024-03-10 US daylight-saving change
    out = vigil.extract(df, [vigil.time_features("ts", tz="America/New_York")])
    local = df["ts"].dt.convert_time_zone("America/New_York")
    sec = (local.dt.hour().cast(pl.Int64) * 3600 + local.dt.minute().cast(pl.Int64) * 60
           + local.dt.second().cast(pl.Int64)).to_numpy()
    dow = (local.dt.weekday().cast(pl.Int64) - 1).to_numpy()  # polars: Monday = 1
    np.testing.assert_allclose(out["ts_hour_sin"].to_numpy(), np.sin(2 * math.pi * sec / 86400), atol=1e-5)
    np.testing.assert_allclose(out["ts_hour_cos"].to_numpy(), np.cos(2 * math.pi * sec / 86400), atol=1e-5)
    np.testing.assert_allclose(out["ts_dow_sin"].to_numpy(), np.sin(2 * math.pi * dow / 7), atol=1e-5)
    np.testing.assert_allclose(out["ts_dow_cos"].to_numpy(), np.cos(2 * math.pi * dow / 7), atol=1e-5)


def test_beacons_rank_first():
    rng = np.random.default_rng(8)
    rows = []
    for h in range(200):
        for _ in range(rng.integers(5, 40)):
            rows.append((f"h{h}", f"s{rng.integers(0, 20)}", float(rng.uniform(0, 7200))))
    t = 3.0
    while t < 7200:
        rows.append(("implant", "c2", t))
        t += 30 * (1 + 0.05 * rng.uniform(-1, 1))
    df = pl.DataFrame(rows, schema=["src", "dst", "ts"], orient="row")
    table = vigil.beacons(df, "src", "dst")
    assert table.row(0, named=True)["src"] == "implant"
    assert table.row(0, named=True)["interval_cv"] < 0.05
    scored = vigil.extract(df, [vigil.beaconing("src", "dst")])
    best = scored.sort("src_dst_beacon_score", descending=True).row(0, named=True)
    assert best["src"] == "implant"


def test_bad_specs_raise_named_errors():
    df = flows(n=100)
    with pytest.raises(vigil.ParameterError):
        vigil.aggregate(df, [vigil.count(by="src_ip", every="5 minutes")])
    with pytest.raises(vigil.SchemaError):
        vigil.aggregate(df, [vigil.count(by="nope", every="1m")])
    with pytest.raises(vigil.ParameterError):
        vigil.aggregate(df, [vigil.count(by="src_ip", every="1m"), vigil.count(by="src_ip", every="5m")])
    with pytest.raises(ValueError):
        vigil.ratio("status", "~", "x", by="src_ip")


def test_windowed_model_scores_in_one_piece():
    df = flows(seed=10, n=3_000, keys=5)
    model = vigil.Pipeline([vigil.count(by="src_ip", every="1h", name="n1h"), vigil.entropy("status")],
                           backend="cpu").fit(df)
    whole = model.score(df, features=True)
    sliced = model.score(df, batch_rows=500, features=True)  # would cut windows if it were sliced
    assert whole["n1h"].to_list() == sliced["n1h"].to_list()


def _over_reference(df: pl.DataFrame, by: str, every: str) -> pl.DataFrame:
    """polars window expressions: count, distinct non-null ports, sum of bytes per (by, window),
    null where the row's time is null."""
    w = [by, pl.col("ts").dt.truncate(every)]
    has_t = pl.col("ts").is_not_null()
    return df.select(
        n=pl.when(has_t).then(pl.len().over(w)),
        ports=pl.when(has_t).then(pl.col("dst_port").drop_nulls().n_unique().over(w)),
        total=pl.when(has_t).then(pl.col("bytes").sum().over(w)),
    )


@pytest.mark.parametrize("variant", ["naive_unsorted", "tz_sorted", "int_key", "categorical_key", "chunked"])
def test_extract_shared_grouping_equals_polars_over(variant):
    df = flows(seed=12, n=30_000, keys=400)
    rng = np.random.default_rng(12)
    # Null times: those rows keep a row with null aggregates.
    df = df.with_columns(pl.when(pl.Series(rng.random(df.height) < 0.02)).then(None).otherwise(pl.col("ts")).alias("ts"))
    if variant == "naive_unsorted":
        df = df.with_columns(pl.col("ts").dt.replace_time_zone(None))
    elif variant == "tz_sorted":
        df = df.with_columns(pl.col("ts").dt.convert_time_zone("Asia/Kolkata")).sort("ts", nulls_last=True)
    elif variant == "int_key":
        df = df.with_columns(pl.col("src_ip").str.split(".").list.last().cast(pl.Int64))
    elif variant == "categorical_key":
        df = df.with_columns(pl.col("src_ip").cast(pl.Categorical))
    else:
        df = pl.concat([df.slice(0, 7_000), df.slice(7_000, 11_000), df.slice(18_000)], rechunk=False)
        assert df.n_chunks() == 3
    every = "1m" if variant != "tz_sorted" else "30m"  # half-hour offset zone: windows stay UTC-aligned
    feats = [vigil.count(by="src_ip", every=every, name="n"),
             vigil.distinct_count("dst_port", by="src_ip", every=every, name="ports"),
             vigil.sum("bytes", by="src_ip", every=every, name="total")]
    out = vigil.extract(df, feats)
    assert out.height == df.height and out.columns[: df.width] == df.columns
    if variant == "tz_sorted":
        # vigil's windows are aligned to the Unix epoch (UTC), polars truncates in local time:
        # compare against polars on the same instants in UTC.
        ref = _over_reference(df.with_columns(pl.col("ts").dt.convert_time_zone("UTC")), "src_ip", every)
    else:
        ref = _over_reference(df, "src_ip", every)
    assert out["ts"].null_count() > 0
    for c in ("n", "ports", "total"):
        # vigil returns exact Int64 per event: equal values, nulls included.
        assert out[c].dtype == pl.Int64, c
        assert out[c].to_list() == ref[c].cast(pl.Int64).to_list(), c


def test_polars_in_polars_out_never_loads_pyarrow():
    """``import vigil`` and ``extract`` / ``aggregate`` of a chunked polars frame go through the
    Arrow stream interface and never import pyarrow (0.1-0.25 s of a short process); the
    values equal polars' own ``group_by`` and window expressions."""
    import subprocess
    import sys

    code = """
import sys
import polars as pl
import vigil
assert "pyarrow" not in sys.modules, "import vigil loaded pyarrow"
df = pl.DataFrame({"src": ["a", "b", "a", None, "a", "b", "c"],
                   "port": [1, 2, 1, 3, 2, None, 5],
                   "ts": [0, 10, 20, 30, 70, 80, 90]}).with_columns(pl.from_epoch("ts", time_unit="s"))
df = pl.concat([df.slice(0, 3), df.slice(3)], rechunk=False)
feats = [vigil.count(by="src", every="1m", name="n"), vigil.distinct_count("port", by="src", every="1m", name="d")]
out = vigil.extract(df, feats)
assert out.columns == ["src", "port", "ts", "n", "d"], out.columns
assert out["n"].to_list() == [2, 1, 2, 1, 1, 1, 1], out["n"].to_list()
assert out["d"].to_list() == [1, 1, 1, 1, 1, 0, 1], out["d"].to_list()
table = vigil.aggregate(df, feats).sort("src", "window_start", nulls_last=True)
ref = (df.group_by("src", pl.col("ts").dt.truncate("1m").alias("window_start"))
         .agg(n=pl.len(), d=pl.col("port").drop_nulls().n_unique())
         .sort("src", "window_start", nulls_last=True))
assert table["n"].to_list() == ref["n"].to_list() and table["d"].to_list() == ref["d"].to_list()
assert "pyarrow" not in sys.modules, "a polars call loaded pyarrow"
"""
    subprocess.run([sys.executable, "-c", code], check=True)
