"""Event-count vectors: per session key or time window, how many messages of each template."""

from __future__ import annotations

from typing import Any, Optional, Union, cast

from . import _native
from ._arrow import _as_arrow_input, _as_output

__all__ = ["count_vectors"]


def count_vectors(
    data: Any,
    *,
    session_prefix: Optional[str] = None,
    message: str = "message",
    time: Optional[str] = None,
    window: Optional[Union[str, float]] = None,
    template_id: str = "template_id",
    backend: str = "auto",
) -> Any:
    """Count vectors of ``data`` (which has a ``template_id`` column, e.g. from
    :meth:`vigil.TemplateMiner.parse`), polars in, polars out.

    Per session: ``session_prefix="blk_"`` puts each message in every session whose key (a
    token starting with the prefix, e.g. an HDFS block id) appears in ``message``. Per time
    window: ``time="ts", window="1m"`` cuts the column ``ts`` (a timestamp of any unit and
    zone, or epoch seconds as Int64 or Float64) into windows aligned to the Unix epoch;
    ``window`` is a duration string such as ``"1m"``, ``"30s"`` or ``"1h30m"`` (see
    :func:`vigil._native.parse_duration`) or a number of seconds. The result has ``key`` (the
    session key, or the window start in epoch seconds, as text) and one UInt32 column
    ``t_<16 hex digits>`` per template id, in ascending id order. The counting runs as a GPU
    kernel when a GPU is used.
    """
    if (session_prefix is None) == (window is None):
        raise ValueError("give exactly one of session_prefix or window (with time)")
    if window is not None and time is None:
        raise ValueError("window needs the time column: time=...")
    arrow_data, kind = _as_arrow_input(data)
    column = message if session_prefix is not None else cast(str, time)  # time is set: checked above
    table = _native.count_vectors(arrow_data, template_id, column, session_prefix, window, backend)
    return _as_output(table, kind)
