//! Per-event broadcast of tumbling and whole-input window aggregates on the CPU by direct
//! addressing: no grouping into runs, no per-group numbering.
//!
//! Each row's (window, entity) is a slot `(window - first window) * entities + entity` of a
//! table over the batch's window span. Every aggregate is one pass over the rows that updates
//! its slot's state: the slot range is cut into one part per thread, each thread reads every
//! row's slot and updates the slots of its part only (per-thread partial states that need no
//! merge and no atomics; the same answer whatever the thread count). Each row then reads its
//! slot's value back. Time-sorted input touches one window's slots at a time, so the table
//! stays in cache. Used when the engine runs on the CPU, the window is tumbling or the whole
//! input, every aggregate is a count, or an exact distinct count, sum, minimum, maximum or
//! mean of an integer field, and the span is at most a few slots per row; anything else takes
//! the run-based [`super::agg::broadcast`] path (which gives the same values).

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, Int64Array, RecordBatch, TimestampNanosecondArray,
    UInt64Array,
};
use arrow::buffer::{NullBuffer, ScalarBuffer};
use arrow::datatypes::{DataType, Field, Int32Type, Int64Type, Schema};
use rayon::prelude::*;

use super::group::Map;
use super::keys::KeyTable;
use super::reduce::int_mean;
use super::{Agg, Window, WindowFeature};
use crate::columns::{Times, column, times};
use crate::engine::Engine;
use crate::error::Result;

/// Rows per parallel task when rows read their slot's value back.
const GATHER_ROWS: usize = 1 << 15;

/// A batch's rows placed in the slots of the direct-address table, the occupied slots
/// numbered as groups.
struct Slots {
    /// Group of each row (`u32::MAX`: null time).
    slots: Vec<u32>,
    /// Groups.
    span: usize,
    /// Rows per group.
    count: Vec<u32>,
    /// Group of each slot `(window - wmin) * entities + entity` (`u32::MAX`: empty).
    grid: Vec<u32>,
    entities: usize,
    /// First window index, and the window length (`None`: the whole input).
    wmin: i64,
    every: Option<i64>,
    keys: KeyTable,
    tz: Option<Arc<str>>,
    /// Rows with no time (the rows of no slot).
    tnull: Option<NullBuffer>,
    /// Per spec, its integer field's values and validity (None for `count`).
    fields: Vec<Option<(Ints, Option<NullBuffer>)>>,
}

/// An integer field's values where Arrow holds them (Int32 and Int64 without a copy; other
/// widths cast to Int64 once).
enum Ints {
    I32(ScalarBuffer<i32>),
    I64(ScalarBuffer<i64>),
}

impl Ints {
    fn get(&self, row: usize) -> i64 {
        match self {
            Ints::I32(v) => i64::from(v[row]),
            Ints::I64(v) => v[row],
        }
    }
}

/// Per-slot state of one aggregate.
enum State {
    /// Rows (count) or distinct non-null values (distinct count).
    Count(Vec<u32>),
    Sum(Vec<i64>),
    /// Minimum or maximum (None: no non-null value).
    Extreme(Vec<Option<i64>>),
    /// Non-null values and their sum.
    Mean(Vec<(u64, i64)>),
}

