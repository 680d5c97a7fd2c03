//! Per-entity windowed aggregates, time features and beaconing.
//!
//! # What is computed
//!
//! An aggregate is `agg(field)` per **entity** (one or more `by` columns) per **window** of
//! the time column: tumbling (`every`), hopping (`every` + `period`, windows start at
//! multiples of `every` and last `period`; an event belongs to every window that contains it)
//! or the whole input ([`Window::Whole`], e.g. for "since this entity's previous event").
//! Windows are aligned to the Unix epoch and closed on the left (`[start, start + every)`),
//! like polars' `group_by_dynamic` defaults; only windows holding events are emitted.
//! Two output shapes: one row per (entity, window) ([`aggregate`], [`Aggregator`]), or each
//! event with the aggregates of its entity's window broadcast back (the pipeline feature
//! path; for hopping windows, the earliest-starting window that holds the event, i.e. the
//! one holding the most of its past).
//!
//! # Design: group ids by table lookup, runs by counting sort
//!
//! Each chunk of rows is (1) mapped to dense entity ids by a hash table whose keys are the
//! entity's full bytes, compared byte for byte on every hit: two entities never merge,
//! whatever their hashes (one string column: the raw string; a dictionary of strings, e.g.
//! polars' Categorical: each dictionary value once per chunk; one integer column: its 8
//! bytes; several columns: arrow's `RowConverter` encoding); (2) given a window index per
//! row (several for hopping windows); (3) grouped into runs, one per (entity, window): for
//! tumbling windows and the whole input, a direct-address table over (window, entity) (a
//! hash table when that space is large) gives each row a chunk-local group number, and a
//! stable counting sort on that number lays the rows out in runs, O(n) with no comparison
//! sort; hopping windows (one entry per window holding the row) are sorted by (entity,
//! window); (4) reduced run by run by segmented reductions
//! (`shaders/aggregate/segment_reduce.wgsl` on the GPU, its twin `cpu::segment_reduce` on
//! the CPU). Exact distinct counts sort the values within each run (runs are short) and
//! count the changes; runs give first/last seen and inter-arrival times for free, keep GPU
//! work free of atomics and hash-table probing (which perform poorly and
//! non-deterministically on lavapipe and under contention), and make per-group state
//! mergeable across chunks. Per event ([`crate::extract`], pipelines), aggregates sharing
//! entity columns, time column and window are computed from one grouping of the batch.
//!
//! On the CPU, tumbling and whole-input windows whose aggregates are counts, or exact
//! distinct counts, sums, minima, maxima or means of integer fields, skip the runs (module
//! `dense`): each row's (window, entity) addresses a slot of a table over the batch's window
//! span, each aggregate is one pass updating slot state (the slot range cut into one part per
//! thread: per-thread partial states, no atomics, no merge), and each event reads its slot
//! back (the per-window table lists the occupied slots entity by entity). Entity strings of a
//! Utf8View column (what polars hands over) of at most 12 bytes are keyed by their 16-byte
//! view, without reading or copying the bytes. The run-based path gives the same values and
//! is the one the GPU kernels serve.
//! Exact distinct counts there need no hash set: groups of 3+ rows have their values
//! scattered into one region each (a counting sort) and sorted.
//!
//! # Streaming
//!
//! [`Aggregator`] keeps per-group partial state across chunks: count, integer sum / min /
//! max (exact, i64), f64 sum / min / max, Welford mean and M2 (merged with Chan's formula),
//! predicate hits, first / last time, a sorted de-duplicated value list per group for exact
//! distinct counts, and a HyperLogLog sketch for approximate ones. Windows whose events span
//! two chunks are therefore exact. State lives until [`Aggregator::finish`]: memory grows with
//! groups and distinct (group, value) pairs, not with rows.
//!
//! # Nulls, unsorted time
//!
//! A null entity key is its own group (as in polars' `group_by`): its rows are aggregated
//! together and its key columns come out null. A row with a null time belongs to no window
//! and its broadcast aggregates are null (rows in = rows out). Null field values are left out
//! of sum / mean / min / max / std / distinct counts (count counts rows). Unsorted time is
//! accepted at no extra cost for windowed aggregates (rows are placed by group anyway);
//! `since_previous` and beaconing sort each entity's events by time, O(n log n).
//!
//! # GPU and CPU
//!
//! The segmented reduction of integer fields (count, distinct, sum, min, max), the
//! HyperLogLog hashes and register updates (`aggregate/hll_hash`) and the time features run
//! on the GPU when the engine picks it; keying, sorting, float fields, std, merging HLL
//! registers, predicates and beaconing run on the CPU on both backends.

