"""Feature specs of one input column (string length, entropy, character classes, hashed
n-grams, numeric transforms) and :func:`extract`, which computes them without a detector."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

from . import _native
from ._arrow import _as_arrow_input, _as_output
from ._arrow import _is_polars, _polars_from_stream, _polars_parts

__all__ = ["Feature", "length", "entropy", "char_classes", "ngrams", "log1p", "standardize", "extract",
           "domain_parts", "ngram_logprob"]


@dataclass(frozen=True)
class Feature:
    """A feature of one input column. Build with :func:`entropy`, :func:`ngrams`, ..."""

    column: str
    kind: str
    params: dict = field(default_factory=dict)
    name: Optional[str] = None

    def _spec(self) -> dict:
        spec = {"column": self.column, "kind": self.kind, **self.params}
        if self.name is not None:
            spec["prefix"] = self.name
        return spec

    def __repr__(self) -> str:
        args = "".join(f", {k}={v!r}" for k, v in self.params.items() if v is not None)
        named = f", name={self.name!r}" if self.name else ""
        return f"vigil.{self.kind}({self.column!r}{args}{named})"


def length(column: str, *, name: Optional[str] = None) -> Feature:
    """Byte length (``<col>_len_bytes``) and Unicode code points (``<col>_len_chars``) of a string column."""
    return Feature(column, "length", name=name)


def entropy(column: str, *, name: Optional[str] = None) -> Feature:
    """Shannon entropy of a string column's bytes, in bits (``<col>_entropy``)."""
    return Feature(column, "entropy", name=name)


def char_classes(column: str, *, name: Optional[str] = None) -> Feature:
    """Ratios of digits, lower/upper case, ``.``, ``-``, other punctuation, non-ASCII bytes and
    vowels; the longest run of consonants; and a hex-only flag of a string column."""
    return Feature(column, "char_classes", name=name)


def ngrams(column: str, n: int = 3, dims: int = 256, *, normalize: bool = False, name: Optional[str] = None) -> Feature:
    """Signed hashed byte n-grams (n in 1..5) into ``dims`` buckets (a power of two) as a
    fixed-size list ``<col>_ngram<n>``; ``normalize=True`` divides by the L2 norm. The hash
    (FNV-1a 32-bit then murmur3 fmix32) is fixed, so values are stable across versions."""
    return Feature(column, "ngrams", {"n": int(n), "dims": int(dims), "normalize": bool(normalize)}, name)


def log1p(column: str, *, name: Optional[str] = None) -> Feature:
    """``log(1 + x)`` of a numeric column (``<col>_log1p``); null for x <= -1, NaN or inf."""
    return Feature(column, "log1p", name=name)


def standardize(column: str, *, mean: Optional[float] = None, std: Optional[float] = None,
                name: Optional[str] = None) -> Feature:
    """``(x - mean) / std`` of a numeric column (``<col>_standardized``); mean and std are
    fitted on the baseline unless given."""
    return Feature(column, "standardize", {"mean": mean, "std": std}, name)


def domain_parts(column: str, *, name: Optional[str] = None) -> Feature:
    """Splits a domain-name column by the Public Suffix List (compiled in; ICANN and private
    sections, wildcard and exception rules; an unknown top-level label is a suffix of its own):
    ``<col>_registrable`` (e.g. ``bbc.co.uk``), ``<col>_suffix`` (``co.uk``), ``<col>_subdomain``
    (``a.b``; ``""`` when none) as strings, and ``<col>_labels`` (4 for ``a.b.bbc.co.uk``).
    Names are lowercased, IDNA dots become ``.`` and one trailing dot is dropped; Unicode and
    punycode names both work. An invalid name (empty label, label over 63 bytes, name over
    253, spaces or URL punctuation, an IPv4 address) gives nulls. The text columns are not
    read by matrix detectors; :class:`Rarity` can name them (e.g. ``Rarity(["q_suffix"])``)."""
    return Feature(column, "domain_parts", name=name)


def ngram_logprob(column: str, n: int = 3, *, part: str = "whole", name: Optional[str] = None) -> Feature:
    """Mean and minimum per-character natural-log probability of each string
    (``<col>_logprob_mean``, ``<col>_logprob_min``) under a character n-gram model of order
    ``n`` (1..6) fitted on the pipeline's baseline, with interpolated Witten-Bell smoothing
    (add-one at the unigram level). The model is saved in the model file and merges by adding
    counts. ``part="registrable_label"`` reads, of a domain name, the label left of the public
    suffix (``google`` of ``mail.google.co.uk``) instead of the whole string."""
    if part not in ("whole", "registrable_label"):
        raise ValueError(f"part must be 'whole' or 'registrable_label', not {part!r}")
    return Feature(column, "ngram_logprob", {"n": int(n), "part": part}, name)


def extract(data: Any, features: Sequence[Feature], backend: str = "auto") -> Any:
    """Computes ``features`` on ``data`` without a detector: the input columns followed by the
    feature columns, as the same kind of object (polars in, polars out; pyarrow in, pyarrow
    out). A ``standardize`` without mean/std is fitted on each batch of ``data`` itself."""
    spec = json.dumps([f._spec() for f in features])
    if _is_polars(data):
        # Polars in, polars out through the Arrow stream interface: no pyarrow on the way.
        return _polars_from_stream(_native.extract_stream(spec, _polars_parts(data), backend))
    arrow_data, kind = _as_arrow_input(data)
    table = _native.extract(spec, arrow_data, backend)
    return _as_output(table, kind)
