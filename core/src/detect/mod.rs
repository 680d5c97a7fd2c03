//! Detectors: fitted on the feature matrix of a baseline, they score rows and explain scores.

mod robust_z;

pub use robust_z::{FittedRobustZ, RobustZ};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Which rows become alerts.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum Threshold {
    /// The `n` highest scores of each scored batch (ties broken by row order).
    TopN {
        /// Alerts per batch.
        n: usize,
    },
    /// Scores above this quantile (0..1) of the baseline's own scores: `q = 0.99` aims at a
    /// 1% false-positive rate on data like the baseline.
    BaselineQuantile {
        /// Quantile of the baseline scores.
        q: f64,
    },
    /// Scores above a fixed value.
    Score {
        /// The cut-off.
        value: f64,
    },
}

impl Default for Threshold {
    fn default() -> Self {
        Threshold::BaselineQuantile { q: 0.99 }
    }
}

impl Threshold {
    pub(crate) fn validate(&self) -> Result<()> {
        match *self {
            Threshold::TopN { .. } => Ok(()),
            Threshold::BaselineQuantile { q } if (0.0..=1.0).contains(&q) => Ok(()),
            Threshold::BaselineQuantile { q } => {
                Err(Error::param("q", format!("{q} is not in [0, 1]")))
            }
            Threshold::Score { value } if value.is_finite() => Ok(()),
            Threshold::Score { value } => {
                Err(Error::param("value", format!("{value} is not finite")))
            }
        }
    }

    /// The fixed cut-off this threshold implies given the baseline scores (`None` for top-N).
    pub(crate) fn cutoff(&self, baseline_scores: &[f32]) -> Option<f64> {
        match *self {
            Threshold::TopN { .. } => None,
            Threshold::Score { value } => Some(value),
            Threshold::BaselineQuantile { q } => {
                let mut s: Vec<f64> = baseline_scores
                    .iter()
                    .filter(|v| !v.is_nan())
                    .map(|&v| f64::from(v))
                    .collect();
                s.sort_by(f64::total_cmp);
                Some(quantile_sorted(&s, q))
            }
        }
    }

    /// Alert flags for `scores` (NaN = unscored, never an alert).
    pub(crate) fn flags(&self, scores: &[f32], cutoff: Option<f64>) -> Vec<bool> {
        match (*self, cutoff) {
            (Threshold::TopN { n }, _) => {
                let mut order: Vec<usize> =
                    (0..scores.len()).filter(|&i| !scores[i].is_nan()).collect();
                order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
                let mut flags = vec![false; scores.len()];
                for &i in order.iter().take(n) {
                    flags[i] = true;
                }
                flags
            }
            (_, Some(c)) => scores
                .iter()
                .map(|&s| !s.is_nan() && f64::from(s) > c)
                .collect(),
            (_, None) => vec![false; scores.len()],
        }
    }
}

/// Quantile `q` of sorted values with linear interpolation (NaN for no values).
pub(crate) fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    match sorted.len() {
        0 => f64::NAN,
        n => {
            let pos = q.clamp(0.0, 1.0) * (n - 1) as f64;
            let lo = pos.floor() as usize;
            let hi = pos.ceil() as usize;
            sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
        }
    }
}

/// Area under the ROC curve of `scores` against `labels` (true = positive), with ties
/// counted as half (the Mann-Whitney U statistic). Rows with a NaN score are skipped.
/// `None` when there is no positive or no negative.
pub fn roc_auc(scores: &[f32], labels: &[bool]) -> Option<f64> {
    let mut pairs: Vec<(f32, bool)> = scores
        .iter()
        .zip(labels)
        .filter(|(s, _)| !s.is_nan())
        .map(|(&s, &l)| (s, l))
        .collect();
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let pos = pairs.iter().filter(|p| p.1).count() as f64;
    let neg = pairs.len() as f64 - pos;
    if pos == 0.0 || neg == 0.0 {
        return None;
    }
    // Sum of the (average, for ties) ranks of the positives.
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < pairs.len() {
        let mut j = i;
        while j < pairs.len() && pairs[j].0 == pairs[i].0 {
            j += 1;
        }
        let avg_rank = (i + 1 + j) as f64 / 2.0;
        rank_sum += avg_rank * pairs[i..j].iter().filter(|p| p.1).count() as f64;
        i = j;
    }
    Some((rank_sum - pos * (pos + 1.0) / 2.0) / (pos * neg))
}
