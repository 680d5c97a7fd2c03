//! Streaming: a fitted pipeline scoring batches as they arrive, with window state carried
//! across batches, so that a stream's output equals whole-table scoring exactly.
//!
//! # How
//!
//! Event time is the time column of the model's window stages (they must share one). The
//! **watermark** is the largest event time seen; an event earlier than `watermark - lateness`
//! is **late**. A row's value for a stage is final when no event still to come can change it:
//!
//! | stage | final when `watermark - lateness` reaches |
//! |---|---|
//! | row features, time features | at once |
//! | windowed aggregates (tumbling, hopping; counts, distinct, sums, first/last seen, ...) | the end of the event's window |
//! | `since_previous`, whole-input `first_seen` | the event's own time |
//! | beacon scores, whole-input aggregates (`every=None`) | never before the input ends |
//!
//! Rows wait in the scorer until every stage's value is final, then leave **in input order**
//! (rows in = rows out, same order). A windowed aggregate is computed once per window, when
//! it closes, by the same code as whole-table scoring over exactly the window's rows (they
//! are all still waiting then), so values are equal bit for bit. `since_previous` and
//! `first_seen` carry per-entity state ([`crate::window`]'s carry: the last event before the
//! cut-off and the events after it; the first time).
//!
//! # Costs
//!
//! Latency: a row leaves once an event at or past its window's end (plus the lateness) has
//! arrived: up to one window length (`period`) plus the lateness of event time, and with a
//! sparse feed the wait for the next event. Memory: the waiting rows (about one window of
//! events plus the lateness; closed windows are dropped) and, for `since_previous` /
//! `first_seen`, a few times per entity. Beacon scores and whole-input aggregates hold every
//! row until [`Scorer::finish`] (they are whole-input statistics): [`Scorer::bounded`] refuses
//! them with [`Error::Unstreamable`].
//!
//! Late events (beyond the lateness) still come out, in order, with null window features,
//! and are counted in [`StreamStats::late_rows`] and logged: never silently dropped.

mod held;
mod tail;

use std::collections::VecDeque;

use arrow::array::{ArrayRef, BooleanArray, RecordBatch};
use arrow::compute::{concat_batches, interleave_record_batch};
use arrow::datatypes::{DataType, SchemaRef};

use crate::columns::times;
use crate::error::{Error, Result};
use crate::pipeline::FittedPipeline;
use crate::stage::Stage;
pub use tail::LogTail;

use crate::window::{
    EventTimeState, Horizon, Window, WindowKind, broadcast_window_end, last_window_end,
};

/// Counters of a [`Scorer`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StreamStats {
    /// Rows pushed.
    pub rows_in: u64,
    /// Rows scored and returned.
    pub rows_out: u64,
    /// Rows that arrived later than the allowed lateness (returned with null window features).
    pub late_rows: u64,
    /// Rows waiting for their windows to close.
    pub pending_rows: u64,
    /// Entries of carried per-entity state (`since_previous`, `first_seen`).
    pub carried_entries: u64,
    /// The watermark: the largest event time seen (ns since the epoch).
    pub watermark: Option<i64>,
}

/// Per stage: when its values are final, its carried state, and per waiting row its value.
struct Plan {
    horizon: Horizon,
    carry: Option<EventTimeState>,
    /// Hopping windows: rows already computed that still count in an open window.
    context: Context,
    entity: VecDeque<u32>,
    value: VecDeque<Option<held::Held>>,
    done: VecDeque<bool>,
}

/// Scores batches one at a time, carrying window state (see the module documentation).
pub struct Scorer {
    model: FittedPipeline,
    lateness: i64,
    time: Option<String>,
    plans: Vec<Plan>,
    schema: Option<SchemaRef>,
    batches: VecDeque<RecordBatch>,
    t: VecDeque<Option<i64>>,
    /// Stream row number of the first waiting row.
    base: u64,
    stats: StreamStats,
}

