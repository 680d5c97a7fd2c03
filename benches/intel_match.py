"""Bulk threat-intel matching: N indicators (IPv4 addresses, CIDRs of mixed lengths, domains
exact and with subdomains, SHA-256 hashes) x M events (Parquet: dst_ip, query, sha256),
whole process, vigil (Python API, CPU path) side by side with the best polars formulation
(exact joins on normalised keys; CIDR by one join per prefix length on the masked address,
longest prefix kept; domain suffixes by one join per label-suffix depth) and, when the
`duckdb` package is installed, the same joins in DuckDB SQL (DuckDB's `inet` extension is
downloaded from DuckDB's own server at run time, not from PyPI, so it is not used here).

Each side runs in a fresh interpreter (`python -c`), so import and read times count; the
figure is the wall time of that process from its start to its result (the --check files
are written after it, and not timed). Both sides must find the same (row, column, indicator)
set: --check compares them.

    python benches/intel_match.py --indicators 1000000 --events 10000000 [--check] [--duckdb]

Run under `flock /work/bench.lock` on shared machines.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import polars as pl

HERE = os.path.dirname(os.path.abspath(__file__))


def make_data(n_ind: int, n_ev: int, out: str, seed: int = 7) -> tuple[str, str]:
    os.makedirs(out, exist_ok=True)
    ind_path = os.path.join(out, f"indicators_{n_ind}.csv")
    ev_path = os.path.join(out, f"events_{n_ev}_{n_ind}.parquet")
    if os.path.exists(ind_path) and os.path.exists(ev_path):
        return ind_path, ev_path
    rng = np.random.default_rng(seed)
    n_ip, n_cidr, n_dom, n_suf = int(n_ind * 0.4), int(n_ind * 0.1), int(n_ind * 0.15), int(n_ind * 0.15)
    n_hash = n_ind - n_ip - n_cidr - n_dom - n_suf

    def dotted(a: np.ndarray) -> pl.Series:
        a = a.astype(np.uint32)
        parts = [pl.Series(((a >> sh) & 255).astype(np.uint32)).cast(pl.Utf8) for sh in (24, 16, 8, 0)]
        return pl.select(pl.concat_str(parts, separator=".")).to_series()

    ip_int = rng.integers(0, 2**32, n_ip, dtype=np.uint64)
    lens = rng.choice([8, 12, 16, 20, 22, 24, 26, 28, 30], n_cidr, p=[.01, .03, .12, .14, .15, .3, .1, .1, .05])
    net_int = rng.integers(0, 2**32, n_cidr, dtype=np.uint64)
    net_int = net_int & ((0xFFFFFFFF << (32 - lens)) & 0xFFFFFFFF).astype(np.uint64)
    words = np.array([f"w{i}" for i in range(50_000)])
    tlds = np.array(["com", "net", "org", "io", "info", "ru", "cn"])

    def names(n: int, labels: int) -> np.ndarray:
        parts = [words[rng.integers(0, len(words), n)] for _ in range(labels)]
        out_ = parts[0]
        for p in parts[1:]:
            out_ = np.char.add(np.char.add(out_, "."), p)
        return np.char.add(np.char.add(out_, "."), tlds[rng.integers(0, len(tlds), n)])

    dom = names(n_dom, 2)
    suf = names(n_suf, 1)
    hashes = np.array([rng.bytes(32).hex() for _ in range(n_hash)])
    ind = pl.concat([
        pl.DataFrame({"value": dotted(ip_int), "kind": "ip"}),
        pl.DataFrame({"value": dotted(net_int) + "/" + pl.Series(lens.astype(str)), "kind": "cidr"}),
        pl.DataFrame({"value": pl.Series(dom), "kind": "domain"}),
        pl.DataFrame({"value": pl.Series(suf), "kind": "domain_suffix"}),
        pl.DataFrame({"value": pl.Series(hashes), "kind": "sha256"}),
    ]).with_row_index("id").select("value", "kind", pl.format("i{}", "id").alias("id"))
    ind.write_csv(ind_path)

    # Events: ~2% exact IP hits, ~5% inside some network, domains 2% exact / 3% under a
    # suffix, hashes 1% known; the rest random. Some upper case and trailing dots.
    hit = rng.random(n_ev)
    ev_ip = rng.integers(0, 2**32, n_ev, dtype=np.uint64)
    pick = hit < 0.02
    ev_ip[pick] = ip_int[rng.integers(0, n_ip, pick.sum())]
    pick = (hit >= 0.02) & (hit < 0.07)
    k = rng.integers(0, n_cidr, pick.sum())
    ev_ip[pick] = net_int[k] + rng.integers(0, 2**(32 - lens[k].astype(np.int64)))
    pool = pl.Series(names(200_000, 2))
    dom_s, suf_s = pl.Series(dom), pl.Series(suf)
    qa = pool.gather(rng.integers(0, len(pool), n_ev))
    qb = dom_s.gather(rng.integers(0, n_dom, n_ev))
    qc = "www." + suf_s.gather(rng.integers(0, n_suf, n_ev))
    upper = pl.Series(rng.random(n_ev) < 0.05)
    hits = pl.Series(hit)
    q = pl.select(
        pl.when(hits < 0.02).then(qb).when(hits < 0.05).then(qc).otherwise(qa).alias("q")
    ).to_series()
    q = pl.select(pl.when(upper).then(q.str.to_uppercase()).otherwise(q)).to_series()
    hpool = pl.Series([rng.bytes(32).hex() for _ in range(100_000)])
    hash_s = pl.Series(hashes)
    hv = pl.select(
        pl.when(hits < 0.01).then(hash_s.gather(rng.integers(0, n_hash, n_ev)))
        .otherwise(hpool.gather(rng.integers(0, len(hpool), n_ev)))
    ).to_series()
    del qa, qb, qc
    ts = np.datetime64("2024-01-01T00:00:00") + np.sort(rng.integers(0, 86_400_000_000, n_ev)).astype("timedelta64[us]")
    ev = pl.DataFrame({"ts": ts, "dst_ip": dotted(ev_ip), "query": q, "sha256": hv})
    ev.write_parquet(ev_path)
    return ind_path, ev_path


MEMORY = """
import sys, time, resource, vigil
t0 = time.perf_counter()
intel = vigil.Intel.load(sys.argv[1])
t1 = time.perf_counter()
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"RESULT indicators={len(intel)} load={t1-t0:.2f} table_est={intel.memory_bytes()/2**20:.0f}MiB peak_rss={rss:.0f}MiB")
"""

VIGIL = """
import sys, time, polars as pl, vigil
t0 = time.perf_counter()
intel = vigil.Intel.load(sys.argv[1])
t1 = time.perf_counter()
ev = pl.read_parquet(sys.argv[2])
t2 = time.perf_counter()
m = intel.match(ev, {"dst_ip": "ip", "query": "domain", "sha256": "hash"})
t3 = time.perf_counter()
import resource
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"RESULT rows={m.height} load={t1-t0:.2f} read={t2-t1:.2f} match={t3-t2:.2f} table_est={intel.memory_bytes()/2**20:.0f}MiB peak_rss={rss:.0f}MiB")
if len(sys.argv) > 3:
    # `column` is a Categorical (dictionary-encoded): compared as text.
    m.select("row", pl.col("column").cast(pl.String), "indicator_id").write_parquet(sys.argv[3])
