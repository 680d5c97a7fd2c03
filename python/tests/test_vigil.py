"""Tests of the Python face of vigil: types in = types out, no copies on the way in,
named exceptions, hand-checked values, model files."""

import json
import math
import os
import pathlib
import random

import polars as pl
import pyarrow as pa
import pytest

import vigil

DATA = pathlib.Path(__file__).resolve().parents[2].parent / "shared" / "data"
FEATURES = [vigil.length("q"), vigil.entropy("q"), vigil.char_classes("q")]


def baseline_df() -> pl.DataFrame:
    return pl.DataFrame({"q": ["google.com", "example.org", "wikipedia.org", "github.com", "python.org", "rust-lang.org"]})


def current_df() -> pl.DataFrame:
    return pl.DataFrame({"q": ["google.com", "xj3k9q2lz8w7.biz", None, "ab"]})


def fit(backend: str = "cpu") -> vigil.Model:
    return vigil.Pipeline(FEATURES, detector=vigil.RobustZ(top_k=2), backend=backend).fit(baseline_df())


def test_polars_in_polars_out():
    scored = fit().score(current_df())
    assert isinstance(scored, pl.DataFrame)
    assert scored.height == 4, "rows in = rows out"
    # Verdict columns only by default; the features on request, same scores either way.
    assert scored.columns == ["q", "score", "explanation", "alert", "unscored_reason"]
    with_features = fit().score(current_df(), features=True)
    names = fit().feature_names
    assert with_features.columns == ["q", *names, "score", "explanation", "alert", "unscored_reason"]
    assert names[:3] == ["q_len_bytes", "q_len_chars", "q_entropy"]
    assert with_features.select(scored.columns).equals(scored)
    assert scored["score"][2] is None and "null" in scored["unscored_reason"][2]
    top = scored.sort("score", descending=True, nulls_last=True)["q"][0]
    assert top == "xj3k9q2lz8w7.biz"
    expl = scored["explanation"][1]
    assert len(expl) == 2 and set(expl[0].keys()) == {"feature", "contribution", "value"}


def test_pyarrow_in_pyarrow_out():
    model = fit()
    table = current_df().to_arrow()
    out = model.score(table)
    assert isinstance(out, pa.Table) and out.num_rows == 4
    batch = pa.RecordBatch.from_pydict({"q": ["a.com", "b.net"]})
    out_batch = model.score(batch)
    assert isinstance(out_batch, pa.RecordBatch) and out_batch.num_rows == 2


def test_hand_checked_values():
    df = pl.DataFrame({"q": ["", "aaaa", "ab", "abcd", "naïve"]})
    out = vigil.extract(df, [vigil.entropy("q"), vigil.length("q")], backend="cpu")
    assert out["q_entropy"].to_list()[:4] == [0.0, 0.0, 1.0, 2.0]
    assert (out["q_len_bytes"][4], out["q_len_chars"][4]) == (6, 5)


def test_extract_standardize_and_empty_input():
    df = pl.DataFrame({"x": [1.0, 2.0, 3.0]})
    out = vigil.extract(df, [vigil.standardize("x")], backend="cpu")
    assert out["x_standardized"].to_list()[1] == 0.0
    empty = vigil.extract(pa.table({"q": pa.array([], type=pa.string())}), [vigil.entropy("q")], backend="cpu")
    assert empty.num_rows == 0 and "q_entropy" in empty.column_names


def test_polars_strings_are_not_copied_on_the_way_in():
    # A polars string column reaches Rust as Utf8View: its data buffer must be polars' own.
    s = "x" * 40  # longer than 12 bytes, so stored out of line in a data buffer
    df = pl.DataFrame({"q": [s + str(i) for i in range(1000)]})
    theirs = df.to_arrow(compat_level=pl.CompatLevel.newest())["q"].chunk(0).buffers()[2].address
    ours = vigil._native._string_data_address(df, "q")[0]
    assert ours == theirs


def test_pyarrow_strings_are_not_copied_on_the_way_in():
    table = pa.table({"q": pa.array(["alpha.com", "beta.org"] * 500, type=pa.string())})
    theirs = table["q"].chunk(0).buffers()[2].address
    assert vigil._native._string_data_address(table, "q") == [theirs]
    large = pa.table({"q": pa.array(["a", "b"], type=pa.large_string())})
    assert vigil._native._string_data_address(large, "q") == [large["q"].chunk(0).buffers()[2].address]


