//! Detectors: fitted on the feature matrix of a baseline, they score rows and explain scores.

mod ensemble;
mod eval;
mod explain;
mod iforest;
mod pca;
mod rarity;
mod robust_z;
mod tail;
mod threshold;

pub use ensemble::{Combine, Ensemble, FittedEnsemble};
pub use eval::{Evaluation, average_precision, evaluate, roc_auc};
pub use explain::{ExplainRows, Scores, explanation_type};
pub use iforest::{FittedIsolationForest, IsolationForest, MAX_TREES, average_path_length};
pub use pca::{FittedPcaResidual, PcaResidual};
pub use rarity::{FittedRarity, Rarity, ValueCounts};
pub use robust_z::{FittedRobustZ, RobustZ};
pub use tail::{FittedTailRarity, TailRarity};
pub use threshold::Threshold;

use arrow::array::RecordBatch;
use serde::{Deserialize, Serialize};

use crate::engine::feature_columns::FeatureColumns;
use crate::engine::{Backend, Engine};
use crate::error::{Error, Result};

/// Name of the standalone detector format ([`FittedDetector::to_json`]).
pub const DETECTOR_FORMAT: &str = "vigil.detector";
/// Version of the standalone detector format this build reads and writes.
pub const DETECTOR_VERSION: u32 = 1;

/// An anomaly detector's settings, before fitting.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Detector {
    /// Median/MAD robust z-scores ([`RobustZ`]).
    RobustZ(RobustZ),
    /// Isolation forest ([`IsolationForest`]).
    IsolationForest(IsolationForest),
    /// PCA residual / squared prediction error ([`PcaResidual`]).
    PcaResidual(PcaResidual),
    /// Rarity of categorical values ([`Rarity`]); reads columns, not the feature matrix.
    Rarity(Rarity),
    /// Several detectors combined ([`Ensemble`]).
    Ensemble(Ensemble),
    /// One-sided tail rarity of each feature, surprisals added ([`TailRarity`]).
    TailRarity(TailRarity),
}

impl Default for Detector {
    fn default() -> Self {
        Detector::RobustZ(RobustZ::default())
    }
}

impl From<RobustZ> for Detector {
    fn from(d: RobustZ) -> Self {
        Detector::RobustZ(d)
    }
}

impl From<IsolationForest> for Detector {
    fn from(d: IsolationForest) -> Self {
        Detector::IsolationForest(d)
    }
}

impl From<PcaResidual> for Detector {
    fn from(d: PcaResidual) -> Self {
        Detector::PcaResidual(d)
    }
}

impl From<Rarity> for Detector {
    fn from(d: Rarity) -> Self {
        Detector::Rarity(d)
    }
}

impl From<TailRarity> for Detector {
    fn from(d: TailRarity) -> Self {
        Detector::TailRarity(d)
    }
}

impl From<Ensemble> for Detector {
    fn from(d: Ensemble) -> Self {
        Detector::Ensemble(d)
    }
}

/// A fitted detector: what a saved model holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum FittedDetector {
    /// A fitted [`RobustZ`].
    RobustZ(FittedRobustZ),
    /// A fitted [`IsolationForest`].
    IsolationForest(FittedIsolationForest),
    /// A fitted [`PcaResidual`].
    PcaResidual(FittedPcaResidual),
    /// A fitted [`Rarity`].
    Rarity(FittedRarity),
    /// A fitted [`Ensemble`].
    Ensemble(FittedEnsemble),
    /// A fitted [`TailRarity`].
    TailRarity(FittedTailRarity),
}

/// The row-major f32 matrix of numeric `columns` of `batch` (any integer, float or boolean
/// type; nulls and non-finite values become NaN, i.e. null).
pub fn matrix_from_batch(batch: &RecordBatch, columns: &[String]) -> Result<Vec<f32>> {
    let rows = batch.num_rows();
    let f = columns.len();
    let mut x = vec![f32::NAN; rows * f];
    for (j, name) in columns.iter().enumerate() {
        let values = crate::columns::numeric_values(batch, name, true)?;
        for (i, v) in values.into_iter().enumerate() {
            x[i * f + j] = v;
        }
    }
    Ok(x)
}

