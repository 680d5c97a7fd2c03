"""vigil: GPU-accelerated security log analytics over Apache Arrow.

Feature extraction (string length, entropy, character classes, hashed n-grams, numeric
transforms) runs as WGSL compute kernels on any wgpu GPU or as identical Rust code on the
CPU; a detector fitted on a baseline scores rows and explains each score.

>>> import polars as pl, vigil
>>> pipe = vigil.Pipeline([vigil.entropy("query"), vigil.char_classes("query")], detector=vigil.RobustZ())
>>> model = pipe.fit(baseline_df)               # doctest: +SKIP
>>> scored = model.score(df)                    # polars in -> polars out   # doctest: +SKIP

Data goes in and out through the Arrow PyCapsule interface: a polars DataFrame or a pyarrow
Table/RecordBatch is read without copying its buffers, and the result comes back as the same
kind of object. Compute releases the GIL.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from typing import Any, Iterable, Optional, Sequence, Union

import pyarrow as pa

from . import _native
from ._native import GpuError, InputError, ModelError, ParameterError, SchemaError, VigilError
from ._detect import (Ensemble, Evaluation, IsolationForest, PcaResidual, Rarity, RobustZ, drift,
                      evaluate)
from ._detect import _Detector, _table_html

__version__: str = _native.__version__

__all__ = [
    "Feature", "length", "entropy", "char_classes", "ngrams", "log1p", "standardize",
    "RobustZ", "IsolationForest", "PcaResidual", "Rarity", "Ensemble",
    "TopN", "TopFraction", "TopPerWindow", "BaselineQuantile", "ScoreAbove", "Pipeline", "Model", "extract", "backend_info",
    "Evaluation", "evaluate", "drift",
    "VigilError", "SchemaError", "ParameterError", "InputError", "GpuError", "ModelError",
    "count", "distinct_count", "mean", "std", "ratio", "first_seen", "last_seen", "since_previous",
    "time_features", "beaconing", "aggregate", "aggregate_parquet", "beacons",
    "read_log", "TemplateMiner", "count_vectors",
]


# ----------------------------------------------------------------------------- features

@dataclass(frozen=True)
class Feature:
    """A feature of one input column. Build with :func:`entropy`, :func:`ngrams`, ..."""

    column: str
    kind: str
    params: dict = field(default_factory=dict)
    name: Optional[str] = None

    def _spec(self) -> dict:
        spec = {"column": self.column, "kind": self.kind, **self.params}
        if self.name is not None:
            spec["prefix"] = self.name
        return spec

    def __repr__(self) -> str:
        args = "".join(f", {k}={v!r}" for k, v in self.params.items() if v is not None)
        named = f", name={self.name!r}" if self.name else ""
        return f"vigil.{self.kind}({self.column!r}{args}{named})"


def length(column: str, *, name: Optional[str] = None) -> Feature:
    """Byte length (``<col>_len_bytes``) and Unicode code points (``<col>_len_chars``) of a string column."""
    return Feature(column, "length", name=name)


def entropy(column: str, *, name: Optional[str] = None) -> Feature:
    """Shannon entropy of a string column's bytes, in bits (``<col>_entropy``)."""
    return Feature(column, "entropy", name=name)


def char_classes(column: str, *, name: Optional[str] = None) -> Feature:
    """Ratios of digits, lower/upper case, ``.``, ``-``, other punctuation, non-ASCII bytes and
    vowels; the longest run of consonants; and a hex-only flag of a string column."""
    return Feature(column, "char_classes", name=name)


def ngrams(column: str, n: int = 3, dims: int = 256, *, normalize: bool = False, name: Optional[str] = None) -> Feature:
    """Signed hashed byte n-grams (n in 1..5) into ``dims`` buckets (a power of two) as a
    fixed-size list ``<col>_ngram<n>``; ``normalize=True`` divides by the L2 norm. The hash
    (FNV-1a 32-bit then murmur3 fmix32) is fixed, so values are stable across versions."""
    return Feature(column, "ngrams", {"n": int(n), "dims": int(dims), "normalize": bool(normalize)}, name)


def log1p(column: str, *, name: Optional[str] = None) -> Feature:
    """``log(1 + x)`` of a numeric column (``<col>_log1p``); null for x <= -1, NaN or inf."""
    return Feature(column, "log1p", name=name)


def standardize(column: str, *, mean: Optional[float] = None, std: Optional[float] = None,
                name: Optional[str] = None) -> Feature:
    """``(x - mean) / std`` of a numeric column (``<col>_standardized``); mean and std are
    fitted on the baseline unless given."""
    return Feature(column, "standardize", {"mean": mean, "std": std}, name)


# ----------------------------------------------------------------------------- thresholds

