"""Detectors (usable in a Pipeline or alone, scikit-learn style), evaluation and drift."""

from __future__ import annotations

import html
import json
from typing import Any, Optional, Sequence

import pyarrow as pa
import pyarrow.compute as pc

from . import _native
from ._arrow import _as_arrow_input, _as_output

__all__ = [
    "RobustZ", "IsolationForest", "PcaResidual", "Rarity", "Ensemble",
    "Evaluation", "evaluate", "drift",
]


def _table_html(title: str, rows: Sequence[tuple[str, str]]) -> str:
    body = "".join(
        f"<tr><th style='text-align:left'>{html.escape(k)}</th><td style='text-align:left'>{html.escape(v)}</td></tr>"
        for k, v in rows
    )
    return f"<div><b>{html.escape(title)}</b><table>{body}</table></div>"


def _as_table(data: Any, columns: Optional[Sequence[str]] = None) -> tuple[Any, Optional[list[str]]]:
    """Arrow-readable data and the column names it provides. A 2-D numpy array becomes a
    table with columns ``columns`` or ``f0, f1, ...``."""
    if hasattr(data, "shape") and hasattr(data, "dtype") and not hasattr(data, "columns"):
        import numpy as np

        arr = np.asarray(data)
        if arr.ndim != 2:
            raise ValueError(f"expected a 2-D array (rows x features), got shape {arr.shape}")
        names = list(columns) if columns is not None else [f"f{j}" for j in range(arr.shape[1])]
        if len(names) != arr.shape[1]:
            raise ValueError(f"{len(names)} column names for {arr.shape[1]} columns")
        return pa.table({n: arr[:, j] for j, n in enumerate(names)}), names
    table, _ = _as_arrow_input(data)
    return table, None


def _numeric_columns(table: Any) -> list[str]:
    schema = table.schema if hasattr(table, "schema") else None
    if schema is None:
        return []
    if isinstance(schema, pa.Schema):
        return [f.name for f in schema if pa.types.is_integer(f.type) or pa.types.is_floating(f.type)
                or pa.types.is_boolean(f.type)]
    # polars: Schema mapping name -> dtype
    return [name for name, dtype in schema.items() if dtype.is_numeric() or str(dtype) == "Boolean"]


