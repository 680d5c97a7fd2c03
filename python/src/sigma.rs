//! Sigma rules for Python: load, report, match, annotate.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::pyarrow::{PyArrowType, Table};
use pyo3::prelude::*;
use vigil::sigma::{LoadOptions, Pipeline, SigmaRules, SigmaStage};

use crate::{SchemaError, to_py};

fn one_batch(data: Table) -> PyResult<RecordBatch> {
    let (batches, schema) = data.into_inner();
    arrow::compute::concat_batches(&schema, &batches)
        .map_err(|e| SchemaError::new_err(e.to_string()))
}

fn table(batch: RecordBatch) -> PyResult<PyArrowType<Table>> {
    let schema = batch.schema();
    Table::try_new(vec![batch], schema)
        .map(PyArrowType)
        .map_err(|e| SchemaError::new_err(e.to_string()))
}

fn options(
    pipeline: Option<&str>,
    shipped: bool,
    placeholders: Option<HashMap<String, Vec<String>>>,
) -> PyResult<LoadOptions> {
    let base = if shipped {
        Pipeline::windows()
    } else {
        Pipeline::empty()
    };
    let pipeline = match pipeline {
        Some(p) => base.merged(Pipeline::load(p).map_err(to_py)?),
        None => base,
    };
    Ok(LoadOptions {
        pipeline,
        placeholders: placeholders.unwrap_or_default(),
    })
}

/// Compiled Sigma rules.
#[pyclass(module = "vigil._native", frozen)]
struct NativeSigmaRules {
    inner: Arc<SigmaRules>,
}

#[pymethods]
impl NativeSigmaRules {
    /// Loads rule files/directories (`paths`) or YAML `text`.
    #[staticmethod]
    #[pyo3(signature = (paths, text = None, pipeline = None, shipped_pipeline = true, placeholders = None))]
    fn load(
        py: Python<'_>,
        paths: Vec<String>,
        text: Option<String>,
        pipeline: Option<&str>,
        shipped_pipeline: bool,
        placeholders: Option<HashMap<String, Vec<String>>>,
    ) -> PyResult<Self> {
        let opts = options(pipeline, shipped_pipeline, placeholders)?;
        let rules = py
            .detach(move || match text {
                Some(t) => SigmaRules::from_sources(vec![("<string>".into(), t)], opts),
                None => SigmaRules::load_with(&paths, opts),
            })
            .map_err(to_py)?;
        Ok(NativeSigmaRules {
            inner: Arc::new(rules),
        })
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }

    /// The report table (file, rule_id, title, status, kind, reason).
    fn report(&self) -> PyResult<PyArrowType<Table>> {
        table(self.inner.report_batch().map_err(to_py)?)
    }

    /// (kind, count) of the report, most frequent first.
    fn counts_by_reason(&self) -> Vec<(String, usize)> {
        self.inner.counts_by_reason()
    }

    /// (file, id, title, status, level, tags) of every loaded rule.
    fn rules(&self) -> Vec<(String, String, String, String, String, Vec<String>)> {
        self.inner
            .rules()
            .iter()
            .map(|r| {
                (
                    r.file.clone(),
                    r.id.clone(),
                    r.title.clone(),
                    r.status.clone(),
                    r.level.clone(),
                    r.tags.clone(),
                )
            })
            .collect()
    }

    /// One row per (event, matching rule).
    fn matches(&self, py: Python<'_>, data: PyArrowType<Table>) -> PyResult<PyArrowType<Table>> {
        let batch = one_batch(data.0)?;
        let rules = self.inner.clone();
        let out = py.detach(move || rules.matches(&batch)).map_err(to_py)?;
        table(out)
    }

    /// The input with `sigma_max_level` and `sigma_rules` appended.
    fn annotate(&self, py: Python<'_>, data: PyArrowType<Table>) -> PyResult<PyArrowType<Table>> {
        let batch = one_batch(data.0)?;
        let rules = self.inner.clone();
        let out = py.detach(move || rules.annotate(&batch)).map_err(to_py)?;
        table(out)
    }

    /// The pipeline-stage spec (JSON) of these rules.
    fn stage_json(&self) -> PyResult<String> {
        serde_json::to_string(&SigmaStage::new(self.inner.clone()))
            .map_err(|e| crate::ParameterError::new_err(e.to_string()))
    }
}

/// Registers the Sigma class on the native module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<NativeSigmaRules>()?;
    Ok(())
}
