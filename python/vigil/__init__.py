"""vigil: GPU-accelerated security log analytics over Apache Arrow.

Feature extraction (string length, entropy, character classes, hashed n-grams, numeric
transforms) runs as WGSL compute kernels on any wgpu GPU or as identical Rust code on the
CPU; a detector fitted on a baseline scores rows and explains each score.

>>> import polars as pl, vigil
>>> pipe = vigil.Pipeline([vigil.entropy("query"), vigil.char_classes("query")], detector=vigil.RobustZ())
>>> model = pipe.fit(baseline_df)               # doctest: +SKIP
>>> scored = model.score(df)                    # polars in -> polars out   # doctest: +SKIP

Data goes in and out through the Arrow PyCapsule interface: a polars DataFrame or a pyarrow
Table/RecordBatch is read without copying its buffers, and the result comes back as the same
kind of object. Compute releases the GIL.
"""

from __future__ import annotations

from typing import Any

# Modules in dependency order; each imports what it needs at its top, none inside a function:
#   _native <- _arrow <- _features <- _windows
#              _arrow <- _detect, _logs, _counts, _sigma, _intel
#   _native, _arrow, _features, _detect <- _pipeline <- vigil
from . import _native
from ._native import GpuError, InputError, ModelError, ParameterError, SchemaError, VigilError
from ._features import Feature, char_classes, entropy, extract, length, log1p, ngrams, standardize
from ._features import domain_parts, ngram_logprob
from ._pipeline import BaselineMad
from ._detect import TailRarity
from ._detect import (Ensemble, Evaluation, IsolationForest, PcaResidual, Rarity, RobustZ, drift,
                      evaluate)
# Windowed aggregates, time features, beaconing.
from . import _windows
from ._windows import (
    aggregate, aggregate_parquet, beaconing, beacons, count, distinct_count, first_seen, last_seen,
    mean, ratio, since_previous, std, time_features,
)
# Log readers, template mining and count vectors.
from ._logs import TemplateMiner, read_log
from ._logs import read_evtx
from ._counts import count_vectors
# Sigma rules.
from ._sigma import SigmaRules
from ._sigma import hunt
# Threat-intel indicators, matching and sightings.
from ._intel import Intel, IntelStage, misp_sightings, stix_sightings
from ._pipeline import (BaselineQuantile, Model, Pipeline, ScoreAbove, TopFraction, TopN, TopPerWindow,
                        backend_info)
from ._pipeline import Threshold  # noqa: F401  (the threshold type; public, outside __all__ as before)
# Plots (matplotlib, imported when a plot is drawn: pip install 'vigil[plot]').
from . import plot  # noqa: F401
# Streaming: Model.stream's iterator, and tail -f of a growing log.
from ._pipeline import Stream
from ._stream import tail

__version__: str = _native.__version__

__all__ = [
    "Feature", "length", "entropy", "char_classes", "ngrams", "log1p", "standardize",
    "RobustZ", "IsolationForest", "PcaResidual", "Rarity", "Ensemble",
    "TopN", "TopFraction", "TopPerWindow", "BaselineQuantile", "ScoreAbove", "Pipeline", "Model", "extract", "backend_info",
    "Evaluation", "evaluate", "drift",
    "VigilError", "SchemaError", "ParameterError", "InputError", "GpuError", "ModelError",
    "count", "distinct_count", "mean", "std", "ratio", "first_seen", "last_seen", "since_previous",
    "time_features", "beaconing", "aggregate", "aggregate_parquet", "beacons",
    "read_log", "TemplateMiner", "count_vectors",
    "read_evtx",
    "SigmaRules",
    "hunt",
    "domain_parts", "ngram_logprob", "BaselineMad", "TailRarity",
    "Stream", "tail",
    "Intel", "IntelStage", "stix_sightings", "misp_sightings",
]


def __getattr__(name: str) -> Any:
    # vigil.sum / vigil.min / vigil.max, served lazily so that they never shadow the
    # builtins inside this module (and stay out of __all__ and `from vigil import *`).
    if name in ("sum", "min", "max"):
        return getattr(_windows, name)
    raise AttributeError(f"module 'vigil' has no attribute {name!r}")