@dataclass(frozen=True)
class TopN:
    """Alert on the ``n`` highest scores of each scored table."""

    n: int

    def _spec(self) -> dict:
        return {"kind": "top_n", "n": int(self.n)}


@dataclass(frozen=True)
class TopFraction:
    """Alert on the highest ``fraction`` of each scored table's rows (rounded up): an alert
    budget that scales with volume, e.g. 0.001 = one alert per 1,000 events."""

    fraction: float

    def _spec(self) -> dict:
        return {"kind": "top_fraction", "fraction": float(self.fraction)}


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _seconds(every: Union[int, str]) -> int:
    if isinstance(every, int):
        return every
    text = str(every).strip().lower()
    if len(text) >= 2 and text[-1] in _UNITS and text[:-1].isdigit():
        return int(text[:-1]) * _UNITS[text[-1]]
    raise ValueError(f"every={every!r}: give seconds or a duration like '30s', '5m', '1h', '1d'")


@dataclass(frozen=True)
class TopPerWindow:
    """An alert budget per time unit: the ``n`` highest scores in each ``every``-long window
    of ``time_column`` (a timestamp, or int64 epoch seconds), e.g. ``TopPerWindow(20, "1h",
    "ts")`` = at most 20 alerts per hour. ``every``: seconds or ``"30s"``, ``"5m"``, ``"1h"``,
    ``"1d"``."""

    n: int
    every: Union[int, str]
    time_column: str

    def _spec(self) -> dict:
        return {"kind": "top_per_window", "n": int(self.n), "every_seconds": _seconds(self.every),
                "time_column": self.time_column}


@dataclass(frozen=True)
class BaselineQuantile:
    """Alert on scores above the ``q`` quantile of the baseline's scores (q=0.99: ~1% of
    baseline-like rows alert)."""

    q: float = 0.99

    def _spec(self) -> dict:
        return {"kind": "baseline_quantile", "q": float(self.q)}


@dataclass(frozen=True)
class ScoreAbove:
    """Alert on scores above a fixed value."""

    value: float

    def _spec(self) -> dict:
        return {"kind": "score", "value": float(self.value)}


Threshold = Union[TopN, TopFraction, TopPerWindow, BaselineQuantile, ScoreAbove]


# ----------------------------------------------------------------------------- data in and out

def _is_polars(data: Any) -> bool:
    return type(data).__module__.startswith("polars") and type(data).__name__ == "DataFrame"


def _as_arrow_input(data: Any) -> tuple[Any, str]:
    """Something the native side reads through ``__arrow_c_stream__``, and what to return."""
    if _is_polars(data):
        return data, "polars"
    if isinstance(data, pa.Table):
        return data, "table"
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data]), "batch"
    if type(data).__name__ == "LazyFrame":
        raise TypeError("vigil needs materialised data: call .collect() on the polars LazyFrame first")
    if type(data).__module__.startswith("pandas"):
        return pa.Table.from_pandas(data, preserve_index=False), "pandas"
    if hasattr(data, "__arrow_c_stream__"):
        return data, "table"
    raise TypeError(
        f"vigil reads a polars DataFrame, a pyarrow Table or RecordBatch, a pandas DataFrame, or any "
        f"object with __arrow_c_stream__; got {type(data).__name__}"
    )


def _as_output(table: pa.Table, kind: str) -> Any:
    if kind == "polars":
        import polars as pl

        return pl.from_arrow(table, rechunk=False)
    if kind == "batch":
        return table.combine_chunks().to_batches()[0] if table.num_rows else pa.RecordBatch.from_pylist([], table.schema)
    if kind == "pandas":
        return table.to_pandas()
    return table


def _num_rows(data: Any) -> int:
    for attr in ("num_rows", "height"):
        if hasattr(data, attr):
            return int(getattr(data, attr))
    return -1


def _progress(total: int, enabled: Optional[bool], desc: str):
    if enabled is False:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc=desc, unit="rows", unit_scale=True)


# ----------------------------------------------------------------------------- pipeline and model

