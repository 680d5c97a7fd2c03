"""vigil vs rsigma (independent Rust Sigma engine) on SigmaHQ's regression events: the same
Windows rules, the same events, the set of (rule, event) matches compared. Prints every
difference with its explanation; exits 1 on an unexplained one.

    rsigma: cargo install --locked rsigma --version 0.23.0 --no-default-features \
            --features rsigma-runtime,evtx,daachorse-index
    python benches/sigma_equality.py            (after maturin develop)
    python benches/sigma_equality.py 100000     (also the mixed 100k-event set of sigma_bench.py)
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
    hits = rules.match(se.vigil_table(records))  # pyarrow in -> pyarrow out
    ours = set(zip(hits.column("rule_id").to_pylist(), hits.column("row").to_pylist()))

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
    files = {r[1]: r[0] for r in rules._native.rules()}
    unexplained = 0
    for tag, diff in (("only vigil", only_v), ("only rsigma", only_r)):
        for rid, row in diff:
            s, d = records[row]
            print(f"  {tag}: {rid} {titles.get(rid, '')!r} on row {row} "
                  f"(channel {s['channel']}, EventID {s['event_id']})")
            why = explain(tag, rid, row, records, files)
            print(f"    why: {why or 'UNEXPLAINED'}")
            unexplained += why is None
    return 0 if unexplained == 0 else 1


def explain(tag: str, rid: str, row: int, records, files) -> "str | None":
    """Checks the two known causes of a difference on the event itself."""
    s, d = records[row]
    if tag == "only vigil" and any(" " in k for k in d):
        return ("the event names fields with spaces (Defender's `Threat Name`); vigil matches them to "
                "Sigma's space-less names (ThreatName), rsigma sees no such field")
    if tag == "only rsigma":
        # The same rule without any logsource pipeline fires in vigil too: the difference is
        # only the logsource condition, which rsigma's sysmon pipeline does not apply.
        alone = vigil.SigmaRules.load(files[rid], shipped_pipeline=False)
        hits = alone.match(se.vigil_table([records[row]]))
        if hits.num_rows > 0:
            return ("logsource: the rule's service/category does not cover this event's channel, so "
                    "vigil's pipeline keeps it off; rsigma does not filter rules by service")
    return None


def mixed(n: int) -> int:
    """The same comparison on n replicated events with varied values (sigma_bench.py's set)."""
    import pyarrow.parquet as pq
    import sigma_bench

    rsigma = shutil.which("rsigma") or str(Path.home() / ".cargo/bin/rsigma")
    parquet, jsonl = sigma_bench.generate(n)
    rules_dir = se.windows_rule_dir(Path(tempfile.mkdtemp(prefix="sigma_mixed_")) / "rules")
    rules = vigil.SigmaRules.load(rules_dir)
    hits = rules.match(pq.read_table(parquet))
    ours = set(zip(hits.column("rule_id").to_pylist(), hits.column("row").to_pylist()))
    out = subprocess.run([rsigma, "engine", "eval", "-r", str(rules_dir), "-e", f"@{jsonl}", "-p", "sysmon",
                          "--output-format", "ndjson", "--include-event"], capture_output=True, text=True)
    theirs = set()
    for line in out.stdout.splitlines():
        try:
            m = json.loads(line)
        except json.JSONDecodeError:
            continue
        theirs.add((m["rule_id"], int((m.get("event") or {}).get("_row", -1))))
    only_v, only_r = ours - theirs, theirs - ours
    print(f"mixed {n} events: vigil {len(ours)}, rsigma {len(theirs)}, common {len(ours & theirs)}, "
          f"only vigil {len(only_v)}, only rsigma {len(only_r)}")
    from collections import Counter
    for tag, diff in (("only vigil", only_v), ("only rsigma", only_r)):
        for rid, k in Counter(r for r, _ in diff).most_common(20):
            print(f"  {tag}: {rid} x{k}")
    return 0


if __name__ == "__main__":
    rc = main()
    if len(sys.argv) > 1:
        rc |= mixed(int(sys.argv[1]))
    sys.exit(rc)