impl Scorer {
    /// A scorer of `model` accepting events up to `lateness_ns` nanoseconds behind the
    /// watermark (0: time-ordered input). Refuses per-batch thresholds (top N / fraction /
    /// per window: [`Error::InvalidParameter`]) and window stages over different time
    /// columns ([`Error::Unstreamable`]).
    pub fn new(model: &FittedPipeline, lateness_ns: i64) -> Result<Self> {
        if model.threshold().is_per_batch() {
            return Err(Error::param(
                "threshold",
                "top-N, top-fraction and per-window alert budgets rank the whole table; a stream (or score_parquet) scores batch by batch, so use a baseline quantile or a fixed score",
            ));
        }
        if lateness_ns < 0 {
            return Err(Error::param("lateness", "must be >= 0"));
        }
        let mut time: Option<String> = None;
        let mut plans = Vec::new();
        for stage in model.stages() {
            let (horizon, col, carry) = match stage {
                Stage::Window(w) => {
                    let (h, col) = w.horizon()?;
                    let carry = match h {
                        Horizon::EventTime => EventTimeState::new(w),
                        _ => None,
                    };
                    (h, col.map(str::to_string), carry)
                }
                _ => (Horizon::Row, None, None),
            };
            if let Some(col) = col {
                match &time {
                    Some(t) if *t != col => {
                        return Err(Error::Unstreamable {
                            stage: stage
                                .output_fields()
                                .first()
                                .map(|f| f.name().clone())
                                .unwrap_or_default(),
                            reason: format!(
                                "its time column `{col}` differs from `{t}`, another window stage's; a stream has one event time"
                            ),
                        });
                    }
                    _ => time = Some(col),
                }
            }
            plans.push(Plan {
                horizon,
                carry,
                context: Context::default(),
                entity: VecDeque::new(),
                value: VecDeque::new(),
                done: VecDeque::new(),
            });
        }
        Ok(Scorer {
            model: model.clone(),
            lateness: lateness_ns,
            time,
            plans,
            schema: None,
            batches: VecDeque::new(),
            t: VecDeque::new(),
            base: 0,
            stats: StreamStats::default(),
        })
    }

    /// Like [`new`](Self::new), but refuses stages that hold rows until the input ends
    /// (beacon scores, whole-input aggregates) with [`Error::Unstreamable`]: memory stays
    /// bounded by the open windows.
    pub fn bounded(model: &FittedPipeline, lateness_ns: i64) -> Result<Self> {
        let scorer = Self::new(model, lateness_ns)?;
        for (stage, plan) in model.stages().iter().zip(&scorer.plans) {
            if plan.horizon == Horizon::EndOfInput {
                return Err(Error::Unstreamable {
                    stage: stage.output_fields().first().map(|f| f.name().clone()).unwrap_or_default(),
                    reason: "beacon scores and whole-input aggregates (no `every`) are statistics of the whole input: scoring them exactly holds every row until the end; score the table in memory, or give the aggregate a window".into(),
                });
            }
        }
        Ok(scorer)
    }

    /// Counters so far.
    pub fn stats(&self) -> StreamStats {
        let mut s = self.stats.clone();
        s.pending_rows = self.t.len() as u64;
        s.carried_entries = self
            .plans
            .iter()
            .filter_map(|p| p.carry.as_ref())
            .map(|c| c.held() as u64)
            .sum::<u64>()
            + self
                .plans
                .iter()
                .map(|p| p.context.rows.len() as u64)
                .sum::<u64>();
        s
    }

    /// Adds a batch; returns the rows whose values are now final, scored (input order), if any.
    pub fn push(&mut self, batch: &RecordBatch) -> Result<Option<RecordBatch>> {
        if batch.num_rows() == 0 {
            return Ok(None);
        }
        match &self.schema {
            Some(s) if s != &batch.schema() => {
                return Err(Error::InvalidInput(format!(
                    "batch {} of the stream has another schema than the first: {:?} vs {:?}",
                    self.stats.rows_in,
                    batch.schema().fields(),
                    s.fields()
                )));
            }
            Some(_) => {}
            None => {
                self.model.output_schema(batch.schema().as_ref())?;
                self.schema = Some(batch.schema());
            }
        }
        let n = batch.num_rows();
        let first_row = self.base + self.t.len() as u64;
        let ts: Vec<Option<i64>> = match &self.time {
            Some(col) => {
                let tt = times(batch, col)?;
                (0..n)
                    .map(|i| {
                        tt.nulls
                            .as_ref()
                            .is_none_or(|nb| nb.is_valid(i))
                            .then(|| tt.ns[i])
                    })
                    .collect()
            }
            None => vec![None; n],
        };
        let mut late = vec![false; n];
        let mut late_here = 0u64;
        for (i, t) in ts.iter().enumerate() {
            let Some(t) = *t else { continue };
            if self
                .watermark()
                .is_some_and(|w| t < w.saturating_sub(self.lateness))
            {
                late[i] = true;
                late_here += 1;
            } else {
                self.stats.watermark = Some(self.watermark().map_or(t, |w| w.max(t)));
            }
        }
        if late_here > 0 {
            log::warn!(
                "{late_here} event(s) arrived more than the allowed lateness behind the watermark: scored with null window features (stream rows {first_row}..{})",
                first_row + n as u64
            );
            self.stats.late_rows += late_here;
        }
        for plan in &mut self.plans {
            if plan.horizon == Horizon::Row {
                continue;
            }
            if let Some(carry) = &mut plan.carry {
                let ids = carry.entities(batch)?;
                for (i, &e) in ids.iter().enumerate() {
                    if let (Some(t), false) = (ts[i], late[i]) {
                        carry.observe(e, t, first_row + i as u64);
                    }
                }
                plan.entity.extend(ids);
            }
            plan.value.extend(std::iter::repeat_n(None, n));
            plan.done.extend((0..n).map(|i| ts[i].is_none() || late[i]));
        }
        self.t.extend(ts);
        self.batches.push_back(batch.clone());
        self.stats.rows_in += n as u64;
        let cutoff = self
            .watermark()
            .map_or(i64::MIN, |w| w.saturating_sub(self.lateness));
        self.advance(cutoff, false)?;
        self.emit()
    }

