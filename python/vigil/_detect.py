"""Detectors (usable in a Pipeline or alone, scikit-learn style), evaluation and drift."""

from __future__ import annotations

import copy
import html
import inspect
import json
from typing import Any, Optional, Sequence

from . import _native
from ._arrow import _as_arrow_input, _as_output
from ._arrow import np, pa, pc
from ._arrow import _is_polars, _polars_parts

__all__ = [
    "RobustZ", "IsolationForest", "PcaResidual", "Rarity", "Ensemble", "TailRarity",
    "Evaluation", "evaluate", "drift",
]


def _table_html(title: str, rows: Sequence[tuple[str, str]]) -> str:
    body = "".join(
        f"<tr><th style='text-align:left'>{html.escape(k)}</th><td style='text-align:left'>{html.escape(v)}</td></tr>"
        for k, v in rows
    )
    return f"<div><b>{html.escape(title)}</b><table>{body}</table></div>"


def _is_table_like(data: Any) -> bool:
    return (hasattr(data, "__arrow_c_stream__") or hasattr(data, "columns")
            or isinstance(data, (pa.Table, pa.RecordBatch)))


def _dense_2d(data: Any) -> Any:
    """A 2-D float array from an array-like, with scikit-learn's input checks and messages."""
    if hasattr(data, "tocsr") or type(data).__module__.startswith("scipy.sparse"):
        raise TypeError("vigil detectors take dense data: sparse input is not supported; "
                        "convert it with X.toarray()")
    arr = np.asarray(data)
    if np.iscomplexobj(arr):
        raise ValueError("Complex data not supported")
    if arr.dtype.kind not in "fiub":
        arr = arr.astype(np.float64)
    if arr.ndim != 2:
        raise ValueError(f"Expected 2D array, got {arr.ndim}D array instead (shape {arr.shape}). Reshape your "
                         "data either using array.reshape(-1, 1) if your data has a single feature or "
                         "array.reshape(1, -1) if it contains a single sample.")
    if arr.shape[0] == 0:
        raise ValueError(f"Found array with 0 sample(s) (shape={arr.shape}) while a minimum of 1 is required.")
    if arr.shape[1] == 0:
        raise ValueError(f"Found array with 0 feature(s) (shape={arr.shape}) while a minimum of 1 is required.")
    return arr


def _as_table(data: Any, columns: Optional[Sequence[str]] = None) -> tuple[Any, Optional[list[str]]]:
    """Arrow-readable data and the column names it provides. An array-like (numpy, nested
    lists) becomes a table with columns ``columns`` or ``f0, f1, ...``."""
    if not _is_table_like(data):
        arr = _dense_2d(data)
        names = list(columns) if columns is not None else [f"f{j}" for j in range(arr.shape[1])]
        if len(names) != arr.shape[1]:
            raise ValueError(f"X has {arr.shape[1]} features, but the detector is expecting {len(names)} "
                             "features as input.")
        return pa.table({n: arr[:, j] for j, n in enumerate(names)}), names
    table, _ = _as_arrow_input(data)
    return table, None


def _detector_input(data: Any, columns: Optional[Sequence[str]] = None) -> tuple[Any, Optional[list[str]]]:
    """:func:`_as_table`, except that a polars DataFrame becomes its parts (slices within one
    chunk of every column, see ``_polars_parts``), which the native fit and ``score_samples``
    read through ``__arrow_c_stream__`` without a copy and without importing pyarrow."""
    if _is_polars(data):
        return _polars_parts(data), None
    return _as_table(data, columns)


def _numeric_columns(table: Any) -> list[str]:
    schema = table.schema if hasattr(table, "schema") else None
    if schema is None:
        return []
    if not _is_polars(table) and isinstance(schema, pa.Schema):
        return [f.name for f in schema if pa.types.is_integer(f.type) or pa.types.is_floating(f.type)
                or pa.types.is_boolean(f.type)]
    # polars: Schema mapping name -> dtype
    return [name for name, dtype in schema.items() if dtype.is_numeric() or str(dtype) == "Boolean"]


_BASELINE_ATTRS = ("decision_scores_", "threshold_", "labels_")
_NO_THRESHOLD = object()


