//! The match table: every column's hits (each in row order) merged by row then column and
//! written straight into the output columns, in parallel over row ranges. Low-cardinality
//! text (`column`, `kind`, `source`, `suppressed_by`) is dictionary-encoded; `value` views
//! the input's own buffers; `indicator_id` views one arena holding each matched id once.

use std::sync::Arc;

use arrow::array::builder::make_view;
use arrow::array::{
    ArrayRef, AsArray, DictionaryArray, Int32Array, RecordBatch, StringArray, StringViewArray,
    UInt8Array, UInt64Array,
};
use arrow::buffer::{Buffer, NullBuffer, ScalarBuffer};
use arrow::datatypes::{DataType, Field, Int32Type, Schema};
use rayon::prelude::*;

use super::Intel;
use super::matching::{ColumnKind, Hit};
use super::normalize::INDICATOR_KINDS;
use crate::error::{Error, Result};

/// What a hit's entry contributes to its row: id view, kind, source, confidence.
#[derive(Clone, Copy)]
struct Meta {
    id: u128,
    kind: i32,
    source: i32,
    confidence: Option<u8>,
}

/// One row range's share of every output column.
struct Part<'a> {
    row: &'a mut [u64],
    col: &'a mut [i32],
    value: &'a mut [u128],
    id: &'a mut [u128],
    kind: &'a mut [i32],
    source: &'a mut [i32],
    conf: &'a mut [u8],
    conf_ok: &'a mut [bool],
    sup: &'a mut [i32],
    sup_ok: &'a mut [bool],
}

/// The next `n` items of `rest`.
fn take<'a, T>(rest: &mut &'a mut [T], n: usize) -> &'a mut [T] {
    let all = std::mem::take(rest);
    let (head, tail) = all.split_at_mut(n.min(all.len()));
    *rest = tail;
    head
}

/// Per column, per input batch: first row, views, shift of the buffer number.
type Sources<'a> = Vec<Vec<(u32, &'a [u128], u128)>>;