/// The slots of `batch`'s rows for `specs`, or `None` when this path does not apply.
fn prepare(specs: &[WindowFeature], batch: &RecordBatch, engine: &Engine) -> Result<Option<Slots>> {
    let Some(first) = specs.first() else {
        return Ok(None);
    };
    let every = match first.window()? {
        Window::Tumbling { every } => Some(every),
        Window::Whole => None,
        Window::Hopping { .. } => return Ok(None),
    };
    let n = batch.num_rows();
    if n == 0 || n >= u32::MAX as usize || !engine.runs_on_cpu(n * 8)? {
        return Ok(None);
    }
    // Every field integer, every aggregate one this path computes.
    for s in specs {
        let supported = match s.agg {
            Agg::Count => true,
            Agg::DistinctCount | Agg::Sum | Agg::Min | Agg::Max | Agg::Mean => s
                .field
                .as_deref()
                .and_then(|f| column(batch, f).ok())
                .is_some_and(|a| a.data_type().is_integer() && a.data_type() != &DataType::UInt64),
            _ => false,
        };
        if !supported {
            return Ok(None);
        }
    }
    let Times {
        ns,
        nulls: tnull,
        tz,
    } = times(batch, &first.time)?;
    let mut keys = KeyTable::new(&first.by);
    let ids = keys.intern(batch)?;
    let entities = keys.len();
    let valid = |i: usize| tnull.as_ref().is_none_or(|nb| nb.is_valid(i));
    let window_of = |t: i64| every.map_or(0, |e| t.div_euclid(e));
    let (wmin, wmax) = (0..n)
        .into_par_iter()
        .with_min_len(1 << 16)
        .filter(|&i| valid(i))
        .map(|i| (window_of(ns[i]), window_of(ns[i])))
        .reduce(|| (i64::MAX, i64::MIN), |a, b| (a.0.min(b.0), a.1.max(b.1)));
    let span = (wmax as i128 - wmin as i128 + 1) * entities as i128;
    if wmin > wmax || span > (4 * n as i128).max(1 << 24) || span >= i128::from(u32::MAX) {
        return Ok(None);
    }
    let span = span as usize;
    let slots: Vec<u32> = (0..n)
        .into_par_iter()
        .with_min_len(1 << 16)
        .map(|i| {
            if valid(i) {
                ((window_of(ns[i]) - wmin) as usize * entities + ids[i] as usize) as u32
            } else {
                u32::MAX
            }
        })
        .collect();
    drop((ns, ids));
    // Occupied slots numbered in slot order (groups), rows relabelled by group: later state
    // is per group, not per slot.
    let mut map = per_slot(&slots, span, 0u32, || (), |c, _, _, _| *c += 1);
    let mut count = Vec::new();
    for m in map.iter_mut() {
        if *m > 0 {
            count.push(*m);
            *m = (count.len() - 1) as u32;
        } else {
            *m = u32::MAX;
        }
    }
    let mut slots = slots;
    slots
        .par_iter_mut()
        .with_min_len(1 << 16)
        .for_each(|s| *s = map.get(*s as usize).copied().unwrap_or(u32::MAX));
    let mut fields = Vec::with_capacity(specs.len());
    for s in specs {
        fields.push(match s.field.as_deref() {
            Some(name) if s.agg != Agg::Count => {
                let a = column(batch, name)?;
                let values = match a.data_type() {
                    DataType::Int32 => Ints::I32(a.as_primitive::<Int32Type>().values().clone()),
                    _ => {
                        let cast = arrow::compute::cast(a.as_ref(), &DataType::Int64)?;
                        Ints::I64(cast.as_primitive::<Int64Type>().values().clone())
                    }
                };
                Some((values, a.logical_nulls().filter(|nb| nb.null_count() > 0)))
            }
            _ => None,
        });
    }
    Ok(Some(Slots {
        span: count.len(),
        grid: map,
        count,
        slots,
        entities,
        wmin,
        every,
        keys,
        tz,
        tnull,
        fields,
    }))
}

/// Each spec's per-slot state, and the rows per slot.
fn states(specs: &[WindowFeature], p: &Slots) -> (Vec<u32>, Vec<State>) {
    let (slots, span) = (&p.slots, p.span);
    let count = p.count.clone();
    let mut out = Vec::with_capacity(specs.len());
    for (s, f) in specs.iter().zip(&p.fields) {
        let Some((v, vnull)) = f else {
            out.push(State::Count(count.clone()));
            continue;
        };
        let ok = |row: usize| vnull.as_ref().is_none_or(|nb| nb.is_valid(row));
        out.push(match s.agg {
            Agg::DistinctCount => State::Count(distinct(slots, span, &count, v, ok)),
            Agg::Sum => State::Sum(per_slot(
                slots,
                span,
                0i64,
                || (),
                |a, _, _, row| {
                    if ok(row) {
                        *a = a.wrapping_add(v.get(row));
                    }
                },
            )),
            Agg::Min | Agg::Max => {
                let min = s.agg == Agg::Min;
                State::Extreme(per_slot(
                    slots,
                    span,
                    None,
                    || (),
                    |a: &mut Option<i64>, _, _, row| {
                        if ok(row) {
                            let x = v.get(row);
                            *a = Some(a.map_or(x, |y| if min { y.min(x) } else { y.max(x) }));
                        }
                    },
                ))
            }
            _ => State::Mean(per_slot(
                slots,
                span,
                (0u64, 0i64),
                || (),
                |a, _, _, row| {
                    if ok(row) {
                        a.0 += 1;
                        a.1 = a.1.wrapping_add(v.get(row));
                    }
                },
            )),
        });
    }
    (count, out)
}

