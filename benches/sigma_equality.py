"""vigil vs rsigma (independent Rust Sigma engine) on SigmaHQ's regression events: the same
Windows rules, the same events, the set of (rule, event) matches compared. Prints every
difference with its explanation; exits 1 on an unexplained one.

    rsigma: cargo install --locked rsigma --version 0.23.0 --no-default-features \
            --features rsigma-runtime,evtx,daachorse-index
    python benches/sigma_equality.py            (after maturin develop)
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import sigma_events as se  # noqa: E402

import vigil  # noqa: E402


def main() -> int:
    rsigma = shutil.which("rsigma") or str(Path.home() / ".cargo/bin/rsigma")
    version = subprocess.run([rsigma, "--version"], capture_output=True, text=True).stdout.strip()
    tmp = Path(tempfile.mkdtemp(prefix="sigma_eq_"))
    rules_dir = se.windows_rule_dir(tmp / "rules")
    records, lines = [], []
    for f in se.regression_files():
        for ev in se.read_events(f):
            system, data = se.fields(ev)
            lines.append(json.dumps(se.rsigma_line(system, data, len(records))))
            records.append((system, data))
    events = tmp / "events.jsonl"
    events.write_text("\n".join(lines) + "\n")

    rules = vigil.SigmaRules.load(rules_dir)
    hits = rules.match(se.vigil_table(records), )
    ours = {(r, int(row)) for r, row in zip(hits["rule_id"].to_list(), hits["row"].to_list())} \
        if hasattr(hits, "to_list") else set()
    if not ours:
        ours = {(r, int(row)) for r, row in zip(hits["rule_id"], hits["row"])}

    out = subprocess.run([rsigma, "engine", "eval", "-r", str(rules_dir), "-e", f"@{events}", "-p", "sysmon",
                          "--output-format", "ndjson", "--include-event"], capture_output=True, text=True)
    theirs = set()
    for line in out.stdout.splitlines():
        try:
            m = json.loads(line)
        except json.JSONDecodeError:
            continue
        ev = m.get("event") or {}
        if "_row" in ev:
            theirs.add((m["rule_id"], int(ev["_row"])))
    titles = {r[1]: r[2] for r in rules._native.rules()}
    only_v, only_r = sorted(ours - theirs), sorted(theirs - ours)
    print(f"{version}: {len(records)} events from {len(se.regression_files())} regression files, "
          f"{len(rules)} Windows rules loaded by vigil")
    print(f"matches: vigil {len(ours)}, rsigma {len(theirs)}, common {len(ours & theirs)}, "
          f"only vigil {len(only_v)}, only rsigma {len(only_r)}")
    for tag, diff in (("only vigil", only_v), ("only rsigma", only_r)):
        for rid, row in diff:
            s, d = records[row]
            print(f"  {tag}: {rid} {titles.get(rid, '')!r} on row {row} "
                  f"(channel {s['channel']}, EventID {s['event_id']})")
    return 0 if not only_v and not only_r else 1


if __name__ == "__main__":
    sys.exit(main())
