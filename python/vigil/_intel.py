"""Threat-intel indicators in (STIX 2.1, MISP events/feeds, MISP warninglists, CSV, plain
lists), bulk matching over table columns, sightings out (STIX 2.1 and MISP)."""

from __future__ import annotations

import json
import os
import time
from typing import Any, Iterable, Mapping, Optional, Union


from . import _native
from ._arrow import _as_arrow_input, _as_output, _is_polars, _polars_from_stream, _polars_parts
from ._arrow import pa

__all__ = ["Intel", "IntelStage", "stix_sightings", "misp_sightings"]

_Paths = Union[str, "os.PathLike[str]"]


def _project(data: Any, names: list) -> Any:
    """Only the matched columns of a polars DataFrame or pyarrow Table (the rest is not
    handed over); anything else, or a missing name (the native side names it), as it is."""
    have = getattr(data, "columns", None)
    if isinstance(data, pa.Table):
        have = data.column_names
    if isinstance(have, list) and names and all(n in have for n in names):
        return data.select(list(dict.fromkeys(names)))
    return data


def _ns(at: Any) -> Optional[int]:
    """A time as ns since the epoch: None, an int (ns), a float (seconds) or a datetime."""
    if at is None:
        return None
    if isinstance(at, bool):
        raise TypeError("give a time, not a bool")
    if isinstance(at, int):
        return at
    if isinstance(at, float):
        return int(at * 1e9)
    if hasattr(at, "timestamp"):
        return int(at.timestamp() * 1e9)
    raise TypeError(f"give a datetime, epoch seconds (float) or ns (int), not {type(at).__name__}")


class IntelStage:
    """A pipeline stage: per row, ``intel_hits`` (unsuppressed matches over ``columns``) and
    ``intel_max_confidence`` (their highest confidence, 0 when none). Build with
    :meth:`Intel.stage`; pass it among a Pipeline's features."""

    def __init__(self, intel: "Intel", columns: Mapping[str, str], name: str = "intel") -> None:
        self.intel = intel
        self.columns = dict(columns)
        self.name = name

    def _spec(self) -> dict:
        cols = [[c, k] for c, k in self.columns.items()]
        return {"kind": "intel", "column": cols[0][0] if cols else "", "columns": cols,
                "prefix": self.name, "intel": json.loads(self.intel.to_json())}

    def __repr__(self) -> str:
        return f"vigil.IntelStage({self.columns!r}, {len(self.intel)} indicators)"


