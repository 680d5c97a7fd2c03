"""Sigma benchmark, whole processes side by side: all loadable Windows rules of the corpus
over N events (default 1M) made by replicating SigmaHQ's regression events with varied field
values, written once to Parquet (vigil) and JSON lines (rsigma, flat, as DESIGN.md feeds it).

    python benches/sigma_bench.py [N]      # run under: flock /work/bench.lock ...

Sides (each a separate process, timed with /usr/bin/time for wall time and max RSS):
  vigil Rust     target/release/deps/sigma-*  <parquet> <rules> <batch rows>
                 (cargo bench -p vigil --bench sigma --no-run): SigmaRules::matches_parquet_iter,
                 each batch's hits counted and dropped
  rust-collect   the same keeping every hit table (SigmaRules::matches_parquet), as match(path)
  vigil Python   python -c "vigil.SigmaRules.load(rules).match(parquet, batch_rows=B)": the file
                 read and matched in Rust, B rows at a time (a release build: maturin develop --release)
  python-stream  rules.match_batches(parquet, batch_rows=B): hit tables handed out batch by batch,
                 counted and dropped (a sink's view; memory: one batch and its hits)
  python-batches the earlier formulation: pyarrow reads the file in 1M-row batches and each
                 batch goes through rules.match(table)
  rsigma         rsigma engine eval -r <rules> -e @<jsonl> -p sysmon [--cross-rule-ac]
Each side prints wall time, CPU time (user + system) and max RSS; pick sides with
``sigma_bench.py N rust rust-collect python python-stream python-batches rsigma rsigma-ac
[--batch-rows B]`` (B default 65536).
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
    often than on the originals. The same events go to Parquet and to JSON lines, written
    1M rows at a time (10M rows of ~110 mostly-null columns do not fit in memory at once)."""
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
    system = ("timestamp", "event_id", "provider", "channel", "computer", "record_id")
    step = 1_000_000
    writer = None
    try:
        for lo in range(0, n, step):
            hi = min(n, lo + step)
            t = base.take(pa.array(pick[lo:hi]))
            suffix = pa.array([f" v{i % 9973}" for i in range(lo, hi)])
            xs = pa.array(["x"] * (hi - lo))
            cols = {}
            for name in t.column_names:
                col = t[name]
                if name not in system:
                    col = pc.if_else(pa.array(suffix_rows[lo:hi]), pc.binary_join_element_wise(col, suffix, ""), col)
                    col = pc.if_else(pa.array(prefix_rows[lo:hi]), pc.binary_join_element_wise(xs, col, ""), col)
                cols[name] = col
            cols["timestamp"] = pa.array(1_700_000_000_000_000_000 + np.arange(lo, hi) * (86_400_000_000_000 // n),
                                         pa.timestamp("ns", "UTC"))
            table = pa.table(cols)
            if writer is None:
                writer = pq.ParquetWriter(parquet, table.schema)
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()
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


def timed(cmd: list[str], env=None) -> tuple[float, float, float, str]:
    """(wall s, CPU s = user + system, max RSS MiB, output) of one whole process."""
    p = subprocess.run(["/usr/bin/time", "-f", "TIME %e %U %S %M"] + cmd, capture_output=True, text=True, env=env)
    m = re.search(r"TIME ([\d.]+) ([\d.]+) ([\d.]+) (\d+)", p.stderr)
    if not m:
        return float("nan"), float("nan"), float("nan"), p.stdout + p.stderr
    wall, cpu, rss = float(m.group(1)), float(m.group(2)) + float(m.group(3)), int(m.group(4)) / 1024
    return wall, cpu, rss, p.stdout + p.stderr


SIDES = ("rust", "rust-collect", "python", "python-stream", "python-batches", "rsigma", "rsigma-ac")


def main() -> int:
    """``sigma_bench.py [N] [side ...] [--batch-rows B]``; sides: rust rust-collect python
    python-stream python-batches rsigma rsigma-ac (default all)."""
    args = sys.argv[1:]
    batch_rows = 65536
    if "--batch-rows" in args:
        i = args.index("--batch-rows")
        batch_rows = int(args[i + 1])
        del args[i:i + 2]
    n = int(args[0]) if args else 1_000_000
    sides = [a for a in args[1:] if a in SIDES] or list(SIDES)
    parquet, jsonl = generate(n)
    rules = se.windows_rule_dir(Path(tempfile.mkdtemp(prefix="sigma_bench_")) / "rules")
    env = dict(os.environ, XDG_RUNTIME_DIR="/tmp", VIGIL_BACKEND="cpu")
    results = {}
    exe = sorted(glob.glob(str(se.ROOT / "target/release/deps/sigma-*")), key=os.path.getmtime)
    exe = [e for e in exe if os.access(e, os.X_OK) and not e.endswith(".d")]
    for side, extra in (("rust", []), ("rust-collect", ["collect"])):
        if exe and side in sides:
            wall, cpu, rss, out = timed([exe[-1], str(parquet), str(rules), str(batch_rows)] + extra, env)
            print(out.strip().splitlines()[0] if out.strip() else out)
            results[f"vigil Rust {' '.join(extra) or 'iter'} ({batch_rows})"] = (wall, cpu, rss)
    if "python" in sides:
        # The file read and matched in Rust, batch_rows rows at a time, the GIL released.
        code = ("import sys, vigil; r = vigil.SigmaRules.load(sys.argv[2]); "
                "h = r.match(sys.argv[1], batch_rows=int(sys.argv[3]), progress=False); "
                "print('vigil-python hits', h.height, 'rules', len(r))")
        wall, cpu, rss, out = timed([sys.executable, "-c", code, str(parquet), str(rules), str(batch_rows)], env)
        print(out.strip().splitlines()[0])
        results[f"vigil Python match(path) ({batch_rows})"] = (wall, cpu, rss)
    if "python-stream" in sides:
        code = ("import sys, vigil; r = vigil.SigmaRules.load(sys.argv[2]); "
                "h = sum(t.height for t in r.match_batches(sys.argv[1], batch_rows=int(sys.argv[3]), progress=False)); "
                "print('vigil-python-stream hits', h, 'rules', len(r))")
        wall, cpu, rss, out = timed([sys.executable, "-c", code, str(parquet), str(rules), str(batch_rows)], env)
        print(out.strip().splitlines()[0])
        results[f"vigil Python match_batches ({batch_rows})"] = (wall, cpu, rss)
    if "python-batches" in sides:
        # Streams the Parquet file by row group (bounded memory at 10M events).
        code = ("import sys, vigil, pyarrow.parquet as pq; r = vigil.SigmaRules.load(sys.argv[2]); "
                "f = pq.ParquetFile(sys.argv[1]); "
                "h = sum(r.match(b).num_rows for b in f.iter_batches(batch_size=1 << 20)); "
                "print('vigil-python hits', h, 'rules', len(r))")
        wall, cpu, rss, out = timed([sys.executable, "-c", code, str(parquet), str(rules)], env)
        print(out.strip().splitlines()[0])
        results["vigil Python pyarrow 1M batches"] = (wall, cpu, rss)
    rsigma = os.path.expanduser("~/.cargo/bin/rsigma")
    rsigma_sides = [s for s in ("rsigma", "rsigma-ac") if s in sides]
    version = rsigma_sides and subprocess.run([rsigma, "--version"], capture_output=True,
                                              text=True).stdout.strip().splitlines()[0]
    # The default engine and its cross-rule Aho-Corasick prefilter (daachorse-index).
    for side, flags in (("rsigma", ""), ("rsigma-ac", " --cross-rule-ac")):
        if side not in sides:
            continue
        wall, cpu, rss, out = timed(["sh", "-c", f"{rsigma} engine eval -r {rules} -e @{jsonl} -p sysmon{flags} "
                                                 f"--output-format ndjson | wc -l"])
        print(f"{version}{flags} hits", out.strip().splitlines()[0] if out.strip() else "?")
        results[f"{version}{flags}"] = (wall, cpu, rss)
    load = os.getloadavg()
    print(f"\n{n} events, whole process (load rules + read events + match), 2 cores shared with other builds "
          f"(load average at the end {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f})")
    for k, (wall, cpu, rss) in results.items():
        print(f"  {k:40s} wall {wall:8.2f} s  CPU {cpu:8.2f} s  {n / wall:12,.0f} events/s  max RSS {rss:8.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
