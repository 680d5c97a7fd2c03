"""Plots of vigil's results (optional: ``pip install 'vigil[plot]'``, which brings matplotlib).

Each function takes what vigil returns (polars or pyarrow), draws with matplotlib and returns
a ``matplotlib.figure.Figure``: a notebook displays it, ``fig.savefig("x.png")`` writes it.
Figures are made without pyplot, so they never pop up a window or show twice in a notebook.

- :func:`score_distribution`: the scores' histogram with the alert cut-off.
- :func:`entity_timeline`: one entity's scores over time, alerts marked.
- :func:`template_counts`: log templates per time window, new templates highlighted.
- :func:`drift`: PSI per feature (from :func:`vigil.drift`) with the drift threshold.
"""

from __future__ import annotations

from typing import Any, Iterable, Optional

from . import _native
from ._arrow import _as_arrow_input
from ._arrow import pa, pc

__all__ = ["score_distribution", "entity_timeline", "template_counts", "drift"]

ALERT_COLOR = "#d62728"
BASE_COLOR = "#1f77b4"
MUTED_COLOR = "#b0b0b0"


def _figure(ax: Any, size: tuple) -> tuple:
    """A new figure and axes of ``size`` inches, or ``ax``'s figure and ``ax``."""
    if ax is not None:
        return ax.figure, ax
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("vigil.plot needs matplotlib: pip install 'vigil[plot]'") from None
    fig = Figure(figsize=size, dpi=100, layout="constrained")
    return fig, fig.add_subplot()


def _table(data: Any) -> pa.Table:
    table, _ = _as_arrow_input(data)
    if not isinstance(table, pa.Table):
        table = pa.table(table)
    return table


def _column(table: pa.Table, name: str) -> pa.ChunkedArray:
    if name not in table.column_names:
        raise KeyError(f"column {name!r} not found (columns: {', '.join(table.column_names)})")
    return table[name]


def _floats(col: Any) -> Any:
    import numpy as np

    return np.asarray(pc.cast(col, pa.float64()).to_numpy(zero_copy_only=False), dtype=float)


def _times(col: Any) -> Any:
    """A time column as numpy datetime64[ns] (timestamps, or int64/float epoch seconds)."""
    import numpy as np

    if pa.types.is_timestamp(col.type):
        return np.asarray(pc.cast(col, pa.timestamp("ns")).to_numpy(zero_copy_only=False)).astype("datetime64[ns]")
    if pa.types.is_integer(col.type) or pa.types.is_floating(col.type):
        return (_floats(col) * 1e9).astype("int64").astype("datetime64[ns]")
    raise TypeError(f"time column has type {col.type}; give a timestamp or epoch seconds")


def score_distribution(scored: Any, cutoff: Optional[float] = None, *, score: str = "score",
                       alert: str = "alert", bins: int = 60, log: bool = True, ax: Any = None) -> Any:
    """Histogram of ``scored[score]`` (the output of ``Model.score``) with the alert cut-off
    as a vertical line (``cutoff``, e.g. ``model.cutoff``; else the lowest score of an alert
    row when there is an ``alert`` column). Bars at or above the cut-off are red. ``log``:
    a log count axis, so that the few high scores stay visible. Null scores are left out."""
    import numpy as np

    table = _table(scored)
    s = _floats(_column(table, score))
    s = s[np.isfinite(s)]
    if cutoff is None and alert in table.column_names:
        a = np.asarray(table[alert].fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)
        alert_scores = _floats(table[score])[a]
        alert_scores = alert_scores[np.isfinite(alert_scores)]
        cutoff = float(alert_scores.min()) if alert_scores.size else None
    fig, ax = _figure(ax, (7, 3.6))
    counts, edges = np.histogram(s, bins=bins)
    colors = [ALERT_COLOR if cutoff is not None and lo >= cutoff else BASE_COLOR for lo in edges[:-1]]
    ax.bar(edges[:-1], counts, width=np.diff(edges), align="edge", color=colors, edgecolor="white", linewidth=0.3)
    if log:
        ax.set_yscale("symlog", linthresh=1)
        ax.set_ylim(bottom=0)
    title = f"{s.size:,} scores"
    if cutoff is not None:
        n_alert = int((s >= cutoff).sum())
        ax.axvline(cutoff, color="black", linestyle="--", linewidth=1)
        ax.annotate(f"cut-off {cutoff:.3g}\n{n_alert:,} at or above", xy=(cutoff, 1), xycoords=("data", "axes fraction"),
                    xytext=(4, -4), textcoords="offset points", va="top", fontsize=9)
        title += f", {n_alert:,} alerts"
    ax.set_xlabel(score)
    ax.set_ylabel("rows" + (" (log)" if log else ""))
    ax.set_title(title, fontsize=10)
    return fig


