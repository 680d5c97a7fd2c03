"""vigil.spark on a local Spark (local[2]): scoring through mapInArrow equals single-machine
scoring exactly on real shared data (OTRF Zeek conn log, Loghub HDFS), window stages
included; fits per partition merge into the single-machine fit (rarity counts); robust z is
refused. One SparkSession for the module; skipped only when pyspark or Java is missing
(CI installs both)."""

from __future__ import annotations

import os
import shutil
import sys
import zipfile
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest

import vigil
import vigil.spark

pyspark = pytest.importorskip("pyspark")
if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
    pytest.skip("no Java runtime for Spark", allow_module_level=True)

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
ZEEK = DATA / "otrf/datasets/compound/LSASS_campaign_01/metasploit_logonpasswords_lsass_memory_dump_zeek_logs.zip"
HDFS = DATA / "hdfs_labelled" / "HDFS_5k.log"


@pytest.fixture(scope="module")
def spark():
    from pyspark.sql import SparkSession

    os.environ["PYSPARK_PYTHON"] = sys.executable     # workers run this venv's Python
    session = (SparkSession.builder.master("local[2]").appName("vigil-tests")
               .config("spark.sql.shuffle.partitions", "4")
               .config("spark.sql.execution.arrow.maxRecordsPerBatch", "64")
               .config("spark.ui.enabled", "false")
               .config("spark.sql.session.timeZone", "UTC")
               .getOrCreate())
    yield session
    session.stop()


def zeek_conn(tmp_path: Path) -> pl.DataFrame:
    if not ZEEK.exists():
        pytest.skip(f"shared data missing: {ZEEK}")
    with zipfile.ZipFile(ZEEK) as z:
        (tmp_path / "conn.log").write_bytes(z.read("conn.log"))
    df = vigil.read_log(str(tmp_path / "conn.log"), "zeek")
    return df.with_columns(pl.col("ts").cast(pl.Float64), pl.col("_line").cast(pl.Int64))


def hdfs() -> pl.DataFrame:
    if not HDFS.exists():
        pytest.skip(f"shared data missing: {HDFS}")
    df = vigil.read_log(str(HDFS), "loghub:HDFS")
    df = vigil.TemplateMiner().parse(df, "Content")
    return df.with_columns(
        pl.col("_line").cast(pl.Int64),
        pl.col("template_id").cast(pl.Utf8),
        (pl.col("Date") + pl.col("Time")).str.strptime(pl.Datetime("us", "UTC"), "%y%m%d%H%M%S").alias("ts"),
    ).drop("template", "parameters")


def single_machine(model: vigil.Model, df: pl.DataFrame) -> pl.DataFrame:
    """model.score on one machine with the feature columns, in the types Spark holds
    (unsigned widened)."""
    table = model.score(df.to_arrow(), features=True)
    return pl.from_arrow(table.cast(vigil.spark.spark_types(table.schema)))


def on_spark(spark, model: vigil.Model, df: pl.DataFrame, **kw) -> pl.DataFrame:
    sdf = spark.createDataFrame(df.to_pandas())
    return pl.from_arrow(vigil.spark.score(sdf, model, features=True, **kw).toArrow())


def same(a: pl.DataFrame, b: pl.DataFrame, key: str) -> None:
    a, b = a.sort(key), b.select(a.columns).sort(key)
    assert a.height == b.height
    for c in a.columns:
        assert a[c].equals(b[c], check_names=True), f"column {c} differs"


