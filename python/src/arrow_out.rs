//! Results handed to Python through the Arrow PyCapsule stream interface, without pyarrow:
//! polars in, polars out (`polars.DataFrame(stream)` imports the batches zero-copy), so
//! `import vigil` and a polars workload never load pyarrow (0.1-0.25 s of a whole process).

use arrow::array::{RecordBatch, RecordBatchIterator};
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::ffi_stream::FFI_ArrowArrayStream;
use arrow::pyarrow::{PyArrowType, Table};
use pyo3::prelude::*;
use pyo3::types::PyCapsule;
use vigil::Stage;
use vigil::window::WindowStage;

use crate::{backend, batches, spec, to_py};

/// Record batches of one schema that any Arrow consumer reads through
/// `__arrow_c_stream__` (polars, pyarrow, DuckDB, ...); each call exports them anew.
#[pyclass(module = "vigil._native", frozen)]
pub(crate) struct ArrowStream {
    batches: Vec<RecordBatch>,
    schema: SchemaRef,
}

impl ArrowStream {
    /// A stream of `batches`, all of `schema`.
    pub(crate) fn new(batches: Vec<RecordBatch>, schema: SchemaRef) -> Self {
        ArrowStream { batches, schema }
    }
}

#[pymethods]
impl ArrowStream {
    /// The batches as an `arrow_array_stream` PyCapsule (the requested schema is not
    /// honoured: the batches come in their own types).
    #[pyo3(signature = (requested_schema = None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let _ = requested_schema;
        let reader = RecordBatchIterator::new(
            self.batches.clone().into_iter().map(Ok),
            self.schema.clone(),
        );
        let stream = FFI_ArrowArrayStream::new(Box::new(reader));
        PyCapsule::new_with_value(py, stream, c"arrow_array_stream")
    }

    /// Rows in all batches.
    fn __len__(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }
}

/// The batches of `parts` (each read through `__arrow_c_stream__`, e.g. slices of a polars
/// frame that lie within one chunk), in order, and the first part's schema.
pub(crate) fn joined(
    parts: Vec<PyArrowType<Table>>,
) -> PyResult<(Vec<RecordBatch>, Option<SchemaRef>)> {
    let mut all = Vec::new();
    let mut schema = None;
    for p in parts {
        let (b, s) = batches(p.0);
        schema.get_or_insert(s);
        all.extend(b);
    }
    Ok((all, schema))
}

/// `extract` over the parts of one table (see `joined`), as an Arrow stream: the input
/// columns (the same buffers) and the feature columns, one batch per input batch.
#[pyfunction]
#[pyo3(signature = (features_json, parts, backend = "auto"))]
fn extract_stream(
    py: Python<'_>,
    features_json: &str,
    parts: Vec<PyArrowType<Table>>,
    backend: &str,
) -> PyResult<ArrowStream> {
    let features: Vec<Stage> = spec(features_json, "features")?;
    let b = self::backend(backend)?;
    let (input, schema) = joined(parts)?;
    let out = py.detach(move || vigil::extract_batches(&features, &input, b));
    let out = out.map_err(to_py)?;
    let schema = match (out.first(), schema) {
        (Some(first), _) => first.schema(),
        (None, Some(s)) => {
            let mut fields: Vec<arrow::datatypes::FieldRef> = s.fields().iter().cloned().collect();
            let stages: Vec<Stage> = spec(features_json, "features")?;
            fields.extend(
                stages
                    .iter()
                    .flat_map(|f| f.output_fields_for(&s))
                    .map(std::sync::Arc::new),
            );
            std::sync::Arc::new(arrow::datatypes::Schema::new(fields))
        }
        (None, None) => std::sync::Arc::new(arrow::datatypes::Schema::empty()),
    };
    Ok(ArrowStream {
        batches: out,
        schema,
    })
}

/// `window_aggregate` over the parts of one table (see `joined`), as an Arrow stream.
#[pyfunction]
#[pyo3(signature = (features_json, parts, backend = "auto"))]
fn window_aggregate_stream(
    py: Python<'_>,
    features_json: &str,
    parts: Vec<PyArrowType<Table>>,
    backend: &str,
) -> PyResult<ArrowStream> {
    let features: Vec<WindowStage> = spec(features_json, "aggregates")?;
    let b = self::backend(backend)?;
    let (input, _) = joined(parts)?;
    let out = py.detach(move || vigil::window::aggregate_features(&input, &features, b));
    let out = out.map_err(to_py)?;
    Ok(ArrowStream {
        schema: out.schema(),
        batches: vec![out],
    })
}

/// `model.score` over the parts of one table (see `joined`), as an Arrow stream of the
/// appended columns only (features, score, explanation, alert, reason), in the layouts
/// polars holds, one batch per input batch (the whole table in one batch when the model
/// looks across rows). The caller `hstack`s them onto its own frame: no pyarrow involved.
#[pyfunction]
#[pyo3(signature = (model, parts, backend = "auto", chunk_bytes = None))]
fn score_stream(
    py: Python<'_>,
    model: PyRef<'_, crate::NativeModel>,
    parts: Vec<PyArrowType<Table>>,
    backend: &str,
    chunk_bytes: Option<usize>,
) -> PyResult<ArrowStream> {
    let model = model.configured(backend, chunk_bytes)?;
    let (input, schema) = joined(parts)?;
    let Some(schema) = schema else {
        return Err(pyo3::exceptions::PyValueError::new_err(
            "score: no input batches",
        ));
    };
    let width = schema.fields().len();
    let out = py.detach(move || -> vigil::Result<(Vec<RecordBatch>, SchemaRef)> {
        let table = crate::polars_types::table(crate::scored(&model, input, &schema)?, width)?;
        let (batches, schema) = table.into_inner();
        let keep: Vec<usize> = (width..schema.fields().len()).collect();
        let schema = Arc::new(schema.project(&keep)?);
        let batches = batches
            .iter()
            .map(|b| b.project(&keep))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((batches, schema))
    });
    let (batches, schema) = out.map_err(to_py)?;
    Ok(ArrowStream { batches, schema })
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<ArrowStream>()?;
    m.add_function(wrap_pyfunction!(score_stream, m)?)?;
    m.add_function(wrap_pyfunction!(extract_stream, m)?)?;
    m.add_function(wrap_pyfunction!(window_aggregate_stream, m)?)?;
    Ok(())
}
