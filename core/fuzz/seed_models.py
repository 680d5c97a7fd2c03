"""Writes saved models of every detector kind into corpus/model_json/ as fuzzing seeds
(needs the vigil Python package: `maturin develop` in python/)."""

import pathlib

import numpy as np
import polars as pl

import vigil

out = pathlib.Path(__file__).parent / "corpus" / "model_json"
out.mkdir(parents=True, exist_ok=True)
rng = np.random.default_rng(0)
x = pl.DataFrame({"f0": rng.normal(size=300), "f1": rng.normal(size=300), "f2": rng.exponential(size=300)})
dets = {
    "iforest": vigil.IsolationForest(n_trees=3, max_samples=16),
    "pca": vigil.PcaResidual(),
    "robust_z": vigil.RobustZ(),
    "ensemble": vigil.Ensemble([vigil.IsolationForest(n_trees=2, max_samples=8), vigil.PcaResidual()]),
}
for name, det in dets.items():
    (out / f"{name}.json").write_text(det.fit(x, backend="cpu").to_json())
cats = pl.DataFrame({"q": ["a.com", "b.org", None] * 20})
(out / "rarity.json").write_text(vigil.Rarity(["q"]).fit(cats, backend="cpu").to_json())
pipe = vigil.Pipeline([vigil.entropy("q"), vigil.length("q")], detector=vigil.IsolationForest(n_trees=2, max_samples=8),
                      backend="cpu").fit(pl.DataFrame({"q": ["a.com", "bb.org", "ccc.net", "dddd.io"] * 10}))
(out / "pipeline.json").write_text(pipe.to_json())
print(f"seeds written to {out}")