def entity_timeline(scored: Any, entity: Any, *, by: str, time: str = "ts", score: str = "score",
                    alert: str = "alert", cutoff: Optional[float] = None, ax: Any = None) -> Any:
    """One entity's scores over time: the rows where ``scored[by] == entity``, in time order,
    as a line of points, alert rows as red markers, and the cut-off (``cutoff``) as a dashed
    line when given. ``time``: a timestamp column or int/float epoch seconds."""
    import numpy as np

    table = _table(scored)
    mask = pc.equal(_column(table, by), pa.scalar(entity, table[by].type))
    rows = table.filter(pc.fill_null(mask, False))
    if rows.num_rows == 0:
        raise ValueError(f"no rows with {by} == {entity!r}")
    t = _times(_column(rows, time))
    s = _floats(_column(rows, score))
    order = np.argsort(t, kind="stable")
    t, s = t[order], s[order]
    a = (np.asarray(rows[alert].fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)[order]
         if alert in rows.column_names else np.zeros(len(s), dtype=bool))
    fig, ax = _figure(ax, (8, 3.2))
    ax.plot(t, s, color=BASE_COLOR, linewidth=0.8, marker="o", markersize=2.5, label="score")
    if a.any():
        ax.scatter(t[a], s[a], color=ALERT_COLOR, s=36, zorder=3, label=f"alert ({int(a.sum())})")
    if cutoff is not None:
        ax.axhline(cutoff, color="black", linestyle="--", linewidth=1, label=f"cut-off {cutoff:.3g}")
    ax.set_title(f"{by} = {entity}: {len(s):,} events", fontsize=10)
    ax.set_xlabel(time)
    ax.set_ylabel(score)
    ax.legend(loc="upper left", fontsize=8, frameon=False)
    fig.autofmt_xdate()
    return fig


