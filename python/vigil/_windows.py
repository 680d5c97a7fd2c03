"""Per-entity windowed aggregates, time features and beaconing.

Each function returns a :class:`vigil.Feature` usable in :class:`vigil.Pipeline` and
:func:`vigil.extract` (every event gets its entity's window value, exact: Int64 for counts,
distinct counts and sums / minima / maxima of integer fields, Float64 for those of float
fields, means, standard deviations, ratios and times in seconds) and in :func:`aggregate`
(one row per entity and window)::

    >>> import vigil
    >>> aggs = [vigil.count(by="src_ip", every="5m"),
    ...         vigil.distinct_count("dst_port", by="src_ip", every="5m")]
    >>> per_window = vigil.aggregate(df, aggs)                     # doctest: +SKIP
    >>> pipe = vigil.Pipeline(aggs + [vigil.entropy("query")])     # doctest: +SKIP

Windows are aligned to the Unix epoch and closed on the left, like polars'
``group_by_dynamic`` defaults: ``every="5m"`` gives tumbling windows, ``every="1m",
period="5m"`` hopping ones, ``every=None`` one window over the whole input. Durations:
``ns, us, ms, s, m, h, d, w`` and sums such as ``"1h30m"``. The time column is a Timestamp
(any unit, any zone) or epoch seconds (Int64 or Float64). A null entity is its own group; a
row with a null time gets null aggregates. Exact distinct counts are exact; ``approx=True``
uses HyperLogLog (2^12 registers, 1.6% relative standard error; exact up to 64 values).
"""

from __future__ import annotations

import builtins
import json
from typing import Any, Optional, Sequence, Union

from . import _native
from ._arrow import _as_arrow_input, _as_output
from ._arrow import _is_polars, _polars_from_stream, _polars_parts
from ._features import Feature
from ._progress import Progress

Duration = Optional[str]
By = Union[str, Sequence[str]]

_OPS = {"==": "eq", "!=": "ne", "<": "lt", "<=": "le", ">": "gt", ">=": "ge",
        "eq": "eq", "ne": "ne", "lt": "lt", "le": "le", "gt": "gt", "ge": "ge"}


def _window(agg: str, field: Optional[str], by: By, every: Duration, period: Duration, time: str,
            name: Optional[str], predicate: Optional[dict] = None) -> Feature:
    by_list = [by] if isinstance(by, str) else list(by)
    if not by_list:
        raise ValueError("by needs at least one column")
    params: dict[str, Any] = {"agg": agg, "field": field, "by": by_list, "time": time,
                              "every": every, "period": period, "predicate": predicate}
    column = field if field is not None else by_list[0]
    return Feature(column, "window", params, name)


def count(by: By, every: Duration = None, *, period: Duration = None, time: str = "ts",
          name: Optional[str] = None) -> Feature:
    """Events per entity and window (``<by>_count_<every>``)."""
    return _window("count", None, by, every, period, time, name)


def distinct_count(field: str, by: By, every: Duration = None, *, period: Duration = None,
                   time: str = "ts", approx: bool = False, name: Optional[str] = None) -> Feature:
    """Distinct non-null values of ``field`` per entity and window: exact, or HyperLogLog
    with ``approx=True`` (1.6% relative standard error)."""
    return _window("approx_distinct" if approx else "distinct_count", field, by, every, period, time, name)


def sum(field: str, by: By, every: Duration = None, *, period: Duration = None, time: str = "ts",
        name: Optional[str] = None) -> Feature:
    """Sum of a numeric field per entity and window (exact Int64 for integer fields)."""
    return _window("sum", field, by, every, period, time, name)


def mean(field: str, by: By, every: Duration = None, *, period: Duration = None, time: str = "ts",
         name: Optional[str] = None) -> Feature:
    """Mean of a numeric field per entity and window."""
    return _window("mean", field, by, every, period, time, name)


def min(field: str, by: By, every: Duration = None, *, period: Duration = None, time: str = "ts",
        name: Optional[str] = None) -> Feature:
    """Minimum of a numeric field per entity and window."""
    return _window("min", field, by, every, period, time, name)


def max(field: str, by: By, every: Duration = None, *, period: Duration = None, time: str = "ts",
        name: Optional[str] = None) -> Feature:
    """Maximum of a numeric field per entity and window."""
    return _window("max", field, by, every, period, time, name)


