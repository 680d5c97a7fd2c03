"""Shared by the Sigma scripts: SigmaHQ regression events (evtx_dump JSON) flattened two ways
from the same records — a vigil table named as vigil's EVTX reader names columns
(``timestamp``, ``event_id``, ``provider``, ``channel``, ``computer``, ``record_id`` + the
EventData fields as text) and flat JSON lines for rsigma (EventData + EventID, Channel,
Provider_Name, Computer), as DESIGN.md's rsigma recipe does with jq — and the Windows rule
files of the corpus (``product: windows``; rsigma does not filter rules by product)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIGMA = (ROOT / ".." / "shared" / "data" / "sigma").resolve()
TREES = ["rules", "rules-emerging-threats", "rules-threat-hunting"]


def read_events(path: Path) -> list[dict]:
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        obj = json.loads(text)
        return obj if isinstance(obj, list) else [obj]
    except json.JSONDecodeError:
        dec, at, out = json.JSONDecoder(), 0, []
        while True:
            while at < len(text) and text[at].isspace():
                at += 1
            if at >= len(text):
                return out
            obj, at = dec.raw_decode(text, at)
            out.append(obj)


def _text(v):
    if v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float, str)):
        return str(v)
    if isinstance(v, dict) and "#text" in v:
        return _text(v["#text"])
    return json.dumps(v, separators=(",", ":"))


def _int(v):
    if isinstance(v, dict):
        v = v.get("#text")
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def fields(ev: dict) -> tuple[dict, dict]:
    """(System values, data fields with their JSON values) of one event."""
    e = ev.get("Event", ev)
    sys = e.get("System") or {}
    data = {}
    for k, v in (e.get("EventData") or {}).items() if isinstance(e.get("EventData"), dict) else []:
        if not k.startswith("#"):
            data[k] = v
    ud = e.get("UserData")
    if isinstance(ud, dict):
        for inner in ud.values():
            if isinstance(inner, dict):
                data.update({k: v for k, v in inner.items() if not k.startswith("#")})
    prov = sys.get("Provider", {})
    system = {
        "time": ((sys.get("TimeCreated") or {}).get("#attributes") or {}).get("SystemTime"),
        "event_id": _int(sys.get("EventID")),
        "provider": (prov.get("#attributes") or {}).get("Name") if isinstance(prov, dict) else None,
        "channel": _text(sys.get("Channel")),
        "computer": _text(sys.get("Computer")),
        "record_id": _int(sys.get("EventRecordID")),
    }
    return system, data


def rsigma_line(system: dict, data: dict, row: int) -> dict:
    d = dict(data)
    d.update({"EventID": system["event_id"], "Channel": system["channel"],
              "Provider_Name": system["provider"], "Computer": system["computer"], "_row": row})
    return d


def vigil_table(records: list[tuple[dict, dict]]):
    import pyarrow as pa
    from datetime import datetime

    names: list[str] = []
    for _, data in records:
        for k in data:
            if k not in names:
                names.append(k)
    def ts(s):
        if not s:
            return None
        return datetime.fromisoformat(s.replace("Z", "+00:00"))
    cols = {
        "timestamp": pa.array([ts(s["time"]) for s, _ in records], pa.timestamp("ns", "UTC")),
        "event_id": pa.array([s["event_id"] for s, _ in records], pa.int64()),
        "provider": pa.array([s["provider"] for s, _ in records], pa.string()),
        "channel": pa.array([s["channel"] for s, _ in records], pa.string()),
        "computer": pa.array([s["computer"] for s, _ in records], pa.string()),
        "record_id": pa.array([s["record_id"] for s, _ in records], pa.int64()),
    }
    for n in names:
        if n not in cols:
            cols[n] = pa.array([_text(d.get(n)) for _, d in records], pa.string())
    return pa.table(cols)


def regression_files() -> list[Path]:
    out = []
    for info in sorted((SIGMA / "regression_data").rglob("info.yml")):
        for p in sorted(info.parent.iterdir()):
            if p.suffix in (".json", ".jsoncls"):
                out.append(p)
    return out


def windows_rule_dir(dest: Path) -> Path:
    """Symlinks every rule file with ``product: windows`` into ``dest`` (flat, unique names)."""
    dest.mkdir(parents=True, exist_ok=True)
    pat = re.compile(r"^\s+product:\s*windows\s*(#.*)?$", re.M)
    n = 0
    for tree in TREES:
        for p in sorted((SIGMA / tree).rglob("*.yml")):
            if pat.search(p.read_text(encoding="utf-8", errors="replace")):
                link = dest / f"{n:05d}_{p.name}"
                if not link.exists():
                    os.symlink(p, link)
                n += 1
    return dest
