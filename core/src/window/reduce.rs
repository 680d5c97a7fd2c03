//! Reduction of a grouped chunk into per-group partial state (the state every aggregate
//! shares, and one [`Acc`] per aggregate), and that state's values and output columns.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, Scalar, StringArray,
    TimestampNanosecondArray, UInt64Array,
};
use arrow::buffer::NullBuffer;
use arrow::datatypes::DataType;
use rayon::prelude::*;

use super::distinct::{DistinctSets, HllSets};
use super::group::Grouped;
use super::keys::{FieldValues, ValueTable, field_values};
use super::{Agg, CmpOp, Predicate, WindowFeature};
use crate::cpu::segment_reduce;
use crate::engine::Engine;
use crate::error::{Error, Result};

/// What a field turned out to be (fixed by the first chunk).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FieldKind {
    Int,
    Float,
    Codes,
}

/// Per-group state every aggregate shares: events, and first and last time (ns).
#[derive(Default)]
pub(super) struct Common {
    pub(super) count: Vec<u64>,
    pub(super) first: Vec<i64>,
    pub(super) last: Vec<i64>,
}

impl Common {
    /// Adds the runs of a chunk with times `t`; `total` groups exist so far.
    pub(super) fn add(&mut self, g: &Grouped, t: &[i64], total: usize) {
        self.count.resize(total, 0);
        self.first.resize(total, i64::MAX);
        self.last.resize(total, i64::MIN);
        let per_run: Vec<(u64, i64, i64)> = (0..g.runs())
            .into_par_iter()
            .with_min_len(1024)
            .map(|r| {
                let rows = g.run(r);
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
}

/// Per-group partial state of one aggregate; only the vectors its kind needs are filled.
#[derive(Default)]
pub(super) struct Acc {
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
    distinct: DistinctSets,
    hll: HllSets,
    /// Ratio: rows matching the predicate.
    hits: Vec<u64>,
}

impl Acc {
    /// Reduces the runs of chunk `g` of `batch` for `spec` (its field's non-numeric values
    /// coded by `table`); `total` groups exist so far.
    pub(super) fn reduce(
        &mut self,
        spec: &WindowFeature,
        table: &mut ValueTable,
        engine: &Engine,
        batch: &RecordBatch,
        g: &Grouped,
        total: usize,
    ) -> Result<()> {
        let agg = spec.agg;
        let Some(field) = spec.field.as_deref() else {
            return Ok(());
        };
        if agg == Agg::Ratio {
            let hits = predicate_hits(batch, field, spec.predicate.as_ref())?;
            self.hits.resize(total, 0);
            for r in 0..g.runs() {
                let h = g.run(r).iter().filter(|&&row| hits[row as usize]).count() as u64;
                self.hits[g.group[r] as usize] += h;
            }
            return Ok(());
        }
        let (values, nulls) = field_values(batch, field, table)?;
        let kind = self.check_kind(&values, field, agg, batch)?;
        let valid = |row: usize| nulls.as_ref().is_none_or(|nb| nb.is_valid(row));
        match agg {
            Agg::ApproxDistinct => {
                let (off, vals) = run_codes(&values, nulls.as_ref(), g);
                self.hll.add(engine, &g.group, &off, &vals, total)?;
            }
            Agg::DistinctCount => {
                let (off, vals) = run_codes(&values, nulls.as_ref(), g);
                self.distinct.add(engine, &g.group, &off, vals, total)?;
            }
            Agg::Std => self.reduce_std(&values, valid, g, total),
            _ if kind == FieldKind::Int => {
                let (off, vals) = run_codes(&values, nulls.as_ref(), g);
                self.reduce_int(engine, agg, &off, &vals, &g.group, total)?;
            }
            _ => {
                // Float fields: f64 on the CPU.
                if let FieldValues::Float(v) = &values {
                    self.reduce_float(v, valid, g, total);
                }
            }
        }
        Ok(())
    }

    /// Fixes the field's kind on the first chunk and checks later chunks and the aggregate
    /// against it.
    fn check_kind(
        &mut self,
        values: &FieldValues,
        field: &str,
        agg: Agg,
        batch: &RecordBatch,
    ) -> Result<FieldKind> {
        let kind = match values {
            FieldValues::Int(_) => FieldKind::Int,
            FieldValues::Float(_) => FieldKind::Float,
            FieldValues::Codes(_) => FieldKind::Codes,
        };
        match self.kind {
            None => self.kind = Some(kind),
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
                column: field.to_string(),
                expected: format!("a numeric column for {}", agg.name()),
                found: crate::columns::column(batch, field)
                    .map(|a| a.data_type().clone())
                    .unwrap_or(DataType::Null),
            });
        }
        Ok(kind)
    }

    /// Std: Welford per run, merged into the groups' running mean and M2 (Chan et al.).
    fn reduce_std(
        &mut self,
        values: &FieldValues,
        valid: impl Fn(usize) -> bool + Sync,
        g: &Grouped,
        total: usize,
    ) {
        self.n.resize(total, 0);
        self.mean.resize(total, 0.0);
        self.m2.resize(total, 0.0);
        let stats: Vec<(u64, f64, f64)> = (0..g.runs())
            .into_par_iter()
            .with_min_len(1024)
            .map(|r| {
                let (mut n, mut mean, mut m2) = (0u64, 0f64, 0f64);
                for &row in g.run(r) {
                    let row = row as usize;
                    if !valid(row) {
                        continue;
                    }
                    let x = match values {
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
            let gi = g.group[r] as usize;
            let (na, ma, m2a) = (self.n[gi], self.mean[gi], self.m2[gi]);
            let nt = na + n;
            if nt == 0 {
                continue;
            }
            let d = mean - ma;
            self.mean[gi] = ma + d * n as f64 / nt as f64;
            self.m2[gi] = m2a + m2 + d * d * na as f64 * n as f64 / nt as f64;
            self.n[gi] = nt;
        }
    }

    /// Sum, mean, min, max of an integer field: the segmented reduction kernel over the
    /// runs' values `vals[off[r]..off[r + 1]]` (run `r` of global group `groups[r]`).
    fn reduce_int(
        &mut self,
        engine: &Engine,
        agg: Agg,
        off: &[u32],
        vals: &[i64],
        groups: &[u32],
        total: usize,
    ) -> Result<()> {
        let words = engine.segment_reduce(off, vals)?;
        // Only the accumulators this aggregate reads are kept.
        let (sum, min, max) = match agg {
            Agg::Sum => (true, false, false),
            Agg::Mean => (true, false, false),
            Agg::Min => (false, true, false),
            _ => (false, false, true),
        };
        self.n.resize(total, 0);
        if sum {
            self.isum.resize(total, 0);
        }
        if min {
            self.imin.resize(total, i64::MAX);
        }
        if max {
            self.imax.resize(total, i64::MIN);
        }
        for (r, &gi) in groups.iter().enumerate() {
            let w = &words[r * segment_reduce::WORDS..(r + 1) * segment_reduce::WORDS];
            if w[0] == 0 {
                continue;
            }
            let gi = gi as usize;
            self.n[gi] += u64::from(w[0]);
            if sum {
                self.isum[gi] = self.isum[gi].wrapping_add(segment_reduce::join(w[2], w[3]));
            }
            if min {
                self.imin[gi] = self.imin[gi].min(segment_reduce::join(w[4], w[5]));
            }
            if max {
                self.imax[gi] = self.imax[gi].max(segment_reduce::join(w[6], w[7]));
            }
        }
        Ok(())
    }

    /// Sum, mean, min, max of a float field `v`: f64 on the CPU.
    fn reduce_float(
        &mut self,
        v: &[f64],
        valid: impl Fn(usize) -> bool,
        g: &Grouped,
        total: usize,
    ) {
        self.n.resize(total, 0);
        self.fsum.resize(total, 0.0);
        self.fmin.resize(total, f64::INFINITY);
        self.fmax.resize(total, f64::NEG_INFINITY);
        for (r, &gi) in g.group.iter().enumerate() {
            let gi = gi as usize;
            for &row in g.run(r) {
                let row = row as usize;
                if !valid(row) {
                    continue;
                }
                let x = v[row];
                self.n[gi] += 1;
                self.fsum[gi] += x;
                self.fmin[gi] = self.fmin[gi].min(x);
                self.fmax[gi] = self.fmax[gi].max(x);
            }
        }
    }

    /// Value of aggregate `agg` for group `g` as f64 (None = null).
    pub(super) fn value(&self, agg: Agg, common: &Common, g: usize) -> Option<f64> {
        let float = self.kind == Some(FieldKind::Float);
        let n = self.n.get(g).copied().unwrap_or(0);
        let count = common.count[g];
        match agg {
            Agg::Count => Some(count as f64),
            Agg::DistinctCount => Some(self.distinct.count(g) as f64),
            Agg::ApproxDistinct => Some(self.hll.estimate(g)),
            Agg::Sum if float => Some(self.fsum.get(g).copied().unwrap_or(0.0)),
            Agg::Sum => Some(self.isum.get(g).copied().unwrap_or(0) as f64),
            Agg::Mean if n == 0 => None,
            Agg::Mean if float => Some(self.fsum[g] / n as f64),
            Agg::Mean => Some(int_mean(self.isum[g], n)),
            Agg::Min | Agg::Max if n == 0 => None,
            Agg::Min if float => Some(self.fmin[g]),
            Agg::Max if float => Some(self.fmax[g]),
            Agg::Min => Some(self.imin[g] as f64),
            Agg::Max => Some(self.imax[g] as f64),
            Agg::Std if n < 2 => None,
            Agg::Std => Some((self.m2[g] / (n - 1) as f64).max(0.0).sqrt()),
            Agg::Ratio => Some(self.hits.get(g).copied().unwrap_or(0) as f64 / count as f64),
            Agg::FirstSeen => Some(common.first[g] as f64 / 1e9),
            Agg::LastSeen => Some(common.last[g] as f64 / 1e9),
            Agg::SincePrevious if count < 2 => None,
            Agg::SincePrevious => {
                Some(super::seconds(common.first[g], common.last[g]) / (count - 1) as f64)
            }
        }
    }

    /// Value of a count, distinct count (the estimate rounded) or integer sum, minimum or
    /// maximum for group `g`, exact (None = null; see [`super::event_type`]).
    pub(super) fn int_value(&self, agg: Agg, common: &Common, g: usize) -> Option<i64> {
        let n = self.n.get(g).copied().unwrap_or(0);
        let wide = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        match agg {
            Agg::Count => Some(wide(common.count[g])),
            Agg::DistinctCount => Some(wide(self.distinct.count(g))),
            Agg::ApproxDistinct => Some(self.hll.estimate(g).round() as i64),
            Agg::Sum => Some(self.isum.get(g).copied().unwrap_or(0)),
            Agg::Min | Agg::Max if n == 0 => None,
            Agg::Min => self.imin.get(g).copied(),
            Agg::Max => self.imax.get(g).copied(),
            _ => self.value(agg, common, g).map(|v| v as i64),
        }
    }

    /// Output column of aggregate `agg` over the groups `order`: UInt64 counts, Int64 sums,
    /// minima and maxima of integer fields, Timestamp(ns, `tz`) first and last times, else
    /// Float64.
    pub(super) fn column(
        &self,
        agg: Agg,
        common: &Common,
        order: &[usize],
        tz: Option<Arc<str>>,
    ) -> ArrayRef {
        let int = self.kind == Some(FieldKind::Int);
        match agg {
            Agg::Count | Agg::DistinctCount | Agg::ApproxDistinct => {
                Arc::new(UInt64Array::from_iter_values(order.iter().map(|&g| {
                    self.value(agg, common, g).map_or(0, |v| v.round() as u64)
                })))
            }
            Agg::Sum if int => Arc::new(Int64Array::from_iter_values(
                order
                    .iter()
                    .map(|&g| self.isum.get(g).copied().unwrap_or(0)),
            )),
            Agg::Min | Agg::Max if int => {
                let v = if agg == Agg::Min {
                    &self.imin
                } else {
                    &self.imax
                };
                Arc::new(Int64Array::from_iter(order.iter().map(|&g| {
                    (self.n.get(g).copied().unwrap_or(0) > 0).then(|| v[g])
                })))
            }
            Agg::FirstSeen | Agg::LastSeen => {
                let v = if agg == Agg::FirstSeen {
                    &common.first
                } else {
                    &common.last
                };
                Arc::new(
                    TimestampNanosecondArray::from_iter_values(order.iter().map(|&g| v[g]))
                        .with_timezone_opt(tz),
                )
            }
            _ => Arc::new(Float64Array::from_iter(
                order.iter().map(|&g| self.value(agg, common, g)),
            )),
        }
    }
}

/// Mean of `n` (> 0) integers summing to `sum`: one correctly rounded division while the sum
/// is exact in f64 (|sum| < 2^53), else quotient plus remainder, so a large sum is not
/// rounded before dividing.
pub(super) fn int_mean(sum: i64, n: u64) -> f64 {
    let n = n.max(1) as i64;
    if sum.unsigned_abs() < 1 << 53 {
        sum as f64 / n as f64
    } else {
        (sum / n) as f64 + (sum % n) as f64 / n as f64
    }
}

/// Non-null values of every run of `g`, in run order, as exact i64 codes (floats: their
/// bits, -0.0 as 0.0): run offsets (runs + 1) and the values.
fn run_codes(
    values: &FieldValues,
    nulls: Option<&NullBuffer>,
    g: &Grouped,
) -> (Vec<u32>, Vec<i64>) {
    let valid = |row: usize| nulls.is_none_or(|nb| nb.is_valid(row));
    let as_code = |row: usize| -> i64 {
        match values {
            FieldValues::Int(v) | FieldValues::Codes(v) => v[row],
            FieldValues::Float(v) => {
                let x = v[row];
                if x == 0.0 { 0 } else { x.to_bits() as i64 }
            }
        }
    };
    let runs = g.runs();
    let mut off = Vec::with_capacity(runs + 1);
    let mut vals = Vec::with_capacity(g.rows.len());
    off.push(0u32);
    for r in 0..runs {
        for &row in g.run(r) {
            if valid(row as usize) {
                vals.push(as_code(row as usize));
            }
        }
        off.push(vals.len() as u32);
    }
    (off, vals)
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
