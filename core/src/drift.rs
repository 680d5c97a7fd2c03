//! Data drift between a reference window and now: per feature, the population stability
//! index (PSI) and the Kolmogorov-Smirnov statistic, from histograms built by a GPU kernel
//! (`shaders/aggregate/histogram.wgsl`) or its CPU twin.

use arrow::array::RecordBatch;
use serde::{Deserialize, Serialize};

use crate::detect::matrix_from_batch;
use crate::engine::{Backend, Engine};
use crate::error::{Error, Result};

/// Settings of a drift comparison.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DriftOptions {
    /// PSI bins: the reference's quantiles at 1/bins, 2/bins, ... (equal-mass bins).
    pub psi_bins: usize,
    /// KS evaluation points: the reference's quantiles at 1/ks_bins, ...
    pub ks_bins: usize,
    /// A feature is flagged when its PSI reaches this (0.1 = moderate, 0.2 = significant
    /// shift by the usual rule of thumb).
    pub psi_threshold: f64,
    /// Proportions below this are raised to it in the PSI, so an empty bin stays finite.
    pub epsilon: f64,
}

impl Default for DriftOptions {
    fn default() -> Self {
        DriftOptions {
            psi_bins: 10,
            ks_bins: 256,
            psi_threshold: 0.2,
            epsilon: 1e-4,
        }
    }
}

impl DriftOptions {
    fn validate(&self) -> Result<()> {
        for (name, b) in [("psi_bins", self.psi_bins), ("ks_bins", self.ks_bins)] {
            if !(2..=4096).contains(&b) {
                return Err(Error::param(name, format!("{b} is not in 2..=4096")));
            }
        }
        if !(self.psi_threshold.is_finite() && self.psi_threshold > 0.0) {
            return Err(Error::param("psi_threshold", "must be finite and > 0"));
        }
        if !(self.epsilon > 0.0 && self.epsilon < 0.5) {
            return Err(Error::param("epsilon", "must be in (0, 0.5)"));
        }
        Ok(())
    }
}

/// Drift of one feature.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FeatureDrift {
    /// The feature (column) name.
    pub feature: String,
    /// Population stability index Σ (q - p) ln(q / p) over the PSI bins (p reference, q
    /// current proportions of non-null values).
    pub psi: f64,
    /// Largest |F_ref(e) - F_cur(e)| over the KS evaluation points e (the exact KS statistic
    /// when every distinct value is an evaluation point, else a lower bound).
    pub ks: f64,
    /// Asymptotic Kolmogorov p-value of `ks` for the two sample sizes.
    pub ks_pvalue: f64,
    /// Null share in the reference.
    pub reference_null_share: f64,
    /// Null share now.
    pub current_null_share: f64,
    /// PSI >= the threshold.
    pub drifted: bool,
}

/// The reference side of a drift comparison: bin edges and histograms. Histograms of the
/// current window from several partitions add up exactly ([`Histograms::merge`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DriftReference {
    /// The settings.
    pub options: DriftOptions,
    /// Compared columns.
    pub columns: Vec<String>,
    psi_edges: Vec<f32>,
    ks_edges: Vec<f32>,
    reference: Histograms,
}

/// Per-feature counts of one window over a reference's bins.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Histograms {
    psi: Vec<u64>,
    ks: Vec<u64>,
}

impl Histograms {
    /// Adds another partition's counts (over the same reference).
    pub fn merge(&self, other: &Histograms) -> Result<Histograms> {
        if self.psi.len() != other.psi.len() || self.ks.len() != other.ks.len() {
            return Err(Error::param("other", "histograms of different references"));
        }
        let add = |a: &[u64], b: &[u64]| a.iter().zip(b).map(|(x, y)| x + y).collect();
        Ok(Histograms {
            psi: add(&self.psi, &other.psi),
            ks: add(&self.ks, &other.ks),
        })
    }
}

/// `bins - 1` edges per feature: quantiles i/bins of each feature's non-null values (ties
/// kept, so equal edges make empty bins, which both windows share).
fn quantile_edges(x: &[f32], f: usize, bins: usize, columns: &[String]) -> Result<Vec<f32>> {
    let mut edges = Vec::with_capacity(f * (bins - 1));
    for (j, name) in columns.iter().enumerate() {
        let mut v: Vec<f32> = x
            .iter()
            .skip(j)
            .step_by(f)
            .copied()
            .filter(|v| !v.is_nan())
            .collect();
        if v.is_empty() {
            return Err(Error::InvalidInput(format!(
                "column `{name}` has no non-null value in the reference window"
            )));
        }
        v.sort_by(f32::total_cmp);
        for i in 1..bins {
            let pos = (i * (v.len() - 1)) as f64 / bins as f64;
            edges.push(v[pos.round() as usize]);
        }
    }
    Ok(edges)
}

