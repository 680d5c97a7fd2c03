"""Pipelines and fitted models: features, a detector and an alert threshold fitted on a
baseline; the thresholds; and :func:`backend_info`."""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Optional, Sequence, Union


from . import _native
from ._arrow import _as_arrow_input, _as_output, _is_polars, _num_rows, _with_new_columns
from ._arrow import _polars_parts, _with_streamed_columns
from ._arrow import pa
from ._detect import RobustZ, _Detector, _table_html
from ._features import Feature
from ._native import ParameterError
from ._progress import Progress

__all__ = ["TopN", "TopFraction", "TopPerWindow", "BaselineQuantile", "ScoreAbove", "Threshold",
           "Pipeline", "Model", "Stream", "backend_info", "BaselineMad"]


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


class _DurationError(ParameterError, ValueError):
    """A bad duration parameter: a :class:`vigil.ParameterError` that is also a ``ValueError``
    (what a bad ``TopPerWindow(every=...)`` raised before the native parser)."""


def _whole_seconds(value: Union[str, int, float], name: str) -> int:
    """``value`` (a duration string or a number of seconds, see
    :func:`vigil._native.parse_duration`) in whole seconds; raises if it is not whole seconds."""
    try:
        ns = _native.parse_duration(value, name)
    except ParameterError as err:
        raise _DurationError(str(err)) from None
    seconds, rest = divmod(ns, 1_000_000_000)
    if rest:
        raise _DurationError(f"{name}={value!r} is {ns} ns, not a whole number of seconds; "
                             f"use e.g. '30s', '5m', '1h30m' or 90")
    return seconds


@dataclass(frozen=True)
class TopPerWindow:
    """An alert budget per time unit: the ``n`` highest scores in each ``every``-long window
    of ``time_column`` (a timestamp, or int64 epoch seconds), e.g. ``TopPerWindow(20, "1h",
    "ts")`` = at most 20 alerts per hour. ``every``: a duration string such as ``"30s"``,
    ``"5m"``, ``"1h30m"``, ``"1d"`` or ``"1w"`` (see :func:`vigil._native.parse_duration`) or a
    number of seconds; it must be whole seconds (a bad one raises a ``vigil.ParameterError``
    that is also a ``ValueError``)."""

    n: int
    every: Union[str, int, float]
    time_column: str

    def _spec(self) -> dict:
        return {"kind": "top_per_window", "n": int(self.n), "every_seconds": _whole_seconds(self.every, "every"),
                "time_column": self.time_column}


@dataclass(frozen=True)
class BaselineQuantile:
    """Alert on scores above the ``q`` quantile of the baseline's scores (q=0.99: ~1% of
    baseline-like rows alert)."""

    q: float = 0.99

    def _spec(self) -> dict:
        return {"kind": "baseline_quantile", "q": float(self.q)}


@dataclass(frozen=True)
class BaselineMad:
    """Alert on scores above ``median + k * 1.4826 * MAD`` of the baseline's scores: robust to
    a few percent of anomalies hidden in the baseline, where a high quantile lands among them
    (k=3.5: Iglewicz and Hoaglin's modified z-score rule)."""

    k: float = 3.5

    def _spec(self) -> dict:
        return {"kind": "baseline_mad", "k": float(self.k)}


@dataclass(frozen=True)
class ScoreAbove:
    """Alert on scores above a fixed value."""

    value: float

    def _spec(self) -> dict:
        return {"kind": "score", "value": float(self.value)}


