//! PCA residual detector: the squared prediction error (SPE) of a row outside the principal
//! subspace of the baseline, as in loglizer's PCA (Xu et al., SOSP 2009).

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// PCA residual (squared prediction error) detector.
///
/// Fit: mean and co-moment matrix of the baseline rows with no null feature (rows with a
/// null are skipped); features are divided by their standard deviation when `standardize`
/// is set (a constant feature keeps scale 1); the principal components are the eigenvectors
/// of the resulting covariance (or correlation) matrix, and the first `k` are kept, `k` the
/// smallest number whose eigenvalues explain at least `variance` of the total (at most
/// features - 1, so a residual space remains).
///
/// Score: with z = (x - mean) / scale (a null feature counts as its mean) and P the kept
/// components, the residual r = z - P Pᵀ z and the score is SPE = Σ r_j². Explanation: the
/// signed residual r_j of each feature. [`FittedPcaResidual::q_threshold`] gives the
/// Jackson-Mudholkar Q-statistic cut-off loglizer uses.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PcaResidual {
    /// Share of the total variance the kept components must explain, in (0, 1].
    pub variance: f64,
    /// Divide each feature by its baseline standard deviation before the PCA.
    pub standardize: bool,
    /// Features listed in each explanation.
    pub top_k: usize,
}

impl Default for PcaResidual {
    fn default() -> Self {
        PcaResidual {
            variance: 0.95,
            standardize: true,
            top_k: 3,
        }
    }
}

/// Most features a PCA model may hold (its co-moment matrix is features²).
const MAX_FEATURES: usize = 4096;

/// A fitted [`PcaResidual`]. The moments (`count`, `mean`, `comoment`) merge exactly
/// (Chan et al.'s pairwise update); the components are derived from them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FittedPcaResidual {
    /// The settings it was fitted with.
    pub params: PcaResidual,
    /// Feature names, in matrix column order.
    pub features: Vec<String>,
    /// Baseline rows used (rows without a null feature).
    pub count: u64,
    /// Mean of each feature over those rows.
    pub mean: Vec<f64>,
    /// Row-major features x features sum of (x - mean)(x - mean)ᵀ.
    pub comoment: Vec<f64>,
    /// Divisor of each feature (standard deviation, or 1).
    pub scale: Vec<f64>,
    /// Eigenvalues of the (scaled) covariance, largest first.
    pub eigenvalues: Vec<f64>,
    /// Kept components, row-major: `k` rows of `features` values.
    pub components: Vec<f64>,
}

impl PcaResidual {
    pub(crate) fn validate(&self) -> Result<()> {
        if !(self.variance > 0.0 && self.variance <= 1.0) {
            return Err(Error::param(
                "variance",
                format!("{} is not in (0, 1]", self.variance),
            ));
        }
        if self.top_k == 0 {
            return Err(Error::param("top_k", "must be at least 1"));
        }
        Ok(())
    }

    /// Fits on a row-major matrix of `names.len()` features per row (NaN = null).
    pub fn fit(&self, names: &[String], x: &[f32]) -> Result<FittedPcaResidual> {
        self.validate()?;
        let f = names.len();
        if f == 0 || f > MAX_FEATURES {
            return Err(Error::param(
                "features",
                format!("PCA takes 1..={MAX_FEATURES} features, not {f}"),
            ));
        }
        let (count, mean, comoment) = moments(f, x);
        if count < 2 {
            return Err(Error::InvalidInput(format!(
                "PCA needs at least 2 baseline rows without a null feature, found {count}"
            )));
        }
        let mut fitted = FittedPcaResidual {
            params: self.clone(),
            features: names.to_vec(),
            count,
            mean,
            comoment,
            scale: Vec::new(),
            eigenvalues: Vec::new(),
            components: Vec::new(),
        };
        fitted.derive()?;
        Ok(fitted)
    }
}