def std(field: str, by: By, every: Duration = None, *, period: Duration = None, time: str = "ts",
        name: Optional[str] = None) -> Feature:
    """Sample standard deviation (ddof=1) of a numeric field per entity and window."""
    return _window("std", field, by, every, period, time, name)


def ratio(field: str, op: str, value: Union[str, int, float, bool], by: By, every: Duration = None, *,
          period: Duration = None, time: str = "ts", name: Optional[str] = None) -> Feature:
    """Fraction of the window's events whose ``field <op> value`` (op one of ``== != < <= > >=``),
    e.g. ``vigil.ratio("status", "==", "failure", by="user", every="10m")``. Null fields do not match."""
    if op not in _OPS:
        raise ValueError(f"op must be one of {sorted(set(_OPS))}, got {op!r}")
    return _window("ratio", field, by, every, period, time, name, {"op": _OPS[op], "value": value})


def first_seen(by: By, every: Duration = None, *, period: Duration = None, time: str = "ts",
               name: Optional[str] = None) -> Feature:
    """Time of the entity's first event in the window (per event: seconds since it)."""
    return _window("first_seen", None, by, every, period, time, name)


def last_seen(by: By, every: Duration = None, *, period: Duration = None, time: str = "ts",
              name: Optional[str] = None) -> Feature:
    """Time of the entity's last event in the window (per event: seconds until it)."""
    return _window("last_seen", None, by, every, period, time, name)


def since_previous(by: By, every: Duration = None, *, period: Duration = None, time: str = "ts",
                   name: Optional[str] = None) -> Feature:
    """Per event: seconds since the same entity's previous event (null for its first); per
    window: the mean inter-arrival time."""
    return _window("since_previous", None, by, every, period, time, name)


def time_features(time: str = "ts", tz: str = "UTC", *, name: Optional[str] = None) -> Feature:
    """Hour of day and day of week (Monday = 0) as sin/cos pairs in the IANA zone ``tz``:
    ``<time>_hour_sin``, ``_hour_cos``, ``_dow_sin``, ``_dow_cos`` (Float32)."""
    return Feature(time, "time_features", {"tz": tz}, name)


def beaconing(src: str, dst: str, time: str = "ts", *, name: Optional[str] = None) -> Feature:
    """Per event, the beacon score of its (src, dst) pair (``<src>_<dst>_beacon_score``):
    how regular the pair's inter-arrival times are, weighted by how many there are. Use
    :func:`beacons` for the per-pair table."""
    return Feature(src, "beaconing", {"dst": dst, "time": time}, name)


def aggregate(data: Any, aggregates: Sequence[Feature], backend: str = "auto") -> Any:
    """One row per (entity, window): the entity columns, ``window_start`` (absent for
    ``every=None``) and one column per aggregate. All aggregates must share ``by``, ``time``
    and the window. Polars in, polars out; pyarrow in, pyarrow out."""
    spec = json.dumps([a._spec() for a in aggregates])
    if _is_polars(data):
        # Polars in, polars out through the Arrow stream interface: no pyarrow on the way.
        return _polars_from_stream(_native.window_aggregate_stream(spec, _polars_parts(data), backend))
    arrow_data, kind = _as_arrow_input(data)
    table = _native.window_aggregate(spec, arrow_data, backend)
    return _as_output(table, "table" if kind == "batch" else kind)


def aggregate_parquet(path: str, aggregates: Sequence[Feature], *, batch_rows: int = 1 << 20,
                      backend: str = "auto", progress: Optional[bool] = None) -> Any:
    """:func:`aggregate` over a Parquet file read in batches (bounded memory; windows that
    span batches are exact). Returns a pyarrow Table. ``progress``: a tqdm bar of the rows
    read (None: only in a terminal or notebook; False: never)."""
    with Progress(progress, "vigil aggregate_parquet") as bar:
        return _native.window_aggregate_parquet(json.dumps([a._spec() for a in aggregates]), str(path),
                                                builtins.int(batch_rows), backend, progress=bar.callback)


def beacons(data: Any, src: str, dst: str, time: str = "ts") -> Any:
    """Beaconing statistics per (src, dst) pair, highest ``beacon_score`` first: ``count``,
    ``interval_mean`` (s), ``interval_cv``, ``periodicity`` (1 - robust dispersion of the
    inter-arrival times) and ``beacon_score``."""
    arrow_data, kind = _as_arrow_input(data)
    table = _native.beacons(arrow_data, src, dst, time)
    return _as_output(table, "table" if kind == "batch" else kind)