class _BaselineAttr:
    """A fitted attribute computed from the baseline's scores: read from the instance,
    scoring a baseline kept by ``fit`` on first read; absent (AttributeError) before fit."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, owner: Optional[type] = None) -> Any:
        if obj is None:
            return self
        values = obj.__dict__
        if self.name not in values and "_pending_baseline" in values:
            obj._score_pending_baseline()
        try:
            return values[self.name]
        except KeyError:
            raise AttributeError(f"{type(obj).__name__!r} object has no attribute {self.name!r}") from None

    def __set__(self, obj: Any, value: Any) -> None:
        obj.__dict__[self.name] = value

    def __delete__(self, obj: Any) -> None:
        obj.__dict__.pop(self.name, None)


_COMMON_PARAMS = ("contamination", "cutoff", "robust_k", "columns", "backend")
_CUTOFFS = ("contamination", "robust")


class _Detector:
    """Shared behaviour of vigil's detectors used alone: PyOD's ``BaseDetector`` contract and
    a scikit-learn estimator.

    Every hyperparameter is a constructor argument (``get_params`` / ``set_params``, so
    ``sklearn.base.clone``, ``GridSearchCV`` and ``Pipeline`` work), including the cut-off:

    - ``contamination`` (0 < c <= 0.5, default 0.01): as in PyOD, ``threshold_`` is the
      ``1 - contamination`` quantile of the baseline's own scores (``decision_scores_``);
    - ``cutoff="robust"``: ``threshold_ = median + robust_k * 1.4826 * MAD`` of
      ``decision_scores_`` (1.2533 x the mean absolute deviation when the MAD is 0), which a
      few percent of anomalies in the baseline barely move; ``robust_k`` = 3.5 is Iglewicz and
      Hoaglin's modified z-score rule.

    ``fit(X)`` returns the detector and sets ``decision_scores_``, ``threshold_``, ``labels_``
    (1 = anomaly), ``features_`` and ``n_features_in_``; these exist only after fit.
    ``decision_function`` is the anomaly score (**higher = more anomalous**, as in PyOD);
    ``predict`` gives 1 for scores above ``threshold_``, else 0; ``predict_proba`` PyOD's linear
    or unify scaling. ``score_samples`` has scikit-learn's sign (higher = more normal, the
    negated anomaly score), as ``sklearn.ensemble.IsolationForest``.

    Non-finite values (NaN, +-inf) in the input are nulls: a detector never learns from them
    (isolation forest: replaced by the baseline mean; robust z and PCA: left out of the row).

    ``decision_scores_``, ``threshold_`` and ``labels_`` of a polars or pyarrow baseline are
    computed on first use (one scoring pass over the baseline, as scikit-learn's own fit skips
    with its default ``contamination="auto"``): a fit followed by scoring other data, or the
    same data with :meth:`score_samples`, scores once; until then the detector holds the
    baseline's Arrow table (immutable: polars' buffers shared, not copied). A numpy or pandas
    baseline, whose memory the caller may change, is scored during ``fit``.
    """

    kind: str = ""
    _estimator_type = "outlier_detector"
    decision_scores_ = _BaselineAttr()
    threshold_ = _BaselineAttr()
    labels_ = _BaselineAttr()

    # --- scikit-learn parameters
    @classmethod
    def _get_param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return sorted(p.name for p in sig.parameters.values()
                      if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL))

    def get_params(self, deep: bool = True) -> dict:
        """The constructor arguments (scikit-learn's contract)."""
        out = {}
        for name in self._get_param_names():
            value = getattr(self, name)
            if deep and hasattr(value, "get_params") and not isinstance(value, type):
                out.update((f"{name}__{k}", v) for k, v in value.get_params().items())
            out[name] = value
        return out

    def set_params(self, **params: Any) -> "_Detector":
        """Sets constructor arguments (``name__sub`` reaches a nested estimator)."""
        valid = self._get_param_names()
        nested: dict = {}
        for key, value in params.items():
            name, _, sub = key.partition("__")
            if name not in valid:
                raise ValueError(f"invalid parameter {name!r} for {type(self).__name__}; valid: {valid}")
            if sub:
                nested.setdefault(name, {})[sub] = value
            else:
                setattr(self, name, value)
        for name, sub_params in nested.items():
            getattr(self, name).set_params(**sub_params)
        return self

    def __sklearn_tags__(self) -> Any:
        from sklearn.utils import InputTags, Tags, TargetTags

        return Tags(estimator_type="outlier_detector", target_tags=TargetTags(required=False),
                    input_tags=InputTags(allow_nan=True))

    def __sklearn_is_fitted__(self) -> bool:
        return getattr(self, "_fitted", None) is not None

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

    # --- PyOD / scikit-learn use
    def _check_cutoff_params(self, contamination: float) -> None:
        if self.cutoff not in _CUTOFFS:
            raise ValueError(f"cutoff must be one of {_CUTOFFS}, not {self.cutoff!r}")
        if not (0.0 < float(contamination) <= 0.5):
            raise ValueError(f"contamination must be in (0, 0.5], got {contamination}")
        if not (np.isfinite(self.robust_k) and self.robust_k > 0):
            raise ValueError(f"robust_k must be finite and > 0, got {self.robust_k}")

    def fit(self, X: Any, y: Any = None, *, columns: Optional[Sequence[str]] = None,
            quantile: Optional[float] = None, backend: Optional[str] = None) -> "_Detector":
        """Fits on the baseline ``X`` (polars, pyarrow, pandas, or a 2-D numpy array) on the
        ``columns`` parameter's columns, by default every numeric column; then scores the
        baseline (``decision_scores_``) and sets ``threshold_`` and ``labels_``. ``y`` is
        ignored (unsupervised). The keyword arguments override the constructor's ``columns``,
        ``1 - contamination`` and ``backend`` for this fit only (older vigil's ``fit``)."""
        contamination = self.contamination if quantile is None else 1.0 - float(quantile)
        self._check_cutoff_params(contamination)
        backend = backend or self.backend
        columns = columns if columns is not None else self.columns
        table, names = _detector_input(X, columns)
        cols = list(columns) if columns is not None else (names or _numeric_columns(X if _is_polars(X) else table))
        self._fit_native(table, cols, backend)
        self.backend_ = backend
        self.features_ = list(self._fitted.features)
        self.n_features_in_ = len(cols)
        if _is_polars(X):  # a shallow clone: X's later in-place edits do not reach it
            self._defer_threshold(X.clone(), contamination)
        elif isinstance(table, pa.Table) and names is None and not type(X).__module__.startswith("pandas"):
            self._defer_threshold(table, contamination)
        else:
            self._set_threshold(self._scores(table), contamination)
        return self

    def _defer_threshold(self, table: Any, contamination: float) -> None:
        """Keeps the (immutable Arrow) baseline to score when ``decision_scores_``,
        ``threshold_`` or ``labels_`` is first read."""
        for name in _BASELINE_ATTRS:
            self.__dict__.pop(name, None)
        self.__dict__["_pending_baseline"] = (table, contamination)

    def _score_pending_baseline(self) -> None:
        table, contamination = self.__dict__.pop("_pending_baseline")
        by_hand = self.__dict__.get("threshold_", _NO_THRESHOLD)
        self._set_threshold(self._scores(table), contamination)
        if by_hand is not _NO_THRESHOLD:  # set after fit: kept, as when fit scored eagerly
            self.threshold_ = by_hand

    def _fit_native(self, table: Any, cols: list[str], backend: str) -> None:
        self._fitted = _native.fit_detector(json.dumps(self._spec()), table, cols, backend)

    def _set_threshold(self, scores: Any, contamination: float) -> None:
        self.__dict__.pop("_pending_baseline", None)
        finite = scores[np.isfinite(scores)]
        if finite.size == 0:
            raise ValueError(f"no baseline row could be scored ({scores.size} sample(s), n_samples = "
                             f"{scores.size}): fit needs rows with finite values")
        self.decision_scores_ = scores
        self.threshold_ = _cutoff(finite, self.cutoff, contamination, self.robust_k)
        self.labels_ = (np.nan_to_num(scores, nan=-np.inf) > self.threshold_).astype(np.int8)

    def _native_model(self) -> "_native.NativeDetector":
        fitted = getattr(self, "_fitted", None)
        if fitted is None:
            raise _not_fitted(self)
        return fitted

    def _table_columns(self) -> Optional[list[str]]:
        """Names for the columns of a numpy input: the fitted features."""
        return list(self._native_model().features) or None

    def _scores(self, X: Any) -> Any:
        cols = self._table_columns()
        n_in = getattr(self, "n_features_in_", None)
        if not _is_table_like(X) and cols is None and n_in is not None:
            cols = [f"f{j}" for j in range(n_in)]
        if not _is_table_like(X) and cols is not None:
            width = _dense_2d(X).shape[1]
            if width != len(cols):
                raise ValueError(f"X has {width} features, but {type(self).__name__} is expecting "
                                 f"{len(cols)} features as input.")
        table, _ = _detector_input(X, cols)
        # A float64 array that owns the native scores' buffer, NaN where a row is unscored.
        return self._native_model().score_samples(table, getattr(self, "backend_", self.backend))

    def decision_function(self, X: Any) -> Any:
        """Anomaly score of every row (float64 numpy; **higher = more anomalous**, as PyOD;
        NaN where a row cannot be scored)."""
        return self._scores(X)

    def score_samples(self, X: Any) -> Any:
        """scikit-learn's sign: the negated anomaly score (higher = more normal)."""
        scores = self._scores(X)
        return np.negative(scores, out=scores)

    def predict(self, X: Any) -> Any:
        """1 for rows scoring above ``threshold_`` (anomalies), else 0 (PyOD's convention, not
        scikit-learn's -1/+1)."""
        threshold = self._threshold()
        return (np.nan_to_num(self._scores(X), nan=-np.inf) > threshold).astype(np.int8)

    def predict_proba(self, X: Any, method: str = "linear") -> Any:
        """Outlier probability as PyOD computes it, shape (rows, 2) = [normal, anomaly]:
        ``"linear"`` min-max scales the score by ``decision_scores_`` and clips to [0, 1];
        ``"unify"`` is ``erf((s - mean) / (std * sqrt 2))`` clipped at 0 (Kriegel et al.)."""
        self._threshold()
        train = self.decision_scores_[np.isfinite(self.decision_scores_)]
        s = self._scores(X)
        if method == "linear":
            lo, hi = (float(train.min()), float(train.max())) if train.size else (0.0, 0.0)
            p = np.clip((s - lo) / (hi - lo), 0, 1) if hi > lo else (s > lo).astype(float)
        elif method == "unify":
            from scipy.special import erf

            sd = float(train.std()) or 1.0
            p = np.clip(erf((s - float(train.mean())) / (sd * np.sqrt(2))), 0, 1)
        else:
            raise ValueError(f"method must be 'linear' or 'unify', not {method!r}")
        p = np.nan_to_num(p, nan=0.0)
        return np.column_stack([1 - p, p])

    def fit_predict(self, X: Any, y: Any = None) -> Any:
        """``fit(X).labels_``."""
        return self.fit(X).labels_

    def _threshold(self) -> float:
        self._native_model()
        threshold = getattr(self, "threshold_", None)
        if threshold is None:
            raise RuntimeError(f"{type(self).__name__} has no threshold_: loaded detectors keep no baseline "
                               "scores; fit it, or set threshold_ by hand")
        return threshold

    @property
    def cutoff_(self) -> Optional[float]:
        """Older name of ``threshold_``."""
        return getattr(self, "threshold_", None)

    def explain(self, X: Any) -> Any:
        """``X`` with ``score`` and ``explanation`` columns added, as the same kind of object."""
        data, kind = _as_arrow_input(X) if not (hasattr(X, "shape") and not hasattr(X, "columns")) else (X, "table")
        table, _ = _as_table(data, self._table_columns())
        scored = self._native_model().score(table, getattr(self, "backend_", self.backend))
        base = table if isinstance(table, pa.Table) else pa.table(table)
        for name in scored.column_names:
            base = base.append_column(name, scored.column(name))
        return _as_output(base, kind)

    def merge(self, other: "_Detector") -> "_Detector":
        """A detector equal to one fitted on both baselines, where the statistics allow an exact
        merge (isolation-forest trees and means, PCA moments, rarity counts); raises otherwise.
        ``decision_scores_`` are both fits' baseline scores and ``threshold_`` is recomputed
        on them (each partition scored by its own fit: not exact)."""
        out = copy.copy(self)
        out._fitted = self._native_model().merge(other._native_model())
        scores = np.concatenate([getattr(self, "decision_scores_", np.empty(0)),
                                 getattr(other, "decision_scores_", np.empty(0))])
        out._set_threshold(scores, self.contamination)
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
        """Reads a detector saved by :meth:`save` (checked: a corrupted file raises ModelError).
        The file holds no baseline scores: ``threshold_`` is unset until you fit or set it."""
        with open(path, encoding="utf-8") as f:
            native = _native.NativeDetector.from_json(f.read())
        spec = json.loads(native.to_json())["detector"]
        kinds = {c.kind: c for c in (RobustZ, IsolationForest, PcaResidual, Rarity, Ensemble, TailRarity)}
        klass = kinds[spec["kind"]]
        out = klass.__new__(klass)
        for name in klass._get_param_names():
            default = inspect.signature(klass.__init__).parameters[name].default
            setattr(out, name, None if default is inspect.Parameter.empty else default)
        out._load_params(spec)
        out.backend = backend
        out._fitted, out.backend_ = native, backend
        out.features_ = list(native.features)
        out.n_features_in_ = len(out.features_)
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
        rows += [(k, repr(getattr(self, k))) for k in ("contamination", "cutoff")]
        if getattr(self, "_fitted", None) is not None:
            cut = getattr(self, "threshold_", None)
            rows += [("fitted on", ", ".join(self.features_) or "(columns)"),
                     ("threshold_", "n/a" if cut is None else f"{cut:.4g}")]
        else:
            rows += [("state", "not fitted")]
        return _table_html(f"vigil.{type(self).__name__}", rows)


_NOT_FITTED: list = []


def _not_fitted(est: Any) -> Exception:
    """scikit-learn's NotFittedError (when scikit-learn is installed), also a RuntimeError."""
    if not _NOT_FITTED:
        try:
            from sklearn.exceptions import NotFittedError as base
        except ImportError:
            base = ValueError
        _NOT_FITTED.append(type("NotFittedError", (base, RuntimeError), {"__module__": "vigil"}))
    return _NOT_FITTED[0](f"{type(est).__name__} is not fitted: call .fit(baseline) first")


def _cutoff(scores: Any, method: str, contamination: float, k: float) -> Optional[float]:
    """The score above which a row is an anomaly, from the baseline's own scores."""
    if scores.size == 0:
        return None
    if method == "contamination":
        return float(np.percentile(scores, 100.0 * (1.0 - contamination)))
    med = float(np.median(scores))
    dev = np.abs(scores - med)
    scale = 1.4826 * float(np.median(dev))
    if scale == 0.0:
        scale = 1.2533 * float(dev.mean())
    return med + k * scale


class RobustZ(_Detector):
    """Robust z-score detector: median and MAD per feature on the baseline (1.4826 x MAD;
    1.2533 x mean absolute deviation when the MAD is 0); the score is the root mean square of
    the features' robust z values (each clamped to +-``z_cap``); the explanation lists the
    ``top_k`` features by |z|. Exact merges are not possible (medians). See :class:`_Detector`
    for ``contamination``, ``cutoff``, ``robust_k``, ``columns`` and ``backend``."""

    kind = "robust_z"

    def __init__(self, top_k: int = 3, z_cap: float = 100.0, *, contamination: float = 0.01,
                 cutoff: str = "contamination", robust_k: float = 3.5,
                 columns: Optional[Sequence[str]] = None, backend: str = "auto") -> None:
        self.top_k, self.z_cap = top_k, z_cap
        self.contamination, self.cutoff, self.robust_k = contamination, cutoff, robust_k
        self.columns, self.backend = columns, backend

    def _params(self) -> dict:
        return {"top_k": int(self.top_k), "z_cap": float(self.z_cap)}


class IsolationForest(_Detector):
    """Isolation forest (scikit-learn's algorithm and score definition, 2^(-E[h]/c(n)), higher =
    more anomalous; scored by a GPU kernel or its CPU twin). Nulls are replaced by the baseline
    mean. Explanation: each feature's share of the splits that isolated the row. Forests merge
    as tree sets."""

    kind = "isolation_forest"

    def __init__(self, n_trees: int = 100, max_samples: int = 256, seed: int = 0, top_k: int = 3, *,
                 contamination: float = 0.01, cutoff: str = "contamination", robust_k: float = 3.5,
                 columns: Optional[Sequence[str]] = None, backend: str = "auto") -> None:
        self.n_trees, self.max_samples, self.seed, self.top_k = n_trees, max_samples, seed, top_k
        self.contamination, self.cutoff, self.robust_k = contamination, cutoff, robust_k
        self.columns, self.backend = columns, backend

    def _params(self) -> dict:
        return {"n_trees": int(self.n_trees), "max_samples": int(self.max_samples),
                "seed": int(self.seed), "top_k": int(self.top_k)}


class PcaResidual(_Detector):
    """PCA residual (squared prediction error), loglizer-style: components explaining
    ``variance`` of the (standardised) baseline are kept, the score is the squared norm of the
    rest. Explanation: per-feature signed residual. Moments merge exactly."""

    kind = "pca_residual"

    def __init__(self, variance: float = 0.95, standardize: bool = True, top_k: int = 3, *,
                 contamination: float = 0.01, cutoff: str = "contamination", robust_k: float = 3.5,
                 columns: Optional[Sequence[str]] = None, backend: str = "auto") -> None:
        self.variance, self.standardize, self.top_k = variance, standardize, top_k
        self.contamination, self.cutoff, self.robust_k = contamination, cutoff, robust_k
        self.columns, self.backend = columns, backend

    def _params(self) -> dict:
        return {"variance": float(self.variance), "standardize": bool(self.standardize), "top_k": int(self.top_k)}


class Rarity(_Detector):
    """Rarity of categorical values: score = -ln P(value | baseline) with additive smoothing
    ``alpha``, the largest over ``columns`` (each a column name or a tuple of names scored
    jointly, e.g. ``("user", "host")``). Explanation: each combination's surprisal and value.
    Counts are exact and merge exactly."""

    kind = "rarity"

    def __init__(self, columns: Sequence[Any] = (), alpha: float = 1.0, top_k: int = 3, *,
                 contamination: float = 0.01, cutoff: str = "contamination", robust_k: float = 3.5,
                 backend: str = "auto") -> None:
        self.columns, self.alpha, self.top_k = columns, alpha, top_k
        self.contamination, self.cutoff, self.robust_k = contamination, cutoff, robust_k
        self.backend = backend

    def _params(self) -> dict:
        combos = [[c] if isinstance(c, str) else list(c) for c in self.columns]
        return {"columns": combos, "alpha": float(self.alpha), "top_k": int(self.top_k)}

    def fit(self, X: Any, y: Any = None, *, columns: Optional[Sequence[str]] = None,
            quantile: Optional[float] = None, backend: Optional[str] = None) -> "Rarity":
        """Counts the values of the combinations on the baseline ``X``; ``columns`` is not
        used (the combinations are the constructor's ``columns``)."""
        contamination = self.contamination if quantile is None else 1.0 - float(quantile)
        self._check_cutoff_params(contamination)
        table, _ = _as_table(X)
        backend = backend or self.backend
        self._fitted = _native.fit_detector(json.dumps(self._spec()), table, [], backend)
        self.backend_, self.features_ = backend, []
        self.n_features_in_ = len({c for combo in self._params()["columns"] for c in combo})
        self._set_threshold(self._scores(table), contamination)
        return self

    def _table_columns(self) -> Optional[list[str]]:
        return None


class Ensemble(_Detector):
    """Several detectors on one scale: each member's score becomes its quantile among the
    member's baseline scores (above the baseline maximum, values in (1, 2) keep their order),
    combined by ``"mean"`` or ``"max"``; explanations are merged by weight."""

    kind = "ensemble"

    def __init__(self, members: Sequence[_Detector] = (), combine: str = "mean", top_k: int = 3, *,
                 contamination: float = 0.01, cutoff: str = "contamination", robust_k: float = 3.5,
                 columns: Optional[Sequence[str]] = None, backend: str = "auto") -> None:
        self.members, self.combine, self.top_k = members, combine, top_k
        self.contamination, self.cutoff, self.robust_k = contamination, cutoff, robust_k
        self.columns, self.backend = columns, backend

    def _params(self) -> dict:
        return {"members": [m._spec() for m in self.members], "combine": self.combine, "top_k": int(self.top_k)}

    def _load_params(self, spec: dict) -> None:
        self.combine, self.top_k, self.members = spec["combine"], spec["top_k"], []


class TailRarity(_Detector):
    """One-sided tail rarity of each feature against the baseline: p = the smoothed share of
    baseline values at least as extreme, ``(n * share + 1) / (n + 1)``, on the lower tail for
    the features in ``lower`` (rare when low, e.g. ``*_logprob_mean``) and the upper tail for
    those in ``upper``; only the listed features count (every feature, upper tail, when both
    are empty). Score = sum of ``-ln p`` (Fisher's combination); explanation: each feature's
    ``-ln p``. Quantiles do not merge exactly."""

    kind = "tail_rarity"

    def __init__(self, lower: Sequence[str] = (), upper: Sequence[str] = (), top_k: int = 3, *,
                 contamination: float = 0.01, cutoff: str = "contamination", robust_k: float = 3.5,
                 columns: Optional[Sequence[str]] = None, backend: str = "auto") -> None:
        self.lower, self.upper, self.top_k = lower, upper, top_k
        self.contamination, self.cutoff, self.robust_k = contamination, cutoff, robust_k
        self.columns, self.backend = columns, backend

    def _params(self) -> dict:
        return {"lower": list(self.lower), "upper": list(self.upper), "top_k": int(self.top_k)}


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