mod agg;
mod beacon;
mod carry;
mod chunks;
mod dense;
mod distinct;
mod group;
mod keys;
mod reduce;
mod slot_state;
mod table;
mod timefeat;

use arrow::array::{ArrayRef, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use serde::{Deserialize, Serialize};

use crate::engine::Engine;
use crate::error::{Error, Result};

pub use crate::columns::parse_duration;
use crate::columns::parse_duration_param;
pub use agg::{Aggregator, aggregate, aggregate_parquet};
pub use beacon::{BEACON_COLUMNS, beaconing};
pub(crate) use carry::{EventTimeState, Horizon, broadcast_window_end, last_window_end};
pub(crate) use table::read_columns_joined;
pub use table::{
    aggregate_features, aggregate_features_parquet, aggregate_features_parquet_with_progress,
};

/// Relative standard error of the HyperLogLog estimate (2^12 registers: 1.04 / 64). Values
/// are hashed to 32 bits, so estimates hold up to ~10^8 distinct values per group (no
/// large-range correction).
pub const HLL_RELATIVE_ERROR: f64 = 0.01625;
/// HyperLogLog precision (registers = 2^HLL_P). Groups with at most 64 distinct values
/// are counted exactly.
pub const HLL_P: u32 = 12;

/// An aggregate function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Agg {
    /// Rows in the group.
    Count,
    /// Exact number of distinct non-null values of the field.
    DistinctCount,
    /// HyperLogLog estimate of the distinct non-null values (see [`HLL_RELATIVE_ERROR`]).
    ApproxDistinct,
    /// Sum of the field (Int64 for integer fields, exact; Float64 for floats).
    Sum,
    /// Mean of the field.
    Mean,
    /// Minimum of the field.
    Min,
    /// Maximum of the field.
    Max,
    /// Sample standard deviation (ddof = 1) of the field; null below 2 values.
    Std,
    /// Fraction of the group's rows whose field matches the predicate (null fields do not).
    Ratio,
    /// Time of the group's first event. Broadcast per event: seconds since it.
    FirstSeen,
    /// Time of the group's last event. Broadcast per event: seconds until it.
    LastSeen,
    /// "Since this entity's previous event": per (entity, window) the mean inter-arrival
    /// time in seconds; broadcast per event, the seconds since the same entity's previous
    /// event (null for its first).
    SincePrevious,
}

impl Agg {
    /// Snake-case name, used in output column names.
    pub fn name(self) -> &'static str {
        match self {
            Agg::Count => "count",
            Agg::DistinctCount => "distinct_count",
            Agg::ApproxDistinct => "approx_distinct",
            Agg::Sum => "sum",
            Agg::Mean => "mean",
            Agg::Min => "min",
            Agg::Max => "max",
            Agg::Std => "std",
            Agg::Ratio => "ratio",
            Agg::FirstSeen => "first_seen",
            Agg::LastSeen => "last_seen",
            Agg::SincePrevious => "since_previous",
        }
    }

    /// Whether the aggregate reads a field.
    pub fn needs_field(self) -> bool {
        !matches!(
            self,
            Agg::Count | Agg::FirstSeen | Agg::LastSeen | Agg::SincePrevious
        )
    }
}