class _Detector:
    """Shared behaviour: ``fit``, ``score_samples``, ``predict``, ``explain``, ``merge``, save/load.

    Scores are anomaly scores: **higher = more anomalous** (as in PyOD; scikit-learn's
    ``IsolationForest.score_samples`` returns the negation). ``predict`` follows PyOD too:
    1 = anomaly, 0 = normal, against the cut-off fitted on the baseline (``cutoff_``).
    """

    kind: str = ""

    def __init__(self) -> None:
        self._fitted: Optional[_native.NativeDetector] = None
        self.cutoff_: Optional[float] = None
        self.backend = "auto"

    # --- spec (what a Pipeline or the native side reads)
    def _params(self) -> dict:
        raise NotImplementedError

    def _spec(self) -> dict:
        return {"kind": self.kind, **self._params()}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._params().items())
        return f"vigil.{type(self).__name__}({args})"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other._spec() == self._spec()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(json.dumps(self._spec(), sort_keys=True))

    # --- scikit-learn-like use
    def fit(self, X: Any, y: Any = None, *, columns: Optional[Sequence[str]] = None,
            quantile: float = 0.99, backend: str = "auto") -> "_Detector":
        """Fits on the baseline ``X`` (polars, pyarrow, pandas, or a 2-D numpy array): on
        ``columns``, by default every numeric column. Sets ``cutoff_`` to the ``quantile`` of
        the baseline's own scores (used by :meth:`predict`). ``y`` is ignored."""
        table, names = _as_table(X, columns)
        cols = list(columns) if columns is not None else (names or _numeric_columns(table))
        self.backend = backend
        self._fitted = _native.fit_detector(json.dumps(self._spec()), table, cols, backend)
        scores = self.score_samples(table)
        import numpy as np

        finite = scores[~np.isnan(scores)]
        self.cutoff_ = float(np.quantile(finite, quantile)) if finite.size else None
        return self

    def _native_model(self) -> "_native.NativeDetector":
        if self._fitted is None:
            raise RuntimeError(f"{type(self).__name__} is not fitted: call .fit(baseline) first")
        return self._fitted

    def _table_columns(self) -> Optional[list[str]]:
        """Names for the columns of a numpy input: the fitted features."""
        return self.features_ or None

    def score_samples(self, X: Any) -> Any:
        """Anomaly score of every row as a float32 numpy array (higher = more anomalous; NaN
        where a row cannot be scored)."""
        table, _ = _as_table(X, self._table_columns())
        scores = self._native_model().score_samples(table, self.backend)
        return pc.fill_null(scores, float("nan")).to_numpy(zero_copy_only=False)

    def decision_function(self, X: Any) -> Any:
        """``score_samples(X) - cutoff_``: positive for anomalies."""
        if self.cutoff_ is None:
            raise RuntimeError("no cut-off: fit on a baseline with scorable rows")
        return self.score_samples(X) - self.cutoff_

    def predict(self, X: Any) -> Any:
        """1 for rows scoring above ``cutoff_`` (anomalies), else 0, as an int8 numpy array."""
        import numpy as np

        return (np.nan_to_num(self.decision_function(X), nan=-1.0) > 0).astype(np.int8)

    def explain(self, X: Any) -> Any:
        """``X`` with ``score`` and ``explanation`` columns added, as the same kind of object."""
        data, kind = _as_arrow_input(X) if not (hasattr(X, "shape") and not hasattr(X, "columns")) else (X, "table")
        table, _ = _as_table(data, self._table_columns())
        scored = self._native_model().score(table, self.backend)
        base = table if isinstance(table, pa.Table) else pa.table(table)
        for name in scored.column_names:
            base = base.append_column(name, scored.column(name))
        return _as_output(base, kind)

    @property
    def features_(self) -> list[str]:
        """Feature columns the fitted detector reads (empty for rarity)."""
        return list(self._native_model().features)

    def merge(self, other: "_Detector") -> "_Detector":
        """A detector equal to one fitted on both baselines, where the statistics allow an exact
        merge (isolation-forest trees and means, PCA moments, rarity counts); raises otherwise."""
        out = type(self).__new__(type(self))
        out.__dict__.update(self.__dict__)
        out._fitted = self._native_model().merge(other._native_model())
        out.cutoff_ = max(c for c in (self.cutoff_, other.cutoff_) if c is not None) \
            if (self.cutoff_ is not None or other.cutoff_ is not None) else None
        return out

    def to_json(self) -> str:
        """The fitted detector as versioned JSON (never pickle)."""
        return self._native_model().to_json()

    def save(self, path: str) -> None:
        """Writes :meth:`to_json` to ``path``."""
        with open(path, "w", encoding="utf-8") as f:
            f.write(self.to_json())

    @classmethod
    def load(cls, path: str, backend: str = "auto") -> "_Detector":
        """Reads a detector saved by :meth:`save` (checked: a corrupted file raises ModelError)."""
        with open(path, encoding="utf-8") as f:
            native = _native.NativeDetector.from_json(f.read())
        spec = json.loads(native.to_json())["detector"]
        kinds = {c.kind: c for c in (RobustZ, IsolationForest, PcaResidual, Rarity, Ensemble)}
        out = kinds[spec["kind"]].__new__(kinds[spec["kind"]])
        _Detector.__init__(out)
        out._fitted, out.backend = native, backend
        out._load_params(spec)
        return out

    def _load_params(self, spec: dict) -> None:
        params = spec.get("params", {})
        for k, v in params.items():
            setattr(self, k, v)

    def _repr_html_(self) -> str:
        rows = [(k, repr(v)) for k, v in self._params().items()]
        members = getattr(self, "members", None)
        if isinstance(members, list) and members:
            # An ensemble: one row per member, as the member's own repr.
            rows = [(f"member {i}", repr(m)) for i, m in enumerate(members)] + [r for r in rows if r[0] != "members"]
        if self._fitted is not None:
            cut = self.cutoff_
            rows += [("fitted on", ", ".join(self.features_) or "(columns)"),
                     ("cutoff_", "n/a" if cut is None else f"{cut:.4g}")]
        else:
            rows += [("state", "not fitted")]
        return _table_html(f"vigil.{type(self).__name__}", rows)


