//! Tail rarity: how rare each feature's value is, one-sided, against the baseline's own
//! distribution of that feature; the row's surprisals add up (Fisher's method).

use serde::{Deserialize, Serialize};

use super::ensemble::knots;
use crate::error::{Error, Result};

/// One-sided tail rarity of each feature.
///
/// Fit: per feature, 1,001 quantiles of the baseline's non-null values and their count `n`.
/// Score of a value `v`: the smoothed share of the baseline at least as extreme,
/// `p = (n * (1 - F(v)) + 1) / (n + 1)` with `F(v)` the share of the baseline below `v`
/// (interpolated between the stored quantiles), on the lower tail for the features named in
/// `lower` (low values are rare there, e.g. a log-probability) and on the upper tail for those
/// in `upper`; only the listed features are scored, or every feature on its upper tail when
/// both lists are empty. The
/// row's score is `sum_j -ln p_j` over its non-null features (Fisher's combination of
/// one-sided p-values, halved), null when every feature is null; the explanation lists each
/// feature's `-ln p_j`. Unlike a robust z, a value in the common direction adds nothing.
/// Quantiles do not merge exactly: merging is refused.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TailRarity {
    /// Features whose low values are rare.
    pub lower: Vec<String>,
    /// Features whose high values are rare.
    pub upper: Vec<String>,
    /// Features listed in each explanation.
    pub top_k: usize,
}

impl Default for TailRarity {
    fn default() -> Self {
        TailRarity {
            lower: Vec::new(),
            upper: Vec::new(),
            top_k: 3,
        }
    }
}

/// A fitted [`TailRarity`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FittedTailRarity {
    /// The settings it was fitted with.
    pub params: TailRarity,
    /// Feature names, in matrix column order.
    pub features: Vec<String>,
    /// Non-null baseline values per feature.
    pub counts: Vec<u64>,
    /// Per feature: the baseline's values at quantiles 0, 0.001, ..., 1.
    pub knots: Vec<Vec<f32>>,
}

impl TailRarity {
    /// Tail rarity of the `lower` features (rare when low) and the `upper` ones (rare when
    /// high); every feature on its upper tail when both are empty.
    pub fn of(lower: &[&str], upper: &[&str]) -> Self {
        TailRarity {
            lower: lower.iter().map(|s| s.to_string()).collect(),
            upper: upper.iter().map(|s| s.to_string()).collect(),
            top_k: 3,
        }
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if self.top_k == 0 {
            return Err(Error::param("top_k", "must be at least 1"));
        }
        Ok(())
    }

    /// Fits on the row-major matrix `x` (NaN = null) with features `names`.
    pub fn fit(&self, names: &[String], x: &[f32]) -> Result<FittedTailRarity> {
        self.validate()?;
        let f = names.len();
        if f == 0 {
            return Err(Error::param("features", "tail rarity needs at least one"));
        }
        if let Some(l) = self
            .lower
            .iter()
            .chain(&self.upper)
            .find(|l| !names.contains(l))
        {
            return Err(Error::param(
                "lower/upper",
                format!("`{l}` is not a feature; features: {}", names.join(", ")),
            ));
        }
        let mut counts = Vec::with_capacity(f);
        let mut all_knots = Vec::with_capacity(f);
        for j in 0..f {
            let column: Vec<f32> = x.chunks_exact(f).map(|r| r[j]).collect();
            let k = knots(&column);
            if k.is_empty() {
                return Err(Error::InvalidInput(format!(
                    "feature `{}` is null in every baseline row, so tail rarity cannot fit it",
                    names[j]
                )));
            }
            counts.push(column.iter().filter(|v| !v.is_nan()).count() as u64);
            all_knots.push(k);
        }
        Ok(FittedTailRarity {
            params: self.clone(),
            features: names.to_vec(),
            counts,
            knots: all_knots,
        })
    }
}

/// Share of the distribution described by `knots` that lies below `v` (interpolated).
fn share_below(knots: &[f32], v: f32) -> f64 {
    let (Some(&lo), Some(&hi)) = (knots.first(), knots.last()) else {
        return 0.0;
    };
    if v <= lo {
        return 0.0;
    }
    if v > hi {
        return 1.0;
    }
    let first_ge = knots.partition_point(|&k| k < v).max(1);
    let (a, b) = (knots[first_ge - 1], knots[first_ge.min(knots.len() - 1)]);
    let frac = if b > a {
        f64::from((v - a) / (b - a))
    } else {
        1.0
    };
    ((first_ge - 1) as f64 + frac) / (knots.len() - 1).max(1) as f64
}

