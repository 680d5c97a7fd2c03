//! `vigil._native`: the thin PyO3 layer under the `vigil` Python package. Arrow data comes
//! in and goes out through the Arrow PyCapsule interface (pyarrow and polars alike, without
//! copying buffers); compute runs with the GIL released; errors become `vigil` exceptions.

mod arrow_out;
mod detectors;
mod evtx;

use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, SchemaRef};
use arrow::pyarrow::{PyArrowType, Table};
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use vigil::Stage;
use vigil::detect::{Detector, Threshold};
use vigil::{Backend, FittedPipeline, Pipeline};

mod intel;
mod logs;
mod polars_types;
mod sigma;
mod stream;
mod windows;

create_exception!(
    _native,
    VigilError,
    PyException,
    "Base class of every vigil error."
);
create_exception!(
    _native,
    SchemaError,
    VigilError,
    "A column is missing, has the wrong type, or clashes with an output."
);
create_exception!(
    _native,
    ParameterError,
    VigilError,
    "A parameter is out of range or inconsistent."
);
create_exception!(
    _native,
    InputError,
    VigilError,
    "The data cannot be used as given (empty baseline, all-null feature, ...)."
);
create_exception!(
    _native,
    GpuError,
    VigilError,
    "No GPU adapter, or the GPU failed."
);
create_exception!(
    _native,
    ModelError,
    VigilError,
    "A saved model is corrupted, of another version, or of another shape."
);

fn to_py(err: vigil::Error) -> PyErr {
    let msg = err.to_string();
    match err {
        vigil::Error::MissingColumn { .. } | vigil::Error::WrongType { .. } => {
            SchemaError::new_err(msg)
        }
        vigil::Error::InvalidParameter { .. } => ParameterError::new_err(msg),
        vigil::Error::InvalidInput(_) => InputError::new_err(msg),
        vigil::Error::Gpu(_) => GpuError::new_err(msg),
        vigil::Error::Model(_) => ModelError::new_err(msg),
        vigil::Error::Unstreamable { .. } => ParameterError::new_err(msg),
        _ => VigilError::new_err(msg),
    }
}

fn backend(name: &str) -> PyResult<Backend> {
    Backend::parse(name).map_err(to_py)
}

/// A duration given as a string (`"5m"`, `"1h30m"`; see `vigil::columns::parse_duration`) or
/// a positive number of seconds, in nanoseconds.
pub(crate) fn duration_ns(value: &Bound<'_, PyAny>, name: &str) -> PyResult<i64> {
    if let Ok(text) = value.extract::<String>() {
        return vigil::columns::parse_duration_param(&text, name).map_err(to_py);
    }
    if value.is_instance_of::<pyo3::types::PyBool>() {
        return Err(ParameterError::new_err(format!(
            "{name}: give a duration like '30s', '5m', '1h' or a number of seconds, not a bool"
        )));
    }
    match value.extract::<f64>() {
        Ok(seconds) => vigil::columns::parse_seconds(seconds, name).map_err(to_py),
        Err(_) => Err(ParameterError::new_err(format!(
            "{name}: give a duration like '30s', '5m', '1h' or a number of seconds"
        ))),
    }
}

/// The duration `value` (a string such as `"5m"` or `"1h30m"`, or a number of seconds) in
/// nanoseconds: the one duration parser of vigil, shared with Python.
#[pyfunction]
#[pyo3(signature = (value, name = "duration"))]
fn parse_duration(value: &Bound<'_, PyAny>, name: &str) -> PyResult<i64> {
    duration_ns(value, name)
}

fn spec<T: serde::de::DeserializeOwned>(json: &str, what: &str) -> PyResult<T> {
    serde_json::from_str(json).map_err(|e| ParameterError::new_err(format!("invalid {what}: {e}")))
}

/// Unifies the batches of a table to one schema (the first one's).
fn batches(table: Table) -> (Vec<RecordBatch>, SchemaRef) {
    table.into_inner()
}

/// Calls a Python progress callback `callback(done, total)` from compute that released the
/// GIL; progress is cosmetic, so an exception in the callback is printed, not raised.
pub(crate) fn report_progress(callback: Option<&Py<PyAny>>, done: u64, total: u64) {
    if let Some(cb) = callback {
        Python::attach(|py| {
            if let Err(e) = cb.call1(py, (done, total)) {
                e.print(py);
            }
        });
    }
}

/// A fitted pipeline.
#[pyclass(module = "vigil._native", frozen)]
struct NativeModel {
    inner: FittedPipeline,
}

