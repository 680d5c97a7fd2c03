//! A character n-gram language model fitted on the baseline's strings: how probable each
//! character of a name is given the `n - 1` characters before it.
//!
//! Each string `s` is modelled as its characters (Unicode scalar values) followed by an end
//! mark, after `n - 1` start marks. Smoothing is interpolated Witten-Bell, which has no
//! parameter to tune:
//!
//! - order 1: `P1(c) = (C(c) + 1) / (N + V)`, with `N` the characters counted and `V` the
//!   distinct characters seen plus one for any unseen character (add-one);
//! - order k > 1, history `h` of k-1 characters: `Pk(c|h) = (C(h c) + T(h) P(k-1)(c|h')) /
//!   (C(h) + T(h))` where `C(h)` counts `h` followed by anything, `T(h)` the distinct
//!   characters seen after `h`, and `h'` is `h` without its first character; an unseen
//!   history falls back to `P(k-1)(c|h')`.
//!
//! A string's outputs are the mean, the minimum and the sum of `ln Pn` over its characters
//! and end mark (natural log; the sum is the log-probability of the whole string). The model is its n-gram counts of every order, saved in the model
//! file; two fits merge exactly by adding counts.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, Float32Array};
use arrow::buffer::NullBuffer;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Start mark (before the first character).
pub const START: char = '\u{2}';
/// End mark (after the last character).
pub const END: char = '\u{3}';

/// What part of a string the model reads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TextPart {
    /// The whole string.
    #[default]
    Whole,
    /// For domain names: the label left of the public suffix (`google` of
    /// `mail.google.co.uk`); the whole normalised name when there is no registrable domain,
    /// null for an invalid name.
    RegistrableLabel,
}

/// N-gram counts of every order 1..=n, sorted by gram. The saved form of the model.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NgramCounts {
    /// `orders[k-1]`: (gram of k characters, count), sorted, counts > 0.
    pub orders: Vec<Vec<(String, u64)>>,
}

/// The scoring form: counts, history totals and distinct continuations per order.
pub(crate) struct CharLm {
    n: usize,
    grams: Vec<HashMap<String, u64>>,
    /// Per order k >= 2: history (k-1 chars) -> (C(h), T(h)).
    histories: Vec<HashMap<String, (u64, u64)>>,
    total: u64,
    vocab: u64,
}

fn padded(text: &str, n: usize) -> Vec<char> {
    let mut v = vec![START; n - 1];
    v.extend(text.chars());
    v.push(END);
    v
}

impl NgramCounts {
    /// Counts the n-grams of `texts`.
    pub fn fit<'a>(n: usize, texts: impl IntoIterator<Item = &'a str>) -> NgramCounts {
        let mut maps: Vec<HashMap<String, u64>> = vec![HashMap::new(); n];
        for text in texts {
            let p = padded(text, n);
            for t in n - 1..p.len() {
                for k in 1..=n {
                    let gram: String = p[t + 1 - k..=t].iter().collect();
                    *maps[k - 1].entry(gram).or_default() += 1;
                }
            }
        }
        NgramCounts::from_maps(maps)
    }

    fn from_maps(maps: Vec<HashMap<String, u64>>) -> NgramCounts {
        NgramCounts {
            orders: maps
                .into_iter()
                .map(|m| {
                    let mut v: Vec<(String, u64)> = m.into_iter().collect();
                    v.sort();
                    v
                })
                .collect(),
        }
    }

    /// Adds the counts of another fit of the same order.
    pub fn merge(&self, other: &NgramCounts) -> Result<NgramCounts> {
        if self.orders.len() != other.orders.len() {
            return Err(Error::param(
                "other",
                "the n-gram models have different orders n",
            ));
        }
        let maps = self
            .orders
            .iter()
            .zip(&other.orders)
            .map(|(a, b)| {
                let mut m: HashMap<String, u64> = a.iter().cloned().collect();
                for (g, c) in b {
                    *m.entry(g.clone()).or_default() += c;
                }
                m
            })
            .collect();
        Ok(NgramCounts::from_maps(maps))
    }

    /// Checks the shape of loaded counts against `n`.
    pub(crate) fn validate(&self, n: usize) -> Result<()> {
        if self.orders.len() != n {
            return Err(Error::Model(format!(
                "the n-gram model holds {} orders, expected n = {n}",
                self.orders.len()
            )));
        }
        for (k, grams) in self.orders.iter().enumerate() {
            if let Some((g, _)) = grams
                .iter()
                .find(|(g, c)| *c == 0 || g.chars().count() != k + 1)
            {
                return Err(Error::Model(format!(
                    "n-gram {g:?} in order {} has a zero count or the wrong length",
                    k + 1
                )));
            }
        }
        Ok(())
    }

    /// The scoring form.
    pub(crate) fn model(&self) -> CharLm {
        let n = self.orders.len();
        let grams: Vec<HashMap<String, u64>> = self
            .orders
            .iter()
            .map(|o| o.iter().cloned().collect())
            .collect();
        let mut histories: Vec<HashMap<String, (u64, u64)>> = vec![HashMap::new(); n];
        for (k, order) in self.orders.iter().enumerate().skip(1) {
            for (g, c) in order {
                let h: String = g.chars().take(k).collect();
                let e = histories[k].entry(h).or_default();
                e.0 += c;
                e.1 += 1;
            }
        }
        let total = self
            .orders
            .first()
            .map_or(0, |o| o.iter().map(|(_, c)| c).sum());
        let vocab = self.orders.first().map_or(0, |o| o.len() as u64) + 1;
        CharLm {
            n,
            grams,
            histories,
            total,
            vocab,
        }
    }
}

