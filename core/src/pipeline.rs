//! Pipeline = ordered stages (row features, window features, ...) -> detector -> threshold -> explanation, fitted on a baseline and
//! saved as versioned JSON.

use std::collections::HashSet;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray, RecordBatch, StringArray, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use serde::{Deserialize, Serialize};

use crate::detect::{Detector, ExplainRows, FittedDetector, FittedRobustZ, Threshold};
use crate::engine::{Backend, DEFAULT_CHUNK_BYTES, Engine};
use crate::error::{Error, Result};
use crate::stage::Stage;

mod frame;

use frame::{FeatureFrame, feature_frame_with, with_feature_columns};

/// Name of the model format, first field of every saved pipeline.
pub const MODEL_FORMAT: &str = "vigil.pipeline";
/// Version of the model format this build reads and writes.
pub const MODEL_VERSION: u32 = 2;
/// Largest model file [`FittedPipeline::load`] reads.
pub const MAX_MODEL_BYTES: u64 = 256 << 20;

/// Output column of the row score (Float32, null when the row could not be scored).
pub const SCORE: &str = "score";
/// Output column of the explanation: `List<Struct<feature: Dictionary<Int32, Utf8>,
/// contribution: Float32, value: Utf8>>`, the row's top items by |contribution| (the
/// detector's docs say what a contribution is; `value` is the rare value for rarity, else
/// null). Only alert rows are explained by default, other rows are null (see
/// [`FittedPipeline::with_explain_rows`]).
pub const EXPLANATION: &str = "explanation";
/// Output column of the alert flag (Boolean, false for unscored rows).
pub const ALERT: &str = "alert";
/// Output column saying why a row has no score (Utf8, null for scored rows).
pub const UNSCORED_REASON: &str = "unscored_reason";

/// An unfitted pipeline. Build with [`Pipeline::builder`].
#[derive(Clone, Debug)]
pub struct Pipeline {
    features: Vec<Stage>,
    detector: Detector,
    threshold: Threshold,
    engine: Engine,
}

/// Builder of a [`Pipeline`].
#[derive(Clone, Debug, Default)]
pub struct PipelineBuilder {
    features: Vec<Stage>,
    detector: Detector,
    threshold: Threshold,
    backend: Backend,
    chunk_bytes: Option<usize>,
}

impl PipelineBuilder {
    /// Appends a stage: a row feature ([`crate::features`]) or a window-family stage
    /// ([`crate::window`]). Stages run in the order added.
    pub fn feature(mut self, stage: impl Into<Stage>) -> Self {
        self.features.push(stage.into());
        self
    }
    /// Sets the detector (default: `RobustZ::default()`).
    pub fn detector(mut self, detector: impl Into<Detector>) -> Self {
        self.detector = detector.into();
        self
    }
    /// Sets the alert threshold (default: above the baseline's 0.99 quantile).
    pub fn threshold(mut self, threshold: Threshold) -> Self {
        self.threshold = threshold;
        self
    }
    /// Sets the backend (default `Auto`).
    pub fn backend(mut self, backend: Backend) -> Self {
        self.backend = backend;
        self
    }
    /// Sets the bytes of input per GPU chunk (default 64 MiB).
    pub fn chunk_bytes(mut self, bytes: usize) -> Self {
        self.chunk_bytes = Some(bytes);
        self
    }
    /// Checks the specs and builds the pipeline.
    pub fn build(self) -> Result<Pipeline> {
        if self.features.is_empty() && self.detector.uses_matrix() {
            return Err(Error::param(
                "features",
                "a pipeline needs at least one feature (only a rarity detector scores without)",
            ));
        }
        for f in &self.features {
            f.validate()?;
        }
        check_unique_names(&self.features)?;
        self.detector.validate()?;
        self.threshold.validate()?;
        let chunk_bytes = self.chunk_bytes.unwrap_or(DEFAULT_CHUNK_BYTES);
        if chunk_bytes == 0 {
            return Err(Error::param("chunk_bytes", "must be > 0"));
        }
        Ok(Pipeline {
            features: self.features,
            detector: self.detector,
            threshold: self.threshold.clone(),
            engine: Engine {
                backend: self.backend,
                chunk_bytes,
                strict: false,
            },
        })
    }
}

