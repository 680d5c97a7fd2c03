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
use crate::sigma::SigmaStage;
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
    /// Sigma rule hits per event (`sigma_max_level`, `sigma_rules`).
    Sigma(SigmaStage),
}

impl From<SigmaStage> for Stage {
    fn from(s: SigmaStage) -> Self {
        Stage::Sigma(s)
    }
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
            Stage::Sigma(r) => r.serialize(s),
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
        } else if kind == Some("sigma") {
            SigmaStage::deserialize(value)
                .map(Stage::Sigma)
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
            Stage::Sigma(_) => "",
            Stage::Intel(i) => i.column(),
        }
    }

    /// Checks parameters; called by the pipeline builder and when loading a model.
    pub fn validate(&self) -> Result<()> {
        match self {
            Stage::Row(f) => f.validate(),
            Stage::Window(w) => w.validate(),
            Stage::Sigma(_) => Ok(()),
            Stage::Intel(i) => i.validate(),
        }
    }

    /// Output columns, in order.
    pub fn output_fields(&self) -> Vec<Field> {
        match self {
            Stage::Row(f) => f.output_fields(),
            Stage::Window(w) => w.output_fields(),
            Stage::Sigma(r) => r.output_fields(),
            Stage::Intel(i) => i.output_fields(),
        }
    }

    /// Output columns, in order, for an input of schema `input`: as
    /// [`output_fields`](Self::output_fields), with the type of a windowed aggregate's sum,
    /// minimum or maximum following its field's (Int64 or Float64).
    pub fn output_fields_for(&self, input: &Schema) -> Vec<Field> {
        match self {
            Stage::Window(w) => w.output_fields_for(input),
            other => other.output_fields(),
        }
    }

    /// Names of the scalar values a detector sees (vectors expand to `name[i]`).
    /// Rule hits (Sigma) are carried beside the score, not fed to the detector: none.
    pub fn detector_names(&self) -> Vec<String> {
        if let Stage::Sigma(_) = self {
            return Vec::new();
        }
        scalar_names(&self.output_fields())
    }

    /// Whether the stage's value for a row depends on that row alone, nothing fitted on the
    /// input (so any split of the input into batches gives the same values).
    pub fn is_row_local(&self) -> bool {
        match self {
            Stage::Row(f) => !f.needs_fit(),
            Stage::Window(w) => matches!(w.kind, crate::window::WindowKind::TimeFeatures { .. }),
            // Rule hits read the event alone (correlation rules are not evaluated).
            Stage::Sigma(_) => true,
            // Indicator matches read the row alone.
            Stage::Intel(_) => true,
        }
    }

    /// Fills in what is fitted on the baseline (e.g. standardisation's mean and std).
    pub(crate) fn fit(&self, baseline: &[RecordBatch]) -> Result<Stage> {
        Ok(match self {
            Stage::Row(f) => Stage::Row(f.fit(baseline)?),
            Stage::Window(w) => Stage::Window(w.clone()),
            Stage::Sigma(r) => Stage::Sigma(r.clone()),
            Stage::Intel(i) => Stage::Intel(i.clone()),
        })
    }

    /// Merges two fits of this stage on partitions of a baseline: fitted counts add up
    /// (n-gram models); other stages must be equal.
    pub(crate) fn merge(&self, other: &Stage) -> Result<Stage> {
        match (self, other) {
            (Stage::Row(a), Stage::Row(b)) => Ok(Stage::Row(a.merge(b)?)),
            (a, b) if a == b => Ok(a.clone()),
            _ => Err(Error::param(
                "other",
                "the models were fitted by different pipelines",
            )),
        }
    }

    /// Computes the output columns for a batch of the baseline the stage was fitted on
    /// (fitted models score its rows as held out; see `Feature::compute_with`).
    pub(crate) fn compute_baseline(
        &self,
        batch: &RecordBatch,
        engine: &Engine,
    ) -> Result<Vec<ArrayRef>> {
        match self {
            Stage::Row(f) => f.compute_with(batch, engine, true),
            other => other.compute(batch, engine),
        }
    }

    /// Computes the output columns for `batch`.
    pub(crate) fn compute(&self, batch: &RecordBatch, engine: &Engine) -> Result<Vec<ArrayRef>> {
        match self {
            Stage::Row(f) => f.compute(batch, engine),
            Stage::Window(w) => w.compute(batch, engine),
            Stage::Sigma(r) => r.compute(batch),
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
    let mut fitted_stages = Vec::with_capacity(stages.len());
    for s in stages {
        let stage: Stage = s.clone().into();
        stage.validate()?;
        fitted_stages.push(stage.fit(std::slice::from_ref(batch))?);
    }
    // Windowed aggregates sharing a grouping are computed in one pass.
    let windows: Vec<Option<&WindowStage>> = fitted_stages
        .iter()
        .map(|s| match s {
            Stage::Window(w) => Some(w),
            _ => None,
        })
        .collect();
    let mut shared = crate::window::compute_aggregates(&windows, batch, &engine)?;
    // Length, entropy and char classes of one string column are computed in one pass.
    let row_features: Vec<(usize, &crate::features::Feature)> = fitted_stages
        .iter()
        .enumerate()
        .filter_map(|(i, s)| match s {
            Stage::Row(f) => Some((i, f)),
            _ => None,
        })
        .collect();
    for (i, arrays) in crate::features::compute_fused(&row_features, batch, &engine)? {
        if let Some(slot) = shared.get_mut(i) {
            *slot = Some(arrays);
        }
    }
    for (fitted, pre) in fitted_stages.iter().zip(shared.iter_mut()) {
        let arrays = match pre.take() {
            Some(arrays) => arrays,
            None => fitted.compute(batch, &engine)?,
        };
        for (field, array) in fitted.output_fields().into_iter().zip(arrays) {
            let field = field.with_data_type(array.data_type().clone());
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

/// [`extract`] over the batches of one table (e.g. a polars frame's chunks): one output
/// batch per input batch, the input columns untouched. Row-local stages run batch by batch;
/// window stages look across batch boundaries. When every stage is a windowed aggregate
/// the CPU direct-address path reads the batches as they are, else only the columns the
/// aggregates read (entities, time, fields) are joined; the output columns are sliced back
/// per batch. Other stage mixes join the batches whole, and one batch comes back.
pub fn extract_batches<S: Clone + Into<Stage>>(
    stages: &[S],
    batches: &[RecordBatch],
    backend: Backend,
) -> Result<Vec<RecordBatch>> {
    let stages: Vec<Stage> = stages.iter().cloned().map(Into::into).collect();
    if batches.len() <= 1 || stages.iter().all(Stage::is_row_local) {
        return batches
            .iter()
            .map(|b| extract(&stages, b, backend))
            .collect();
    }
    let specs: Option<Vec<&crate::window::WindowFeature>> = stages
        .iter()
        .map(|s| match s {
            Stage::Window(WindowStage {
                kind: crate::window::WindowKind::Window(spec),
                ..
            }) => Some(spec),
            _ => None,
        })
        .collect();
    let engine = Engine::new(backend);
    let mut direct = None;
    if let Some(specs) = &specs {
        for s in &stages {
            s.validate()?;
        }
        direct = crate::window::broadcast_batches(specs, batches, &engine)?;
    }
    let (new_fields, new_columns): (Vec<Arc<Field>>, Vec<ArrayRef>) = match (direct, &specs) {
        (Some(columns), _) => {
            let schema = batches[0].schema();
            let mut fields = Vec::with_capacity(columns.len());
            for (s, c) in stages.iter().zip(&columns) {
                for f in s.output_fields_for(&schema) {
                    fields.push(Arc::new(f.with_data_type(c.data_type().clone())));
                }
            }
            (fields, columns)
        }
        (None, Some(specs)) => {
            let Some(narrow) = crate::window::read_columns_joined(specs, batches)? else {
                let schema = batches[0].schema();
                let whole = arrow::compute::concat_batches(&schema, batches)?;
                return Ok(vec![extract(&stages, &whole, backend)?]);
            };
            let out = extract(&stages, &narrow, backend)?;
            let width = narrow.num_columns();
            (
                out.schema().fields()[width..].to_vec(),
                out.columns()[width..].to_vec(),
            )
        }
        (None, None) => {
            let schema = batches[0].schema();
            let whole = arrow::compute::concat_batches(&schema, batches)?;
            return Ok(vec![extract(&stages, &whole, backend)?]);
        }
    };
    let mut at = 0;
    let mut parts = Vec::with_capacity(batches.len());
    for b in batches {
        let n = b.num_rows();
        let mut fields: Vec<Arc<Field>> = b.schema().fields().iter().cloned().collect();
        let mut columns = b.columns().to_vec();
        for (f, c) in new_fields.iter().zip(&new_columns) {
            if fields.iter().any(|x| x.name() == f.name()) {
                return Err(Error::InvalidInput(format!(
                    "column `{}` would appear twice; give the feature a prefix with .named(..)",
                    f.name()
                )));
            }
            fields.push(f.clone());
            columns.push(c.slice(at, n));
        }
        at += n;
        let schema = Arc::new(Schema::new_with_metadata(
            fields,
            b.schema().metadata().clone(),
        ));
        parts.push(RecordBatch::try_new(schema, columns)?);
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::window::{Agg, WindowFeature, WindowKind};

    /// Stage specs as model files of format version 2 hold them (written before stages
    /// existed, when every spec was a `Feature`): each loads as the right family and saves
    /// back to the same JSON.
    #[test]
    fn saved_specs_keep_their_shape() {
        let cases = [
            r#"{"column":"query","kind":"entropy"}"#,
            r#"{"column":"query","kind":"ngrams","n":3,"dims":256,"normalize":true,"prefix":"q"}"#,
            r#"{"column":"bytes","kind":"standardize","mean":1.5,"std":2.0}"#,
            r#"{"column":"dst_port","kind":"window","agg":"distinct_count","field":"dst_port","by":["src_ip"],"time":"ts","every":"1m"}"#,
            r#"{"column":"ts","kind":"time_features","tz":"Europe/Paris"}"#,
            r#"{"column":"src","kind":"beaconing","dst":"dst","time":"ts","prefix":"pair"}"#,
        ];
        for (i, json) in cases.iter().enumerate() {
            let stage: Stage = serde_json::from_str(json).unwrap();
            assert_eq!(matches!(stage, Stage::Window(_)), i >= 3, "{json}");
            assert_eq!(serde_json::to_string(&stage).unwrap(), *json);
        }
        let Stage::Window(w) = serde_json::from_str::<Stage>(cases[3]).unwrap() else {
            panic!("not a window stage")
        };
        assert_eq!(
            w.kind,
            WindowKind::Window(WindowFeature::new(
                Agg::DistinctCount,
                Some("dst_port"),
                &["src_ip"],
                Some("1m")
            ))
        );
        let bad = serde_json::from_str::<Stage>(r#"{"column":"x","kind":"window","by":[]}"#);
        assert!(bad.is_err());
    }
}
