"""One command for vigil's side-by-side performance table (issue 14): generates the data, runs
every vigil / reference pair of the shared bench README as separate whole processes under
`/usr/bin/time -v` (wall time, best of N; peak RSS), checks that the two sides agree, and prints
a Markdown table with the machine and the date.

    python benches/run_all.py                       # full sizes: 10M domains, 2M + 10M flows, 1M x 16 forest
    python benches/run_all.py --quick               # small sizes, one run each (a smoke test)
    flock /work/bench.lock python benches/run_all.py --repeat 3   # on a shared machine

The workload scripts and the domain / flow generators are the shared ones (`--shared`, default
`../shared/bench` beside the project); they are run as they are, never copied. What they do not
cover is generated here: skewed flows (2,000 sources, a few busy) and a table of domain names
with upper case and non-ASCII letters for the agreement check of every string feature.

Checks (untimed, in this process): every string feature of `vigil.extract` against polars
expressions of the same definition (bytes; ratios of the byte length) and a plain-Python
reference, on the mixed-case non-ASCII names and on the head of the timed file; the window
count / distinct ports / sum per event against polars on each flow file; the isolation forest's
ranking against scikit-learn's on data with planted outliers. A failed check is printed and
makes the exit status 1; the table is printed either way.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import math
import os
import platform
import random
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------- data

def generate(shared: Path, python: str, data: Path, args) -> dict:
    """Writes (when missing) every file the workloads read; returns their paths by name."""
    data.mkdir(parents=True, exist_ok=True)
    out = {}
    for n in args.domains:
        p = data / f"domains_{n}.parquet"
        if not p.exists():
            print(f"generating {p} ...", flush=True)
            subprocess.run([python, str(shared / "gen_domains.py"), str(n), str(data)], check=True)
        out[f"domains_{n}"] = p
    for n in args.flows:
        p = data / f"flows_{n}.parquet"
        if not p.exists():
            print(f"generating {p} ...", flush=True)
            subprocess.run([python, str(shared / "gen_flows.py"), str(n), str(data)], check=True)
        out[f"flows_{n}"] = p
        if not args.no_skewed:
            s = data / f"flows_skewed_{n}.parquet"
            if not s.exists():
                print(f"generating {s} ...", flush=True)
                skewed_flows(n, s)
            out[f"flows_skewed_{n}"] = s
    m = data / "mixed_names_200000.parquet"
    if not m.exists():
        mixed_names(200_000, m)
    out["mixed_names"] = m
    return out


def skewed_flows(n: int, path: Path, seed: int = 12) -> None:
    """Flows with gen_flows.py's schema over 24 h, but 2,000 sources of which 20 send half of
    all events (the skewed shape of issue 14)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    r = np.random.default_rng(seed)
    ts = np.sort(r.integers(0, 86_400_000_000, n)).astype("int64") + 1_700_000_000_000_000
    busy = r.random(n) < 0.5
    src = np.where(busy, r.integers(0, 20, n), r.integers(20, 2_000, n))
    dst = r.integers(0, 50_000, n)
    names = np.array([f"10.0.{s // 256}.{s % 256}" for s in range(2_000)])
    dnames = np.array([f"172.16.{d // 256}.{d % 256}" for d in range(50_000)])
    port = r.choice(np.array([22, 53, 80, 443, 445, 3389, 8080], dtype="int32"), n)
    scan = r.random(n) < 0.01
    port[scan] = r.integers(1, 65535, scan.sum()).astype("int32")
    t = pa.table({"ts": pa.array(ts, pa.timestamp("us")), "src_ip": pa.array(names[src]),
                  "dst_ip": pa.array(dnames[dst]), "dst_port": pa.array(port),
                  "bytes": pa.array(r.lognormal(7, 2, n).astype("int64"))})
    pq.write_table(t, path)


