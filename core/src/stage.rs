//! Pipeline stages: each reads columns of a batch and appends named columns, none reaching
//! back. Row features ([`crate::features`]) and window-family stages ([`crate::window`]:
//! windowed aggregates, time features, beacon scores) are stages; the pipeline holds an
//! ordered list of them, so the stage families never need to know about each other.

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch};
use arrow::datatypes::{Field, Schema};
use serde::{Deserialize, Serialize};

use crate::engine::{Backend, Engine};
use crate::error::{Error, Result};
use crate::features::{Feature, scalar_names};
use crate::intel::IntelStage;
use crate::window::WindowStage;

/// One step of a pipeline. Saved in model files as the inner spec (`column`, `kind`, its
/// parameters, `prefix`), so files keep one shape whatever the family.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Stage {
    /// A per-row feature of one column (string features, numeric transforms).
    Row(Feature),
    /// A windowed aggregate, time features or a beacon score.
    Window(WindowStage),
    /// Threat-intel matches per row (`intel_hits`, `intel_max_confidence`).
    Intel(IntelStage),
}

impl From<Feature> for Stage {
    fn from(f: Feature) -> Self {
        Stage::Row(f)
    }
}

impl From<IntelStage> for Stage {
    fn from(i: IntelStage) -> Self {
        Stage::Intel(i)
    }
}

impl From<WindowStage> for Stage {
    fn from(w: WindowStage) -> Self {
        Stage::Window(w)
    }
}

/// `kind` tags of the window family in saved specs.
const WINDOW_KINDS: [&str; 3] = ["window", "time_features", "beaconing"];

impl Serialize for Stage {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            Stage::Row(f) => f.serialize(s),
            Stage::Window(w) => w.serialize(s),
            Stage::Intel(i) => i.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Stage {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use serde::de::Error as _;
        let value = serde_json::Value::deserialize(d)?;
        let kind = value.get("kind").and_then(|k| k.as_str());
        if kind == Some("intel") {
            IntelStage::deserialize(value)
                .map(Stage::Intel)
                .map_err(D::Error::custom)
        } else if kind.is_some_and(|k| WINDOW_KINDS.contains(&k)) {
            WindowStage::deserialize(value)
                .map(Stage::Window)
                .map_err(D::Error::custom)
        } else {
            Feature::deserialize(value)
                .map(Stage::Row)
                .map_err(D::Error::custom)
        }
    }
}

impl Stage {
    /// The stage's main input column.
    pub fn column(&self) -> &str {
        match self {
            Stage::Row(f) => &f.column,
            Stage::Window(w) => &w.column,
            Stage::Intel(i) => i.column(),
        }
    }

    /// Checks parameters; called by the pipeline builder and when loading a model.
    pub fn validate(&self) -> Result<()> {
        match self {
            Stage::Row(f) => f.validate(),
            Stage::Window(w) => w.validate(),
            Stage::Intel(i) => i.validate(),
        }
    }

    /// Output columns, in order.
    pub fn output_fields(&self) -> Vec<Field> {
        match self {
            Stage::Row(f) => f.output_fields(),
            Stage::Window(w) => w.output_fields(),
            Stage::Intel(i) => i.output_fields(),
        }
    }

    /// Names of the scalar values a detector sees (vectors expand to `name[i]`).
    pub fn detector_names(&self) -> Vec<String> {
        scalar_names(&self.output_fields())
    }

    /// Fills in what is fitted on the baseline (e.g. standardisation's mean and std).
    pub(crate) fn fit(&self, baseline: &[RecordBatch]) -> Result<Stage> {
        Ok(match self {
            Stage::Row(f) => Stage::Row(f.fit(baseline)?),
            Stage::Window(w) => Stage::Window(w.clone()),
            Stage::Intel(i) => Stage::Intel(i.clone()),
        })
    }

    /// Computes the output columns for `batch`.
    pub(crate) fn compute(&self, batch: &RecordBatch, engine: &Engine) -> Result<Vec<ArrayRef>> {
        match self {
            Stage::Row(f) => f.compute(batch, engine),
            Stage::Window(w) => w.compute(batch, engine),
            Stage::Intel(i) => i.compute(batch),
        }
    }
}

/// Computes `stages` on `batch` and returns the input columns followed by the stages'
/// columns, without a detector. Whatever a stage fits (a `standardize` without mean/std) is
/// fitted on `batch` itself.
pub fn extract<S: Clone + Into<Stage>>(
    stages: &[S],
    batch: &RecordBatch,
    backend: Backend,
) -> Result<RecordBatch> {
    let engine = Engine::new(backend);
    let mut fields: Vec<Arc<Field>> = batch.schema().fields().iter().cloned().collect();
    let mut columns = batch.columns().to_vec();
    for s in stages {
        let stage: Stage = s.clone().into();
        stage.validate()?;
        let fitted = stage.fit(std::slice::from_ref(batch))?;
        for (field, array) in fitted
            .output_fields()
            .into_iter()
            .zip(fitted.compute(batch, &engine)?)
        {
            if fields.iter().any(|x| x.name() == field.name()) {
                return Err(Error::InvalidInput(format!(
                    "column `{}` would appear twice; give the feature a prefix with .named(..)",
                    field.name()
                )));
            }
            fields.push(Arc::new(field));
            columns.push(array);
        }
    }
    let schema = Arc::new(Schema::new_with_metadata(
        fields,
        batch.schema().metadata().clone(),
    ));
    Ok(RecordBatch::try_new(schema, columns)?)
}
