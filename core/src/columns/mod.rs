//! Arrow access shared by every stage: column lookup with the one missing-column error,
//! numeric values, borrowed string views, the one time-column reader and the one duration
//! parser.
//!
//! This is the leaf of the crate: it imports nothing of vigil but the error type ([`crate::Error`]), so any
//! module (kernels, stages, detectors, readers, bindings) can use it without a cycle.

mod duration;
mod strings;
mod time;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray};
use arrow::buffer::NullBuffer;
use arrow::compute::kernels::cast::cast;
use arrow::datatypes::{DataType, Float32Type};

use crate::error::{Error, Result};

pub use duration::{parse_duration, parse_duration_param, parse_seconds};
pub(crate) use strings::{STRING_TYPES, Strings};
pub(crate) use time::{RawTimes, raw_times};
pub use time::{TIME_TYPES, Times, array_times, text_times, times};

/// The column `name` of `batch`, or [`Error::MissingColumn`] listing the columns present.
pub fn column<'b>(batch: &'b RecordBatch, name: &str) -> Result<&'b ArrayRef> {
    batch
        .column_by_name(name)
        .ok_or_else(|| missing_column(name, batch.schema().fields().iter().map(|f| f.name())))
}

/// [`Error::MissingColumn`] for `name`, listing `available`.
pub fn missing_column<S: AsRef<str>>(name: &str, available: impl IntoIterator<Item = S>) -> Error {
    Error::MissingColumn {
        column: name.to_string(),
        available: available
            .into_iter()
            .map(|s| s.as_ref().to_string())
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// A numeric column (and a boolean one when `booleans`) as f32, NaN for nulls and
/// non-finite values.
pub fn numeric_values(batch: &RecordBatch, name: &str, booleans: bool) -> Result<Vec<f32>> {
    let floats = numeric_array(batch, name, booleans)?;
    let floats = cast(floats.as_ref(), &DataType::Float32)?;
    Ok(floats
        .as_primitive::<Float32Type>()
        .iter()
        .map(|v| match v {
            Some(x) if x.is_finite() => x,
            _ => f32::NAN,
        })
        .collect())
}

/// A numeric column (and a boolean one when `booleans`) without copying when it is Float32
/// or Float64 (returned as it is), else cast to Float32. Nulls stay nulls; non-finite
/// values are left for the caller to treat as nulls.
pub(crate) fn numeric_array(batch: &RecordBatch, name: &str, booleans: bool) -> Result<ArrayRef> {
    let array = column(batch, name)?;
    let ok =
        array.data_type().is_numeric() || (booleans && *array.data_type() == DataType::Boolean);
    if !ok {
        return Err(Error::WrongType {
            column: name.to_string(),
            expected: if booleans {
                "an integer, floating-point or boolean column"
            } else {
                "an integer or floating-point column"
            }
            .to_string(),
            found: array.data_type().clone(),
        });
    }
    match array.data_type() {
        DataType::Float32 | DataType::Float64 => Ok(array.clone()),
        _ => Ok(cast(array.as_ref(), &DataType::Float32)?),
    }
}

/// A numeric column as f32 with NaN for nulls, and its validity (non-finite values are null).
pub(crate) fn numeric_input(
    batch: &RecordBatch,
    name: &str,
) -> Result<(Vec<f32>, Option<NullBuffer>)> {
    let values = numeric_values(batch, name, false)?;
    let valid = NullBuffer::from_iter(values.iter().map(|v| !v.is_nan()));
    let nulls = if valid.null_count() == 0 {
        None
    } else {
        Some(valid)
    };
    Ok((values, nulls))
}

/// `array` as a Utf8 array (Utf8, LargeUtf8, Utf8View or a dictionary of these), or a typed
/// error naming `column`.
pub(crate) fn utf8(array: &dyn Array, column: &str) -> Result<StringArray> {
    let ok = match array.data_type() {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::Dictionary(_, v) => {
            matches!(
                **v,
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
            )
        }
        _ => false,
    };
    if !ok {
        return Err(Error::WrongType {
            column: column.to_string(),
            expected: "a string column (Utf8, LargeUtf8, Utf8View or a dictionary of these)".into(),
            found: array.data_type().clone(),
        });
    }
    let a = arrow::compute::cast(array, &DataType::Utf8)?;
    Ok(arrow::array::AsArray::as_string::<i32>(a.as_ref()).clone())
}

/// `array` as text: strings as they are, numbers, booleans, dates and dictionaries of these
/// cast to their decimal/ISO text (what pattern-matching stages such as Sigma rules compare
/// against), or a typed error naming `column` for nested types.
pub(crate) fn text(array: &dyn Array, column: &str) -> Result<StringArray> {
    let nested = matches!(
        array.data_type(),
        DataType::List(_)
            | DataType::LargeList(_)
            | DataType::FixedSizeList(..)
            | DataType::Struct(_)
            | DataType::Map(..)
            | DataType::Union(..)
    );
    if nested || !arrow::compute::can_cast_types(array.data_type(), &DataType::Utf8) {
        return Err(Error::WrongType {
            column: column.to_string(),
            expected: "a string, number, boolean or time column".into(),
            found: array.data_type().clone(),
        });
    }
    let a = cast(array, &DataType::Utf8)?;
    Ok(a.as_string::<i32>().clone())
}