fn check_unique_names(features: &[Stage]) -> Result<()> {
    let mut seen = HashSet::new();
    for f in features.iter().flat_map(|f| f.output_fields()) {
        if !seen.insert(f.name().clone()) {
            return Err(Error::param(
                "features",
                format!(
                    "two features write the column `{}`; give one a prefix with .named(..)",
                    f.name()
                ),
            ));
        }
    }
    Ok(())
}

impl Pipeline {
    /// A builder with no features, `RobustZ::default()`, the 0.99 baseline quantile and `Backend::Auto`.
    pub fn builder() -> PipelineBuilder {
        PipelineBuilder::default()
    }

    /// Fits features and detector on baseline batches, and the threshold on their scores.
    pub fn fit(&self, baseline: &[RecordBatch]) -> Result<FittedPipeline> {
        let rows: usize = baseline.iter().map(|b| b.num_rows()).sum();
        if rows == 0 {
            return Err(Error::InvalidInput(
                "the baseline has no rows; fit needs at least one".into(),
            ));
        }
        // Window stages look across rows: their baseline values come from the whole
        // baseline, not from each batch apart.
        let whole;
        let baseline = if baseline.len() > 1 && !self.features.iter().all(Stage::is_row_local) {
            whole = [arrow::compute::concat_batches(
                &baseline[0].schema(),
                baseline,
            )?];
            &whole[..]
        } else {
            baseline
        };
        let features = self
            .features
            .iter()
            .map(|f| f.fit(baseline))
            .collect::<Result<Vec<_>>>()?;
        let names: Vec<String> = features.iter().flat_map(|f| f.detector_names()).collect();
        let mut matrix = Vec::with_capacity(rows * names.len());
        let mut augmented = Vec::with_capacity(baseline.len());
        for batch in baseline {
            let frame = feature_frame_with(&features, &self.engine, batch, true, &[])?;
            augmented.push(with_feature_columns(batch, &frame.columns)?);
            matrix.extend(frame.matrix()?);
        }
        let detector = self
            .detector
            .fit(&names, &matrix, &augmented, &self.engine)?;
        let mut scores = Vec::with_capacity(rows);
        let mut at = 0;
        for batch in &augmented {
            let end = at + batch.num_rows() * names.len();
            scores.extend(
                detector
                    .score(&self.engine, &matrix[at..end], batch)?
                    .scores,
            );
            at = end;
        }
        let cutoff = self.threshold.cutoff(&scores);
        Ok(FittedPipeline {
            model: Model {
                format: MODEL_FORMAT.to_string(),
                version: MODEL_VERSION,
                features,
                detector,
                threshold: self.threshold.clone(),
                cutoff,
                baseline_rows: rows as u64,
            },
            engine: self.engine,
            explain: ExplainRows::default(),
            feature_columns: false,
        })
    }
}

/// The saved form of a fitted pipeline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Model {
    format: String,
    version: u32,
    features: Vec<Stage>,
    detector: FittedDetector,
    threshold: Threshold,
    cutoff: Option<f64>,
    baseline_rows: u64,
}

/// A fitted pipeline: scores batches, saves to and loads from versioned JSON.
#[derive(Clone, Debug)]
pub struct FittedPipeline {
    model: Model,
    engine: Engine,
    explain: ExplainRows,
    feature_columns: bool,
}

impl PartialEq for FittedPipeline {
    fn eq(&self, other: &Self) -> bool {
        self.model == other.model
    }
}

impl FittedPipeline {
    /// Names of the detector's features, in matrix order.
    pub fn feature_names(&self) -> &[String] {
        self.model.detector.features()
    }

    /// The fitted detector.
    pub fn detector(&self) -> &FittedDetector {
        &self.model.detector
    }

    /// The fitted robust-z detector (medians and scales), when that is the detector.
    pub fn robust_z(&self) -> Option<&FittedRobustZ> {
        match &self.model.detector {
            FittedDetector::RobustZ(d) => Some(d),
            _ => None,
        }
    }

