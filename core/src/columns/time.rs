//! The one time-column reader: Timestamp of any unit and zone, Int64 or Float64 epoch
//! seconds, into i64 nanoseconds since the Unix epoch.

use std::sync::Arc;

use arrow::array::{Array, AsArray, PrimitiveArray, RecordBatch};
use arrow::buffer::{NullBuffer, ScalarBuffer};
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

/// A time column's values as Arrow stores them (no copy, no conversion) and the factor that
/// makes them nanoseconds: for code that only needs the time range and each row's window
/// (the window aggregates), where converting every row would cost a pass and a copy.
#[derive(Clone, Debug)]
pub(crate) struct RawTimes {
    /// Values in the column's unit (Float64 epoch seconds: already nanoseconds).
    pub values: ScalarBuffer<i64>,
    /// Nanoseconds per unit (1 for nanoseconds and converted Float64 seconds).
    pub to_ns: i64,
    /// Validity, as [`Times::nulls`].
    pub nulls: Option<NullBuffer>,
    /// The zone of a Timestamp column.
    pub tz: Option<Arc<str>>,
}

impl RawTimes {
    /// Whether row `i` has a time.
    pub fn is_valid(&self, i: usize) -> bool {
        self.nulls.as_ref().is_none_or(|n| n.is_valid(i))
    }
}

/// Reads `array` as [`array_times`] does, keeping a Timestamp's or Int64's values as stored
/// (`value * to_ns` = nanoseconds; the caller checks that its range converts, and calls
/// [`array_times`] for the error naming the row when not); Float64 epoch seconds are
/// converted to nanoseconds by [`array_times`].
pub(crate) fn raw_times(array: &dyn Array, name: &str) -> Result<RawTimes> {
    let nulls = array.logical_nulls().filter(|n| n.null_count() > 0);
    let (values, to_ns, tz) = match array.data_type() {
        DataType::Timestamp(unit, tz) => {
            let to_ns = match unit {
                TimeUnit::Second => 1_000_000_000,
                TimeUnit::Millisecond => 1_000_000,
                TimeUnit::Microsecond => 1_000,
                TimeUnit::Nanosecond => 1,
            };
            let values = match unit {
                TimeUnit::Second => array.as_primitive::<TimestampSecondType>().values(),
                TimeUnit::Millisecond => array.as_primitive::<TimestampMillisecondType>().values(),
                TimeUnit::Microsecond => array.as_primitive::<TimestampMicrosecondType>().values(),
                TimeUnit::Nanosecond => array.as_primitive::<TimestampNanosecondType>().values(),
            };
            (values.clone(), to_ns, tz.clone())
        }
        DataType::Int64 => (
            array.as_primitive::<Int64Type>().values().clone(),
            1_000_000_000,
            None,
        ),
        _ => {
            let t = array_times(array, name)?;
            return Ok(RawTimes {
                values: t.ns.into(),
                to_ns: 1,
                nulls: t.nulls,
                tz: t.tz,
            });
        }
    };
    Ok(RawTimes {
        values,
        to_ns,
        nulls,
        tz,
    })
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

/// Text times (Utf8, LargeUtf8 or Utf8View; the column `name`, named in errors) as a
/// `Timestamp(ns, "UTC")` array, for log readers that give every field as text: each value
/// is epoch seconds (`1331901000.25`) or an ISO 8601 / RFC 3339 time as arrow's parser reads
/// it (`2026-01-02T03:04:05Z`, `2026-01-02 03:04:05.5+01:00`; no zone = UTC). A value that
/// is neither becomes null; the second result counts those rows. A time column that is not
/// text is returned as it is (with 0).
pub fn text_times(array: &dyn Array, name: &str) -> Result<(arrow::array::ArrayRef, usize)> {
    use arrow::array::TimestampNanosecondArray;
    use arrow::compute::kernels::cast_utils::string_to_timestamp_nanos;
    if !matches!(
        array.data_type(),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    ) {
        return Ok((arrow::array::make_array(array.to_data()), 0));
    }
    let text = arrow::compute::kernels::cast::cast(array, &DataType::Utf8)
        .map_err(|e| Error::InvalidInput(format!("time column `{name}`: {e}")))?;
    let text = text.as_string::<i32>();
    let mut bad = 0;
    let parsed: TimestampNanosecondArray = text
        .iter()
        .map(|v| {
            let v = v?.trim();
            let t = match epoch_text(v) {
                Some(ns) => ns,
                None => string_to_timestamp_nanos(v).ok(),
            };
            bad += usize::from(t.is_none());
            t
        })
        .collect();
    Ok((Arc::new(parsed.with_timezone("UTC")), bad))
}

/// Decimal epoch seconds (`-?digits[.digits]`) as nanoseconds, exactly (digits past the
/// ninth decimal are cut): `Some(None)` when it overflows, `None` when `v` is not decimal.
fn epoch_text(v: &str) -> Option<Option<i64>> {
    let (neg, body) = match v.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, v),
    };
    let (whole, frac) = body.split_once('.').unwrap_or((body, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(frac) {
        return None;
    }
    let frac: String = frac.chars().chain(std::iter::repeat('0')).take(9).collect();
    let ns = whole
        .parse::<i64>()
        .ok()
        .and_then(|w| w.checked_mul(1_000_000_000))
        .and_then(|w| w.checked_add(frac.parse::<i64>().ok()?));
    Some(ns.map(|n| if neg { -n } else { n }))
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

    #[test]
    fn text_times_epoch_seconds_and_iso_8601() {
        let text = arrow::array::StringArray::from(vec![
            Some("1331901000.25"),
            Some("2026-01-02T03:04:05Z"),
            Some("2026-01-02 04:04:05+01:00"),
            Some("2026-01-02T03:04:05"),
            Some("Jun 14 15:16:01"),
            None,
            Some("-1.5"),
            Some("99999999999999999999"),
        ]);
        let (parsed, bad) = text_times(&text, "ts").unwrap();
        assert_eq!(bad, 2);
        let t = array_times(parsed.as_ref(), "ts").unwrap();
        // 2026-01-02T03:04:05Z = 1,767,323,045 s (Python's datetime.timestamp()).
        let ns = 1_767_323_045_000_000_000;
        let got: Vec<Option<i64>> = (0..8).map(|i| t.get(i)).collect();
        let epoch = Some(1_331_901_000_250_000_000);
        let want = [
            epoch,
            Some(ns),
            Some(ns),
            Some(ns),
            None,
            None,
            Some(-1_500_000_000),
            None,
        ];
        assert_eq!(got, want);
        assert_eq!(t.tz.as_deref(), Some("UTC"));
        // A column that is already a time comes back as it is.
        let f = Float64Array::from(vec![1.5]);
        let (same, bad) = text_times(&f, "ts").unwrap();
        assert_eq!((same.data_type(), bad), (&DataType::Float64, 0));
    }
}
