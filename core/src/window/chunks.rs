//! Integer fields and times of a table held in several batches (a polars frame's chunks),
//! read where Arrow holds them: no joined copy of the batches, no conversion of every row.

use std::ops::Range;

use arrow::array::{Array, ArrayRef, AsArray, BooleanBufferBuilder};
use arrow::buffer::{NullBuffer, ScalarBuffer};
use arrow::datatypes::{DataType, Int32Type, Int64Type};

use crate::columns::{RawTimes, array_times};
use crate::error::Result;

/// One column's values over the batches of a table, batch by batch, rows numbered across
/// the batches.
pub(super) struct Chunked<T: arrow::datatypes::ArrowNativeType> {
    parts: Vec<ScalarBuffer<T>>,
    /// First row of each part, and the total rows last.
    starts: Vec<usize>,
}

impl<T: arrow::datatypes::ArrowNativeType> Chunked<T> {
    fn new(parts: Vec<ScalarBuffer<T>>) -> Self {
        let mut starts = Vec::with_capacity(parts.len() + 1);
        let mut at = 0;
        for p in &parts {
            starts.push(at);
            at += p.len();
        }
        starts.push(at);
        Chunked { parts, starts }
    }

    /// The value of row `row` (rows past the end read the default).
    pub(super) fn get(&self, row: usize) -> T {
        let p = self.starts.partition_point(|&s| s <= row).saturating_sub(1);
        self.parts
            .get(p)
            .and_then(|v| v.get(row - self.starts[p]).copied())
            .unwrap_or_default()
    }

    /// `f(row, slot, value, batch)` for every row of `rows` in order, `slots` being one entry
    /// per row; `batch` is the row's batch (its values and its first row), through which
    /// [`Chunked::get_near`] reads other rows of it without a search.
    pub(super) fn each_in_batch(
        &self,
        slots: &[u32],
        rows: Range<usize>,
        mut f: impl FnMut(usize, u32, T, (&[T], usize)),
    ) {
        for (part, &start) in self.parts.iter().zip(&self.starts) {
            let (lo, hi) = (rows.start.max(start), rows.end.min(start + part.len()));
            if lo >= hi {
                continue;
            }
            let (Some(slots), Some(values)) = (slots.get(lo..hi), part.get(lo - start..hi - start))
            else {
                return;
            };
            for (j, (&slot, &x)) in slots.iter().zip(values).enumerate() {
                f(lo + j, slot, x, (part, start));
            }
        }
    }

    /// The value of row `row`, read from `batch` (values, first row) when it lies there.
    pub(super) fn get_near(&self, row: usize, batch: (&[T], usize)) -> T {
        match row.checked_sub(batch.1).and_then(|j| batch.0.get(j)) {
            Some(&x) => x,
            None => self.get(row),
        }
    }

    /// `f(row, slot, value)` for every row of `rows` in order, `slots` being one entry per
    /// row.
    pub(super) fn each(&self, slots: &[u32], rows: Range<usize>, mut f: impl FnMut(usize, u32, T)) {
        self.each_in_batch(slots, rows, |row, slot, x, _| f(row, slot, x));
    }
}

/// An integer field's values where Arrow holds them (Int32 and Int64 without a copy; other
/// widths cast to Int64 once), batch by batch.
pub(super) enum Ints {
    I32(Chunked<i32>),
    I64(Chunked<i64>),
}

impl Ints {
    /// The field's arrays, one per batch (all of one integer type, not UInt64).
    pub(super) fn new(arrays: &[&ArrayRef]) -> Result<Self> {
        if arrays.iter().all(|a| a.data_type() == &DataType::Int32) {
            return Ok(Ints::I32(Chunked::new(
                arrays
                    .iter()
                    .map(|a| a.as_primitive::<Int32Type>().values().clone())
                    .collect(),
            )));
        }
        let parts = arrays
            .iter()
            .map(|a| {
                let cast = arrow::compute::cast(a.as_ref(), &DataType::Int64)?;
                Ok(cast.as_primitive::<Int64Type>().values().clone())
            })
            .collect::<Result<_>>()?;
        Ok(Ints::I64(Chunked::new(parts)))
    }

    /// `f(row, slot, value)` for every row of `rows` in order.
    pub(super) fn each(
        &self,
        slots: &[u32],
        rows: Range<usize>,
        mut f: impl FnMut(usize, u32, i64),
    ) {
        match self {
            Ints::I32(c) => c.each(slots, rows, |r, s, x| f(r, s, i64::from(x))),
            Ints::I64(c) => c.each(slots, rows, f),
        }
    }
}