    /// Merges this model with one fitted by the same pipeline on another partition of the
    /// baseline (see [`FittedDetector::merge`]). The cut-off of a baseline-quantile
    /// threshold cannot be merged exactly: the merged model keeps the larger of the two.
    pub fn merge(&self, other: &FittedPipeline) -> Result<FittedPipeline> {
        if self.model.features.len() != other.model.features.len()
            || self.model.threshold != other.model.threshold
        {
            return Err(Error::param(
                "other",
                "the models were fitted by different pipelines",
            ));
        }
        let mut out = self.clone();
        out.model.features = self
            .model
            .features
            .iter()
            .zip(&other.model.features)
            .map(|(a, b)| a.merge(b))
            .collect::<Result<Vec<_>>>()?;
        out.model.detector = self.model.detector.merge(&other.model.detector)?;
        out.model.baseline_rows += other.model.baseline_rows;
        out.model.cutoff = match (self.model.cutoff, other.model.cutoff) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        Ok(out)
    }

    /// The score above which a row is an alert (`None` for a top-N threshold).
    pub fn cutoff(&self) -> Option<f64> {
        self.model.cutoff
    }

    /// The threshold.
    pub fn threshold(&self) -> &Threshold {
        &self.model.threshold
    }

    /// The same model on another backend.
    pub fn with_backend(mut self, backend: Backend) -> Self {
        self.engine.backend = backend;
        self
    }

    /// The same model explaining `rows`: [`ExplainRows::Alerts`] (the default: other rows get
    /// a null `explanation`) or [`ExplainRows::All`]. Scores and alerts do not change.
    pub fn with_explain_rows(mut self, rows: ExplainRows) -> Self {
        self.explain = rows;
        self
    }

    /// Which rows [`score`](Self::score) explains.
    pub fn explain_rows(&self) -> ExplainRows {
        self.explain
    }

    /// The same model with the feature columns in [`score`](Self::score)'s output (`true`)
    /// or without them (`false`, the default). Scores, alerts and explanations do not
    /// change. Scoring returns verdicts: at 10M rows thirteen string features take about as
    /// much memory as the input table, for columns no one reads on quiet rows; the
    /// explanation names the features that drove each alert, [`alerts`](Self::alerts) keeps
    /// the features of its rows, and `extract` computes them for any table.
    pub fn with_feature_columns(mut self, keep: bool) -> Self {
        self.feature_columns = keep;
        self
    }

    /// Whether scoring an input of `bytes` bytes runs its kernels on the CPU (the backend,
    /// `VIGIL_BACKEND` and, for `Auto`, the input size and adapter decide).
    pub fn runs_on_cpu(&self, bytes: usize) -> Result<bool> {
        self.engine.runs_on_cpu(bytes)
    }

    /// Whether [`score`](Self::score)'s output has the feature columns.
    pub fn feature_columns(&self) -> bool {
        self.feature_columns
    }

    /// The same model with another GPU chunk size in bytes (> 0).
    pub fn with_chunk_bytes(mut self, bytes: usize) -> Self {
        self.engine.chunk_bytes = bytes.max(1);
        self
    }

    /// Schema of [`score`](Self::score)'s output for an input of `input` schema.
    pub fn output_schema(&self, input: &Schema) -> Result<SchemaRef> {
        let mut fields: Vec<Arc<Field>> = input.fields().iter().cloned().collect();
        // Feature names are checked against the input even when they are not output: the
        // detector reads them beside the input columns.
        let features: Vec<Field> = self
            .model
            .features
            .iter()
            .flat_map(|f| f.output_fields_for(input))
            .collect();
        for f in &features {
            if input.field_with_name(f.name()).is_ok() {
                return Err(Error::InvalidInput(format!(
                    "the input already has a column `{}`, which scoring would add; rename it or give the feature a prefix",
                    f.name()
                )));
            }
        }
        let mut added = if self.feature_columns {
            features
        } else {
            Vec::new()
        };
        added.push(Field::new(SCORE, DataType::Float32, true));
        added.push(Field::new(EXPLANATION, explanation_type(), true));
        added.push(Field::new(ALERT, DataType::Boolean, false));
        added.push(Field::new(UNSCORED_REASON, DataType::Utf8, true));
        for f in added {
            if input.field_with_name(f.name()).is_ok() {
                return Err(Error::InvalidInput(format!(
                    "the input already has a column `{}`, which scoring would add; rename it or give the feature a prefix",
                    f.name()
                )));
            }
            fields.push(Arc::new(f));
        }
        Ok(Arc::new(Schema::new_with_metadata(
            fields,
            input.metadata().clone(),
        )))
    }

