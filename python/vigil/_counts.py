"""Event-count vectors: per session key or time window, how many messages of each template."""

from __future__ import annotations

from typing import Any, Optional

from . import _native

__all__ = ["count_vectors"]


def count_vectors(
    data: Any,
    *,
    session_prefix: Optional[str] = None,
    message: str = "message",
    time: Optional[str] = None,
    window: Optional[float] = None,
    template_id: str = "template_id",
    backend: str = "auto",
) -> Any:
    """Count vectors of ``data`` (which has a ``template_id`` column, e.g. from
    :meth:`vigil.TemplateMiner.parse`), polars in, polars out.

    Per session: ``session_prefix="blk_"`` puts each message in every session whose key (a
    token starting with the prefix, e.g. an HDFS block id) appears in ``message``. Per time
    window: ``time="ts", window=60`` cuts the numeric or timestamp column ``ts`` into windows
    of 60 units. The result has ``key`` and one UInt32 column ``t_<16 hex digits>`` per
    template id, in ascending id order. The counting runs as a GPU kernel when a GPU is used.
    """
    from . import _as_arrow_input, _as_output

    if (session_prefix is None) == (window is None):
        raise ValueError("give exactly one of session_prefix or window (with time)")
    if window is not None and time is None:
        raise ValueError("window needs the time column: time=...")
    arrow_data, kind = _as_arrow_input(data)
    column = message if session_prefix is not None else time
    table = _native.count_vectors(arrow_data, template_id, column, session_prefix, window, backend)
    return _as_output(table, kind)
