"""vigil.read_evtx: checked against python-evtx (an independent pure-Python EVTX parser) and
against SigmaHQ's evtx_dump JSON of the same events; damaged files keep rows with reasons."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest

import vigil

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
REGRESSION = DATA / "sigma" / "regression_data"
needs_data = pytest.mark.skipif(not REGRESSION.exists(), reason="../shared/data not present")

NS = "{http://schemas.microsoft.com/win/2004/08/events/event}"


def _python_evtx(path: Path) -> list[dict]:
    """Every record of `path` as python-evtx reads it: System values and named Data items."""
    Evtx = pytest.importorskip("Evtx.Evtx")
    out = []
    with Evtx.Evtx(str(path)) as log:
        for record in log.records():
            root = ET.fromstring(record.xml())
            system = root.find(f"{NS}System")
            ev = {
                "event_id": int(system.find(f"{NS}EventID").text),
                "channel": system.find(f"{NS}Channel").text,
                "computer": system.find(f"{NS}Computer").text,
                "record_id": int(system.find(f"{NS}EventRecordID").text),
                "provider": system.find(f"{NS}Provider").get("Name"),
                "fields": {},
            }
            data = root.find(f"{NS}EventData")
            if data is not None:
                for d in data.findall(f"{NS}Data"):
                    if d.get("Name"):
                        ev["fields"][d.get("Name")] = d.text or ""
            out.append(ev)
    return out


def _same_form(v):
    # XML parsers turn CR LF into LF (python-evtx's output goes through one here).
    if isinstance(v, str):
        v = v.replace("\r\n", "\n")
    # GUIDs: letter case may differ between readers. Hex numbers: python-evtx pads them to 16
    # digits (0x000000000003144c), Windows and the evtx crate do not (0x3144c).
    if isinstance(v, str) and re.fullmatch(r"\{?[0-9a-fA-F-]{36}\}?", v):
        return v.strip("{}").lower()
    if isinstance(v, str) and re.fullmatch(r"0x[0-9a-fA-F]+", v):
        return int(v, 16)
    return v


@needs_data
def test_matches_python_evtx_on_regression_files():
    files = sorted(REGRESSION.rglob("*.evtx"))[::10]  # every tenth case: python-evtx is slow
    assert len(files) >= 10
    for f in files:
        ref = sorted(_python_evtx(f), key=lambda e: e["record_id"])
        df = vigil.read_evtx(f).sort("record_id")
        assert df.height == len(ref), f
        for row, ev in zip(df.iter_rows(named=True), ref):
            for k in ("event_id", "channel", "computer", "record_id", "provider"):
                assert row[k] == ev[k], (f, k)
            for name, value in ev["fields"].items():
                assert _same_form(row[name]) == _same_form(value), (f, name, row[name], value)
            assert row["parse_error"] is None


@needs_data
def test_evtx_and_json_agree_and_types():
    evtx = next(REGRESSION.rglob("f2e4b7d9-5c3a-4f8b-9e1d-7a6c2b3f4e5d.evtx"))
    a, rep = vigil.read_evtx(evtx, report=True)
    b = vigil.read_evtx(evtx.with_suffix(".json"))
    assert rep["files"] == 1 and rep["damaged"] == 0 and rep["records"] == a.height
    assert a.height == b.height >= 1
    assert a.schema["timestamp"] == pl.Datetime("ns", "UTC")
    assert a.schema["event_id"] == pl.UInt32
    assert a.schema["record_id"] == pl.UInt64
    assert a.schema["event_data"] == pl.List(pl.String)
    cols = ["event_id", "channel", "computer", "record_id", "Image", "TargetFilename"]
    assert a.sort("record_id").select(cols).equals(b.sort("record_id").select(cols))
    row = a.filter(pl.col("record_id") == 83239).row(0, named=True)
    # Read off the case's JSON by eye.
    assert row["Image"] == r"C:\Users\xodih\Downloads\RedSun.exe"
    assert row["event_id"] == 11 and row["process_id"] == 3208 and row["user_sid"] == "S-1-5-18"
    t = vigil.read_evtx(evtx, to="pyarrow")
    assert isinstance(t, pa.Table) and t.num_rows == a.height


@needs_data
def test_directory_and_damaged_file(tmp_path):
    src = next(REGRESSION.rglob("f2e4b7d9-5c3a-4f8b-9e1d-7a6c2b3f4e5d.evtx"))
    whole = vigil.read_evtx(src)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.evtx").write_bytes(src.read_bytes())
    (tmp_path / "cut.evtx").write_bytes(src.read_bytes()[: 4096 + 200])  # inside the chunk header
    (tmp_path / "junk.evtx").write_bytes(b"not an event log")
    df, rep = vigil.read_evtx(tmp_path, report=True)
    assert rep["files"] == 3
    assert rep["records"] == df.height
    assert rep["unreadable_files"] == 1 and rep["truncated_files"] == 1
    assert rep["damaged"] == 2  # the junk file, the cut
    bad = df.filter(pl.col("parse_error").is_not_null())
    assert bad.height == rep["damaged"]
    assert bad["source_file"].str.ends_with("junk.evtx").any()
    assert df.filter(pl.col("source_file").str.ends_with("a.evtx")).height == whole.height


def test_json_lines_and_errors(tmp_path):
    p = tmp_path / "events.jsonl"
    p.write_text(
        '{"winlog": {"event_id": 4688, "channel": "Security", "event_data": {"CommandLine": "whoami"}}}\n'
        "{broken\n"
        '{"EventID": 1, "Image": "C:\\\\a.exe"}\n'
    )
    df, rep = vigil.read_evtx(p, report=True)
    assert df.height == 3 and rep["damaged"] == 1
    assert df["event_id"].to_list() == [4688, None, 1]
    assert df["CommandLine"].to_list() == ["whoami", None, None]
    assert df["Image"].to_list() == [None, None, r"C:\a.exe"]
    assert "line 2" in df["parse_error"][1]
    with pytest.raises(vigil.VigilError):
        vigil.read_evtx(tmp_path / "missing.evtx")
    with pytest.raises(vigil.VigilError):
        vigil.read_evtx(p, format="xml")
