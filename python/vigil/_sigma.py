"""Sigma rules over polars/pyarrow tables: load SigmaHQ-style YAML rules, see which cannot be
evaluated and why, and match them against Windows event tables (columns named as Windows
names them: ``CommandLine``, ``Image``, ... with ``event_id``/``EventID`` and
``channel``/``Channel`` for the logsource conditions)."""

from __future__ import annotations

import json
import os
from typing import Any, Mapping, Optional, Sequence, Union

from . import _native
from ._arrow import _as_arrow_input, _as_output
from ._features import Feature

__all__ = ["SigmaRules"]

PathLike = Union[str, "os.PathLike[str]"]


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

    def match(self, data: Any, *, add_columns: bool = False) -> Any:
        """One row per (event, matching rule): ``row`` (input row index), ``rule_id``,
        ``title``, ``level``, ``tags`` and ``timestamp``. With ``add_columns=True``: the input
        with ``sigma_max_level`` (0 none .. 5 critical) and ``sigma_rules`` (matching ids)."""
        arrow_data, kind = _as_arrow_input(data)
        table = self._native.annotate(arrow_data) if add_columns else self._native.matches(arrow_data)
        return _as_output(table, kind)

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


def _opt_path(p: Optional[PathLike]) -> Optional[str]:
    return None if p is None else os.fspath(p)


def _placeholders(p: Optional[Mapping[str, Sequence[str]]]) -> Optional[dict]:
    if p is None:
        return None
    return {k: [v] if isinstance(v, str) else list(v) for k, v in p.items()}