/// The broadcast columns of `specs` (one grouping) for `batch` (types as
/// [`super::event_type`]), or `None` when this path does not apply.
pub(super) fn broadcast(
    specs: &[WindowFeature],
    batch: &RecordBatch,
    engine: &Engine,
) -> Result<Option<Vec<ArrayRef>>> {
    let Some(p) = prepare(specs, batch, engine)? else {
        return Ok(None);
    };
    let (_, states) = states(specs, &p);
    let slots = &p.slots;
    // Counts and sums are null exactly where the time is.
    let all = |values: Vec<i64>| -> ArrayRef {
        Arc::new(Int64Array::new(values.into(), p.tnull.clone()))
    };
    Ok(Some(
        states
            .iter()
            .map(|st| match st {
                State::Count(c) => all(values(slots, c, |&c| i64::from(c))),
                State::Sum(s) => all(values(slots, s, |&x| x)),
                State::Extreme(m) => ints(slots, m, |&x| x),
                State::Mean(m) => floats(slots, m, |&(k, s)| (k > 0).then(|| int_mean(s, k))),
            })
            .collect(),
    ))
}

/// One row per (entity, window) of `specs` over `batch`, as [`super::Aggregator::finish`]
/// gives it (entities in first-seen order, then windows; the aggregates named `names`), or
/// `None` when this path does not apply.
pub(super) fn table(
    specs: &[WindowFeature],
    names: &[String],
    batch: &RecordBatch,
    engine: &Engine,
) -> Result<Option<RecordBatch>> {
    let Some(p) = prepare(specs, batch, engine)? else {
        return Ok(None);
    };
    let (_, states) = states(specs, &p);
    let e = p.entities.max(1);
    let windows = p.grid.len() / e;
    // Occupied slots, entity-major (each entity's windows ascending).
    let grid = &p.grid;
    let order: Vec<usize> = (0..p.entities)
        .into_par_iter()
        .with_min_len(64)
        .flat_map_iter(|ent| {
            (0..windows)
                .map(move |w| w * e + ent)
                .filter(move |&s| grid[s] != u32::MAX)
        })
        .collect();
    let ids: Vec<u32> = order.iter().map(|&s| (s % e) as u32).collect();
    let mut fields = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    for (name, a) in p.keys.columns().iter().zip(p.keys.decode(&ids)?) {
        fields.push(Field::new(name, a.data_type().clone(), true));
        columns.push(a);
    }
    if let Some(every) = p.every {
        let starts = TimestampNanosecondArray::from_iter(
            order
                .iter()
                .map(|&s| (p.wmin + (s / e) as i64).checked_mul(every)),
        )
        .with_timezone_opt(p.tz.clone());
        fields.push(Field::new("window_start", starts.data_type().clone(), true));
        columns.push(Arc::new(starts));
    }
    let groups: Vec<usize> = order.iter().map(|&s| grid[s] as usize).collect();
    for (name, st) in names.iter().zip(&states) {
        let a: ArrayRef = match st {
            State::Count(c) => Arc::new(UInt64Array::from_iter_values(
                groups.iter().map(|&g| u64::from(c[g])),
            )),
            State::Sum(v) => Arc::new(Int64Array::from_iter_values(groups.iter().map(|&g| v[g]))),
            State::Extreme(v) => Arc::new(Int64Array::from_iter(groups.iter().map(|&g| v[g]))),
            State::Mean(v) => Arc::new(Float64Array::from_iter(groups.iter().map(|&g| {
                let (k, sum) = v[g];
                (k > 0).then(|| int_mean(sum, k))
            }))),
        };
        fields.push(Field::new(name, a.data_type().clone(), true));
        columns.push(a);
    }
    Ok(Some(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?))
}

