//! Threat-intel indicators, matching and sightings for Python (`vigil.Intel`).

use arrow::datatypes::Schema;
use arrow::pyarrow::{PyArrowType, Table};
use pyo3::prelude::*;
use vigil::intel::{ColumnKind, IndicatorKind, Intel, SightingOptions};

use crate::{ParameterError, SchemaError, to_py};

fn one_batch(data: Table) -> PyResult<arrow::array::RecordBatch> {
    let (batches, schema) = data.into_inner();
    arrow::compute::concat_batches(&schema, &batches)
        .map_err(|e| SchemaError::new_err(e.to_string()))
}

fn kind(name: &str) -> PyResult<Option<IndicatorKind>> {
    IndicatorKind::parse(name).map_err(ParameterError::new_err)
}

/// (matches, report JSON) of `batches` of one table, the GIL released while matching.
fn matched(
    py: Python<'_>,
    intel: &vigil::intel::Intel,
    batches: &[arrow::array::RecordBatch],
    columns: &[(String, String)],
    at: Option<i64>,
) -> PyResult<(arrow::array::RecordBatch, String)> {
    let cols = column_kinds(columns)?;
    let (out, report) = py
        .detach(|| {
            let refs: Vec<(&str, ColumnKind)> =
                cols.iter().map(|(c, k)| (c.as_str(), *k)).collect();
            intel.match_batches(batches, &refs, at)
        })
        .map_err(to_py)?;
    Ok((out, json_text(&report)?))
}

/// The (column, kind) pairs of a match call, kinds parsed.
fn column_kinds(columns: &[(String, String)]) -> PyResult<Vec<(String, ColumnKind)>> {
    columns
        .iter()
        .map(|(c, k)| ColumnKind::parse(k).map(|k| (c.clone(), k)))
        .collect::<vigil::Result<_>>()
        .map_err(to_py)
}

fn json_text<T: serde::Serialize>(v: &T) -> PyResult<String> {
    serde_json::to_string(v).map_err(|e| ParameterError::new_err(e.to_string()))
}

/// The native indicator set.
#[pyclass(module = "vigil._native")]
#[derive(Default)]
struct NativeIntel {
    inner: Intel,
}

#[pymethods]
impl NativeIntel {
    #[new]
    fn new() -> Self {
        Self::default()
    }

    fn load(&mut self, py: Python<'_>, paths: Vec<String>) -> PyResult<usize> {
        let inner = &mut self.inner;
        py.detach(|| inner.load(&paths)).map_err(to_py)
    }

    fn load_text(&mut self, text: &str, name: &str) -> PyResult<usize> {
        self.inner.load_text(text, name).map_err(to_py)
    }

    #[pyo3(signature = (values, kind, source, confidence = None))]
    fn add(
        &mut self,
        values: Vec<String>,
        kind: &str,
        source: &str,
        confidence: Option<u8>,
    ) -> PyResult<usize> {
        if confidence.is_some_and(|c| c > 100) {
            return Err(ParameterError::new_err("confidence must be 0..100"));
        }
        let k = self::kind(kind)?;
        Ok(self.inner.add(values, k, source, confidence))
    }

    #[pyo3(signature = (values, kind, source = None))]
    fn remove(&mut self, values: Vec<String>, kind: &str, source: Option<&str>) -> PyResult<usize> {
        let k = self::kind(kind)?;
        Ok(self.inner.remove(values, k, source))
    }

    fn expire(&mut self, now_ns: i64) -> usize {
        self.inner.expire(now_ns)
    }

    fn add_warninglist(&mut self, name: &str, kind: &str, entries: Vec<String>) -> PyResult<()> {
        let t = vigil::intel::WarninglistType::parse(kind).map_err(ParameterError::new_err)?;
        self.inner
            .add_warninglist(vigil::intel::Warninglist::new(name, t, entries));
        Ok(())
    }

    /// (matches table, report JSON).
    #[pyo3(signature = (data, columns, at = None))]
    fn match_table(
        &self,
        py: Python<'_>,
        data: PyArrowType<Table>,
        columns: Vec<(String, String)>,
        at: Option<i64>,
    ) -> PyResult<(PyArrowType<Table>, String)> {
        let (mut batches, schema) = data.0.into_inner();
        if batches.is_empty() {
            // No batch still has a schema: missing columns are reported as for any table.
            batches.push(arrow::array::RecordBatch::new_empty(schema));
        }
        let (out, report) = matched(py, &self.inner, &batches, &columns, at)?;
        let schema = out.schema();
        let table =
            Table::try_new(vec![out], schema).map_err(|e| SchemaError::new_err(e.to_string()))?;
        Ok((PyArrowType(table), report))
    }

