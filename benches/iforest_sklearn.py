"""scikit-learn's IsolationForest.score_samples on the file `cargo bench --bench detectors`
writes (1M rows x 16 features), with the same settings: 100 trees of 256 samples, fitted on
the first 100,000 rows. Prints the best and all wall times of `score_samples` (and of
vigil's Python API on the same arrays with --vigil), so the figures sit beside criterion's.

    python benches/iforest_sklearn.py target/bench-data/iforest_1000000x16.parquet [--vigil] [--repeat 3]
"""

import argparse
import time

import numpy as np
import pyarrow.parquet as pq


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("path")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--vigil", action="store_true", help="also time vigil.IsolationForest.score_samples")
    ap.add_argument("--n-jobs", type=int, default=None, help="scikit-learn n_jobs (default: its default, 1)")
    args = ap.parse_args()

    table = pq.read_table(args.path)
    x = np.column_stack([table.column(i).to_numpy() for i in range(table.num_columns)]).astype(np.float32)
    print(f"{x.shape[0]:,} rows x {x.shape[1]} features")

    from sklearn import __version__ as skv
    from sklearn.ensemble import IsolationForest

    forest = IsolationForest(n_estimators=100, max_samples=256, random_state=0, n_jobs=args.n_jobs).fit(x[:100_000])
    def timed(label, fn):
        wall, cpu = [], []
        for _ in range(args.repeat):
            t, c = time.perf_counter(), time.process_time()
            fn()
            wall.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
        print(f"{label}: best wall {min(wall):.3f} s (runs {[round(v, 3) for v in wall]}), "
              f"CPU time {min(cpu):.3f} s")

    timed(f"scikit-learn {skv} score_samples", lambda: forest.score_samples(x))

    if args.vigil:
        import vigil

        det = vigil.IsolationForest(n_trees=100, max_samples=256, seed=0).fit(table.slice(0, 100_000), backend="cpu")
        det.backend = "cpu"
        timed("vigil (Python API, CPU path) score_samples", lambda: det.score_samples(table))
        timed("vigil (Python API, CPU path) explain (scores + explanations)", lambda: det.explain(table))


if __name__ == "__main__":
    main()
