//! State a stream carries across batches for the window stages whose per-event value depends
//! on the entity's whole past rather than on one window: "since the previous event" and "since
//! the first event" (whole-input `first_seen`). Windowed aggregates need no carried state: the
//! stream holds a window's rows until it closes and computes it in one piece (see `stream`).

use std::collections::BTreeSet;

use arrow::array::RecordBatch;

use super::keys::KeyTable;
use super::{Agg, Window, WindowKind, WindowStage};
use crate::error::Result;

/// When a window stage's value for an event is final in a time-ordered stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Horizon {
    /// Per row: final at once (time features).
    Row,
    /// When the watermark passes the end of the event's window (windowed aggregates).
    WindowEnd(Window),
    /// When the watermark reaches the event's own time (since_previous, whole-input first_seen).
    EventTime,
    /// Only when the input ends (beacon scores, whole-input counts, sums, last_seen, ...).
    EndOfInput,
}

impl WindowStage {
    /// When the stage's value for an event is final, and its time column (None: per row).
    pub(crate) fn horizon(&self) -> Result<(Horizon, Option<&str>)> {
        Ok(match &self.kind {
            WindowKind::TimeFeatures { .. } => (Horizon::Row, None),
            WindowKind::Beaconing { time, .. } => (Horizon::EndOfInput, Some(time.as_str())),
            WindowKind::Window(spec) => {
                let h = match (spec.agg, spec.window()?) {
                    (Agg::SincePrevious, _) | (Agg::FirstSeen, Window::Whole) => Horizon::EventTime,
                    (_, Window::Whole) => Horizon::EndOfInput,
                    (_, w) => Horizon::WindowEnd(w),
                };
                (h, Some(spec.time.as_str()))
            }
        })
    }
}

/// End (exclusive, ns) of the window whose value is broadcast to an event at `t`: for
/// hopping windows the earliest-starting one that holds it (as `group` picks).
pub(crate) fn broadcast_window_end(window: Window, t: i64) -> i64 {
    match window {
        Window::Tumbling { every } => (t.div_euclid(every).saturating_add(1)).saturating_mul(every),
        Window::Hopping { every, period } => {
            let lo = t.saturating_sub(period).div_euclid(every).saturating_add(1);
            lo.saturating_mul(every).saturating_add(period)
        }
        Window::Whole => i64::MAX,
    }
}

/// End (exclusive, ns) of the last window holding an event at `t`: until then the event
/// still counts in some open window.
pub(crate) fn last_window_end(window: Window, t: i64) -> i64 {
    match window {
        Window::Hopping { every, period } => t
            .div_euclid(every)
            .saturating_mul(every)
            .saturating_add(period),
        w => broadcast_window_end(w, t),
    }
}

/// Carried per-entity state of an event-time stage.
pub(crate) struct EventTimeState {
    agg: Agg,
    keys: KeyTable,
    /// since_previous: per entity, (time, stream row) of the events that a future query can
    /// still need (those at or after the cut-off, and the last one before it).
    seen: Vec<BTreeSet<(i64, u64)>>,
    /// first_seen: per entity, its first time.
    first: Vec<i64>,
}

impl EventTimeState {
    /// State of `stage` (an event-time stage, see [`Horizon::EventTime`]).
    pub(crate) fn new(stage: &WindowStage) -> Option<Self> {
        let WindowKind::Window(spec) = &stage.kind else {
            return None;
        };
        Some(EventTimeState {
            agg: spec.agg,
            keys: KeyTable::new(&spec.by),
            seen: Vec::new(),
            first: Vec::new(),
        })
    }

    /// Entity ids of `batch`'s rows, new entities numbered.
    pub(crate) fn entities(&mut self, batch: &RecordBatch) -> Result<Vec<u32>> {
        let ids = self.keys.intern(batch)?;
        self.seen.resize_with(self.keys.len(), BTreeSet::new);
        self.first.resize(self.keys.len(), i64::MAX);
        Ok(ids)
    }

    /// Records an accepted event of entity `e` at time `t`, stream row `row`.
    pub(crate) fn observe(&mut self, e: u32, t: i64, row: u64) {
        let e = e as usize;
        match self.agg {
            Agg::SincePrevious => {
                if let Some(s) = self.seen.get_mut(e) {
                    s.insert((t, row));
                }
            }
            _ => {
                if let Some(f) = self.first.get_mut(e) {
                    *f = (*f).min(t);
                }
            }
        }
    }

    /// The event's value, exact once the watermark less the lateness has reached `t`.
    pub(crate) fn value(&self, e: u32, t: i64, row: u64) -> Option<f64> {
        let e = e as usize;
        match self.agg {
            Agg::SincePrevious => {
                let prev = self.seen.get(e)?.range(..(t, row)).next_back()?;
                Some(super::seconds(prev.0, t))
            }
            _ => {
                let f = *self.first.get(e)?;
                (f != i64::MAX).then(|| super::seconds(f, t))
            }
        }
    }

    /// Forgets, for entity `e`, the events no later query can need: every query comes at a
    /// time at or after `cutoff`, so of the earlier events only the last one is kept.
    pub(crate) fn prune(&mut self, e: u32, cutoff: i64) {
        if let Some(s) = self.seen.get_mut(e as usize)
            && let Some(&keep) = s.range(..(cutoff, 0)).next_back()
        {
            *s = s.split_off(&keep);
        }
    }

    /// Events held (for the state-bound tests and stats).
    pub(crate) fn held(&self) -> usize {
        match self.agg {
            Agg::SincePrevious => self.seen.iter().map(BTreeSet::len).sum(),
            _ => self.first.len(),
        }
    }
}