class RobustZ(_Detector):
    """Robust z-score detector: median and MAD per feature on the baseline (1.4826 x MAD;
    1.2533 x mean absolute deviation when the MAD is 0); the score is the root mean square of
    the features' robust z values (each clamped to +-``z_cap``); the explanation lists the
    ``top_k`` features by |z|. Exact merges are not possible (medians)."""

    kind = "robust_z"

    def __init__(self, top_k: int = 3, z_cap: float = 100.0) -> None:
        super().__init__()
        self.top_k, self.z_cap = top_k, z_cap

    def _params(self) -> dict:
        return {"top_k": int(self.top_k), "z_cap": float(self.z_cap)}


class IsolationForest(_Detector):
    """Isolation forest (scikit-learn's algorithm and score definition, 2^(-E[h]/c(n)), higher =
    more anomalous; scored by a GPU kernel or its CPU twin). Nulls are replaced by the baseline
    mean. Explanation: each feature's share of the splits that isolated the row. Forests merge
    as tree sets."""

    kind = "isolation_forest"

    def __init__(self, n_trees: int = 100, max_samples: int = 256, seed: int = 0, top_k: int = 3) -> None:
        super().__init__()
        self.n_trees, self.max_samples, self.seed, self.top_k = n_trees, max_samples, seed, top_k

    def _params(self) -> dict:
        return {"n_trees": int(self.n_trees), "max_samples": int(self.max_samples),
                "seed": int(self.seed), "top_k": int(self.top_k)}


class PcaResidual(_Detector):
    """PCA residual (squared prediction error), loglizer-style: components explaining
    ``variance`` of the (standardised) baseline are kept, the score is the squared norm of the
    rest. Explanation: per-feature signed residual. Moments merge exactly."""

    kind = "pca_residual"

    def __init__(self, variance: float = 0.95, standardize: bool = True, top_k: int = 3) -> None:
        super().__init__()
        self.variance, self.standardize, self.top_k = variance, standardize, top_k

    def _params(self) -> dict:
        return {"variance": float(self.variance), "standardize": bool(self.standardize), "top_k": int(self.top_k)}


class Rarity(_Detector):
    """Rarity of categorical values: score = -ln P(value | baseline) with additive smoothing
    ``alpha``, the largest over ``columns`` (each a column name or a tuple of names scored
    jointly, e.g. ``("user", "host")``). Explanation: each combination's surprisal and value.
    Counts are exact and merge exactly."""

    kind = "rarity"

    def __init__(self, columns: Sequence[Any], alpha: float = 1.0, top_k: int = 3) -> None:
        super().__init__()
        self.columns = [[c] if isinstance(c, str) else list(c) for c in columns]
        self.alpha, self.top_k = alpha, top_k

    def _params(self) -> dict:
        return {"columns": self.columns, "alpha": float(self.alpha), "top_k": int(self.top_k)}

    def fit(self, X: Any, y: Any = None, *, columns: Optional[Sequence[str]] = None,
            quantile: float = 0.99, backend: str = "auto") -> "Rarity":
        """Counts the values of the combinations on the baseline ``X``."""
        table, _ = _as_table(X)
        self.backend = backend
        self._fitted = _native.fit_detector(json.dumps(self._spec()), table, [], backend)
        import numpy as np

        scores = self.score_samples(table)
        self.cutoff_ = float(np.quantile(scores, quantile)) if scores.size else None
        return self

    def _table_columns(self) -> Optional[list[str]]:
        return None


class Ensemble(_Detector):
    """Several detectors on one scale: each member's score becomes its quantile among the
    member's baseline scores (above the baseline maximum, values in (1, 2) keep their order),
    combined by ``"mean"`` or ``"max"``; explanations are merged by weight."""

    kind = "ensemble"

    def __init__(self, members: Sequence[_Detector], combine: str = "mean", top_k: int = 3) -> None:
        super().__init__()
        self.members, self.combine, self.top_k = list(members), combine, top_k

    def _params(self) -> dict:
        return {"members": [m._spec() for m in self.members], "combine": self.combine, "top_k": int(self.top_k)}

    def _load_params(self, spec: dict) -> None:
        self.combine, self.top_k, self.members = spec["combine"], spec["top_k"], []


