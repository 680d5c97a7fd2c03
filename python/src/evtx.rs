//! Windows event logs (EVTX files, JSON events) for Python.

use arrow::pyarrow::{PyArrowType, Table};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use vigil::logs::evtx::{EventFormat, EvtxOptions, read_evtx_with};

use crate::{SchemaError, to_py};

/// Reads EVTX files or JSON events (a file or a directory) into a table and a report dict.
#[pyfunction]
#[pyo3(signature = (path, format = "auto", batch_rows = 65536))]
fn read_evtx<'py>(
    py: Python<'py>,
    path: &str,
    format: &str,
    batch_rows: usize,
) -> PyResult<(PyArrowType<Table>, Bound<'py, PyDict>)> {
    let options = EvtxOptions {
        batch_rows,
        format: EventFormat::parse(format).map_err(to_py)?,
    };
    let path = path.to_string();
    let (batches, report) = py
        .detach(move || read_evtx_with(&path, &options))
        .map_err(to_py)?;
    let d = PyDict::new(py);
    d.set_item("files", report.files)?;
    d.set_item("records", report.records)?;
    d.set_item("parsed", report.parsed)?;
    d.set_item("damaged", report.damaged)?;
    d.set_item("unreadable_files", report.unreadable_files)?;
    d.set_item("truncated_files", report.truncated_files)?;
    d.set_item("examples", report.examples)?;
    let schema = match batches.first() {
        Some(b) => b.schema(),
        None => vigil::logs::evtx::fixed_schema(),
    };
    let table = Table::try_new(batches, schema).map_err(|e| SchemaError::new_err(e.to_string()))?;
    Ok((PyArrowType(table), d))
}

/// Registers this file's functions.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(read_evtx, m)?)?;
    Ok(())
}
