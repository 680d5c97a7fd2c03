//! Log readers, the template miner and event-count vectors for Python.

use arrow::array::RecordBatch;
use arrow::pyarrow::{PyArrowType, Table};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use vigil::logs::{LogFormat, LogReader};
use vigil::template::{MinerConfig, TemplateMiner, counts};

use crate::{ParameterError, SchemaError, backend, to_py};

fn one_batch(data: Table) -> PyResult<RecordBatch> {
    let (batches, schema) = data.into_inner();
    arrow::compute::concat_batches(&schema, &batches)
        .map_err(|e| SchemaError::new_err(e.to_string()))
}

/// Reads a log file into a table and a report dict; `progress(bytes_read, file_bytes)` is
/// called after each batch when given.
#[pyfunction]
#[pyo3(signature = (path, format, batch_rows = 65536, progress = None))]
fn read_log<'py>(
    py: Python<'py>,
    path: &str,
    format: &str,
    batch_rows: usize,
    progress: Option<Py<PyAny>>,
) -> PyResult<(PyArrowType<Table>, Bound<'py, PyDict>)> {
    let format = LogFormat::parse(format).map_err(to_py)?;
    let path = path.to_string();
    let (batch, report) = py
        .detach(move || -> vigil::Result<_> {
            let (mut r, read) = LogReader::open_with_progress(&path, format, batch_rows)?;
            let mut batches = Vec::new();
            for b in r.by_ref() {
                batches.push(b?);
                crate::report_progress(progress.as_ref(), read.read(), read.total());
            }
            Ok((vigil::logs::concat_batches(&batches)?, r.report().clone()))
        })
        .map_err(to_py)?;
    let d = PyDict::new(py);
    d.set_item("rows", report.rows)?;
    d.set_item("parsed", report.parsed)?;
    d.set_item("malformed", report.malformed)?;
    d.set_item("invalid_utf8", report.invalid_utf8)?;
    d.set_item("truncated", report.truncated)?;
    d.set_item("directives", report.directives)?;
    d.set_item("examples", report.examples)?;
    let schema = batch.schema();
    let table =
        Table::try_new(vec![batch], schema).map_err(|e| SchemaError::new_err(e.to_string()))?;
    Ok((PyArrowType(table), d))
}

/// The native template miner.
#[pyclass(module = "vigil._native")]
struct NativeTemplateMiner {
    inner: TemplateMiner,
}

#[pymethods]
impl NativeTemplateMiner {
    #[new]
    fn new(config_json: &str) -> PyResult<Self> {
        let config: MinerConfig = serde_json::from_str(config_json)
            .map_err(|e| ParameterError::new_err(format!("invalid miner settings: {e}")))?;
        Ok(NativeTemplateMiner {
            inner: TemplateMiner::new(config).map_err(to_py)?,
        })
    }

    /// `data` with template_id, template and parameters of `column` appended.
    fn parse(
        &mut self,
        py: Python<'_>,
        data: PyArrowType<Table>,
        column: &str,
    ) -> PyResult<PyArrowType<Table>> {
        let batch = one_batch(data.0)?;
        let miner = &mut self.inner;
        let out = py
            .detach(|| miner.parse_batch(&batch, column))
            .map_err(to_py)?;
        let schema = out.schema();
        Table::try_new(vec![out], schema)
            .map(PyArrowType)
            .map_err(|e| SchemaError::new_err(e.to_string()))
    }

    fn to_json(&self) -> PyResult<String> {
        self.inner.to_json().map_err(to_py)
    }

    #[staticmethod]
    fn from_json(json: &str) -> PyResult<Self> {
        Ok(NativeTemplateMiner {
            inner: TemplateMiner::from_json(json).map_err(to_py)?,
        })
    }

    fn merge(&mut self, other: &NativeTemplateMiner) -> PyResult<()> {
        self.inner.merge(&other.inner).map_err(to_py)
    }

    fn templates(&self) -> Vec<(u64, String, u64)> {
        self.inner
            .templates()
            .into_iter()
            .map(|t| (t.id, t.text, t.size))
            .collect()
    }

    fn mask(&self, message: &str) -> String {
        self.inner.mask(message)
    }

    fn config_json(&self) -> PyResult<String> {
        serde_json::to_string(self.inner.config())
            .map_err(|e| ParameterError::new_err(e.to_string()))
    }
}

/// Event-count vectors of `data` per session key (`prefix`) or per time window (`window`).
#[pyfunction]
#[pyo3(signature = (data, template_id, column, prefix = None, window = None, backend = "auto"))]
fn count_vectors(
    py: Python<'_>,
    data: PyArrowType<Table>,
    template_id: &str,
    column: &str,
    prefix: Option<String>,
    window: Option<&Bound<'_, PyAny>>,
    backend: &str,
) -> PyResult<PyArrowType<Table>> {
    let b = crate::backend(backend)?;
    let window = window
        .map(|w| crate::duration_ns(w, "window"))
        .transpose()?;
    let batch = one_batch(data.0)?;
    let col = |name: &str| vigil::columns::column(&batch, name).cloned().map_err(to_py);
    let ids = col(template_id)?;
    let other = col(column)?;
    let out = py
        .detach(move || -> vigil::Result<RecordBatch> {
            let cv = match (prefix, window) {
                (Some(p), None) => counts::count_by_session(ids.as_ref(), other.as_ref(), &p, b)?,
                (None, Some(w)) => counts::count_by_window(ids.as_ref(), other.as_ref(), w, b)?,
                _ => {
                    return Err(vigil::Error::InvalidParameter {
                        name: "session_prefix / window".into(),
                        reason: "give exactly one of them".into(),
                    });
                }
            };
            cv.to_batch()
        })
        .map_err(to_py)?;
    let schema = out.schema();
    Table::try_new(vec![out], schema)
        .map(PyArrowType)
        .map_err(|e| SchemaError::new_err(e.to_string()))
}

/// Registers this file's functions and classes.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let _ = backend;
    m.add_class::<NativeTemplateMiner>()?;
    m.add_function(wrap_pyfunction!(read_log, m)?)?;
    m.add_function(wrap_pyfunction!(count_vectors, m)?)?;
    Ok(())
}