/// Logs a warning naming each column whose baseline holds NaN or +-inf: those values are
/// fitted as nulls (left out of medians, moments and sums; replaced by the mean in trees).
/// Float32 and Float64 columns are read where Arrow holds them, the columns in parallel.
fn warn_non_finite(baseline: &[RecordBatch], columns: &[String]) {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{DataType, Float32Type, Float64Type};
    use rayon::prelude::*;

    fn non_finite(array: &dyn Array) -> usize {
        match array.data_type() {
            DataType::Float32 => array
                .as_primitive::<Float32Type>()
                .iter()
                .filter(|v| v.is_some_and(|v| !v.is_finite()))
                .count(),
            DataType::Float64 => array
                .as_primitive::<Float64Type>()
                .iter()
                .filter(|v| v.is_some_and(|v| !v.is_finite()))
                .count(),
            t if t.is_floating() => arrow::compute::cast(array, &DataType::Float64)
                .map_or(0, |f| non_finite(f.as_ref())),
            _ => 0,
        }
    }
    let bad: Vec<usize> = columns
        .par_iter()
        .map(|name| {
            baseline
                .iter()
                .filter_map(|b| b.column_by_name(name))
                .map(|a| non_finite(a.as_ref()))
                .sum()
        })
        .collect();
    for (name, bad) in columns.iter().zip(bad) {
        if bad > 0 {
            log::warn!(
                "column `{name}` has {bad} non-finite value(s) (NaN or +-inf) in the baseline; they are fitted as nulls"
            );
        }
    }
}

impl Detector {
    /// Fits on the numeric `columns` of baseline batches (see [`matrix_from_batch`]), outside
    /// a pipeline; `backend` runs any scoring the fit needs.
    pub fn fit_batches(
        &self,
        baseline: &[RecordBatch],
        columns: &[String],
        backend: Backend,
    ) -> Result<FittedDetector> {
        self.validate()?;
        if let Detector::IsolationForest(d) = self {
            // Read where Arrow holds the columns: no row-major copy of the baseline.
            let x = FeatureColumns::from_batches(baseline, columns)?;
            warn_non_finite(baseline, columns);
            return Ok(FittedDetector::IsolationForest(d.fit_columns(columns, &x)?));
        }
        let mut x = Vec::new();
        for b in baseline {
            x.extend(matrix_from_batch(b, columns)?);
        }
        warn_non_finite(baseline, columns);
        self.fit(columns, &x, baseline, &Engine::new(backend))
    }

    pub(crate) fn validate(&self) -> Result<()> {
        match self {
            Detector::RobustZ(d) => d.validate(),
            Detector::IsolationForest(d) => d.validate(),
            Detector::PcaResidual(d) => d.validate(),
            Detector::Rarity(d) => d.validate(),
            Detector::Ensemble(d) => d.validate(),
            Detector::TailRarity(d) => d.validate(),
        }
    }

    /// Whether it scores the feature matrix (every detector but rarity).
    pub(crate) fn uses_matrix(&self) -> bool {
        match self {
            Detector::Rarity(_) => false,
            Detector::Ensemble(e) => e.members.iter().any(Detector::uses_matrix),
            _ => true,
        }
    }

    /// Fits on the baseline's feature matrix (row-major, `names.len()` features per row, NaN =
    /// null) and, for detectors that read columns directly, its batches.
    pub(crate) fn fit(
        &self,
        names: &[String],
        x: &[f32],
        baseline: &[RecordBatch],
        engine: &Engine,
    ) -> Result<FittedDetector> {
        Ok(match self {
            Detector::RobustZ(d) => FittedDetector::RobustZ(d.fit(names, x)?),
            Detector::IsolationForest(d) => FittedDetector::IsolationForest(d.fit(names, x)?),
            Detector::PcaResidual(d) => FittedDetector::PcaResidual(d.fit(names, x)?),
            Detector::Rarity(d) => FittedDetector::Rarity(d.fit(baseline)?),
            Detector::TailRarity(d) => FittedDetector::TailRarity(d.fit(names, x)?),
            Detector::Ensemble(e) => {
                e.validate()?;
                let mut members = Vec::with_capacity(e.members.len());
                let mut knots = Vec::with_capacity(e.members.len());
                for m in &e.members {
                    let fitted = m.fit(names, x, baseline, engine)?;
                    let mut scores = Vec::new();
                    let mut at = 0;
                    for batch in baseline {
                        let end = at + batch.num_rows() * names.len();
                        let part = x.get(at..end).unwrap_or_default();
                        scores.extend(fitted.score(engine, part, batch)?.scores);
                        at = end;
                    }
                    let k = ensemble::knots(&scores);
                    if k.is_empty() {
                        return Err(Error::InvalidInput(
                            "an ensemble member scored no baseline row".into(),
                        ));
                    }
                    members.push(fitted);
                    knots.push(k);
                }
                FittedDetector::Ensemble(FittedEnsemble {
                    combine: e.combine,
                    top_k: e.top_k,
                    members,
                    knots,
                })
            }
        })
    }
}

