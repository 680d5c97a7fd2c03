//! The sort-by-key aggregator (see the module documentation of `window` for the design).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, Scalar, StringArray,
    TimestampNanosecondArray, UInt64Array,
};
use arrow::buffer::NullBuffer;
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use rayon::prelude::*;

use super::keys::{FieldValues, KeyTable, ValueTable, field_values};
use super::{Agg, CmpOp, HLL_P, Predicate, Window, WindowFeature};
use crate::columns::{Times, times};
use crate::cpu::segment_reduce;
use crate::engine::{Backend, DEFAULT_CHUNK_BYTES, Engine};
use crate::error::{Error, Result};

type Map<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Span arena markers of exact distinct sets: no set yet, or merged into `Acc::merged`.
const NO_SET: u32 = u32::MAX;
const MERGED: u32 = u32::MAX - 1;

/// What a field turned out to be (fixed by the first chunk).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FieldKind {
    Int,
    Float,
    Codes,
}

/// Per-group partial state of one aggregate; only the vectors its kind needs are filled.
#[derive(Default)]
struct Acc {
    kind: Option<FieldKind>,
    /// Non-null values.
    n: Vec<u64>,
    isum: Vec<i64>,
    imin: Vec<i64>,
    imax: Vec<i64>,
    fsum: Vec<f64>,
    fmin: Vec<f64>,
    fmax: Vec<f64>,
    /// Welford mean and M2 (std).
    mean: Vec<f64>,
    m2: Vec<f64>,
    /// Exact distinct: the count, and the sorted distinct values kept for later chunks: one
    /// arena per chunk, a span (arena, start, len) per group, and merged sets for groups seen
    /// in several chunks (span arena = `MERGED`).
    distinct: Vec<u64>,
    arenas: Vec<Vec<i64>>,
    spans: Vec<(u32, u32, u32)>,
    merged: Map<u32, Vec<i64>>,
    hll: Vec<Hll>,
    /// Ratio: rows matching the predicate.
    hits: Vec<u64>,
}

/// Per-(entity, window) aggregates over record batches pushed one at a time; windows that
/// span batches are exact. All specs share the entity columns, time column and window.
pub struct Aggregator {
    specs: Vec<WindowFeature>,
    window: Window,
    engine: Engine,
    keys: KeyTable,
    values: Vec<ValueTable>,
    groups: Map<(u32, i64), u32>,
    group_key: Vec<(u32, i64)>,
    count: Vec<u64>,
    first: Vec<i64>,
    last: Vec<i64>,
    accs: Vec<Acc>,
    tz: Option<Arc<str>>,
    batches: usize,
}

/// One chunk grouped: entries (row, window) sorted into runs of one group each.
struct Grouped {
    /// Row of each sorted entry.
    rows: Vec<u32>,
    /// Run boundaries into `rows` (runs + 1).
    offsets: Vec<u32>,
    /// Global group of each run.
    group: Vec<u32>,
    /// Run of the entry broadcast to each row (u32::MAX: no window, null time).
    row_run: Vec<u32>,
}

impl Aggregator {
    /// An aggregator of `specs` (one or more, same `by`, time column and window).
    pub fn new(specs: &[WindowFeature], backend: Backend) -> Result<Self> {
        Self::with_engine(
            specs,
            Engine {
                backend,
                chunk_bytes: DEFAULT_CHUNK_BYTES,
                strict: false,
            },
        )
    }

    pub(crate) fn with_engine(specs: &[WindowFeature], engine: Engine) -> Result<Self> {
        let first = specs
            .first()
            .ok_or_else(|| Error::param("aggregates", "give at least one aggregate"))?;
        for s in specs {
            s.validate()?;
            if !s.same_grouping(first) {
                return Err(Error::param(
                    "aggregates",
                    format!(
                        "`{}` groups by {:?} over `{}` with another window than `{}`; aggregate them separately",
                        s.default_name(),
                        s.by,
                        s.time,
                        first.default_name()
                    ),
                ));
            }
        }
        Ok(Aggregator {
            specs: specs.to_vec(),
            window: first.window()?,
            engine,
            keys: KeyTable::new(&first.by),
            values: specs.iter().map(|_| ValueTable::new()).collect(),
            groups: Map::default(),
            group_key: Vec::new(),
            count: Vec::new(),
            first: Vec::new(),
            last: Vec::new(),
            accs: specs.iter().map(|_| Acc::default()).collect(),
            tz: None,
            batches: 0,
        })
    }

