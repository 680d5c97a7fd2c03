"""Sigma rules over polars/pyarrow tables: load SigmaHQ-style YAML rules, see which cannot be
evaluated and why, and match them against Windows event tables (columns named as Windows
names them: ``CommandLine``, ``Image``, ... with ``event_id``/``EventID`` and
``channel``/``Channel`` for the logsource conditions)."""

from __future__ import annotations

import json
import os
from typing import Any, Iterator, Mapping, Optional, Sequence, Union

from . import _native
from ._arrow import _as_arrow_input, _as_output, _polars_installed
from ._features import Feature
from ._progress import Progress

__all__ = ["SigmaRules", "hunt"]

PathLike = Union[str, "os.PathLike[str]"]

#: Rows per batch when matching Parquet files (``batch_rows=``): measured with
#: ``benches/sigma_bench.py`` (all Windows rules, 1M events; see the README's Sigma speed results).
DEFAULT_BATCH_ROWS = 65536


def _is_paths(data: Any) -> bool:
    """Whether ``data`` names files (a path or a list/tuple of paths) rather than a table."""
    if isinstance(data, (str, os.PathLike)):
        return True
    return isinstance(data, (list, tuple)) and len(data) > 0 and all(isinstance(p, (str, os.PathLike)) for p in data)


def _paths(data: Any) -> list:
    return [os.fspath(data)] if isinstance(data, (str, os.PathLike)) else [os.fspath(p) for p in data]


def _hit_batches(it: Any, kind: str, progress: Optional[bool]) -> Iterator[Any]:
    with Progress(progress, "Sigma") as bar:
        for table in it:
            bar(*it.progress())
            if table.num_rows:
                yield _as_output(table, kind)


def _out_kind(to: Optional[str]) -> str:
    """The output kind for file input: ``"polars"``, ``"pyarrow"``, or None (polars when installed)."""
    if to is None:
        return "polars" if _polars_installed() else "table"
    if to == "polars":
        return "polars"
    if to in ("pyarrow", "arrow", "table"):
        return "table"
    raise ValueError(f"to={to!r}: expected 'polars', 'pyarrow' or None")