class Pipeline:
    """Features, a detector and an alert threshold, to be fitted on a baseline.

    Parameters
    ----------
    features: the features to compute (at least one, except for a :class:`Rarity` detector,
        which reads its categorical columns directly).
    detector: the anomaly detector (default :class:`RobustZ`; also :class:`IsolationForest`,
        :class:`PcaResidual`, :class:`Rarity`, :class:`Ensemble`).
    threshold: which rows alert (default ``BaselineQuantile(0.99)``).
    backend: ``"auto"`` (a hardware GPU for large inputs, else the CPU), ``"gpu"`` (software
        adapters such as lavapipe allowed) or ``"cpu"``. ``VIGIL_BACKEND`` overrides ``"auto"``.
    chunk_bytes: input bytes per GPU chunk (default 64 MiB).
    """

    def __init__(self, features: Sequence[Feature], detector: Optional[_Detector] = None,
                 threshold: Optional[Threshold] = None, backend: str = "auto",
                 chunk_bytes: Optional[int] = None) -> None:
        self.features = list(features)
        if not all(isinstance(f, Feature) for f in self.features):
            raise TypeError("features must be vigil features, e.g. vigil.entropy('query')")
        self.detector = detector if detector is not None else RobustZ()
        self.threshold = threshold if threshold is not None else BaselineQuantile(0.99)
        self.backend = backend
        self.chunk_bytes = chunk_bytes

    def fit(self, baseline: Any) -> "Model":
        """Fits features, detector and threshold on ``baseline`` (polars, pyarrow or pandas)."""
        data, _ = _as_arrow_input(baseline)
        native = _native.fit(
            json.dumps([f._spec() for f in self.features]),
            json.dumps(self.detector._spec()),
            json.dumps(self.threshold._spec()),
            data,
            self.backend,
            self.chunk_bytes,
        )
        return Model(native, backend=self.backend, chunk_bytes=self.chunk_bytes)

    def __repr__(self) -> str:
        return f"vigil.Pipeline({self.features!r}, detector={self.detector!r}, threshold={self.threshold!r})"

    def _repr_html_(self) -> str:
        rows = [(f"feature {i}", repr(f)) for i, f in enumerate(self.features)]
        rows += [("detector", repr(self.detector)), ("threshold", repr(self.threshold)), ("backend", self.backend)]
        return _table_html("vigil.Pipeline (not fitted)", rows)