    /// Adds one batch.
    pub fn push(&mut self, batch: &RecordBatch) -> Result<()> {
        self.push_rows(batch).map(|_| ())
    }

    /// Adds one batch; returns, per row, the global group broadcast to it (None: null time).
    fn push_rows(&mut self, batch: &RecordBatch) -> Result<Vec<Option<u32>>> {
        let time_col = self.specs[0].time.clone();
        let ids = self.keys.intern(batch)?;
        let Times {
            ns: t,
            nulls: tnull,
            tz,
        } = times(batch, &time_col)?;
        if self.batches == 0 {
            self.tz = tz;
        }
        self.batches += 1;
        let g = self.group(&ids, &t, tnull.as_ref())?;
        self.reduce_common(&g, &t);
        for i in 0..self.specs.len() {
            self.reduce_spec(i, batch, &g)?;
        }
        Ok(g.row_run
            .iter()
            .map(|&r| (r != u32::MAX).then(|| g.group[r as usize]))
            .collect())
    }

    /// Window entries of every row, sorted by (entity, window) into runs.
    fn group(&mut self, ids: &[u32], t: &[i64], tnull: Option<&NullBuffer>) -> Result<Grouped> {
        let n = ids.len();
        let valid = |i: usize| tnull.is_none_or(|nb| nb.is_valid(i));
        // (row, window) entries; `chosen[row]` is the entry broadcast to the row.
        let mut ent_row = Vec::with_capacity(n);
        let mut ent_win = Vec::with_capacity(n);
        let mut chosen = vec![u32::MAX; n];
        for i in 0..n {
            if !valid(i) {
                continue;
            }
            chosen[i] = ent_row.len() as u32;
            match self.window {
                Window::Tumbling { every } => {
                    ent_row.push(i as u32);
                    ent_win.push(t[i].div_euclid(every));
                }
                Window::Hopping { every, period } => {
                    let lo = t[i].saturating_sub(period).div_euclid(every) + 1;
                    let hi = t[i].div_euclid(every);
                    for w in lo..=hi {
                        ent_row.push(i as u32);
                        ent_win.push(w);
                    }
                }
                Window::Whole => {
                    ent_row.push(i as u32);
                    ent_win.push(0);
                }
            }
        }
        if ent_row.len() > u32::MAX as usize - 1 {
            return Err(Error::InvalidInput(
                "too many (row, window) entries in one batch; use smaller batches".into(),
            ));
        }
        let m = ent_row.len();
        let (wmin, wmax) = ent_win
            .iter()
            .fold((i64::MAX, i64::MIN), |(a, b), &w| (a.min(w), b.max(w)));
        let nk = self.keys.len() as u128;
        let nw = if m == 0 {
            1
        } else {
            (wmax as i128 - wmin as i128 + 1) as u128
        };
        let dense_limit = (2 * m as u128).clamp(1 << 20, 1 << 31);
        // Sorted order of entries, and their sort keys.
        let order: Vec<u32>;
        let key_of = |e: usize| (ids[ent_row[e] as usize], ent_win[e]);
        if nk * nw <= dense_limit {
            // Counting sort on the dense id entity * nw + (window - wmin): O(n), stable.
            let size = (nk * nw) as usize;
            let gid: Vec<u32> = (0..m)
                .into_par_iter()
                .with_min_len(1 << 14)
                .map(|e| {
                    let (k, w) = key_of(e);
                    (k as u64 * nw as u64 + (w - wmin) as u64) as u32
                })
                .collect();
            let mut pos = vec![0u32; size + 1];
            for &x in &gid {
                pos[x as usize + 1] += 1;
            }
            for j in 0..size {
                pos[j + 1] += pos[j];
            }
            let mut o = vec![0u32; m];
            for (e, &x) in gid.iter().enumerate() {
                let p = &mut pos[x as usize];
                o[*p as usize] = e as u32;
                *p += 1;
            }
            order = o;
        } else {
            let mut o: Vec<u32> = (0..m as u32).collect();
            o.par_sort_by_key(|&e| key_of(e as usize));
            order = o;
        }
        // Runs of equal (entity, window).
        let mut offsets = Vec::new();
        let mut run_key = Vec::new();
        let mut ent_run = vec![0u32; m];
        for (j, &e) in order.iter().enumerate() {
            let k = key_of(e as usize);
            if run_key.last() != Some(&k) {
                offsets.push(j as u32);
                run_key.push(k);
            }
            ent_run[e as usize] = (run_key.len() - 1) as u32;
        }
        offsets.push(m as u32);
        let mut group = Vec::with_capacity(run_key.len());
        for k in run_key {
            let next = self.group_key.len() as u32;
            let g = *self.groups.entry(k).or_insert(next);
            if g == next {
                self.group_key.push(k);
            }
            group.push(g);
        }
        let total = self.group_key.len();
        self.count.resize(total, 0);
        self.first.resize(total, i64::MAX);
        self.last.resize(total, i64::MIN);
        let rows: Vec<u32> = order.iter().map(|&e| ent_row[e as usize]).collect();
        let row_run = chosen
            .iter()
            .map(|&c| {
                if c == u32::MAX {
                    c
                } else {
                    ent_run[c as usize]
                }
            })
            .collect();
        Ok(Grouped {
            rows,
            offsets,
            group,
            row_run,
        })
    }

