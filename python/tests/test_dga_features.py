"""Domain parts against tldextract's bundled Public Suffix List snapshot, and the character
n-gram model against a plain Python implementation of the same smoothing."""

import math
import pathlib
from collections import Counter

import numpy as np
import polars as pl
import pyarrow as pa
import pytest

import vigil

DATA = pathlib.Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "domains"


def _names() -> list[str]:
    names = []
    if DATA.exists():
        names += (DATA / "opendns-top-domains.txt").read_text().split()
        for f in sorted((DATA / "dga").glob("*.txt")):
            names += f.read_text().split()
    return names


EDGE = [
    "mail.google.com", "a.b.bbc.co.uk", "a.b.ck", "www.ck", "abc.ddns.net", "x.blogspot.com",
    "WWW.Example.COM.", "co.uk", "com", "www.例子.公司.cn", "a.xn--fiqs8s", "BÜCHER.de",
    "foo.bar.kawasaki.jp", "city.kawasaki.jp", "_dmarc.example.org", "a-b.c-d.example.net",
]
INVALID = ["", ".", "a..b", ".a.com", "a b.com", "http://a.com", "a.com/x", "u@a.com", "1.2.3.4",
           "a" * 64 + ".com"]


def test_domain_parts_match_tldextract_snapshot():
    """Every OpenDNS and DGA name plus edge cases: registrable domain, suffix and subdomain
    equal tldextract's (its bundled snapshot, no network; private rules included). Where
    tldextract finds no suffix (a top-level label the list does not know, as `.bazar`), the
    Public Suffix List's default rule makes that label the suffix: checked separately."""
    tldextract = pytest.importorskip("tldextract")
    ex = tldextract.TLDExtract(suffix_list_urls=(), include_psl_private_domains=True, cache_dir=None)
    names = _names() + EDGE
    out = vigil.extract(pa.table({"q": names}), [vigil.domain_parts("q")])
    reg, suf, sub, lab = (out.column(f"q_{c}").to_pylist() for c in ("registrable", "suffix", "subdomain", "labels"))
    checked = unknown_tld = 0
    for i, name in enumerate(names):
        norm = name.lower().rstrip(".")
        r = ex(norm)
        assert lab[i] == norm.count(".") + 1, name
        if r.suffix == "":
            unknown_tld += 1
            last = norm.rsplit(".", 1)[-1]
            assert suf[i] == last and reg[i] == ".".join(norm.split(".")[-2:]), name
            continue
        assert suf[i] == r.suffix, (name, suf[i], r)
        if r.domain == "":
            assert reg[i] is None and sub[i] is None, name
        else:
            assert reg[i] == f"{r.domain}.{r.suffix}", (name, reg[i], r)
            assert sub[i] == r.subdomain, (name, sub[i], r)
        checked += 1
    print(f"domain_parts: {checked} names equal to tldextract, {unknown_tld} under the default rule")
    assert checked >= len(EDGE) - 1
    if DATA.exists():
        assert checked > 15000


def test_domain_parts_invalid_and_polars():
    out = vigil.extract(pl.DataFrame({"q": INVALID + [None, "Ok.Example.com"]}), [vigil.domain_parts("q")])
    assert isinstance(out, pl.DataFrame)
    assert out["q_registrable"].to_list() == [None] * (len(INVALID) + 1) + ["example.com"]
    assert out["q_labels"].to_list() == [None] * (len(INVALID) + 1) + [3]
    assert out["q_subdomain"].to_list()[-1] == "ok"


class WittenBell:
    """The documented model, written plainly: add-one unigrams over the seen characters plus
    one unseen; interpolated Witten-Bell above."""

    START, END = "\x02", "\x03"

    def __init__(self, n: int, texts: list[str]):
        self.n = n
        self.counts = [Counter() for _ in range(n)]
        for t in texts:
            p = self.START * (n - 1) + t + self.END
            for i in range(n - 1, len(p)):
                for k in range(1, n + 1):
                    self.counts[k - 1][p[i - k + 1:i + 1]] += 1
        self.total = sum(self.counts[0].values())
        self.vocab = len(self.counts[0]) + 1

    def prob(self, history: str, c: str) -> float:
        p = (self.counts[0][c] + 1) / (self.total + self.vocab)
        for k in range(2, self.n + 1):
            h = history[len(history) - (k - 1):]
            grams = {g: v for g, v in self.counts[k - 1].items() if g[:-1] == h}
            if not grams:
                continue
            ch, th = sum(grams.values()), len(grams)
            p = (grams.get(h + c, 0) + th * p) / (ch + th)
        return p

    def score(self, text: str) -> tuple[float, float, float]:
        p = self.START * (self.n - 1) + text + self.END
        lps = [math.log(self.prob(p[i - self.n + 1:i], p[i])) for i in range(self.n - 1, len(p))]
        return sum(lps) / len(lps), min(lps), sum(lps)


