"""vigil.plot: each plot rendered to PNG, and what it draws checked against numbers computed
here independently (numpy histograms, hand-made tables)."""

from __future__ import annotations

import io
from datetime import datetime, timezone

import numpy as np
import pyarrow as pa
import pytest

import vigil

try:
    import matplotlib  # noqa: F401

    HAVE_MPL = True
except ImportError:  # pragma: no cover
    HAVE_MPL = False
    print("SKIPPED vigil.plot tests: matplotlib is not installed (pip install 'vigil[plot]')")

pytestmark = pytest.mark.skipif(not HAVE_MPL, reason="matplotlib is not installed (pip install 'vigil[plot]')")


def png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=60)
    data = buf.getvalue()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 2000  # a drawn chart, not an empty canvas
    return data


def bars(ax):
    """(x, height, colour) of each bar of an axes."""
    return [(p.get_x(), p.get_height(), p.get_facecolor()) for p in ax.patches]


def test_score_distribution_bars_are_numpy_histogram_and_cutoff_is_drawn():
    from matplotlib.colors import to_rgba

    rng = np.random.default_rng(3)
    s = np.concatenate([rng.exponential(1.0, 500), [9.0, 10.0, 11.0]])
    scored = pa.table({"score": s, "alert": s >= 8.0})
    fig = vigil.plot.score_distribution(scored, 8.0, bins=20, log=False)
    png(fig)
    ax = fig.axes[0]
    counts, edges = np.histogram(s, bins=20)
    got = bars(ax)
    assert [h for _, h, _ in got] == list(counts)
    assert np.allclose([x for x, _, _ in got], edges[:-1])
    # Bars at or above the cut-off are red, the others blue.
    for x, _, c in got:
        assert c == (to_rgba(vigil.plot.ALERT_COLOR) if x >= 8.0 else to_rgba(vigil.plot.BASE_COLOR))
    assert [line.get_xdata()[0] for line in ax.lines] == [8.0]
    assert "3 alerts" in ax.get_title()
    # Without a cut-off, the lowest alerting score is used; polars in works too.
    pl = pytest.importorskip("polars")
    fig = vigil.plot.score_distribution(pl.from_arrow(scored))
    assert [line.get_xdata()[0] for line in fig.axes[0].lines] == [9.0]


def test_entity_timeline_marks_the_entity_alerts_in_time_order():
    ts = [datetime(2024, 1, 1, 0, m, tzinfo=timezone.utc) for m in (5, 1, 3, 2, 4, 0)]
    table = pa.table({
        "host": ["a", "a", "b", "a", "a", "b"],
        "ts": pa.array(ts, pa.timestamp("us", "UTC")),
        "score": [5.0, 1.0, 9.0, 2.0, 7.0, 0.5],
        "alert": [True, False, True, False, True, False],
    })
    fig = vigil.plot.entity_timeline(table, "a", by="host", cutoff=4.0)
    png(fig)
    ax = fig.axes[0]
    line = ax.lines[0]
    # Host a's scores sorted by time: minutes 1, 2, 4, 5.
    assert list(line.get_ydata()) == [1.0, 2.0, 7.0, 5.0]
    alerts = ax.collections[0].get_offsets()
    assert sorted(alerts[:, 1]) == [5.0, 7.0]
    assert ax.lines[1].get_ydata()[0] == 4.0
    assert "4 events" in ax.get_title()
    # Epoch seconds work as time; an unknown entity is a clear error.
    t2 = table.set_column(1, "ts", pa.array([300, 60, 180, 120, 240, 0], pa.int64()))
    assert list(vigil.plot.entity_timeline(t2, "a", by="host").axes[0].lines[0].get_ydata()) == [1.0, 2.0, 7.0, 5.0]
    with pytest.raises(ValueError, match="no rows"):
        vigil.plot.entity_timeline(table, "zz", by="host")


def test_template_counts_stacks_counts_per_window_and_flags_new_templates():
    # Hour 0: t1 x3, t2 x1; hour 1: t1 x1, t3 x2 (t3 is new); hour 2: t2 x2.
    hours = [0, 0, 0, 0, 1, 1, 1, 2, 2]
    ids = [1, 1, 1, 2, 1, 3, 3, 2, 2]
    table = pa.table({
        "ts": pa.array([h * 3600 + 10 for h in hours], pa.int64()),
        "template_id": pa.array(ids, pa.uint64()),
        "template": [f"template {i}" for i in ids],
    })
    fig = vigil.plot.template_counts(table, every="1h", known=[1, 2])
    png(fig)
    ax = fig.axes[0]
    labels = [c.get_label() for c in ax.containers]
    assert labels[:2] == ["template 1", "template 2"]
    assert labels[2].startswith("NEW") and labels[2].endswith("template 3")
    heights = {c.get_label(): [b.get_height() for b in c] for c in ax.containers}
    assert heights["template 1"] == [3, 1, 0]
    assert heights["template 2"] == [1, 0, 2]
    assert heights[labels[2]] == [0, 2, 0]
    assert "1 new" in ax.get_title()
    # Without `known`: templates first seen at or after new_since.
    fig = vigil.plot.template_counts(table, every="1h", new_since="1970-01-01T01:00:00")
    assert "1 new" in fig.axes[0].get_title()


def test_drift_plot_shows_psi_largest_first_and_flags_drifted():
    from matplotlib.colors import to_rgba

    table = pa.table({"feature": ["a", "b", "c"], "psi": [0.05, 0.5, 0.25], "ks": [0.1, 0.4, 0.3],
                      "drifted": [False, True, True]})
    fig = vigil.plot.drift(table)
    png(fig)
    ax = fig.axes[0]
    widths = [p.get_width() for p in ax.patches]
    assert widths == [0.05, 0.25, 0.5]  # bottom to top: largest on top
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "c", "b"]
    assert [p.get_facecolor() for p in ax.patches] == [to_rgba(vigil.plot.BASE_COLOR)] + [to_rgba(vigil.plot.ALERT_COLOR)] * 2
    assert ax.lines[0].get_xdata()[0] == 0.2
    assert "2 of 3" in ax.get_title()


def test_drift_plot_of_vigil_drift_output():
    rng = np.random.default_rng(7)
    ref = pa.table({"x": rng.normal(0, 1, 2000), "y": rng.normal(0, 1, 2000)})
    cur = pa.table({"x": rng.normal(0, 1, 2000), "y": rng.normal(2, 1, 2000)})
    d = vigil.drift(ref, cur)
    fig = vigil.plot.drift(d)
    png(fig)
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["x", "y"]
    assert "1 of 2" in fig.axes[0].get_title()