    fn reduce_common(&mut self, g: &Grouped, t: &[i64]) {
        let per_run: Vec<(u64, i64, i64)> = (0..g.group.len())
            .into_par_iter()
            .with_min_len(1024)
            .map(|r| {
                let rows = &g.rows[g.offsets[r] as usize..g.offsets[r + 1] as usize];
                let (lo, hi) = rows.iter().fold((i64::MAX, i64::MIN), |(a, b), &i| {
                    (a.min(t[i as usize]), b.max(t[i as usize]))
                });
                (rows.len() as u64, lo, hi)
            })
            .collect();
        for (r, (c, lo, hi)) in per_run.into_iter().enumerate() {
            let gi = g.group[r] as usize;
            self.count[gi] += c;
            self.first[gi] = self.first[gi].min(lo);
            self.last[gi] = self.last[gi].max(hi);
        }
    }

    fn reduce_spec(&mut self, i: usize, batch: &RecordBatch, g: &Grouped) -> Result<()> {
        let spec = &self.specs[i];
        let agg = spec.agg;
        let total = self.group_key.len();
        let Some(field) = spec.field.clone() else {
            return Ok(());
        };
        if agg == Agg::Ratio {
            let hits = predicate_hits(batch, &field, spec.predicate.as_ref())?;
            let acc = &mut self.accs[i];
            acc.hits.resize(total, 0);
            for r in 0..g.group.len() {
                let rows = &g.rows[g.offsets[r] as usize..g.offsets[r + 1] as usize];
                let h = rows.iter().filter(|&&row| hits[row as usize]).count() as u64;
                acc.hits[g.group[r] as usize] += h;
            }
            return Ok(());
        }
        let (values, nulls) = field_values(batch, &field, &mut self.values[i])?;
        let kind = match &values {
            FieldValues::Int(_) => FieldKind::Int,
            FieldValues::Float(_) => FieldKind::Float,
            FieldValues::Codes(_) => FieldKind::Codes,
        };
        let acc = &mut self.accs[i];
        match acc.kind {
            None => acc.kind = Some(kind),
            Some(k) if k != kind => {
                return Err(Error::InvalidInput(format!(
                    "field `{field}` changed type between batches"
                )));
            }
            _ => {}
        }
        if kind == FieldKind::Codes
            && matches!(agg, Agg::Sum | Agg::Mean | Agg::Min | Agg::Max | Agg::Std)
        {
            return Err(Error::WrongType {
                column: field,
                expected: format!("a numeric column for {}", agg.name()),
                found: batch
                    .schema()
                    .field_with_name(spec.field.as_deref().unwrap_or_default())
                    .map(|f| f.data_type().clone())
                    .unwrap_or(DataType::Null),
            });
        }
        let valid = |row: usize| nulls.as_ref().is_none_or(|nb| nb.is_valid(row));
        // Non-null values of every run, in run order, as exact i64 codes (floats: their bits).
        let as_code = |row: usize| -> i64 {
            match &values {
                FieldValues::Int(v) | FieldValues::Codes(v) => v[row],
                FieldValues::Float(v) => {
                    let x = v[row];
                    if x == 0.0 { 0 } else { x.to_bits() as i64 }
                }
            }
        };
        let runs = g.group.len();
        let mut off = Vec::with_capacity(runs + 1);
        let mut vals = Vec::with_capacity(g.rows.len());
        off.push(0u32);
        for r in 0..runs {
            for &row in &g.rows[g.offsets[r] as usize..g.offsets[r + 1] as usize] {
                if valid(row as usize) {
                    vals.push(as_code(row as usize));
                }
            }
            off.push(vals.len() as u32);
        }
        let gidx = &g.group;
        match agg {
            Agg::ApproxDistinct => {
                // Hashes and register updates: the hll_hash kernel (or its twin).
                let words = self.engine.hll_hash(&vals)?;
                acc.hll.resize_with(total, Hll::default);
                for r in 0..runs {
                    let h = &mut acc.hll[gidx[r] as usize];
                    for j in off[r] as usize..off[r + 1] as usize {
                        h.add(words[2 * j], words[2 * j + 1]);
                    }
                }
            }
            Agg::DistinctCount => {
                sort_runs(&off, &mut vals);
                let words = self.engine.segment_reduce(&off, &vals)?;
                acc.distinct.resize(total, 0);
                acc.spans.resize(total, (NO_SET, 0, 0));
                let arena_id = acc.arenas.len() as u32;
                let mut arena = Vec::with_capacity(vals.len());
                for r in 0..runs {
                    let gi = gidx[r] as usize;
                    let start = arena.len();
                    let run = &vals[off[r] as usize..off[r + 1] as usize];
                    for (j, &v) in run.iter().enumerate() {
                        if j == 0 || v != run[j - 1] {
                            arena.push(v);
                        }
                    }
                    let set = &arena[start..];
                    match acc.spans[gi] {
                        (NO_SET, _, _) => {
                            // First chunk holding this group: the kernel's count is its count.
                            acc.distinct[gi] = u64::from(words[r * segment_reduce::WORDS + 1]);
                            acc.spans[gi] = (arena_id, start as u32, set.len() as u32);
                        }
                        (MERGED, _, _) => {
                            let prev = acc.merged.remove(&(gi as u32)).unwrap_or_default();
                            let m = merge_sorted(&prev, set);
                            acc.distinct[gi] = m.len() as u64;
                            acc.merged.insert(gi as u32, m);
                        }
                        (a, s0, len) => {
                            let prev = acc
                                .arenas
                                .get(a as usize)
                                .map(|x| &x[s0 as usize..(s0 + len) as usize])
                                .unwrap_or_default();
                            let m = merge_sorted(prev, set);
                            acc.distinct[gi] = m.len() as u64;
                            acc.merged.insert(gi as u32, m);
                            acc.spans[gi] = (MERGED, 0, 0);
                        }
                    }
                }
                acc.arenas.push(arena);
            }
            Agg::Std => {
                acc.n.resize(total, 0);
                acc.mean.resize(total, 0.0);
                acc.m2.resize(total, 0.0);
                let stats: Vec<(u64, f64, f64)> = (0..runs)
                    .into_par_iter()
                    .with_min_len(1024)
                    .map(|r| {
                        let (mut n, mut mean, mut m2) = (0u64, 0f64, 0f64);
                        for &row in &g.rows[g.offsets[r] as usize..g.offsets[r + 1] as usize] {
                            let row = row as usize;
                            if !valid(row) {
                                continue;
                            }
                            let x = match &values {
                                FieldValues::Int(v) | FieldValues::Codes(v) => v[row] as f64,
                                FieldValues::Float(v) => v[row],
                            };
                            n += 1;
                            let d = x - mean;
                            mean += d / n as f64;
                            m2 += d * (x - mean);
                        }
                        (n, mean, m2)
                    })
                    .collect();
                for (r, (n, mean, m2)) in stats.into_iter().enumerate() {
                    let gi = gidx[r] as usize;
                    let (na, ma, m2a) = (acc.n[gi], acc.mean[gi], acc.m2[gi]);
                    let nt = na + n;
                    if nt == 0 {
                        continue;
                    }
                    let d = mean - ma;
                    acc.mean[gi] = ma + d * n as f64 / nt as f64;
                    acc.m2[gi] = m2a + m2 + d * d * na as f64 * n as f64 / nt as f64;
                    acc.n[gi] = nt;
                }
            }
            _ if kind == FieldKind::Int => {
                // Sum, mean, min, max of an integer field: the segmented reduction kernel.
                let words = self.engine.segment_reduce(&off, &vals)?;
                // Only the accumulators this aggregate reads are kept.
                let (sum, min, max) = match agg {
                    Agg::Sum => (true, false, false),
                    Agg::Mean => (true, false, false),
                    Agg::Min => (false, true, false),
                    _ => (false, false, true),
                };
                acc.n.resize(total, 0);
                if sum {
                    acc.isum.resize(total, 0);
                }
                if min {
                    acc.imin.resize(total, i64::MAX);
                }
                if max {
                    acc.imax.resize(total, i64::MIN);
                }
                for r in 0..runs {
                    let w = &words[r * segment_reduce::WORDS..(r + 1) * segment_reduce::WORDS];
                    if w[0] == 0 {
                        continue;
                    }
                    let gi = gidx[r] as usize;
                    acc.n[gi] += u64::from(w[0]);
                    if sum {
                        acc.isum[gi] = acc.isum[gi].wrapping_add(segment_reduce::join(w[2], w[3]));
                    }
                    if min {
                        acc.imin[gi] = acc.imin[gi].min(segment_reduce::join(w[4], w[5]));
                    }
                    if max {
                        acc.imax[gi] = acc.imax[gi].max(segment_reduce::join(w[6], w[7]));
                    }
                }
            }
            _ => {
                // Float fields: f64 on the CPU.
                let FieldValues::Float(v) = &values else {
                    return Ok(());
                };
                acc.n.resize(total, 0);
                acc.fsum.resize(total, 0.0);
                acc.fmin.resize(total, f64::INFINITY);
                acc.fmax.resize(total, f64::NEG_INFINITY);
                for (r, &gi) in gidx.iter().enumerate() {
                    let gi = gi as usize;
                    for &row in &g.rows[g.offsets[r] as usize..g.offsets[r + 1] as usize] {
                        let row = row as usize;
                        if !valid(row) {
                            continue;
                        }
                        let x = v[row];
                        acc.n[gi] += 1;
                        acc.fsum[gi] += x;
                        acc.fmin[gi] = acc.fmin[gi].min(x);
                        acc.fmax[gi] = acc.fmax[gi].max(x);
                    }
                }
            }
        }
        Ok(())
    }