def test_ngram_logprob_hand_computed():
    """Baseline "ab", "ab", n=2: unigrams a, b, end 2 each (N=6, V=4); every history has C=2,
    T=1. P(b|start) = P1(b)/3 = 0.1, P(end|b) = (2 + 0.3)/3; "b" scores the mean and min of
    their logs."""
    model = vigil.Pipeline([vigil.ngram_logprob("q", n=2)]).fit(pa.table({"q": ["ab", "ab"]}))
    out = model.score(pa.table({"q": ["b"]}), features=True)
    pb, pe = 0.1, (2 + 0.3) / 3
    assert out.column("q_logprob_mean")[0].as_py() == pytest.approx((math.log(pb) + math.log(pe)) / 2, rel=1e-6)
    assert out.column("q_logprob_min")[0].as_py() == pytest.approx(math.log(pb), rel=1e-6)


@pytest.mark.skipif(not DATA.exists(), reason="shared/data/domains not present")
def test_ngram_logprob_matches_plain_python_and_merges():
    names = (DATA / "opendns-top-domains.txt").read_text().split()
    base, test = names[:3000], names[3000:3300] + ["xjwqkzpvb.com", "例子.cn", "", "a"]
    ref = WittenBell(3, base)
    model = vigil.Pipeline([vigil.ngram_logprob("q", n=3)]).fit(pl.DataFrame({"q": base}))
    out = model.score(pl.DataFrame({"q": test}), features=True)
    want = np.array([ref.score(t) for t in test])
    np.testing.assert_allclose(out["q_logprob_mean"].to_numpy(), want[:, 0], rtol=1e-5)
    np.testing.assert_allclose(out["q_logprob_min"].to_numpy(), want[:, 1], rtol=1e-5)
    np.testing.assert_allclose(out["q_logprob_sum"].to_numpy(), want[:, 2], rtol=1e-5)
    # Saved in the model file, and two halves merge into the whole-baseline model.
    again = vigil.Model.from_json(model.to_json())
    np.testing.assert_array_equal(again.score(pl.DataFrame({"q": test}), features=True)["q_logprob_mean"].to_numpy(),
                                  out["q_logprob_mean"].to_numpy())
    a = vigil.Pipeline([vigil.ngram_logprob("q", n=3)], detector=vigil.Rarity(["q"])).fit(pl.DataFrame({"q": base[:1000]}))
    b = vigil.Pipeline([vigil.ngram_logprob("q", n=3)], detector=vigil.Rarity(["q"])).fit(pl.DataFrame({"q": base[1000:]}))
    merged = a.merge(b).score(pl.DataFrame({"q": test}), features=True)
    np.testing.assert_allclose(merged["q_logprob_mean"].to_numpy(), want[:, 0], rtol=1e-5)


def test_registrable_label_part_and_rarity_of_suffix():
    """`part="registrable_label"` models `google` of `mail.google.co.uk`; a Rarity detector can
    read the text output of domain_parts while the matrix detectors ignore it."""
    base = ["mail.google.co.uk", "google.com", "www.google.de"] * 10
    model = vigil.Pipeline([vigil.domain_parts("q"), vigil.ngram_logprob("q", n=2, part="registrable_label")],
                           detector=vigil.Rarity(["q_suffix"])).fit(pa.table({"q": base}))
    ref = WittenBell(2, ["google"] * 30)
    out = model.score(pa.table({"q": ["x.google.fr", "zzz.top"]}), features=True)
    assert out.column("q_logprob_mean")[0].as_py() == pytest.approx(ref.score("google")[0], rel=1e-6)
    s = out.column("score").to_pylist()
    # unseen suffixes, each with the mass of one extra value: -ln(1 / (30 + 4))
    assert s[0] == pytest.approx(math.log(34), rel=1e-6) and s[1] == pytest.approx(math.log(34), rel=1e-6)
    forest = vigil.Pipeline([vigil.domain_parts("q"), vigil.ngram_logprob("q", n=2)],
                            detector=vigil.RobustZ()).fit(pa.table({"q": base}))
    assert forest.feature_names == ["q_labels", "q_logprob_mean", "q_logprob_min", "q_logprob_sum"]


def test_baseline_rows_are_scored_leave_one_out_when_fitting():
    """The detector is fitted on the model's values for names it has not seen: each baseline
    row's log-probability is that of a model fitted without it (checked against the plain
    implementation refitted once per row), while new rows see the whole model."""
    words = ["google", "gmail", "yahoo", "goo", "bing", "mail", "maps", "bbc", "cnn", "ebay",
             "amazon", "apple", "azure", "live", "office", "outlook", "skype", "github"]
    model = vigil.Pipeline([vigil.ngram_logprob("q", n=3)], detector=vigil.RobustZ()).fit(pa.table({"q": words}))
    held_out = [WittenBell(3, words[:i] + words[i + 1:]).score(w) for i, w in enumerate(words)]
    medians = dict(zip(model.baseline_stats().column("feature").to_pylist(),
                       model.baseline_stats().column("median").to_pylist()))
    assert medians["q_logprob_mean"] == pytest.approx(float(np.median([h[0] for h in held_out])), rel=1e-5)
    assert medians["q_logprob_sum"] == pytest.approx(float(np.median([h[2] for h in held_out])), rel=1e-5)
    whole = WittenBell(3, words)
    out = model.score(pa.table({"q": ["google"]}), features=True)
    assert out.column("q_logprob_mean")[0].as_py() == pytest.approx(whole.score("google")[0], rel=1e-6)
