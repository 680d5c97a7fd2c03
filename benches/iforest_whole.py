"""Isolation forest, whole process, through Python: vigil (polars, pyarrow or numpy input,
CPU backend) beside scikit-learn (n_jobs=1 and n_jobs=-1), each run as its own process (the
interpreter, imports, making the data, the input conversion, fit on 256-row subsamples with
100 trees, and scoring every row all count). Prints best-of-N wall time and peak RSS per
run, and each tool's ROC-AUC on the same labelled data (1% planted outliers), which should
agree within a small tolerance.

    python benches/iforest_whole.py [--rows 1000000] [--features 16] [--repeat 3]
"""

import argparse
import os
import subprocess
import sys
import time

RUNS = ["vigil-polars", "vigil-pyarrow", "vigil-numpy", "sklearn-1", "sklearn-all"]


def data(rows, features):
    """Standard normal inliers; every 100th row an outlier: one random feature moved 3 standard
    deviations (a hard case: ROC-AUC well below 1, so a loss of ranking quality shows)."""
    import numpy as np

    r = np.random.default_rng(11)
    x = r.normal(size=(rows, features)).astype("float32")
    label = np.zeros(rows, dtype=bool)
    label[::100] = True
    idx = np.flatnonzero(label)
    x[idx, r.integers(0, features, size=idx.size)] += np.where(r.random(idx.size) < 0.5, -3.0, 3.0)
    return x, label


def run(name, rows, features, out):
    import numpy as np

    x, label = data(rows, features)
    if name.startswith("sklearn"):
        from sklearn.ensemble import IsolationForest

        jobs = 1 if name == "sklearn-1" else -1
        # Anomaly score = -score_samples (higher = more anomalous), as vigil's decision_function.
        s = -IsolationForest(n_estimators=100, random_state=0, n_jobs=jobs).fit(x).score_samples(x)
    else:
        import vigil

        names = [f"f{j}" for j in range(features)]
        if name == "vigil-polars":
            import polars as pl

            X = pl.DataFrame(x, schema=names)
        elif name == "vigil-pyarrow":
            import pyarrow as pa

            X = pa.table({n: x[:, j] for j, n in enumerate(names)})
        else:
            X = x
        det = vigil.IsolationForest(backend="cpu").fit(X)
        s = det.decision_function(X)
    np.save(out, s)
    print(len(s))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--features", type=int, default=16)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--run", choices=RUNS, help="one run, in this process")
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    if args.run:
        run(args.run, args.rows, args.features, args.out)
        return

    # Data, labels and scikit-learn's metrics are loaded after the runs: a child's peak RSS
    # counts the parent's memory at fork (numpy alone, ~30 MB, is the floor of every figure).
    import numpy as np

    env = dict(os.environ, VIGIL_BACKEND="cpu")
    results = {}
    for name in RUNS:
        out = f"/tmp/iforest_whole_{os.getpid()}_{name}.npy"
        walls, rss = [], 0
        for _ in range(args.repeat):
            t = time.perf_counter()
            p = subprocess.Popen([sys.executable, __file__, "--run", name, "--rows", str(args.rows),
                                  "--features", str(args.features), "--out", out],
                                 env=env, stdout=subprocess.DEVNULL)
            _, status, usage = os.wait4(p.pid, 0)
            walls.append(time.perf_counter() - t)
            if status != 0:
                sys.exit(f"{name} failed (status {status})")
            rss = max(rss, usage.ru_maxrss)
        results[name] = (min(walls), walls, rss / 1024, np.load(out))
        os.remove(out)
    from sklearn.metrics import roc_auc_score

    _, label = data(args.rows, args.features)
    for name, (best, walls, mib, s) in results.items():
        results[name] = (best, walls, mib, roc_auc_score(label, s))
    base = results["sklearn-1"][0]
    print(f"isolation forest, {args.rows:,} x {args.features}, 100 trees, fit + score, whole process, "
          f"best of {args.repeat}, {os.cpu_count()} cores")
    print(f"{'run':<14} {'best s':>7} {'x sklearn-1':>11} {'peak MiB':>9} {'ROC-AUC':>8}  runs")
    for name, (best, walls, mib, auc) in results.items():
        print(f"{name:<14} {best:7.2f} {base / best:11.1f} {mib:9.0f} {auc:8.4f}  "
              f"{[round(w, 2) for w in walls]}")


if __name__ == "__main__":
    main()