"""

POLARS = """
import sys, time, polars as pl
t0 = time.perf_counter()
ind = pl.read_csv(sys.argv[1])
ev = pl.read_parquet(sys.argv[2]).with_row_index("row")
t1 = time.perf_counter()
out = []
# IPs and CIDRs: address as u32, one join per prefix length on the masked address, longest wins.
def to_u32(col):
    p = col.str.split(".")
    ok = p.list.len() == 4
    parts = [p.list.get(i, null_on_oob=True).cast(pl.UInt32, strict=False) for i in range(4)]
    v = (parts[0] * 16777216 + parts[1] * 65536 + parts[2] * 256 + parts[3]).cast(pl.UInt32)
    return pl.when(ok & pl.all_horizontal([x <= 255 for x in parts])).then(v)
nets = ind.filter(pl.col("kind").is_in(["ip", "cidr"])).with_columns(
    pl.col("value").str.split("/").list.first().alias("a"),
    pl.col("value").str.split("/").list.get(1, null_on_oob=True).cast(pl.UInt8).fill_null(32).alias("len"),
).with_columns(to_u32(pl.col("a")).alias("net"))
evip = ev.select("row", to_u32(pl.col("dst_ip").str.strip_chars()).alias("ip")).drop_nulls()
parts = []
for L in sorted(nets["len"].unique().to_list(), reverse=True):
    mask = (0xFFFFFFFF << (32 - L)) & 0xFFFFFFFF if L else 0
    n = nets.filter(pl.col("len") == L).select("net", "id", pl.lit(L, pl.UInt8).alias("len"))
    j = evip.with_columns((pl.col("ip") & mask).cast(pl.UInt32).alias("net")).join(n, on="net")
    parts.append(j.select("row", "id", "len"))
