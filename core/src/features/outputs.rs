//! Output arrays of the scalar string features (length, entropy, char classes) from their
//! kernels' column-major words: each column's buffer becomes the Arrow buffer, no copy.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray, Float32Array, RecordBatch, UInt32Array};
use arrow::buffer::{BooleanBuffer, Buffer, NullBuffer, ScalarBuffer};
use arrow::datatypes::DataType;
use rayon::prelude::*;

use super::{CLASS_RATIOS, Feature, FeatureKind};
use crate::columns::{Strings, column};
use crate::cpu;
use crate::engine::{Engine, StringOp};
use crate::error::{Error, Result};

impl Feature {
    /// The output arrays of a length, entropy or char-class feature from its kernel's
    /// column-major words (see `Engine::string_columns`), each column's buffer reused;
    /// `ratios`: the char-class words hold their ratios already (as f32 bits), not counts.
    pub(super) fn scalar_columns(
        &self,
        mut columns: Vec<Vec<u32>>,
        strings: &Strings<'_>,
        nulls: Option<NullBuffer>,
        ratios: bool,
    ) -> Result<Vec<ArrayRef>> {
        let u32s = |v: Vec<u32>, nulls: Option<NullBuffer>| -> ArrayRef {
            Arc::new(UInt32Array::new(v.into(), nulls))
        };
        // f32 values stored as their bits: the same buffer read as Float32.
        let f32s = |v: Vec<u32>, nulls: Option<NullBuffer>| -> ArrayRef {
            let rows = v.len();
            let values = ScalarBuffer::<f32>::new(Buffer::from_vec(v), 0, rows);
            Arc::new(Float32Array::new(values, nulls))
        };
        Ok(match self.kind {
            FeatureKind::Entropy => columns
                .into_iter()
                .map(|c| f32s(c, nulls.clone()))
                .collect(),
            FeatureKind::Length => columns
                .into_iter()
                .map(|c| u32s(c, nulls.clone()))
                .collect(),
            FeatureKind::CharClasses if columns.len() == CLASS_RATIOS.len() + 2 => {
                let rows = if ratios { 0 } else { strings.len() };
                let lens: Vec<u32> = (0..rows)
                    .into_par_iter()
                    .with_min_len(4096)
                    .map(|i| strings.row_len(i) as u32)
                    .collect();
                let hex = columns.pop().unwrap_or_default();
                let run = columns.pop().unwrap_or_default();
                let mut v: Vec<ArrayRef> = columns
                    .into_iter()
                    .map(|mut c| {
                        if !ratios {
                            c.par_iter_mut()
                                .zip(lens.par_iter())
                                .with_min_len(4096)
                                .for_each(|(w, &n)| {
                                    *w = cpu::char_classes::ratio(*w, n as usize).to_bits();
                                });
                        }
                        f32s(c, nulls.clone())
                    })
                    .collect();
                v.push(u32s(run, nulls.clone()));
                let hex = BooleanBuffer::collect_bool(hex.len(), |i| hex[i] != 0);
                v.push(Arc::new(BooleanArray::new(hex, nulls)));
                v
            }
            _ => {
                return Err(Error::InvalidInput(format!(
                    "internal: {:?} has no scalar kernel columns",
                    self.kind
                )));
            }
        })
    }
}

/// The kernel of a length, entropy or char-class feature (the features computed in one
/// fused pass when several read the same column).
fn scalar_op(f: &Feature) -> Option<StringOp> {
    match f.kind {
        FeatureKind::Length => Some(StringOp::Length),
        FeatureKind::Entropy => Some(StringOp::Entropy),
        FeatureKind::CharClasses => Some(StringOp::CharClasses),
        _ => None,
    }
}

/// The output arrays of the length, entropy and char-class features among `features`
/// (each with its stage index) that share a string column with another of them: one pass
/// over each such column computes them all (see `Engine::string_columns_fused`, which
/// gives char-class ratios, not counts), with the
/// same values as computing each alone. Returns `(index, arrays)` for the features it
/// computed; the others (alone on their column, or reading a dictionary column) are left
/// to [`Feature::compute`].
pub(crate) fn compute_fused(
    features: &[(usize, &Feature)],
    batch: &RecordBatch,
    engine: &Engine,
) -> Result<Vec<(usize, Vec<ArrayRef>)>> {
    let scalar: Vec<(usize, &Feature, StringOp)> = features
        .iter()
        .filter_map(|&(i, f)| scalar_op(f).map(|op| (i, f, op)))
        .collect();
    let mut out = Vec::new();
    let mut done = vec![false; scalar.len()];
    for first in 0..scalar.len() {
        if done[first] {
            continue;
        }
        let name = &scalar[first].1.column;
        let group: Vec<usize> = (first..scalar.len())
            .filter(|&k| !done[k] && scalar[k].1.column == *name)
            .collect();
        group.iter().for_each(|&k| done[k] = true);
        if group.len() < 2 {
            continue;
        }
        let array = column(batch, name)?;
        if matches!(array.data_type(), DataType::Dictionary(..)) {
            continue;
        }
        let strings = Strings::new(array.as_ref(), name)?;
        let nulls = array.logical_nulls();
        let ops: Vec<StringOp> = group.iter().map(|&k| scalar[k].2).collect();
        let words = engine.string_columns_fused(&ops, &strings)?;
        for (&k, columns) in group.iter().zip(words) {
            let (index, feature, _) = scalar[k];
            out.push((
                index,
                feature.scalar_columns(columns, &strings, nulls.clone(), true)?,
            ));
        }
    }
    Ok(out)
}
