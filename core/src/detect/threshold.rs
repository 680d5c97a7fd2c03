//! Alert thresholds: which scored rows become alerts (top N, top fraction, top N per time
//! window, a baseline quantile or a fixed score).

use arrow::array::RecordBatch;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Which rows become alerts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum Threshold {
    /// The `n` highest scores of each scored batch (ties broken by row order).
    TopN {
        /// Alerts per batch.
        n: usize,
    },
    /// The highest `fraction` (0..1] of each scored batch's scored rows, rounded up: an alert
    /// budget that scales with volume (e.g. 0.001 = one alert per 1,000 events).
    TopFraction {
        /// Share of scored rows that become alerts.
        fraction: f64,
    },
    /// An alert budget per time unit: the `n` highest scores of each `every_seconds`-long
    /// window of `time_column` (Arrow Timestamp of any unit, Int64 or Float64 epoch seconds), windows
    /// aligned to the Unix epoch; rows with a null time never alert.
    TopPerWindow {
        /// Alerts per window.
        n: usize,
        /// Window length in seconds (> 0).
        every_seconds: u64,
        /// The time column.
        time_column: String,
    },
    /// Scores above this quantile (0..1) of the baseline's own scores: `q = 0.99` aims at a
    /// 1% false-positive rate on data like the baseline.
    BaselineQuantile {
        /// Quantile of the baseline scores.
        q: f64,
    },
    /// Scores above `median + k * 1.4826 * MAD` of the baseline's own scores (1.2533 x the
    /// mean absolute deviation when the MAD is 0): a cut-off that a few percent of anomalies
    /// hidden in the baseline barely move, unlike a high quantile, which lands among them.
    /// `k = 3.5` is Iglewicz and Hoaglin's modified z-score rule.
    BaselineMad {
        /// Robust deviations above the median (> 0).
        k: f64,
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
        match self {
            Threshold::TopN { .. } => Ok(()),
            Threshold::TopPerWindow { every_seconds, .. } if *every_seconds > 0 => Ok(()),
            Threshold::TopPerWindow { .. } => Err(Error::param("every_seconds", "must be > 0")),
            Threshold::TopFraction { fraction } if *fraction > 0.0 && *fraction <= 1.0 => Ok(()),
            Threshold::TopFraction { fraction } => Err(Error::param(
                "fraction",
                format!("{fraction} is not in (0, 1]"),
            )),
            Threshold::BaselineQuantile { q } if (0.0..=1.0).contains(q) => Ok(()),
            Threshold::BaselineQuantile { q } => {
                Err(Error::param("q", format!("{q} is not in [0, 1]")))
            }
            Threshold::BaselineMad { k } if k.is_finite() && *k > 0.0 => Ok(()),
            Threshold::BaselineMad { k } => {
                Err(Error::param("k", format!("{k} is not finite and > 0")))
            }
            Threshold::Score { value } if value.is_finite() => Ok(()),
            Threshold::Score { value } => {
                Err(Error::param("value", format!("{value} is not finite")))
            }
        }
    }

    /// Whether alerts depend on the whole scored batch (top N, top fraction), so a stream
    /// cannot be scored piece by piece.
    pub fn is_per_batch(&self) -> bool {
        matches!(
            self,
            Threshold::TopN { .. } | Threshold::TopFraction { .. } | Threshold::TopPerWindow { .. }
        )
    }

    /// The fixed cut-off this threshold implies given the baseline scores (`None` for top-N).
    pub(crate) fn cutoff(&self, baseline_scores: &[f32]) -> Option<f64> {
        match *self {
            Threshold::TopN { .. }
            | Threshold::TopFraction { .. }
            | Threshold::TopPerWindow { .. } => None,
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
            Threshold::BaselineMad { k } => {
                let mut s: Vec<f64> = baseline_scores
                    .iter()
                    .filter(|v| !v.is_nan())
                    .map(|&v| f64::from(v))
                    .collect();
                s.sort_by(f64::total_cmp);
                let med = quantile_sorted(&s, 0.5);
                let mut dev: Vec<f64> = s.iter().map(|v| (v - med).abs()).collect();
                dev.sort_by(f64::total_cmp);
                let mut scale = 1.4826 * quantile_sorted(&dev, 0.5);
                if scale == 0.0 && !dev.is_empty() {
                    scale = 1.2533 * dev.iter().sum::<f64>() / dev.len() as f64;
                }
                Some(med + k * scale)
            }
        }
    }

    /// Alert flags for the `scores` of `batch` (NaN = unscored, never an alert).
    pub(crate) fn flags(
        &self,
        scores: &[f32],
        cutoff: Option<f64>,
        batch: &RecordBatch,
    ) -> Result<Vec<bool>> {
        let top = |rows: &mut dyn Iterator<Item = usize>, n: usize, flags: &mut [bool]| {
            let mut order: Vec<usize> = rows.filter(|&i| !scores[i].is_nan()).collect();
            order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
            for &i in order.iter().take(n) {
                flags[i] = true;
            }
        };
        let mut flags = vec![false; scores.len()];
        match self {
            Threshold::TopN { n } => top(&mut (0..scores.len()), *n, &mut flags),
            Threshold::TopFraction { fraction } => {
                let scored = scores.iter().filter(|s| !s.is_nan()).count();
                let n = (fraction * scored as f64).ceil() as usize;
                top(&mut (0..scores.len()), n, &mut flags);
            }
            Threshold::TopPerWindow {
                n,
                every_seconds,
                time_column,
            } => {
                let times = crate::columns::times(batch, time_column)?;
                let every = i64::try_from(*every_seconds)
                    .ok()
                    .and_then(|s| s.checked_mul(1_000_000_000))
                    .unwrap_or(i64::MAX);
                let mut windows: std::collections::BTreeMap<i64, Vec<usize>> = Default::default();
                for i in 0..scores.len() {
                    if let Some(t) = times.get(i) {
                        windows.entry(t.div_euclid(every)).or_default().push(i);
                    }
                }
                for rows in windows.values() {
                    top(&mut rows.iter().copied(), *n, &mut flags);
                }
            }
            _ => {
                if let Some(c) = cutoff {
                    for (f, &s) in flags.iter_mut().zip(scores) {
                        *f = !s.is_nan() && f64::from(s) > c;
                    }
                }
            }
        }
        Ok(flags)
    }
}

/// Quantile `q` of sorted values with linear interpolation (NaN for no values).
fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn baseline_mad_cutoff_hand_computed() {
        // median 3; |deviations| 2 1 0 1 97 -> MAD 1; 3 + 3.5 * 1.4826 * 1
        let t = Threshold::BaselineMad { k: 3.5 };
        let c = t.cutoff(&[1.0, 2.0, 3.0, 4.0, 100.0, f32::NAN]);
        assert!((c.unwrap_or(0.0) - (3.0 + 3.5 * 1.4826)).abs() < 1e-9);
        // MAD 0: 1.2533 x the mean absolute deviation (4 / 5)
        let c = t.cutoff(&[1.0, 1.0, 1.0, 1.0, 5.0]);
        assert!((c.unwrap_or(0.0) - (1.0 + 3.5 * 1.2533 * 0.8)).abs() < 1e-9);
        assert!(Threshold::BaselineMad { k: 0.0 }.validate().is_err());
    }
}