impl NativeModel {
    /// The fitted pipeline on `backend`, with GPU chunks of `chunk_bytes` when given.
    fn configured(&self, backend: &str, chunk_bytes: Option<usize>) -> PyResult<FittedPipeline> {
        let model = self.inner.clone().with_backend(self::backend(backend)?);
        Ok(match chunk_bytes {
            Some(c) => model.with_chunk_bytes(c),
            None => model,
        })
    }
}

/// Rows a row-wise model with a fixed cut-off scores at a time: bounds the feature columns
/// alive at once (13 string features of 256Ki rows take 13 MB, of 10M rows 520 MB) without
/// changing any output, as each row's verdict then depends on that row alone.
const SCORE_BLOCK_ROWS: usize = 1 << 18;

/// `model`'s output for the batches of one table of `schema`: one batch per input batch (per
/// block of [`SCORE_BLOCK_ROWS`] rows when no row's verdict depends on other rows), or the
/// table in one piece when the model looks across rows (window stages: never cut).
fn scored(
    model: &FittedPipeline,
    mut input: Vec<RecordBatch>,
    schema: &SchemaRef,
) -> vigil::Result<Table> {
    let across = model.looks_across_rows();
    let blocks = !across && model.cutoff().is_some();
    if input.len() > 1 && across {
        input = vec![arrow::compute::concat_batches(schema, &input)?];
    } else if blocks {
        // Top-N style thresholds rank each batch as a whole (no cut-off): never split those.
        input = input
            .iter()
            .flat_map(|b| {
                (0..b.num_rows())
                    .step_by(SCORE_BLOCK_ROWS)
                    .map(move |at| b.slice(at, SCORE_BLOCK_ROWS.min(b.num_rows() - at)))
            })
            .collect();
    }
    let out_schema = model.output_schema(schema)?;
    let bytes: usize = input.iter().map(|b| b.get_array_memory_size()).sum();
    // On the CPU, blocks are scored side by side: the per-block steps after the features
    // (threshold, reasons, explanations, output arrays) then use every core too. A GPU
    // takes them one at a time.
    let scored = if blocks && input.len() > 1 && model.runs_on_cpu(bytes)? {
        use rayon::prelude::*;
        input
            .par_iter()
            .map(|b| model.score(b))
            .collect::<vigil::Result<Vec<_>>>()?
    } else {
        input
            .iter()
            .map(|b| model.score(b))
            .collect::<vigil::Result<Vec<_>>>()?
    };
    Ok(Table::try_new(scored, out_schema)?)
}

#[pymethods]
impl NativeModel {
    /// Scores a table; returns a pyarrow Table with the input columns and the outputs.
    #[pyo3(signature = (data, backend = "auto", chunk_bytes = None))]
    fn score(
        &self,
        py: Python<'_>,
        data: PyArrowType<Table>,
        backend: &str,
        chunk_bytes: Option<usize>,
    ) -> PyResult<PyArrowType<Table>> {
        let model = self.configured(backend, chunk_bytes)?;
        let (input, schema) = batches(data.0);
        let out = py.detach(move || scored(&model, input, &schema));
        out.map(PyArrowType).map_err(to_py)
    }

    /// [`score`](Self::score) with the appended columns in the layouts polars holds
    /// (strings as views, lists with 64-bit offsets), for `polars.from_arrow` to take as
    /// they are.
    #[pyo3(signature = (data, backend = "auto", chunk_bytes = None))]
    fn score_for_polars(
        &self,
        py: Python<'_>,
        data: PyArrowType<Table>,
        backend: &str,
        chunk_bytes: Option<usize>,
    ) -> PyResult<PyArrowType<Table>> {
        let width = data.0.schema().fields().len();
        let out = self.score(py, data, backend, chunk_bytes)?.0;
        let out = py.detach(move || polars_types::table(out, width));
        out.map(PyArrowType)
            .map_err(|e| to_py(vigil::Error::from(e)))
    }

