"""Cut-offs on a contaminated baseline: HDFS_5k block event-count vectors, a baseline of every
normal block plus 3% anomalous blocks (seeded choice), RobustZ fitted on it, every block
scored; mean precision / recall / F1 over 10 seeded baselines at the cut-off for PyOD's contamination quantile and for the
robust median + k * MAD cut-off (k = 3.5, Iglewicz and Hoaglin, fixed before looking), plus
ROC-AUC.

Run: python benches/contaminated_cutoff.py [dir of HDFS_5k.log]  (after maturin develop)
"""

import pathlib
import sys

import numpy as np
import polars as pl
from sklearn.metrics import f1_score, precision_score, recall_score, roc_auc_score

import vigil

root = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else \
    pathlib.Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "hdfs_labelled"
logs = vigil.read_log(root / "HDFS_5k.log", format="loghub:HDFS")
parsed = vigil.TemplateMiner().parse(logs, column="Content")
cv = vigil.count_vectors(parsed.rename({"Content": "message"}), session_prefix="blk_")
labels = pl.read_csv(root / "HDFS_5k_block_labels.csv")
cv = cv.join(labels, left_on="key", right_on="BlockId", how="inner")
y = (cv["Label"] == "Anomaly").to_numpy().astype(int)
features = [c for c in cv.columns if c.startswith("t_")]
X = cv.select(features).to_numpy().astype(np.float64)
normal, anomalous = np.flatnonzero(y == 0), np.flatnonzero(y == 1)
n_bad = max(1, round(0.03 * len(normal) / 0.97))
print(f"{len(y)} blocks ({len(anomalous)} anomalous), {len(features)} templates; baseline: "
      f"{len(normal)} normal + {n_bad} anomalous = {100 * n_bad / (len(normal) + n_bad):.1f}% contaminated; "
      "every block scored; 10 seeded choices of the anomalous baseline blocks")
cutoffs = [
    ("contamination=0.01 (0.99 quantile)", dict(contamination=0.01)),
    ("contamination=0.03 (told the truth)", dict(contamination=0.03)),
    ("robust: median + 3.5 MAD", dict(cutoff="robust", robust_k=3.5)),
]
for name, params in cutoffs:
    rows = []
    for seed in range(10):
        rng = np.random.default_rng(2026 + seed)
        base_idx = np.concatenate([normal, rng.choice(anomalous, n_bad, replace=False)])
        det = vigil.RobustZ(backend="cpu", **params).fit(X[base_idx])
        pred = det.predict(X)
        rows.append((precision_score(y, pred, zero_division=0), recall_score(y, pred), f1_score(y, pred),
                     roc_auc_score(y, det.decision_function(X))))
    p, r, f, a = np.array(rows).T
    print(f"  {name:<36} precision {p.mean():.3f}  recall {r.mean():.3f}  F1 {f.mean():.3f} "
          f"(min {f.min():.3f}, max {f.max():.3f})  ROC-AUC {a.mean():.4f}")
