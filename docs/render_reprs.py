"""Renders the notebook HTML of vigil's objects (Model, detectors, Evaluation,
TemplateMiner, Pipeline) in headless Chromium to PNG, to look at them as a notebook user would.

Needs Debian's chromium (`apt-get install -y chromium`). Run from the project root:
    python docs/render_reprs.py [OUT_DIR]        (default target/repr_png)
"""

from __future__ import annotations

import html
import subprocess
import sys
import tempfile
from pathlib import Path

import pyarrow as pa

import vigil

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".." / "shared" / "data"
# A notebook's look: JupyterLab's font and table style, roughly.
PAGE = """<!doctype html><html><head><meta charset="utf-8"><style>
body {{ font-family: -apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', sans-serif; font-size: 13px; margin: 16px; }}
table {{ border-collapse: collapse; margin-top: 4px; }}
th, td {{ padding: 3px 8px; border-bottom: 1px solid #e0e0e0; vertical-align: top; }}
tr:nth-child(even) {{ background: #f5f5f5; }}
.cell {{ border-left: 3px solid #1976d2; padding-left: 10px; }}
</style></head><body><div class="cell"><pre style="color:#888">Out[1]: {title}</pre>{body}</div></body></html>"""
CHROMIUM = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars"]


def objects() -> dict:
    domains = [s for s in (DATA / "domains" / "opendns-top-domains.txt").read_text().splitlines() if s]
    dga = [s for s in (DATA / "domains" / "dga" / "necurs.txt").read_text().splitlines() if s][:100]
    base = pa.table({"query": domains[:4000]})
    test = pa.table({"query": domains[4000:6000] + dga, "label": [False] * 2000 + [True] * len(dga)})
    feats = [vigil.entropy("query"), vigil.length("query"), vigil.char_classes("query")]
    pipe = vigil.Pipeline(feats, detector=vigil.RobustZ(), threshold=vigil.BaselineQuantile(0.99))
    model = pipe.fit(base)
    x = vigil.extract(base, feats).drop_columns(["query"])
    forest = vigil.IsolationForest(n_trees=50).fit(x)
    ensemble = vigil.Ensemble([vigil.IsolationForest(n_trees=20), vigil.PcaResidual(), vigil.RobustZ()])
    miner = vigil.TemplateMiner()
    miner.parse(vigil.read_log(DATA / "loghub" / "Linux" / "Linux_2k.log", "syslog", to="pyarrow"), column="message")
    return {
        "pipeline": pipe,
        "model": model,
        "isolation_forest": forest,
        "ensemble_unfitted": ensemble,
        "evaluation": vigil.evaluate(model.score(test), "label"),
        "template_miner": miner,
    }


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "target" / "repr_png"
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name, obj in objects().items():
            page = Path(tmp) / f"{name}.html"
            page.write_text(PAGE.format(title=html.escape(repr(obj)), body=obj._repr_html_()), encoding="utf-8")
            png = out / f"{name}.png"
            subprocess.run(CHROMIUM + [f"--user-data-dir={tmp}/profile", f"--screenshot={png}", "--window-size=1000,700",
                                       page.as_uri()], check=True, capture_output=True, timeout=120)
            print(png)


if __name__ == "__main__":
    main()
