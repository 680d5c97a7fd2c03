//! Output arrays of the scalar string features (length, entropy, char classes) from their
//! kernels' column-major words: each column's buffer becomes the Arrow buffer, no copy.

use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, Float32Array, UInt32Array};
use arrow::buffer::{BooleanBuffer, Buffer, NullBuffer, ScalarBuffer};
use rayon::prelude::*;

use super::{CLASS_RATIOS, Feature, FeatureKind};
use crate::columns::Strings;
use crate::error::{Error, Result};

impl Feature {
    /// The output arrays of a length, entropy or char-class feature from its kernel's
    /// column-major words (see `Engine::string_columns`), each column's buffer reused.
    pub(super) fn scalar_columns(
        &self,
        mut columns: Vec<Vec<u32>>,
        strings: &Strings<'_>,
        nulls: Option<NullBuffer>,
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
                let rows = strings.len();
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
                        c.par_iter_mut()
                            .zip(lens.par_iter())
                            .with_min_len(4096)
                            .for_each(|(w, &n)| {
                                let ratio = if n == 0 { 0.0 } else { *w as f32 / n as f32 };
                                *w = ratio.to_bits();
                            });
                        f32s(c, nulls.clone())
                    })
                    .collect();
                v.push(u32s(run, nulls.clone()));
                let hex = BooleanBuffer::from_iter(hex.iter().map(|&w| w != 0));
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
