//! Windowed aggregates and beaconing for Python: one row per (entity, window) or per pair.

use arrow::pyarrow::{PyArrowType, Table};
use pyo3::prelude::*;
use vigil::window::WindowStage;

use crate::{backend, batches, spec, to_py};

/// One row per (entity, window) of window-aggregate feature specs (JSON list).
#[pyfunction]
#[pyo3(signature = (features_json, data, backend = "auto"))]
fn window_aggregate(
    py: Python<'_>,
    features_json: &str,
    data: PyArrowType<Table>,
    backend: &str,
) -> PyResult<PyArrowType<Table>> {
    let features: Vec<WindowStage> = spec(features_json, "aggregates")?;
    let b = self::backend(backend)?;
    let (input, _) = batches(data.0);
    let out = py.detach(move || -> vigil::Result<Table> {
        let out = vigil::window::aggregate_features(&input, &features, b)?;
        let schema = out.schema();
        Ok(Table::try_new(vec![out], schema)?)
    });
    out.map(PyArrowType).map_err(to_py)
}

/// Beaconing statistics per (src, dst) pair, highest score first.
#[pyfunction]
#[pyo3(signature = (data, src, dst, time = "ts"))]
fn beacons(
    py: Python<'_>,
    data: PyArrowType<Table>,
    src: &str,
    dst: &str,
    time: &str,
) -> PyResult<PyArrowType<Table>> {
    let (input, _) = batches(data.0);
    let (src, dst, time) = (src.to_string(), dst.to_string(), time.to_string());
    let out = py.detach(move || -> vigil::Result<Table> {
        let out = vigil::window::beaconing(&input, &src, &dst, &time)?;
        let schema = out.schema();
        Ok(Table::try_new(vec![out], schema)?)
    });
    out.map(PyArrowType).map_err(to_py)
}

/// One row per (entity, window) of a Parquet file read in batches of `batch_rows` rows
/// (windows spanning batches are exact).
#[pyfunction]
#[pyo3(signature = (features_json, path, batch_rows = 1 << 20, backend = "auto", progress = None))]
fn window_aggregate_parquet(
    py: Python<'_>,
    features_json: &str,
    path: &str,
    batch_rows: usize,
    backend: &str,
    progress: Option<Py<PyAny>>,
) -> PyResult<PyArrowType<Table>> {
    let features: Vec<WindowStage> = spec(features_json, "aggregates")?;
    let b = self::backend(backend)?;
    let path = path.to_string();
    let out = py.detach(move || -> vigil::Result<Table> {
        let out = vigil::window::aggregate_features_parquet_with_progress(
            &path,
            &features,
            batch_rows,
            b,
            |done, total| crate::report_progress(progress.as_ref(), done, total),
        )?;
        let schema = out.schema();
        Ok(Table::try_new(vec![out], schema)?)
    });
    out.map(PyArrowType).map_err(to_py)
}

/// Registers this file's functions on the native module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(window_aggregate, m)?)?;
    m.add_function(wrap_pyfunction!(window_aggregate_parquet, m)?)?;
    m.add_function(wrap_pyfunction!(beacons, m)?)?;
    Ok(())
}