    /// (matches as an Arrow stream, report JSON) of the parts of one table (each read
    /// through `__arrow_c_stream__`, e.g. slices of a polars frame): polars in, polars out
    /// without pyarrow.
    #[pyo3(signature = (parts, columns, at = None))]
    fn match_stream(
        &self,
        py: Python<'_>,
        parts: Vec<PyArrowType<Table>>,
        columns: Vec<(String, String)>,
        at: Option<i64>,
    ) -> PyResult<(crate::arrow_out::ArrowStream, String)> {
        let (mut batches, schema) = crate::arrow_out::joined(parts)?;
        if batches.is_empty() {
            // No batch still has a schema: missing columns are reported as for any table.
            let schema = schema.unwrap_or_else(|| std::sync::Arc::new(Schema::empty()));
            batches.push(arrow::array::RecordBatch::new_empty(schema));
        }
        let (out, report) = matched(py, &self.inner, &batches, &columns, at)?;
        let schema = out.schema();
        Ok((
            crate::arrow_out::ArrowStream::new(vec![out], schema),
            report,
        ))
    }

    fn report_json(&self) -> PyResult<String> {
        json_text(self.inner.report())
    }

    /// Live indicators as (id, kind, value, source, confidence, valid_from, valid_until).
    #[allow(clippy::type_complexity)]
    fn indicators(
        &self,
    ) -> Vec<(
        String,
        String,
        String,
        String,
        Option<u8>,
        Option<i64>,
        Option<i64>,
    )> {
        self.inner
            .indicators()
            .into_iter()
            .map(|i| {
                (
                    i.id,
                    i.kind.name().to_string(),
                    i.value,
                    i.source,
                    i.confidence,
                    i.valid_from,
                    i.valid_until,
                )
            })
            .collect()
    }

    fn warninglist_names(&self) -> Vec<String> {
        self.inner
            .warninglists()
            .iter()
            .map(|w| w.name.clone())
            .collect()
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }

    fn memory_bytes(&self) -> usize {
        self.inner.memory_bytes()
    }

    fn to_json(&self) -> PyResult<String> {
        self.inner.to_json().map_err(to_py)
    }

    #[staticmethod]
    fn from_json(text: &str) -> PyResult<Self> {
        Ok(NativeIntel {
            inner: Intel::from_json(text).map_err(to_py)?,
        })
    }

    fn save(&self, path: &str) -> PyResult<()> {
        self.inner.save(path).map_err(to_py)
    }

    #[staticmethod]
    fn open(path: &str) -> PyResult<Self> {
        Ok(NativeIntel {
            inner: Intel::open(path).map_err(to_py)?,
        })
    }
}

fn options(
    identity: &str,
    time_column: Option<String>,
    observed_data: bool,
    include_suppressed: bool,
    now_ns: Option<i64>,
) -> SightingOptions {
    let mut o = SightingOptions::new(identity);
    o.time_column = time_column;
    o.observed_data = observed_data;
    o.include_suppressed = include_suppressed;
    if let Some(n) = now_ns {
        o.now = n;
    }
    o
}

/// STIX 2.1 sightings bundle of a match table, as JSON text.
#[pyfunction]
#[pyo3(signature = (matches, identity, time_column = None, observed_data = false, include_suppressed = false, now_ns = None))]
fn stix_sightings(
    matches: PyArrowType<Table>,
    identity: &str,
    time_column: Option<String>,
    observed_data: bool,
    include_suppressed: bool,
    now_ns: Option<i64>,
) -> PyResult<String> {
    let batch = one_batch(matches.0)?;
    let o = options(
        identity,
        time_column,
        observed_data,
        include_suppressed,
        now_ns,
    );
    let v = vigil::intel::stix_sightings(&batch, &o).map_err(to_py)?;
    json_text(&v)
}

/// MISP sightings of a match table, as JSON text.
#[pyfunction]
#[pyo3(signature = (matches, source, time_column = None, include_suppressed = false, now_ns = None))]
fn misp_sightings(
    matches: PyArrowType<Table>,
    source: &str,
    time_column: Option<String>,
    include_suppressed: bool,
    now_ns: Option<i64>,
) -> PyResult<String> {
    let batch = one_batch(matches.0)?;
    let o = options(source, time_column, false, include_suppressed, now_ns);
    let v = vigil::intel::misp_sightings(&batch, &o).map_err(to_py)?;
    json_text(&v)
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<NativeIntel>()?;
    m.add_function(wrap_pyfunction!(stix_sightings, m)?)?;
    m.add_function(wrap_pyfunction!(misp_sightings, m)?)?;
    Ok(())
}
