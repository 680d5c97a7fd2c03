//! Ensembles: several detectors' scores put on one scale by their baseline quantiles, then
//! combined.

use serde::{Deserialize, Serialize};

use super::{Detector, FittedDetector, Scores};
use crate::error::{Error, Result};

/// How an ensemble combines its members' normalised scores.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Combine {
    /// The mean of the members' quantiles: a row must look odd to several detectors.
    #[default]
    Mean,
    /// The largest quantile: any one detector can raise the row.
    Max,
}

/// An ensemble of detectors.
///
/// Normalisation (quantile, i.e. rank based): each member's score is mapped to its position
/// in that member's baseline score distribution (the empirical CDF, interpolated between
/// 1,001 stored quantiles): 0 at the baseline minimum, 1 at its maximum. Scores above the
/// baseline maximum map into (1, 2) by 2 - 2^(-(s - max) / spread), so they keep their
/// order. A member that cannot score a row is left out of that row's combination.
///
/// Explanation: each member's contributions, rescaled to shares of its |contributions| and
/// weighted by its normalised score (÷ members for `mean`; only the top member for `max`);
/// items with the same name add up.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ensemble {
    /// The member detectors (not ensembles themselves).
    pub members: Vec<Detector>,
    /// How normalised scores combine.
    #[serde(default)]
    pub combine: Combine,
    /// Items listed in each explanation.
    #[serde(default = "default_top_k")]
    pub top_k: usize,
}

fn default_top_k() -> usize {
    3
}

/// Stored quantiles of each member's baseline scores.
const KNOTS: usize = 1001;

/// A fitted [`Ensemble`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FittedEnsemble {
    /// How normalised scores combine.
    pub combine: Combine,
    /// Items listed in each explanation.
    pub top_k: usize,
    /// The fitted members.
    pub members: Vec<FittedDetector>,
    /// Per member: its baseline scores at quantiles 0, 0.001, ..., 1.
    pub knots: Vec<Vec<f32>>,
}

impl Ensemble {
    /// An ensemble of `members` combined by the mean of their quantiles.
    pub fn of(members: Vec<Detector>) -> Self {
        Ensemble {
            members,
            combine: Combine::Mean,
            top_k: 3,
        }
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if self.members.is_empty() {
            return Err(Error::param(
                "members",
                "an ensemble needs at least one member",
            ));
        }
        if self.top_k == 0 {
            return Err(Error::param("top_k", "must be at least 1"));
        }
        for m in &self.members {
            if matches!(m, Detector::Ensemble(_)) {
                return Err(Error::param(
                    "members",
                    "an ensemble cannot contain an ensemble",
                ));
            }
            m.validate()?;
        }
        Ok(())
    }
}

/// Quantiles 0, 1/(KNOTS-1), ..., 1 of the non-NaN `scores`.
pub(crate) fn knots(scores: &[f32]) -> Vec<f32> {
    let mut s: Vec<f32> = scores.iter().copied().filter(|v| !v.is_nan()).collect();
    s.sort_by(f32::total_cmp);
    if s.is_empty() {
        return Vec::new();
    }
    (0..KNOTS)
        .map(|i| {
            let pos = i as f64 / (KNOTS - 1) as f64 * (s.len() - 1) as f64;
            let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
            s[lo] + (s[hi] - s[lo]) * (pos - lo as f64) as f32
        })
        .collect()
}

/// Position of `v` in the distribution described by `knots` (see [`Ensemble`]).
fn normalise(knots: &[f32], v: f32) -> f32 {
    let (Some(&lo), Some(&hi)) = (knots.first(), knots.last()) else {
        return f32::NAN;
    };
    if v.is_nan() {
        return f32::NAN;
    }
    if v > hi {
        let spread = if hi > lo { hi - lo } else { 1.0 };
        return 2.0 - (-(v - hi) / spread).exp2();
    }
    if v <= lo {
        return 0.0;
    }
    // First knot >= v; interpolate between it and the one before (ties: the middle).
    let first_ge = knots.partition_point(|&k| k < v);
    let last_le = knots.partition_point(|&k| k <= v);
    let n = (knots.len() - 1) as f32;
    if last_le > first_ge {
        return ((first_ge + last_le - 1) as f32 / 2.0) / n;
    }
    let (a, b) = (knots[first_ge - 1], knots[first_ge]);
    let frac = if b > a { (v - a) / (b - a) } else { 0.0 };
    ((first_ge - 1) as f32 + frac) / n
}