impl FittedDetector {
    /// Names of the feature-matrix columns it was fitted on.
    /// Empty for rarity, which reads its columns directly.
    pub fn features(&self) -> &[String] {
        match self {
            FittedDetector::RobustZ(d) => &d.features,
            FittedDetector::IsolationForest(d) => &d.features,
            FittedDetector::PcaResidual(d) => &d.features,
            FittedDetector::TailRarity(d) => &d.features,
            FittedDetector::Rarity(_) => &[],
            FittedDetector::Ensemble(e) => e
                .members
                .iter()
                .map(FittedDetector::features)
                .find(|f| !f.is_empty())
                .unwrap_or_default(),
        }
    }

    /// Whether it scores the feature matrix (every detector but rarity).
    pub(crate) fn uses_matrix(&self) -> bool {
        match self {
            FittedDetector::Rarity(_) => false,
            FittedDetector::Ensemble(e) => e.members.iter().any(FittedDetector::uses_matrix),
            _ => true,
        }
    }

    /// Items listed in each explanation.
    pub fn top_k(&self) -> usize {
        match self {
            FittedDetector::RobustZ(d) => d.params.top_k,
            FittedDetector::IsolationForest(d) => d.params.top_k,
            FittedDetector::PcaResidual(d) => d.params.top_k,
            FittedDetector::Rarity(d) => d.params.top_k,
            FittedDetector::Ensemble(e) => e.top_k,
            FittedDetector::TailRarity(d) => d.params.top_k,
        }
    }

    /// Scores the feature matrix `x` of `batch`, with explanations.
    pub(crate) fn score(&self, engine: &Engine, x: &[f32], batch: &RecordBatch) -> Result<Scores> {
        self.score_with(engine, x, batch, true)
    }

    /// Scores, with contributions only when `explain` (else `contributions` and `items` are
    /// empty and `values` is `None`).
    pub(crate) fn score_with(
        &self,
        engine: &Engine,
        x: &[f32],
        batch: &RecordBatch,
        explain: bool,
    ) -> Result<Scores> {
        let (contributions, scores) = match self {
            FittedDetector::RobustZ(d) => d.score(engine, x, explain)?,
            FittedDetector::IsolationForest(d) => d.score(engine, x, explain)?,
            FittedDetector::PcaResidual(d) => d.score(x),
            FittedDetector::TailRarity(d) => d.score(x),
            FittedDetector::Rarity(d) => {
                let (contributions, values, scores) = d.score(batch)?;
                return Ok(Scores {
                    scores,
                    contributions,
                    items: d.items(),
                    values: Some(values),
                }
                .explained(explain));
            }
            FittedDetector::Ensemble(e) => {
                let outs = e
                    .members
                    .iter()
                    .map(|m| m.score_with(engine, x, batch, explain))
                    .collect::<Result<Vec<_>>>()?;
                return Ok(e.combine(outs));
            }
        };
        Ok(Scores {
            scores,
            contributions,
            items: self.features().to_vec(),
            values: None,
        }
        .explained(explain))
    }

    /// Scores without contributions, the rows read from a row-major matrix block by block
    /// (`read(start, block)` writes rows `start..` into `block`) where the detector can
    /// (robust z on the CPU: no whole matrix is built), else from `matrix()`.
    pub(crate) fn score_blocks(
        &self,
        engine: &Engine,
        rows: usize,
        read: impl Fn(usize, &mut [f32]) + Sync,
        matrix: impl FnOnce() -> Result<Vec<f32>>,
        batch: &RecordBatch,
    ) -> Result<Scores> {
        if let FittedDetector::RobustZ(d) = self {
            return Ok(Scores {
                scores: d.score_blocks(engine, rows, read, matrix)?,
                contributions: Vec::new(),
                items: self.features().to_vec(),
                values: None,
            }
            .explained(false));
        }
        self.score_with(engine, &matrix()?, batch, false)
    }

    /// Scores only (no explanations: cheaper for the isolation forest), NaN = unscored.
    pub fn score_samples(&self, batch: &RecordBatch, backend: Backend) -> Result<Vec<f32>> {
        if let FittedDetector::IsolationForest(d) = self {
            // Read where Arrow holds the columns: no row-major copy of the input.
            let x = FeatureColumns::from_batch(batch, self.features())?;
            return d.score_columns(&Engine::new(backend), &x);
        }
        let x = matrix_from_batch(batch, self.features())?;
        Ok(self
            .score_with(&Engine::new(backend), &x, batch, false)?
            .scores)
    }

