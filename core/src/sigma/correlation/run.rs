//! [`Correlator`]: gathers the named rules' matches batch by batch (group key, time, value),
//! then sweeps every group's windows at the end, so windows that span batches are exact.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, Float64Array, ListBuilder, RecordBatch, StringArray, StringBuilder,
    TimestampNanosecondArray, UInt64Array, UInt64Builder,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};

use super::Correlation;
use super::window::{self, Entry, Fire, Spec};
use crate::error::{Error, Result};
use crate::sigma::SigmaRules;

/// The input column whose times place events in windows.
pub const TIME_COLUMN: &str = "timestamp";

type GroupKey = Vec<Option<String>>;

/// Evaluates the correlation rules of a [`SigmaRules`] over batches pushed one by one (rows
/// numbered across all of them, from 0), then [`Correlator::finish`] gives the hits. State is
/// the named rules' matches only (time, group key, value), not the events.
pub struct Correlator<'r> {
    rules: &'r SigmaRules,
    next_row: u64,
    /// Per correlation, per group key: its matches.
    groups: Vec<HashMap<GroupKey, Vec<Entry>>>,
    untimed: u64,
}

/// A column of `batch` as text, read once per batch and name.
fn text_column(batch: &RecordBatch, name: &str) -> Option<StringArray> {
    let a = batch.column_by_name(name)?;
    let s = arrow::compute::cast(a, &DataType::Utf8).ok()?;
    s.as_any().downcast_ref::<StringArray>().cloned()
}

impl<'r> Correlator<'r> {
    /// A correlator for the correlation rules of `rules`.
    pub fn new(rules: &'r SigmaRules) -> Self {
        Correlator {
            rules,
            next_row: 0,
            groups: vec![HashMap::new(); rules.correlations.len()],
            untimed: 0,
        }
    }

    /// Evaluates the rules on `batch` and gathers the matches the correlations name.
    pub fn push(&mut self, batch: &RecordBatch) -> Result<()> {
        if self.rules.correlations.is_empty() {
            self.next_row += batch.num_rows() as u64;
            return Ok(());
        }
        let pairs = self.rules.match_pairs(batch);
        self.push_matches(batch, &pairs)
    }

