//! Values of window stages computed for rows still waiting in a [`super::Scorer`], held in
//! the stage's own output type (Int64 counts and integer sums stay exact).

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Float32Array, Float64Array, Int64Array};
use arrow::datatypes::{DataType, Float32Type, Float64Type, Int64Type};

use crate::error::{Error, Result};

/// One computed value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Held {
    /// From an Int64 column.
    Int(i64),
    /// From a Float64 or Float32 column.
    Float(f64),
}

/// The values at positions `at` of a window stage's column `a` (None where null).
pub(super) fn read(a: &dyn Array, at: &[usize]) -> Result<Vec<Option<Held>>> {
    let get = |f: &dyn Fn(usize) -> Held| -> Vec<Option<Held>> {
        at.iter().map(|&p| a.is_valid(p).then(|| f(p))).collect()
    };
    Ok(match a.data_type() {
        DataType::Int64 => {
            let v = a.as_primitive::<Int64Type>();
            get(&|p| Held::Int(v.value(p)))
        }
        DataType::Float64 => {
            let v = a.as_primitive::<Float64Type>();
            get(&|p| Held::Float(v.value(p)))
        }
        DataType::Float32 => {
            let v = a.as_primitive::<Float32Type>();
            get(&|p| Held::Float(f64::from(v.value(p))))
        }
        other => {
            return Err(Error::InvalidInput(format!(
                "internal: window column of type {other}"
            )));
        }
    })
}

/// A column of type `dt` (the stage's output type for the stream's input) of `values`.
pub(super) fn column(values: Vec<Option<Held>>, dt: &DataType) -> Result<ArrayRef> {
    let float = |h: Held| match h {
        Held::Int(i) => i as f64,
        Held::Float(f) => f,
    };
    Ok(match dt {
        DataType::Int64 => Arc::new(Int64Array::from_iter(values.into_iter().map(|v| {
            v.map(|h| match h {
                Held::Int(i) => i,
                Held::Float(f) => f as i64,
            })
        }))),
        DataType::Float64 => Arc::new(Float64Array::from_iter(
            values.into_iter().map(|v| v.map(float)),
        )),
        DataType::Float32 => Arc::new(Float32Array::from_iter(
            values.into_iter().map(|v| v.map(|h| float(h) as f32)),
        )),
        other => {
            return Err(Error::InvalidInput(format!(
                "internal: window column of type {other}"
            )));
        }
    })
}
