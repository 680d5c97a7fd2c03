//! Per-event broadcast of tumbling and whole-input window aggregates on the CPU by direct
//! addressing: no grouping into runs, no per-group numbering.
//!
//! Each row's (window, entity) is a slot `(window - first window) * entities + entity` of a
//! table over the batch's window span. Every aggregate is one pass over the rows that updates
//! its slot's state: the slot range is cut into one part per thread, each thread updates the
//! slots of its part only (per-thread partial states that need no merge and no atomics; the
//! same answer whatever the thread count; see [`super::slot_state`]). For time-sorted input
//! (checked while the slots are computed) the parts are cut between windows, so each thread
//! reads only its own rows; otherwise each reads every row's slot. Each row then reads its
//! slot's value back (counts and sums of one grouping in one pass). Used when the engine runs
//! on the CPU, the window is tumbling or the whole input, every aggregate is a count, or an
//! exact distinct count, sum, minimum, maximum or mean of an integer field, and the span is
//! at most a few slots per row; anything else takes the run-based [`super::agg::broadcast`]
//! path (which gives the same values).
//!
//! Exact distinct counts use no hash set: groups of one or two rows compare with their first
//! value, larger groups get their values scattered into one region each (a counting sort) and
//! sorted there. A table in several batches (a polars frame's chunks) is read batch by batch
//! where Arrow holds it: entities keyed, times read in their stored unit (window indices
//! computed without converting each time to nanoseconds), integer fields read in place; no
//! column is joined or copied.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, Float64Array, Int64Array, RecordBatch, TimestampNanosecondArray, UInt64Array,
};
use arrow::buffer::NullBuffer;
use arrow::datatypes::{DataType, Field, Schema};
use rayon::prelude::*;

use super::chunks::{self, Ints, WindowOf};
use super::keys::KeyTable;
use super::reduce::int_mean;
use super::slot_state::{Split, distinct, per_slot};
use super::{Agg, Window, WindowFeature};
use crate::columns::{RawTimes, column, raw_times};
use crate::engine::Engine;
use crate::error::Result;

/// Rows per parallel task when rows read their slot's value back.
const GATHER_ROWS: usize = 1 << 15;