    /// Value of spec `i` for group `g` as f64 (None = null).
    fn value(&self, i: usize, g: usize) -> Option<f64> {
        let acc = &self.accs[i];
        let float = acc.kind == Some(FieldKind::Float);
        let n = acc.n.get(g).copied().unwrap_or(0);
        let count = self.count[g];
        match self.specs[i].agg {
            Agg::Count => Some(count as f64),
            Agg::DistinctCount => Some(acc.distinct.get(g).copied().unwrap_or(0) as f64),
            Agg::ApproxDistinct => Some(acc.hll.get(g).map_or(0.0, Hll::estimate)),
            Agg::Sum if float => Some(acc.fsum.get(g).copied().unwrap_or(0.0)),
            Agg::Sum => Some(acc.isum.get(g).copied().unwrap_or(0) as f64),
            Agg::Mean if n == 0 => None,
            Agg::Mean if float => Some(acc.fsum[g] / n as f64),
            Agg::Mean => Some(acc.isum[g] as f64 / n as f64),
            Agg::Min | Agg::Max if n == 0 => None,
            Agg::Min if float => Some(acc.fmin[g]),
            Agg::Max if float => Some(acc.fmax[g]),
            Agg::Min => Some(acc.imin[g] as f64),
            Agg::Max => Some(acc.imax[g] as f64),
            Agg::Std if n < 2 => None,
            Agg::Std => Some((acc.m2[g] / (n - 1) as f64).max(0.0).sqrt()),
            Agg::Ratio => Some(acc.hits.get(g).copied().unwrap_or(0) as f64 / count as f64),
            Agg::FirstSeen => Some(self.first[g] as f64 / 1e9),
            Agg::LastSeen => Some(self.last[g] as f64 / 1e9),
            Agg::SincePrevious if count < 2 => None,
            Agg::SincePrevious => {
                Some(super::seconds(self.first[g], self.last[g]) / (count - 1) as f64)
            }
        }
    }