    /// Scores the Parquet file `input` into `output` in batches of `batch_rows` rows;
    /// `progress(rows_done, rows_total)` is called after each batch when given. Returns
    /// the summary: rows, alerts, unscored.
    #[pyo3(signature = (input, output, batch_rows = 65536, backend = "auto", chunk_bytes = None, progress = None))]
    // One argument per Python keyword argument.
    #[allow(clippy::too_many_arguments)]
    fn score_parquet<'py>(
        &self,
        py: Python<'py>,
        input: &str,
        output: &str,
        batch_rows: usize,
        backend: &str,
        chunk_bytes: Option<usize>,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let model = self.configured(backend, chunk_bytes)?;
        let (input, output) = (input.to_string(), output.to_string());
        let summary = py
            .detach(move || {
                vigil::io::score_parquet_with_progress(
                    &model,
                    &input,
                    &output,
                    batch_rows,
                    |done, total| report_progress(progress.as_ref(), done, total),
                )
            })
            .map_err(to_py)?;
        let d = PyDict::new(py);
        d.set_item("rows", summary.rows)?;
        d.set_item("alerts", summary.alerts)?;
        d.set_item("unscored", summary.unscored)?;
        Ok(d)
    }

    /// The model as JSON.
    fn to_json(&self) -> PyResult<String> {
        self.inner.to_json().map_err(to_py)
    }

    /// Merges with the same pipeline fitted on another partition of the baseline.
    fn merge(&self, other: &NativeModel) -> PyResult<NativeModel> {
        self.inner
            .merge(&other.inner)
            .map(|inner| NativeModel { inner })
            .map_err(to_py)
    }

    /// Reads a model from JSON (format, version and shape are checked).
    #[staticmethod]
    fn from_json(json: &str) -> PyResult<Self> {
        FittedPipeline::from_json(json)
            .map(|inner| NativeModel { inner })
            .map_err(to_py)
    }

    /// Detector feature names, in order.
    #[getter]
    fn feature_names(&self) -> Vec<String> {
        self.inner.feature_names().to_vec()
    }

    /// Median of each feature on the baseline (robust_z only, else None).
    #[getter]
    fn center(&self) -> Option<Vec<f32>> {
        self.inner.robust_z().map(|d| d.center.clone())
    }

    /// Robust scale of each feature on the baseline (robust_z only, else None).
    #[getter]
    fn scale(&self) -> Option<Vec<f32>> {
        self.inner.robust_z().map(|d| d.scale.clone())
    }

    /// Score above which a row is an alert (None for top-N).
    #[getter]
    fn cutoff(&self) -> Option<f64> {
        self.inner.cutoff()
    }

    /// The same model explaining `explain` rows: "alerts" (the default; other rows get a
    /// null explanation) or "all".
    fn with_explain_rows(&self, explain: &str) -> PyResult<NativeModel> {
        let rows = vigil::detect::ExplainRows::parse(explain).map_err(to_py)?;
        Ok(NativeModel {
            inner: self.inner.clone().with_explain_rows(rows),
        })
    }

    /// The same model with (`keep=True`) or without (the default) the feature columns in
    /// its scoring output.
    fn with_feature_columns(&self, keep: bool) -> NativeModel {
        NativeModel {
            inner: self.inner.clone().with_feature_columns(keep),
        }
    }
}

/// Fits a pipeline described by JSON specs on a baseline table.
#[pyfunction]
#[pyo3(signature = (features_json, detector_json, threshold_json, baseline, backend = "auto", chunk_bytes = None))]
fn fit(
    py: Python<'_>,
    features_json: &str,
    detector_json: &str,
    threshold_json: &str,
    baseline: PyArrowType<Table>,
    backend: &str,
    chunk_bytes: Option<usize>,
) -> PyResult<NativeModel> {
    let (input, _) = batches(baseline.0);
    fit_batches(
        py,
        [features_json, detector_json, threshold_json],
        input,
        backend,
        chunk_bytes,
    )
}

/// [`fit`] on the parts of one table, each read through `__arrow_c_stream__` (slices of a
/// polars frame within one chunk: exported without a copy, and without pyarrow).
#[pyfunction]
#[pyo3(signature = (features_json, detector_json, threshold_json, parts, backend = "auto", chunk_bytes = None))]
fn fit_parts(
    py: Python<'_>,
    features_json: &str,
    detector_json: &str,
    threshold_json: &str,
    parts: Vec<PyArrowType<Table>>,
    backend: &str,
    chunk_bytes: Option<usize>,
) -> PyResult<NativeModel> {
    let input = parts.into_iter().flat_map(|p| batches(p.0).0).collect();
    fit_batches(
        py,
        [features_json, detector_json, threshold_json],
        input,
        backend,
        chunk_bytes,
    )
}

/// The pipeline of the JSON specs `[features, detector, threshold]`, fitted on `input`.
fn fit_batches(
    py: Python<'_>,
    [features_json, detector_json, threshold_json]: [&str; 3],
    input: Vec<RecordBatch>,
    backend: &str,
    chunk_bytes: Option<usize>,
) -> PyResult<NativeModel> {
    let features: Vec<Stage> = spec(features_json, "features")?;
    let detector: Detector = spec(detector_json, "detector")?;
    let threshold: Threshold = spec(threshold_json, "threshold")?;
    let mut builder = Pipeline::builder()
        .detector(detector)
        .threshold(threshold)
        .backend(self::backend(backend)?);
    for f in features {
        builder = builder.feature(f);
    }
    if let Some(c) = chunk_bytes {
        builder = builder.chunk_bytes(c);
    }
    let pipeline = builder.build().map_err(to_py)?;
    py.detach(move || pipeline.fit(&input))
        .map(|inner| NativeModel { inner })
        .map_err(to_py)
}