    /// Ends the input: every waiting row is scored and returned (None when none wait).
    pub fn finish(&mut self) -> Result<Option<RecordBatch>> {
        self.advance(i64::MAX, true)?;
        self.emit()
    }

    fn watermark(&self) -> Option<i64> {
        self.stats.watermark
    }

    /// Computes every value that is final at `cutoff` (`end`: the input has ended).
    fn advance(&mut self, cutoff: i64, end: bool) -> Result<()> {
        for si in 0..self.plans.len() {
            let plan = &self.plans[si];
            let ready: Vec<usize> = match plan.horizon {
                Horizon::Row => continue,
                Horizon::EndOfInput if !end => continue,
                Horizon::WindowEnd(w) => (0..self.t.len())
                    .filter(|&j| {
                        !plan.done[j]
                            && self.t[j]
                                .is_some_and(|t| end || broadcast_window_end(w, t) <= cutoff)
                    })
                    .collect(),
                Horizon::EventTime | Horizon::EndOfInput => (0..self.t.len())
                    .filter(|&j| !plan.done[j] && self.t[j].is_some_and(|t| t <= cutoff))
                    .collect(),
            };
            if ready.is_empty() {
                continue;
            }
            let values: Vec<Option<held::Held>> = if plan.horizon == Horizon::EventTime {
                let carry = plan
                    .carry
                    .as_ref()
                    .ok_or_else(|| Error::InvalidInput("internal: no carried state".into()))?;
                ready
                    .iter()
                    .map(|&j| {
                        let t = self.t[j].unwrap_or_default();
                        carry
                            .value(plan.entity[j], t, self.base + j as u64)
                            .map(held::Held::Float)
                    })
                    .collect()
            } else {
                // The rows of every window closing now are all still waiting (or, for hopping
                // windows, kept as context): compute the stage over exactly them, in input
                // order, as whole-table scoring does.
                let sub = self.gather(&ready)?;
                let rows: Vec<u64> = ready.iter().map(|&j| self.base + j as u64).collect();
                let (sub, at) = plan.context.join(sub, &rows)?;
                let stage = &self.model.stages()[si];
                let arrays = stage.compute(&sub, self.model.engine())?;
                let a = arrays.first().ok_or_else(|| {
                    Error::InvalidInput("internal: window stage gave no column".into())
                })?;
                let values = held::read(a.as_ref(), &at)?;
                if let Horizon::WindowEnd(w @ Window::Hopping { .. }) = plan.horizon
                    && !end
                {
                    let t: Vec<i64> = ready
                        .iter()
                        .map(|&j| self.t[j].unwrap_or_default())
                        .collect();
                    let ends: Vec<i64> = t.iter().map(|&t| last_window_end(w, t)).collect();
                    self.plans[si].context.keep(sub, &rows, &at, ends, cutoff)?;
                }
                values
            };
            let plan = &mut self.plans[si];
            for (&j, v) in ready.iter().zip(values) {
                plan.value[j] = v;
                plan.done[j] = true;
            }
            if let Some(carry) = &mut plan.carry
                && cutoff != i64::MAX
            {
                for &j in &ready {
                    carry.prune(plan.entity[j], cutoff);
                }
            }
        }
        Ok(())
    }