    /// Gathers the correlations' matches from `pairs`, the (row, rule index) matches of
    /// `batch` as [`SigmaRules::match_pairs`] gives them (for callers that have them already).
    pub fn push_matches(&mut self, batch: &RecordBatch, pairs: &[(usize, usize)]) -> Result<()> {
        let base = self.next_row;
        self.next_row += batch.num_rows() as u64;
        if self.rules.correlations.is_empty() || pairs.is_empty() {
            return Ok(());
        }
        let times = match batch.column_by_name(TIME_COLUMN) {
            Some(a) => Some(crate::columns::array_times(a.as_ref(), TIME_COLUMN)?),
            None => None,
        };
        let pipeline = &self.rules.options.pipeline;
        let mut cache: HashMap<String, Option<StringArray>> = HashMap::new();
        // The column a Sigma field reads here: the first of its pipeline aliases present.
        let mut column = |field: &str| -> Option<StringArray> {
            if let Some(c) = cache.get(field) {
                return c.clone();
            }
            let col = pipeline
                .columns(field)
                .iter()
                .find_map(|c| text_column(batch, c));
            cache.insert(field.to_string(), col.clone());
            col
        };
        for (ci, corr) in self.rules.correlations.iter().enumerate() {
            let value_col = corr.info.field.as_deref().map(&mut column);
            let group_cols: Vec<Vec<Option<StringArray>>> = corr
                .group_fields
                .iter()
                .map(|per_rule| per_rule.iter().map(|f| column(f)).collect())
                .collect();
            let Some(groups) = self.groups.get_mut(ci) else {
                continue;
            };
            for &(row, rule) in pairs {
                for (k, _) in corr
                    .refs
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| **r == Some(rule))
                {
                    let Some(time) = times.as_ref().and_then(|t| t.get(row)) else {
                        self.untimed += 1;
                        continue;
                    };
                    let cell = |c: Option<&StringArray>| {
                        c.filter(|a| row < a.len() && a.is_valid(row))
                            .map(|a| a.value(row).to_string())
                    };
                    let key: GroupKey = group_cols
                        .iter()
                        .map(|per_rule| cell(per_rule.get(k).and_then(Option::as_ref)))
                        .collect();
                    let text = cell(value_col.as_ref().and_then(Option::as_ref));
                    let num = text.as_deref().and_then(|t| t.trim().parse::<f64>().ok());
                    groups.entry(key).or_default().push(Entry {
                        time,
                        row: base + row as u64,
                        rule: k as u32,
                        num: num.filter(|x| x.is_finite()),
                        text,
                    });
                }
            }
        }
        Ok(())
    }

    /// The hits, one row per window that met its correlation's condition, ordered by the
    /// window's end time: `correlation_id`, `title`, `level`, `type`, `group_by` and
    /// `group_values` (List<Utf8>, the key's fields and values; a value is null where the
    /// event lacked the field), `window_start` / `window_end` (the first and last event times
    /// in the window, UTC ns), `value` (the aggregate checked: count, distinct count, sum,
    /// ...), `events` (events in the window), `rows` (List<UInt64>: their rows, the first
    /// 1,000) and `trigger_row` (the event that closed the window).
    pub fn finish(self) -> Result<RecordBatch> {
        if self.untimed > 0 {
            log::warn!(
                "{} rule matches had no `{TIME_COLUMN}` and were left out of correlations",
                self.untimed
            );
        }
        let corrs = &self.rules.correlations;
        // Per correlation: its fires, evaluated in dependency order (a chained correlation
        // after the correlations it names; resolve() left no cycle).
        let mut done: Vec<Option<Vec<(GroupKey, Fire)>>> = vec![None; corrs.len()];
        while done.iter().any(Option::is_none) {
            let mut progressed = false;
            for (ci, corr) in corrs.iter().enumerate() {
                if done.get(ci).is_some_and(Option::is_some)
                    || !corr
                        .chained
                        .iter()
                        .all(|(_, c)| done.get(*c).is_some_and(Option::is_some))
                {
                    continue;
                }
                let mut groups = self.groups.get(ci).cloned().unwrap_or_default();
                chained_entries(corrs, corr, &done, &mut groups);
                let spec = Spec {
                    kind: corr.info.kind,
                    span: corr.info.timespan_ns,
                    condition: corr.info.condition.as_ref(),
                    percentile: corr.info.percentile.unwrap_or(50.0),
                    n_rules: corr.refs.len(),
                };
                let mut fires = Vec::new();
                for (key, mut entries) in groups {
                    for f in window::sweep(&spec, &mut entries) {
                        fires.push((key.clone(), f));
                    }
                }
                done[ci] = Some(fires);
                progressed = true;
            }
            if !progressed {
                return Err(Error::InvalidInput(
                    "correlations name each other in a cycle".into(),
                ));
            }
        }
        // A correlation that a chained one names without `generate: true` reports only
        // through it (as base rules do).
        let silent: Vec<bool> = (0..corrs.len())
            .map(|ci| {
                corrs
                    .iter()
                    .any(|c| !c.info.generate && c.chained.iter().any(|(_, x)| *x == ci))
            })
            .collect();
        let mut fires: Vec<(usize, GroupKey, Fire)> = Vec::new();
        for (ci, f) in done.into_iter().enumerate() {
            if silent.get(ci) == Some(&true) {
                continue;
            }
            fires.extend(f.unwrap_or_default().into_iter().map(|(k, f)| (ci, k, f)));
        }
        fires.sort_by_key(|a| (a.2.end, a.0, a.2.trigger));
        hits_batch(&self.rules.correlations, &fires)
    }
}

