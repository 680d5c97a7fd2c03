//! Numeric feature columns read where Arrow holds them (Float32 and Float64 without a copy),
//! and the isolation-forest executor over them: the CPU twin reads blocks of rows straight
//! from the columns, so no row-major matrix of the whole input is ever built.

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, new_empty_array};
use arrow::buffer::NullBuffer;
use arrow::compute::{cast, concat};
use arrow::datatypes::{DataType, Float32Type, Float64Type};
use rayon::prelude::*;

use super::Engine;
use crate::columns::numeric_array;
use crate::cpu;
use crate::error::Result;

/// Values of one feature column.
enum Values<'a> {
    F32(&'a [f32]),
    F64(&'a [f64]),
}

/// One feature column: values and nulls (a null or non-finite value is a null).
struct Column<'a> {
    values: Values<'a>,
    nulls: Option<NullBuffer>,
}

impl Column<'_> {
    /// Row `i` as f32, `None` when null or not finite (Float64 rounds to f32 as Arrow's cast
    /// does, so a value beyond f32's range is not finite).
    #[inline]
    fn get(&self, i: usize) -> Option<f32> {
        if self.nulls.as_ref().is_some_and(|n| n.is_null(i)) {
            return None;
        }
        let v = match self.values {
            Values::F32(v) => v[i],
            Values::F64(v) => v[i] as f32,
        };
        v.is_finite().then_some(v)
    }
}

/// The numeric feature columns of one batch, in feature order. Float32 and Float64 columns
/// are borrowed as Arrow holds them; other numeric and boolean columns are cast to Float32
/// once.
pub(crate) struct FeatureColumns {
    arrays: Vec<ArrayRef>,
    rows: usize,
}

impl FeatureColumns {
    /// The columns `names` of `batch` (any integer, float or boolean type), or the typed error
    /// naming a missing or non-numeric column.
    pub(crate) fn from_batch(batch: &RecordBatch, names: &[String]) -> Result<Self> {
        let arrays = names
            .iter()
            .map(|name| numeric_array(batch, name, true))
            .collect::<Result<Vec<_>>>()?;
        Ok(FeatureColumns {
            arrays,
            rows: batch.num_rows(),
        })
    }

    /// The columns `names` of `batches` joined in order (borrowed as they are when there is
    /// one batch, concatenated otherwise).
    pub(crate) fn from_batches(batches: &[RecordBatch], names: &[String]) -> Result<Self> {
        match batches {
            [one] => Self::from_batch(one, names),
            _ => {
                let mut arrays = Vec::with_capacity(names.len());
                for name in names {
                    let parts = batches
                        .iter()
                        .map(|b| numeric_array(b, name, true))
                        .collect::<Result<Vec<_>>>()?;
                    // Cast every part to one type (Float64 when any part is) before joining.
                    let to = if parts.iter().any(|a| *a.data_type() == DataType::Float64) {
                        DataType::Float64
                    } else {
                        DataType::Float32
                    };
                    let parts = parts
                        .iter()
                        .map(|a| cast(a.as_ref(), &to))
                        .collect::<std::result::Result<Vec<_>, _>>()?;
                    let refs: Vec<&dyn Array> = parts.iter().map(|a| a.as_ref()).collect();
                    arrays.push(if refs.is_empty() {
                        new_empty_array(&to)
                    } else {
                        concat(&refs)?
                    });
                }
                Ok(FeatureColumns {
                    arrays,
                    rows: batches.iter().map(RecordBatch::num_rows).sum(),
                })
            }
        }
    }

    /// Rows.
    pub(crate) fn rows(&self) -> usize {
        self.rows
    }

    /// Features.
    pub(crate) fn features(&self) -> usize {
        self.arrays.len()
    }