/// The validity of the arrays, one per batch, joined (`None`: no nulls).
pub(super) fn joined_nulls(arrays: &[&ArrayRef]) -> Option<NullBuffer> {
    let nulls: Vec<Option<NullBuffer>> = arrays
        .iter()
        .map(|a| a.logical_nulls().filter(|nb| nb.null_count() > 0))
        .collect();
    if nulls.iter().all(Option::is_none) {
        return None;
    }
    let mut valid = BooleanBufferBuilder::new(arrays.iter().map(|a| a.len()).sum());
    for (a, nb) in arrays.iter().zip(&nulls) {
        match nb {
            Some(nb) => valid.append_buffer(nb.inner()),
            None => valid.append_n(a.len(), true),
        }
    }
    Some(NullBuffer::new(valid.finish()))
}

/// Window indices of times stored in one unit: `index(value)` is the window
/// (`floor(value * to_ns / every)`) of a value whose nanoseconds fit in an i64, computed
/// without a division when the value lies in the window of the previous call (time-sorted
/// input).
pub(super) struct WindowOf {
    /// Window length in the column's unit when it divides exactly (else in nanoseconds).
    step: i64,
    /// Nanoseconds per unit when `step` is in nanoseconds (else 1).
    scale: i64,
    /// The last window seen: its index and its first and past-the-end values.
    last: (i64, i64, i64),
}

impl WindowOf {
    /// Windows of `every` nanoseconds (`None`: the whole input, window 0) over values of
    /// `to_ns` nanoseconds each.
    pub(super) fn new(every: Option<i64>, to_ns: i64) -> Self {
        let (step, scale) = match every {
            None => (i64::MAX, 1),
            Some(e) if to_ns > 0 && e % to_ns == 0 => (e / to_ns, 1),
            Some(e) => (e, to_ns),
        };
        WindowOf {
            step: step.max(1),
            scale,
            last: (0, 1, 0),
        }
    }

    /// The window of `value` (whose nanoseconds fit in an i64).
    pub(super) fn index(&mut self, value: i64) -> i64 {
        let (w, lo, hi) = self.last;
        if value >= lo && value < hi {
            return w;
        }
        if self.step == i64::MAX {
            return 0;
        }
        let w = value.saturating_mul(self.scale).div_euclid(self.step);
        if self.scale == 1
            && let Some(lo) = w.checked_mul(self.step)
        {
            self.last = (w, lo, lo.checked_add(self.step).unwrap_or(i64::MAX));
        }
        w
    }
}

/// Checks that the times of `t` (the column `name`), whose smallest and largest valid values
/// are `min` and `max`, convert to nanoseconds; else the error [`array_times`] gives.
pub(super) fn check_range(
    t: &RawTimes,
    array: &dyn Array,
    name: &str,
    min: i64,
    max: i64,
) -> Result<()> {
    if min > max || (min.checked_mul(t.to_ns).is_some() && max.checked_mul(t.to_ns).is_some()) {
        return Ok(());
    }
    array_times(array, name).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::WindowOf;

    /// The window of every value equals `floor(value * to_ns / every)` worked out in i128,
    /// whatever the order of the values (the cached window of the previous value is only a
    /// shortcut): before and after the epoch, at the ends of the range, units that divide the
    /// window and one that does not.
    #[test]
    fn window_index_equals_floor_division() {
        let mut values: Vec<i64> = vec![0, -1, 1, 59, 60, 61, -59, -60, -61, 119, 120, -121];
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..2_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            values.push((x % 1_000_000) as i64 - 500_000);
        }
        for (every, to_ns) in [
            (Some(60_000_000_000i64), 1_000_000_000i64),
            (Some(60_000_000_000), 1_000),
            (Some(1_500), 1_000),
            (Some(7), 1),
            (None, 1_000),
        ] {
            let mut w = WindowOf::new(every, to_ns);
            let mut sorted = values.clone();
            sorted.sort();
            for &v in values.iter().chain(&sorted) {
                let v = v * 1_000_000 / to_ns.min(1_000_000); // stay well inside the ns range
                let want = every.map_or(0, |e| {
                    (i128::from(v) * i128::from(to_ns)).div_euclid(i128::from(e)) as i64
                });
                assert_eq!(w.index(v), want, "value {v} every {every:?} to_ns {to_ns}");
            }
        }
        let mut w = WindowOf::new(Some(60), 1);
        for v in [i64::MIN, i64::MIN + 1, i64::MAX - 1, i64::MAX, i64::MIN] {
            assert_eq!(w.index(v), v.div_euclid(60), "{v}");
        }
    }
}