    /// The waiting rows `rows` (positions, ascending) as one batch.
    fn gather(&self, rows: &[usize]) -> Result<RecordBatch> {
        let mut starts = Vec::with_capacity(self.batches.len());
        let mut at = 0usize;
        for b in &self.batches {
            starts.push(at);
            at += b.num_rows();
        }
        let mut idx = Vec::with_capacity(rows.len());
        for &j in rows {
            let b = starts.partition_point(|&s| s <= j) - 1;
            idx.push((b, j - starts[b]));
        }
        let refs: Vec<&RecordBatch> = self.batches.iter().collect();
        Ok(interleave_record_batch(&refs, &idx)?)
    }

    /// Scores and removes the leading rows whose values are all final.
    fn emit(&mut self) -> Result<Option<RecordBatch>> {
        let k = (0..self.t.len())
            .take_while(|&j| {
                self.plans
                    .iter()
                    .all(|p| p.horizon == Horizon::Row || p.done[j])
            })
            .count();
        if k == 0 {
            return Ok(None);
        }
        let mut parts = Vec::new();
        let mut left = k;
        while left > 0 {
            let Some(b) = self.batches.pop_front() else {
                break;
            };
            if b.num_rows() <= left {
                left -= b.num_rows();
                parts.push(b);
            } else {
                parts.push(b.slice(0, left));
                self.batches.push_front(b.slice(left, b.num_rows() - left));
                left = 0;
            }
        }
        let schema = self
            .schema
            .clone()
            .ok_or_else(|| Error::InvalidInput("internal: no schema".into()))?;
        let rows = concat_batches(&schema, &parts)?;
        let mut given: Vec<Option<Vec<ArrayRef>>> = Vec::with_capacity(self.plans.len());
        for (p, stage) in self.plans.iter_mut().zip(self.model.stages()) {
            if p.horizon == Horizon::Row {
                p.done.drain(..k.min(p.done.len()));
                given.push(None);
                continue;
            }
            // The stage's type for this input (window sums of integers stay Int64).
            let dt = stage
                .output_fields_for(&schema)
                .first()
                .map(|f| f.data_type().clone())
                .unwrap_or(DataType::Float32);
            let a = held::column(p.value.drain(..k).collect(), &dt)?;
            p.done.drain(..k);
            if p.carry.is_some() {
                p.entity.drain(..k);
            }
            given.push(Some(vec![a]));
        }
        self.t.drain(..k);
        self.base += k as u64;
        self.stats.rows_out += k as u64;
        Ok(Some(self.model.score_given(&rows, &given)?))
    }
}

/// Rows of a hopping-window stage already computed but still inside an open window, with
/// their stream row numbers and the end of the last window holding them.
#[derive(Default)]
struct Context {
    batch: Option<RecordBatch>,
    rows: Vec<u64>,
    ends: Vec<i64>,
}

impl Context {
    /// The context rows and `sub` (stream rows `rows`, ascending) merged in stream order, and
    /// the position of each row of `sub` in the merge.
    fn join(&self, sub: RecordBatch, rows: &[u64]) -> Result<(RecordBatch, Vec<usize>)> {
        let Some(ctx) = &self.batch else {
            return Ok((sub, (0..rows.len()).collect()));
        };
        let (mut i, mut j) = (0, 0);
        let mut idx = Vec::with_capacity(self.rows.len() + rows.len());
        let mut at = Vec::with_capacity(rows.len());
        while i < self.rows.len() || j < rows.len() {
            if j >= rows.len() || (i < self.rows.len() && self.rows[i] < rows[j]) {
                idx.push((0, i));
                i += 1;
            } else {
                at.push(idx.len());
                idx.push((1, j));
                j += 1;
            }
        }
        Ok((interleave_record_batch(&[ctx, &sub], &idx)?, at))
    }