# ----------------------------------------------------------------------------- evaluation

class Evaluation:
    """Precision, recall, F1 at the alert threshold, ROC-AUC, PR-AUC (average precision) and
    precision@k of scores against labels. Attributes mirror :meth:`as_dict`."""

    def __init__(self, values: dict) -> None:
        self._values = dict(values)
        for k, v in values.items():
            setattr(self, k, v)

    def as_dict(self) -> dict:
        """Every figure as a plain dict."""
        return dict(self._values)

    def __repr__(self) -> str:
        v = self._values
        def f(x: Any) -> str:
            return "None" if x is None else f"{x:.3f}"

        return (f"vigil.Evaluation(precision={v['precision']:.3f}, recall={v['recall']:.3f}, f1={v['f1']:.3f}, "
                f"roc_auc={f(v['roc_auc'])}, pr_auc={f(v['pr_auc'])}, precision_at_{v['k']}={f(v['precision_at_k'])})")

    def _repr_html_(self) -> str:
        def fmt(x: Any) -> str:
            return "n/a" if x is None else (f"{x:.4f}" if isinstance(x, float) else str(x))

        return _table_html("vigil.Evaluation", [(k, fmt(v)) for k, v in self._values.items()])


def evaluate(scored: Any, label: Any = "label", *, score: str = "score", alert: str = "alert",
             k: int = 100) -> Evaluation:
    """Evaluates a scored table (``Model.score`` output, or any table with a numeric ``score``
    and a boolean ``alert`` column) against ``label``: the name of a column of ``scored``
    (boolean, or numeric where non-zero = anomalous), or a sequence with one label per row."""
    data, _ = _as_arrow_input(scored)
    table = data if isinstance(data, pa.Table) else pa.table(data)
    labels = table.column(label) if isinstance(label, str) else pa.chunked_array([pa.array(list(label))])
    if not pa.types.is_boolean(labels.type):
        labels = pc.not_equal(labels.cast(pa.float64()), 0.0)
    if len(labels) != table.num_rows:
        raise ValueError(f"{len(labels)} labels for {table.num_rows} rows")
    if alert in table.column_names:
        alerts = table.column(alert)
    else:
        alerts = pa.chunked_array([pa.array([False] * table.num_rows)])
    t = pa.table({
        "score": table.column(score).cast(pa.float32()),
        "alert": pc.fill_null(alerts, False),
        "label": pc.fill_null(labels, False),
    })
    return Evaluation(_native.evaluate(t, k))


# ----------------------------------------------------------------------------- drift

def drift(reference: Any, current: Any, columns: Optional[Sequence[str]] = None, *, psi_bins: int = 10,
          ks_bins: int = 256, psi_threshold: float = 0.2, backend: str = "auto") -> Any:
    """Per-feature drift of ``current`` against ``reference`` (polars, pyarrow or pandas): PSI
    over ``psi_bins`` equal-mass bins of the reference, the KS statistic at ``ks_bins``
    reference quantiles with its asymptotic p-value, null shares, and ``drifted`` (PSI >=
    ``psi_threshold``). Returns a polars DataFrame (a pyarrow Table when polars is missing)."""
    ref, _ = _as_table(reference)
    cur, _ = _as_table(current)
    cols = list(columns) if columns is not None else _numeric_columns(ref)
    options = {"psi_bins": psi_bins, "ks_bins": ks_bins, "psi_threshold": psi_threshold, "epsilon": 1e-4}
    rows = _native.drift(ref, cur, cols, json.dumps(options), backend)
    table = pa.Table.from_pylist(rows, schema=pa.schema([
        ("feature", pa.string()), ("psi", pa.float64()), ("ks", pa.float64()), ("ks_pvalue", pa.float64()),
        ("reference_null_share", pa.float64()), ("current_null_share", pa.float64()), ("drifted", pa.bool_()),
    ]))
    try:
        import polars as pl
    except ImportError:
        return table
    return pl.from_arrow(table)