def mixed_names(n: int, path: Path, seed: int = 5) -> None:
    """Domain-like names with upper case, digits, punctuation and non-ASCII letters (IDN
    labels in Latin, Cyrillic, Greek, CJK; emoji), some empty and some null."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = random.Random(seed)
    labels = ["mail", "CDN", "Api", "login", "bücher", "münchen", "пример", "δοκιμή", "例え", "テスト",
              "straße", "café", "naïve", "xn--mnchen-3ya", "GitHub", "MICROSOFT", "a_b", "x+y", "🙂"]
    tlds = ["com", "de", "рф", "中国", "co.uk", "IO", "org"]
    alnum = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ßéüж"
    names = []
    for _ in range(n):
        u = rng.random()
        if u < 0.01:
            names.append(None)
        elif u < 0.02:
            names.append("")
        elif u < 0.2:
            names.append("".join(rng.choice(alnum) for _ in range(rng.randint(1, 30))) + "." + rng.choice(tlds))
        else:
            parts = [rng.choice(labels) for _ in range(rng.randint(1, 3))]
            names.append(".".join(parts) + "." + rng.choice(tlds))
    pq.write_table(pa.table({"query": pa.array(names, pa.string())}), path)


# ----------------------------------------------------------------------------- timing

@dataclass
class Run:
    seconds: float
    rss_mb: float
    stdout: str
    cpu: float = math.nan  # user + sys seconds of this run


def timed(cmd: list[str], repeat: int, env: Optional[dict] = None) -> Optional[Run]:
    """Best wall time of `repeat` whole-process runs of `cmd` under /usr/bin/time -v, and the
    largest peak RSS seen; None (and the error printed) when a run fails."""
    best: Optional[Run] = None
    rss = 0.0
    for _ in range(repeat):
        p = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True, env=env)
        if p.returncode != 0:
            print(f"FAILED ({p.returncode}): {' '.join(cmd)}\n{p.stderr[-2000:]}", file=sys.stderr)
            return None
        wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", p.stderr)
        peak = re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr)
        parts = [float(x) for x in wall.group(1).split(":")] if wall else [math.nan]
        seconds = sum(v * 60 ** i for i, v in enumerate(reversed(parts)))
        rss = max(rss, int(peak.group(1)) / 1024 if peak else math.nan)
        cpu = sum(float(m) for m in re.findall(r"(?:User|System) time \(seconds\): (\S+)", p.stderr))
        if best is None or seconds < best.seconds:
            best = Run(seconds, rss, p.stdout.strip(), cpu)
    if best is not None:
        best.rss_mb = rss
    return best


@dataclass
class Row:
    workload: str
    data: str
    target: float
    vigil: Optional[Run] = None
    refs: dict = field(default_factory=dict)  # formulation -> Run

    def fastest_ref(self) -> tuple[str, Optional[Run]]:
        ok = {k: r for k, r in self.refs.items() if r is not None}
        if not ok:
            return "-", None
        name = min(ok, key=lambda k: ok[k].seconds)
        return name, ok[name]


def table(rows: list[Row]) -> str:
    lines = ["| workload | data | vigil (s) | fastest reference | ref (s) | ratio | target | met? "
             "| peak RSS vigil / ref (MB) |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        name, ref = r.fastest_ref()
        v = r.vigil
        ratio = ref.seconds / v.seconds if v and ref and v.seconds > 0 else math.nan
        others = ", ".join(f"{k} {x.seconds:.2f}" for k, x in r.refs.items() if x is not None and k != name)
        refcell = name + (f" (others: {others})" if others else "")
        lines.append(
            f"| {r.workload} | {r.data} | {v.seconds:.2f} | {refcell} | "
            f"{ref.seconds:.2f} | {ratio:.2f}× | ≥ {r.target:g}× | {'yes' if ratio >= r.target else 'no'} | "
            f"{v.rss_mb:.0f} / {ref.rss_mb:.0f} |"
            if v and ref else
            f"| {r.workload} | {r.data} | {v.seconds if v else 'failed'} | {refcell} | "
            f"{ref.seconds if ref else 'failed'} | - | ≥ {r.target:g}× | no | - |")
    return "\n".join(lines)


def machine() -> str:
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "?"
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kb / 2**20:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    load = os.getloadavg() if hasattr(os, "getloadavg") else ("?",)
    return (f"{platform.system()} {platform.release()}, {os.cpu_count()} CPUs ({cpu}), {mem} RAM, "
            f"Python {platform.python_version()}; load average at the end {load[0]:.1f}")


def versions(python: str) -> str:
    code = ("import importlib.metadata as m\n"
            "print(', '.join(f'{p} {m.version(p)}' for p in ['vigil', 'polars', 'pyarrow', 'numpy', 'scikit-learn']))")
    p = subprocess.run([python, "-c", code], capture_output=True, text=True)
    return p.stdout.strip() or p.stderr.strip()[-200:]


# ----------------------------------------------------------------------------- checks

def _bytes_features(s: Optional[str]) -> Optional[dict]:
    """Plain-Python reference of vigil's string features (bytes; ratios of the byte length)."""
    if s is None:
        return None
    b = s.encode()
    n = len(b)
    counts: dict[int, int] = {}
    for x in b:
        counts[x] = counts.get(x, 0) + 1
    ent = -sum((c / n) * math.log2(c / n) for c in counts.values()) if n else 0.0
    cls = {"digit": 0, "lower": 0, "upper": 0, "dot": 0, "dash": 0, "punct": 0, "non_ascii": 0, "vowel": 0}
    run = best = 0
    hexonly = n > 0
    for x in b:
        ch = chr(x) if x < 128 else ""
        cls["digit"] += ch.isdigit()
        cls["lower"] += "a" <= ch <= "z" if ch else 0
        cls["upper"] += "A" <= ch <= "Z" if ch else 0
        cls["dot"] += ch == "."
        cls["dash"] += ch == "-"
        cls["punct"] += bool(ch) and ch not in ".-" and (33 <= x <= 47 or 58 <= x <= 64 or 91 <= x <= 96 or 123 <= x <= 126)
        cls["non_ascii"] += x >= 128
        vowel = bool(ch) and ch in "aeiouAEIOU"
        cls["vowel"] += vowel
        if ch and ch.isalpha() and not vowel:
            run += 1
            best = max(best, run)
        else:
            run = 0
        hexonly = hexonly and bool(ch) and ch in "0123456789abcdefABCDEF"
    out = {"len_bytes": n, "len_chars": len(s), "entropy": ent, "max_consonant_run": best, "is_hex": hexonly}
    out.update({f"{k}_ratio": (v / n if n else 0.0) for k, v in cls.items()})
    return out


