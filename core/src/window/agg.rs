//! The sort-by-key aggregator (see the module documentation of `window` for the design):
//! per chunk, rows are grouped into runs (`group`), reduced into per-group state (`reduce`,
//! `distinct`), and the state becomes one row per (entity, window).

use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, TimestampNanosecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use rayon::prelude::*;

use super::group::{Groups, group};
use super::keys::{KeyTable, ValueTable};
use super::reduce::{Acc, Common};
use super::{Agg, Window, WindowFeature};
use crate::columns::{Times, times};
use crate::engine::{Backend, DEFAULT_CHUNK_BYTES, Engine};
use crate::error::{Error, Result};

/// Per-(entity, window) aggregates over record batches pushed one at a time; windows that
/// span batches are exact. All specs share the entity columns, time column and window.
pub struct Aggregator {
    pub(super) specs: Vec<WindowFeature>,
    window: Window,
    pub(super) engine: Engine,
    keys: KeyTable,
    values: Vec<ValueTable>,
    groups: Groups,
    common: Common,
    accs: Vec<Acc>,
    tz: Option<Arc<str>>,
    batches: usize,
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
            groups: Groups::default(),
            common: Common::default(),
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
        let g = group(
            self.window,
            self.keys.len(),
            &ids,
            &t,
            tnull.as_ref(),
            &mut self.groups,
        )?;
        let total = self.groups.len();
        self.common.add(&g, &t, total);
        for ((spec, acc), table) in self.specs.iter().zip(&mut self.accs).zip(&mut self.values) {
            acc.reduce(spec, table, &self.engine, batch, &g, total)?;
        }
        Ok(g.row_groups())
    }

    /// Value of spec `i` for group `g` as f64 (None = null).
    fn value(&self, i: usize, g: usize) -> Option<f64> {
        self.accs[i].value(self.specs[i].agg, &self.common, g)
    }

    /// One row per (entity, window) in first-seen entity order, then window order: the entity
    /// columns, `window_start` (Timestamp(ns) in the time column's zone; absent for
    /// [`Window::Whole`]) and one column per aggregate named [`WindowFeature::default_name`].
    pub fn finish(self) -> Result<RecordBatch> {
        self.finish_named(None)
    }

    pub(crate) fn finish_named(self, names: Option<&[String]>) -> Result<RecordBatch> {
        let group_key = &self.groups.keys;
        let order = key_order(group_key, self.keys.len());
        let ids: Vec<u32> = order.iter().map(|&g| group_key[g].0).collect();
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
                .map(|&g| group_key[g].1.checked_mul(every))
                .collect();
            fields.push(Field::new("window_start", ts_type.clone(), true));
            columns.push(Arc::new(starts.with_timezone_opt(self.tz.clone())));
        }
        for (i, (spec, acc)) in self.specs.iter().zip(&self.accs).enumerate() {
            let name = names
                .and_then(|n| n.get(i).cloned())
                .unwrap_or_else(|| spec.default_name());
            let array = acc.column(spec.agg, &self.common, &order, self.tz.clone());
            fields.push(Field::new(name, array.data_type().clone(), true));
            columns.push(array);
        }
        Ok(RecordBatch::try_new(
            Arc::new(Schema::new(fields)),
            columns,
        )?)
    }
}

/// Group indices ordered by (entity id, window): a stable counting sort by entity id (ids
/// are dense, `entities` of them), then each entity's groups by window, which is already the
/// case for time-sorted input (first-seen order), so O(n) there.
fn key_order(group_key: &[(u32, i64)], entities: usize) -> Vec<usize> {
    let mut start = vec![0usize; entities + 1];
    for &(e, _) in group_key {
        if let Some(c) = start.get_mut(e as usize + 1) {
            *c += 1;
        }
    }
    for e in 0..entities {
        start[e + 1] += start[e];
    }
    let mut next = start.clone();
    let mut order = vec![0usize; group_key.len()];
    for (g, &(e, _)) in group_key.iter().enumerate() {
        if let Some(p) = next.get_mut(e as usize) {
            order[*p] = g;
            *p += 1;
        }
    }
    let mut segments: Vec<&mut [usize]> = Vec::with_capacity(entities);
    let mut rest = order.as_mut_slice();
    for e in 0..entities {
        let (seg, tail) = rest.split_at_mut(start[e + 1] - start[e]);
        segments.push(seg);
        rest = tail;
    }
    segments.par_iter_mut().with_min_len(64).for_each(|seg| {
        if !seg.is_sorted_by_key(|&g| group_key[g].1) {
            seg.sort_unstable_by_key(|&g| group_key[g].1);
        }
    });
    order
}

