"""polars is optional (every function works with pyarrow alone), and progress reports of the
long calls (read_log, aggregate_parquet, Model.score_parquet) count what was really done."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import vigil

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
LINUX = DATA / "loghub" / "Linux" / "Linux_2k.log"
needs_data = pytest.mark.skipif(not LINUX.exists(), reason="../shared/data not present")


@pytest.fixture
def no_polars(monkeypatch):
    """`import polars` fails, as in an environment without it."""
    monkeypatch.setitem(sys.modules, "polars", None)
    with pytest.raises(ImportError):
        import polars  # noqa: F401


@needs_data
def test_read_log_and_templates_without_polars(no_polars):
    t, rep = vigil.read_log(LINUX, "syslog", report=True)
    assert isinstance(t, pa.Table) and t.num_rows == 2000 and rep["rows"] == 2000
    # The message column as the raw lines have it: the text after "<app>[pid]: ".
    first = LINUX.read_text().splitlines()[0]
    assert first.endswith(t["message"][0].as_py())
    with pytest.raises(ImportError, match="vigil\\[polars\\]"):
        vigil.read_log(LINUX, "syslog", to="polars")

    miner = vigil.TemplateMiner()
    parsed = miner.parse(t, column="message")
    assert isinstance(parsed, pa.Table)
    templates = miner.templates()
    assert isinstance(templates, pa.Table)
    assert templates.schema.field("template_id").type == pa.uint64()
    assert templates.schema.field("size").type == pa.uint64()
    assert sum(templates["size"].to_pylist()) == 2000
    assert set(templates["template_id"].to_pylist()) == set(parsed["template_id"].to_pylist())
    # A list of messages gives a pyarrow Table too.
    out = vigil.TemplateMiner().parse(["a 1", "a 2"])
    assert isinstance(out, pa.Table) and out["template"].to_pylist() == ["a <*>", "a <*>"]


def test_drift_evaluate_and_scoring_without_polars(no_polars):
    ref = pa.table({"x": [float(i % 50) for i in range(1000)]})
    cur = pa.table({"x": [float(i % 50) + 40 for i in range(1000)]})
    d = vigil.drift(ref, cur)
    assert isinstance(d, pa.Table) and d["drifted"].to_pylist() == [True]
    model = vigil.Pipeline([vigil.log1p("x")]).fit(ref)
    scored = model.score(cur)
    assert isinstance(scored, pa.Table) and scored.num_rows == 1000
    ev = vigil.evaluate(scored.append_column("label", pa.array([i % 2 == 0 for i in range(1000)])), "label")
    assert 0.0 <= ev.as_dict()["roc_auc"] <= 1.0


@needs_data
def test_read_log_progress_reports_bytes_up_to_the_file_size():
    calls = []
    t, _ = vigil._native.read_log(str(LINUX), "syslog", batch_rows=500, progress=lambda d, n: calls.append((d, n)))
    size = os.path.getsize(LINUX)
    assert t.num_rows == 2000
    assert len(calls) == 4  # one report per batch of 500 lines
    assert all(n == size for _, n in calls)
    done = [d for d, _ in calls]
    assert done == sorted(done) and done[-1] == size


def test_score_parquet_equals_score_and_reports_rows(tmp_path):
    n = 10_000
    table = pa.table({"query": [f"host{i % 97}.example{'x' * (i % 13)}.com" for i in range(n)]})
    src, dst = tmp_path / "in.parquet", tmp_path / "out.parquet"
    pq.write_table(table, src, row_group_size=3000)
    model = vigil.Pipeline([vigil.entropy("query"), vigil.length("query")]).fit(table.slice(0, 2000))
    calls = []
    summary = model._native.with_feature_columns(True).score_parquet(
        str(src), str(dst), 4096, "auto", None, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(4096, n), (8192, n), (n, n)]
    expected = model.score(table, features=True)
    got = pq.read_table(dst)
    assert got.column_names == expected.column_names
    for name in ("score", "alert", "query_entropy", "query_len_bytes"):
        assert got[name].to_pylist() == expected[name].to_pylist()
    assert summary == {"rows": n, "alerts": sum(expected["alert"].to_pylist()), "unscored": 0}
    # The Python method, with the bar off.
    assert model.score_parquet(src, tmp_path / "again.parquet", progress=False) == summary


def test_aggregate_parquet_progress_reports_rows(tmp_path):
    n = 5000
    table = pa.table({"ts": pa.array([i * 10 for i in range(n)], pa.int64()), "src": [f"h{i % 7}" for i in range(n)]})
    path = tmp_path / "flows.parquet"
    pq.write_table(table, path)
    calls = []
    aggs = [vigil.count(by="src", every="1h")]
    out = vigil._native.window_aggregate_parquet(
        json.dumps([a._spec() for a in aggs]), str(path), 2000, "auto", progress=lambda d, t: calls.append((d, t)))
    assert calls == [(2000, n), (4000, n), (n, n)]
    assert out.equals(vigil.aggregate_parquet(path, aggs, batch_rows=2000, progress=False))
    assert sum(out.column(out.num_columns - 1).to_pylist()) == n


def test_progress_bars_quiet_unless_asked(capsys, tmp_path):
    pytest.importorskip("tqdm")
    table = pa.table({"x": [float(i) for i in range(3000)]})
    model = vigil.Pipeline([vigil.log1p("x")]).fit(table)
    # Not a terminal (pytest captures stderr): no bar by default.
    model.score(table, batch_rows=1000)
    assert capsys.readouterr().err == ""
    model.score(table, batch_rows=1000, progress=False)
    assert capsys.readouterr().err == ""
    # Asked for: a bar on stderr.
    model.score(table, batch_rows=1000, progress=True)
    assert "vigil score" in capsys.readouterr().err
    path = tmp_path / "x.parquet"
    pq.write_table(table, path)
    model.score_parquet(path, tmp_path / "y.parquet", batch_rows=1000, progress=True)
    assert "vigil score_parquet" in capsys.readouterr().err