impl DriftReference {
    /// Bins and histograms of the reference window's numeric `columns`.
    pub fn fit(
        reference: &[RecordBatch],
        columns: &[String],
        options: DriftOptions,
        backend: Backend,
    ) -> Result<DriftReference> {
        options.validate()?;
        if columns.is_empty() {
            return Err(Error::param("columns", "name at least one column"));
        }
        let mut x = Vec::new();
        for b in reference {
            x.extend(matrix_from_batch(b, columns)?);
        }
        let f = columns.len();
        let psi_edges = quantile_edges(&x, f, options.psi_bins, columns)?;
        let ks_edges = quantile_edges(&x, f, options.ks_bins, columns)?;
        let mut out = DriftReference {
            options,
            columns: columns.to_vec(),
            psi_edges,
            ks_edges,
            reference: Histograms {
                psi: Vec::new(),
                ks: Vec::new(),
            },
        };
        out.reference = out.histogram_matrix(&x, &Engine::new(backend))?;
        Ok(out)
    }

    fn histogram_matrix(&self, x: &[f32], engine: &Engine) -> Result<Histograms> {
        let f = self.columns.len();
        Ok(Histograms {
            psi: engine.histogram(x, f, &self.psi_edges, self.options.psi_bins)?,
            ks: engine.histogram(x, f, &self.ks_edges, self.options.ks_bins)?,
        })
    }

    /// Histograms of a window (or one partition of it) over the reference's bins.
    pub fn histogram(&self, batches: &[RecordBatch], backend: Backend) -> Result<Histograms> {
        let engine = Engine::new(backend);
        let mut total: Option<Histograms> = None;
        for b in batches {
            let h = self.histogram_matrix(&matrix_from_batch(b, &self.columns)?, &engine)?;
            total = Some(match total {
                None => h,
                Some(t) => t.merge(&h)?,
            });
        }
        match total {
            Some(t) => Ok(t),
            None => self.histogram_matrix(&[], &engine),
        }
    }

    /// Compares a window's histograms with the reference, feature by feature.
    pub fn compare(&self, current: &Histograms) -> Result<Vec<FeatureDrift>> {
        let o = &self.options;
        let (pb, kb) = (o.psi_bins + 1, o.ks_bins + 1);
        let f = self.columns.len();
        if current.psi.len() != f * pb || current.ks.len() != f * kb {
            return Err(Error::param(
                "current",
                "histograms of a different reference",
            ));
        }
        let mut out = Vec::with_capacity(f);
        for (j, name) in self.columns.iter().enumerate() {
            let r = &self.reference.psi[j * pb..(j + 1) * pb];
            let c = &current.psi[j * pb..(j + 1) * pb];
            let (rn, cn) = (
                r[..pb - 1].iter().sum::<u64>(),
                c[..pb - 1].iter().sum::<u64>(),
            );
            let share = |n: u64, total: u64| {
                if total == 0 {
                    0.0
                } else {
                    n as f64 / total as f64
                }
            };
            let psi = if cn == 0 {
                f64::NAN
            } else {
                (0..pb - 1)
                    .map(|b| {
                        let p = share(r[b], rn).max(o.epsilon);
                        let q = share(c[b], cn).max(o.epsilon);
                        (q - p) * (q / p).ln()
                    })
                    .sum()
            };
            let rk = &self.reference.ks[j * kb..(j + 1) * kb];
            let ck = &current.ks[j * kb..(j + 1) * kb];
            let (mut fr, mut fc, mut ks) = (0u64, 0u64, 0f64);
            for b in 0..kb - 1 {
                fr += rk[b];
                fc += ck[b];
                ks = ks.max((share(fr, rn) - share(fc, cn)).abs());
            }
            let ks = if cn == 0 { f64::NAN } else { ks };
            out.push(FeatureDrift {
                feature: name.clone(),
                psi,
                ks,
                ks_pvalue: kolmogorov_pvalue(ks, rn, cn),
                reference_null_share: share(r[pb - 1], rn + r[pb - 1]),
                current_null_share: share(c[pb - 1], cn + c[pb - 1]),
                drifted: psi >= o.psi_threshold,
            });
        }
        Ok(out)
    }
}

/// Asymptotic two-sample Kolmogorov-Smirnov p-value (Stephens' small-sample correction).
fn kolmogorov_pvalue(d: f64, n: u64, m: u64) -> f64 {
    if n == 0 || m == 0 || d.is_nan() {
        return f64::NAN;
    }
    let ne = (n as f64 * m as f64) / (n + m) as f64;
    let sq = ne.sqrt();
    let lambda = (sq + 0.12 + 0.11 / sq) * d;
    if lambda < 0.2 {
        return 1.0;
    }
    let mut sum = 0.0;
    for k in 1..=100 {
        let k = f64::from(k);
        let term = 2.0 * (-1f64).powf(k - 1.0) * (-2.0 * k * k * lambda * lambda).exp();
        sum += term;
        if term.abs() < 1e-12 {
            break;
        }
    }
    sum.clamp(0.0, 1.0)
}

/// Per-feature drift of `current` against `reference` over numeric `columns`.
pub fn drift(
    reference: &[RecordBatch],
    current: &[RecordBatch],
    columns: &[String],
    options: DriftOptions,
    backend: Backend,
) -> Result<Vec<FeatureDrift>> {
    let r = DriftReference::fit(reference, columns, options, backend)?;
    r.compare(&r.histogram(current, backend)?)
}