/// One row per (entity, window) of `specs` over `batches` (see [`Aggregator::finish`]).
pub fn aggregate(
    batches: &[RecordBatch],
    specs: &[WindowFeature],
    backend: Backend,
) -> Result<RecordBatch> {
    let agg = Aggregator::new(specs, backend)?;
    let names: Vec<String> = specs.iter().map(WindowFeature::default_name).collect();
    if let Some(table) = super::dense::table(specs, &names, batches, &agg.engine)? {
        return Ok(table);
    }
    let mut agg = agg;
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

/// Rows of the Parquet file at `path`, from its metadata.
pub(crate) fn parquet_rows(path: &Path) -> Result<u64> {
    let file = std::fs::File::open(path).map_err(|source| Error::Io {
        path: path.display().to_string(),
        source,
    })?;
    let builder = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)?;
    Ok(u64::try_from(builder.metadata().file_metadata().num_rows()).unwrap_or(0))
}

/// Per-event broadcast of window aggregates of one batch: one column per spec, of type
/// [`event_type`](super::event_type) (Int64 counts and integer sums, minima, maxima;
/// Float64 otherwise), null where the row's time is null or the aggregate is undefined. The
/// specs share one grouping (entity columns, time column, window): the batch is keyed and
/// grouped once.
pub(crate) fn broadcast(
    specs: &[WindowFeature],
    batch: &RecordBatch,
    engine: &Engine,
) -> Result<Vec<ArrayRef>> {
    if let Some(columns) = super::dense::broadcast(specs, std::slice::from_ref(batch), engine)? {
        return Ok(columns);
    }
    let mut agg = Aggregator::with_engine(specs, *engine)?;
    let row_group = agg.push_rows(batch)?;
    let Some(first) = specs.first() else {
        return Ok(Vec::new());
    };
    let t = times(batch, &first.time)?.ns;
    let schema = batch.schema();
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(specs.len());
    for (i, spec) in specs.iter().enumerate() {
        let field_type = spec
            .field
            .as_deref()
            .and_then(|f| schema.field_with_name(f).ok())
            .map(|f| f.data_type());
        let out: ArrayRef = match spec.agg {
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
                        gap[b] = Some(super::seconds(t[a], t[b]));
                    }
                }
                Arc::new(Float64Array::from(gap))
            }
            Agg::FirstSeen => Arc::new(Float64Array::from_iter((0..batch.num_rows()).map(|r| {
                row_group[r].map(|g| super::seconds(agg.common.first[g as usize], t[r]))
            }))),
            Agg::LastSeen => {
                Arc::new(Float64Array::from_iter((0..batch.num_rows()).map(|r| {
                    row_group[r].map(|g| super::seconds(t[r], agg.common.last[g as usize]))
                })))
            }
            _ if super::event_type(spec.agg, field_type) == DataType::Int64 => {
                let per_group: Vec<Option<i64>> = (0..agg.groups.len())
                    .into_par_iter()
                    .with_min_len(1 << 14)
                    .map(|g| agg.accs[i].int_value(spec.agg, &agg.common, g))
                    .collect();
                Arc::new(Int64Array::from(gather(&row_group, &per_group)))
            }
            _ => {
                let per_group: Vec<Option<f64>> = (0..agg.groups.len())
                    .into_par_iter()
                    .with_min_len(1 << 14)
                    .map(|g| agg.value(i, g))
                    .collect();
                Arc::new(Float64Array::from(gather(&row_group, &per_group)))
            }
        };
        columns.push(out);
    }
    Ok(columns)
}

/// Each row's group value (None where the row has no group).
fn gather<T: Copy + Send + Sync>(
    row_group: &[Option<u32>],
    per_group: &[Option<T>],
) -> Vec<Option<T>> {
    row_group
        .par_iter()
        .with_min_len(1 << 14)
        .map(|g| g.and_then(|g| per_group.get(g as usize).copied().flatten()))
        .collect()
}
