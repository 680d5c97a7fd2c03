"""Length + entropy + character classes of a Parquet `query` column in polars, the way a data
scientist would write them: (1) the best native expressions, (2) a Python `map_elements`
function. Times each end to end (read Parquet + compute), best of --repeat runs, and, with
--vigil, vigil's Python API (CPU backend) on the same file, in the same process. With
--check it also compares polars' values with vigil's on the first 200,000 rows (an
independent reference for vigil's kernels).

    python benches/polars_features.py target/bench-data/dns_10000000.parquet --vigil --check
"""

from __future__ import annotations

import argparse
import json
import math
import time

import polars as pl

CONSONANTS = r"[b-df-hj-np-tv-zB-DF-HJ-NP-TV-Z]+"
PUNCT_OTHER = r"[!-,/:-@\[-`{-~]"  # ASCII punctuation except '.' and '-'


def native(path: str) -> pl.DataFrame:
    df = pl.read_parquet(path)
    q = pl.col("query")
    n = q.str.len_bytes()

    def ratio(pattern: str, name: str, literal: bool = False) -> pl.Expr:
        c = q.str.count_matches(pattern, literal=literal)
        return pl.when(n == 0).then(0.0).otherwise(c / n).cast(pl.Float32).alias(name)

    return df.with_columns(
        n.alias("len_bytes"),
        q.str.len_chars().alias("len_chars"),
        q.str.split("").list.eval(pl.element().unique_counts().entropy(base=2)).list.first().alias("entropy"),
        ratio(r"[0-9]", "digit_ratio"),
        ratio(r"[a-z]", "lower_ratio"),
        ratio(r"[A-Z]", "upper_ratio"),
        ratio(".", "dot_ratio", literal=True),
        ratio("-", "dash_ratio", literal=True),
        ratio(PUNCT_OTHER, "punct_ratio"),
        pl.when(n == 0).then(0.0).otherwise((n - q.str.count_matches(r"[\x00-\x7F]")) / n).cast(pl.Float32).alias("non_ascii_ratio"),
        ratio(r"[aeiouAEIOU]", "vowel_ratio"),
        q.str.extract_all(CONSONANTS).list.eval(pl.element().str.len_bytes()).list.max().fill_null(0).alias("max_consonant_run"),
        q.str.contains(r"^[0-9a-fA-F]+$").alias("is_hex"),
    )


def _features(s: str) -> dict:
    b = s.encode()
    n = len(b)
    counts: dict[int, int] = {}
    for x in b:
        counts[x] = counts.get(x, 0) + 1
    ent = -sum((c / n) * math.log2(c / n) for c in counts.values()) if n else 0.0
    digit = lower = upper = dot = dash = punct = non_ascii = vowel = 0
    run = best = 0
    hexonly = n > 0
    for x in b:
        ch = chr(x)
        digit += ch.isdigit() and x < 128
        lower += "a" <= ch <= "z"
        upper += "A" <= ch <= "Z"
        dot += ch == "."
        dash += ch == "-"
        punct += x < 128 and ch not in ".-" and (33 <= x <= 47 or 58 <= x <= 64 or 91 <= x <= 96 or 123 <= x <= 126)
        non_ascii += x >= 128
        v = ch in "aeiouAEIOU"
        vowel += v
        if ch.isascii() and ch.isalpha() and not v:
            run += 1
            best = max(best, run)
        else:
            run = 0
        hexonly = hexonly and ch in "0123456789abcdefABCDEF"
    r = (lambda c: c / n) if n else (lambda c: 0.0)
    return {
        "len_bytes": n, "len_chars": len(s), "entropy": ent, "digit_ratio": r(digit), "lower_ratio": r(lower),
        "upper_ratio": r(upper), "dot_ratio": r(dot), "dash_ratio": r(dash), "punct_ratio": r(punct),
        "non_ascii_ratio": r(non_ascii), "vowel_ratio": r(vowel), "max_consonant_run": best, "is_hex": hexonly,
    }


def python_udf(path: str) -> pl.DataFrame:
    df = pl.read_parquet(path)
    return df.with_columns(pl.col("query").map_elements(_features, return_dtype=pl.Struct({
        "len_bytes": pl.UInt32, "len_chars": pl.UInt32, "entropy": pl.Float64, "digit_ratio": pl.Float64,
        "lower_ratio": pl.Float64, "upper_ratio": pl.Float64, "dot_ratio": pl.Float64, "dash_ratio": pl.Float64,
        "punct_ratio": pl.Float64, "non_ascii_ratio": pl.Float64, "vowel_ratio": pl.Float64,
        "max_consonant_run": pl.UInt32, "is_hex": pl.Boolean})).alias("f")).unnest("f")


def vigil_cpu(path: str):
    import pyarrow.parquet as pq
    import vigil

    table = pq.read_table(path)
    return vigil.extract(table, [vigil.length("query"), vigil.entropy("query"), vigil.char_classes("query")], backend="cpu")


def timed(fn, path: str, repeat: int) -> tuple[float, object]:
    best, out = math.inf, None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn(path)
        best = min(best, time.perf_counter() - t)
    return best, out


def check(path: str) -> None:
    import vigil

    df = pl.read_parquet(path).head(200_000)
    ref = native_frame(df)
    ours = vigil.extract(df, [vigil.length("query"), vigil.entropy("query"), vigil.char_classes("query")], backend="cpu")
    pairs = {"len_bytes": "query_len_bytes", "len_chars": "query_len_chars", "entropy": "query_entropy",
             "digit_ratio": "query_digit_ratio", "lower_ratio": "query_lower_ratio", "dot_ratio": "query_dot_ratio",
             "dash_ratio": "query_dash_ratio", "punct_ratio": "query_punct_ratio", "vowel_ratio": "query_vowel_ratio",
             "max_consonant_run": "query_max_consonant_run", "is_hex": "query_is_hex"}
    for a, b in pairs.items():
        x, y = ref[a], ours[b]
        if x.dtype.is_float() or y.dtype.is_float():
            bad = ((x.cast(pl.Float64) - y.cast(pl.Float64)).abs() > 1e-5).sum()
        else:
            bad = (x.cast(pl.Int64) != y.cast(pl.Int64)).sum()
        print(f"check {a:>18}: {bad} of {len(x)} rows differ")
        assert bad == 0, a


def native_frame(df: pl.DataFrame) -> pl.DataFrame:
    import tempfile, os

    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "x.parquet")
        df.write_parquet(p)
        return native(p)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("parquet")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip-udf", action="store_true", help="skip the slow map_elements version")
    ap.add_argument("--vigil", action="store_true", help="also time vigil's Python API (CPU) on the file")
    ap.add_argument("--check", action="store_true", help="compare polars' values with vigil's on 200k rows")
    args = ap.parse_args()
    if args.check:
        check(args.parquet)
    results = {"polars": pl.__version__, "threads": pl.thread_pool_size()}
    t, out = timed(native, args.parquet, args.repeat)
    results["rows"] = out.height
    results["polars_native_s"] = round(t, 3)
    print(f"polars native expressions: {t:.3f} s")
    if not args.skip_udf:
        t, _ = timed(python_udf, args.parquet, 1)
        results["polars_map_elements_s"] = round(t, 3)
        print(f"polars map_elements:       {t:.3f} s")
    if args.vigil:
        t, _ = timed(vigil_cpu, args.parquet, args.repeat)
        results["vigil_python_cpu_s"] = round(t, 3)
        print(f"vigil (Python, CPU):       {t:.3f} s")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