    /// Output column name of spec `i`.
    fn name(&self, i: usize) -> String {
        self.specs[i].default_name()
    }

    /// One row per (entity, window) in first-seen entity order, then window order: the entity
    /// columns, `window_start` (Timestamp(ns) in the time column's zone; absent for
    /// [`Window::Whole`]) and one column per aggregate named [`WindowFeature::default_name`].
    pub fn finish(self) -> Result<RecordBatch> {
        self.finish_named(None)
    }

    pub(crate) fn finish_named(self, names: Option<&[String]>) -> Result<RecordBatch> {
        let mut order: Vec<usize> = (0..self.group_key.len()).collect();
        order.par_sort_unstable_by_key(|&g| self.group_key[g]);
        let ids: Vec<u32> = order.iter().map(|&g| self.group_key[g].0).collect();
        let key_arrays = self.keys.decode(&ids)?;
        let mut fields = Vec::new();
        let mut columns: Vec<ArrayRef> = Vec::new();
        for (name, a) in self.keys.columns().iter().zip(key_arrays) {
            fields.push(Field::new(name, a.data_type().clone(), true));
            columns.push(a);
        }
        let ts_type = DataType::Timestamp(TimeUnit::Nanosecond, self.tz.clone());
        let step = match self.window {
            Window::Tumbling { every } | Window::Hopping { every, .. } => Some(every),
            Window::Whole => None,
        };
        if let Some(every) = step {
            let starts: TimestampNanosecondArray = order
                .iter()
                .map(|&g| self.group_key[g].1.checked_mul(every))
                .collect();
            fields.push(Field::new("window_start", ts_type.clone(), true));
            columns.push(Arc::new(starts.with_timezone_opt(self.tz.clone())));
        }
        for i in 0..self.specs.len() {
            let name = names
                .and_then(|n| n.get(i).cloned())
                .unwrap_or_else(|| self.name(i));
            let acc = &self.accs[i];
            let int = acc.kind == Some(FieldKind::Int);
            let array: ArrayRef = match self.specs[i].agg {
                Agg::Count | Agg::DistinctCount | Agg::ApproxDistinct => {
                    Arc::new(UInt64Array::from_iter_values(
                        order
                            .iter()
                            .map(|&g| self.value(i, g).map_or(0, |v| v.round() as u64)),
                    ))
                }
                Agg::Sum if int => Arc::new(Int64Array::from_iter_values(
                    order.iter().map(|&g| acc.isum.get(g).copied().unwrap_or(0)),
                )),
                Agg::Min | Agg::Max if int => {
                    let v = if self.specs[i].agg == Agg::Min {
                        &acc.imin
                    } else {
                        &acc.imax
                    };
                    Arc::new(Int64Array::from_iter(order.iter().map(|&g| {
                        (acc.n.get(g).copied().unwrap_or(0) > 0).then(|| v[g])
                    })))
                }
                Agg::FirstSeen | Agg::LastSeen => {
                    let v = if self.specs[i].agg == Agg::FirstSeen {
                        &self.first
                    } else {
                        &self.last
                    };
                    Arc::new(
                        TimestampNanosecondArray::from_iter_values(order.iter().map(|&g| v[g]))
                            .with_timezone_opt(self.tz.clone()),
                    )
                }
                _ => Arc::new(Float64Array::from_iter(
                    order.iter().map(|&g| self.value(i, g)),
                )),
            };
            fields.push(Field::new(name, array.data_type().clone(), true));
            columns.push(array);
        }
        Ok(RecordBatch::try_new(
            Arc::new(Schema::new(fields)),
            columns,
        )?)
    }
}