/// The n-grams of one string, to take out of the counts when that string is a baseline row
/// (held-out scoring).
struct Own {
    grams: HashMap<String, u64>,
    /// Per history: (occurrences, continuations whose whole count is this string's).
    histories: HashMap<String, (u64, u64)>,
    total: u64,
    /// Characters seen only in this string.
    vocab: u64,
}

impl CharLm {
    fn own(&self, text: &str) -> Own {
        let p = padded(text, self.n);
        let mut grams: HashMap<String, u64> = HashMap::new();
        for t in self.n - 1..p.len() {
            for k in 1..=self.n {
                *grams.entry(p[t + 1 - k..=t].iter().collect()).or_default() += 1;
            }
        }
        let mut histories: HashMap<String, (u64, u64)> = HashMap::new();
        let (mut total, mut vocab) = (0, 0);
        for (g, &c) in &grams {
            let k = g.chars().count();
            let gone = self.grams[k - 1].get(g.as_str()).copied().unwrap_or(0) <= c;
            if k == 1 {
                total += c;
                vocab += u64::from(gone);
            } else {
                let e = histories
                    .entry(g.chars().take(k - 1).collect())
                    .or_default();
                e.0 += c;
                e.1 += u64::from(gone);
            }
        }
        Own {
            grams,
            histories,
            total,
            vocab,
        }
    }

    /// `P(c | history)` with `history.len() == n - 1` (fewer for lower orders), with the
    /// n-grams of `own` taken out of the counts.
    fn prob(&self, history: &[char], c: char, own: Option<&Own>) -> f64 {
        let less = |key: &str| own.and_then(|o| o.grams.get(key)).copied().unwrap_or(0);
        let key1 = c.to_string();
        let count = self.grams[0].get(key1.as_str()).copied().unwrap_or(0);
        let (total, vocab) = match own {
            Some(o) => (
                self.total.saturating_sub(o.total),
                self.vocab.saturating_sub(o.vocab),
            ),
            None => (self.total, self.vocab),
        };
        let count = count.saturating_sub(less(&key1));
        let mut p = (count as f64 + 1.0) / (total as f64 + vocab as f64);
        let mut key = String::new();
        // From order 2 up to n, each using the previous order's estimate.
        for k in 2..=self.n.min(history.len() + 1) {
            let h = &history[history.len() + 1 - k..];
            key.clear();
            key.extend(h.iter());
            let Some(&(ch, th)) = self.histories[k - 1].get(key.as_str()) else {
                continue;
            };
            let (oc, ot) = own
                .and_then(|o| o.histories.get(key.as_str()))
                .copied()
                .unwrap_or((0, 0));
            let (ch, th) = (ch.saturating_sub(oc), th.saturating_sub(ot));
            if ch == 0 {
                continue;
            }
            key.push(c);
            let count = self.grams[k - 1]
                .get(key.as_str())
                .copied()
                .unwrap_or(0)
                .saturating_sub(less(&key));
            p = (count as f64 + th as f64 * p) / (ch as f64 + th as f64);
        }
        p
    }

    /// Mean, minimum and sum of the per-character natural-log probabilities of `text`.
    pub(crate) fn score(&self, text: &str) -> (f64, f64, f64) {
        self.score_with(text, None)
    }

