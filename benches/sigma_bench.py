"""Sigma benchmark, whole processes side by side: all loadable Windows rules of the corpus
over N events (default 1M) made by replicating SigmaHQ's regression events with varied field
values, written once to Parquet (vigil) and JSON lines (rsigma, flat, as DESIGN.md feeds it).

    python benches/sigma_bench.py [N]      # run under: flock /work/bench.lock ...

Sides (each a separate process, timed with /usr/bin/time for wall time and max RSS):
  vigil Rust   target/release/deps/sigma-*  <parquet> <rules>   (cargo bench -p vigil --bench sigma --no-run)
  vigil Python python -c "vigil.SigmaRules.load(rules).match(pq.read_table(parquet))"
  rsigma       rsigma engine eval -r <rules> -e @<jsonl> -p sysmon
"""

from __future__ import annotations

import glob
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import sigma_events as se  # noqa: E402

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

OUT = se.ROOT / "target" / "bench-data"


def generate(n: int) -> tuple[Path, Path]:
    """Row i is regression event pick[i]; a third of the rows get a per-row suffix on every
    EventData value and a sixth an "x" prefix, so exact/endswith/startswith tests hit less
    often than on the originals. The same events go to Parquet and to JSON lines."""
    import json

    OUT.mkdir(parents=True, exist_ok=True)
    parquet, jsonl = OUT / f"sigma_{n}.parquet", OUT / f"sigma_{n}.jsonl"
    if parquet.exists() and jsonl.exists():
        return parquet, jsonl
    records = [se.fields(ev) for f in se.regression_files() for ev in se.read_events(f)]
    base = se.vigil_table(records)
    rng = np.random.default_rng(10)
    pick = rng.integers(0, base.num_rows, n)
    r = rng.random(n)
    suffix_rows, prefix_rows = r < 1 / 3, (r >= 1 / 3) & (r < 0.5)
    t = base.take(pa.array(pick))
    suffix = pa.array([f" v{i % 9973}" for i in range(n)])
    xs = pa.array(["x"] * n)
    system = ("timestamp", "event_id", "provider", "channel", "computer", "record_id")
    cols = {}
    for name in t.column_names:
        col = t[name]
        if name not in system:
            col = pc.if_else(pa.array(suffix_rows), pc.binary_join_element_wise(col, suffix, ""), col)
            col = pc.if_else(pa.array(prefix_rows), pc.binary_join_element_wise(xs, col, ""), col)
        cols[name] = col
    cols["timestamp"] = pa.array(1_700_000_000_000_000_000 + np.arange(n) * (86_400_000_000_000 // n),
                                 pa.timestamp("ns", "UTC"))
    pq.write_table(pa.table(cols), parquet)
    with open(jsonl, "w") as out:
        for i in range(n):
            s, d = records[pick[i]]
            if suffix_rows[i]:
                d = {k: None if v is None else se._text(v) + f" v{i % 9973}" for k, v in d.items()}
            elif prefix_rows[i]:
                d = {k: None if v is None else "x" + se._text(v) for k, v in d.items()}
            line = se.rsigma_line(s, {k: v for k, v in d.items() if v is not None}, i)
            out.write(json.dumps({k: v for k, v in line.items() if v is not None}))
            out.write("\n")
    return parquet, jsonl


def timed(cmd: list[str], env=None) -> tuple[float, float, str]:
    p = subprocess.run(["/usr/bin/time", "-f", "TIME %e %M"] + cmd, capture_output=True, text=True, env=env)
    m = re.search(r"TIME ([\d.]+) (\d+)", p.stderr)
    wall, rss = (float(m.group(1)), int(m.group(2)) / 1024) if m else (float("nan"), float("nan"))
    return wall, rss, p.stdout + p.stderr


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    parquet, jsonl = generate(n)
    rules = se.windows_rule_dir(Path(tempfile.mkdtemp(prefix="sigma_bench_")) / "rules")
    env = dict(os.environ, XDG_RUNTIME_DIR="/tmp", VIGIL_BACKEND="cpu")
    results = {}
    exe = sorted(glob.glob(str(se.ROOT / "target/release/deps/sigma-*")), key=os.path.getmtime)
    exe = [e for e in exe if os.access(e, os.X_OK) and not e.endswith(".d")]
    if exe:
        wall, rss, out = timed([exe[-1], str(parquet), str(rules)], env)
        print(out.strip().splitlines()[0] if out.strip() else out)
        results["vigil Rust"] = (wall, rss)
    code = ("import sys, vigil, pyarrow.parquet as pq; r = vigil.SigmaRules.load(sys.argv[2]); "
            "h = r.match(pq.read_table(sys.argv[1])); print('vigil-python hits', h.num_rows, 'rules', len(r))")
    wall, rss, out = timed([sys.executable, "-c", code, str(parquet), str(rules)], env)
    print(out.strip().splitlines()[0])
    results["vigil Python"] = (wall, rss)
    rsigma = os.path.expanduser("~/.cargo/bin/rsigma")
    wall, rss, out = timed(["sh", "-c", f"{rsigma} engine eval -r {rules} -e @{jsonl} -p sysmon "
                                        f"--output-format ndjson | wc -l"])
    print("rsigma hits", out.strip().splitlines()[0] if out.strip() else "?")
    results["rsigma 0.23.0"] = (wall, rss)
    print(f"\n{n} events, whole process (load rules + read events + match), 2 cores shared with other builds")
    base = results["rsigma 0.23.0"][0]
    for k, (wall, rss) in results.items():
        print(f"  {k:14s} {wall:8.2f} s  {n / wall:12,.0f} events/s  max RSS {rss:8.0f} MiB  ({base / wall:5.1f}x rsigma)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
