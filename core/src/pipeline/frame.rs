//! The feature columns of a batch and the detector's row-major matrix read from them.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::buffer::{BooleanBuffer, NullBuffer};
use arrow::datatypes::{DataType, Field, Float32Type, Float64Type, Int64Type, Schema, UInt32Type};
use rayon::prelude::*;

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::features::{Feature, compute_fused};
use crate::stage::Stage;

/// Feature columns of a batch, read by the detector as a row-major f32 matrix (NaN = null):
/// whole ([`matrix`](Self::matrix)), a few rows ([`rows_matrix`](Self::rows_matrix)) or a
/// block of rows at a time ([`fill_block`](Self::fill_block)), so that a detector scoring
/// block by block never holds the whole matrix.
pub(super) struct FeatureFrame {
    pub(super) columns: Vec<(Field, ArrayRef)>,
    /// Whether each column feeds the detector (rule-hit columns are carried, not scored).
    feeds: Vec<bool>,
    /// Matrix columns.
    width: usize,
    rows: usize,
}

/// The feature columns of `batch`, where `given[i]`, when present, holds stage `i`'s columns already
/// computed (by a stream, which computes window stages over the rows of whole windows);
/// `baseline`: `batch` is part of the baseline the stages were fitted on. Length, entropy
/// and char-class features of one column are computed in one pass (see `compute_fused`).
pub(super) fn feature_frame_with(
    features: &[Stage],
    engine: &Engine,
    batch: &RecordBatch,
    baseline: bool,
    given: &[Option<Vec<ArrayRef>>],
) -> Result<FeatureFrame> {
    let rows = batch.num_rows();
    let row_features: Vec<(usize, &Feature)> = features
        .iter()
        .enumerate()
        .filter(|(i, _)| !matches!(given.get(*i), Some(Some(_))))
        .filter_map(|(i, s)| match s {
            Stage::Row(f) => Some((i, f)),
            _ => None,
        })
        .collect();
    let mut fused = compute_fused(&row_features, batch, engine)?;
    let mut columns = Vec::new();
    let mut feeds = Vec::new();
    for (i, f) in features.iter().enumerate() {
        let fields = f.output_fields();
        let arrays = match given.get(i) {
            Some(Some(arrays)) => arrays.clone(),
            _ => match fused.iter().position(|(k, _)| *k == i) {
                Some(at) => fused.swap_remove(at).1,
                None if baseline => f.compute_baseline(batch, engine)?,
                None => f.compute(batch, engine)?,
            },
        };
        feeds.extend(std::iter::repeat_n(
            !f.detector_names().is_empty(),
            fields.len(),
        ));
        columns.extend(
            fields
                .into_iter()
                .zip(arrays)
                .map(|(f, a)| (f.with_data_type(a.data_type().clone()), a)),
        );
    }
    let width: usize = features.iter().map(|f| f.detector_names().len()).sum();
    let frame = FeatureFrame {
        columns,
        feeds,
        width,
        rows,
    };
    frame.sources()?;
    Ok(frame)
}

impl FeatureFrame {
    /// Rows.
    pub(super) fn rows(&self) -> usize {
        self.rows
    }

    /// One reader per matrix column, in order.
    fn sources(&self) -> Result<Vec<MatrixSource<'_>>> {
        let mut sources = Vec::with_capacity(self.width);
        for ((_, array), _) in self.columns.iter().zip(&self.feeds).filter(|(_, f)| **f) {
            match array.data_type() {
                DataType::Float32 => sources.push(MatrixSource::F32(
                    array.as_primitive::<Float32Type>().values(),
                    0,
                    1,
                    array.logical_nulls(),
                )),
                DataType::Float64 => sources.push(MatrixSource::F64(
                    array.as_primitive::<Float64Type>().values(),
                    array.logical_nulls(),
                )),
                DataType::Int64 => sources.push(MatrixSource::I64(
                    array.as_primitive::<Int64Type>().values(),
                    array.logical_nulls(),
                )),
                DataType::UInt32 => sources.push(MatrixSource::U32(
                    array.as_primitive::<UInt32Type>().values(),
                    array.logical_nulls(),
                )),
                DataType::Boolean => sources.push(MatrixSource::Bool(
                    array.as_boolean().values().clone(),
                    array.logical_nulls(),
                )),
                DataType::FixedSizeList(_, d) => {
                    let list = array.as_fixed_size_list();
                    let values = list.values().as_primitive::<Float32Type>().values();
                    let d = *d as usize;
                    for k in 0..d {
                        sources.push(MatrixSource::F32(values, k, d, list.logical_nulls()));
                    }
                }
                // Text outputs are not in the matrix (see `scalar_names`).
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {}
                other => {
                    return Err(Error::InvalidInput(format!(
                        "internal: feature type {other} not scorable"
                    )));
                }
            }
        }
        if sources.len() != self.width {
            return Err(Error::InvalidInput(format!(
                "internal: {} matrix columns for {} detector features",
                sources.len(),
                self.width
            )));
        }
        Ok(sources)
    }

    /// The whole row-major matrix.
    pub(super) fn matrix(&self) -> Result<Vec<f32>> {
        let sources = self.sources()?;
        let width = self.width;
        let mut matrix = vec![f32::NAN; self.rows * width];
        if width > 0 {
            // Blocks of whole rows in parallel; within a block, one column at a time.
            matrix
                .par_chunks_mut(MATRIX_BLOCK_ROWS * width)
                .enumerate()
                .for_each(|(b, block)| fill(&sources, b * MATRIX_BLOCK_ROWS, block));
        }
        Ok(matrix)
    }

    /// A reader of the matrix block by block: `read(start, block)` writes the rows from
    /// `start` on into `block` column-major (`block.len() / width` rows a column).
    pub(super) fn block_reader(&self) -> Result<impl Fn(usize, &mut [f32]) + Sync + '_> {
        let sources = self.sources()?;
        Ok(move |start: usize, block: &mut [f32]| fill_columns(&sources, start, block))
    }

    /// The matrix rows `rows`, in that order, row-major.
    pub(super) fn rows_matrix(&self, rows: &[usize]) -> Result<Vec<f32>> {
        let sources = self.sources()?;
        let mut x = Vec::with_capacity(rows.len() * self.width);
        for &r in rows {
            x.extend(sources.iter().map(|s| s.value(r)));
        }
        Ok(x)
    }
}

