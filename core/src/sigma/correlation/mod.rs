//! Sigma correlation rules (Sigma v2): `event_count`, `value_count`, `temporal`,
//! `temporal_ordered`, `value_sum`, `value_avg` and `value_percentile` over the matches of the
//! rules they name, per `group-by` key, in sliding windows of `timespan`.
//!
//! # What fires
//!
//! The base rules' matches are gathered over everything pushed (all batches: a window that
//! spans batches is exact, and the input need not be sorted), split by correlation and group
//! key, and sorted by event time. Each matching event then closes one sliding window: the
//! group's matches with `time >= t - timespan` up to and including the event (ties in input
//! order). Where the window meets the condition, one hit comes out: the correlation, the group
//! key, the window's first and last event times, the aggregate and the events in it. This is
//! the "alert on every event while the condition holds" reading (rsigma's default `alert`
//! action); a burst of 100 failed logons with `gte: 10` gives 91 hits, one per event from the
//! tenth on, each naming the window's events.
//!
//! Aggregates: `event_count` counts events (an event matching two named rules counts once);
//! `value_count` counts distinct non-null values of `condition.field`; `value_sum` / `value_avg`
//! sum and average its numbers (null and non-numbers left out); `value_percentile` takes the
//! `condition.percentile` (default 50) percentile by linear interpolation; `temporal` counts
//! the named rules that fired in the window and needs all of them unless a condition says
//! otherwise; `temporal_ordered` needs them to fire in the order named (equal times count as
//! in order). A missing group-by field is a null key part (its own group). Events with no time
//! cannot be placed in a window and are left out (a warning counts them).
//!
//! # Chained correlations
//!
//! A correlation may name other correlations in `rules` (Sigma v2 chaining, any depth, in any
//! file order). Their hits are its events: each placed at its window's end, its row the event
//! that closed that window, its group key read from the named correlation's group-by values
//! (a field the named correlation does not group by is a null key part). A named correlation
//! reports only through the chain unless the chain says `generate: true`; correlations that
//! name each other in a cycle are reported, not evaluated.

mod parse;
mod run;
mod window;

pub use run::Correlator;

/// The kind of aggregation a correlation rule makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CorrelationKind {
    /// Number of matching events.
    EventCount,
    /// Number of distinct values of a field.
    ValueCount,
    /// All named rules fire within the timespan, in any order.
    Temporal,
    /// All named rules fire within the timespan, in the order named.
    TemporalOrdered,
    /// Sum of a numeric field.
    ValueSum,
    /// Mean of a numeric field.
    ValueAvg,
    /// A percentile of a numeric field.
    ValuePercentile,
}

impl CorrelationKind {
    /// The name Sigma gives it (`event_count`, ...).
    pub fn name(self) -> &'static str {
        match self {
            CorrelationKind::EventCount => "event_count",
            CorrelationKind::ValueCount => "value_count",
            CorrelationKind::Temporal => "temporal",
            CorrelationKind::TemporalOrdered => "temporal_ordered",
            CorrelationKind::ValueSum => "value_sum",
            CorrelationKind::ValueAvg => "value_avg",
            CorrelationKind::ValuePercentile => "value_percentile",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "event_count" => CorrelationKind::EventCount,
            "value_count" => CorrelationKind::ValueCount,
            "temporal" => CorrelationKind::Temporal,
            "temporal_ordered" => CorrelationKind::TemporalOrdered,
            "value_sum" => CorrelationKind::ValueSum,
            "value_avg" => CorrelationKind::ValueAvg,
            "value_percentile" => CorrelationKind::ValuePercentile,
            _ => return None,
        })
    }

    /// Whether the kind aggregates `condition.field`.
    pub fn needs_field(self) -> bool {
        matches!(
            self,
            CorrelationKind::ValueCount
                | CorrelationKind::ValueSum
                | CorrelationKind::ValueAvg
                | CorrelationKind::ValuePercentile
        )
    }
}

/// A correlation condition: every bound given must hold (`gte` and `lte` together make a
/// range).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Threshold {
    /// `gt`.
    pub gt: Option<f64>,
    /// `gte`.
    pub gte: Option<f64>,
    /// `lt`.
    pub lt: Option<f64>,
    /// `lte`.
    pub lte: Option<f64>,
    /// `eq`.
    pub eq: Option<f64>,
    /// `neq`.
    pub neq: Option<f64>,
}

impl Threshold {
    /// Whether `v` meets every bound.
    pub fn holds(&self, v: f64) -> bool {
        self.gt.is_none_or(|b| v > b)
            && self.gte.is_none_or(|b| v >= b)
            && self.lt.is_none_or(|b| v < b)
            && self.lte.is_none_or(|b| v <= b)
            && self.eq.is_none_or(|b| v == b)
            && self.neq.is_none_or(|b| v != b)
    }

    fn is_empty(&self) -> bool {
        *self == Threshold::default()
    }
}

/// A loaded correlation rule.
#[derive(Clone, Debug, PartialEq)]
pub struct CorrelationInfo {
    /// The file it came from.
    pub file: String,
    /// `id`.
    pub id: String,
    /// `name` (how other correlations could refer to it; empty when absent).
    pub name: String,
    /// `title`.
    pub title: String,
    /// `status`.
    pub status: String,
    /// `level`.
    pub level: String,
    /// `tags`.
    pub tags: Vec<String>,
    /// `correlation.type`.
    pub kind: CorrelationKind,
    /// `correlation.rules`: the named rules or correlations, as written (names or ids).
    pub rules: Vec<String>,
    /// `correlation.group-by`.
    pub group_by: Vec<String>,
    /// `correlation.timespan` in nanoseconds.
    pub timespan_ns: i64,
    /// `correlation.condition` (`None`: a temporal rule's default, all named rules).
    pub condition: Option<Threshold>,
    /// `correlation.condition.field` (value kinds).
    pub field: Option<String>,
    /// `correlation.condition.percentile` (`value_percentile`; default 50).
    pub percentile: Option<f64>,
    /// `correlation.generate`: whether the named rules also report their own matches.
    pub generate: bool,
    /// `correlation.aliases`: alias -> (named rule, its field), for group-by fields named
    /// differently by each rule.
    pub aliases: Vec<(String, Vec<(String, String)>)>,
}

/// A correlation rule with its named rules resolved to loaded rules.
#[derive(Clone, Debug)]
pub(crate) struct Correlation {
    pub info: CorrelationInfo,
    /// Per named rule, in the order named: its index into the loaded rules (None where the
    /// name is a correlation, see `chained`).
    pub refs: Vec<Option<usize>>,
    /// (position in the named list, index into the correlations) of each named correlation.
    pub chained: Vec<(usize, usize)>,
    /// Per group-by field, per named rule: the Sigma field name to read (aliases applied).
    pub group_fields: Vec<Vec<String>>,
}

pub(crate) use parse::{parse, resolve};