    fn columns(&self) -> Vec<Column<'_>> {
        self.arrays
            .iter()
            .map(|a| Column {
                values: match a.data_type() {
                    DataType::Float64 => Values::F64(a.as_primitive::<Float64Type>().values()),
                    // numeric_array returns Float32 or Float64 only.
                    _ => Values::F32(a.as_primitive::<Float32Type>().values()),
                },
                nulls: a.logical_nulls(),
            })
            .collect()
    }

    /// Per feature: the sum (f64, in row order) and count of the non-null, finite values.
    pub(crate) fn sums_and_counts(&self) -> (Vec<f64>, Vec<u64>) {
        self.columns()
            .par_iter()
            .map(|c| {
                let (mut sum, mut count) = (0f64, 0u64);
                for i in 0..self.rows {
                    if let Some(v) = c.get(i) {
                        sum += f64::from(v);
                        count += 1;
                    }
                }
                (sum, count)
            })
            .unzip()
    }

    /// Appends rows `rows` to `out` row-major, a null replaced by `fill` of its feature.
    pub(crate) fn gather(&self, rows: &[usize], fill: &[f32], out: &mut Vec<f32>) {
        let columns = self.columns();
        for &r in rows {
            out.extend(
                columns
                    .iter()
                    .zip(fill)
                    .map(|(c, &m)| c.get(r).unwrap_or(m)),
            );
        }
    }

    /// The row-major matrix, NaN for nulls (what the GPU kernels read).
    pub(crate) fn to_matrix(&self) -> Vec<f32> {
        let columns = self.columns();
        let f = columns.len();
        let mut x = vec![f32::NAN; self.rows * f];
        for (j, c) in columns.iter().enumerate() {
            for i in 0..self.rows {
                if let Some(v) = c.get(i) {
                    x[i * f + j] = v;
                }
            }
        }
        x
    }
}

/// Writes rows `r0..r0 + unscored.len()` of `columns` row-major into `out`, nulls replaced
/// by `fill`; marks rows whose every feature is null.
fn read_block(
    columns: &[Column<'_>],
    fill: &[f32],
    r0: usize,
    out: &mut Vec<f32>,
    unscored: &mut [bool],
) {
    let (f, n) = (columns.len(), unscored.len());
    out.clear();
    out.resize(n * f, 0.0);
    unscored.fill(true);
    // Column by column: each column's slice is read sequentially.
    for (j, (c, &m)) in columns.iter().zip(fill).enumerate() {
        match (&c.values, &c.nulls) {
            (Values::F32(v), None) => {
                for (i, (&x, none)) in v[r0..r0 + n].iter().zip(unscored.iter_mut()).enumerate() {
                    let ok = x.is_finite();
                    *none &= !ok;
                    out[i * f + j] = if ok { x } else { m };
                }
            }
            _ => {
                for (i, none) in unscored.iter_mut().enumerate() {
                    let v = c.get(r0 + i);
                    *none &= v.is_none();
                    out[i * f + j] = v.unwrap_or(m);
                }
            }
        }
    }
}

/// Rows a CPU block holds: 256 rows of 16 features (16 KiB) stay in L1 cache across all
/// trees of the forest.
const BLOCK_ROWS: usize = 256;

impl Engine {
    /// Isolation-forest scores (NaN = unscored) of every row of `columns`: the GPU kernel on
    /// a row-major copy when the engine picks a GPU, else the CPU twin in parallel blocks of
    /// rows read straight from the columns.
    pub(crate) fn iforest_columns(
        &self,
        columns: &FeatureColumns,
        forest: &cpu::iforest::Forest<'_>,
    ) -> Result<Vec<f32>> {
        let (rows, f) = (columns.rows(), columns.features());
        if f == 0 || rows == 0 || f != forest.fill.len() {
            return Ok(vec![f32::NAN; rows]);
        }
        let bytes = rows * f * 4;
        let walk_steps = forest.roots.len() * 2 * (forest.max_depth as usize + 1) + 2 * f;
        self.run(
            bytes,
            f <= super::GPU_MAX_FEATURES && walk_steps < 65_535,
            |ctx| {
                let x = columns.to_matrix();
                self.iforest_gpu(ctx, &x, forest).map(|(_, score)| score)
            },
            || {
                let compiled = cpu::iforest::Compiled::new(forest);
                let cols = columns.columns();
                let mut score = vec![0f32; rows];
                score.par_chunks_mut(BLOCK_ROWS).enumerate().for_each_init(
                    || (Vec::new(), vec![false; BLOCK_ROWS]),
                    |(filled, unscored), (b, s)| {
                        let unscored = &mut unscored[..s.len()];
                        read_block(&cols, compiled.fill(), b * BLOCK_ROWS, filled, unscored);
                        compiled.walk_filled(filled, unscored, &mut [], s);
                    },
                );
                score
            },
        )
    }
}
