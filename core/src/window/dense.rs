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
//!
//! Exact distinct counts use no hash set: groups of one or two rows compare with their first
//! value, larger groups get their values scattered into one region each (a counting sort) and
//! sorted there. A table in several batches (a polars frame's chunks) is keyed and its times
//! read batch by batch; only the integer fields are joined.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, Int64Array, RecordBatch, TimestampNanosecondArray,
    UInt64Array,
};
use arrow::buffer::{NullBuffer, ScalarBuffer};
use arrow::datatypes::{DataType, Field, Int32Type, Int64Type, Schema};
use rayon::prelude::*;

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

/// The slots of the rows of `batches` (one table's batches, in order) for `specs`, or `None`
/// when this path does not apply. Entities are keyed and times read batch by batch: only
/// the aggregated fields of several batches are joined.
fn prepare(
    specs: &[WindowFeature],
    batches: &[RecordBatch],
    engine: &Engine,
) -> Result<Option<Slots>> {
    let (Some(first), Some(batch0)) = (specs.first(), batches.first()) else {
        return Ok(None);
    };
    let every = match first.window()? {
        Window::Tumbling { every } => Some(every),
        Window::Whole => None,
        Window::Hopping { .. } => return Ok(None),
    };
    let n: usize = batches.iter().map(RecordBatch::num_rows).sum();
    if n == 0 || n >= u32::MAX as usize || !engine.runs_on_cpu(n * 8)? {
        return Ok(None);
    }
    // Every field integer, every aggregate one this path computes, every batch of one schema.
    for s in specs {
        let supported = match s.agg {
            Agg::Count => true,
            Agg::DistinctCount | Agg::Sum | Agg::Min | Agg::Max | Agg::Mean => s
                .field
                .as_deref()
                .and_then(|f| column(batch0, f).ok())
                .is_some_and(|a| a.data_type().is_integer() && a.data_type() != &DataType::UInt64),
            _ => false,
        };
        if !supported {
            return Ok(None);
        }
    }
    if batches.iter().any(|b| b.schema() != batch0.schema()) {
        return Ok(None);
    }
    let parts: Vec<Times> = batches
        .iter()
        .map(|b| times(b, &first.time))
        .collect::<Result<_>>()?;
    let tz = parts.first().and_then(|t| t.tz.clone());
    let tnull = if parts.iter().all(|t| t.nulls.is_none()) {
        None
    } else {
        let mut valid = arrow::array::BooleanBufferBuilder::new(n);
        for t in &parts {
            match &t.nulls {
                Some(nb) => valid.append_buffer(nb.inner()),
                None => valid.append_n(t.ns.len(), true),
            }
        }
        Some(NullBuffer::new(valid.finish()))
    };
    let mut keys = KeyTable::new(&first.by);
    let ids: Vec<Vec<u32>> = batches
        .iter()
        .map(|b| keys.intern(b))
        .collect::<Result<_>>()?;
    let entities = keys.len();
    let window_of = |t: i64| every.map_or(0, |e| t.div_euclid(e));
    // Window indices are monotonic in time: the first and last windows are those of the
    // earliest and latest times.
    let (tmin, tmax) = parts
        .iter()
        .map(|t| {
            (0..t.ns.len())
                .into_par_iter()
                .with_min_len(1 << 16)
                .filter(|&i| t.is_valid(i))
                .map(|i| (t.ns[i], t.ns[i]))
                .reduce(|| (i64::MAX, i64::MIN), |a, b| (a.0.min(b.0), a.1.max(b.1)))
        })
        .fold((i64::MAX, i64::MIN), |a, b| (a.0.min(b.0), a.1.max(b.1)));
    let (wmin, wmax) = if tmin > tmax {
        (i64::MAX, i64::MIN)
    } else {
        (window_of(tmin), window_of(tmax))
    };
    let span = (wmax as i128 - wmin as i128 + 1) * entities as i128;
    if wmin > wmax || span > (4 * n as i128).max(1 << 24) || span >= i128::from(u32::MAX) {
        return Ok(None);
    }
    let span = span as usize;
    let mut slots: Vec<u32> = zeroed(n);
    let mut rest = slots.as_mut_slice();
    for (t, ids) in parts.iter().zip(&ids) {
        let (mine, later) = rest.split_at_mut(t.ns.len());
        rest = later;
        mine.par_chunks_mut(GATHER_ROWS)
            .enumerate()
            .for_each(|(b, out)| {
                let start = b * GATHER_ROWS;
                for (j, s) in out.iter_mut().enumerate() {
                    let i = start + j;
                    *s = if t.is_valid(i) {
                        ((window_of(t.ns[i]) - wmin) as usize * entities + ids[i] as usize) as u32
                    } else {
                        u32::MAX
                    };
                }
            });
    }
    drop((parts, ids));
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
    slots
        .par_iter_mut()
        .with_min_len(1 << 16)
        .for_each(|s| *s = map.get(*s as usize).copied().unwrap_or(u32::MAX));
    let mut fields = Vec::with_capacity(specs.len());
    for s in specs {
        fields.push(match s.field.as_deref() {
            Some(name) if s.agg != Agg::Count => {
                let a = match batches {
                    [b] => column(b, name)?.clone(),
                    _ => {
                        let all: Vec<&dyn Array> = batches
                            .iter()
                            .map(|b| column(b, name).map(|a| a.as_ref()))
                            .collect::<Result<_>>()?;
                        arrow::compute::concat(&all)?
                    }
                };
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

/// The broadcast columns of `specs` (one grouping) for the rows of `batches` (one table's
/// batches, in order; types as [`super::event_type`]), or `None` when this path does not
/// apply.
pub(crate) fn broadcast(
    specs: &[WindowFeature],
    batches: &[RecordBatch],
    engine: &Engine,
) -> Result<Option<Vec<ArrayRef>>> {
    let Some(p) = prepare(specs, batches, engine)? else {
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

/// One row per (entity, window) of `specs` over `batches` (one table's batches, in order), as [`super::Aggregator::finish`]
/// gives it (entities in first-seen order, then windows; the aggregates named `names`), or
/// `None` when this path does not apply.
pub(super) fn table(
    specs: &[WindowFeature],
    names: &[String],
    batches: &[RecordBatch],
    engine: &Engine,
) -> Result<Option<RecordBatch>> {
    let Some(p) = prepare(specs, batches, engine)? else {
        return Ok(None);
    };
    let (_, states) = states(specs, &p);
    let e = p.entities.max(1);
    let windows = p.grid.len() / e;
    let grid = &p.grid;
    // Occupied slots entity-major (each entity's windows ascending): a counting sort by
    // entity of the slots, read in slot order (window-major) twice, sequentially.
    let mut next = vec![0u32; e + 1];
    for w in 0..windows {
        for (ent, &g) in grid[w * e..(w + 1) * e].iter().enumerate() {
            next[ent + 1] += u32::from(g != u32::MAX);
        }
    }
    for ent in 0..e {
        next[ent + 1] += next[ent];
    }
    let rows = next[e] as usize;
    // Per output row: entity, window (from the first), group.
    let (mut ids, mut wins, mut groups): (Vec<u32>, Vec<u32>, Vec<u32>) =
        (zeroed(rows), zeroed(rows), zeroed(rows));
    for w in 0..windows {
        for (ent, &g) in grid[w * e..(w + 1) * e].iter().enumerate() {
            if g != u32::MAX {
                let at = next[ent] as usize;
                next[ent] += 1;
                ids[at] = ent as u32;
                wins[at] = w as u32;
                groups[at] = g;
            }
        }
    }
    let mut fields = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    for (name, a) in p.keys.columns().iter().zip(p.keys.decode(&ids)?) {
        fields.push(Field::new(name, a.data_type().clone(), true));
        columns.push(a);
    }
    drop(ids);
    if let Some(every) = p.every {
        let start = |w: u32| (p.wmin + i64::from(w)).checked_mul(every);
        let starts = if wins.par_iter().all(|&w| start(w).is_some()) {
            TimestampNanosecondArray::new(by_row(&wins, |w| start(w).unwrap_or(0)).into(), None)
        } else {
            TimestampNanosecondArray::from_iter(wins.iter().map(|&w| start(w)))
        }
        .with_timezone_opt(p.tz.clone());
        fields.push(Field::new("window_start", starts.data_type().clone(), true));
        columns.push(Arc::new(starts));
    }
    drop(wins);
    for (name, st) in names.iter().zip(&states) {
        let a: ArrayRef = match st {
            State::Count(c) => Arc::new(UInt64Array::new(
                by_row(&groups, |g| u64::from(c[g as usize])).into(),
                None,
            )),
            State::Sum(v) => Arc::new(Int64Array::new(
                by_row(&groups, |g| v[g as usize]).into(),
                None,
            )),
            State::Extreme(v) => {
                Arc::new(Int64Array::from_iter(groups.iter().map(|&g| v[g as usize])))
            }
            State::Mean(v) => Arc::new(Float64Array::from_iter(groups.iter().map(|&g| {
                let (k, sum) = v[g as usize];
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
    let parts = rayon::current_num_threads().max(1);
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

/// Exact distinct non-null values per group (`count`: rows per group, `slots`: each row's
/// group). A group of one or two rows needs no set: it keeps its first value's row and
/// compares. The values of larger groups are scattered into one region per group (a
/// counting sort: regions laid out in group order), then each region is sorted and its
/// changes counted: no hashing, and the work of a group is proportional to its rows. The group
/// range is cut into one part per thread (each part scans every row, owns its groups' states
/// and regions): no atomics, the same answer whatever the thread count.
fn distinct(
    slots: &[u32],
    span: usize,
    count: &[u32],
    v: &Ints,
    ok: impl Fn(usize) -> bool + Sync,
) -> Vec<u32> {
    match v {
        Ints::I32(x) => distinct_of(slots, span, count, |r| x[r], ok),
        Ints::I64(x) => distinct_of(slots, span, count, |r| x[r], ok),
    }
}

/// [`distinct`] over values `get(row)`.
fn distinct_of<T: Copy + Ord + Default + Send + Sync>(
    slots: &[u32],
    span: usize,
    count: &[u32],
    get: impl Fn(usize) -> T + Sync,
    ok: impl Fn(usize) -> bool + Sync,
) -> Vec<u32> {
    /// Groups of at most this many rows compare with their first value instead of a region.
    const SMALL: u32 = 2;
    let parts = rayon::current_num_threads().max(1);
    let step = span.div_ceil(parts).max(1);
    let count = &count[..span.min(count.len())];
    // Each part's values in large groups, and where its region of `vals` starts.
    let sizes: Vec<usize> = count
        .par_chunks(step)
        .map(|c| c.iter().filter(|&&c| c > SMALL).map(|&c| c as usize).sum())
        .collect();
    let mut bounds = vec![0usize; sizes.len() + 1];
    for (p, size) in sizes.iter().enumerate() {
        bounds[p + 1] = bounds[p] + size;
    }
    let mut vals: Vec<T> = zeroed(bounds[sizes.len()]);
    let mut regions = Vec::with_capacity(parts);
    let mut rest = vals.as_mut_slice();
    for w in bounds.windows(2) {
        let (a, b) = rest.split_at_mut(w[1] - w[0]);
        regions.push(a);
        rest = b;
    }
    // Per group: distinct values so far (for a large group: values written), and the first
    // value's row (small group) or the start of the group's place in its part's region.
    let mut d: Vec<u32> = zeroed(count.len());
    let mut aux: Vec<u32> = zeroed(count.len());
    d.par_chunks_mut(step)
        .zip(aux.par_chunks_mut(step))
        .zip(regions.into_par_iter())
        .enumerate()
        .for_each(|(p, ((d, aux), region))| {
            let lo = p * step;
            let counts = &count[lo..lo + d.len()];
            let mut at = 0u32;
            for (x, &c) in aux.iter_mut().zip(counts) {
                if c > SMALL {
                    *x = at;
                    at += c;
                }
            }
            for (row, &slot) in slots.iter().enumerate() {
                let g = (slot as usize).wrapping_sub(lo);
                let (Some(dg), Some(first), Some(&c)) =
                    (d.get_mut(g), aux.get_mut(g), counts.get(g))
                else {
                    continue;
                };
                if !ok(row) {
                    continue;
                }
                let x = get(row);
                if c > SMALL {
                    if let Some(place) = region.get_mut(*first as usize + *dg as usize) {
                        *place = x;
                    }
                    *dg += 1;
                } else if *dg == 0 {
                    (*dg, *first) = (1, row as u32);
                } else {
                    *dg += u32::from(x != get(*first as usize));
                }
            }
            for ((dg, &from), &c) in d.iter_mut().zip(aux.iter()).zip(counts) {
                if c <= SMALL || *dg == 0 {
                    continue;
                }
                let from = from as usize;
                if let Some(run) = region.get_mut(from..from + *dg as usize) {
                    run.sort_unstable();
                    *dg = 1 + run.windows(2).filter(|w| w[0] != w[1]).count() as u32;
                }
            }
        });
    d
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
    let mut out: Vec<V> = zeroed(slots.len());
    out.par_chunks_mut(GATHER_ROWS)
        .zip(slots.par_chunks(GATHER_ROWS))
        .for_each(|(out, slots)| {
            for (x, &s) in out.iter_mut().zip(slots) {
                *x = state.get(s as usize).map_or_else(V::default, &value);
            }
        });
    out
}

/// `f(x)` of every `x` of `xs`, in parallel blocks.
fn by_row<V: Copy + Default + Send>(xs: &[u32], f: impl Fn(u32) -> V + Sync) -> Vec<V> {
    let mut out: Vec<V> = zeroed(xs.len());
    out.par_chunks_mut(GATHER_ROWS)
        .zip(xs.par_chunks(GATHER_ROWS))
        .for_each(|(out, xs)| {
            for (o, &x) in out.iter_mut().zip(xs) {
                *o = f(x);
            }
        });
    out
}

/// `n` default values: zero bytes for the integer and float types used here, so a large
/// vector comes as fresh pages that are faulted in by the thread that first writes them
/// (no single-threaded zero fill before a parallel one). Huge pages (`MADV_HUGEPAGE`) were
/// tried and dropped: in a fresh process the kernel's compaction made the faults slower.
fn zeroed<T: Copy + Default>(n: usize) -> Vec<T> {
    vec![T::default(); n]
}

/// Each row's value `value(state[slot])` and validity (time present and `present`), in
/// parallel blocks of rows.
fn gather<T: Sync, V: Copy + Default + Send>(
    slots: &[u32],
    state: &[T],
    value: impl Fn(&T) -> V + Sync,
    present: impl Fn(&T) -> bool + Sync,
) -> (Vec<V>, Option<NullBuffer>) {
    let mut values: Vec<V> = zeroed(slots.len());
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