impl Intel {
    /// The match table of `per_column` hits; `arrays` holds, per column, each batch's first
    /// row and its values cast to Utf8View.
    pub(super) fn match_table(
        &self,
        per_column: &[Vec<Hit>],
        columns: &[(&str, ColumnKind)],
        arrays: &[Vec<(u32, ArrayRef)>],
    ) -> Result<RecordBatch> {
        let n: usize = per_column.iter().map(Vec::len).sum();
        let entries = &self.table.entries;
        // The values: the inputs' views, their buffer numbers shifted onto one buffer list.
        let mut src: Sources<'_> = Vec::with_capacity(arrays.len());
        let mut buffers: Vec<Buffer> = Vec::new();
        for parts in arrays {
            let mut col = Vec::with_capacity(parts.len());
            for (first, a) in parts {
                let v = a.as_string_view_opt().ok_or_else(|| {
                    Error::param("column", "a matched column did not cast to Utf8View")
                })?;
                col.push((*first, v.views().as_ref(), (buffers.len() as u128) << 64));
                buffers.extend(v.data_buffers().iter().cloned());
            }
            src.push(col);
        }
        // The entries matched, each once: a slot per entry, its id text once in `arena`.
        let mut slot = vec![u32::MAX; entries.len()];
        for h in per_column.iter().flatten() {
            if let Some(s) = slot.get_mut(h.entry as usize) {
                *s = 0;
            }
        }
        let mut meta: Vec<Meta> = Vec::new();
        let mut arena: Vec<u8> = Vec::new();
        for (s, e) in slot.iter_mut().zip(entries) {
            if *s == u32::MAX {
                continue;
            }
            let text =
                e.id.as_deref()
                    .map_or_else(|| super::derived_id(e.kind, &e.value), str::to_string);
            let id = make_view(text.as_bytes(), 0, arena.len() as u32);
            arena.extend_from_slice(text.as_bytes());
            *s = meta.len() as u32;
            meta.push(Meta {
                id,
                kind: e.kind as i32,
                source: e.source as i32,
                confidence: e.confidence,
            });
        }
        // Row ranges: hits of every column in each, and the share of the output.
        let last = per_column
            .iter()
            .filter_map(|h| h.last())
            .map(|h| u64::from(h.row) + 1)
            .max()
            .unwrap_or(0);
        let pieces = if n < 1 << 16 {
            1
        } else {
            8 * rayon::current_num_threads()
        };
        let bounds: Vec<u32> = (0..=pieces)
            .map(|p| (last * p as u64 / pieces as u64) as u32)
            .collect();
        let ranges: Vec<Vec<(usize, usize)>> = bounds
            .windows(2)
            .map(|w| {
                per_column
                    .iter()
                    .map(|h| {
                        (
                            h.partition_point(|x| x.row < w[0]),
                            h.partition_point(|x| x.row < w[1]),
                        )
                    })
                    .collect()
            })
            .collect();
        let mut row = vec![0u64; n];
        let mut col = vec![0i32; n];
        let mut value = vec![0u128; n];
        let mut id = vec![0u128; n];
        let mut kind = vec![0i32; n];
        let mut source = vec![0i32; n];
        let mut conf = vec![0u8; n];
        let mut conf_ok = vec![false; n];
        let mut sup = vec![0i32; n];
        let mut sup_ok = vec![false; n];
        {
            let (mut r, mut c, mut v, mut i, mut k, mut s) = (
                &mut row[..],
                &mut col[..],
                &mut value[..],
                &mut id[..],
                &mut kind[..],
                &mut source[..],
            );
            let (mut cf, mut co, mut sp, mut so) = (
                &mut conf[..],
                &mut conf_ok[..],
                &mut sup[..],
                &mut sup_ok[..],
            );
            let parts: Vec<Part<'_>> = ranges
                .iter()
                .map(|rs| {
                    let m: usize = rs.iter().map(|(a, b)| b - a).sum();
                    Part {
                        row: take(&mut r, m),
                        col: take(&mut c, m),
                        value: take(&mut v, m),
                        id: take(&mut i, m),
                        kind: take(&mut k, m),
                        source: take(&mut s, m),
                        conf: take(&mut cf, m),
                        conf_ok: take(&mut co, m),
                        sup: take(&mut sp, m),
                        sup_ok: take(&mut so, m),
                    }
                })
                .collect();
            parts
                .into_par_iter()
                .zip(ranges.par_iter())
                .for_each(|(out, rs)| fill(out, rs, per_column, &src, &slot, &meta));
        }
        let names: Vec<&str> = columns.iter().map(|(c, _)| *c).collect();
        let kinds: Vec<&str> = INDICATOR_KINDS.iter().map(|k| k.name()).collect();
        let lists: Vec<&str> = self.warninglists.iter().map(|w| w.name.as_str()).collect();
        // SAFETY: every view is copied from a valid StringViewArray (UTF-8 checked there);
        // an inline view (<= 12 bytes) is unchanged, and a buffer view's buffer number is
        // shifted by the count of buffers of the arrays before its own, which `buffers`
        // holds in that order, so each view names the same bytes as in its input.
        let value = unsafe {
            StringViewArray::new_unchecked(ScalarBuffer::from(value), buffers.into(), None)
        };
        // SAFETY: each view was made by `make_view` from a `&str` at its offset in `arena`
        // (buffer 0), which holds those bytes unchanged.
        let id = unsafe {
            StringViewArray::new_unchecked(
                ScalarBuffer::from(id),
                vec![Buffer::from_vec(arena)].into(),
                None,
            )
        };
        let nulls = |ok: Vec<bool>| Some(NullBuffer::from(ok)).filter(|b| b.null_count() > 0);
        let cols: Vec<ArrayRef> = vec![
            Arc::new(UInt64Array::from(row)),
            dict(Int32Array::from(col), &names)?,
            Arc::new(value),
            Arc::new(id),
            dict(Int32Array::from(kind), &kinds)?,
            dict(Int32Array::from(source), &self.sources)?,
            Arc::new(UInt8Array::new(ScalarBuffer::from(conf), nulls(conf_ok))),
            dict(
                Int32Array::new(ScalarBuffer::from(sup), nulls(sup_ok)),
                &lists,
            )?,
        ];
        Ok(RecordBatch::try_new(match_schema(), cols)?)
    }
}