/// Computes features only (no detector): input columns followed by feature columns.
#[pyfunction]
#[pyo3(signature = (features_json, data, backend = "auto"))]
fn extract(
    py: Python<'_>,
    features_json: &str,
    data: PyArrowType<Table>,
    backend: &str,
) -> PyResult<PyArrowType<Table>> {
    let features: Vec<Stage> = spec(features_json, "features")?;
    let b = self::backend(backend)?;
    let (input, schema) = batches(data.0);
    let out = py.detach(move || -> vigil::Result<Table> {
        // Window stages look across batches: `extract_batches` joins what they read.
        let batches = vigil::extract_batches(&features, &input, b)?;
        let out_schema = match batches.first() {
            Some(first) => first.schema(),
            None => {
                let mut fields: Vec<arrow::datatypes::FieldRef> =
                    schema.fields().iter().cloned().collect();
                fields.extend(
                    features
                        .iter()
                        .flat_map(|f| f.output_fields_for(&schema))
                        .map(Arc::new),
                );
                Arc::new(arrow::datatypes::Schema::new(fields))
            }
        };
        Ok(Table::try_new(batches, out_schema)?)
    });
    out.map(PyArrowType).map_err(to_py)
}

/// Which backend runs and on which adapter.
#[pyfunction]
#[pyo3(signature = (backend = "auto"))]
fn backend_info<'py>(py: Python<'py>, backend: &str) -> PyResult<Bound<'py, PyDict>> {
    let b = self::backend(backend)?;
    let info = py.detach(move || vigil::backend_info(b)).map_err(to_py)?;
    let d = PyDict::new(py);
    d.set_item("requested", format!("{:?}", info.requested).to_lowercase())?;
    d.set_item("cpu_threads", info.cpu_threads)?;
    d.set_item("adapter_error", info.adapter_error)?;
    match info.adapter {
        Some(a) => {
            let ad = PyDict::new(py);
            ad.set_item("name", a.name)?;
            ad.set_item("api", a.api)?;
            ad.set_item("device_type", a.device_type)?;
            ad.set_item("hardware", a.hardware)?;
            ad.set_item("max_storage_binding", a.max_storage_binding)?;
            d.set_item("adapter", ad)?;
        }
        None => d.set_item("adapter", py.None())?,
    }
    Ok(d)
}

/// Address of the value-bytes buffer of string column `column` as Rust receives it
/// (for tests that show no copy happens on the way in).
#[pyfunction]
fn _string_data_address(data: PyArrowType<Table>, column: &str) -> PyResult<Vec<usize>> {
    let (input, _) = batches(data.0);
    let mut out = Vec::new();
    for b in &input {
        let col = b
            .column_by_name(column)
            .ok_or_else(|| SchemaError::new_err(format!("no column `{column}`")))?;
        let addr = match col.data_type() {
            DataType::Utf8 => col.as_string::<i32>().value_data().as_ptr() as usize,
            DataType::LargeUtf8 => col.as_string::<i64>().value_data().as_ptr() as usize,
            DataType::Utf8View => col
                .as_string_view()
                .data_buffers()
                .first()
                .map(|buf| buf.as_ptr() as usize)
                .unwrap_or(0),
            other => {
                return Err(SchemaError::new_err(format!(
                    "`{column}` is {other}, not a string column"
                )));
            }
        };
        out.push(addr);
    }
    Ok(out)
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    // The core warns through the `log` crate; Python sees it as the `vigil` logger.
    let _ = pyo3_log::try_init();
    m.add_class::<NativeModel>()?;
    detectors::register(m)?;
    logs::register(m)?;
    sigma::register(m)?;
    m.add_function(wrap_pyfunction!(fit, m)?)?;
    m.add_function(wrap_pyfunction!(fit_parts, m)?)?;
    m.add_function(wrap_pyfunction!(backend_info, m)?)?;
    m.add_function(wrap_pyfunction!(parse_duration, m)?)?;
    m.add_function(wrap_pyfunction!(extract, m)?)?;
    m.add_function(wrap_pyfunction!(_string_data_address, m)?)?;
    windows::register(m)?;
    evtx::register(m)?;
    stream::register(m)?;
    intel::register(m)?;
    arrow_out::register(m)?;
    m.add("VigilError", py.get_type::<VigilError>())?;
    m.add("SchemaError", py.get_type::<SchemaError>())?;
    m.add("ParameterError", py.get_type::<ParameterError>())?;
    m.add("InputError", py.get_type::<InputError>())?;
    m.add("GpuError", py.get_type::<GpuError>())?;
    m.add("ModelError", py.get_type::<ModelError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