/// A batch's rows placed in the slots of the direct-address table, the occupied slots
/// numbered as groups.
struct Slots {
    /// Group of each row (`u32::MAX`: null time).
    slots: Vec<u32>,
    /// The rows and groups of each thread's part.
    split: Split,
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
    // Times as stored (no conversion of every row): window indices from the stored unit.
    let arrays: Vec<&ArrayRef> = batches
        .iter()
        .map(|b| column(b, &first.time))
        .collect::<Result<_>>()?;
    let parts: Vec<RawTimes> = arrays
        .iter()
        .map(|a| raw_times(a.as_ref(), &first.time))
        .collect::<Result<_>>()?;
    let tz = parts.first().and_then(|t| t.tz.clone());
    let tnull = if parts.iter().all(|t| t.nulls.is_none()) {
        None
    } else {
        let mut valid = arrow::array::BooleanBufferBuilder::new(n);
        for t in &parts {
            match &t.nulls {
                Some(nb) => valid.append_buffer(nb.inner()),
                None => valid.append_n(t.values.len(), true),
            }
        }
        Some(NullBuffer::new(valid.finish()))
    };
    // Window indices are monotonic in time: the first and last windows are those of the
    // earliest and latest times (each batch's range checked to convert to nanoseconds).
    let mut range = (i64::MAX, i64::MIN);
    for (t, a) in parts.iter().zip(&arrays) {
        let (lo, hi) = value_range(t);
        chunks::check_range(t, a.as_ref(), &first.time, lo, hi)?;
        if lo <= hi {
            // In nanoseconds (converts: checked above).
            range = (range.0.min(lo * t.to_ns), range.1.max(hi * t.to_ns));
        }
    }
    let (tmin, tmax) = range;
    // Each row's entity id, then (in place, the same buffer) its slot.
    let mut keys = KeyTable::new(&first.by);
    let mut slots: Vec<u32> = zeroed(n);
    let mut rest = slots.as_mut_slice();
    for b in batches {
        let (mine, later) = rest.split_at_mut(b.num_rows());
        keys.intern_into(b, mine)?;
        rest = later;
    }
    let entities = keys.len();
    let (wmin, wmax) = if tmin > tmax {
        (i64::MAX, i64::MIN)
    } else {
        let mut w = WindowOf::new(every, 1);
        (w.index(tmin), w.index(tmax))
    };
    let span = (wmax as i128 - wmin as i128 + 1) * entities as i128;
    if wmin > wmax || span > (4 * n as i128).max(1 << 24) || span >= i128::from(u32::MAX) {
        return Ok(None);
    }
    let span = span as usize;
    let mut rest = slots.as_mut_slice();
    // Per block of rows: the first and last window of its timed rows, and whether its
    // windows never decrease (time-sorted input).
    let mut runs: Vec<(Option<(i64, i64)>, bool)> = Vec::new();
    for t in &parts {
        let (mine, later) = rest.split_at_mut(t.values.len());
        rest = later;
        runs.par_extend(
            mine.par_chunks_mut(GATHER_ROWS)
                .enumerate()
                .map(|(b, out)| {
                    let start = b * GATHER_ROWS;
                    let mut window_of = WindowOf::new(every, t.to_ns);
                    let mut seen: Option<(i64, i64)> = None;
                    let mut sorted = true;
                    for (j, s) in out.iter_mut().enumerate() {
                        let i = start + j;
                        *s = if t.is_valid(i) {
                            let w = window_of.index(t.values[i]);
                            sorted &= seen.is_none_or(|(_, last)| last <= w);
                            seen = Some((seen.map_or(w, |(first, _)| first), w));
                            ((w - wmin) as usize * entities + *s as usize) as u32
                        } else {
                            u32::MAX
                        };
                    }
                    (seen, sorted)
                }),
        );
    }
    drop(parts);
    let mut last = i64::MIN;
    let sorted = runs.iter().all(|&(seen, ok)| {
        let ok = ok && seen.is_none_or(|(first, _)| first >= last);
        if let Some((_, l)) = seen {
            last = l;
        }
        ok
    });
    let threads = rayon::current_num_threads().max(1);
    let mut split = if sorted && threads > 1 {
        Split::sorted(&slots, entities, span, threads)
    } else {
        Split::even(n, span, threads)
    };
    // Occupied slots numbered in slot order (groups), rows relabelled by group: later state
    // is per group, not per slot.
    let mut map = per_slot(&slots, &split, 0u32, None, |c, _, _| *c += 1);
    let count = number_groups(&mut map);
    slots
        .par_iter_mut()
        .with_min_len(1 << 16)
        .for_each(|s| *s = map.get(*s as usize).copied().unwrap_or(u32::MAX));
    split.regroup(&map, count.len());
    // Fields read batch by batch where Arrow holds them (no joined copy).
    let mut fields = Vec::with_capacity(specs.len());
    for s in specs {
        fields.push(match s.field.as_deref() {
            Some(name) if s.agg != Agg::Count => {
                let arrays: Vec<&ArrayRef> = batches
                    .iter()
                    .map(|b| column(b, name))
                    .collect::<Result<_>>()?;
                Some((Ints::new(&arrays)?, chunks::joined_nulls(&arrays)))
            }
            _ => None,
        });
    }
    Ok(Some(Slots {
        split,
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

/// Numbers the occupied slots of `map` (rows per slot) in slot order: each becomes its group
/// number, each empty slot `u32::MAX`; returns the rows per group. Blocks of slots are
/// numbered in parallel from the occupied counts of the blocks before them.
fn number_groups(map: &mut [u32]) -> Vec<u32> {
    const BLOCK: usize = 1 << 16;
    let occupied: Vec<usize> = map
        .par_chunks(BLOCK)
        .map(|b| b.iter().filter(|&&c| c > 0).count())
        .collect();
    let mut first = Vec::with_capacity(occupied.len());
    let mut total = 0usize;
    for o in &occupied {
        first.push(total);
        total += o;
    }
    let mut count: Vec<u32> = zeroed(total);
    let mut parts = Vec::with_capacity(occupied.len());
    let mut rest = count.as_mut_slice();
    for &o in &occupied {
        let (a, b) = rest.split_at_mut(o);
        parts.push(a);
        rest = b;
    }
    map.par_chunks_mut(BLOCK)
        .zip(parts)
        .zip(first)
        .for_each(|((block, counts), mut next)| {
            let mut k = 0;
            for m in block.iter_mut() {
                if *m > 0 {
                    if let Some(c) = counts.get_mut(k) {
                        *c = *m;
                    }
                    k += 1;
                    *m = next as u32;
                    next += 1;
                } else {
                    *m = u32::MAX;
                }
            }
        });
    count
}

/// The smallest and largest valid value of `t` (`(i64::MAX, i64::MIN)` when none).
fn value_range(t: &RawTimes) -> (i64, i64) {
    let v = &t.values;
    let fold = |a: (i64, i64), b: (i64, i64)| (a.0.min(b.0), a.1.max(b.1));
    match &t.nulls {
        None => v
            .par_chunks(1 << 16)
            .map(|c| c.iter().fold((i64::MAX, i64::MIN), |a, &x| fold(a, (x, x))))
            .reduce(|| (i64::MAX, i64::MIN), fold),
        Some(nb) => (0..v.len())
            .into_par_iter()
            .with_min_len(1 << 16)
            .filter(|&i| nb.is_valid(i))
            .map(|i| (v[i], v[i]))
            .reduce(|| (i64::MAX, i64::MIN), fold),
    }
}

/// Each spec's per-slot state, and the rows per slot.
fn states(specs: &[WindowFeature], p: &Slots) -> (Vec<u32>, Vec<State>) {
    let (slots, split) = (&p.slots, &p.split);
    let count = p.count.clone();
    let mut out = Vec::with_capacity(specs.len());
    for (s, f) in specs.iter().zip(&p.fields) {
        let Some((v, vnull)) = f else {
            out.push(State::Count(count.clone()));
            continue;
        };
        let ok = |row: usize| vnull.as_ref().is_none_or(|nb| nb.is_valid(row));
        out.push(match s.agg {
            Agg::DistinctCount => State::Count(distinct(slots, split, &count, v, ok)),
            Agg::Sum => State::Sum(per_slot(slots, split, 0i64, Some(v), |a, row, x| {
                if ok(row) {
                    *a = a.wrapping_add(x);
                }
            })),
            Agg::Min | Agg::Max => {
                let min = s.agg == Agg::Min;
                State::Extreme(per_slot(
                    slots,
                    split,
                    None,
                    Some(v),
                    |a: &mut Option<i64>, row, x| {
                        if ok(row) {
                            *a = Some(a.map_or(x, |y| if min { y.min(x) } else { y.max(x) }));
                        }
                    },
                ))
            }
            _ => State::Mean(per_slot(
                slots,
                split,
                (0u64, 0i64),
                Some(v),
                |a, row, x| {
                    if ok(row) {
                        a.0 += 1;
                        a.1 = a.1.wrapping_add(x);
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
    let out = states
        .iter()
        .zip(counts_and_sums(slots, &states))
        .map(|(st, filled)| match (st, filled) {
            (_, Some(values)) => all(values),
            (State::Extreme(m), None) => ints(slots, m, |&x| x),
            (State::Mean(m), None) => floats(slots, m, |&(k, s)| (k > 0).then(|| int_mean(s, k))),
            (State::Count(c), None) => all(values(slots, c, |&c| i64::from(c))),
            (State::Sum(s), None) => all(values(slots, s, |&x| x)),
        })
        .collect();
    Ok(Some(out))
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
    by_row(slots, |s| {
        state.get(s as usize).map_or_else(V::default, &value)
    })
}

/// Each row's value of every count and sum among `states` (`None` for the other states), all
/// filled in one pass over blocks of rows (each block's slots read once, from cache).
fn counts_and_sums(slots: &[u32], states: &[State]) -> Vec<Option<Vec<i64>>> {
    let mut outs: Vec<Option<Vec<i64>>> = states
        .iter()
        .map(|s| matches!(s, State::Count(_) | State::Sum(_)).then(|| zeroed(slots.len())))
        .collect();
    let mut blocks: Vec<Vec<(&State, &mut [i64])>> = (0..slots.len().div_ceil(GATHER_ROWS))
        .map(|_| Vec::with_capacity(states.len()))
        .collect();
    for (st, out) in states.iter().zip(outs.iter_mut()) {
        for (block, part) in blocks
            .iter_mut()
            .zip(out.iter_mut().flat_map(|o| o.chunks_mut(GATHER_ROWS)))
        {
            block.push((st, part));
        }
    }
    blocks
        .into_par_iter()
        .zip(slots.par_chunks(GATHER_ROWS))
        .for_each(|(columns, slots)| {
            for (st, out) in columns {
                match st {
                    State::Count(c) => fill(out, slots, c, |&c| i64::from(c)),
                    State::Sum(v) => fill(out, slots, v, |&x| x),
                    _ => {}
                }
            }
        });
    outs
}

/// `out[i] = value(state[slots[i]])` (default for rows of no slot).
fn fill<T, V: Default>(out: &mut [V], slots: &[u32], state: &[T], value: impl Fn(&T) -> V) {
    for (x, &s) in out.iter_mut().zip(slots) {
        *x = state.get(s as usize).map_or_else(V::default, &value);
    }
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