    /// [`score`](Self::score) of a string that is one of the fitted ones, as if the model had
    /// been fitted without it (leave-one-out: its n-grams are taken out of the counts).
    pub(crate) fn score_held_out(&self, text: &str) -> (f64, f64, f64) {
        let own = self.own(text);
        self.score_with(text, Some(&own))
    }

    fn score_with(&self, text: &str, own: Option<&Own>) -> (f64, f64, f64) {
        let p = padded(text, self.n);
        let (mut sum, mut min, mut count) = (0.0, f64::INFINITY, 0usize);
        for t in self.n - 1..p.len() {
            let lp = self.prob(&p[t + 1 - self.n..t], p[t], own).ln();
            sum += lp;
            min = min.min(lp);
            count += 1;
        }
        (sum / count as f64, min, sum)
    }
}

/// The three output columns (mean, min, sum) for `texts` (`None` = null); `held_out`: the
/// texts are the fitted ones, each scored leave-one-out.
pub(crate) fn compute(model: &CharLm, texts: &[Option<String>], held_out: bool) -> Vec<ArrayRef> {
    use rayon::prelude::*;
    let scores: Vec<Option<(f64, f64, f64)>> = texts
        .par_iter()
        .map(|t| {
            t.as_deref().map(|t| {
                if held_out {
                    model.score_held_out(t)
                } else {
                    model.score(t)
                }
            })
        })
        .collect();
    let nulls = NullBuffer::from_iter(scores.iter().map(Option::is_some));
    let nulls = (nulls.null_count() > 0).then_some(nulls);
    let col = |f: &dyn Fn(&(f64, f64, f64)) -> f64| -> ArrayRef {
        let v: Vec<f32> = scores
            .iter()
            .map(|s| s.as_ref().map_or(0.0, |s| f(s) as f32))
            .collect();
        Arc::new(Float32Array::new(v.into(), nulls.clone()))
    };
    vec![col(&|s| s.0), col(&|s| s.1), col(&|s| s.2)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_bigram() {
        // Baseline "ab", "ab" with n = 2. Padded: ^ a b $ (^ start, $ end), twice.
        // Unigrams: a 2, b 2, $ 2 -> N = 6, V = 3 + 1 = 4.
        // Bigrams: ^a 2, ab 2, b$ 2; each history has C = 2, T = 1.
        let lm = NgramCounts::fit(2, ["ab", "ab"]).model();
        let p1 = |c: f64| (c + 1.0) / 10.0;
        // P(a|^) = (2 + 1 * P1(a)) / (2 + 1) with P1(a) = 3/10
        let pa = (2.0 + p1(2.0)) / 3.0;
        assert!((lm.prob(&[START], 'a', None) - pa).abs() < 1e-12);
        // "b" alone: P(b|^) = (0 + P1(b)) / 3, P($|b) = (2 + P1($)) / 3
        let pb = p1(2.0) / 3.0;
        let pe = (2.0 + p1(2.0)) / 3.0;
        let (mean, min, sum) = lm.score("b");
        assert!((mean - (pb.ln() + pe.ln()) / 2.0).abs() < 1e-12);
        assert!((sum - (pb.ln() + pe.ln())).abs() < 1e-12);
        assert!((min - pb.ln()).abs() < 1e-12);
        // An unseen character after an unseen history: the add-one unigram 1/10.
        assert!((lm.prob(&['z'], 'q', None) - 0.1).abs() < 1e-12);
    }

    #[test]
    fn held_out_equals_a_fit_without_the_string() {
        let all = ["google", "gmail", "yahoo", "goo", "bing", "google"];
        let lm = NgramCounts::fit(3, all).model();
        for (i, t) in all.iter().enumerate() {
            let rest: Vec<&str> = all
                .iter()
                .enumerate()
                .filter(|&(j, _)| j != i)
                .map(|(_, s)| *s)
                .collect();
            let without = NgramCounts::fit(3, rest).model();
            let (a, b) = (lm.score_held_out(t), without.score(t));
            assert!((a.0 - b.0).abs() < 1e-12, "{t}: {a:?} {b:?}");
            assert!((a.1 - b.1).abs() < 1e-12 && (a.2 - b.2).abs() < 1e-12);
        }
    }

    #[test]
    fn merge_adds_counts() {
        let a = NgramCounts::fit(3, ["google", "gmail"]);
        let b = NgramCounts::fit(3, ["yahoo"]);
        let whole = NgramCounts::fit(3, ["google", "gmail", "yahoo"]);
        assert_eq!(a.merge(&b).ok(), Some(whole));
    }
}