    /// Scores a batch outside a pipeline: reads the columns named by [`features`](Self::features)
    /// (and, for rarity, its categorical columns).
    pub fn score_batch(&self, batch: &RecordBatch, backend: Backend) -> Result<Scores> {
        let x = matrix_from_batch(batch, self.features())?;
        self.score(&Engine::new(backend), &x, batch)
    }

    /// The fitted detector as versioned JSON (format `vigil.detector`).
    pub fn to_json(&self) -> Result<String> {
        let value = serde_json::json!({
            "format": DETECTOR_FORMAT,
            "version": DETECTOR_VERSION,
            "detector": self,
        });
        serde_json::to_string_pretty(&value).map_err(|e| Error::Model(e.to_string()))
    }

    /// Reads a detector saved by [`to_json`](Self::to_json), checking format, version, size
    /// and shape: a corrupted or hostile file is an error, never a panic.
    pub fn from_json(json: &str) -> Result<Self> {
        if json.len() as u64 > crate::MAX_MODEL_BYTES {
            return Err(Error::Model(format!(
                "the detector is larger than {} bytes",
                crate::MAX_MODEL_BYTES
            )));
        }
        let mut value: serde_json::Value =
            serde_json::from_str(json).map_err(|e| Error::Model(format!("not valid JSON: {e}")))?;
        let format = value.get("format").and_then(|v| v.as_str());
        if format != Some(DETECTOR_FORMAT) {
            return Err(Error::Model(format!(
                "not a vigil detector (format is {format:?}, expected \"{DETECTOR_FORMAT}\")"
            )));
        }
        let version = value.get("version").and_then(|v| v.as_u64());
        if version != Some(u64::from(DETECTOR_VERSION)) {
            return Err(Error::Model(format!(
                "detector version {version:?} cannot be read by this vigil, which reads version {DETECTOR_VERSION}"
            )));
        }
        let detector = value
            .get_mut("detector")
            .map(serde_json::Value::take)
            .ok_or_else(|| Error::Model("no `detector` field".into()))?;
        let detector: FittedDetector = serde_json::from_value(detector)
            .map_err(|e| Error::Model(format!("malformed: {e}")))?;
        detector.validate_shape()?;
        Ok(detector)
    }

    /// Merges two fits of the same detector on two partitions of a baseline, where the
    /// statistic allows an exact merge (see each detector); an error otherwise.
    pub fn merge(&self, other: &FittedDetector) -> Result<FittedDetector> {
        match (self, other) {
            (FittedDetector::IsolationForest(a), FittedDetector::IsolationForest(b)) => {
                Ok(FittedDetector::IsolationForest(a.merge(b)?))
            }
            (FittedDetector::PcaResidual(a), FittedDetector::PcaResidual(b)) => {
                Ok(FittedDetector::PcaResidual(a.merge(b)?))
            }
            (FittedDetector::Rarity(a), FittedDetector::Rarity(b)) => {
                Ok(FittedDetector::Rarity(a.merge(b)?))
            }
            (FittedDetector::Ensemble(_), FittedDetector::Ensemble(_)) => Err(Error::param(
                "other",
                "an ensemble's baseline quantiles cannot be merged exactly; merge its members \
                 and fit the ensemble on the whole baseline",
            )),
            (FittedDetector::TailRarity(_), FittedDetector::TailRarity(_)) => Err(Error::param(
                "other",
                "tail rarity's baseline quantiles cannot be merged exactly; fit it on the whole baseline",
            )),
            (FittedDetector::RobustZ(_), FittedDetector::RobustZ(_)) => Err(Error::param(
                "other",
                "robust_z medians and MADs cannot be merged exactly; fit it on the whole baseline",
            )),
            _ => Err(Error::param(
                "other",
                "the two models use different detectors",
            )),
        }
    }

    pub(crate) fn validate_shape(&self) -> Result<()> {
        match self {
            FittedDetector::RobustZ(d) => d.validate_shape(),
            FittedDetector::IsolationForest(d) => d.validate_shape(),
            FittedDetector::PcaResidual(d) => d.validate_shape(),
            FittedDetector::Rarity(d) => d.validate_shape(),
            FittedDetector::Ensemble(d) => d.validate_shape(),
            FittedDetector::TailRarity(d) => d.validate_shape(),
        }
    }
}