def test_exceptions_are_named():
    model = fit()
    with pytest.raises(vigil.SchemaError, match="column `q` not found"):
        model.score(pl.DataFrame({"query": ["a"]}))
    with pytest.raises(vigil.SchemaError, match="Int64"):
        model.score(pl.DataFrame({"q": [1, 2]}))
    with pytest.raises(vigil.ParameterError):
        vigil.Pipeline([vigil.ngrams("q", n=9)]).fit(baseline_df())
    with pytest.raises(vigil.InputError):
        vigil.Pipeline(FEATURES, backend="cpu").fit(pl.DataFrame({"q": pl.Series([], dtype=pl.Utf8)}))
    with pytest.raises(vigil.InputError):
        vigil.Pipeline(FEATURES, backend="cpu").fit(pl.DataFrame({"q": [None, None]}, schema={"q": pl.Utf8}))
    with pytest.raises(vigil.ModelError, match="version"):
        vigil.Model.from_json(model.to_json().replace('"version": 2', '"version": 3'))
    with pytest.raises(vigil.ModelError):
        vigil.Model.from_json("{not json")
    with pytest.raises(TypeError):
        model.score([1, 2, 3])
    assert issubclass(vigil.GpuError, vigil.VigilError)


def test_nan_and_inf_become_null_scores():
    model = vigil.Pipeline([vigil.log1p("x")], backend="cpu").fit(pl.DataFrame({"x": [1.0, 2.0, 3.0, 10.0]}))
    out = model.score(pl.DataFrame({"x": [float("nan"), float("inf"), -3.0, 1.0]}), features=True)
    assert out.height == 4
    assert out["x_log1p"].null_count() == 3
    assert math.isclose(out["x_log1p"][3], math.log(2.0), rel_tol=1e-6)
    assert out["score"].null_count() == 3


def test_model_save_load_round_trip(tmp_path):
    model = fit()
    path = tmp_path / "model.json"
    model.save(str(path))
    doc = json.loads(path.read_text())
    assert doc["format"] == "vigil.pipeline" and doc["version"] == 2
    loaded = vigil.Model.load(str(path), backend="cpu")
    assert loaded.score(current_df()).equals(model.score(current_df()))
    assert loaded.feature_names == model.feature_names


def test_reprs_and_backend_info():
    pipe = vigil.Pipeline([vigil.ngrams("q", n=3, dims=256)])
    assert "ngrams" in repr(pipe) and "<table>" in pipe._repr_html_()
    model = fit()
    assert "q_entropy" in model._repr_html_()
    info = vigil.backend_info("cpu")
    assert info["requested"] == "cpu" and info["adapter"] is None
    stats = model.baseline_stats()
    assert stats.num_rows == len(model.feature_names)


def test_batched_scoring_with_progress_matches_one_shot():
    model = fit()
    df = pl.DataFrame({"q": [f"host{i}.example.com" for i in range(2500)]})
    whole = model.score(df)
    sliced = model.score(df, batch_rows=1000, progress=False)
    assert sliced.equals(whole)


def test_alerts_returns_only_alerting_rows():
    model = vigil.Pipeline(FEATURES, threshold=vigil.TopN(1), backend="cpu").fit(baseline_df())
    alerts = model.alerts(current_df())
    assert alerts.height == 1 and alerts["q"][0] == "xj3k9q2lz8w7.biz"


def gpu_or_skip():
    info = vigil.backend_info("gpu")
    if info["adapter"] is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but no GPU adapter: {info['adapter_error']}")
        pytest.skip(f"no GPU adapter: {info['adapter_error']}")


def test_gpu_and_cpu_agree_from_python():
    gpu_or_skip()
    domains = (DATA / "domains" / "opendns-top-domains.txt").read_text().split()
    df = pl.DataFrame({"q": domains})
    feats = FEATURES + [vigil.ngrams("q", n=2, dims=64)]
    cpu = vigil.extract(df, feats, backend="cpu")
    gpu = vigil.extract(df, feats, backend="gpu")
    for col in cpu.columns[1:]:
        if cpu[col].dtype == pl.Float32:
            assert ((cpu[col] - gpu[col]).abs() <= 1e-5 * cpu[col].abs().clip(lower_bound=1.0)).all(), col
        elif cpu[col].dtype in (pl.UInt32, pl.Boolean):
            assert cpu[col].equals(gpu[col]), col
        else:
            assert cpu[col].to_list() == gpu[col].to_list(), col