    /// After a computation over `merged` (from [`join`](Self::join); the new rows at `at`
    /// with stream rows `rows` and last-window ends `ends`), keeps the rows whose last window
    /// ends after `cutoff`.
    fn keep(
        &mut self,
        merged: RecordBatch,
        rows: &[u64],
        at: &[usize],
        ends: Vec<i64>,
        cutoff: i64,
    ) -> Result<()> {
        let n = merged.num_rows();
        let (mut all_rows, mut all_ends) = (vec![0u64; n], vec![0i64; n]);
        let mut is_new = vec![false; n];
        for (k, &p) in at.iter().enumerate() {
            is_new[p] = true;
            all_rows[p] = rows[k];
            all_ends[p] = ends[k];
        }
        let mut old = self.rows.iter().zip(&self.ends);
        for p in 0..n {
            if !is_new[p]
                && let Some((&r, &e)) = old.next()
            {
                all_rows[p] = r;
                all_ends[p] = e;
            }
        }
        let mask: BooleanArray = all_ends.iter().map(|&e| Some(e > cutoff)).collect();
        self.batch = Some(arrow::compute::filter_record_batch(&merged, &mask)?);
        self.rows = all_rows
            .iter()
            .zip(&all_ends)
            .filter(|(_, e)| **e > cutoff)
            .map(|(r, _)| *r)
            .collect();
        self.ends = all_ends.into_iter().filter(|&e| e > cutoff).collect();
        Ok(())
    }
}

/// An iterator of scored batches over an iterator of input batches (see
/// [`FittedPipeline::stream`]).
pub struct Stream<I> {
    scorer: Scorer,
    input: I,
    ended: bool,
}

impl<I> Stream<I> {
    /// Counters so far (late rows, waiting rows, ...).
    pub fn stats(&self) -> StreamStats {
        self.scorer.stats()
    }
}

impl<I, E> Iterator for Stream<I>
where
    I: Iterator<Item = std::result::Result<RecordBatch, E>>,
    E: Into<Error>,
{
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.ended {
            match self.input.next() {
                Some(Ok(batch)) => match self.scorer.push(&batch) {
                    Ok(Some(out)) => return Some(Ok(out)),
                    Ok(None) => {}
                    Err(e) => return Some(Err(e)),
                },
                Some(Err(e)) => return Some(Err(e.into())),
                None => {
                    self.ended = true;
                    return self.scorer.finish().transpose();
                }
            }
        }
        None
    }
}

impl FittedPipeline {
    /// Scores `batches` as a stream (time-ordered, events up to `lateness_ns` late allowed):
    /// an iterator of scored batches whose concatenation equals [`score`](Self::score) of
    /// the concatenated input for in-time events. See [`crate::stream`].
    pub fn stream<I, E>(&self, batches: I, lateness_ns: i64) -> Result<Stream<I::IntoIter>>
    where
        I: IntoIterator<Item = std::result::Result<RecordBatch, E>>,
        E: Into<Error>,
    {
        Ok(Stream {
            scorer: Scorer::new(self, lateness_ns)?,
            input: batches.into_iter(),
            ended: false,
        })
    }

    /// Whether some stage's value for a row depends on other rows (windowed aggregates,
    /// beacon scores, or a feature fitted on the input): then a table must be scored in one
    /// piece, or streamed, never batch by batch with [`score`](Self::score).
    pub fn looks_across_rows(&self) -> bool {
        !self.stages().iter().all(Stage::is_row_local)
    }

    /// A [`Scorer`] of this model (see [`crate::stream`]).
    pub fn scorer(&self, lateness_ns: i64) -> Result<Scorer> {
        Scorer::new(self, lateness_ns)
    }

    /// The columns the model reads as times (windowed aggregates, beacon scores, time
    /// features), in stage order without repeats: what a reader of text logs must turn into
    /// times before scoring (see [`crate::columns::text_times`]).
    pub fn time_columns(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for stage in self.stages() {
            if let Stage::Window(w) = stage {
                let col = match &w.kind {
                    WindowKind::Window(spec) => &spec.time,
                    WindowKind::Beaconing { time, .. } => time,
                    WindowKind::TimeFeatures { .. } => &w.column,
                };
                if !out.contains(col) {
                    out.push(col.clone());
                }
            }
        }
        out
    }

    /// The entity columns of the model's window stages (the `by` columns of aggregates, the
    /// source of beacon scores), in stage order without repeats: whose behaviour an alert is about.
    pub fn entity_columns(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for stage in self.stages() {
            if let Stage::Window(w) = stage {
                let cols = match &w.kind {
                    WindowKind::Window(spec) => spec.by.clone(),
                    WindowKind::Beaconing { .. } => vec![w.column.clone()],
                    WindowKind::TimeFeatures { .. } => Vec::new(),
                };
                for c in cols {
                    if !out.contains(&c) {
                        out.push(c);
                    }
                }
            }
        }
        out
    }
}