def polars_bytes_features(df):
    """polars expressions computing vigil's definitions: byte lengths, ratios of the byte
    length, Shannon entropy of the bytes (through the hex encoding, two digits a byte)."""
    import polars as pl

    q = pl.col("query")
    n = q.str.len_bytes()

    def ratio(pattern: str, literal: bool = False) -> pl.Expr:
        c = q.str.count_matches(pattern, literal=literal)
        return pl.when(n == 0).then(0.0).otherwise(c / n)

    hexed = q.str.encode("hex").str.extract_all("..")
    return df.select(
        len_bytes=n, len_chars=q.str.len_chars(),
        entropy=pl.when(n == 0).then(0.0).otherwise(
            hexed.list.eval(pl.element().value_counts().struct.field("count").entropy(base=2)).list.first()),
        digit_ratio=ratio(r"[0-9]"), lower_ratio=ratio(r"[a-z]"), upper_ratio=ratio(r"[A-Z]"),
        dot_ratio=ratio(".", True), dash_ratio=ratio("-", True), punct_ratio=ratio(r"[!-,/:-@\[-`{-~]"),
        non_ascii_ratio=pl.when(n == 0).then(0.0).otherwise((n - q.str.count_matches(r"[\x00-\x7F]")) / n),
        vowel_ratio=ratio(r"[aeiouAEIOU]"),
        max_consonant_run=pl.when(q.is_not_null()).then(q.str.extract_all(r"[b-df-hj-np-tv-zB-DF-HJ-NP-TV-Z]+")
                                                     .list.eval(pl.element().str.len_bytes()).list.max().fill_null(0)),
        is_hex=q.str.contains(r"^[0-9a-fA-F]+$"),
    )