class Model:
    """A fitted pipeline: scores tables, saves to and loads from versioned JSON."""

    def __init__(self, native: "_native.NativeModel", backend: str = "auto", chunk_bytes: Optional[int] = None) -> None:
        self._native = native
        self._threshold = self._read_threshold()
        # Window aggregates and beacon scores look across rows: such models score in one piece.
        self._windowed = any(f.get("kind") in ("window", "beaconing")
                             for f in json.loads(native.to_json())["features"])
        self.backend = backend
        self.chunk_bytes = chunk_bytes

    def score(self, data: Any, *, batch_rows: int = 1_000_000, progress: Optional[bool] = None) -> Any:
        """Scores every row of ``data``; returns the same kind of object (polars in, polars
        out; pyarrow in, pyarrow out) with the feature columns, ``score`` (null when a row
        cannot be scored), ``explanation`` (top features and their contributions), ``alert`` and
        ``unscored_reason``. Inputs over ``batch_rows`` rows are scored in slices with a tqdm
        progress bar when tqdm is installed (``progress=False`` hides it); models with window
        aggregates or beacon scores score in one piece, so that windows are never cut."""
        data, kind = _as_arrow_input(data)
        rows = _num_rows(data)
        if (rows <= batch_rows or rows < 0
                or isinstance(self.threshold_spec(), (TopN, TopFraction, TopPerWindow)) or self._windowed):
            table = self._native.score(data, self.backend, self.chunk_bytes)
            return _as_output(table, kind)
        bar = _progress(rows, progress, "vigil score")
        parts = []
        try:
            for start in range(0, rows, batch_rows):
                part = data.slice(start, batch_rows)
                parts.append(self._native.score(part, self.backend, self.chunk_bytes))
                if bar is not None:
                    bar.update(min(batch_rows, rows - start))
        finally:
            if bar is not None:
                bar.close()
        return _as_output(pa.concat_tables(parts), kind)

    def alerts(self, data: Any) -> Any:
        """Only the rows that alert, highest score first."""
        scored = self.score(data)
        if _is_polars(scored):
            return scored.filter(scored["alert"]).sort("score", descending=True)
        table = scored if isinstance(scored, pa.Table) else pa.Table.from_batches([scored])
        return table.filter(table["alert"]).sort_by([("score", "descending")])

    def threshold_spec(self) -> Threshold:
        """The alert threshold this model was fitted with."""
        return self._threshold

    def _read_threshold(self) -> Threshold:
        t = json.loads(self._native.to_json())["threshold"]
        if t["kind"] == "top_n":
            return TopN(t["n"])
        if t["kind"] == "top_fraction":
            return TopFraction(t["fraction"])
        if t["kind"] == "top_per_window":
            return TopPerWindow(t["n"], t["every_seconds"], t["time_column"])
        if t["kind"] == "baseline_quantile":
            return BaselineQuantile(t["q"])
        return ScoreAbove(t["value"])

    @property
    def feature_names(self) -> list[str]:
        """The detector's features, in order."""
        return self._native.feature_names

    @property
    def cutoff(self) -> Optional[float]:
        """Score above which a row alerts (None for top-N thresholds)."""
        return self._native.cutoff

    @property
    def detector_kind(self) -> str:
        """The detector: ``robust_z``, ``isolation_forest``, ``pca_residual``, ``rarity`` or ``ensemble``."""
        return json.loads(self._native.to_json())["detector"]["kind"]

    def baseline_stats(self) -> pa.Table:
        """Median and robust scale of every feature on the baseline, as a pyarrow Table
        (robust_z models only)."""
        if self._native.center is None:
            raise ValueError(f"baseline_stats describes robust_z models; this one is {self.detector_kind}")
        return pa.table({"feature": self.feature_names, "median": self._native.center, "scale": self._native.scale})

    def merge(self, other: "Model") -> "Model":
        """The model fitted on both baselines, from two fits of the same pipeline on two
        partitions (e.g. on a cluster), where the detector allows an exact merge: isolation
        forest (trees joined), PCA residual (moments), rarity (counts). A baseline-quantile
        cut-off cannot be merged exactly: the larger of the two is kept."""
        return Model(self._native.merge(other._native), backend=self.backend, chunk_bytes=self.chunk_bytes)

    def to_json(self) -> str:
        """The model as JSON (versioned; never pickle)."""
        return self._native.to_json()

    @classmethod
    def from_json(cls, text: str, backend: str = "auto") -> "Model":
        """Reads a model from JSON; a file of another version or shape raises ModelError."""
        return cls(_native.NativeModel.from_json(text), backend=backend)

    def save(self, path: str) -> None:
        """Writes the model as JSON to ``path``."""
        with open(path, "w", encoding="utf-8") as f:
            f.write(self.to_json())

    @classmethod
    def load(cls, path: str, backend: str = "auto") -> "Model":
        """Reads a model saved by :meth:`save`."""
        with open(path, encoding="utf-8") as f:
            return cls.from_json(f.read(), backend=backend)

    def __repr__(self) -> str:
        return f"vigil.Model({len(self.feature_names)} features, cutoff={self.cutoff})"

    def _repr_html_(self) -> str:
        spec = json.loads(self._native.to_json())
        det = spec["detector"]
        rows = [("features", ", ".join(f"{f['kind']}({f['column']})" for f in spec["features"])),
                ("detector", f"{det['kind']} " + json.dumps(det.get("params", {"combine": det.get("combine")}))),
                ("threshold", json.dumps(spec["threshold"])),
                ("cutoff", f"{self.cutoff}"),
                ("baseline rows", str(spec["baseline_rows"]))]
        if self._native.center is None:
            return _table_html("vigil.Model", rows)
        stats = "".join(
            f"<tr><td>{html.escape(n)}</td><td>{c:.4g}</td><td>{s:.4g}</td></tr>"
            for n, c, s in list(zip(self.feature_names, self._native.center, self._native.scale))[:40]
        )
        more = "" if len(self.feature_names) <= 40 else f"<p>... {len(self.feature_names) - 40} more</p>"
        return (_table_html("vigil.Model", rows)
                + f"<table><tr><th>feature</th><th>median</th><th>scale</th></tr>{stats}</table>{more}")


def extract(data: Any, features: Sequence[Feature], backend: str = "auto") -> Any:
    """Computes ``features`` on ``data`` without a detector: the input columns followed by the
    feature columns, as the same kind of object (polars in, polars out; pyarrow in, pyarrow
    out). A ``standardize`` without mean/std is fitted on each batch of ``data`` itself."""
    arrow_data, kind = _as_arrow_input(data)
    table = _native.extract(json.dumps([f._spec() for f in features]), arrow_data, backend)
    return _as_output(table, kind)


def backend_info(backend: str = "auto") -> dict:
    """Which backend runs and on which GPU adapter (``adapter`` is None without one)."""
    return _native.backend_info(backend)


# Windowed aggregates, time features, beaconing.
from . import _windows  # noqa: E402
from ._windows import (  # noqa: E402
    aggregate, aggregate_parquet, beaconing, beacons, count, distinct_count, first_seen, last_seen,
    mean, ratio, since_previous, std, time_features,
)


def __getattr__(name: str) -> Any:
    # vigil.sum / vigil.min / vigil.max, served lazily so that they never shadow the
    # builtins inside this module (and stay out of __all__ and `from vigil import *`).
    if name in ("sum", "min", "max"):
        return getattr(_windows, name)
    raise AttributeError(f"module 'vigil' has no attribute {name!r}")


# Log readers, template mining and count vectors live in their own modules.
from ._counts import count_vectors  # noqa: E402
from ._logs import TemplateMiner, read_log  # noqa: E402