class Intel:
    """A set of threat-intel indicators and warninglists, matched in bulk against columns.

    >>> intel = vigil.Intel.load("bundle.json", "misp_feed/", "warninglists/")   # doctest: +SKIP
    >>> hits = intel.match(conn, {"id.resp_h": "ip"})                              # doctest: +SKIP

    Kinds of indicators: ``ip``, ``cidr`` (longest prefix wins), ``domain`` (exact),
    ``domain_suffix`` (the domain or any subdomain), ``url``, ``md5``/``sha1``/``sha256``
    (``hash`` decides by length), ``email``, ``substring``; ``auto`` decides per value.
    Values are normalised on the way in and in events alike (case, trailing dot, IDN to
    punycode, default ports, percent-escapes, IPv4-mapped IPv6).
    """

    def __init__(self, *, _native_intel: Any = None) -> None:
        self._i = _native_intel if _native_intel is not None else _native.NativeIntel()

    @classmethod
    def load(cls, *paths: _Paths) -> "Intel":
        """A new set from any mix of STIX 2.1 bundles, MISP event files, MISP feed folders
        (``manifest.json`` + events), MISP warninglists (``list.json``; they suppress
        matches), CSV files (``value,kind[,id,source,confidence,valid_until]``), plain lists
        (one value per line) and saved sets; each file's format is detected."""
        intel = cls()
        intel.load_more(*paths)
        return intel

    def load_more(self, *paths: _Paths) -> int:
        """Loads more sources into this set; returns how many indicators were added."""
        return self._i.load([os.fspath(p) for p in paths])

    def add(self, values: Iterable[str], kind: str = "auto", *, source: str = "code",
            confidence: Optional[int] = None) -> int:
        """Adds ``values`` of ``kind``; returns how many were added (duplicates update the
        held indicator; rejected values are counted in :meth:`report`)."""
        if isinstance(values, str):
            values = [values]
        return self._i.add([str(v) for v in values], kind, source, confidence)

    def remove(self, values: Iterable[str], kind: str = "auto", *, source: Optional[str] = None) -> int:
        """Removes indicators with these values (from ``source`` only, when given)."""
        if isinstance(values, str):
            values = [values]
        return self._i.remove([str(v) for v in values], kind, source)

    def expire(self, now: Any = None) -> int:
        """Removes indicators whose ``valid_until`` is at or before ``now`` (default: now)."""
        if now is None:
            now = time.time()
        return self._i.expire(_ns(now))

    def add_warninglist(self, name: str, type: str, entries: Iterable[str]) -> None:
        """Adds a warninglist (``type``: string, substring, hostname or cidr)."""
        self._i.add_warninglist(name, type, [str(e) for e in entries])

    def match(self, data: Any, columns: Mapping[str, str], *, at: Any = None,
              keep: Iterable[str] = (), report: bool = False) -> Any:
        """One row per (event row, column, indicator): ``row``, ``column``, ``value``,
        ``indicator_id``, ``kind``, ``source``, ``confidence``, ``suppressed_by`` (the
        warninglist that suppressed it, or null), then the event columns named in ``keep``
        (e.g. the time column, for sightings). ``columns`` maps a column to its kind: ``ip``,
        ``domain``, ``url``, ``hash``, ``email`` or ``substring``. ``at`` (a datetime or epoch
        seconds) ignores indicators not valid then. Values invalid for their kind match
        nothing and are counted; ``report=True`` returns ``(matches, report)``.

        Types: ``row`` UInt64, ``confidence`` UInt8, ``value`` and ``indicator_id`` strings;
        ``column``, ``kind``, ``source`` and ``suppressed_by`` are dictionary-encoded (polars
        ``Categorical``, pyarrow ``dictionary<int32, string>``): compare them with strings as
        usual, cast to ``pl.String`` before joining them with a String column."""
        if _is_polars(data) and not list(keep):
            # polars in, polars out through the Arrow stream interface: no pyarrow import
            # (so no _project, whose pyarrow check would load it).
            names = list(columns)
            if names and all(n in data.columns for n in names):
                data = data.select(list(dict.fromkeys(names)))
            stream, rep = self._i.match_stream(_polars_parts(data),
                                               [(c, k) for c, k in columns.items()], _ns(at))
            out = _polars_from_stream(stream)
            return (out, json.loads(rep)) if report else out
        arrow_data, kind = _as_arrow_input(data)
        table, rep = self._i.match_table(_project(arrow_data, list(columns)),
                                         [(c, k) for c, k in columns.items()], _ns(at))
        keep = list(keep)
        if keep:
            events = pa.table(arrow_data) if not isinstance(arrow_data, pa.Table) else arrow_data
            rows = table.column("row")
            for c in keep:
                table = table.append_column(c, events.column(c).take(rows))
        if kind != "polars":
            # pyarrow's compute functions do not all take string_view yet: plain strings.
            table = table.cast(pa.schema([
                pa.field(f.name, pa.string(), f.nullable) if f.type == pa.string_view() else f
                for f in table.schema
            ]))
        out = _as_output(table, kind if kind != "batch" else "table")
        return (out, json.loads(rep)) if report else out

    def stage(self, columns: Mapping[str, str], name: str = "intel") -> IntelStage:
        """A pipeline stage adding ``<name>_hits`` and ``<name>_max_confidence`` per row."""
        return IntelStage(self, columns, name)

    def report(self) -> dict:
        """Per source: ``format``, ``loaded``, ``duplicates``, ``rejected`` (reason -> count)
        and the first few rejected ``examples``."""
        rep = json.loads(self._i.report_json())
        for r in rep.values():
            r["examples"] = [tuple(e) for e in r["examples"]]
        return rep

    def indicators(self) -> pa.Table:
        """Every live indicator: id, kind, value (normalised), source, confidence, validity."""
        rows = self._i.indicators()
        names = ["id", "kind", "value", "source", "confidence", "valid_from", "valid_until"]
        types = [pa.string(), pa.string(), pa.string(), pa.string(), pa.uint8(),
                 pa.timestamp("ns", "UTC"), pa.timestamp("ns", "UTC")]
        cols = [pa.array([r[i] for r in rows], t) for i, t in enumerate(types)]
        return pa.table(dict(zip(names, cols)))

    @property
    def warninglists(self) -> list:
        """Names of the warninglists held."""
        return self._i.warninglist_names()

    def memory_bytes(self) -> int:
        """An estimate of the bytes the indicator table holds."""
        return self._i.memory_bytes()

    def __len__(self) -> int:
        return len(self._i)

    def to_json(self) -> str:
        """The set as versioned JSON (plain data; safe to load from untrusted sources)."""
        return self._i.to_json()

    @classmethod
    def from_json(cls, text: str) -> "Intel":
        """Reads :meth:`to_json`; raises ``vigil.ModelError`` on bad input."""
        return cls(_native_intel=_native.NativeIntel.from_json(text))

    def save(self, path: _Paths) -> None:
        """Writes :meth:`to_json` to ``path``."""
        self._i.save(os.fspath(path))

    @classmethod
    def open(cls, path: _Paths) -> "Intel":
        """Reads a file written by :meth:`save` (size-capped, validated)."""
        return cls(_native_intel=_native.NativeIntel.open(os.fspath(path)))

    def __repr__(self) -> str:
        return f"vigil.Intel({len(self)} indicators, warninglists {self.warninglists})"

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{s}</td><td>{r['format']}</td><td>{r['loaded']}</td>"
            f"<td>{sum(r['rejected'].values())}</td></tr>"
            for s, r in self.report().items()
        )
        return (f"<b>vigil.Intel</b>: {len(self)} indicators<table><tr><th>source</th>"
                f"<th>format</th><th>loaded</th><th>rejected</th></tr>{rows}</table>")