FEATURES = ["len_bytes", "len_chars", "entropy", "digit_ratio", "lower_ratio", "upper_ratio", "dot_ratio",
            "dash_ratio", "punct_ratio", "non_ascii_ratio", "vowel_ratio", "max_consonant_run", "is_hex"]


def check_strings(path: Path, label: str, python_ref: bool) -> list[str]:
    """Every string feature of vigil.extract against polars (and, when `python_ref`, plain Python)."""
    import polars as pl
    import vigil

    df = pl.read_parquet(path, columns=["query"]).head(200_000)
    ours = vigil.extract(df, [vigil.length("query"), vigil.entropy("query"), vigil.char_classes("query")],
                         backend="cpu")
    refs = {"polars": polars_bytes_features(df)}
    if python_ref:
        rows = [_bytes_features(s) for s in df["query"].to_list()]
        refs["python"] = pl.DataFrame({k: [None if r is None else r[k] for r in rows] for k in FEATURES},
                                      schema={k: (pl.Boolean if k == "is_hex" else pl.Float64) for k in FEATURES})
    failures = []
    for name, ref in refs.items():
        for f in FEATURES:
            x = ref[f].cast(pl.Float64)
            y = ours[f"query_{f}"].cast(pl.Float64)
            both_null = x.is_null() & y.is_null()
            tol = 1e-5 if f in ("entropy",) or f.endswith("_ratio") else 0.0
            bad = int((~both_null & ((x - y).abs().fill_null(1.0) > tol)).sum())
            if bad:
                failures.append(f"{label}: {f} differs from {name} on {bad} of {len(x)} rows")
    print(f"check strings ({label}, {len(df)} rows, vs {' + '.join(refs)}): "
          f"{'ok' if not failures else '; '.join(failures)}", flush=True)
    return failures


def check_windows(path: Path) -> list[str]:
    """vigil's per-event count / distinct ports / sum per src_ip per minute against polars."""
    import polars as pl
    import vigil

    df = pl.read_parquet(path)
    feats = [vigil.count(by="src_ip", every="1m"), vigil.distinct_count("dst_port", by="src_ip", every="1m"),
             vigil.sum("bytes", by="src_ip", every="1m")]
    ours = vigil.extract(df, feats, backend="cpu")
    w = ["src_ip", pl.col("ts").dt.truncate("1m")]
    ref = df.select(n=pl.len().over(w), ports=pl.col("dst_port").n_unique().over(w),
                    total=pl.col("bytes").sum().over(w))
    new = [c for c in ours.columns if c not in df.columns]
    failures = []
    if ours.height != df.height:
        failures.append(f"{path.name}: {ours.height} rows out of {df.height}")
    for col, theirs in zip(new, ["n", "ports", "total"]):
        bad = int((ours[col].cast(pl.Float64) != ref[theirs].cast(pl.Float64)).fill_null(True).sum())
        if bad:
            failures.append(f"{path.name}: {col} differs from polars {theirs} on {bad} rows")
    if len(new) != 3:
        failures.append(f"{path.name}: expected 3 window columns, got {new}")
    print(f"check windows ({path.name}, {df.height} rows, columns {new}): "
          f"{'ok' if not failures else '; '.join(failures)}", flush=True)
    return failures