/// The schema of [`Correlator::finish`]'s table.
pub fn hits_schema() -> Arc<Schema> {
    let list = |t: DataType| DataType::List(Arc::new(Field::new("item", t, true)));
    let ts = DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()));
    Arc::new(Schema::new(vec![
        Field::new("correlation_id", DataType::Utf8, false),
        Field::new("title", DataType::Utf8, false),
        Field::new("level", DataType::Utf8, false),
        Field::new("type", DataType::Utf8, false),
        Field::new("group_by", list(DataType::Utf8), false),
        Field::new("group_values", list(DataType::Utf8), false),
        Field::new("window_start", ts.clone(), false),
        Field::new("window_end", ts, false),
        Field::new("value", DataType::Float64, false),
        Field::new("events", DataType::UInt64, false),
        Field::new("rows", list(DataType::UInt64), false),
        Field::new("trigger_row", DataType::UInt64, false),
    ]))
}

/// Adds to `groups` the hits of the correlations `corr` names, as its events: each at its
/// window's end, its row the event that closed the window, its group key read from the named
/// correlation's group-by values (a field the named correlation does not group by is null).
fn chained_entries(
    corrs: &[Correlation],
    corr: &Correlation,
    done: &[Option<Vec<(GroupKey, Fire)>>],
    groups: &mut HashMap<GroupKey, Vec<Entry>>,
) {
    for &(k, c) in &corr.chained {
        let (Some(named), Some(Some(fires))) = (corrs.get(c), done.get(c)) else {
            continue;
        };
        // Per group-by field of `corr`: its position in the named correlation's key.
        let pos: Vec<Option<usize>> = corr
            .group_fields
            .iter()
            .map(|per_rule| {
                let field = per_rule.get(k)?;
                named.info.group_by.iter().position(|g| g == field)
            })
            .collect();
        for (key, f) in fires {
            let mapped: GroupKey = pos
                .iter()
                .map(|p| p.and_then(|p| key.get(p).cloned().flatten()))
                .collect();
            groups.entry(mapped).or_default().push(Entry {
                time: f.end,
                row: f.trigger,
                rule: k as u32,
                text: None,
                num: Some(f.value),
            });
        }
    }
}

fn hits_batch(corrs: &[Correlation], fires: &[(usize, GroupKey, Fire)]) -> Result<RecordBatch> {
    let mut ids = StringBuilder::new();
    let mut titles = StringBuilder::new();
    let mut levels = StringBuilder::new();
    let mut kinds = StringBuilder::new();
    let mut by = ListBuilder::new(StringBuilder::new());
    let mut values = ListBuilder::new(StringBuilder::new());
    let mut rows = ListBuilder::new(UInt64Builder::new());
    let (mut start, mut end, mut value, mut events, mut trigger) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (ci, key, f) in fires {
        let corr = corrs
            .get(*ci)
            .ok_or_else(|| Error::InvalidInput("correlation index out of range".into()))?;
        ids.append_value(&corr.info.id);
        titles.append_value(&corr.info.title);
        levels.append_value(&corr.info.level);
        kinds.append_value(corr.info.kind.name());
        for g in &corr.info.group_by {
            by.values().append_value(g);
        }
        by.append(true);
        for v in key.iter() {
            values.values().append_option(v.as_deref());
        }
        values.append(true);
        for r in &f.rows {
            rows.values().append_value(*r);
        }
        rows.append(true);
        start.push(f.start);
        end.push(f.end);
        value.push(f.value);
        events.push(f.events);
        trigger.push(f.trigger);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(ids.finish()),
        Arc::new(titles.finish()),
        Arc::new(levels.finish()),
        Arc::new(kinds.finish()),
        Arc::new(by.finish()),
        Arc::new(values.finish()),
        Arc::new(TimestampNanosecondArray::from(start).with_timezone("UTC")),
        Arc::new(TimestampNanosecondArray::from(end).with_timezone("UTC")),
        Arc::new(Float64Array::from(value)),
        Arc::new(UInt64Array::from(events)),
        Arc::new(rows.finish()),
        Arc::new(UInt64Array::from(trigger)),
    ];
    Ok(RecordBatch::try_new(hits_schema(), columns)?)
}