class SigmaRules:
    """A set of compiled Sigma rules.

    >>> rules = vigil.SigmaRules.load("rules/windows")      # a file, a directory tree, or a list  # doctest: +SKIP
    >>> rules.report()                                      # rules not evaluated, and why        # doctest: +SKIP
    >>> hits = rules.match(events)                          # row, rule_id, title, level, tags, timestamp  # doctest: +SKIP
    >>> rules.match(events, add_columns=True)               # events + sigma_max_level + sigma_rules       # doctest: +SKIP

    ``pipeline``: a YAML file of logsource conditions, field renames and aliases merged over
    the shipped Windows pipeline (``shipped_pipeline=False`` starts from an empty one, where
    every rule applies to every row). ``placeholders``: values of ``%name%`` for ``|expand``.
    ``rules.stage()`` is a pipeline stage: ``vigil.Pipeline([rules.stage(), vigil.entropy(...)])``.
    """

    def __init__(self, native: Any) -> None:
        self._native = native

    @classmethod
    def load(cls, path: Union[PathLike, Sequence[PathLike]], *, pipeline: Optional[PathLike] = None,
             shipped_pipeline: bool = True, placeholders: Optional[Mapping[str, Sequence[str]]] = None) -> "SigmaRules":
        """Loads every ``.yml``/``.yaml`` rule under ``path`` (file, directory tree, or a list)."""
        paths = [os.fspath(path)] if isinstance(path, (str, os.PathLike)) else [os.fspath(p) for p in path]
        return cls(_native.NativeSigmaRules.load(paths, None, _opt_path(pipeline), shipped_pipeline,
                                                 _placeholders(placeholders)))

    @classmethod
    def from_yaml(cls, text: str, *, pipeline: Optional[PathLike] = None, shipped_pipeline: bool = True,
                  placeholders: Optional[Mapping[str, Sequence[str]]] = None) -> "SigmaRules":
        """Loads rules from YAML text (one or more documents)."""
        return cls(_native.NativeSigmaRules.load([], text, _opt_path(pipeline), shipped_pipeline,
                                                 _placeholders(placeholders)))

    def __len__(self) -> int:
        return len(self._native)

    def report(self, to: str = "polars") -> Any:
        """Rules and files that cannot be evaluated: file, rule_id, title, status, kind, reason."""
        table = self._native.report()
        return _as_output(table, "polars") if to == "polars" else table

    def counts_by_reason(self) -> dict:
        """Number of rules not evaluated, by reason kind."""
        return dict(self._native.counts_by_reason())

    def rules(self, to: str = "polars") -> Any:
        """The loaded rules: file, rule_id, title, status, level, tags."""
        import pyarrow as pa

        rows = self._native.rules()
        cols = list(zip(*rows)) if rows else [[]] * 6
        table = pa.table({name: list(c) for name, c in
                          zip(["file", "rule_id", "title", "status", "level", "tags"], cols)})
        return _as_output(table, "polars") if to == "polars" else table

    def match(self, data: Any, *, add_columns: bool = False, batch_rows: int = DEFAULT_BATCH_ROWS,
              progress: Optional[bool] = None, to: Optional[str] = None) -> Any:
        """One row per (event, matching rule): ``row`` (input row index), ``rule_id``,
        ``title``, ``level``, ``tags`` and ``timestamp``, ordered by row. With
        ``add_columns=True``: the input with ``sigma_max_level`` (0 none .. 5 critical) and
        ``sigma_rules`` (matching ids).

        ``data`` is a polars/pyarrow/pandas table (the same kind comes back), or Parquet files:
        a path, a directory (every ``.parquet`` file under it, sorted) or a list of them. Files
        are read in Rust ``batch_rows`` rows at a time with the GIL released, each batch matched
        and dropped, so memory holds one batch plus the hits, not the files; ``row`` counts
        across all files (file order), so the hits equal those of the files read whole and
        concatenated. ``progress``: a tqdm bar by rows (None: only in a terminal or notebook).
        ``to`` (files only): ``"polars"``, ``"pyarrow"`` or None (polars when installed).
        ``add_columns=True`` needs a table (it returns the whole input)."""
        if _is_paths(data):
            if add_columns:
                raise ValueError("add_columns=True returns the whole input: read the files into a table first")
            with Progress(progress, "Sigma") as bar:
                table = self._native.matches_parquet(_paths(data), int(batch_rows), bar.callback)
            return _as_output(table, _out_kind(to))
        arrow_data, kind = _as_arrow_input(data)
        table = self._native.annotate(arrow_data) if add_columns else self._native.matches(arrow_data)
        return _as_output(table, kind)

    def match_batches(self, paths: Union[PathLike, Sequence[PathLike]], *, batch_rows: int = DEFAULT_BATCH_ROWS,
                      progress: Optional[bool] = None, to: Optional[str] = None) -> Iterator[Any]:
        """:meth:`match` over Parquet files, the hits handed out batch by batch as they are
        found (a generator of tables with the columns of :meth:`match`; batches without a
        hit are skipped), so memory holds one input batch and its hits, never all hits:
        for writing hits of very large inputs to a sink. ``row`` counts across all files.

        >>> for hits in rules.match_batches("events/", progress=True):  # doctest: +SKIP
        ...     writer.write_table(hits.to_arrow())
        """
        # Opened here, so that a missing file raises at the call, not at the first batch.
        return _hit_batches(self._native.matches_parquet_iter(_paths(paths), int(batch_rows)), _out_kind(to), progress)

    def correlate(self, data: Any, *, batch_rows: int = DEFAULT_BATCH_ROWS, progress: Optional[bool] = None,
                  to: Optional[str] = None) -> Any:
        """The hits of the correlation rules (Sigma v2) loaded with these rules, over a table
        (polars/pyarrow/pandas; the same kind comes back) or Parquet files (as :meth:`match`
        reads them; ``to`` picks the output kind). One row per window that met its rule's
        condition, ordered by window end: ``correlation_id``, ``title``, ``level``, ``type``
        (``event_count``, ``value_count``, ``temporal``, ...), ``group_by`` / ``group_values``
        (lists: the group-by fields and this group's values, null where an event lacked the
        field), ``window_start`` / ``window_end`` (first and last event times in the window),
        ``value`` (the aggregate checked: count, distinct count, sum, ...), ``events`` (events in
        the window), ``rows`` (their input rows, the first 1,000) and ``trigger_row`` (the event
        that closed the window). Events need a ``timestamp`` column; windows are exact across
        batches and files, and the input need not be sorted."""
        if _is_paths(data):
            with Progress(progress, "Sigma correlations") as bar:
                table = self._native.correlate_parquet(_paths(data), int(batch_rows), bar.callback)
            return _as_output(table, _out_kind(to))
        arrow_data, kind = _as_arrow_input(data)
        return _as_output(self._native.correlate(arrow_data), kind)

    def _spec(self) -> dict:
        return json.loads(self._native.stage_json())

    def stage(self) -> Feature:
        """These rules as a pipeline stage (for :class:`vigil.Pipeline` and :func:`vigil.extract`):
        appends ``sigma_max_level`` and ``sigma_rules``, carried beside the score (the detector
        does not see them). Saved models hold the rule texts and recompile them on load."""
        spec = self._spec()
        params = {k: v for k, v in spec.items() if k not in ("column", "kind")}
        return _SigmaFeature("", "sigma", params, None, len(self))

    def __repr__(self) -> str:
        return f"SigmaRules({len(self)} rules, {sum(self.counts_by_reason().values())} not evaluated)"

    def _repr_html_(self) -> str:
        counts = "".join(f"<tr><td>{k}</td><td>{n}</td></tr>" for k, n in self.counts_by_reason().items())
        return (f"<b>SigmaRules</b>: {len(self)} rules loaded"
                + (f"<table><tr><th>not evaluated</th><th>rules</th></tr>{counts}</table>" if counts else ""))


