//! Detectors outside a pipeline (scikit-learn-like), evaluation and drift.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Field, Float32Type, Schema};
use arrow::pyarrow::{PyArrowType, Table};
use numpy::PyArray1;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use vigil::detect::{Detector, FittedDetector, evaluate as evaluate_scores};
use vigil::drift::{DriftOptions, drift as drift_report};

use crate::{InputError, SchemaError, backend, batches, spec, to_py};

/// A fitted detector (isolation forest, PCA residual, rarity, robust z or ensemble).
#[pyclass(module = "vigil._native", frozen)]
pub(crate) struct NativeDetector {
    inner: FittedDetector,
}

#[pymethods]
impl NativeDetector {
    /// Scores a table: a pyarrow Table with `score` and `explanation`, one row per input row.
    #[pyo3(signature = (data, backend = "auto"))]
    fn score(
        &self,
        py: Python<'_>,
        data: PyArrowType<Table>,
        backend: &str,
    ) -> PyResult<PyArrowType<Table>> {
        let b = self::backend(backend)?;
        let (input, _) = batches(data.0);
        let det = self.inner.clone();
        let schema = Arc::new(Schema::new(vec![
            Field::new("score", DataType::Float32, true),
            Field::new("explanation", vigil::detect::explanation_type(), true),
        ]));
        let out = py.detach(move || -> vigil::Result<Table> {
            let mut out = Vec::with_capacity(input.len());
            for batch in &input {
                let s = det.score_batch(batch, b)?;
                out.push(RecordBatch::try_new(
                    schema.clone(),
                    vec![
                        Arc::new(s.score_array()) as ArrayRef,
                        Arc::new(s.explanation_array(det.top_k())),
                    ],
                )?);
            }
            Ok(Table::try_new(out, schema)?)
        });
        out.map(PyArrowType).map_err(to_py)
    }

    /// Scores only (no explanations; cheaper for the isolation forest) of a table or a list
    /// of parts (see `input_batches`): a float64 NumPy array that owns the scores' buffer (no
    /// copy, no pyarrow), NaN where a row could not be scored.
    #[pyo3(signature = (data, backend = "auto"))]
    fn score_samples<'py>(
        &self,
        py: Python<'py>,
        data: &Bound<'py, PyAny>,
        backend: &str,
    ) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let b = self::backend(backend)?;
        let input = input_batches(data)?;
        let det = self.inner.clone();
        let out = py.detach(move || -> vigil::Result<Vec<f64>> {
            let rows = input.iter().map(RecordBatch::num_rows).sum();
            let mut all = Vec::with_capacity(rows);
            for batch in &input {
                // f32 -> f64 is exact: the scores are the kernel's, unchanged.
                all.extend(det.score_samples(batch, b)?.into_iter().map(f64::from));
            }
            Ok(all)
        });
        out.map(|v| PyArray1::from_vec(py, v)).map_err(to_py)
    }

    /// Merges with a detector fitted on another partition of the baseline.
    fn merge(&self, other: &NativeDetector) -> PyResult<NativeDetector> {
        self.inner
            .merge(&other.inner)
            .map(|inner| NativeDetector { inner })
            .map_err(to_py)
    }

    /// Feature columns it reads (empty for rarity).
    #[getter]
    fn features(&self) -> Vec<String> {
        self.inner.features().to_vec()
    }

    /// Versioned JSON.
    fn to_json(&self) -> PyResult<String> {
        self.inner.to_json().map_err(to_py)
    }

    /// Reads a detector from JSON (format, version, size and shape are checked).
    #[staticmethod]
    fn from_json(json: &str) -> PyResult<Self> {
        FittedDetector::from_json(json)
            .map(|inner| NativeDetector { inner })
            .map_err(to_py)
    }
}

/// The record batches of `data`, in order: one object read through `__arrow_c_stream__` (a
/// pyarrow Table, a polars DataFrame, ...) or a list of them (slices of a polars frame, each
/// within one chunk of every column, which polars exports without a copy).
fn input_batches(data: &Bound<'_, PyAny>) -> PyResult<Vec<RecordBatch>> {
    if let Ok(parts) = data.cast::<PyList>() {
        let mut out = Vec::new();
        for part in parts.iter() {
            out.extend(batches(part.extract::<PyArrowType<Table>>()?.0).0);
        }
        return Ok(out);
    }
    Ok(batches(data.extract::<PyArrowType<Table>>()?.0).0)
}