/// Sorts every run `vals[off[r]..off[r + 1]]` ascending, runs in parallel.
fn sort_runs(off: &[u32], vals: &mut [i64]) {
    let mut slices = Vec::with_capacity(off.len());
    let mut rest = vals;
    for w in off.windows(2) {
        let (a, b) = rest.split_at_mut((w[1] - w[0]) as usize);
        slices.push(a);
        rest = b;
    }
    slices
        .par_iter_mut()
        .with_min_len(256)
        .for_each(|s| s.sort_unstable());
}

fn merge_sorted(a: &[i64], b: &[i64]) -> Vec<i64> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        let x = match (a.get(i), b.get(j)) {
            (Some(&x), Some(&y)) if x <= y => {
                i += 1;
                if x == y {
                    j += 1;
                }
                x
            }
            (_, Some(&y)) => {
                j += 1;
                y
            }
            (Some(&x), None) => {
                i += 1;
                x
            }
            (None, None) => break,
        };
        out.push(x);
    }
    out
}

/// Whether each row's `field` matches the predicate (null fields do not).
fn predicate_hits(
    batch: &RecordBatch,
    field: &str,
    predicate: Option<&Predicate>,
) -> Result<Vec<bool>> {
    use arrow::compute::kernels::cmp;
    let p = predicate.ok_or_else(|| Error::param("predicate", "ratio needs a predicate"))?;
    let array = crate::columns::column(batch, field)?;
    let (left, right): (ArrayRef, ArrayRef) = match &p.value {
        serde_json::Value::String(s) => (
            arrow::compute::cast(array.as_ref(), &DataType::Utf8)?,
            Arc::new(StringArray::from(vec![s.as_str()])),
        ),
        serde_json::Value::Number(n) => {
            if !array.data_type().is_numeric() {
                return Err(Error::WrongType {
                    column: field.to_string(),
                    expected: "a numeric column for a numeric predicate".into(),
                    found: array.data_type().clone(),
                });
            }
            let v = n.as_f64().unwrap_or(f64::NAN);
            (
                arrow::compute::cast(array.as_ref(), &DataType::Float64)?,
                Arc::new(Float64Array::from(vec![v])),
            )
        }
        serde_json::Value::Bool(b) => (
            arrow::compute::cast(array.as_ref(), &DataType::Boolean)?,
            Arc::new(BooleanArray::from(vec![*b])),
        ),
        _ => return Err(Error::param("predicate", "unsupported value")),
    };
    let right = Scalar::new(right);
    let out = match p.op {
        CmpOp::Eq => cmp::eq(&left, &right),
        CmpOp::Ne => cmp::neq(&left, &right),
        CmpOp::Lt => cmp::lt(&left, &right),
        CmpOp::Le => cmp::lt_eq(&left, &right),
        CmpOp::Gt => cmp::gt(&left, &right),
        CmpOp::Ge => cmp::gt_eq(&left, &right),
    }?;
    Ok((0..out.len())
        .map(|i| out.is_valid(i) && out.value(i))
        .collect())
}