def test_zeek_conn_windows_and_beacons_score_exactly_as_on_one_machine(spark, tmp_path):
    df = zeek_conn(tmp_path)
    model = vigil.Pipeline([
        vigil.count(by="id.orig_h", every="1m", time="ts", name="conns_1m"),
        vigil.distinct_count("id.resp_p", by="id.orig_h", every="1m", period="5m", time="ts", name="ports_5m"),
        vigil.since_previous(by="id.orig_h", time="ts", name="gap"),
        vigil.beaconing("id.orig_h", "id.resp_h", "ts"),
        vigil.entropy("history"), vigil.length("service"),
    ], detector=vigil.IsolationForest(n_trees=25)).fit(df)
    assert vigil.spark.entity_columns(model) == ["id.orig_h"]
    want = single_machine(model, df)
    got = on_spark(spark, model, df, partitions=3)
    same(got, want, "_line")
    # Row features alone: no shuffle, each Arrow batch scored as it comes.
    rows = vigil.Pipeline([vigil.entropy("history"), vigil.length("uid")],
                          detector=vigil.PcaResidual()).fit(df)
    same(on_spark(spark, rows, df), single_machine(rows, df), "_line")


def test_hdfs_templates_and_windows_score_exactly_as_on_one_machine(spark):
    df = hdfs()
    model = vigil.Pipeline([
        vigil.count(by="Component", every="1m", name="per_min"),
        vigil.distinct_count("template_id", by="Component", every="5m", name="templates_5m"),
        vigil.entropy("Content"),
    ], detector=vigil.IsolationForest(n_trees=25), threshold=vigil.ScoreAbove(0.6)).fit(df)
    same(on_spark(spark, model, df), single_machine(model, df), "_line")


def test_fit_per_partition_merges_into_the_single_machine_fit(spark, tmp_path):
    df = hdfs()
    pipe = vigil.Pipeline([vigil.length("Content")], detector=vigil.Rarity(["Component", ("Level", "template_id")]),
                          threshold=vigil.ScoreAbove(6.0))
    sdf = spark.createDataFrame(df.to_pandas()).repartition(3)
    merged = vigil.spark.fit(sdf, pipe)
    whole = pipe.fit(df)
    # Counts add up exactly: the merged model scores every row as the whole-baseline fit.
    a, b = merged.score(df), whole.score(df)
    assert a["score"].equals(b["score"])
    assert a["alert"].equals(b["alert"])
    with pytest.raises(vigil.ParameterError):
        vigil.spark.fit(sdf, vigil.Pipeline([vigil.length("Content")], detector=vigil.RobustZ()))


def test_progress_follows_spark_tasks_and_leaves_results_alone(spark, capsys):
    df = hdfs()
    pipe = vigil.Pipeline([vigil.length("Content")], detector=vigil.Rarity(["Component"]),
                          threshold=vigil.ScoreAbove(6.0))
    sdf = spark.createDataFrame(df.to_pandas()).repartition(3)
    calls: list[tuple[int, int]] = []
    with_calls = vigil.spark.fit(sdf, pipe, progress=lambda done, total: calls.append((done, total)))
    quiet = vigil.spark.fit(sdf, pipe, progress=False)
    assert with_calls.to_json() == quiet.to_json()
    # Driven: tasks done never go back, and the last report is every task of the job, at
    # least one per partition of the 3 the fit runs on.
    assert calls, "the progress callback was never called"
    done = [d for d, _ in calls]
    assert done == sorted(done)
    assert calls[-1][0] == calls[-1][1] >= 3

    # Around an action on a (lazy) scored DataFrame, with a tqdm bar.
    model = pipe.fit(df)
    plain = vigil.spark.score(sdf, model).toArrow()
    seen: list[tuple[int, int]] = []
    with vigil.spark.progress(spark, lambda done, total: seen.append((done, total))):
        counted = vigil.spark.score(sdf, model).toArrow()
    assert counted.sort_by("_line").equals(plain.sort_by("_line"))
    assert seen and seen[-1][0] == seen[-1][1] >= 3
    capsys.readouterr()
    with vigil.spark.progress(spark.range(10), True, desc="counting"):
        assert spark.range(1000).count() == 1000
    assert "counting" in capsys.readouterr().err
    # The job group is put back: a later job is not counted.
    assert spark.sparkContext.getLocalProperty("spark.jobGroup.id") is None