/// Count, mean and co-moment matrix of the complete rows (two passes, in f64).
fn moments(f: usize, x: &[f32]) -> (u64, Vec<f64>, Vec<f64>) {
    let complete = || x.chunks_exact(f).filter(|r| r.iter().all(|v| !v.is_nan()));
    let mut count = 0u64;
    let mut mean = vec![0f64; f];
    for r in complete() {
        count += 1;
        for (m, &v) in mean.iter_mut().zip(r) {
            *m += f64::from(v);
        }
    }
    for m in &mut mean {
        *m /= count.max(1) as f64;
    }
    let mut comoment = vec![0f64; f * f];
    let mut d = vec![0f64; f];
    for r in complete() {
        for j in 0..f {
            d[j] = f64::from(r[j]) - mean[j];
        }
        for a in 0..f {
            let da = d[a];
            for b in a..f {
                comoment[a * f + b] += da * d[b];
            }
        }
    }
    for a in 0..f {
        for b in 0..a {
            comoment[a * f + b] = comoment[b * f + a];
        }
    }
    (count, mean, comoment)
}

impl FittedPcaResidual {
    /// Scale, eigen-decomposition and kept components from the moments.
    fn derive(&mut self) -> Result<()> {
        let f = self.features.len();
        let n1 = (self.count.max(2) - 1) as f64;
        self.scale = (0..f)
            .map(|j| {
                let sd = (self.comoment[j * f + j] / n1).sqrt();
                if self.params.standardize && sd > 0.0 && sd.is_finite() {
                    sd
                } else {
                    1.0
                }
            })
            .collect();
        let cov = nalgebra::DMatrix::from_fn(f, f, |a, b| {
            self.comoment[a * f + b] / n1 / (self.scale[a] * self.scale[b])
        });
        if cov.iter().any(|v| !v.is_finite()) {
            return Err(Error::InvalidInput(
                "the baseline's covariance is not finite (values too large for f64?)".into(),
            ));
        }
        let eig = nalgebra::SymmetricEigen::new(cov);
        let mut order: Vec<usize> = (0..f).collect();
        order.sort_by(|&a, &b| {
            eig.eigenvalues[b]
                .total_cmp(&eig.eigenvalues[a])
                .then(a.cmp(&b))
        });
        self.eigenvalues = order.iter().map(|&i| eig.eigenvalues[i].max(0.0)).collect();
        let total: f64 = self.eigenvalues.iter().sum();
        let mut k = 0;
        let mut acc = 0.0;
        while k < f.saturating_sub(1) && total > 0.0 && acc / total < self.params.variance {
            acc += self.eigenvalues[k];
            k += 1;
        }
        self.components = order[..k]
            .iter()
            .flat_map(|&i| {
                let v = eig.eigenvectors.column(i);
                // Sign convention: the largest-magnitude entry is positive (stable output).
                let lead = v
                    .iter()
                    .fold(0.0f64, |m, &e| if e.abs() > m.abs() { e } else { m });
                let s = if lead < 0.0 { -1.0 } else { 1.0 };
                v.iter().map(move |&e| e * s).collect::<Vec<_>>()
            })
            .collect();
        Ok(())
    }

    /// Number of kept components.
    pub fn n_components(&self) -> usize {
        self.components.len() / self.features.len().max(1)
    }

    /// Jackson & Mudholkar's Q-statistic cut-off of the SPE at the normal quantile `c_alpha`
    /// (3.2905 for a 0.001 false-alarm rate, as loglizer uses). `None` when no residual
    /// variance remains.
    pub fn q_threshold(&self, c_alpha: f64) -> Option<f64> {
        let rest = &self.eigenvalues[self.n_components().min(self.eigenvalues.len())..];
        let theta = |p: i32| rest.iter().map(|l| l.powi(p)).sum::<f64>();
        let (t1, t2, t3) = (theta(1), theta(2), theta(3));
        if t1 <= 0.0 || t2 <= 0.0 {
            return None;
        }
        let h0 = 1.0 - 2.0 * t1 * t3 / (3.0 * t2 * t2);
        let q = t1
            * (c_alpha * (2.0 * t2 * h0 * h0).sqrt() / t1 + 1.0 + t2 * h0 * (h0 - 1.0) / (t1 * t1))
                .powf(1.0 / h0);
        q.is_finite().then_some(q)
    }