/// HyperLogLog with 2^HLL_P registers over 32-bit hashes (kernel `aggregate/hll_hash`);
/// exact (a sorted list of hashes) up to 64 values.
#[derive(Clone, Debug)]
enum Hll {
    Small(Vec<u32>),
    Dense(Box<[u8]>),
}

impl Default for Hll {
    fn default() -> Self {
        Hll::Small(Vec::new())
    }
}

impl Hll {
    const SMALL: usize = 64;

    /// Adds a value by its hash `h` and its packed update `(register << 8) | rank`.
    fn add(&mut self, h: u32, update: u32) {
        match self {
            Hll::Small(v) => {
                if let Err(at) = v.binary_search(&h) {
                    v.insert(at, h);
                }
                if v.len() > Self::SMALL {
                    let mut regs = vec![0u8; 1 << HLL_P].into_boxed_slice();
                    for &x in v.iter() {
                        let mut w = [0u32; 2];
                        crate::cpu::hll_hash::row_of_hash(x, &mut w);
                        Self::set(&mut regs, w[1]);
                    }
                    *self = Hll::Dense(regs);
                }
            }
            Hll::Dense(regs) => Self::set(regs, update),
        }
    }

    fn set(regs: &mut [u8], update: u32) {
        let idx = (update >> 8) as usize % regs.len();
        let rank = (update & 0xff) as u8;
        if regs[idx] < rank {
            regs[idx] = rank;
        }
    }