/// One state per slot of `0..span`, starting at `init`, updated by `update(state, scratch,
/// slot, row)` for every row whose slot is not `u32::MAX`, in row order within a slot. The
/// slot range is split into one part per thread; `scratch()` is each part's working state.
fn per_slot<T, S>(
    slots: &[u32],
    span: usize,
    init: T,
    scratch: impl Fn() -> S + Sync,
    update: impl Fn(&mut T, &mut S, usize, usize) + Sync,
) -> Vec<T>
where
    T: Clone + Send + Sync,
{
    let mut state = vec![init; span];
    let parts = 2 * rayon::current_num_threads().max(1);
    let step = span.div_ceil(parts).max(1);
    state
        .par_chunks_mut(step)
        .enumerate()
        .for_each(|(p, part)| {
            let lo = p * step;
            let mut s = scratch();
            for (row, &slot) in slots.iter().enumerate() {
                let at = (slot as usize).wrapping_sub(lo);
                if let Some(x) = part.get_mut(at) {
                    update(x, &mut s, slot as usize, row);
                }
            }
        });
    state
}

/// Exact distinct non-null values per slot: the slot keeps its first value's row, so slots of one
/// or two rows need no set; the others' (slot, value) pairs go into their part's hash set,
/// counting first insertions.
fn distinct(
    slots: &[u32],
    span: usize,
    count: &[u32],
    v: &Ints,
    ok: impl Fn(usize) -> bool + Sync,
) -> Vec<u32> {
    let state = per_slot(
        slots,
        span,
        (0u32, 0u32),
        Map::<(u32, i64), ()>::default,
        |(d, first), seen, slot, row| {
            if !ok(row) {
                return;
            }
            let x = v.get(row);
            if *d == 0 {
                (*d, *first) = (1, row as u32);
            } else if count[slot] == 2 {
                *d += u32::from(x != v.get(*first as usize));
            } else {
                if *d == 1 {
                    seen.insert((slot as u32, v.get(*first as usize)), ());
                }
                if seen.insert((slot as u32, x), ()).is_none() {
                    *d += 1;
                }
            }
        },
    );
    state.into_par_iter().map(|(d, _)| d).collect()
}

/// Int64 column: each row's slot value by `f`, null for rows without a time (slot
/// `u32::MAX`) or a value.
fn ints<T: Sync>(slots: &[u32], state: &[T], f: impl Fn(&T) -> Option<i64> + Sync) -> ArrayRef {
    let (values, nulls) = gather(slots, state, |x| f(x).unwrap_or(0), |x| f(x).is_some());
    Arc::new(Int64Array::new(values.into(), nulls))
}

/// Float64 column, as [`ints`].
fn floats<T: Sync>(slots: &[u32], state: &[T], f: impl Fn(&T) -> Option<f64> + Sync) -> ArrayRef {
    let (values, nulls) = gather(slots, state, |x| f(x).unwrap_or(0.0), |x| f(x).is_some());
    Arc::new(Float64Array::new(values.into(), nulls))
}

/// Each row's value `value(state[slot])` (default for rows of no slot), in parallel blocks.
fn values<T: Sync, V: Copy + Default + Send>(
    slots: &[u32],
    state: &[T],
    value: impl Fn(&T) -> V + Sync,
) -> Vec<V> {
    slots
        .par_iter()
        .with_min_len(GATHER_ROWS)
        .map(|&s| state.get(s as usize).map_or_else(V::default, &value))
        .collect()
}

/// Each row's value `value(state[slot])` and validity (time present and `present`), in
/// parallel blocks of rows.
fn gather<T: Sync, V: Copy + Default + Send>(
    slots: &[u32],
    state: &[T],
    value: impl Fn(&T) -> V + Sync,
    present: impl Fn(&T) -> bool + Sync,
) -> (Vec<V>, Option<NullBuffer>) {
    let mut values = vec![V::default(); slots.len()];
    let mut valid = vec![true; slots.len()];
    values
        .par_chunks_mut(GATHER_ROWS)
        .zip(valid.par_chunks_mut(GATHER_ROWS))
        .enumerate()
        .for_each(|(b, (vals, ok))| {
            let start = b * GATHER_ROWS;
            for (j, (x, o)) in vals.iter_mut().zip(ok.iter_mut()).enumerate() {
                match state.get(slots[start + j] as usize) {
                    Some(s) => {
                        *x = value(s);
                        *o = present(s);
                    }
                    None => *o = false,
                }
            }
        });
    let nulls = NullBuffer::from(valid);
    (values, Some(nulls).filter(|nb| nb.null_count() > 0))
}