def _matches_table(matches: Any) -> Any:
    arrow_data, _ = _as_arrow_input(matches)
    return arrow_data


def stix_sightings(matches: Any, identity: str, *, time_column: Optional[str] = None,
                   observed_data: bool = False, include_suppressed: bool = False,
                   now: Any = None) -> dict:
    """A STIX 2.1 bundle (a dict) of one ``sighting`` per indicator in ``matches`` (from
    :meth:`Intel.match`): ``sighting_of_ref``, ``count``, ``first_seen``/``last_seen`` (from
    ``time_column`` of the matches, e.g. kept with ``match(..., keep=["ts"])``),
    ``where_sighted_refs`` to an identity named ``identity``; with ``observed_data=True`` also
    ``observed-data`` objects of the values seen. Suppressed matches are left out unless
    ``include_suppressed``."""
    text = _native.stix_sightings(_matches_table(matches), identity, time_column, observed_data,
                                  include_suppressed, _ns(now))
    return json.loads(text)


def misp_sightings(matches: Any, source: str, *, time_column: Optional[str] = None,
                   include_suppressed: bool = False, now: Any = None) -> list:
    """MISP sightings (a list of ``{"Sighting": {...}}``), one per (indicator, value) seen."""
    text = _native.misp_sightings(_matches_table(matches), source, time_column, include_suppressed,
                                  _ns(now))
    return json.loads(text)
