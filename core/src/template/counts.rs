//! Event-count vectors: per session (a key such as an HDFS block id) or per time window,
//! how many messages of each template it has, as input to the detectors.
//!
//! The host maps every (session, template) pair to a cell of a dense sessions x templates
//! matrix; the counting itself is a scatter-add, `shaders/aggregate/count_vectors.wgsl` on
//! the GPU (one invocation per pair, `atomicAdd`, so no per-thread loop) or its CPU twin
//! `core/src/cpu/count_vectors.rs`. Large matrices are built in blocks of sessions that fit
//! the adapter's storage-binding limit and the chunk budget.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray, UInt32Array};
use arrow::datatypes::{DataType, Field, Schema, UInt64Type};

use super::FnvMap;
use crate::Backend;
use crate::engine::Engine;
use crate::error::{Error, Result};

/// Output column holding the session key or window start.
pub const KEY: &str = "key";

/// A dense count matrix: `counts[s * templates.len() + t]` messages of template `t` in
/// session `s`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CountVectors {
    /// Session keys in order of first appearance.
    pub keys: Vec<String>,
    /// Template ids, ascending (so shards agree on the column order).
    pub templates: Vec<u64>,
    /// Row-major counts.
    pub counts: Vec<u32>,
}

impl CountVectors {
    /// Column name of template `id`: `t_` and 16 hex digits.
    pub fn column_name(id: u64) -> String {
        format!("t_{id:016x}")
    }

    /// As a record batch: [`KEY`] (Utf8) and one UInt32 column per template.
    pub fn to_batch(&self) -> Result<RecordBatch> {
        let t = self.templates.len();
        let mut fields = vec![Field::new(KEY, DataType::Utf8, false)];
        let mut cols: Vec<ArrayRef> = vec![Arc::new(StringArray::from_iter_values(&self.keys))];
        for (j, id) in self.templates.iter().enumerate() {
            fields.push(Field::new(Self::column_name(*id), DataType::UInt32, false));
            let col: UInt32Array = (0..self.keys.len())
                .map(|s| self.counts[s * t + j])
                .collect();
            cols.push(Arc::new(col));
        }
        let opts = arrow::array::RecordBatchOptions::new().with_row_count(Some(self.keys.len()));
        Ok(RecordBatch::try_new_with_options(
            Arc::new(Schema::new(fields)),
            cols,
            &opts,
        )?)
    }

    /// Counts as f32, row-major, for the detectors.
    pub fn as_f32(&self) -> Vec<f32> {
        self.counts.iter().map(|&c| c as f32).collect()
    }
}

fn ids(template_ids: &dyn Array) -> Result<&arrow::array::UInt64Array> {
    template_ids
        .as_primitive_opt::<UInt64Type>()
        .ok_or_else(|| Error::WrongType {
            column: super::TEMPLATE_ID.into(),
            expected: "UInt64 template ids".into(),
            found: template_ids.data_type().clone(),
        })
}

/// Builds count vectors from (session key, template id) pairs.
fn build(pairs: &[(u32, u64)], keys: Vec<String>, backend: Backend) -> Result<CountVectors> {
    let mut templates: Vec<u64> = pairs.iter().map(|p| p.1).collect();
    templates.sort_unstable();
    templates.dedup();
    let tindex: FnvMap<u64, u32> = templates
        .iter()
        .enumerate()
        .map(|(i, &t)| (t, i as u32))
        .collect();
    let t = templates.len();
    let cells: Vec<u64> = pairs
        .iter()
        .map(|&(s, id)| s as u64 * t as u64 + tindex.get(&id).copied().unwrap_or(0) as u64)
        .collect();
    let total = keys
        .len()
        .checked_mul(t)
        .filter(|&n| n <= u32::MAX as usize)
        .ok_or_else(|| {
            Error::InvalidInput(format!(
                "{} sessions x {t} templates is too large a count matrix",
                keys.len()
            ))
        })?;
    let engine = Engine {
        backend,
        chunk_bytes: crate::DEFAULT_CHUNK_BYTES,
        strict: false,
    };
    let counts = engine.count_cells(&cells, total)?;
    Ok(CountVectors {
        keys,
        templates,
        counts,
    })
}