def template_counts(parsed: Any, *, time: str = "ts", every: str = "1h", template: str = "template_id",
                    text: Optional[str] = "template", known: Optional[Iterable[int]] = None,
                    new_since: Any = None, top: int = 8, max_new: int = 8, ax: Any = None) -> Any:
    """Log lines per ``every``-long window per template (the output of
    ``TemplateMiner.parse`` with a time column), as stacked bars: the ``top`` most frequent
    known templates in shades of blue, the other known ones pooled in grey, and *new*
    templates in strong colours with a black edge (at most ``max_new`` named, the rest pooled
    in red). New templates: those whose ``template_id`` is not in ``known`` when it is given
    (ids from the same miner, e.g. ``miner.templates()`` saved at the end of the baseline);
    else those first seen at or after ``new_since`` (a ``numpy.datetime64``, ``datetime`` or
    ISO string); else those first seen in the last quarter of the windows. ``every``: a
    duration such as ``"30s"``, ``"5m"``, ``"1h"``, ``"1d"``."""
    import numpy as np

    table = _table(parsed)
    t = _times(_column(table, time))
    all_ids = np.asarray(pc.cast(_column(table, template), pa.uint64()).fill_null(0).to_numpy(zero_copy_only=False))
    ok = ~np.isnat(t)
    t, ids = t[ok], all_ids[ok]
    if t.size == 0:
        raise ValueError(f"no rows with a {time}")
    labels: dict = {}
    if text is not None and text in table.column_names:
        for i, s in zip(all_ids, pc.cast(table[text], pa.string()).to_pylist()):
            labels.setdefault(int(i), s)
    step = np.int64(_native.parse_duration(every, "every"))
    w = (t.astype("int64") // step) * step
    windows = np.unique(w)
    index = {int(x): k for k, x in enumerate(windows)}
    uniq, total = np.unique(ids, return_counts=True)
    first = {int(i): int(w[ids == i].min()) for i in uniq}
    if known is not None:
        known_set = {int(k) for k in known}
        new = [int(i) for i in uniq if int(i) not in known_set]
    else:
        if new_since is None:
            since = int(windows[(3 * len(windows)) // 4])
        else:
            since = int(np.datetime64(new_since, "ns").astype("int64"))
        new = [int(i) for i in uniq if int(t[ids == i].astype("int64").min()) >= since]
    new.sort(key=lambda i: (first[i], -int(total[np.searchsorted(uniq, i)])))
    new_set = set(new)
    rest = [int(i) for i in uniq[np.argsort(-total, kind="stable")] if int(i) not in new_set]
    shown_old, pooled = rest[:top], rest[top:]
    shown_new, pooled_new = new[:max_new], new[max_new:]
    series = ([(i, "old") for i in shown_old] + ([(None, "pooled")] if pooled else [])
              + [(i, "new") for i in shown_new] + ([(None, "pooled_new")] if pooled_new else []))

    fig, ax = _figure(ax, (11, 4.4))
    from matplotlib import colormaps

    blues, strong = colormaps["Blues"], colormaps["tab10"]
    x = windows.astype("datetime64[ns]")
    width = np.timedelta64(int(step * 0.9), "ns")
    bottom = np.zeros(len(windows))

    def short(s: str, n: int = 48) -> str:
        return s if len(s) <= n else s[: n - 3] + "..."

    for k, (tid, kind) in enumerate(series):
        if tid is None:
            sel = np.isin(ids, pooled if kind == "pooled" else pooled_new)
        else:
            sel = ids == tid
        c = np.bincount([index[int(v)] for v in w[sel]], minlength=len(windows)).astype(float)
        if kind == "new":
            day = np.datetime64(first[tid], "ns").astype("datetime64[s]").item().strftime("%m-%d %H:%M")
            color, label = strong(shown_new.index(tid) % 10), f"NEW {day}: {short(str(labels.get(tid, tid)))}"
        elif kind == "pooled_new":
            color, label = ALERT_COLOR, f"NEW: {len(pooled_new)} more new templates"
        elif kind == "pooled":
            color, label = MUTED_COLOR, f"{len(pooled)} other known templates"
        else:
            color = blues(0.3 + 0.6 * k / max(1, len(shown_old)))
            label = short(str(labels.get(tid, tid)))
        ax.bar(x, c, width=width, bottom=bottom, align="edge", color=color, label=label,
               edgecolor="black" if kind in ("new", "pooled_new") else "none", linewidth=0.6)
        bottom += c
    ax.set_ylabel(f"lines per {every}")
    ax.set_xlabel(time)
    ax.set_title(f"{int(total.sum()):,} lines, {len(uniq)} templates, {len(new)} new", fontsize=10)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=7, frameon=False)
    fig.autofmt_xdate()
    return fig


def drift(drift_table: Any, *, psi_threshold: float = 0.2, ax: Any = None) -> Any:
    """PSI per feature from :func:`vigil.drift`, largest first, as horizontal bars: drifted
    features (``drifted``, else PSI >= ``psi_threshold``) in red, the threshold as a dashed
    line, each bar labelled with its PSI and KS statistic."""
    import numpy as np

    table = _table(drift_table)
    names = [str(n) for n in _column(table, "feature").to_pylist()]
    psi = _floats(_column(table, "psi"))
    ks = _floats(table["ks"]) if "ks" in table.column_names else np.full(len(psi), np.nan)
    drifted = (np.asarray(table["drifted"].fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)
               if "drifted" in table.column_names else psi >= psi_threshold)
    order = np.argsort(-np.nan_to_num(psi, nan=-1.0), kind="stable")[::-1]
    fig, ax = _figure(ax, (7, 0.8 + 0.32 * max(3, len(names))))
    y = np.arange(len(order))
    vals = np.nan_to_num(psi[order], nan=0.0)
    ax.barh(y, vals, color=[ALERT_COLOR if drifted[i] else BASE_COLOR for i in order], height=0.7)
    ax.set_yticks(y, [names[i] for i in order], fontsize=8)
    ax.axvline(psi_threshold, color="black", linestyle="--", linewidth=1)
    ax.text(psi_threshold, 0.005, f" threshold {psi_threshold:g}", transform=ax.get_xaxis_transform(), va="bottom",
            fontsize=8)
    xmax = max(float(vals.max(initial=0.0)), psi_threshold) * 1.3 + 1e-9
    ax.set_xlim(0, xmax)
    for yi, i in zip(y, order):
        label = f"{psi[i]:.3f}" + ("" if np.isnan(ks[i]) else f"  (KS {ks[i]:.2f})")
        ax.text(np.nan_to_num(psi[i]) + xmax * 0.01, yi, label, va="center", fontsize=7)
    ax.set_xlabel("PSI (population stability index)")
    ax.set_title(f"drift: {int(drifted.sum())} of {len(names)} features drifted", fontsize=10)
    return fig
