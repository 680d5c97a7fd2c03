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
use super::matching::{ColumnKind, Hit, MatchReport};
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

/// One chunk's share of every output column (`conf*` / `sup*` empty when that column is
/// all null).
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
    /// The match table of `per_column` hits (per column, one chunk of hits per run of rows,
    /// every column cut at the same rows; `chunk_batch` the input batch of each chunk);
    /// `arrays` holds, per column, each batch's first row and its values cast to Utf8View.
    pub(super) fn match_table(
        &self,
        per_column: &[Vec<Vec<Hit>>],
        chunk_batch: &[usize],
        columns: &[(&str, ColumnKind)],
        arrays: &[Vec<(u32, ArrayRef)>],
        report: &MatchReport,
    ) -> Result<RecordBatch> {
        let chunks = chunk_batch.len();
        if per_column.iter().any(|c| c.len() != chunks) {
            return Err(Error::param(
                "columns",
                "matched columns were cut into different row chunks",
            ));
        }
        let sizes: Vec<usize> = (0..chunks)
            .map(|k| {
                per_column
                    .iter()
                    .map(|c| c.get(k).map_or(0, Vec::len))
                    .sum()
            })
            .collect();
        let n: usize = sizes.iter().sum();
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
        for h in per_column.iter().flatten().flatten() {
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
        // Columns with no value at all are built null, never written row by row.
        let any_conf = meta.iter().any(|m| m.confidence.is_some());
        let any_sup = report.columns.iter().any(|c| c.suppressed > 0);
        let (nc, ns) = (if any_conf { n } else { 0 }, if any_sup { n } else { 0 });
        let mut row = vec![0u64; n];
        let mut col = vec![0i32; n];
        let mut value = vec![0u128; n];
        let mut id = vec![0u128; n];
        let mut kind = vec![0i32; n];
        let mut source = vec![0i32; n];
        let mut conf = vec![0u8; n];
        let mut conf_ok = vec![false; nc];
        let mut sup = vec![0i32; n];
        let mut sup_ok = vec![false; ns];
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
                &mut conf[..nc],
                &mut conf_ok[..],
                &mut sup[..ns],
                &mut sup_ok[..],
            );
            let parts: Vec<Part<'_>> = sizes
                .iter()
                .map(|&m| {
                    let (mc, ms) = (if any_conf { m } else { 0 }, if any_sup { m } else { 0 });
                    Part {
                        row: take(&mut r, m),
                        col: take(&mut c, m),
                        value: take(&mut v, m),
                        id: take(&mut i, m),
                        kind: take(&mut k, m),
                        source: take(&mut s, m),
                        conf: take(&mut cf, mc),
                        conf_ok: take(&mut co, mc),
                        sup: take(&mut sp, ms),
                        sup_ok: take(&mut so, ms),
                    }
                })
                .collect();
            parts
                .into_par_iter()
                .zip(chunk_batch.par_iter())
                .enumerate()
                .for_each(|(k, (out, &b))| {
                    let cols: Vec<&[Hit]> = per_column
                        .iter()
                        .map(|c| c.get(k).map_or(&[][..], Vec::as_slice))
                        .collect();
                    let srcs: Vec<(u32, &[u128], u128)> = src
                        .iter()
                        .map(|c| c.get(b).copied().unwrap_or((0, &[][..], 0)))
                        .collect();
                    fill(out, &cols, &srcs, &slot, &meta);
                });
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
        let nulls = |ok: Vec<bool>| {
            if ok.len() < n {
                Some(NullBuffer::new_null(n))
            } else {
                Some(NullBuffer::from(ok)).filter(|b| b.null_count() > 0)
            }
        };
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

/// Merges one chunk's hits of every column (`cols`, each in row order) by row, then column,
/// into `out`; `srcs` has each column's views of the chunk's input batch. Two passes: the
/// merge writes row, column, value and suppression and parks each hit's entry in `kind`;
/// then one tight loop resolves the entries' metadata (independent loads, many in flight).
fn fill(
    out: Part<'_>,
    cols: &[&[Hit]],
    srcs: &[(u32, &[u128], u128)],
    slot: &[u32],
    meta: &[Meta],
) {
    let mut at: Vec<usize> = vec![0; cols.len()];
    let mut w = 0usize;
    loop {
        // The column whose next hit has the lowest row (ties: the first column).
        let mut best: Option<(usize, u32)> = None;
        for (c, hits) in cols.iter().enumerate() {
            if let Some(h) = at.get(c).and_then(|&i| hits.get(i))
                && best.is_none_or(|(_, r)| h.row < r)
            {
                best = Some((c, h.row));
            }
        }
        let (Some((c, r)), Some(hits)) = (best, best.and_then(|b| cols.get(b.0))) else {
            break;
        };
        let (Some(i), Some(&(first, vs, shift))) = (at.get_mut(c), srcs.get(c)) else {
            break;
        };
        while let Some(h) = hits.get(*i).filter(|h| h.row == r) {
            *i += 1;
            let v = vs.get((h.row - first) as usize).copied().unwrap_or(0);
            if let (Some(row), Some(col), Some(value), Some(entry)) = (
                out.row.get_mut(w),
                out.col.get_mut(w),
                out.value.get_mut(w),
                out.kind.get_mut(w),
            ) {
                *row = u64::from(h.row);
                *col = c as i32;
                // Longer than 12 bytes: the view names a buffer (bits 64..96).
                *value = if v as u32 > 12 { v + shift } else { v };
                *entry = h.entry as i32;
            }
            if let (Some(x), Some(ok)) = (out.sup.get_mut(w), out.sup_ok.get_mut(w)) {
                *x = h.suppressed.map_or(0, i32::from);
                *ok = h.suppressed.is_some();
            }
            w += 1;
        }
    }
    let none = Meta {
        id: 0,
        kind: 0,
        source: 0,
        confidence: None,
    };
    for (w, ((kind, id), source)) in out
        .kind
        .iter_mut()
        .zip(out.id.iter_mut())
        .zip(out.source.iter_mut())
        .enumerate()
    {
        let m = slot
            .get(*kind as u32 as usize)
            .and_then(|&s| meta.get(s as usize))
            .unwrap_or(&none);
        *kind = m.kind;
        *id = m.id;
        *source = m.source;
        if let (Some(x), Some(ok)) = (out.conf.get_mut(w), out.conf_ok.get_mut(w)) {
            *x = m.confidence.unwrap_or(0);
            *ok = m.confidence.is_some();
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