/// Comparison of a predicate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CmpOp {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

/// `field <op> value`, e.g. `status == "failure"` or `status >= 400`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Predicate {
    /// The comparison.
    pub op: CmpOp,
    /// A string (compared with string fields) or a number (with numeric fields).
    pub value: serde_json::Value,
}

/// Window of an aggregate, durations in nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Window {
    /// `[k * every, (k + 1) * every)`.
    Tumbling {
        /// Window length and step.
        every: i64,
    },
    /// `[k * every, k * every + period)`.
    Hopping {
        /// Step between window starts.
        every: i64,
        /// Window length.
        period: i64,
    },
    /// One window per entity over the whole input (its start is the Unix epoch).
    Whole,
}

/// One windowed aggregate as the pipeline and the Python API describe it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WindowFeature {
    /// What to compute.
    pub agg: Agg,
    /// The field aggregated (for aggregates that read one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Entity columns (at least one).
    pub by: Vec<String>,
    /// Time column: Timestamp (any unit, any zone), Int64 epoch seconds or Float64 epoch seconds.
    #[serde(default = "default_time")]
    pub time: String,
    /// Window step, e.g. `"5m"`; `None` = the whole input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<String>,
    /// Window length for hopping windows, e.g. `"1h"`; `None` = `every` (tumbling).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<String>,
    /// Predicate of [`Agg::Ratio`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predicate: Option<Predicate>,
}

fn default_time() -> String {
    "ts".to_string()
}

impl WindowFeature {
    /// A new aggregate over tumbling windows of `every` (or the whole input when `None`).
    pub fn new(agg: Agg, field: Option<&str>, by: &[&str], every: Option<&str>) -> Self {
        WindowFeature {
            agg,
            field: field.map(str::to_string),
            by: by.iter().map(|s| s.to_string()).collect(),
            time: default_time(),
            every: every.map(str::to_string),
            period: None,
            predicate: None,
        }
    }

    /// Uses `time` as the time column (default `ts`).
    pub fn time(mut self, time: &str) -> Self {
        self.time = time.to_string();
        self
    }

    /// Hopping windows of length `period` (every `every`).
    pub fn period(mut self, period: &str) -> Self {
        self.period = Some(period.to_string());
        self
    }

    /// The predicate of a ratio.
    pub fn predicate(mut self, op: CmpOp, value: serde_json::Value) -> Self {
        self.predicate = Some(Predicate { op, value });
        self
    }

    /// The window, durations parsed.
    pub fn window(&self) -> Result<Window> {
        match (&self.every, &self.period) {
            (None, None) => Ok(Window::Whole),
            (None, Some(_)) => Err(Error::param("period", "a period needs `every` as well")),
            (Some(e), None) => Ok(Window::Tumbling {
                every: parse_duration_param(e, "every")?,
            }),
            (Some(e), Some(p)) => {
                let (every, period) = (
                    parse_duration_param(e, "every")?,
                    parse_duration_param(p, "period")?,
                );
                if period == every {
                    Ok(Window::Tumbling { every })
                } else if period / every > 1024 {
                    Err(Error::param(
                        "period",
                        format!("`{p}` spans more than 1,024 steps of `{e}`; use a longer step"),
                    ))
                } else {
                    Ok(Window::Hopping { every, period })
                }
            }
        }
    }

    /// Checks the spec.
    pub fn validate(&self) -> Result<()> {
        if self.by.is_empty() {
            return Err(Error::param("by", "give at least one entity column"));
        }
        if self.agg.needs_field() && self.field.is_none() {
            return Err(Error::param(
                "field",
                format!("{} needs a field to aggregate", self.agg.name()),
            ));
        }
        if self.agg == Agg::Ratio && self.predicate.is_none() {
            return Err(Error::param("predicate", "ratio needs a predicate"));
        }
        if let Some(p) = &self.predicate
            && !(p.value.is_string() || p.value.is_number() || p.value.is_boolean())
        {
            return Err(Error::param(
                "predicate",
                "the value must be a string, a number or a boolean",
            ));
        }
        self.window().map(|_| ())
    }