ipm = pl.concat(parts)
ipm = ipm.filter(pl.col("len") == pl.col("len").max().over("row")).select("row", pl.lit("dst_ip").alias("column"), "id")
out.append(ipm)
# Domains: normalised name; exact join, and one join per label-suffix depth.
q = ev.select("row", pl.col("query").str.strip_chars().str.strip_chars_end(".").str.to_lowercase().alias("q")).drop_nulls()
dom = ind.filter(pl.col("kind") == "domain").select(pl.col("value").str.to_lowercase().alias("q"), "id")
out.append(q.join(dom, on="q").select("row", pl.lit("query").alias("column"), "id"))
suf = ind.filter(pl.col("kind") == "domain_suffix").select(pl.col("value").str.to_lowercase().alias("s"), "id")
labels = q.with_columns(pl.col("q").str.split(".").alias("l"))
depth = labels["l"].list.len().max() or 0
for k in range(1, depth + 1):
    s = labels.filter(pl.col("l").list.len() >= k).select("row", pl.col("l").list.slice(-k).list.join(".").alias("s"))
    out.append(s.join(suf, on="s").select("row", pl.lit("query").alias("column"), "id"))
# Hashes.
h = ind.filter(pl.col("kind").is_in(["md5", "sha1", "sha256"])).select(pl.col("value").str.to_lowercase().alias("h"), "id")
out.append(ev.select("row", pl.col("sha256").str.strip_chars().str.to_lowercase().alias("h")).join(h, on="h").select("row", pl.lit("sha256").alias("column"), "id"))
m = pl.concat(out)
t2 = time.perf_counter()
import resource
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"RESULT rows={m.height} read={t1-t0:.2f} match={t2-t1:.2f} peak_rss={rss:.0f}MiB")
if len(sys.argv) > 3:
    m.rename({"id": "indicator_id"}).with_columns(pl.col("row").cast(pl.UInt64)).write_parquet(sys.argv[3])
"""

DUCKDB = """
import sys, time, duckdb
t0 = time.perf_counter()
con = duckdb.connect()
con.execute("set enable_progress_bar = false")
con.execute(f"create table ind as select * from read_csv('{sys.argv[1]}')")
con.execute(f"create table ev as select row_number() over () - 1 as row, * from read_parquet('{sys.argv[2]}')")
t1 = time.perf_counter()
con.execute('''
create table evip as select row, (p[1]::uinteger*16777216 + p[2]::uinteger*65536 + p[3]::uinteger*256 + p[4]::uinteger) as ip
  from (select row, string_split(dst_ip, '.') as p from ev) where len(p) = 4;
create table nets as select id, coalesce(try_cast(split_part(value, '/', 2) as integer), 32) as len,
  (s[1]::uinteger*16777216 + s[2]::uinteger*65536 + s[3]::uinteger*256 + s[4]::uinteger) as net
  from (select id, value, string_split(split_part(value, '/', 1), '.') as s from ind where kind in ('ip','cidr'));
''')
lens = [r[0] for r in con.execute("select distinct len from nets order by len desc").fetchall()]
parts = []
for L in lens:
    mask = (0xFFFFFFFF << (32 - L)) & 0xFFFFFFFF if L else 0
    parts.append(f"select e.row, n.id, {L} as len from evip e join nets n on n.len = {L} and n.net = (e.ip & {mask}::uinteger)")
