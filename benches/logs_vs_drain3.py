"""vigil's template miner vs drain3, whole processes, on the message text (Loghub `Content`)
of the eight Loghub 2k logs concatenated N times (default 50, i.e. 800,000 lines).

Runs, each under `/usr/bin/time -v` (wall time, peak RSS) and reported as lines/s:
  * vigil, all cores and RAYON_NUM_THREADS=1 (examples/mine_lines.rs, release build);
  * drain3 with its defaults (no masking; drain3 still turns all-digit tokens into <*>);
  * drain3 with masking instructions equivalent to vigil's default masks.

Usage (from the repo root, with drain3 installed in the venv; not part of CI):
  cargo build --release -p vigil --example mine_lines
  flock /work/bench.lock python benches/logs_vs_drain3.py [--repeat 50] [--runs 3]
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOGHUB = ROOT / ".." / "shared" / "data" / "loghub"
SYSTEMS = ["HDFS", "BGL", "Apache", "OpenSSH", "Linux", "HealthApp", "Proxifier", "Zookeeper"]

DRAIN3_SCRIPT = r'''
import sys, time
from drain3 import TemplateMiner
from drain3.template_miner_config import TemplateMinerConfig
from drain3.masking import MaskingInstruction
cfg = TemplateMinerConfig()
cfg.profiling_enabled = False
if sys.argv[2] == "masked":
    # Equivalent of vigil's default masks (UUID, path/URL, IPv4(:port), host name with a common
    # TLD (:port), 0x-hex, 8+ hex digits, block id, number, date word), written in the style of
    # drain3's own example masking instructions (drain3 replaces each match with <*>).
    B = r"((?<=[^A-Za-z0-9])|^)"
    E = r"((?=[^A-Za-z0-9])|$)"
    for pat in [
        r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",
        r"(?<![^\s(\[=])(?:[a-zA-Z][a-zA-Z0-9+.-]*://|/)[^\s,)\]]*",
        B + r"(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}(:\d+)?)" + E,
        B + r"((?:[A-Za-z0-9-]+\.)+(?:com|net|org|edu|gov|io|cn|hk|uk|de|jp|ru|local|co|info)(:\d+)?)" + E,
        B + r"(0[xX][0-9a-fA-F]+)" + E,
        B + r"([0-9a-fA-F]{8,})" + E,
        B + r"(blk_-?\d+)" + E,
        B + r"([\-\+]?\d+(\.\d+)?)" + E,
        r"\b(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec|Mon|Tue|Wed|Thu|Fri|Sat|Sun)\b",
    ]:
        cfg.masking_instructions.append(MaskingInstruction(pat, "*"))
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


def build_input(path: Path, repeat: int) -> int:
    msgs = []
    for s in SYSTEMS:
        with open(LOGHUB / s / f"{s}_2k.log_structured.csv", newline="", encoding="utf-8") as f:
            msgs.extend(r["Content"] for r in csv.DictReader(f))
    with open(path, "w", encoding="utf-8") as f:
        for _ in range(repeat):
            for m in msgs:
                f.write(m.replace("\n", " ") + "\n")
    return len(msgs) * repeat


def timed(cmd: list[str], env: dict) -> tuple[float, int, str]:
    p = subprocess.run(["/usr/bin/time", "-v", *cmd], env=env, capture_output=True, text=True, check=True)
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", p.stderr).group(1)
    parts = [float(x) for x in wall.split(":")]
    secs = sum(v * 60 ** i for i, v in enumerate(reversed(parts)))
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr).group(1))
    return secs, rss, p.stdout.strip()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=50)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--masked-runs", type=int, default=1, help="runs of masked drain3 (slow)")
    args = ap.parse_args()
    exe = ROOT / "target" / "release" / "examples" / "mine_lines"
    if not exe.exists():
        sys.exit("build first: cargo build --release -p vigil --example mine_lines")
    with tempfile.TemporaryDirectory() as tmp:
        inp = Path(tmp) / "messages.txt"
        n = build_input(inp, args.repeat)
        script = Path(tmp) / "drain3_run.py"
        script.write_text(DRAIN3_SCRIPT)
        env = dict(os.environ)
        runs = {
            f"vigil, all cores ({os.cpu_count()})": ([str(exe), str(inp)], {**env}),
            "vigil, 1 core": ([str(exe), str(inp)], {**env, "RAYON_NUM_THREADS": "1"}),
            "drain3 0.9, defaults (no masking)": ([sys.executable, str(script), str(inp), "plain"], env),
            "drain3 0.9, masking = vigil's defaults": ([sys.executable, str(script), str(inp), "masked"], env),
        }
        print(f"input: {n} lines ({inp.stat().st_size / 1e6:.1f} MB), {args.runs} runs each, median wall time")
        print(f"load before: {os.getloadavg()}")
        res = {}
        for name, (cmd, e) in runs.items():
            times, rss, out = [], [], ""
            for _ in range(args.masked_runs if "masking =" in name else args.runs):
                t, r, out = timed(cmd, e)
                times.append(t)
                rss.append(r)
            res[name] = (statistics.median(times), max(rss), out)
        print(f"load after: {os.getloadavg()}")
        print("| run | wall s (median) | lines/s (whole process) | peak RSS MiB | output |")
        print("|---|---|---|---|---|")
        for name, (t, r, out) in res.items():
            print(f"| {name} | {t:.2f} | {n / t:,.0f} | {r / 1024:.0f} | {out} |")
        v_all = n / res[list(runs)[0]][0]
        v_one = n / res[list(runs)[1]][0]
        d_plain = n / res[list(runs)[2]][0]
        d_mask = n / res[list(runs)[3]][0]
        print(f"vigil all cores / drain3 masked: {v_all / d_mask:.1f}x (target >= 20x: {'met' if v_all / d_mask >= 20 else 'not met'})")
        print(f"vigil 1 core / drain3 unmasked: {v_one / d_plain:.1f}x (target > 1x: {'met' if v_one > d_plain else 'not met'})")


if __name__ == "__main__":
    main()