    /// Scores one batch: the input columns, then the feature columns (only when
    /// [`with_feature_columns`](Self::with_feature_columns) asks for them), `score`,
    /// `explanation`, `alert` and `unscored_reason`. Every input row comes out, in order.
    pub fn score(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        self.score_given(batch, &[])
    }

    /// The stages, in order.
    pub(crate) fn stages(&self) -> &[Stage] {
        &self.model.features
    }

    /// The engine the model runs on.
    pub(crate) fn engine(&self) -> &Engine {
        &self.engine
    }

    /// [`score`](Self::score) with the columns of some stages given (`given[i]` for stage `i`).
    pub(crate) fn score_given(
        &self,
        batch: &RecordBatch,
        given: &[Option<Vec<ArrayRef>>],
    ) -> Result<RecordBatch> {
        let schema = self.output_schema(batch.schema().as_ref())?;
        let frame = feature_frame_with(&self.model.features, &self.engine, batch, false, given)?;
        let det = &self.model.detector;
        let augmented = with_feature_columns(batch, &frame.columns)?;
        let all = self.explain == ExplainRows::All;
        let out = if all {
            det.score_with(&self.engine, &frame.matrix()?, &augmented, true)?
        } else {
            // Block by block where the detector can: no whole matrix for explanations no
            // one reads.
            let read = frame.block_reader()?;
            det.score_blocks(
                &self.engine,
                frame.rows(),
                read,
                || frame.matrix(),
                &augmented,
            )?
        };
        let flags = self
            .model
            .threshold
            .flags(&out.scores, self.model.cutoff, batch)?;
        let reasons = unscored_reasons(&out.scores);
        let explanation = if all {
            out.explanation_array(det.top_k())
        } else {
            self.explain_alerts(&frame, &augmented, &flags)?
        };
        let score_array = out.score_array();
        let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
        if self.feature_columns {
            columns.extend(frame.columns.into_iter().map(|(_, a)| a));
        }
        columns.push(Arc::new(score_array));
        columns.push(Arc::new(explanation));
        columns.push(Arc::new(BooleanArray::from(flags)));
        columns.push(Arc::new(reasons) as Arc<StringArray>);
        Ok(RecordBatch::try_new(schema, columns)?)
    }

    /// The `explanation` column with only the `flags` rows explained (the others null):
    /// the detector rescores those rows alone, with contributions (every detector scores a
    /// row from that row only, so they equal what scoring every row with them gives).
    fn explain_alerts(
        &self,
        frame: &FeatureFrame,
        augmented: &RecordBatch,
        flags: &[bool],
    ) -> Result<arrow::array::ListArray> {
        let det = &self.model.detector;
        let rows: Vec<usize> = (0..flags.len()).filter(|&i| flags[i]).collect();
        if rows.is_empty() {
            let none = crate::detect::Scores {
                scores: Vec::new(),
                contributions: Vec::new(),
                items: Vec::new(),
                values: None,
            };
            return Ok(none.explanation_array_at(det.top_k(), &[], flags.len()));
        }
        let x = frame.rows_matrix(&rows)?;
        let indices = arrow::array::UInt32Array::from_iter_values(rows.iter().map(|&i| i as u32));
        let picked = arrow::compute::take_record_batch(augmented, &indices)?;
        let out = det.score_with(&self.engine, &x, &picked, true)?;
        Ok(out.explanation_array_at(det.top_k(), &rows, flags.len()))
    }