class _SigmaFeature(Feature):
    """A Feature carrying a Sigma rule set (kind ``sigma``)."""

    def __init__(self, column: str, kind: str, params: dict, name: Optional[str], rules: int) -> None:
        super().__init__(column, kind, params, name)
        object.__setattr__(self, "_rules", rules)

    def __repr__(self) -> str:
        return f"vigil.SigmaRules(<{self._rules} rules>).stage()"


def hunt(paths: Union[PathLike, Sequence[PathLike]], rules: Union["SigmaRules", PathLike, Sequence[PathLike]], *,
         min_level: Optional[str] = None, all_detections: bool = False, progress: Optional[bool] = None,
         to: Optional[str] = None) -> Any:
    """A hunt timeline, like ``vigil hunt`` (and hayabusa's ``csv-timeline``): every hit of
    ``rules`` (a :class:`SigmaRules`, or rule files/directories loaded with the shipped Windows
    pipeline) over ``paths`` (``.evtx`` files, JSON event files, or directories searched for
    both), detections and correlation hits together, sorted by time.

    Columns: ``timestamp``, ``computer``, ``channel``, ``event_id``, ``level``, ``rule_title``,
    ``rule_id``, ``kind`` (``detection`` or ``correlation``), ``record_id``, ``details`` (the
    event's fields as ``Name: value ¦ ...``; for a correlation its aggregate and group) and
    ``source_file``. ``min_level``: keep hits of this level or above (``informational``,
    ``low``, ``medium``, ``high``, ``critical``). ``all_detections``: also list matches of rules
    that correlations name without ``generate: true``. ``progress``: a bar by files. ``to``:
    ``"polars"``, ``"pyarrow"`` or None (polars when installed).

    >>> vigil.hunt("logs/", "sigma/rules/windows", min_level="high")  # doctest: +SKIP
    """
    ranks = {"informational": 1, "low": 2, "medium": 3, "high": 4, "critical": 5}
    rank = 0
    if min_level is not None:
        rank = ranks.get(str(min_level).lower(), 0)
        if rank == 0:
            raise ValueError(f"min_level={min_level!r}: expected one of {', '.join(ranks)}")
    if not isinstance(rules, SigmaRules):
        rules = SigmaRules.load(rules)
    with Progress(progress, "hunt", unit="files") as bar:
        table, _events, _files, _damaged = rules._native.hunt(_paths(paths), all_detections, rank, bar.callback)
    return _as_output(table, _out_kind(to))


def _opt_path(p: Optional[PathLike]) -> Optional[str]:
    return None if p is None else os.fspath(p)


def _placeholders(p: Optional[Mapping[str, Sequence[str]]]) -> Optional[dict]:
    if p is None:
        return None
    return {k: [v] if isinstance(v, str) else list(v) for k, v in p.items()}
