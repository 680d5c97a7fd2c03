//! Streaming scorers and log tails for `vigil.Model.stream` and `vigil.tail`.

use std::sync::Mutex;

use arrow::array::RecordBatch;
use arrow::pyarrow::{PyArrowType, Table};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use vigil::logs::LogFormat;
use vigil::stream::LogTail;
use vigil::{Scorer, StreamStats};

use crate::{NativeModel, to_py};

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn table(batches: Vec<RecordBatch>) -> PyResult<Option<PyArrowType<Table>>> {
    let Some(first) = batches.first() else {
        return Ok(None);
    };
    let schema = first.schema();
    Table::try_new(batches, schema)
        .map(|t| Some(PyArrowType(t)))
        .map_err(|e| crate::SchemaError::new_err(e.to_string()))
}

/// A streaming scorer: rows wait until their windows close, then leave scored, in order.
#[pyclass(module = "vigil._native", frozen)]
pub(crate) struct NativeScorer {
    inner: Mutex<Scorer>,
}

#[pymethods]
impl NativeScorer {
    #[new]
    #[pyo3(signature = (model, lateness_ns = 0, backend = "auto"))]
    fn new(model: &NativeModel, lateness_ns: i64, backend: &str) -> PyResult<Self> {
        let m = model.inner.clone().with_backend(crate::backend(backend)?);
        Ok(NativeScorer {
            inner: Mutex::new(Scorer::new(&m, lateness_ns).map_err(to_py)?),
        })
    }

    /// Adds a table; returns the rows now final, scored (None when none are).
    fn push(
        &self,
        py: Python<'_>,
        data: PyArrowType<Table>,
    ) -> PyResult<Option<PyArrowType<Table>>> {
        let (input, _) = data.0.into_inner();
        let out = py.detach(|| -> vigil::Result<Vec<RecordBatch>> {
            let mut s = lock(&self.inner);
            let mut out = Vec::new();
            for b in &input {
                out.extend(s.push(b)?);
            }
            Ok(out)
        });
        table(out.map_err(to_py)?)
    }

    /// Ends the input: every waiting row, scored (None when none wait).
    fn finish(&self, py: Python<'_>) -> PyResult<Option<PyArrowType<Table>>> {
        let out = py.detach(|| lock(&self.inner).finish());
        table(out.map_err(to_py)?.into_iter().collect())
    }

    /// Counters: rows_in, rows_out, late_rows, pending_rows, carried_entries, watermark (ns).
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let StreamStats {
            rows_in,
            rows_out,
            late_rows,
            pending_rows,
            carried_entries,
            watermark,
        } = lock(&self.inner).stats();
        let d = PyDict::new(py);
        d.set_item("rows_in", rows_in)?;
        d.set_item("rows_out", rows_out)?;
        d.set_item("late_rows", late_rows)?;
        d.set_item("pending_rows", pending_rows)?;
        d.set_item("carried_entries", carried_entries)?;
        d.set_item("watermark", watermark)?;
        Ok(d)
    }
}

/// `tail -f` of a text log.
#[pyclass(module = "vigil._native", frozen)]
pub(crate) struct NativeLogTail {
    inner: Mutex<LogTail>,
}

#[pymethods]
impl NativeLogTail {
    #[new]
    #[pyo3(signature = (path, format, batch_rows = 65536, from_end = false))]
    fn new(path: &str, format: &str, batch_rows: usize, from_end: bool) -> PyResult<Self> {
        let format = LogFormat::parse(format).map_err(to_py)?;
        Ok(NativeLogTail {
            inner: Mutex::new(LogTail::open(path, format, batch_rows, from_end).map_err(to_py)?),
        })
    }

    /// The lines completed since the last poll, parsed (None when there are none).
    fn poll(&self, py: Python<'_>) -> PyResult<Option<PyArrowType<Table>>> {
        let out = py.detach(|| lock(&self.inner).poll());
        table(out.map_err(to_py)?)
    }

    /// Lines read so far: rows, parsed, malformed, invalid_utf8, truncated.
    fn report<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let r = lock(&self.inner).report().clone();
        let d = PyDict::new(py);
        d.set_item("rows", r.rows)?;
        d.set_item("parsed", r.parsed)?;
        d.set_item("malformed", r.malformed)?;
        d.set_item("invalid_utf8", r.invalid_utf8)?;
        d.set_item("truncated", r.truncated)?;
        Ok(d)
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<NativeScorer>()?;
    m.add_class::<NativeLogTail>()?;
    Ok(())
}