    /// Default output column name: `<by>_<agg>[_<field>][_<every>[_<period>]]`, e.g.
    /// `src_ip_distinct_count_dst_port_1m`.
    pub fn default_name(&self) -> String {
        let mut s = format!("{}_{}", self.by.join("_"), self.agg.name());
        if let Some(f) = &self.field {
            s.push('_');
            s.push_str(f);
        }
        if let Some(e) = &self.every {
            s.push('_');
            s.push_str(e);
        }
        if let Some(p) = &self.period {
            s.push('_');
            s.push_str(p);
        }
        s
    }

    /// Same entity, time column and window (so they can share one pass).
    pub(crate) fn same_grouping(&self, other: &WindowFeature) -> bool {
        self.by == other.by && self.time == other.time && self.window().ok() == other.window().ok()
    }
}

/// Type of a windowed aggregate broadcast to each event (the pipeline feature path), chosen
/// so that no value is rounded: Int64 for `count`, `distinct_count` and `approx_distinct`
/// (rounded estimate), and for `sum`, `min` and `max` of an integer field (exact, as the
/// per-window table); Float64 for those of a floating-point field (`field`'s type) and for
/// `mean`, `std`, `ratio` and the times in seconds (`first_seen`, `last_seen`,
/// `since_previous`). Model files hold no output types, so models saved when these columns
/// were Float32 load unchanged and give the exact values.
pub fn event_type(agg: Agg, field: Option<&DataType>) -> DataType {
    match agg {
        Agg::Count | Agg::DistinctCount | Agg::ApproxDistinct => DataType::Int64,
        Agg::Sum | Agg::Min | Agg::Max if field.is_some_and(DataType::is_floating) => {
            DataType::Float64
        }
        Agg::Sum | Agg::Min | Agg::Max => DataType::Int64,
        _ => DataType::Float64,
    }
}

/// Seconds from `a` to `b` (nanoseconds), without overflow.
pub(crate) fn seconds(a: i64, b: i64) -> f64 {
    (i128::from(b) - i128::from(a)) as f64 / 1e9
}

/// What a window-family stage computes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum WindowKind {
    /// A per-entity windowed aggregate broadcast to each event (Int64 or Float64, see
    /// [`event_type`]).
    Window(WindowFeature),
    /// Hour-of-day and day-of-week sin/cos of a time column in an IANA zone, Float32.
    TimeFeatures {
        /// IANA zone name, e.g. `UTC` or `Europe/Paris`.
        tz: String,
    },
    /// The beacon score of the event's (column, `dst`) pair, Float32; see [`beaconing`].
    Beaconing {
        /// Destination column.
        dst: String,
        /// Time column.
        time: String,
    },
}

/// A pipeline stage that reads an event's neighbours in time or in its entity: a windowed
/// aggregate (Int64 or Float64 columns, see [`event_type`]), time features, or a beacon score
/// (Float32 columns). Rows in = rows out.
/// Saved in the same shape as a row feature (`column`, `kind`, its parameters, `prefix`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WindowStage {
    /// Input column (the aggregated field or first entity column; the time column of time
    /// features; the source column of a beacon score).
    pub column: String,
    /// What to compute.
    #[serde(flatten)]
    pub kind: WindowKind,
    /// Prefix (aggregates: the whole name) of the output columns; a default when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
}

/// A windowed aggregate as a pipeline stage: each event gets its entity's window value (of
/// type [`event_type`], exact) in the column `<default_name>` (or the stage's prefix).
pub fn feature(spec: WindowFeature) -> WindowStage {
    WindowStage {
        column: spec
            .field
            .clone()
            .or_else(|| spec.by.first().cloned())
            .unwrap_or_default(),
        kind: WindowKind::Window(spec),
        prefix: None,
    }
}

