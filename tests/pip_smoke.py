"""Smoke test of an installed vigil (after `pip install ./python` into a fresh venv without
polars): run outside the source tree on the bundled data; pyarrow comes back where polars
would. Usage: python tests/pip_smoke.py ../shared/data [--expect-no-polars]"""

import sys
from pathlib import Path

import pyarrow as pa

import vigil

data = Path(sys.argv[1])
assert "site-packages" in vigil.__file__, f"vigil imported from {vigil.__file__}, not the installed package"
try:
    import polars  # noqa: F401
    has_polars = True
except ImportError:
    has_polars = False

if "--expect-no-polars" in sys.argv:
    assert not has_polars, "polars should not be installed by `pip install ./python` (it is the [polars] extra)"
log = vigil.read_log(data / "loghub" / "Linux" / "Linux_2k.log", "syslog")
assert isinstance(log, pa.Table) or has_polars, type(log)
miner = vigil.TemplateMiner()
miner.parse(log, column="message")
templates = miner.templates(to="pyarrow")
assert sum(templates["size"].to_pylist()) == 2000

domains = [s for s in (data / "domains" / "opendns-top-domains.txt").read_text().splitlines() if s]
model = vigil.Pipeline([vigil.entropy("query"), vigil.length("query")]).fit(pa.table({"query": domains[:5000]}))
scored = model.score(pa.table({"query": domains[5000:]}))
assert scored.num_rows == len(domains) - 5000
print(f"vigil {vigil.__version__} installed at {Path(vigil.__file__).parent}; polars installed: {has_polars}; "
      f"backend {vigil.backend_info('cpu')['requested']}; Linux_2k: {templates.num_rows} templates; "
      f"{scored.num_rows} domains scored, {sum(scored['alert'].to_pylist())} alerts")
