//! Sigma rules for Python: load, report, match, annotate.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use arrow::pyarrow::{PyArrowType, Table};
use pyo3::prelude::*;
use vigil::sigma::{LoadOptions, Pipeline, SigmaRules, SigmaStage};

use crate::{SchemaError, report_progress, to_py};

fn table(batch: RecordBatch) -> PyResult<PyArrowType<Table>> {
    tables(vec![batch], None)
}

/// A table of `batches` (at least one, or `schema` for none).
fn tables(batches: Vec<RecordBatch>, schema: Option<SchemaRef>) -> PyResult<PyArrowType<Table>> {
    let schema = match (batches.first(), schema) {
        (Some(b), _) => b.schema(),
        (None, Some(s)) => s,
        (None, None) => return Err(SchemaError::new_err("no result batches")),
    };
    Table::try_new(batches, schema)
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

    /// One row per (event, matching rule); the table's batches are matched one by one
    /// (rows numbered across them), never concatenated.
    fn matches(&self, py: Python<'_>, data: PyArrowType<Table>) -> PyResult<PyArrowType<Table>> {
        let (batches, _) = data.0.into_inner();
        let rules = self.inner.clone();
        let out = py
            .detach(move || rules.matches_batches(&batches))
            .map_err(to_py)?;
        tables(out, None)
    }

    /// `matches` over Parquet files (files or directories), `batch_rows` rows at a time,
    /// calling `progress(rows_done, rows_total)` after each batch when given.
    #[pyo3(signature = (paths, batch_rows = 65536, progress = None))]
    fn matches_parquet(
        &self,
        py: Python<'_>,
        paths: Vec<String>,
        batch_rows: usize,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<PyArrowType<Table>> {
        let rules = self.inner.clone();
        let out = py
            .detach(move || {
                rules.matches_parquet(&paths, batch_rows, |done, total| {
                    report_progress(progress.as_ref(), done, total)
                })
            })
            .map_err(to_py)?;
        tables(out, None)
    }

    /// The hit tables of Parquet files, one per batch of `batch_rows` rows, as an iterator.
    #[pyo3(signature = (paths, batch_rows = 65536))]
    fn matches_parquet_iter(
        &self,
        paths: Vec<String>,
        batch_rows: usize,
    ) -> PyResult<NativeSigmaMatches> {
        let files = vigil::sigma::parquet_files(&paths).map_err(to_py)?;
        let batches = vigil::sigma::ParquetBatches::new(files, batch_rows).map_err(to_py)?;
        Ok(NativeSigmaMatches {
            rules: self.inner.clone(),
            batches: std::sync::Mutex::new((batches, 0)),
        })
    }

    /// The input with `sigma_max_level` and `sigma_rules` appended, batch by batch.
    fn annotate(&self, py: Python<'_>, data: PyArrowType<Table>) -> PyResult<PyArrowType<Table>> {
        let (batches, schema) = data.0.into_inner();
        let rules = self.inner.clone();
        let out = py
            .detach(move || -> vigil::Result<(Vec<RecordBatch>, SchemaRef)> {
                let empty = RecordBatch::new_empty(schema);
                let out_schema = rules.annotate(&empty)?.schema();
                let out = batches
                    .iter()
                    .map(|b| rules.annotate(b))
                    .collect::<vigil::Result<Vec<_>>>()?;
                Ok((out, out_schema))
            })
            .map_err(to_py)?;
        tables(out.0, Some(out.1))
    }

    /// The correlation hits over a table (rows numbered across its batches).
    fn correlate(&self, py: Python<'_>, data: PyArrowType<Table>) -> PyResult<PyArrowType<Table>> {
        let (batches, _) = data.0.into_inner();
        let rules = self.inner.clone();
        let out = py
            .detach(move || rules.correlate(&batches))
            .map_err(to_py)?;
        table(out)
    }

    /// The correlation hits over Parquet files, read `batch_rows` rows at a time.
    #[pyo3(signature = (paths, batch_rows = 65536, progress = None))]
    fn correlate_parquet(
        &self,
        py: Python<'_>,
        paths: Vec<String>,
        batch_rows: usize,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<PyArrowType<Table>> {
        let rules = self.inner.clone();
        let out = py
            .detach(move || {
                rules.correlate_parquet(&paths, batch_rows, |done, total| {
                    report_progress(progress.as_ref(), done, total)
                })
            })
            .map_err(to_py)?;
        table(out)
    }

    /// The hunt timeline over EVTX / JSON event files or directories: (timeline, number of
    /// events read, files, damaged records).
    #[pyo3(signature = (paths, all_detections = false, min_level = 0, progress = None))]
    fn hunt(
        &self,
        py: Python<'_>,
        paths: Vec<String>,
        all_detections: bool,
        min_level: u8,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<(PyArrowType<Table>, u64, u64, u64)> {
        let rules = self.inner.clone();
        let (t, report) = py
            .detach(move || -> vigil::Result<_> {
                let files = vigil::sigma::hunt_inputs(&paths)?;
                let (t, report) =
                    vigil::sigma::hunt_files(&rules, &files, all_detections, |d, n| {
                        report_progress(progress.as_ref(), d, n)
                    })?;
                Ok((vigil::sigma::filter_min_level(t, min_level)?, report))
            })
            .map_err(to_py)?;
        Ok((table(t)?, report.records, report.files, report.damaged))
    }

    /// The pipeline-stage spec (JSON) of these rules.
    fn stage_json(&self) -> PyResult<String> {
        serde_json::to_string(&SigmaStage::new(self.inner.clone()))
            .map_err(|e| crate::ParameterError::new_err(e.to_string()))
    }
}

/// The hit tables of Parquet files, one per input batch, computed as they are asked for.
#[pyclass(module = "vigil._native")]
struct NativeSigmaMatches {
    rules: Arc<SigmaRules>,
    batches: std::sync::Mutex<(vigil::sigma::ParquetBatches, u64)>,
}

#[pymethods]
impl NativeSigmaMatches {
    /// (rows done, rows total) so far.
    fn progress(&self) -> (u64, u64) {
        let g = self.batches.lock().unwrap_or_else(|e| e.into_inner());
        (g.1, g.0.total_rows)
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<PyArrowType<Table>>> {
        let rules = self.rules.clone();
        let batches = &self.batches;
        let out = py
            .detach(move || -> vigil::Result<Option<RecordBatch>> {
                let mut g = batches.lock().unwrap_or_else(|e| e.into_inner());
                let Some(b) = g.0.next().transpose()? else {
                    return Ok(None);
                };
                let hits = rules.matches_at(&b, g.1)?;
                g.1 += b.num_rows() as u64;
                Ok(Some(hits))
            })
            .map_err(to_py)?;
        out.map(table).transpose()
    }
}

/// Registers the Sigma class on the native module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<NativeSigmaRules>()?;
    m.add_class::<NativeSigmaMatches>()?;
    Ok(())
}