/// Fits a detector described by JSON on the numeric `columns` of a table or a list of parts
/// (see `input_batches`).
#[pyfunction]
#[pyo3(signature = (detector_json, data, columns, backend = "auto"))]
fn fit_detector(
    py: Python<'_>,
    detector_json: &str,
    data: &Bound<'_, PyAny>,
    columns: Vec<String>,
    backend: &str,
) -> PyResult<NativeDetector> {
    let detector: Detector = spec(detector_json, "detector")?;
    let b = self::backend(backend)?;
    let input = input_batches(data)?;
    py.detach(move || detector.fit_batches(&input, &columns, b))
        .map(|inner| NativeDetector { inner })
        .map_err(to_py)
}

fn column<'a>(batches: &'a [RecordBatch], name: &str) -> PyResult<Vec<&'a ArrayRef>> {
    batches
        .iter()
        .map(|b| {
            b.column_by_name(name)
                .ok_or_else(|| SchemaError::new_err(format!("no column `{name}`")))
        })
        .collect()
}

/// Evaluates a table's Float32 `score`, Boolean `alert` and Boolean `label` columns.
#[pyfunction]
#[pyo3(signature = (data, k = 100))]
fn evaluate<'py>(
    py: Python<'py>,
    data: PyArrowType<Table>,
    k: usize,
) -> PyResult<Bound<'py, PyDict>> {
    let (input, _) = batches(data.0);
    let (mut scores, mut alerts, mut labels) = (Vec::new(), Vec::new(), Vec::new());
    for a in column(&input, "score")? {
        let a = a
            .as_primitive_opt::<Float32Type>()
            .ok_or_else(|| SchemaError::new_err("`score` must be float32"))?;
        scores.extend((0..a.len()).map(|i| if a.is_valid(i) { a.value(i) } else { f32::NAN }));
    }
    for (name, out) in [("alert", &mut alerts), ("label", &mut labels)] {
        for a in column(&input, name)? {
            let a = a
                .as_boolean_opt()
                .ok_or_else(|| SchemaError::new_err(format!("`{name}` must be boolean")))?;
            if a.null_count() > 0 {
                return Err(InputError::new_err(format!("`{name}` has nulls")));
            }
            out.extend(a.iter().map(|v| v.unwrap_or(false)));
        }
    }
    let e = py
        .detach(move || evaluate_scores(&scores, &alerts, &labels, k))
        .map_err(to_py)?;
    let d = PyDict::new(py);
    d.set_item("rows", e.rows)?;
    d.set_item("positives", e.positives)?;
    d.set_item("unscored", e.unscored)?;
    d.set_item("alerts", e.alerts)?;
    d.set_item("true_positives", e.true_positives)?;
    d.set_item("false_positives", e.false_positives)?;
    d.set_item("false_negatives", e.false_negatives)?;
    d.set_item("precision", e.precision)?;
    d.set_item("recall", e.recall)?;
    d.set_item("f1", e.f1)?;
    d.set_item("roc_auc", e.roc_auc)?;
    d.set_item("pr_auc", e.pr_auc)?;
    d.set_item("k", e.k)?;
    d.set_item("precision_at_k", e.precision_at_k)?;
    Ok(d)
}

/// Per-feature drift of `current` against `reference`: a list of dicts.
#[pyfunction]
#[pyo3(signature = (reference, current, columns, options_json, backend = "auto"))]
fn drift<'py>(
    py: Python<'py>,
    reference: PyArrowType<Table>,
    current: PyArrowType<Table>,
    columns: Vec<String>,
    options_json: &str,
    backend: &str,
) -> PyResult<Vec<Bound<'py, PyDict>>> {
    let options: DriftOptions = spec(options_json, "drift options")?;
    let b = self::backend(backend)?;
    let (r, _) = batches(reference.0);
    let (c, _) = batches(current.0);
    let report = py
        .detach(move || drift_report(&r, &c, &columns, options, b))
        .map_err(to_py)?;
    report
        .into_iter()
        .map(|d| {
            let row = PyDict::new(py);
            row.set_item("feature", d.feature)?;
            row.set_item("psi", d.psi)?;
            row.set_item("ks", d.ks)?;
            row.set_item("ks_pvalue", d.ks_pvalue)?;
            row.set_item("reference_null_share", d.reference_null_share)?;
            row.set_item("current_null_share", d.current_null_share)?;
            row.set_item("drifted", d.drifted)?;
            Ok(row)
        })
        .collect()
}

/// Adds this file's classes and functions to the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<NativeDetector>()?;
    m.add_function(wrap_pyfunction!(fit_detector, m)?)?;
    m.add_function(wrap_pyfunction!(evaluate, m)?)?;
    m.add_function(wrap_pyfunction!(drift, m)?)?;
    Ok(())
}