/// Count vectors per session: a message belongs to every session whose key appears in it as
/// a token starting with `prefix` (e.g. `blk_` for HDFS block ids; the key runs over
/// letters, digits, `_` and `-`). Messages without a key are not counted.
pub fn count_by_session(
    template_ids: &dyn Array,
    messages: &dyn Array,
    prefix: &str,
    backend: Backend,
) -> Result<CountVectors> {
    if prefix.is_empty() {
        return Err(Error::param("prefix", "must not be empty"));
    }
    let ids = ids(template_ids)?;
    let msgs = crate::columns::utf8(messages, "message")?;
    if msgs.len() != ids.len() {
        return Err(Error::InvalidInput(format!(
            "{} template ids but {} messages",
            ids.len(),
            msgs.len()
        )));
    }
    let mut index: super::RandMap<String, u32> = super::RandMap::default();
    let mut keys = Vec::new();
    let mut pairs = Vec::new();
    let mut seen: Vec<u32> = Vec::new();
    for i in 0..ids.len() {
        if ids.is_null(i) || msgs.is_null(i) {
            continue;
        }
        let m = msgs.value(i);
        seen.clear();
        let mut from = 0;
        while let Some(at) = m[from..].find(prefix).map(|a| a + from) {
            let boundary = at == 0
                || !m.as_bytes()[at - 1].is_ascii_alphanumeric() && m.as_bytes()[at - 1] != b'_';
            let end = m[at + prefix.len()..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
                .map_or(m.len(), |e| e + at + prefix.len());
            from = end.max(at + prefix.len());
            if !boundary || end == at + prefix.len() {
                continue;
            }
            let key = &m[at..end];
            let s = match index.get(key) {
                Some(&s) => s,
                None => {
                    let s = keys.len() as u32;
                    index.insert(key.to_string(), s);
                    keys.push(key.to_string());
                    s
                }
            };
            if !seen.contains(&s) {
                seen.push(s);
                pairs.push((s, ids.value(i)));
            }
        }
    }
    build(&pairs, keys, backend)
}

/// Count vectors per time window: `times` (a Timestamp of any unit and zone, or Int64 /
/// Float64 epoch seconds; see [`crate::columns::array_times`]) cut into windows of
/// `window_ns` nanoseconds (from [`crate::columns::parse_duration`] or
/// [`crate::columns::parse_seconds`]) aligned to the Unix epoch; keys are the window starts
/// in epoch seconds. Rows with a null time or template id are not counted.
pub fn count_by_window(
    template_ids: &dyn Array,
    times: &dyn Array,
    window_ns: i64,
    backend: Backend,
) -> Result<CountVectors> {
    if window_ns <= 0 {
        return Err(Error::param("window", "must be a positive duration"));
    }
    let ids = ids(template_ids)?;
    if times.len() != ids.len() {
        return Err(Error::InvalidInput(format!(
            "{} template ids but {} times",
            ids.len(),
            times.len()
        )));
    }
    let t = crate::columns::array_times(times, "time")?;
    let mut index: FnvMap<i64, u32> = FnvMap::default();
    let mut starts: Vec<i64> = Vec::new();
    let mut pairs = Vec::new();
    for i in 0..ids.len() {
        let Some(ns) = t.get(i).filter(|_| !ids.is_null(i)) else {
            continue;
        };
        let w = ns.div_euclid(window_ns);
        let s = *index.entry(w).or_insert_with(|| {
            starts.push(w);
            (starts.len() - 1) as u32
        });
        pairs.push((s, ids.value(i)));
    }
    // Windows in time order.
    let mut order: Vec<u32> = (0..starts.len() as u32).collect();
    order.sort_by_key(|&s| starts[s as usize]);
    let mut rank = vec![0u32; starts.len()];
    for (r, &s) in order.iter().enumerate() {
        rank[s as usize] = r as u32;
    }
    for p in &mut pairs {
        p.0 = rank[p.0 as usize];
    }
    let keys = order
        .iter()
        .map(|&s| window_start_seconds(starts[s as usize], window_ns))
        .collect();
    build(&pairs, keys, backend)
}

/// Start of window `w` (of `window_ns` nanoseconds) in epoch seconds: an integer when the
/// window is whole seconds, else a decimal.
fn window_start_seconds(w: i64, window_ns: i64) -> String {
    if window_ns % 1_000_000_000 == 0 {
        (i128::from(w) * i128::from(window_ns / 1_000_000_000)).to_string()
    } else {
        format!("{}", w as f64 * (window_ns as f64 / 1e9))
    }
}

/// Count vectors of explicit (session index, template id) pairs with `sessions` sessions;
/// exposed for parity tests of the GPU kernel.
#[doc(hidden)]
pub fn count_cells(
    cells: &[u64],
    total: usize,
    backend: Backend,
    chunk_bytes: usize,
) -> Result<Vec<u32>> {
    Engine {
        backend,
        chunk_bytes,
        strict: true,
    }
    .count_cells(cells, total)
}
