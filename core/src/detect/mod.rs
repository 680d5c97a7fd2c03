//! Detectors: fitted on the feature matrix of a baseline, they score rows and explain scores.

mod ensemble;
mod eval;
mod iforest;
mod pca;
mod rarity;
mod robust_z;

pub use ensemble::{Combine, Ensemble, FittedEnsemble};
pub use eval::{Evaluation, average_precision, evaluate};
pub use iforest::{FittedIsolationForest, IsolationForest, MAX_TREES, average_path_length};
pub use pca::{FittedPcaResidual, PcaResidual};
pub use rarity::{FittedRarity, Rarity, ValueCounts};
pub use robust_z::{FittedRobustZ, RobustZ};

use arrow::array::RecordBatch;
use serde::{Deserialize, Serialize};

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
}

/// What a detector returns for a batch.
#[derive(Clone, Debug, PartialEq)]
pub struct Scores {
    /// One score per row, higher = more anomalous; NaN when the row could not be scored.
    pub scores: Vec<f32>,
    /// Row-major: for each row, one contribution per item of `items`.
    pub contributions: Vec<f32>,
    /// What each contribution refers to (a feature, or for rarity a column combination).
    pub items: Vec<String>,
    /// For rarity, row-major like `contributions`: the value that was scored.
    pub values: Option<Vec<Option<String>>>,
}

impl Scores {
    /// Drops the contributions unless `explain`.
    fn explained(self, explain: bool) -> Scores {
        if explain {
            return self;
        }
        Scores {
            scores: self.scores,
            contributions: Vec::new(),
            items: Vec::new(),
            values: None,
        }
    }

    /// The `score` column: Float32, null where a row could not be scored.
    pub fn score_array(&self) -> arrow::array::Float32Array {
        self.scores
            .iter()
            .map(|&s| (!s.is_nan()).then_some(s))
            .collect()
    }

    /// The `explanation` column: per scored row, its `top_k` items by |contribution| as
    /// `List<Struct<feature: Utf8, contribution: Float32, value: Utf8>>` (null when unscored).
    pub fn explanation_array(&self, top_k: usize) -> arrow::array::ListArray {
        use arrow::array::{Float32Builder, ListBuilder, StringBuilder, StructBuilder};
        use std::sync::Arc;
        let width = self.items.len();
        let mut list = ListBuilder::new(StructBuilder::from_fields(explanation_fields(), top_k))
            .with_field(Arc::new(arrow::datatypes::Field::new(
                "item",
                explanation_item(),
                true,
            )));
        for (i, &s) in self.scores.iter().enumerate() {
            if s.is_nan() {
                list.append(false);
                continue;
            }
            let c = &self.contributions[i * width..(i + 1) * width];
            let item = list.values();
            for j in top_items(c, top_k) {
                if let Some(b) = item.field_builder::<StringBuilder>(0) {
                    b.append_value(&self.items[j]);
                }
                if let Some(b) = item.field_builder::<Float32Builder>(1) {
                    b.append_value(c[j]);
                }
                if let Some(b) = item.field_builder::<StringBuilder>(2) {
                    b.append_option(
                        self.values
                            .as_ref()
                            .and_then(|v| v[i * width + j].as_deref()),
                    );
                }
                item.append(true);
            }
            list.append(true);
        }
        list.finish()
    }
}

/// Fields of one explanation item: `feature`, `contribution`, `value`.
pub(crate) fn explanation_fields() -> arrow::datatypes::Fields {
    use arrow::datatypes::{DataType, Field};
    arrow::datatypes::Fields::from(vec![
        Field::new("feature", DataType::Utf8, false),
        Field::new("contribution", DataType::Float32, false),
        Field::new("value", DataType::Utf8, true),
    ])
}

/// Type of one explanation item.
pub(crate) fn explanation_item() -> arrow::datatypes::DataType {
    arrow::datatypes::DataType::Struct(explanation_fields())
}

/// Type of the `explanation` column.
pub fn explanation_type() -> arrow::datatypes::DataType {
    use std::sync::Arc;
    arrow::datatypes::DataType::List(Arc::new(arrow::datatypes::Field::new(
        "item",
        explanation_item(),
        true,
    )))
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
        let mut x = Vec::new();
        for b in baseline {
            x.extend(matrix_from_batch(b, columns)?);
        }
        self.fit(columns, &x, baseline, &Engine::new(backend))
    }

    pub(crate) fn validate(&self) -> Result<()> {
        match self {
            Detector::RobustZ(d) => d.validate(),
            Detector::IsolationForest(d) => d.validate(),
            Detector::PcaResidual(d) => d.validate(),
            Detector::Rarity(d) => d.validate(),
            Detector::Ensemble(d) => d.validate(),
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
            FittedDetector::RobustZ(d) => d.score(engine, x)?,
            FittedDetector::IsolationForest(d) => d.score(engine, x, explain)?,
            FittedDetector::PcaResidual(d) => d.score(x),
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

    /// Scores only (no explanations: cheaper for the isolation forest), NaN = unscored.
    pub fn score_samples(&self, batch: &RecordBatch, backend: Backend) -> Result<Vec<f32>> {
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
        }
    }
}

/// Indices of the `k` largest |contribution| of one row (NaN skipped, ties by index).
pub(crate) fn top_items(c: &[f32], k: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..c.len())
        .filter(|&j| !c[j].is_nan() && c[j] != 0.0)
        .collect();
    idx.sort_by(|&a, &b| c[b].abs().total_cmp(&c[a].abs()).then(a.cmp(&b)));
    idx.truncate(k);
    idx
}

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

/// (score, label) of the rows with a score.
pub(crate) fn scored_pairs(scores: &[f32], labels: &[bool]) -> Vec<(f32, bool)> {
    scores
        .iter()
        .zip(labels)
        .filter(|(s, _)| !s.is_nan())
        .map(|(&s, &l)| (s, l))
        .collect()
}

/// Area under the ROC curve of `scores` against `labels` (true = positive), with ties
/// counted as half (the Mann-Whitney U statistic). Rows with a NaN score are skipped.
/// `None` when there is no positive or no negative.
pub fn roc_auc(scores: &[f32], labels: &[bool]) -> Option<f64> {
    let mut pairs = scored_pairs(scores, labels);
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