def check_iforest() -> list[str]:
    """vigil's and scikit-learn's forests on 20,000 x 16 normal rows with 200 planted outliers:
    both rank the outliers high (ROC-AUC >= 0.95) and their scores agree in rank (Spearman
    >= 0.8)."""
    import numpy as np
    import polars as pl
    from scipy.stats import spearmanr
    from sklearn.ensemble import IsolationForest as SkForest
    from sklearn.metrics import roc_auc_score
    import vigil

    r = np.random.default_rng(4)
    X = r.normal(size=(20_000, 16)).astype("float32")
    y = np.zeros(len(X), bool)
    y[:200] = True
    X[:200] += r.choice([-6.0, 6.0], size=(200, 16)) * (r.random((200, 16)) < 0.25)
    sk = -SkForest(n_estimators=100, random_state=0).fit(X).score_samples(X)
    df = pl.DataFrame(X, schema=[f"f{i}" for i in range(16)])
    ours = vigil.IsolationForest().fit(df).decision_function(df)
    auc_v, auc_s = roc_auc_score(y, ours), roc_auc_score(y, sk)
    rho = spearmanr(ours, sk).statistic
    failures = []
    if auc_v < 0.95 or auc_s < 0.95:
        failures.append(f"iforest ROC-AUC vigil {auc_v:.3f}, scikit-learn {auc_s:.3f} (want >= 0.95)")
    if rho < 0.8:
        failures.append(f"iforest Spearman rank correlation with scikit-learn {rho:.3f} (want >= 0.8)")
    print(f"check iforest: ROC-AUC vigil {auc_v:.3f} / scikit-learn {auc_s:.3f}, Spearman {rho:.3f}: "
          f"{'ok' if not failures else '; '.join(failures)}", flush=True)
    return failures


# ----------------------------------------------------------------------------- main