Threshold = Union[TopN, TopFraction, TopPerWindow, BaselineQuantile, ScoreAbove, BaselineMad]


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
        specs = (json.dumps([f._spec() for f in self.features]), json.dumps(self.detector._spec()),
                 json.dumps(self.threshold._spec()))
        if _is_polars(baseline):
            # Chunk by chunk through the Arrow stream interface: no copy, no pyarrow.
            native = _native.fit_parts(*specs, _polars_parts(baseline), self.backend, self.chunk_bytes)
        else:
            data, _ = _as_arrow_input(baseline)
            native = _native.fit(*specs, data, self.backend, self.chunk_bytes)
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

    def score(self, data: Any, *, batch_rows: int = 1_000_000, progress: Optional[bool] = None,
              explain: str = "alerts", features: bool = False) -> Any:
        """Scores every row of ``data``; returns the same kind of object (polars in, polars
        out; pyarrow in, pyarrow out) with the input columns, then ``score`` (null when a row
        cannot be scored), ``explanation`` (top features and their contributions: a list of
        ``{feature (categorical), contribution, value}``), ``alert`` and ``unscored_reason``.
        ``features=True`` adds the feature columns before ``score``; by default they are left
        out, because at millions of rows they take as much memory as the input for values no
        one reads on quiet rows (:meth:`alerts` keeps them; :func:`vigil.extract` computes
        them for any table). ``explain="alerts"`` (the default) explains only alert rows and
        leaves the other rows' ``explanation`` null, which keeps scoring cheap beside the
        features; ``explain="all"`` explains every scored row (an alert row's explanation is
        the same either way). Inputs over ``batch_rows`` rows are scored in slices with a tqdm
        progress bar when tqdm is installed and output is a terminal or notebook
        (``progress=False`` hides it, ``True`` always shows it); models with window
        aggregates or beacon scores score in one piece, so that windows are never cut."""
        native = self._configured(explain, features)
        ranked = isinstance(self.threshold_spec(), (TopN, TopFraction, TopPerWindow))
        if _is_polars(data):
            if ranked:
                # A top-N threshold ranks the frame as a whole: polars exports it in one piece.
                # A polars frame keeps its own columns; only the new ones come back.
                return _with_new_columns(data, native.score_for_polars(data, self.backend, self.chunk_bytes))

            # Polars in, polars out through the Arrow stream interface: no pyarrow loaded.
            def score_polars(part: Any) -> Any:
                return _native.score_stream(native, _polars_parts(part), self.backend, self.chunk_bytes)

            rows = data.height
            whole = rows <= batch_rows or self._windowed
            streams = [score_polars(data)] if whole else _by_slices(data, rows, batch_rows, progress, score_polars)
            return _with_streamed_columns(data, streams)
        data, kind = _as_arrow_input(data)
        rows = _num_rows(data)

        def score_arrow(part: Any) -> Any:
            return native.score(part, self.backend, self.chunk_bytes)

        if rows <= batch_rows or rows < 0 or ranked or self._windowed:
            table = score_arrow(data)
        else:
            table = pa.concat_tables(_by_slices(data, rows, batch_rows, progress, score_arrow))
        return _as_output(table, kind)

    def _configured(self, explain: str, features: bool) -> "_native.NativeModel":
        """The native model explaining ``explain`` rows ("alerts" or "all"), with the feature
        columns in its output when ``features``."""
        native = self._native if explain == "alerts" else self._native.with_explain_rows(explain)
        return native.with_feature_columns(True) if features else native

    def score_parquet(self, input: str, output: str, *, batch_rows: int = 65_536,
                      progress: Optional[bool] = None, explain: str = "alerts", features: bool = False) -> dict:
        """Scores the Parquet file ``input`` into the Parquet file ``output`` (zstd), one batch
        of ``batch_rows`` rows at a time, so memory stays bounded whatever the file size; the
        output has the input columns and those of :meth:`score`. Returns ``{"rows", "alerts",
        "unscored"}``. A top-N or top-fraction threshold is refused (it needs the whole table).
        ``progress``: a tqdm bar of the rows scored (None: only in a terminal or notebook;
        False: never). ``explain`` and ``features``: as in :meth:`score`."""
        native = self._configured(explain, features)
        with Progress(progress, "vigil score_parquet") as bar:
            return native.score_parquet(str(input), str(output), int(batch_rows), self.backend,
                                              self.chunk_bytes, progress=bar.callback)

    def stream(self, batches: Iterable[Any], *, lateness: Union[str, int, float] = 0,
               features: bool = False) -> Iterator[Any]:
        """Scores an iterable of tables (polars DataFrames, pyarrow Tables or RecordBatches, an
        Arrow IPC reader, ...) as a stream, carrying window state across them; yields scored
        tables of the same kind as the first input. Rows leave in input order once their
        windows have closed (an event at or past a window's end plus ``lateness`` has
        arrived), so the concatenated output equals :meth:`score` of the concatenated input,
        with events up to ``lateness`` (a duration such as ``"30s"``, or seconds) out of time
        order. Later events come out with null window features and are counted in
        :attr:`Stream.stats`; beacon scores and whole-input aggregates hold rows until the end.
        ``features``: as in :meth:`score`."""
        return Stream(self, batches, lateness=lateness, features=features)

    def alerts(self, data: Any) -> Any:
        """Only the rows that alert, highest score first, with the feature columns."""
        scored = self.score(data, features=True)
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
        if t["kind"] == "baseline_mad":
            return BaselineMad(t["k"])
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
        cutoff = "None" if self.cutoff is None else f"{self.cutoff:.6g}"
        return f"vigil.Model({len(self.feature_names)} features, cutoff={cutoff})"

    def _repr_html_(self) -> str:
        spec = json.loads(self._native.to_json())
        det = spec["detector"]
        params = det.get("params", {"combine": det.get("combine")}) or {}
        args = ", ".join(f"{k}={v!r}" for k, v in params.items() if not isinstance(v, (list, dict)))
        rows = [("features", ", ".join(f"{f['kind']}({f['column']})" for f in spec["features"])),
                ("detector", f"{det['kind']}({args})"),
                ("threshold", repr(self.threshold_spec())),
                ("cutoff", "n/a (top-N)" if self.cutoff is None else f"{self.cutoff:.4g}"),
                ("baseline rows", str(spec["baseline_rows"]))]
        center, scale = self._native.center, self._native.scale
        if center is None or scale is None:
            return _table_html("vigil.Model", rows)
        stats = "".join(
            f"<tr><td>{html.escape(n)}</td><td>{c:.4g}</td><td>{s:.4g}</td></tr>"
            for n, c, s in list(zip(self.feature_names, center, scale))[:40]
        )
        more = "" if len(self.feature_names) <= 40 else f"<p>... {len(self.feature_names) - 40} more</p>"
        return (_table_html("vigil.Model", rows)
                + "<table><tr><th style='text-align:left'>feature</th><th style='text-align:left'>median</th>"
                + f"<th style='text-align:left'>scale</th></tr>{stats}</table>{more}")