/// Share of the distribution described by `knots` that lies above `v` (interpolated; the
/// mirror image of [`share_below`]).
fn share_above(knots: &[f32], v: f32) -> f64 {
    let (Some(&lo), Some(&hi)) = (knots.first(), knots.last()) else {
        return 0.0;
    };
    if v >= hi {
        return 0.0;
    }
    if v < lo {
        return 1.0;
    }
    let last = knots.len() - 1;
    let first_gt = knots.partition_point(|&k| k <= v).min(last);
    let (a, b) = (knots[first_gt.saturating_sub(1)], knots[first_gt]);
    let frac = if b > a {
        f64::from((b - v) / (b - a))
    } else {
        1.0
    };
    ((last - first_gt) as f64 + frac) / last.max(1) as f64
}

impl FittedTailRarity {
    fn is_lower(&self, j: usize) -> bool {
        self.features
            .get(j)
            .is_some_and(|n| self.params.lower.contains(n))
    }

    fn is_scored(&self, j: usize) -> bool {
        let p = &self.params;
        (p.lower.is_empty() && p.upper.is_empty())
            || self
                .features
                .get(j)
                .is_some_and(|n| p.lower.contains(n) || p.upper.contains(n))
    }

    /// `-ln p` of value `v` of feature `j`.
    fn surprisal(&self, j: usize, v: f32) -> f32 {
        let (Some(k), Some(&n)) = (self.knots.get(j), self.counts.get(j)) else {
            return f32::NAN;
        };
        let above = if self.is_lower(j) {
            // the lower tail: the share of the baseline at most v
            1.0 - share_above(k, v)
        } else {
            1.0 - share_below(k, v)
        };
        let n = n as f64;
        let p = (n * above + 1.0) / (n + 1.0);
        -(p.ln()) as f32
    }

    /// Contributions (row-major) and scores of the matrix `x`.
    pub(crate) fn score(&self, x: &[f32]) -> (Vec<f32>, Vec<f32>) {
        let f = self.features.len().max(1);
        let mut contributions = vec![f32::NAN; x.len()];
        let mut scores = Vec::with_capacity(x.len() / f);
        for (r, row) in x.chunks_exact(f).enumerate() {
            let mut sum = 0f32;
            let mut any = false;
            for (j, &v) in row.iter().enumerate() {
                if v.is_nan() || !self.is_scored(j) {
                    continue;
                }
                let s = self.surprisal(j, v);
                contributions[r * f + j] = s;
                sum += s;
                any = true;
            }
            scores.push(if any { sum } else { f32::NAN });
        }
        (contributions, scores)
    }

    pub(crate) fn validate_shape(&self) -> Result<()> {
        let bad = |m: &str| Err(Error::Model(format!("tail_rarity: {m}")));
        let f = self.features.len();
        if f == 0 || self.counts.len() != f || self.knots.len() != f {
            return bad("features, counts and knots differ in length");
        }
        if self
            .knots
            .iter()
            .any(|k| k.is_empty() || k.iter().any(|v| !v.is_finite()) || !k.is_sorted())
        {
            return bad("knots must be finite, sorted and non-empty");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_tails() {
        // Baseline 0..=99 (n = 100): feature a upper tail, b lower tail.
        let names = vec!["a".to_string(), "b".to_string()];
        let x: Vec<f32> = (0..100).flat_map(|i| [i as f32, i as f32]).collect();
        let d = TailRarity::of(&["b"], &["a"])
            .fit(&names, &x)
            .expect("fits");
        // a = 99: share below 1.0 - 1/99... the top value: p = (100 * (1 - 1) + 1) / 101
        let (_, s) = d.score(&[200.0, f32::NAN]);
        assert!((s[0] - (101f32).ln()).abs() < 1e-5);
        // a = 49.5 (the median): p = (100 * 0.5 + 1) / 101
        let (_, s) = d.score(&[49.5, f32::NAN]);
        assert!((s[0] - -(51f32 / 101.0).ln()).abs() < 1e-5);
        // b low is rare, b high is not: -1 -> p = 1/101; 1000 -> p = 1
        let (c, s) = d.score(&[f32::NAN, -1.0, f32::NAN, 1000.0]);
        assert!((s[0] - (101f32).ln()).abs() < 1e-5);
        assert!(s[1].abs() < 1e-6 && c[3].abs() < 1e-6);
        // every feature null: unscored
        assert!(d.score(&[f32::NAN, f32::NAN]).1[0].is_nan());
        assert!(TailRarity::of(&["zz"], &[]).fit(&names, &x).is_err());
        // only the listed features count
        let only_b = TailRarity::of(&["b"], &[]).fit(&names, &x).expect("fits");
        assert!(only_b.score(&[1e9, f32::NAN]).1[0].is_nan());
    }
}