def sizes(text: str) -> list[int]:
    return [int(float(x)) for x in text.split(",") if x]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "bench",
                    help="directory of the shared generators and workload scripts (default ../shared/bench)")
    ap.add_argument("--data-dir", type=Path, default=ROOT / "target" / "bench-data" / "run_all",
                    help="where generated files go (kept between runs; default target/bench-data/run_all)")
    ap.add_argument("--python", default=sys.executable, help="interpreter with vigil, polars, pyarrow, numpy, "
                    "scikit-learn installed (default: this one)")
    ap.add_argument("--domains", type=sizes, default=[10_000_000], help="domain table sizes (default 10000000)")
    ap.add_argument("--flows", type=sizes, default=[2_000_000, 10_000_000], help="flow table sizes (default 2M,10M)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per command, the best is kept (default 3)")
    ap.add_argument("--quick", action="store_true", help="small sizes (100k domains, 100k flows), one run each")
    ap.add_argument("--no-skewed", action="store_true", help="skip the skewed flow tables")
    ap.add_argument("--only", default="strings,windows,iforest", help="workload families to run (default all)")
    ap.add_argument("--no-check", action="store_true", help="skip the agreement checks")
    args = ap.parse_args()
    if args.quick:
        args.domains, args.flows, args.repeat = [100_000], [100_000], 1
    only = set(args.only.split(","))
    # Generate only what the chosen families read (`--only iforest` needs no files).
    if "strings" not in only:
        args.domains = []
    if "windows" not in only:
        args.flows = []
    shared = args.shared.resolve()
    if not (shared / "gen_domains.py").exists():
        print(f"no gen_domains.py in {shared}: pass --shared DIR", file=sys.stderr)
        return 2
    if not shutil.which("/usr/bin/time"):
        print("needs /usr/bin/time (Debian package `time`)", file=sys.stderr)
        return 2
    started = _dt.datetime.now(_dt.timezone.utc)
    files = generate(shared, args.python, args.data_dir, args)
    env = dict(os.environ, VIGIL_BACKEND="cpu")
    py = args.python
    # vigil's modules as bytecode, as `pip install` of a wheel leaves them: an editable install
    # under PYTHONDONTWRITEBYTECODE=1 would compile them again in every timed process (~0.02 s
    # of the vigil and floor runs), which the references' installed packages never do.
    subprocess.run([py, "-c", "import compileall, os, vigil; "
                    "compileall.compile_dir(os.path.dirname(vigil.__file__), quiet=1)"], env=env, check=False)
    rows: list[Row] = []
    failures: list[str] = []
    notes: list[str] = []

    def run(row: Row, vigil_cmd: list[str], refs: dict) -> None:
        print(f"timing {row.workload} on {row.data} ...", flush=True)
        row.vigil = timed([py, *vigil_cmd], args.repeat, env)
        for name, cmd in refs.items():
            row.refs[name] = timed([py, *cmd], args.repeat, env)
        rows.append(row)

    s = str(shared)
    if "strings" in only:
        for n in args.domains:
            p = str(files[f"domains_{n}"])
            run(Row("length + entropy + char classes, then RobustZ score (top 3)", f"{n:,} domains", 20),
                [f"{s}/vigil_string_features.py", p],
                {"polars native": [f"{s}/polars_string_features.py", p],
                 "polars --udf": [f"{s}/polars_string_features.py", p, "--udf"]})
            if not args.no_check:
                failures += check_strings(files[f"domains_{n}"], f"domains_{n}", python_ref=False)
        if not args.no_check:
            failures += check_strings(files["mixed_names"], "mixed-case non-ASCII names", python_ref=True)
    if "windows" in only:
        for n in args.flows:
            for shape in ["uniform"] + ([] if args.no_skewed else ["skewed"]):
                key = f"flows_{n}" if shape == "uniform" else f"flows_skewed_{n}"
                p = str(files[key])
                run(Row("per-event count / distinct ports / sum bytes per src_ip per 1-min window",
                        f"{n:,} flows, {shape}", 2),
                    [f"{s}/vigil_windows.py", p],
                    {"polars group_by + truncate + join": [f"{s}/polars_windows.py", p],
                     "polars over": [f"{s}/polars_windows.py", p, "--over"]})
                if not args.no_check:
                    failures += check_windows(files[key])
    if "iforest" in only:
        run(Row("isolation forest 1M x 16, 100 trees, fit + score", "1M x 16 normal (generated inside)", 10),
            [f"{s}/iforest_bench.py", "vigil"],
            {"scikit-learn n_jobs=1": [f"{s}/iforest_bench.py", "sklearn"]})
        # scikit-learn with every core: the shared script has no switch for it, so the same
        # script runs with IsolationForest bound to n_jobs=-1.
        wrapper = ("import functools, runpy, sys, sklearn.ensemble as e\n"
                   "e.IsolationForest = functools.partial(e.IsolationForest, n_jobs=-1)\n"
                   f"sys.argv = [{s + '/iforest_bench.py'!r}, 'sklearn']\n"
                   "runpy.run_path(sys.argv[0], run_name='__main__')\n")
        rows[-1].refs["scikit-learn n_jobs=-1"] = timed([py, "-c", wrapper], args.repeat, env)
        # The floor: the same process without the fit and the score (data, polars, imports).
        floor = timed([py, str(ROOT / "benches" / "iforest_floor.py")], args.repeat, env)
        if floor is not None:
            _, ref = rows[-1].fastest_ref()
            best = f"; no library can beat {ref.seconds / floor.seconds:.1f}x the fastest reference here" if ref else ""
            notes.append(f"Isolation-forest floor (`benches/iforest_floor.py`: numpy data + polars frame + "
                         f"`import vigil`, no fit, no score): {floor.seconds:.2f} s, peak RSS {floor.rss_mb:.0f} MB"
                         f"{best}; vigil's own work above it: "
                         f"{(rows[-1].vigil.seconds - floor.seconds) if rows[-1].vigil else math.nan:.2f} s.  ")
        if not args.no_check:
            failures += check_iforest()

    print()
    print(f"vigil performance, whole processes (`/usr/bin/time -v`, best of {args.repeat}; "
          f"peak RSS = the largest seen), `VIGIL_BACKEND=cpu`")
    print()
    print(table(rows))
    print()
    for note in notes:
        print(note)
    cpu = [f"{r.workload.split(',')[0]} ({r.data}): vigil {r.vigil.cpu:.2f} s"
           + "".join(f", {k} {v.cpu:.2f} s" for k, v in r.refs.items() if v is not None)
           for r in rows if r.vigil is not None]
    if cpu:
        print("CPU time (user + sys) of the fastest run: " + "; ".join(cpu) + ".  ")
    print(f"Machine: {machine()}.  ")
    print(f"Versions: {versions(py)}.  ")
    print(f"Date: {started:%Y-%m-%d %H:%M} UTC; command: `python benches/run_all.py {' '.join(sys.argv[1:])}`.")
    print(f"Checks: {'skipped' if args.no_check else ('all agree' if not failures else 'FAILED: ' + '; '.join(failures))}.")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
