//! Sigma rules as a pipeline stage: appends `sigma_max_level` and `sigma_rules` to every
//! event, so rule hits and anomaly scores rank alerts together. Saved in model files as the
//! rule sources, the pipeline YAML and the placeholders, and recompiled on load.

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch};
use arrow::datatypes::Field;
use serde::{Deserialize, Serialize};

use super::{LoadOptions, Pipeline, Placeholders, SigmaRules};
use crate::error::{Error, Result};

/// A pipeline stage evaluating a set of Sigma rules.
#[derive(Clone, Debug)]
pub struct SigmaStage {
    rules: Arc<SigmaRules>,
}

impl PartialEq for SigmaStage {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.rules, &other.rules)
            || (self.rules.sources == other.rules.sources
                && self.rules.options.pipeline.sources == other.rules.options.pipeline.sources
                && self.rules.options.placeholders == other.rules.options.placeholders)
    }
}

impl SigmaStage {
    /// A stage evaluating `rules`.
    pub fn new(rules: Arc<SigmaRules>) -> Self {
        SigmaStage { rules }
    }

    /// The rules.
    pub fn rules(&self) -> &SigmaRules {
        &self.rules
    }

    /// Output columns: `sigma_max_level`, `sigma_rules`.
    pub fn output_fields(&self) -> Vec<Field> {
        super::output::annotation_fields()
    }

    pub(crate) fn compute(&self, batch: &RecordBatch) -> Result<Vec<ArrayRef>> {
        Ok(self.rules.annotation_columns(batch))
    }
}

impl From<SigmaRules> for SigmaStage {
    fn from(r: SigmaRules) -> Self {
        SigmaStage::new(Arc::new(r))
    }
}

#[derive(Serialize, Deserialize)]
struct Saved {
    kind: String,
    column: String,
    sources: Vec<(String, String)>,
    pipeline: Vec<String>,
    placeholders: Placeholders,
}

impl Serialize for SigmaStage {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let (sources, options) = self.rules.parts();
        Saved {
            kind: "sigma".into(),
            column: String::new(),
            sources: sources.to_vec(),
            pipeline: options.pipeline.sources.clone(),
            placeholders: options.placeholders.clone(),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for SigmaStage {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use serde::de::Error as _;
        let saved = Saved::deserialize(d)?;
        let rebuild = || -> Result<SigmaRules> {
            let mut pipeline = Pipeline::empty();
            for text in &saved.pipeline {
                pipeline = pipeline.merged(Pipeline::from_yaml(text)?);
            }
            if saved.kind != "sigma" {
                return Err(Error::Model(format!(
                    "a `{}` stage is not a Sigma stage",
                    saved.kind
                )));
            }
            SigmaRules::from_sources(
                saved.sources.clone(),
                LoadOptions {
                    pipeline,
                    placeholders: saved.placeholders.clone(),
                },
            )
        };
        rebuild().map(SigmaStage::from).map_err(D::Error::custom)
    }
}