    fn estimate(&self) -> f64 {
        match self {
            Hll::Small(v) => v.len() as f64,
            Hll::Dense(regs) => {
                let m = regs.len() as f64;
                let alpha = 0.7213 / (1.0 + 1.079 / m);
                let sum: f64 = regs.iter().map(|&r| (-(r as f64)).exp2()).sum();
                let zeros = regs.iter().filter(|&&r| r == 0).count();
                let e = alpha * m * m / sum;
                if e <= 2.5 * m && zeros > 0 {
                    m * (m / zeros as f64).ln()
                } else {
                    e
                }
            }
        }
    }
}

/// One row per (entity, window) of `specs` over `batches` (see [`Aggregator::finish`]).
pub fn aggregate(
    batches: &[RecordBatch],
    specs: &[WindowFeature],
    backend: Backend,
) -> Result<RecordBatch> {
    let mut agg = Aggregator::new(specs, backend)?;
    for b in batches {
        agg.push(b)?;
    }
    agg.finish()
}

pub(crate) fn aggregate_with(
    batches: &[RecordBatch],
    specs: &[WindowFeature],
    engine: Engine,
) -> Result<RecordBatch> {
    let mut agg = Aggregator::with_engine(specs, engine)?;
    for b in batches {
        agg.push(b)?;
    }
    agg.finish()
}

/// [`aggregate`] over a Parquet file read in batches of `batch_rows` rows: windows that
/// span batches are exact, and memory holds the per-group state, not the file.
pub fn aggregate_parquet(
    path: impl AsRef<Path>,
    specs: &[WindowFeature],
    batch_rows: usize,
    backend: Backend,
) -> Result<RecordBatch> {
    let reader = parquet_batches(path.as_ref(), batch_rows)?;
    let mut agg = Aggregator::new(specs, backend)?;
    for b in reader {
        agg.push(&b?)?;
    }
    agg.finish()
}

/// A Parquet reader of `path` in batches of `batch_rows` rows.
pub(crate) fn parquet_batches(
    path: &Path,
    batch_rows: usize,
) -> Result<parquet::arrow::arrow_reader::ParquetRecordBatchReader> {
    let file = std::fs::File::open(path).map_err(|source| Error::Io {
        path: path.display().to_string(),
        source,
    })?;
    Ok(
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)?
            .with_batch_size(batch_rows.max(1))
            .build()?,
    )
}

/// Per-event broadcast of window aggregates of one batch: one Float32 column per spec
/// (null where the row's time is null or the aggregate is undefined).
pub(crate) fn broadcast(
    spec: &WindowFeature,
    batch: &RecordBatch,
    engine: &Engine,
) -> Result<ArrayRef> {
    let mut agg = Aggregator::with_engine(std::slice::from_ref(spec), *engine)?;
    let row_group = agg.push_rows(batch)?;
    let time_col = spec.time.clone();
    let t = times(batch, &time_col)?.ns;
    let out: arrow::array::Float32Array = match spec.agg {
        Agg::SincePrevious => {
            let ids = KeyTable::new(&spec.by).intern(batch)?;
            let mut idx: Vec<u32> = (0..batch.num_rows() as u32)
                .filter(|&i| row_group[i as usize].is_some())
                .collect();
            idx.par_sort_by_key(|&i| (ids[i as usize], t[i as usize], i));
            let mut gap = vec![None; batch.num_rows()];
            for w in idx.windows(2) {
                let (a, b) = (w[0] as usize, w[1] as usize);
                if ids[a] == ids[b] {
                    gap[b] = Some(super::seconds(t[a], t[b]) as f32);
                }
            }
            gap.into_iter().collect()
        }
        Agg::FirstSeen => (0..batch.num_rows())
            .map(|i| row_group[i].map(|g| super::seconds(agg.first[g as usize], t[i]) as f32))
            .collect(),
        Agg::LastSeen => (0..batch.num_rows())
            .map(|i| row_group[i].map(|g| super::seconds(t[i], agg.last[g as usize]) as f32))
            .collect(),
        _ => {
            let per_group: Vec<Option<f64>> =
                (0..agg.group_key.len()).map(|g| agg.value(0, g)).collect();
            row_group
                .iter()
                .map(|g| g.and_then(|g| per_group[g as usize]).map(|v| v as f32))
                .collect()
        }
    };
    Ok(Arc::new(out))
}