impl FittedEnsemble {
    /// Combines the members' outputs for one batch.
    pub(crate) fn combine(&self, outs: Vec<Scores>) -> Scores {
        let rows = outs.first().map_or(0, |o| o.scores.len());
        let mut items: Vec<String> = Vec::new();
        let mut maps: Vec<Vec<usize>> = Vec::new();
        for o in &outs {
            maps.push(
                o.items
                    .iter()
                    .map(|name| match items.iter().position(|x| x == name) {
                        Some(p) => p,
                        None => {
                            items.push(name.clone());
                            items.len() - 1
                        }
                    })
                    .collect(),
            );
        }
        let width = items.len();
        let any_values = outs.iter().any(|o| o.values.is_some());
        let mut scores = vec![f32::NAN; rows];
        let mut contributions = vec![0f32; rows * width];
        let mut values: Vec<Option<String>> = if any_values {
            vec![None; rows * width]
        } else {
            Vec::new()
        };
        for i in 0..rows {
            let q: Vec<f32> = outs
                .iter()
                .zip(&self.knots)
                .map(|(o, k)| normalise(k, o.scores[i]))
                .collect();
            let valid: Vec<usize> = (0..q.len()).filter(|&m| !q[m].is_nan()).collect();
            if valid.is_empty() {
                continue;
            }
            let weights: Vec<(usize, f32)> = match self.combine {
                Combine::Mean => {
                    let w = 1.0 / valid.len() as f32;
                    scores[i] = valid.iter().map(|&m| q[m]).sum::<f32>() * w;
                    valid.iter().map(|&m| (m, q[m] * w)).collect()
                }
                Combine::Max => {
                    let top = valid
                        .iter()
                        .copied()
                        .max_by(|&a, &b| q[a].total_cmp(&q[b]).then(b.cmp(&a)))
                        .unwrap_or(0);
                    scores[i] = q[top];
                    vec![(top, q[top])]
                }
            };
            for (m, w) in weights {
                let o = &outs[m];
                let k = o.items.len();
                let c = &o.contributions[i * k..(i + 1) * k];
                let total: f32 = c.iter().filter(|v| !v.is_nan()).map(|v| v.abs()).sum();
                if total <= 0.0 {
                    continue;
                }
                for (j, &cj) in c.iter().enumerate() {
                    if cj.is_nan() {
                        continue;
                    }
                    let at = i * width + maps[m][j];
                    contributions[at] += w * cj.abs() / total;
                    if let Some(v) = o.values.as_ref().and_then(|v| v[i * k + j].clone()) {
                        values[at].get_or_insert(v);
                    }
                }
            }
        }
        Scores {
            scores,
            contributions,
            items,
            values: any_values.then_some(values),
        }
    }

    pub(crate) fn validate_shape(&self) -> Result<()> {
        if self.members.is_empty() || self.knots.len() != self.members.len() || self.top_k == 0 {
            return Err(Error::Model(
                "ensemble: needs members, one knot list per member and top_k >= 1".into(),
            ));
        }
        for (m, k) in self.members.iter().zip(&self.knots) {
            if matches!(m, FittedDetector::Ensemble(_)) {
                return Err(Error::Model("ensemble: a member is an ensemble".into()));
            }
            if k.len() != KNOTS
                || k.iter().any(|v| !v.is_finite())
                || k.windows(2).any(|w| w[0] > w[1])
            {
                return Err(Error::Model(format!(
                    "ensemble: each member needs {KNOTS} finite, ascending quantiles"
                )));
            }
            m.validate_shape()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalise_maps_baseline_quantiles_and_keeps_order_above() {
        let k: Vec<f32> = (0..KNOTS).map(|i| i as f32).collect(); // uniform 0..1000
        assert_eq!(normalise(&k, 0.0), 0.0);
        assert_eq!(normalise(&k, 500.0), 0.5);
        assert!((normalise(&k, 250.5) - 0.2505).abs() < 1e-6);
        assert_eq!(normalise(&k, 1000.0), 1.0);
        assert!(normalise(&k, 1001.0) > 1.0 && normalise(&k, 1001.0) < normalise(&k, 2000.0));
        assert!(normalise(&k, 1e9) <= 2.0);
        let flat = vec![3.0; KNOTS];
        assert_eq!(normalise(&flat, 3.0), 0.0);
        assert!(normalise(&flat, 4.0) > 1.0);
    }
}