def test_one_duration_parser_for_python():
    parse = vigil._native.parse_duration
    assert parse("30s") == 30 * 10**9
    assert parse("1h30m") == 5_400 * 10**9
    assert parse("250ms") == 250 * 10**6
    assert parse("1w") == 7 * 86_400 * 10**9
    assert parse(90) == parse(90.0) == 90 * 10**9
    assert parse(0.5) == 500 * 10**6
    for bad in ["fortnight", "1.5h", "", "5", 0, -1, float("nan"), True, None]:
        with pytest.raises(vigil.ParameterError):
            parse(bad, "every")
    # TopPerWindow stores whole seconds, from the same parser.
    assert vigil.TopPerWindow(1, "1h30m", "ts")._spec()["every_seconds"] == 5_400
    assert vigil.TopPerWindow(1, "1w", "ts")._spec()["every_seconds"] == 604_800
    assert vigil.TopPerWindow(1, 3600, "ts")._spec()["every_seconds"] == 3_600
    assert vigil.TopPerWindow(1, 60.0, "ts")._spec()["every_seconds"] == 60
    for bad in ["fortnight", "500ms", "1m500ms", 1.5, 0, -60]:
        with pytest.raises(ValueError):
            vigil.TopPerWindow(1, bad, "ts")._spec()
        with pytest.raises(vigil.ParameterError):
            vigil.TopPerWindow(1, bad, "ts")._spec()