con.execute("create table ipm as " + " union all ".join(parts))
n = con.execute('''
with q as (select row, lower(rtrim(trim(query), '.')) as q from ev),
ipbest as (select row, id from (select row, id, len, max(len) over (partition by row) as m from ipm) where len = m),
dom as (select q.row, i.id from q join ind i on i.kind = 'domain' and lower(i.value) = q.q),
lab as (select row, string_split(q, '.') as l from q),
sfx as (select row, array_to_string(l[k:], '.') as s from lab, range(1, len(l) + 1) t(k)),
suf as (select sfx.row, i.id from sfx join ind i on i.kind = 'domain_suffix' and lower(i.value) = sfx.s),
hh as (select e.row, i.id from ev e join ind i on i.kind = 'sha256' and lower(i.value) = lower(trim(e.sha256)))
select (select count(*) from ipbest) + (select count(*) from dom) + (select count(*) from suf) + (select count(*) from hh)
''').fetchone()[0]
t2 = time.perf_counter()
import resource
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"RESULT rows={n} read={t1-t0:.2f} match={t2-t1:.2f} peak_rss={rss:.0f}MiB")
"""


def run(code: str, *args: str, python: str = sys.executable) -> tuple[float, str, float]:
    """Runs one side in a fresh interpreter. Returns the wall time from its start to its
    RESULT line (interpreter start, imports, reads, load and matching: the whole process but
    the --check file it writes after), its RESULT line, and the wall time to its exit."""
    with tempfile.TemporaryFile("w+") as err:
        t = time.perf_counter()
        # -u: the RESULT line arrives when printed, not when the process exits.
        p = subprocess.Popen([python, "-u", "-c", code, *args], stdout=subprocess.PIPE,
                             stderr=err, text=True)
        line, at = "", float("nan")
        assert p.stdout is not None
        for out in p.stdout:
            if out.startswith("RESULT"):
                line, at = out.strip(), time.perf_counter() - t
        if p.wait() != 0 or not line:
            err.seek(0)
            raise SystemExit(err.read()[-3000:])
        return at, line, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--indicators", type=int, default=1_000_000)
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--data", default=os.path.join(HERE, "..", "target", "bench-data"))
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--duckdb", action="store_true")
    ap.add_argument("--memory", type=int, default=0, help="only load N indicators, report memory")
    ap.add_argument("--out", default=None,
                    help="folder for the --check match files (default: --data); lets --data be read-only")
    ap.add_argument("--ref-python", default=sys.executable,
                    help="interpreter of the polars and DuckDB sides (one with duckdb installed)")
    ap.add_argument("--sides", default="vigil,polars",
                    help="comma-separated sides to run: vigil, polars (--duckdb adds duckdb)")
    a = ap.parse_args()
    if a.memory:
        ind, _ = make_data(a.memory, 1000, a.data)
        wall, line, _ = run(MEMORY, ind)
        print(f"vigil load of {a.memory} indicators: whole process {wall:.2f}s  {line}")
        return
    t = time.perf_counter()
    ind, ev = make_data(a.indicators, a.events, a.data)
    print(f"data ready in {time.perf_counter() - t:.1f}s: {ind}, {ev}")
    os.environ.setdefault("VIGIL_BACKEND", "cpu")
    out = a.out or a.data
    os.makedirs(out, exist_ok=True)
    sides = set(a.sides.split(","))
    vo = os.path.join(out, "vigil_matches.parquet") if a.check else None
    po = os.path.join(out, "polars_matches.parquet") if a.check else None
    wall = wall_p = wall_d = float("nan")
    if "vigil" in sides:
        wall, line, ex = run(VIGIL, ind, ev, *([vo] if vo else []))
        print(f"vigil  whole process {wall:6.2f}s (exit {ex:6.2f}s)  {line}")
    if "polars" in sides:
        wall_p, line_p, ex = run(POLARS, ind, ev, *([po] if po else []), python=a.ref_python)
        print(f"polars whole process {wall_p:6.2f}s (exit {ex:6.2f}s)  {line_p}")
    if a.duckdb:
        wall_d, line_d, ex = run(DUCKDB, ind, ev, python=a.ref_python)
        print(f"duckdb whole process {wall_d:6.2f}s (exit {ex:6.2f}s)  {line_d}")
    if a.check and {"vigil", "polars"} <= sides:
        v = pl.read_parquet(vo).select("row", "column", "indicator_id").sort(pl.all())
        p = pl.read_parquet(po).select("row", "column", "indicator_id").sort(pl.all())
        print("same matches:", v.equals(p), v.height, p.height)
    print(f"speed-up vs polars: {wall_p / wall:.2f}x")
    if a.duckdb:
        print(f"speed-up vs the best reference: {min(wall_p, wall_d) / wall:.2f}x")


if __name__ == "__main__":
    main()
