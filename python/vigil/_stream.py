"""Live sources: :func:`tail` follows a growing text log (``tail -f``), parses each new line
with a log reader, optionally mines templates, and scores the lines through a streaming
:class:`~vigil.Model`."""

from __future__ import annotations

import time
from typing import Any, Callable, Iterator, Optional, Union

from . import _native
from ._arrow import _as_output
from ._logs import TemplateMiner
from ._pipeline import Model

__all__ = ["tail"]


def tail(path: str, format: str, *, model: Optional[Model] = None, miner: Optional[TemplateMiner] = None,
         column: str = "message", prepare: Optional[Callable[[Any], Any]] = None, lateness: Union[str, int, float] = 0, from_end: bool = False,
         poll_seconds: float = 0.5, idle_seconds: Optional[float] = None, batch_rows: int = 65536,
         to: str = "polars", features: bool = False) -> Iterator[Any]:
    """Follows the text log at ``path`` as it grows, like ``tail -f``: lines completed since
    the last poll are parsed by the reader of ``format`` (see :func:`vigil.read_log`), mined
    by ``miner`` when given (templates of ``column``), passed through ``prepare`` when given
    (e.g. to parse the time column, which readers give as text), and scored by ``model`` when given
    (a stream: window state carried, rows out once their windows close). Yields tables
    (``to="polars"`` or ``"arrow"``). Stops after ``idle_seconds`` without a new line (then
    the rows still waiting are scored and yielded); ``None`` follows for ever. ``features``:
    keep the feature columns in the scored tables (see :meth:`vigil.Model.score`)."""
    follower = _native.NativeLogTail(path, format, batch_rows, from_end)
    stream = model.stream(iter(()), lateness=lateness, features=features) if model is not None else None
    kind = "polars" if to == "polars" else "table"
    idle_since = time.monotonic()
    while True:
        table = follower.poll()
        if table is None:
            if idle_seconds is not None and time.monotonic() - idle_since >= idle_seconds:
                break
            time.sleep(poll_seconds)
            continue
        idle_since = time.monotonic()
        if miner is not None:
            table = miner.parse(table, column)
        data = _as_output(table, kind)
        if prepare is not None:
            data = prepare(data)
        if stream is None:
            yield data
            continue
        out = stream.push(data)
        if out is not None:
            yield out
    if stream is not None:
        out = stream.finish()
        if out is not None:
            yield out
