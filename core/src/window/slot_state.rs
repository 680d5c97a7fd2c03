//! The per-slot passes of the direct-address path ([`super::dense`]): each thread owns a
//! range of slots (or groups) and updates their state from the rows that fall in it, so no
//! state is shared, merged or updated atomically, and the answer does not depend on the
//! thread count.

use std::ops::Range;

use rayon::prelude::*;

use super::chunks::{Chunked, Ints};

/// How a pass is cut into one part per thread: part `p` owns the states
/// `bounds[p]..bounds[p + 1]` (slots, or groups once [`Split::regroup`] has run) and reads
/// the rows `rows[p]`. For unsorted input every part reads every row; for time-sorted input
/// the parts are cut between windows, so each part reads only the rows of its own windows
/// (half the reads on two threads, and its states stay in cache).
pub(super) struct Split {
    bounds: Vec<usize>,
    rows: Vec<Range<usize>>,
    sorted: bool,
}

impl Split {
    /// `parts` equal ranges of the `span` slots, each reading all `n` rows.
    pub(super) fn even(n: usize, span: usize, parts: usize) -> Self {
        let parts = parts.max(1);
        let step = span.div_ceil(parts).max(1);
        Split {
            bounds: (0..=parts).map(|p| (p * step).min(span)).collect(),
            rows: vec![0..n; parts],
            sorted: false,
        }
    }

    /// `parts` ranges of rows of about equal size cut between windows, for rows whose slots
    /// `window * entities + entity` have non-decreasing windows (`u32::MAX`: a row of no
    /// slot, anywhere), over `span` slots.
    pub(super) fn sorted(slots: &[u32], entities: usize, span: usize, parts: usize) -> Self {
        let (n, e, parts) = (slots.len(), entities.max(1), parts.max(1));
        let window = |r: usize| {
            slots
                .get(r)
                .filter(|&&s| s != u32::MAX)
                .map(|&s| s as usize / e)
        };
        let mut rows = Vec::with_capacity(parts);
        let mut bounds = vec![0];
        let mut from = 0;
        for p in 1..parts {
            // The first timed row at or after the even cut, then the first row of a later
            // window: every row before the cut has a window before every row after it.
            let mut r = (p * n / parts).max(from);
            while r < n && window(r).is_none() {
                r += 1;
            }
            let w0 = window(r);
            while r < n && window(r).is_none_or(|w| Some(w) == w0) {
                r += 1;
            }
            let bound = window(r).map_or(span, |w| (w * e).min(span));
            rows.push(from..r);
            bounds.push(bound.max(*bounds.last().unwrap_or(&0)));
            from = r;
        }
        rows.push(from..n);
        bounds.push(span);
        Split {
            bounds,
            rows,
            sorted: true,
        }
    }

    /// The same parts over groups, `map` giving each slot's group (`u32::MAX`: empty slot),
    /// groups numbered in slot order (`groups` in all).
    pub(super) fn regroup(&mut self, map: &[u32], groups: usize) {
        if !self.sorted {
            let parts = self.rows.len();
            self.bounds = Split::even(0, groups, parts).bounds;
            return;
        }
        for b in self.bounds.iter_mut() {
            *b = map
                .get(*b..)
                .and_then(|m| m.iter().find(|&&g| g != u32::MAX))
                .map_or(groups, |&g| g as usize);
        }
    }

    /// The states of all parts.
    pub(super) fn len(&self) -> usize {
        self.bounds.last().copied().unwrap_or(0)
    }

    /// `state` cut into the parts' ranges, each with its first state and its rows.
    fn cut<'a, T>(&self, mut state: &'a mut [T]) -> Vec<(usize, &'a mut [T], Range<usize>)> {
        let mut out = Vec::with_capacity(self.rows.len());
        for (w, rows) in self.bounds.windows(2).zip(&self.rows) {
            let (a, b) = state.split_at_mut(w[1].saturating_sub(w[0]).min(state.len()));
            out.push((w[0], a, rows.clone()));
            state = b;
        }
        out
    }
}