/// Hour-of-day and day-of-week as sin/cos pairs of the time column `column` in the IANA zone
/// `tz` (`<column>_hour_sin`, `_hour_cos`, `_dow_sin`, `_dow_cos`, Float32; Monday = day 0).
pub fn time_features(column: &str, tz: &str) -> WindowStage {
    WindowStage {
        column: column.to_string(),
        kind: WindowKind::TimeFeatures { tz: tz.to_string() },
        prefix: None,
    }
}

/// Per event, the `beacon_score` of its (src, dst) pair within the batch
/// (`<src>_<dst>_beacon_score`, Float32); see [`beaconing`].
pub fn beacon_score(src: &str, dst: &str, time: &str) -> WindowStage {
    WindowStage {
        column: src.to_string(),
        kind: WindowKind::Beaconing {
            dst: dst.to_string(),
            time: time.to_string(),
        },
        prefix: None,
    }
}

impl WindowStage {
    /// Uses `prefix` for the output column names (for an aggregate: the whole name).
    pub fn named(mut self, prefix: &str) -> Self {
        self.prefix = Some(prefix.to_string());
        self
    }

    /// Output columns, in order: time features and beacon scores are Float32; a windowed
    /// aggregate has the type of [`event_type`] for a field of unknown type (sums, minima
    /// and maxima: Int64; see [`output_fields_for`](Self::output_fields_for) for the type a
    /// given input gives).
    pub fn output_fields(&self) -> Vec<Field> {
        self.fields(None)
    }

    /// Output columns, in order, for an input of schema `input` (a windowed aggregate's sum,
    /// minimum or maximum of a floating-point field is Float64).
    pub fn output_fields_for(&self, input: &Schema) -> Vec<Field> {
        self.fields(Some(input))
    }

    fn fields(&self, input: Option<&Schema>) -> Vec<Field> {
        let f32f = |name: String| Field::new(name, DataType::Float32, true);
        match &self.kind {
            WindowKind::Window(spec) => {
                let field_type = spec
                    .field
                    .as_deref()
                    .and_then(|f| input?.field_with_name(f).ok())
                    .map(|f| f.data_type());
                vec![Field::new(
                    self.prefix.clone().unwrap_or_else(|| spec.default_name()),
                    event_type(spec.agg, field_type),
                    true,
                )]
            }
            WindowKind::TimeFeatures { .. } => {
                let p = self.prefix.as_deref().unwrap_or(&self.column);
                timefeat::TIME_COLUMNS
                    .iter()
                    .map(|s| f32f(format!("{p}_{s}")))
                    .collect()
            }
            WindowKind::Beaconing { dst, .. } => {
                let p = self
                    .prefix
                    .clone()
                    .unwrap_or_else(|| format!("{}_{dst}", self.column));
                vec![f32f(format!("{p}_beacon_score"))]
            }
        }
    }

    /// Checks parameters; called by the pipeline builder and when loading a model.
    pub fn validate(&self) -> Result<()> {
        match &self.kind {
            WindowKind::Window(spec) => spec.validate(),
            WindowKind::TimeFeatures { tz } => timefeat::parse_tz(tz).map(|_| ()),
            WindowKind::Beaconing { .. } => Ok(()),
        }
    }

    /// Computes the output columns for `batch`.
    pub(crate) fn compute(&self, batch: &RecordBatch, engine: &Engine) -> Result<Vec<ArrayRef>> {
        Ok(match &self.kind {
            WindowKind::Window(spec) => agg::broadcast(std::slice::from_ref(spec), batch, engine)?,
            WindowKind::TimeFeatures { tz } => {
                timefeat::time_features(batch, &self.column, tz, engine)?
            }
            WindowKind::Beaconing { dst, time } => {
                vec![beacon::broadcast(batch, &self.column, dst, time)?]
            }
        })
    }
}