    /// Per-feature signed residuals (row-major) and SPE scores of a row-major matrix.
    pub(crate) fn score(&self, x: &[f32]) -> (Vec<f32>, Vec<f32>) {
        let f = self.features.len();
        let k = self.n_components();
        let rows = x.len() / f.max(1);
        let mut resid = vec![0f32; x.len()];
        let mut score = vec![0f32; rows];
        resid
            .par_chunks_mut(f.max(1))
            .zip(score.par_iter_mut())
            .zip(x.par_chunks(f.max(1)))
            .with_min_len(256)
            .for_each(|((r, s), xr)| {
                if xr.iter().all(|v| v.is_nan()) {
                    r.fill(f32::NAN);
                    *s = f32::NAN;
                    return;
                }
                let z: Vec<f64> = (0..f)
                    .map(|j| {
                        if xr[j].is_nan() {
                            0.0
                        } else {
                            (f64::from(xr[j]) - self.mean[j]) / self.scale[j]
                        }
                    })
                    .collect();
                let mut proj = z.clone();
                for c in 0..k {
                    let p = &self.components[c * f..(c + 1) * f];
                    let t: f64 = p.iter().zip(&z).map(|(a, b)| a * b).sum();
                    for (pj, &a) in proj.iter_mut().zip(p) {
                        *pj -= t * a;
                    }
                }
                let mut spe = 0.0;
                for (o, &v) in r.iter_mut().zip(&proj) {
                    *o = v as f32;
                    spe += v * v;
                }
                *s = spe as f32;
            });
        (resid, score)
    }

    /// Merges two fits on two partitions of a baseline: counts add, means and co-moments
    /// combine exactly (Chan et al.), and the components are recomputed, so the result
    /// equals one fit on both partitions up to floating-point rounding.
    pub fn merge(&self, other: &FittedPcaResidual) -> Result<FittedPcaResidual> {
        if self.features != other.features || self.params != other.params {
            return Err(Error::param(
                "other",
                "the PCA models were fitted on different features or settings",
            ));
        }
        let f = self.features.len();
        let (na, nb) = (self.count as f64, other.count as f64);
        let n = na + nb;
        let delta: Vec<f64> = (0..f).map(|j| other.mean[j] - self.mean[j]).collect();
        let mut out = self.clone();
        out.count = self.count + other.count;
        for ((m, &a), d) in out.mean.iter_mut().zip(&self.mean).zip(&delta) {
            *m = a + d * nb / n;
        }
        for a in 0..f {
            for b in 0..f {
                out.comoment[a * f + b] = self.comoment[a * f + b]
                    + other.comoment[a * f + b]
                    + delta[a] * delta[b] * na * nb / n;
            }
        }
        out.derive()?;
        Ok(out)
    }

    /// Checks a loaded model's shape and values.
    pub(crate) fn validate_shape(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Model(format!("pca_residual: {m}")));
        self.params
            .validate()
            .map_err(|e| Error::Model(e.to_string()))?;
        let f = self.features.len();
        if f == 0 || f > MAX_FEATURES {
            return bad(format!("{f} features is not in 1..={MAX_FEATURES}"));
        }
        if self.mean.len() != f
            || self.comoment.len() != f * f
            || self.scale.len() != f
            || self.eigenvalues.len() != f
            || !self.components.len().is_multiple_of(f)
            || self.components.len() / f > f - 1
        {
            return bad("array lengths do not match the feature count".into());
        }
        if self.count < 2 {
            return bad("fewer than 2 baseline rows".into());
        }
        let finite = self
            .mean
            .iter()
            .chain(&self.comoment)
            .chain(&self.eigenvalues)
            .chain(&self.components)
            .all(|v| v.is_finite());
        if !finite || self.scale.iter().any(|&s| !(s.is_finite() && s > 0.0)) {
            return bad("values must be finite and scales > 0".into());
        }
        Ok(())
    }
}