/// Merges the hits of one row range (`rs`: per column, its index range) into `out`.
fn fill(
    out: Part<'_>,
    rs: &[(usize, usize)],
    per_column: &[Vec<Hit>],
    src: &Sources<'_>,
    slot: &[u32],
    meta: &[Meta],
) {
    let mut at: Vec<usize> = rs.iter().map(|r| r.0).collect();
    // The input batch each column's merge is in.
    let mut part: Vec<usize> = vec![0; rs.len()];
    let mut k = 0usize;
    loop {
        // The column whose next hit has the lowest row (ties: the first column).
        let mut best: Option<(usize, u32)> = None;
        for (c, hits) in per_column.iter().enumerate() {
            let end = rs.get(c).map_or(0, |r| r.1);
            if let Some(h) = at.get(c).filter(|&&i| i < end).and_then(|&i| hits.get(i))
                && best.is_none_or(|(_, r)| h.row < r)
            {
                best = Some((c, h.row));
            }
        }
        let Some((c, r)) = best else {
            return;
        };
        let (Some(hits), Some(i), Some(parts), Some(p), Some(&(_, end))) = (
            per_column.get(c),
            at.get_mut(c),
            src.get(c),
            part.get_mut(c),
            rs.get(c),
        ) else {
            return;
        };
        while parts.get(*p + 1).is_some_and(|x| x.0 <= r) {
            *p += 1;
        }
        let Some(&(first, vs, shift)) = parts.get(*p) else {
            return;
        };
        while let Some(h) = hits.get(*i).filter(|h| *i < end && h.row == r) {
            *i += 1;
            let m = slot
                .get(h.entry as usize)
                .and_then(|&s| meta.get(s as usize));
            let v = vs.get((h.row - first) as usize).copied().unwrap_or(0);
            if let (
                Some(row),
                Some(col),
                Some(value),
                Some(id),
                Some(kind),
                Some(source),
                Some(conf),
                Some(conf_ok),
                Some(sup),
                Some(sup_ok),
                Some(m),
            ) = (
                out.row.get_mut(k),
                out.col.get_mut(k),
                out.value.get_mut(k),
                out.id.get_mut(k),
                out.kind.get_mut(k),
                out.source.get_mut(k),
                out.conf.get_mut(k),
                out.conf_ok.get_mut(k),
                out.sup.get_mut(k),
                out.sup_ok.get_mut(k),
                m,
            ) {
                *row = u64::from(h.row);
                *col = c as i32;
                // Longer than 12 bytes: the view names a buffer (bits 64..96).
                *value = if v as u32 > 12 { v + shift } else { v };
                *id = m.id;
                *kind = m.kind;
                *source = m.source;
                *conf = m.confidence.unwrap_or(0);
                *conf_ok = m.confidence.is_some();
                *sup = h.suppressed.map_or(0, i32::from);
                *sup_ok = h.suppressed.is_some();
            }
            k += 1;
        }
    }
}

/// A `Dictionary(Int32, Utf8)` column of `values[keys[i]]`.
fn dict<S: AsRef<str>>(keys: Int32Array, values: &[S]) -> Result<ArrayRef> {
    let values = StringArray::from_iter_values(values.iter().map(AsRef::as_ref));
    Ok(Arc::new(DictionaryArray::<Int32Type>::try_new(
        keys,
        Arc::new(values),
    )?))
}

/// The schema of the match table (see [`Intel::match_batch`]).
pub fn match_schema() -> Arc<Schema> {
    let d = |n: &str, null: bool| {
        Field::new(
            n,
            DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
            null,
        )
    };
    Arc::new(Schema::new(vec![
        Field::new("row", DataType::UInt64, false),
        d("column", false),
        Field::new("value", DataType::Utf8View, true),
        Field::new("indicator_id", DataType::Utf8View, false),
        d("kind", false),
        d("source", false),
        Field::new("confidence", DataType::UInt8, true),
        d("suppressed_by", true),
    ]))
}