def backend_info(backend: str = "auto") -> dict:
    """Which backend runs and on which GPU adapter (``adapter`` is None without one)."""
    return _native.backend_info(backend)


class Stream:
    """The scored batches of :meth:`Model.stream`, an iterator; :attr:`stats` counts rows in
    and out, late rows, rows waiting and the watermark."""

    def __init__(self, model: "Model", batches: Iterable[Any], *, lateness: Union[str, int, float] = 0,
                 features: bool = False) -> None:
        self._scorer = _native.NativeScorer(model._configured("alerts", features),
                                            _native.parse_duration(lateness, "lateness")
                                            if lateness else 0, model.backend)
        self._input = iter(batches)
        self._kind: Optional[str] = None
        self._ended = False

    def __iter__(self) -> "Stream":
        return self

    def push(self, data: Any) -> Any:
        """Adds one table; returns the rows now final, scored (None when none are)."""
        data, kind = _as_arrow_input(data)
        if self._kind is None:
            self._kind = kind
        out = self._scorer.push(data)
        return None if out is None else _as_output(out, self._kind)

    def finish(self) -> Any:
        """Ends the input: every waiting row, scored (None when none wait)."""
        self._ended = True
        out = self._scorer.finish()
        return None if out is None else _as_output(out, self._kind or "table")

    def __next__(self) -> Any:
        while not self._ended:
            try:
                data = next(self._input)
            except StopIteration:
                out = self.finish()
                if out is not None:
                    return out
                break
            out = self.push(data)
            if out is not None:
                return out
        raise StopIteration

    @property
    def stats(self) -> dict:
        """rows_in, rows_out, late_rows, pending_rows, carried_entries, watermark (ns)."""
        return self._scorer.stats()

    def __repr__(self) -> str:
        return f"vigil.Stream({self.stats})"


def _by_slices(data: Any, rows: int, batch_rows: int, progress: Optional[bool], run: Any) -> list:
    """``run(slice)`` of each slice of ``batch_rows`` rows of ``data`` (``rows`` in all), in
    order, with a ``vigil score`` progress bar (see :class:`Progress`)."""
    out = []
    with Progress(progress, "vigil score", total=rows) as bar:
        for start in range(0, rows, batch_rows):
            out.append(run(data.slice(start, batch_rows)))
            bar.advance(min(batch_rows, rows - start))
    return out
