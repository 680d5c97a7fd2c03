"""Raw logs into polars/pyarrow, and log template mining (vigil's Drain-like miner)."""

from __future__ import annotations

import json
from typing import Any, Optional, Sequence

import pyarrow as pa

from . import _native
from ._arrow import _as_arrow_input, _as_output

__all__ = ["read_log", "TemplateMiner", "LOG_FORMATS"]

LOG_FORMATS = ("syslog", "apache", "nginx", "jsonl", "zeek", "zeek_json", "loghub:<System>", "<Header> <Spec>: <Content>")


def read_log(path: str, format: str, *, report: bool = False, to: str = "polars") -> Any:
    """Reads the log file at ``path`` into a DataFrame, streaming in bounded batches.

    ``format``: ``"syslog"`` (RFC 5424 or RFC 3164, per line), ``"apache"``/``"nginx"``
    (common or combined access log), ``"jsonl"`` (nested objects flattened to ``a.b``
    columns; also Zeek JSON), ``"zeek"`` (Zeek TSV with ``#fields``), ``"loghub:HDFS"``
    (the Loghub header format of a system) or a header spec such as
    ``"<Date> <Time> <Level> <Component>: <Content>"``.

    Every line becomes a row (Zeek ``#`` directives aside): ``_line`` is its number, the
    format's fields are Utf8 columns, and a line that does not parse keeps its row with null
    fields, its text in ``_raw`` and the reason in ``_error``. With ``report=True`` returns
    ``(frame, report)`` where ``report`` counts rows, parsed, malformed, invalid UTF-8,
    truncated lines and directives. ``to="pyarrow"`` returns a pyarrow Table.
    """
    table, rep = _native.read_log(str(path), format)
    out = _convert(table, to)
    return (out, rep) if report else out


def _convert(table: pa.Table, to: str) -> Any:
    if to == "polars":
        return _as_output(table, "polars")
    if to == "pyarrow":
        return table
    raise ValueError(f"to must be 'polars' or 'pyarrow', not {to!r}")


class TemplateMiner:
    """Mines log templates: a Drain-like parse tree over masked tokens, deterministic, with
    template ids that are a stable hash of the template text (so shards agree).

    >>> miner = vigil.TemplateMiner()
    >>> out = miner.parse(df, column="Content")   # adds template_id, template, parameters  # doctest: +SKIP

    Settings: ``depth`` (Drain's tree depth), ``similarity`` (least share of equal tokens to
    join a template), ``max_children`` per tree node, ``min_variable_values`` (distinct words
    a position needs before it becomes a variable) and ``masks`` (names of the built-in mask
    rules: number, ip, hex, uuid, path, host, digit_heavy, date_name; default all).
    ``segmenter`` says how text of scripts written without spaces (Chinese, Japanese, Thai)
    is cut into tokens: ``"words"`` (Unicode word boundaries, default), ``"chars"`` (one
    token per character) or ``"whitespace"`` (not cut). ``max_clusters`` caps the live
    clusters: past it the least recently used template is evicted (as in drain3).
    """

    def __init__(
        self,
        depth: int = 4,
        similarity: float = 0.5,
        max_children: int = 100,
        min_variable_values: int = 4,
        masks: Optional[Sequence[str]] = None,
        segmenter: str = "words",
        max_clusters: int = 100_000,
        *,
        _native_miner: Optional[Any] = None,
    ) -> None:
        if _native_miner is not None:
            self._m = _native_miner
            return
        config: dict = {
            "depth": depth,
            "similarity": similarity,
            "max_children": max_children,
            "min_variable_values": min_variable_values,
            "segmenter": segmenter,
            "max_clusters": max_clusters,
        }
        if masks is not None:
            config["masks"] = {"rules": list(masks)}
        self._m = _native.NativeTemplateMiner(json.dumps(config))

    def parse(self, data: Any, column: str = "message") -> Any:
        """Adds ``template_id`` (UInt64), ``template`` (dictionary-encoded text) and
        ``parameters`` (list of strings) for the messages in ``column`` of ``data`` (polars in,
        polars out; pyarrow in, pyarrow out). A polars Series or a list of strings gives a
        DataFrame of ``message`` and the three columns. Learns from the messages."""
        if isinstance(data, (list, tuple)):
            data = pa.table({"message": pa.array(data, pa.string())})
            kind = "polars_if_available"
        elif type(data).__module__.startswith("polars") and type(data).__name__ == "Series":
            data = data.rename("message").to_frame()
            column = "message"
            kind = None
        else:
            kind = None
        arrow_data, out_kind = _as_arrow_input(data)
        table = self._m.parse(arrow_data, column)
        if kind == "polars_if_available":
            try:
                return _as_output(table, "polars")
            except ImportError:
                return table
        return _as_output(table, out_kind)

    def templates(self) -> Any:
        """The templates so far as a polars DataFrame: ``template_id``, ``template``, ``size``."""
        import polars as pl

        rows = self._m.templates()
        return pl.DataFrame(
            {
                "template_id": [r[0] for r in rows],
                "template": [r[1] for r in rows],
                "size": [r[2] for r in rows],
            },
            schema={"template_id": pl.UInt64, "template": pl.Utf8, "size": pl.UInt64},
        )

    def mask(self, message: str) -> str:
        """The masked form of ``message`` (variables replaced by ``<*>``)."""
        return self._m.mask(message)

    def merge(self, other: "TemplateMiner") -> "TemplateMiner":
        """Adds ``other``'s templates into this miner (in place; returns self)."""
        self._m.merge(other._m)
        return self

    def to_json(self) -> str:
        """The state as versioned JSON (plain data; safe to load from untrusted sources)."""
        return self._m.to_json()

    @classmethod
    def from_json(cls, text: str) -> "TemplateMiner":
        """Loads a state from :meth:`to_json`; raises ``vigil.ModelError`` on bad input."""
        return cls(_native_miner=_native.NativeTemplateMiner.from_json(text))

    def save(self, path: str) -> None:
        """Writes :meth:`to_json` to ``path``."""
        with open(path, "w", encoding="utf-8") as f:
            f.write(self.to_json())

    @classmethod
    def load(cls, path: str) -> "TemplateMiner":
        """Reads a state written by :meth:`save`."""
        with open(path, encoding="utf-8") as f:
            return cls.from_json(f.read())

    def __repr__(self) -> str:
        return f"vigil.TemplateMiner({len(self._m.templates())} templates, settings {self._m.config_json()})"