def test_modules_import_each_other_only_at_the_top():
    """No vigil module imports another inside a function (to dodge an import cycle)."""
    import ast

    package = pathlib.Path(vigil.__file__).parent
    for path in sorted(package.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for fn in ast.walk(tree):
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for node in ast.walk(fn):
                    relative = isinstance(node, ast.ImportFrom) and (node.level > 0 or (node.module or "").startswith("vigil"))
                    absolute = isinstance(node, ast.Import) and any(a.name.split(".")[0] == "vigil" for a in node.names)
                    assert not (relative or absolute), f"{path.name}:{node.lineno} imports vigil inside {fn.name}()"


def test_only_alert_rows_are_explained_by_default():
    """Explanations are computed for alert rows (others null); explain="all" explains every
    row, and an alert row's explanation is the same either way."""
    names = ["google.com", "example.org", "wikipedia.org", "github.com", "python.org", "rust-lang.org"] * 50
    current = pl.DataFrame({"q": names[:40] + ["xj3k9q2lz8w7.biz", "qqqqzzzzxxxx.ru", None, "Ä.de"]})
    model = vigil.Pipeline(FEATURES, detector=vigil.RobustZ(top_k=2), threshold=vigil.TopN(2),
                           backend="cpu").fit(pl.DataFrame({"q": names}))
    some = model.score(current)
    every = model.score(current, explain="all")
    assert some.height == every.height == current.height
    assert some["score"].to_list() == every["score"].to_list()
    assert some["alert"].to_list() == every["alert"].to_list() and some["alert"].sum() == 2
    for i, alert in enumerate(some["alert"].to_list()):
        if alert:
            assert some["explanation"][i].to_list() == every["explanation"][i].to_list()
            assert len(some["explanation"][i]) == 2
        else:
            assert some["explanation"][i] is None
            # Every scored row is explained under explain="all"; the null row is not.
            assert (every["explanation"][i] is None) == (every["score"][i] is None)
    # Feature names are categorical (dictionary-encoded), contributions numeric.
    item = some["explanation"].dtype.inner
    assert item.fields[0].name == "feature" and item.fields[0].dtype == pl.Categorical
    assert item.fields[1].dtype == pl.Float32
    with pytest.raises(vigil.ParameterError):
        model.score(current, explain="some")


def _chunked_frame() -> pl.DataFrame:
    """Three chunks of strings stored out of line (over 12 bytes), one null in the middle one."""
    parts = [pl.DataFrame({"q": [f"{'x' * (20 + i % 7)}.example{i}.com" for i in range(k, k + 700)]},
                          schema={"q": pl.Utf8}) for k in (0, 700, 1400)]
    parts[1] = parts[1].with_columns(pl.when(pl.int_range(700) == 5).then(None).otherwise(pl.col("q")).alias("q"))
    df = pl.concat(parts, rechunk=False)
    assert df.n_chunks() == 3
    return df


def _string_buffers(df: pl.DataFrame, column: str) -> list[int]:
    """Address of the data buffer of each chunk of ``df[column]``, chunk by chunk (exporting the
    whole frame could concatenate them)."""
    return [c.to_arrow(compat_level=pl.CompatLevel.newest()).buffers()[2].address for c in df[column].get_chunks()]


def test_a_multi_chunk_polars_frame_is_not_copied_on_the_way_in_or_out():
    # polars' own export of a multi-chunk frame concatenates it into one new chunk; vigil
    # exports it chunk by chunk, and the scored frame keeps the caller's columns.
    df = _chunked_frame()
    theirs = _string_buffers(df, "q")
    assert len(set(theirs)) == 3
    data, kind = vigil._arrow._as_arrow_input(df)
    assert kind == "polars" and vigil._native._string_data_address(data, "q") == theirs
    out = fit().score(df, batch_rows=500)
    assert _string_buffers(out, "q") == theirs


def test_polars_and_pyarrow_scores_agree_whatever_the_batching():
    df = _chunked_frame()
    model = vigil.Pipeline(FEATURES, detector=vigil.RobustZ(top_k=2), backend="cpu").fit(df.head(300))
    whole = pl.from_arrow(model.score(df.to_arrow()))
    for out in (model.score(df), model.score(df, batch_rows=333), model.score(df.rechunk())):
        assert out.schema == whole.schema
        assert out.equals(whole)
    assert whole.schema["explanation"] == pl.List(pl.Struct({"feature": pl.Categorical, "contribution": pl.Float32,
                                                             "value": pl.String}))
    assert whole.schema["unscored_reason"] == pl.String
    # The null query (row 705) is the one unscored row, and says why; alert rows are explained.
    assert whole["unscored_reason"].null_count() == df.height - 1
    assert whole["score"][705] is None and "null" in whole["unscored_reason"][705]
    alerts = whole.filter("alert")
    assert alerts.height > 0 and alerts["explanation"].null_count() == 0
    assert whole.filter(~pl.col("alert"))["explanation"].null_count() == df.height - alerts.height


def test_a_top_n_threshold_ranks_a_multi_chunk_polars_frame_as_a_whole():
    df = _chunked_frame()
    model = vigil.Pipeline(FEATURES, detector=vigil.RobustZ(top_k=2), threshold=vigil.TopN(5),
                           backend="cpu").fit(df.head(300))
    out = model.score(df)
    assert out["alert"].sum() == 5
    top = out.sort("score", descending=True, nulls_last=True).head(5)
    assert top["alert"].all()


def test_polars_pipeline_fit_and_score_load_neither_pyarrow_nor_numpy():
    """A polars frame is fitted and scored chunk by chunk through the Arrow stream interface:
    no pyarrow or numpy import (0.15-0.3 s of a short process). The scored frame equals the
    pyarrow path's, whole and in slices of ``batch_rows``; entropy checked by hand
    (log2(3) for "abc", 3 bits for eight distinct bytes)."""
    import subprocess
    import sys

    code = """
import sys, math
import polars as pl
import vigil
df = pl.DataFrame({"q": ["abc", "x7f3k9q2", "google.com", "aaaa", None, "zzzzzzzzzzzzzzzzzzzzzz"] * 40})
df = pl.concat([df.slice(0, 100), df.slice(100, 7), df.slice(107)], rechunk=False)
pipe = vigil.Pipeline([vigil.length("q"), vigil.entropy("q"), vigil.char_classes("q")],
                      detector=vigil.RobustZ())
model = pipe.fit(df)
whole = model.score(df, features=True)
sliced = model.score(df, batch_rows=50, features=True)
assert "pyarrow" not in sys.modules and "numpy" not in sys.modules, "a polars pipeline loaded pyarrow or numpy"
assert whole.height == df.height and whole["q"].to_list() == df["q"].to_list()
assert abs(whole["q_entropy"][0] - math.log2(3)) < 1e-6 and abs(whole["q_entropy"][1] - 3.0) < 1e-6
assert whole["score"][4] is None and whole["unscored_reason"][4] is not None
import pyarrow as pa
ref = pl.from_arrow(model.score(df.to_arrow(), features=True))
assert whole.equals(ref) and sliced.equals(ref), "stream path differs from the pyarrow path"
assert pl.from_arrow(pipe.fit(df.to_arrow()).score(df.to_arrow(), features=True)).equals(ref)
"""
    subprocess.run([sys.executable, "-c", code], check=True)


def test_tables_scored_in_blocks_keep_every_row_verdict_in_place():
    # Over 256Ki rows a row-wise model scores in blocks; each alert row, scored alone, must
    # get the same score, alert and explanation as in the whole table (alignment across blocks).
    rng = random.Random(7)
    names = ["".join(rng.choice("abcdefghij0123456789") for _ in range(rng.randint(3, 30))) for _ in range(300_000)]
    df = pl.DataFrame({"q": names})
    model = vigil.Pipeline(FEATURES, detector=vigil.RobustZ(top_k=2), threshold=vigil.BaselineQuantile(0.999),
                           backend="cpu").fit(df.head(20_000))
    whole = model.score(df)
    alerts = whole.with_row_index("row").filter(pl.col("alert"))
    rows = alerts["row"].to_list()
    assert len(rows) > 50 and max(rows) > 262_144 > min(rows)
    for r in rows[:: max(1, len(rows) // 40)] + [rows[-1]]:
        alone = model.score(df.slice(r, 1))
        assert alone["score"][0] == whole["score"][r]
        assert alone["explanation"].to_list()[0] == whole["explanation"].to_list()[r]
