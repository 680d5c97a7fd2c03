//! The one time-column reader: Timestamp of any unit and zone, Int64 or Float64 epoch
//! seconds, into i64 nanoseconds since the Unix epoch.

use std::sync::Arc;

use arrow::array::{Array, AsArray, PrimitiveArray, RecordBatch};
use arrow::buffer::NullBuffer;
use arrow::datatypes::{
    ArrowPrimitiveType, DataType, Float64Type, Int64Type, TimeUnit, TimestampMicrosecondType,
    TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType,
};

use crate::error::{Error, Result};

/// What a time column may be, for error messages.
pub const TIME_TYPES: &str =
    "a Timestamp (any unit, any zone), Int64 epoch seconds or Float64 epoch seconds";

/// A time column read as nanoseconds since the Unix epoch.
#[derive(Clone, Debug)]
pub struct Times {
    /// Nanoseconds since the Unix epoch (null slots hold 0).
    pub ns: Vec<i64>,
    /// Validity: `None` when every row has a time. NaN epoch seconds are null.
    pub nulls: Option<NullBuffer>,
    /// The zone of a Timestamp column (`None` for naive timestamps and epoch seconds).
    pub tz: Option<Arc<str>>,
}

impl Times {
    /// Whether row `i` has a time.
    pub fn is_valid(&self, i: usize) -> bool {
        self.nulls.as_ref().is_none_or(|n| n.is_valid(i))
    }

    /// The time of row `i` in nanoseconds, `None` when null.
    pub fn get(&self, i: usize) -> Option<i64> {
        self.is_valid(i).then(|| self.ns.get(i).copied()).flatten()
    }
}

/// Reads the time column `name` of `batch` (see [`array_times`]).
pub fn times(batch: &RecordBatch, name: &str) -> Result<Times> {
    array_times(super::column(batch, name)?.as_ref(), name)
}

/// Reads `array` (the column `name`, named in errors) as nanoseconds since the Unix epoch:
/// a Timestamp of any unit and zone, Int64 epoch seconds or Float64 epoch seconds (rounded
/// to the nanosecond; NaN is null). Nulls stay null; a valid time outside the nanosecond
/// range (years 1677-2262) is [`Error::InvalidInput`] naming the row.
pub fn array_times(array: &dyn Array, name: &str) -> Result<Times> {
    let overflow = |i: usize| {
        Error::InvalidInput(format!(
            "time column `{name}` row {i}: out of the range of nanosecond timestamps (years 1677-2262)"
        ))
    };
    let nulls = array.logical_nulls().filter(|n| n.null_count() > 0);
    let (ns, tz) = match array.data_type() {
        DataType::Timestamp(unit, tz) => {
            let v = match unit {
                TimeUnit::Second => scaled_of::<TimestampSecondType>(array, 1_000_000_000, &nulls),
                TimeUnit::Millisecond => {
                    scaled_of::<TimestampMillisecondType>(array, 1_000_000, &nulls)
                }
                TimeUnit::Microsecond => {
                    scaled_of::<TimestampMicrosecondType>(array, 1_000, &nulls)
                }
                TimeUnit::Nanosecond => Ok(array
                    .as_primitive::<TimestampNanosecondType>()
                    .values()
                    .to_vec()),
            }
            .map_err(overflow)?;
            (v, tz.clone())
        }
        DataType::Int64 => (
            scaled_of::<Int64Type>(array, 1_000_000_000, &nulls).map_err(overflow)?,
            None,
        ),
        DataType::Float64 => {
            let a = array.as_primitive::<Float64Type>();
            let mut v = Vec::with_capacity(a.len());
            for (i, &x) in a.values().iter().enumerate() {
                let valid = a.is_valid(i) && !x.is_nan();
                let ns = (x * 1e9).round();
                if valid && !(ns.is_finite() && ns.abs() < 9.2e18) {
                    return Err(overflow(i));
                }
                v.push(if valid { ns as i64 } else { 0 });
            }
            let valid = NullBuffer::from_iter(
                a.values()
                    .iter()
                    .enumerate()
                    .map(|(i, x)| a.is_valid(i) && !x.is_nan()),
            );
            return Ok(Times {
                ns: v,
                nulls: Some(valid).filter(|n| n.null_count() > 0),
                tz: None,
            });
        }
        other => {
            return Err(Error::WrongType {
                column: name.to_string(),
                expected: TIME_TYPES.to_string(),
                found: other.clone(),
            });
        }
    };
    Ok(Times { ns, nulls, tz })
}

fn scaled_of<T: ArrowPrimitiveType<Native = i64>>(
    array: &dyn Array,
    mul: i64,
    nulls: &Option<NullBuffer>,
) -> std::result::Result<Vec<i64>, usize> {
    scale(array.as_primitive::<T>(), mul, nulls.as_ref())
}

/// `values * mul`, the first valid row that overflows as the error; null slots become 0.
fn scale<T: ArrowPrimitiveType<Native = i64>>(
    a: &PrimitiveArray<T>,
    mul: i64,
    nulls: Option<&NullBuffer>,
) -> std::result::Result<Vec<i64>, usize> {
    a.values()
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            if nulls.is_some_and(|n| n.is_null(i)) {
                Ok(0)
            } else {
                v.checked_mul(mul).ok_or(i)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use arrow::array::{Float64Array, Int64Array, TimestampMicrosecondArray};

    #[test]
    fn units_zones_and_nulls() {
        let us = TimestampMicrosecondArray::from(vec![Some(1_500_000), None, Some(-2)])
            .with_timezone("Europe/Paris");
        let t = array_times(&us, "ts").unwrap();
        assert_eq!(t.get(0), Some(1_500_000_000));
        assert_eq!(t.get(1), None);
        assert_eq!(t.get(2), Some(-2_000));
        assert_eq!(t.tz.as_deref(), Some("Europe/Paris"));

        let secs = Int64Array::from(vec![Some(60), None, Some(i64::MAX)]);
        let err = array_times(&secs, "ts").unwrap_err().to_string();
        assert!(err.contains("row 2"), "{err}");
        let secs = Int64Array::from(vec![Some(60), None]);
        assert_eq!(
            array_times(&secs, "ts").unwrap().get(0),
            Some(60_000_000_000)
        );

        let f = Float64Array::from(vec![Some(1.25), Some(f64::NAN), None]);
        let t = array_times(&f, "ts").unwrap();
        assert_eq!(t.get(0), Some(1_250_000_000));
        assert_eq!((t.get(1), t.get(2)), (None, None));
        assert!(array_times(&Float64Array::from(vec![1e300]), "ts").is_err());
        let e = array_times(&arrow::array::Int32Array::from(vec![1]), "when").unwrap_err();
        assert!(e.to_string().contains("`when`"));
    }
}
