"""Template mining on free text: N distinct random lines of 3-12 random words each (every
line its own template), whole processes under `/usr/bin/time -v` (wall time, CPU time
user + system, peak RSS; on a shared machine the CPU time says what the wall time hides).

Runs, for each N (default 10k, 20k, 300k, 1M):
  * vigil (examples/mine_lines.rs, release build, default settings: max_clusters 100,000);
  * drain3 with its defaults (no masking; its max_clusters unset), only for N <= --drain3-max
    (default 300k) and killed after --timeout seconds (it is quadratic on such input).
Words are random lower-case strings of 3-10 letters (seed 15), so lines share no template.

Usage (from the repo root; drain3 in the venv; not part of CI):
  cargo build --release -p vigil --example mine_lines
  flock /work/bench.lock .venv/bin/python benches/free_text.py [--sizes 10000,20000,300000,1000000]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import string
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

DRAIN3 = r'''
import sys, time
from drain3 import TemplateMiner
from drain3.template_miner_config import TemplateMinerConfig
cfg = TemplateMinerConfig()
cfg.profiling_enabled = False
m = TemplateMiner(config=cfg)
t0 = time.perf_counter()
n = 0
with open(sys.argv[1], encoding="utf-8") as f:
    for line in f:
        m.add_log_message(line.rstrip("\n"))
        n += 1
dt = time.perf_counter() - t0
print(f"lines {n} templates {len(m.drain.clusters)} seconds {dt:.3f} lines_per_s {n / dt:.0f}")
'''


def write_lines(path: Path, n: int) -> None:
    r = random.Random(15)
    letters = string.ascii_lowercase
    seen = set()
    with open(path, "w") as f:
        while len(seen) < n:
            words = ["".join(r.choice(letters) for _ in range(r.randint(3, 10))) for _ in range(r.randint(3, 12))]
            line = " ".join(words)
            if line not in seen:
                seen.add(line)
                f.write(line + "\n")


def timed(cmd: list[str], env: dict, timeout: float) -> tuple[float, float, int, str] | None:
    try:
        p = subprocess.run(["/usr/bin/time", "-v", *cmd], env=env, capture_output=True, text=True,
                           check=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", p.stderr).group(1)
    secs = sum(float(v) * 60 ** i for i, v in enumerate(reversed(wall.split(":"))))
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr).group(1))
    cpu = sum(float(re.search(rf"{k} time \(seconds\): (\S+)", p.stderr).group(1)) for k in ("User", "System"))
    return secs, cpu, rss, p.stdout.strip()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,20000,300000,1000000")
    ap.add_argument("--drain3-max", type=int, default=300000)
    ap.add_argument("--timeout", type=float, default=900)
    args = ap.parse_args()
    exe = ROOT / "target" / "release" / "examples" / "mine_lines"
    if not exe.exists():
        sys.exit("build first: cargo build --release -p vigil --example mine_lines")
    print(f"load before: {os.getloadavg()}")
    print("| lines | tool | wall s | CPU s (user+sys) | lines/s (whole process, wall) | peak RSS MiB | output |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "drain3_run.py"
        script.write_text(DRAIN3)
        for n in [int(x) for x in args.sizes.split(",")]:
            inp = Path(tmp) / f"lines_{n}.txt"
            write_lines(inp, n)
            runs = [("vigil", [str(exe), str(inp)])]
            if n <= args.drain3_max:
                runs.append(("drain3 0.9 (defaults)", [sys.executable, str(script), str(inp)]))
            for name, cmd in runs:
                res = timed(cmd, dict(os.environ), args.timeout)
                if res is None:
                    print(f"| {n:,} | {name} | > {args.timeout:.0f} (killed) | | | | |", flush=True)
                    continue
                t, cpu, rss, out = res
                print(f"| {n:,} | {name} | {t:.2f} | {cpu:.2f} | {n / t:,.0f} | {rss / 1024:.0f} | {out} |", flush=True)
            inp.unlink()
    print(f"load after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
