"""Data in and out: what the native side reads (through ``__arrow_c_stream__``) and the
result as the caller's kind of object (polars in, polars out; pyarrow in, pyarrow out).

A leaf module: it imports nothing of vigil, so every other module can import it at the top.
"""

from __future__ import annotations

import importlib
from typing import Any


class _Lazy:
    """A module imported on its first use: ``import vigil`` and polars-in, polars-out calls
    never load pyarrow (0.1-0.25 s of a short process) or numpy (~0.05 s); pyarrow data and
    pyarrow output load pyarrow, numpy data and detector statistics load numpy."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        return getattr(importlib.import_module(self._name), attr)


pa: Any = _Lazy("pyarrow")
pc: Any = _Lazy("pyarrow.compute")
np: Any = _Lazy("numpy")


def _is_polars(data: Any) -> bool:
    return type(data).__module__.startswith("polars") and type(data).__name__ == "DataFrame"


def _as_arrow_input(data: Any) -> tuple[Any, str]:
    """Something the native side reads through ``__arrow_c_stream__``, and what to return."""
    if _is_polars(data):
        return _polars_table(data), "polars"
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


def _chunk_bounds(data: Any) -> list[int]:
    """Row offsets where a chunk of some column of the polars DataFrame ``data`` starts
    (0 and the height included): a slice between two of them lies within one chunk of every
    column."""
    bounds = {0, data.height}
    for series in data.get_columns():
        at = 0
        for n in series.chunk_lengths():
            at += n
            bounds.add(at)
    return sorted(bounds)


def _polars_slices(data: Any, rows: int) -> list[tuple[int, int]]:
    """``(offset, length)`` slices of the polars DataFrame ``data``, in order, of at most
    ``rows`` rows, none crossing a chunk boundary of any column: polars exports such a
    slice through ``__arrow_c_stream__`` without a copy, where a slice across chunks (or a
    whole multi-chunk frame) is first concatenated into one new chunk."""
    bounds = _chunk_bounds(data)
    out = []
    for start, end in zip(bounds, bounds[1:]):
        out.extend((at, min(rows, end - at)) for at in range(start, end, max(rows, 1)))
    return out


def _polars_table(data: Any, rows: int = 1 << 62) -> pa.Table:
    """The polars DataFrame ``data`` as a pyarrow Table sharing polars' buffers: one record
    batch per chunk (see :func:`_polars_slices`), string columns as Utf8View."""
    batches = [b for offset, length in _polars_slices(data, rows)
               for b in pa.RecordBatchReader.from_stream(data.slice(offset, length))]
    if batches:
        return pa.Table.from_batches(batches)
    return pa.RecordBatchReader.from_stream(data).read_all()


def _polars_parts(data: Any) -> list[Any]:
    """Slices of the polars DataFrame ``data`` within one chunk of every column (see
    :func:`_polars_slices`), each exported zero-copy through ``__arrow_c_stream__`` when the
    native side reads it; no pyarrow involved."""
    return [data.slice(offset, length) for offset, length in _polars_slices(data, 1 << 62)] or [data]


def _polars_from_stream(stream: Any) -> Any:
    """A polars DataFrame of an object with ``__arrow_c_stream__`` (the native side's
    ``ArrowStream``), its batches imported zero-copy as chunks."""
    import polars as pl

    return pl.DataFrame(stream)


def _with_new_columns(data: Any, table: pa.Table) -> Any:
    """The polars DataFrame ``data`` with the columns of ``table`` past ``data``'s own (the
    output of a call that returns its input's columns, unchanged and in order, then new
    ones) appended: the caller's columns are kept as they are, never converted back."""
    import polars as pl

    new = table.select(table.column_names[data.width:])
    return data.hstack(pl.from_arrow(new, rechunk=False).get_columns())


def _with_streamed_columns(data: Any, streams: list) -> Any:
    """The polars DataFrame ``data`` with the columns of ``streams`` (native ``ArrowStream``
    objects of new columns only, in row order, together as many rows as ``data``) appended:
    the caller's columns are kept as they are, the new ones imported zero-copy."""
    import polars as pl

    frames = [_polars_from_stream(s) for s in streams]
    new = frames[0] if len(frames) == 1 else pl.concat(frames, rechunk=False)
    return data.hstack(new.get_columns())


def _as_output(table: pa.Table, kind: str) -> Any:
    """``table`` as the kind of object :func:`_as_arrow_input` was given: ``"polars"``,
    ``"batch"``, ``"pandas"``, or else the pyarrow Table itself."""
    if kind == "polars":
        import polars as pl

        return pl.from_arrow(table, rechunk=False)
    if kind == "batch":
        return table.combine_chunks().to_batches()[0] if table.num_rows else pa.RecordBatch.from_pylist([], table.schema)
    if kind == "pandas":
        return table.to_pandas()
    return table


def _num_rows(data: Any) -> int:
    """Rows of a pyarrow or polars object; -1 when it does not say."""
    for attr in ("num_rows", "height"):
        if hasattr(data, attr):
            return int(getattr(data, attr))
    return -1


def _polars_installed() -> bool:
    """Whether polars can be imported (it is optional: ``pip install 'vigil[polars]'``)."""
    try:
        import polars  # noqa: F401
    except ImportError:
        return False
    return True


def _to_kind(table: pa.Table, to: Any) -> Any:
    """``table`` as ``to`` asks: ``"polars"``, ``"pyarrow"``, or None for polars when it is
    installed and else the pyarrow Table."""
    if to is None:
        to = "polars" if _polars_installed() else "pyarrow"
    if to == "polars":
        if not _polars_installed():
            raise ImportError("polars is not installed: pip install 'vigil[polars]', or pass to='pyarrow'")
        return _as_output(table, "polars")
    if to == "pyarrow":
        return table
    raise ValueError(f"to must be 'polars', 'pyarrow' or None, not {to!r}")
