//! Robust z-score detector: median and MAD per feature, scored by a WGSL kernel.

use serde::{Deserialize, Serialize};

use crate::engine::Engine;
use crate::error::{Error, Result};

/// Robust z-score detector.
///
/// Fit: per feature, the median and the MAD (median absolute deviation) of the baseline's
/// non-null values; scale = 1.4826 x MAD (consistent with the standard deviation for normal
/// data). When the MAD is 0 (over half the baseline equals the median), scale = 1.2533 x the
/// mean absolute deviation from the median; when that is 0 too (a constant feature), any value
/// other than the median gets |z| = `z_cap`.
///
/// Score: z_j = (x_j - median_j) / scale_j clamped to +-`z_cap`, and
/// score = sqrt(mean over the row's non-null features of z_j^2) (root mean square), null when
/// every feature is null. Explanation: the `top_k` features by |z|.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RobustZ {
    /// Features listed in each explanation.
    pub top_k: usize,
    /// Largest |z| of one feature, so one wild feature cannot drown the others.
    pub z_cap: f32,
}

impl Default for RobustZ {
    fn default() -> Self {
        RobustZ {
            top_k: 3,
            z_cap: 100.0,
        }
    }
}

/// A fitted [`RobustZ`]: centre and scale of every feature.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FittedRobustZ {
    /// The settings it was fitted with.
    pub params: RobustZ,
    /// Feature names, in matrix column order.
    pub features: Vec<String>,
    /// Median of each feature on the baseline.
    pub center: Vec<f32>,
    /// Scale of each feature (0 for a constant feature).
    pub scale: Vec<f32>,
}

/// Consistency constant of the MAD for a normal distribution.
const MAD_TO_SIGMA: f64 = 1.4826;
/// Consistency constant of the mean absolute deviation for a normal distribution (sqrt(pi/2)).
const MEANAD_TO_SIGMA: f64 = 1.2533;

fn median_sorted(s: &[f64]) -> f64 {
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

impl RobustZ {
    pub(crate) fn validate(&self) -> Result<()> {
        if self.top_k == 0 {
            return Err(Error::param("top_k", "must be at least 1"));
        }
        if !(self.z_cap.is_finite() && self.z_cap > 0.0) {
            return Err(Error::param("z_cap", "must be finite and > 0"));
        }
        Ok(())
    }

    /// Fits on a row-major matrix of `names.len()` features per row (NaN = null).
    pub fn fit(&self, names: &[String], x: &[f32]) -> Result<FittedRobustZ> {
        self.validate()?;
        let f = names.len();
        let rows = x.len().checked_div(f).unwrap_or(0);
        let mut center = Vec::with_capacity(f);
        let mut scale = Vec::with_capacity(f);
        let mut col = Vec::with_capacity(rows);
        for (j, name) in names.iter().enumerate() {
            col.clear();
            col.extend(
                (0..rows)
                    .map(|i| x[i * f + j])
                    .filter(|v| !v.is_nan())
                    .map(f64::from),
            );
            if col.is_empty() {
                return Err(Error::InvalidInput(format!(
                    "feature `{name}` is null in every baseline row, so it cannot be fitted; \
                     give a baseline where its column has values, or drop the feature"
                )));
            }
            col.sort_by(f64::total_cmp);
            let med = median_sorted(&col);
            let mut dev: Vec<f64> = col.iter().map(|v| (v - med).abs()).collect();
            dev.sort_by(f64::total_cmp);
            let mad = median_sorted(&dev);
            let s = if mad > 0.0 {
                MAD_TO_SIGMA * mad
            } else {
                MEANAD_TO_SIGMA * dev.iter().sum::<f64>() / dev.len() as f64
            };
            center.push(med as f32);
            scale.push(s as f32);
        }
        Ok(FittedRobustZ {
            params: self.clone(),
            features: names.to_vec(),
            center,
            scale,
        })
    }
}

impl FittedRobustZ {
    /// Scores a row-major matrix: per-feature z (row-major; empty unless `explain`) and one
    /// score per row (NaN = null).
    pub(crate) fn score(
        &self,
        engine: &Engine,
        x: &[f32],
        explain: bool,
    ) -> Result<(Vec<f32>, Vec<f32>)> {
        engine.robust_z_with(x, &self.center, &self.scale, self.params.z_cap, explain)
    }

    /// Scores `rows` rows read block by block (see `Engine::robust_z_blocks`): the same
    /// scores as [`score`](Self::score) of the whole matrix, without building it on the CPU.
    pub(crate) fn score_blocks(
        &self,
        engine: &Engine,
        rows: usize,
        read: impl Fn(usize, &mut [f32]) + Sync,
        matrix: impl FnOnce() -> Result<Vec<f32>>,
    ) -> Result<Vec<f32>> {
        engine.robust_z_blocks(
            rows,
            &self.center,
            &self.scale,
            self.params.z_cap,
            read,
            matrix,
        )
    }

    pub(crate) fn validate_shape(&self) -> Result<()> {
        self.params
            .validate()
            .map_err(|e| Error::Model(e.to_string()))?;
        let f = self.features.len();
        if self.center.len() != f || self.scale.len() != f {
            return Err(Error::Model(format!(
                "robust_z has {f} features but {} centres and {} scales",
                self.center.len(),
                self.scale.len()
            )));
        }
        if self
            .center
            .iter()
            .chain(&self.scale)
            .any(|v| !v.is_finite())
            || self.scale.iter().any(|&s| s < 0.0)
        {
            return Err(Error::Model(
                "robust_z centres and scales must be finite, scales >= 0".into(),
            ));
        }
        Ok(())
    }
}