/// One state per slot (or group) of `split`, starting at `init`, updated by
/// `update(state, row, value)` (`value`: the row's value of `values`, 0 without) for every
/// row whose slot is not `u32::MAX`, in row order within a slot.
pub(super) fn per_slot<T>(
    slots: &[u32],
    split: &Split,
    init: T,
    values: Option<&Ints>,
    update: impl Fn(&mut T, usize, i64) + Sync,
) -> Vec<T>
where
    T: Clone + Send + Sync,
{
    let mut state = vec![init; split.len()];
    split
        .cut(&mut state)
        .into_par_iter()
        .for_each(|(lo, part, rows)| {
            let mut visit = |row: usize, slot: u32, x: i64| {
                if let Some(a) = part.get_mut((slot as usize).wrapping_sub(lo)) {
                    update(a, row, x);
                }
            };
            match values {
                Some(v) => v.each(slots, rows, visit),
                None => {
                    for (row, &slot) in slots.iter().enumerate().take(rows.end).skip(rows.start) {
                        visit(row, slot, 0);
                    }
                }
            }
        });
    state
}

/// Exact distinct non-null values per group (`count`: rows per group, `slots`: each row's
/// group). A group of one or two rows needs no set: it keeps its first value's row and
/// compares. The values of larger groups are scattered into one region per group (a
/// counting sort: regions laid out in group order), then each region is sorted and its
/// changes counted: no hashing, and the work of a group is proportional to its rows. Each
/// part of `split` owns its groups' states and regions: no atomics, the same answer whatever
/// the thread count.
pub(super) fn distinct(
    slots: &[u32],
    split: &Split,
    count: &[u32],
    v: &Ints,
    ok: impl Fn(usize) -> bool + Sync,
) -> Vec<u32> {
    match v {
        Ints::I32(x) => distinct_of(slots, split, count, x, ok),
        Ints::I64(x) => distinct_of(slots, split, count, x, ok),
    }
}

/// [`distinct`] over the values `v`.
fn distinct_of<T: arrow::datatypes::ArrowNativeType + Ord>(
    slots: &[u32],
    split: &Split,
    count: &[u32],
    v: &Chunked<T>,
    ok: impl Fn(usize) -> bool + Sync,
) -> Vec<u32> {
    /// Groups of at most this many rows compare with their first value instead of a region.
    const SMALL: u32 = 2;
    let groups = split.len().min(count.len());
    let count = &count[..groups];
    // Per group: distinct values so far (for a large group: values written), and the first
    // value's row (small group) or the start of the group's place in its part's region.
    let mut d: Vec<u32> = vec![0; groups];
    let mut aux: Vec<u32> = vec![0; groups];
    let parts: Vec<_> = split
        .cut(&mut d)
        .into_iter()
        .zip(split.cut(&mut aux))
        .collect();
    parts
        .into_par_iter()
        .for_each(|((lo, d, rows), (_, aux, _))| {
            let counts = &count[lo..lo + d.len()];
            let mut at = 0usize;
            for (x, &c) in aux.iter_mut().zip(counts) {
                if c > SMALL {
                    *x = at as u32;
                    at += c as usize;
                }
            }
            // This part's values in large groups, group after group.
            let mut region: Vec<T> = vec![T::default(); at];
            v.each_in_batch(slots, rows, |row, slot, x, batch| {
                let g = (slot as usize).wrapping_sub(lo);
                let (Some(dg), Some(first), Some(&c)) =
                    (d.get_mut(g), aux.get_mut(g), counts.get(g))
                else {
                    return;
                };
                if !ok(row) {
                    return;
                }
                if c > SMALL {
                    if let Some(place) = region.get_mut(*first as usize + *dg as usize) {
                        *place = x;
                    }
                    *dg += 1;
                } else if *dg == 0 {
                    (*dg, *first) = (1, row as u32);
                } else {
                    *dg += u32::from(x != v.get_near(*first as usize, batch));
                }
            });
            for ((dg, &from), &c) in d.iter_mut().zip(aux.iter()).zip(counts) {
                if c <= SMALL || *dg == 0 {
                    continue;
                }
                let from = from as usize;
                if let Some(run) = region.get_mut(from..from + *dg as usize) {
                    *dg = distinct_in(run);
                }
            }
        });
    d
}

/// Distinct values of `run` (reordered): a few values compared pairwise, more sorted.
fn distinct_in<T: Ord + Copy>(run: &mut [T]) -> u32 {
    if run.len() <= 8 {
        let mut d = 0;
        for (i, x) in run.iter().enumerate() {
            d += u32::from(!run[..i].contains(x));
        }
        return d;
    }
    run.sort_unstable();
    1 + run.windows(2).filter(|w| w[0] != w[1]).count() as u32
}