/// Rows `start..` of the matrix of `sources` into `block` column-major: each source's
/// values for those rows, one after the other.
fn fill_columns(sources: &[MatrixSource<'_>], start: usize, block: &mut [f32]) {
    let n = block.len().checked_div(sources.len()).unwrap_or(0);
    let end = start + n;
    for (source, out) in sources.iter().zip(block.chunks_exact_mut(n.max(1))) {
        // Columns without nulls are copied straight; the rest go value by value.
        match source {
            MatrixSource::F32(values, 0, 1, None) if end <= values.len() => {
                out.copy_from_slice(&values[start..end]);
            }
            MatrixSource::U32(values, None) if end <= values.len() => {
                out.iter_mut()
                    .zip(&values[start..end])
                    .for_each(|(x, &v)| *x = v as f32);
            }
            _ => {
                for (r, slot) in out.iter_mut().enumerate() {
                    *slot = source.value(start + r);
                }
            }
        }
    }
}

/// Rows `start..` of the matrix of `sources` into `block` row-major, one column at a time.
fn fill(sources: &[MatrixSource<'_>], start: usize, block: &mut [f32]) {
    let width = sources.len();
    let n = block.len().checked_div(width).unwrap_or(0);
    let end = start + n;
    for (j, source) in sources.iter().enumerate() {
        let slots = block.iter_mut().skip(j).step_by(width);
        // Columns without nulls are copied straight; the rest go value by value.
        match source {
            MatrixSource::F32(values, 0, 1, None) if end <= values.len() => {
                slots.zip(&values[start..end]).for_each(|(x, &v)| *x = v);
            }
            MatrixSource::U32(values, None) if end <= values.len() => {
                slots
                    .zip(&values[start..end])
                    .for_each(|(x, &v)| *x = v as f32);
            }
            _ => {
                for (r, slot) in slots.enumerate() {
                    *slot = source.value(start + r);
                }
            }
        }
    }
}

/// Rows per parallel task when the detector matrix is filled.
const MATRIX_BLOCK_ROWS: usize = 4096;

/// One detector-matrix column read from a feature array (NaN where the array is null).
enum MatrixSource<'a> {
    /// Values `i * stride + offset` of a Float32 array (a FixedSizeList's item `offset`).
    F32(&'a [f32], usize, usize, Option<NullBuffer>),
    /// A Float64 array (windowed aggregates), rounded to f32 for the detector.
    F64(&'a [f64], Option<NullBuffer>),
    /// An Int64 array (windowed counts and integer sums), rounded to f32 for the detector.
    I64(&'a [i64], Option<NullBuffer>),
    /// A UInt32 array, as f32.
    U32(&'a [u32], Option<NullBuffer>),
    /// A Boolean array, as 0 or 1.
    Bool(BooleanBuffer, Option<NullBuffer>),
}

impl MatrixSource<'_> {
    fn value(&self, i: usize) -> f32 {
        let (nulls, v) = match self {
            MatrixSource::F32(values, offset, stride, nulls) => {
                (nulls, values.get(i * stride + offset).copied())
            }
            MatrixSource::F64(values, nulls) => (nulls, values.get(i).map(|&v| v as f32)),
            MatrixSource::I64(values, nulls) => (nulls, values.get(i).map(|&v| v as f32)),
            MatrixSource::U32(values, nulls) => (nulls, values.get(i).map(|&v| v as f32)),
            MatrixSource::Bool(values, nulls) => (
                nulls,
                (i < values.len()).then(|| if values.value(i) { 1.0 } else { 0.0 }),
            ),
        };
        match (nulls, v) {
            (Some(n), _) if n.is_null(i) => f32::NAN,
            (_, Some(v)) => v,
            (_, None) => f32::NAN,
        }
    }
}

/// `batch` with the feature columns appended: what column-reading detectors (rarity) see, so
/// they can name feature outputs such as a domain's registrable part.
pub(super) fn with_feature_columns(
    batch: &RecordBatch,
    columns: &[(Field, ArrayRef)],
) -> Result<RecordBatch> {
    let mut fields: Vec<Arc<Field>> = batch.schema().fields().iter().cloned().collect();
    let mut arrays = batch.columns().to_vec();
    for (f, a) in columns {
        fields.push(Arc::new(f.clone()));
        arrays.push(a.clone());
    }
    let schema = Arc::new(Schema::new(fields));
    Ok(RecordBatch::try_new(schema, arrays)?)
}
