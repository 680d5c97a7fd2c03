"""The floor of the isolation-forest workload (`../shared/bench/iforest_bench.py vigil`): the
same process with everything but the forest, i.e. the interpreter, numpy making the same
1M x 16 float32 matrix, the polars DataFrame of it and `import vigil`, then no fit and no
score. No library can run that workload faster than this process; `benches/run_all.py`
times it beside the workload. usage: iforest_floor.py [ROWS]"""
import os
import sys

os.environ.setdefault("VIGIL_BACKEND", "cpu")
import numpy as np


def main(rows: int) -> None:
    x = np.random.default_rng(3).normal(size=(rows, 16)).astype("float32")
    import polars as pl
    import vigil  # noqa: F401  (its import is part of the workload)

    df = pl.DataFrame(x, schema=[f"f{i}" for i in range(16)])
    print(df.height)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
