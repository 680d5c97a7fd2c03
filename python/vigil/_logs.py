"""Raw logs into polars/pyarrow, and log template mining (vigil's Drain-like miner)."""

from __future__ import annotations

import html
import json
from typing import Any, Optional, Sequence


from . import _native
from ._arrow import _as_arrow_input, _as_output, _to_kind
from ._arrow import pa
from ._progress import Progress

__all__ = ["read_log", "TemplateMiner", "LOG_FORMATS", "read_evtx"]

LOG_FORMATS = ("syslog", "apache", "nginx", "jsonl", "zeek", "zeek_json", "loghub:<System>", "<Header> <Spec>: <Content>")


def read_log(path: str, format: str, *, report: bool = False, to: Optional[str] = None,
             progress: Optional[bool] = None) -> Any:
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
    truncated lines and directives. ``to``: ``"polars"``, ``"pyarrow"`` (a pyarrow Table), or
    None (the default: polars when it is installed, else pyarrow). ``progress``: a tqdm bar
    of the bytes read (None: only in a terminal or notebook; False: never).
    """
    with Progress(progress, "vigil read_log", unit="B") as bar:
        table, rep = _native.read_log(str(path), format, progress=bar.callback)
    out = _to_kind(table, to)
    return (out, rep) if report else out


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

    def templates(self, to: Optional[str] = None) -> Any:
        """The templates so far: ``template_id`` (UInt64), ``template``, ``size`` (UInt64), in
        order of creation. ``to``: ``"polars"``, ``"pyarrow"``, or None (polars when it is
        installed, else a pyarrow Table)."""
        rows = self._m.templates()
        table = pa.table(
            {
                "template_id": pa.array([r[0] for r in rows], pa.uint64()),
                "template": pa.array([r[1] for r in rows], pa.string()),
                "size": pa.array([r[2] for r in rows], pa.uint64()),
            }
        )
        return _to_kind(table, to)

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

    def _repr_html_(self) -> str:
        rows = sorted(self._m.templates(), key=lambda r: -r[2])
        config = json.loads(self._m.config_json())
        settings = ", ".join(f"{k}={v}" for k, v in config.items() if k != "masks")
        head = (f"<div><b>vigil.TemplateMiner</b>: {len(rows):,} templates from {sum(r[2] for r in rows):,} "
                f"messages<br><small>{html.escape(settings)}</small>")
        body = "".join(
            f"<tr><td style='text-align:right'>{n:,}</td><td style='text-align:left'><code>{i}</code></td>"
            f"<td style='text-align:left'><code>{html.escape(t)}</code></td></tr>"
            for i, t, n in rows[:20]
        )
        more = f"<p>... {len(rows) - 20:,} more (<code>.templates()</code> lists all)</p>" if len(rows) > 20 else ""
        return (head + "<table><tr><th style='text-align:right'>count</th><th style='text-align:left'>template_id</th>"
                f"<th style='text-align:left'>template</th></tr>{body}</table>{more}</div>")

    def __repr__(self) -> str:
        return f"vigil.TemplateMiner({len(self._m.templates())} templates, settings {self._m.config_json()})"


def read_evtx(path: str, *, report: bool = False, to: Optional[str] = None, format: str = "auto") -> Any:
    """Reads Windows event logs into a DataFrame: an ``.evtx`` file, a JSON file of events, or
    a directory (every ``*.evtx`` under it, recursively; with ``format="json"`` every
    ``*.json``/``*.jsonl``/``*.ndjson``). Files are read in parallel; the GIL is released.

    Columns: ``timestamp`` (UTC, ns), ``event_id`` (UInt32), ``provider``, ``channel``,
    ``computer``, ``record_id`` (UInt64), ``level``, ``task``, ``opcode`` (UInt32),
    ``keywords`` (hex text as Windows shows it, e.g. ``0x8020000000000000``), ``process_id``,
    ``thread_id`` (UInt32), ``user_sid``, ``source_file``, ``event_data`` (unnamed ``Data``
    items, a list of strings), ``user_data`` (``UserData`` etc. as JSON text), ``parse_error``,
    then one string column per named ``EventData`` field, named as Windows names it
    (``CommandLine``, ``Image``, ``TargetObject``, ...; the names Sigma rules use), the union
    over all files (null where an event lacks the field). ``UserData`` fields are columns too.

    JSON input may be evtx_dump output (``{"Event": {"System": ..., "EventData": ...}}``),
    Winlogbeat documents (``winlog.event_id``, ``winlog.event_data``, ...) or flat objects with
    ``EventID``; as JSON lines, concatenated objects or arrays. ``format``: ``"auto"`` (a file
    is EVTX when it starts with the EVTX signature, else JSON), ``"evtx"`` or ``"json"``.

    A record, chunk or file that cannot be read keeps one row with ``parse_error`` set (rows in
    = records found). With ``report=True`` returns ``(frame, report)``; ``report`` counts files,
    records, parsed, damaged, unreadable_files, truncated_files and gives a few examples.
    ``to``: ``"polars"``, ``"pyarrow"`` (a pyarrow Table), or None (polars when it is
    installed, else pyarrow).
    """
    table, rep = _native.read_evtx(str(path), format)
    out = _to_kind(table, to)
    return (out, rep) if report else out