/// The columns of every windowed-aggregate stage among `stages` (None for other stages):
/// aggregates sharing entity columns, time column and window are computed together, so
/// `batch` is keyed and grouped once per grouping rather than once per aggregate.
pub(crate) fn compute_aggregates(
    stages: &[Option<&WindowStage>],
    batch: &RecordBatch,
    engine: &Engine,
) -> Result<Vec<Option<Vec<ArrayRef>>>> {
    let spec_of = |s: Option<&WindowStage>| match s {
        Some(WindowStage {
            kind: WindowKind::Window(spec),
            ..
        }) => Some(spec.clone()),
        _ => None,
    };
    let specs: Vec<Option<WindowFeature>> = stages.iter().map(|s| spec_of(*s)).collect();
    let mut out: Vec<Option<Vec<ArrayRef>>> = vec![None; stages.len()];
    let mut done = vec![false; stages.len()];
    for (i, lead) in specs.iter().enumerate() {
        let Some(lead) = lead else { continue };
        if done[i] {
            continue;
        }
        let members: Vec<usize> = (i..specs.len())
            .filter(|&j| !done[j] && specs[j].as_ref().is_some_and(|s| s.same_grouping(lead)))
            .collect();
        let shared: Vec<WindowFeature> = members.iter().filter_map(|&j| specs[j].clone()).collect();
        let columns = agg::broadcast(&shared, batch, engine)?;
        for (&j, c) in members.iter().zip(columns) {
            out[j] = Some(vec![c]);
            done[j] = true;
        }
    }
    Ok(out)
}

/// The broadcast columns of windowed aggregates `specs` over the rows of `batches` (one
/// table's batches, in order), in the order of `specs`, when the CPU direct-address path
/// serves every grouping among them (`None` otherwise): aggregates sharing a grouping are
/// computed together, batches keyed one by one without joining them.
pub(crate) fn broadcast_batches(
    specs: &[&WindowFeature],
    batches: &[RecordBatch],
    engine: &Engine,
) -> Result<Option<Vec<ArrayRef>>> {
    let mut out: Vec<Option<ArrayRef>> = vec![None; specs.len()];
    for (i, lead) in specs.iter().enumerate() {
        if out[i].is_some() {
            continue;
        }
        let members: Vec<usize> = (i..specs.len())
            .filter(|&j| out[j].is_none() && specs[j].same_grouping(lead))
            .collect();
        let shared: Vec<WindowFeature> = members.iter().map(|&j| specs[j].clone()).collect();
        let Some(columns) = dense::broadcast(&shared, batches, engine)? else {
            return Ok(None);
        };
        for (&j, c) in members.iter().zip(columns) {
            out[j] = Some(c);
        }
    }
    Ok(out.into_iter().collect())
}

/// One row per (entity, window) on `backend` with GPU chunks of `chunk_bytes`, GPU failures
/// being errors (for parity tests).
#[doc(hidden)]
pub fn aggregate_strict(
    batches: &[RecordBatch],
    specs: &[WindowFeature],
    backend: crate::Backend,
    chunk_bytes: usize,
) -> Result<RecordBatch> {
    agg::aggregate_with(
        batches,
        specs,
        Engine {
            backend,
            chunk_bytes,
            strict: true,
        },
    )
}

/// Time features computed on `backend`, GPU failures being errors (for parity tests).
#[doc(hidden)]
pub fn time_features_strict(
    batch: &RecordBatch,
    column: &str,
    tz: &str,
    backend: crate::Backend,
) -> Result<Vec<ArrayRef>> {
    let engine = Engine {
        backend,
        chunk_bytes: crate::DEFAULT_CHUNK_BYTES,
        strict: true,
    };
    timefeat::time_features(batch, column, tz, &engine)
}