    /// Scores one batch and keeps only its alerts, with the feature columns (the columns of
    /// [`score`](Self::score) with [`with_feature_columns`](Self::with_feature_columns)`(true)`).
    pub fn alerts(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        let scored = if self.feature_columns {
            self.score(batch)?
        } else {
            self.clone().with_feature_columns(true).score(batch)?
        };
        let flags = scored
            .column_by_name(ALERT)
            .and_then(|c| c.as_any().downcast_ref::<BooleanArray>())
            .cloned()
            .ok_or_else(|| Error::InvalidInput("internal: no alert column".into()))?;
        Ok(arrow::compute::filter_record_batch(&scored, &flags)?)
    }

    /// The model as pretty JSON.
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string_pretty(&self.model).map_err(|e| Error::Model(e.to_string()))
    }

    /// Reads a model from JSON, checking format, version and shape; runs on `Backend::Auto`.
    pub fn from_json(json: &str) -> Result<Self> {
        let value: serde_json::Value =
            serde_json::from_str(json).map_err(|e| Error::Model(format!("not valid JSON: {e}")))?;
        let format = value.get("format").and_then(|v| v.as_str());
        if format != Some(MODEL_FORMAT) {
            return Err(Error::Model(format!(
                "not a vigil pipeline (format is {format:?}, expected \"{MODEL_FORMAT}\")"
            )));
        }
        let mut value = value;
        let version = value.get("version").and_then(|v| v.as_u64());
        if version == Some(1) {
            // Version 1 held a robust-z detector without a kind tag.
            if let Some(d) = value.get_mut("detector").and_then(|d| d.as_object_mut()) {
                d.insert("kind".into(), "robust_z".into());
            }
            value["version"] = u64::from(MODEL_VERSION).into();
        } else if version != Some(u64::from(MODEL_VERSION)) {
            return Err(Error::Model(format!(
                "model version {version:?} cannot be read by this vigil, which reads version {MODEL_VERSION}; refit the pipeline or use the vigil that wrote it"
            )));
        }
        let model: Model =
            serde_json::from_value(value).map_err(|e| Error::Model(format!("malformed: {e}")))?;
        for f in &model.features {
            f.validate().map_err(|e| Error::Model(e.to_string()))?;
        }
        check_unique_names(&model.features).map_err(|e| Error::Model(e.to_string()))?;
        model
            .threshold
            .validate()
            .map_err(|e| Error::Model(e.to_string()))?;
        model.detector.validate_shape()?;
        let names: Vec<String> = model
            .features
            .iter()
            .flat_map(|f| f.detector_names())
            .collect();
        if model.detector.uses_matrix() && names != model.detector.features() {
            return Err(Error::Model(format!(
                "the detector was fitted on {} features that do not match the {} the feature specs produce",
                model.detector.features().len(),
                names.len()
            )));
        }
        Ok(FittedPipeline {
            model,
            engine: Engine {
                backend: Backend::Auto,
                chunk_bytes: DEFAULT_CHUNK_BYTES,
                strict: false,
            },
            explain: ExplainRows::default(),
            feature_columns: false,
        })
    }

    /// Writes the model as JSON to `path`.
    pub fn save(&self, path: impl AsRef<std::path::Path>) -> Result<()> {
        let path = path.as_ref();
        std::fs::write(path, self.to_json()?).map_err(|source| Error::Io {
            path: path.display().to_string(),
            source,
        })
    }

    /// Reads a model saved by [`save`](Self::save) (at most 256 MiB).
    pub fn load(path: impl AsRef<std::path::Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = crate::error::read_capped_text(path, MAX_MODEL_BYTES)?;
        if text.len() as u64 > MAX_MODEL_BYTES {
            return Err(Error::Model(format!(
                "{} is larger than {MAX_MODEL_BYTES} bytes",
                path.display()
            )));
        }
        Self::from_json(&text)
    }
}

fn explanation_type() -> DataType {
    crate::detect::explanation_type()
}

/// The `unscored_reason` column: why each unscored (NaN) row has no score, null for the others.
fn unscored_reasons(scores: &[f32]) -> StringArray {
    if !scores.iter().any(|s| s.is_nan()) {
        return StringArray::new_null(scores.len());
    }
    let mut reasons = StringBuilder::new();
    for &s in scores {
        if s.is_nan() {
            reasons.append_value(
                "every feature is null for this row (null, empty-domain or non-finite input)",
            );
        } else {
            reasons.append_null();
        }
    }
    reasons.finish()
}
