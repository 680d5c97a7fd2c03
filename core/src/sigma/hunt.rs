//! A hunt timeline, like hayabusa's `csv-timeline`: every rule hit over Windows events (or any
//! table named as vigil's EVTX reader names columns) as one row naming the event (time,
//! computer, channel, event id, record id, file) and the rule (level, title, id), with the
//! event's fields as details; correlation hits come in the same table (kind `correlation`),
//! placed at the event that closed their window.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, RecordBatch, StringArray, StringBuilder, TimestampNanosecondArray, UInt64Array,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};

use super::{Correlator, SigmaRules, level_rank};
use crate::error::{Error, Result};
use crate::logs::evtx::{EventFormat, EvtxOptions, EvtxReport, event_files, read_evtx_files};

/// Most fields shown in `details`.
const DETAIL_FIELDS: usize = 24;
/// Most characters of one value in `details`.
const DETAIL_VALUE_CHARS: usize = 200;

/// Columns that are not event fields (left out of `details`).
const NOT_DETAILS: &[&str] = &[
    "timestamp",
    "event_id",
    "provider",
    "channel",
    "computer",
    "record_id",
    "level",
    "task",
    "opcode",
    "keywords",
    "process_id",
    "thread_id",
    "user_sid",
    "source_file",
    "event_data",
    "user_data",
    "parse_error",
    "_extra",
    "EventID",
    "Channel",
    "Computer",
    "EventRecordID",
];

/// What a timeline row says about the event.
#[derive(Clone, Debug, Default)]
struct Event {
    time: Option<i64>,
    computer: Option<String>,
    channel: Option<String>,
    event_id: Option<u64>,
    record_id: Option<u64>,
    file: Option<String>,
    details: String,
}

/// One timeline row.
struct Row {
    event: u64,
    level: String,
    title: String,
    rule_id: String,
    kind: &'static str,
    extra: Option<String>,
}

/// Builds the timeline from batches pushed one by one (rows numbered across all of them).
pub struct Hunt<'r> {
    rules: &'r SigmaRules,
    correlator: Correlator<'r>,
    all_detections: bool,
    next_row: u64,
    rows: Vec<Row>,
    /// The events a row names (detections, and every event a correlation could end on).
    events: HashMap<u64, Event>,
}

fn text_col(batch: &RecordBatch, names: &[String]) -> Option<StringArray> {
    names.iter().find_map(|n| {
        let a = batch.column_by_name(n)?;
        let s = arrow::compute::cast(a, &DataType::Utf8).ok()?;
        s.as_any().downcast_ref::<StringArray>().cloned()
    })
}

fn u64_col(batch: &RecordBatch, names: &[String]) -> Option<UInt64Array> {
    names.iter().find_map(|n| {
        let a = batch.column_by_name(n)?;
        let s = arrow::compute::cast(a, &DataType::UInt64).ok()?;
        s.as_any().downcast_ref::<UInt64Array>().cloned()
    })
}

fn cell(a: &Option<StringArray>, row: usize) -> Option<String> {
    a.as_ref()
        .filter(|a| row < a.len() && a.is_valid(row))
        .map(|a| a.value(row).to_string())
}

impl<'r> Hunt<'r> {
    /// A hunt with `rules`. With `all_detections` false, rules that a correlation names
    /// without `generate: true` report only through the correlation (Sigma's default).
    pub fn new(rules: &'r SigmaRules, all_detections: bool) -> Self {
        Hunt {
            rules,
            correlator: rules.correlator(),
            all_detections,
            next_row: 0,
            rows: Vec::new(),
            events: HashMap::new(),
        }
    }

    /// Evaluates the rules on `batch`.
    pub fn push(&mut self, batch: &RecordBatch) -> Result<()> {
        let base = self.next_row;
        self.next_row += batch.num_rows() as u64;
        let pairs = self.rules.match_pairs(batch);
        self.correlator.push_matches(batch, &pairs)?;
        if pairs.is_empty() {
            return Ok(());
        }
        let p = &self.rules.options.pipeline;
        let times = match batch.column_by_name("timestamp") {
            Some(a) => crate::columns::array_times(a.as_ref(), "timestamp").ok(),
            None => None,
        };
        let computer = text_col(batch, &p.columns("Computer"));
        let channel = text_col(batch, &p.columns("Channel"));
        let file = text_col(batch, &["source_file".to_string()]);
        let event_id = u64_col(batch, &p.columns("EventID"));
        let record_id = u64_col(batch, &p.columns("EventRecordID"));
        let detail_cols: Vec<(String, StringArray)> = batch
            .schema()
            .fields()
            .iter()
            .filter(|f| !NOT_DETAILS.contains(&f.name().as_str()))
            .filter_map(|f| {
                text_col(batch, std::slice::from_ref(f.name())).map(|a| (f.name().clone(), a))
            })
            .collect();
        let num = |a: &Option<UInt64Array>, row: usize| {
            a.as_ref()
                .filter(|a| row < a.len() && a.is_valid(row))
                .map(|a| a.value(row))
        };
        for &(row, rule) in &pairs {
            let id = base + row as u64;
            self.events.entry(id).or_insert_with(|| {
                let mut details = Vec::new();
                for (name, a) in &detail_cols {
                    if details.len() >= DETAIL_FIELDS {
                        break;
                    }
                    if row < a.len() && a.is_valid(row) && !a.value(row).is_empty() {
                        let v: String = a.value(row).chars().take(DETAIL_VALUE_CHARS).collect();
                        details.push(format!("{name}: {v}"));
                    }
                }
                Event {
                    time: times.as_ref().and_then(|t| t.get(row)),
                    computer: cell(&computer, row),
                    channel: cell(&channel, row),
                    event_id: num(&event_id, row),
                    record_id: num(&record_id, row),
                    file: cell(&file, row),
                    details: details.join(" ¦ "),
                }
            });
            if !self.all_detections && !self.rules.generates(rule) {
                continue;
            }
            let Some(info) = self.rules.rules().get(rule) else {
                continue;
            };
            self.rows.push(Row {
                event: id,
                level: info.level.clone(),
                title: info.title.clone(),
                rule_id: info.id.clone(),
                kind: "detection",
                extra: None,
            });
        }
        Ok(())
    }

    /// The timeline, ordered by time (rows without a time last), then input order:
    /// `timestamp`, `computer`, `channel`, `event_id`, `level`, `rule_title`, `rule_id`,
    /// `kind` (`detection` or `correlation`), `record_id`, `details` (the event's fields as
    /// `Name: value ¦ ...`; for a correlation, its aggregate and group first) and
    /// `source_file`.
    pub fn finish(mut self) -> Result<RecordBatch> {
        let corr = self.correlator.finish()?;
        if corr.num_rows() > 0 {
            use arrow::array::AsArray;
            let get = |n: &str| corr.column_by_name(n);
            let (Some(ids), Some(titles), Some(levels), Some(kinds)) = (
                get("correlation_id"),
                get("title"),
                get("level"),
                get("type"),
            ) else {
                return timeline_batch(&self.rows, &self.events);
            };
            let (ids, titles, levels, kinds) = (
                ids.as_string::<i32>(),
                titles.as_string::<i32>(),
                levels.as_string::<i32>(),
                kinds.as_string::<i32>(),
            );
            let by = get("group_by").map(|a| a.as_list::<i32>().clone());
            let vals = get("group_values").map(|a| a.as_list::<i32>().clone());
            let value =
                get("value").map(|a| a.as_primitive::<arrow::datatypes::Float64Type>().clone());
            let events =
                get("events").map(|a| a.as_primitive::<arrow::datatypes::UInt64Type>().clone());
            let trigger = get("trigger_row")
                .map(|a| a.as_primitive::<arrow::datatypes::UInt64Type>().clone());
            for i in 0..corr.num_rows() {
                let mut group = Vec::new();
                if let (Some(by), Some(vals)) = (&by, &vals) {
                    let (b, v) = (by.value(i), vals.value(i));
                    let (b, v) = (b.as_string::<i32>(), v.as_string::<i32>());
                    for k in 0..b.len() {
                        let val = if v.is_valid(k) { v.value(k) } else { "(none)" };
                        group.push(format!("{}={val}", b.value(k)));
                    }
                }
                let extra = format!(
                    "{} {} over {} events{}{}",
                    kinds.value(i),
                    value.as_ref().map_or(0.0, |v| v.value(i)),
                    events.as_ref().map_or(0, |v| v.value(i)),
                    if group.is_empty() { "" } else { "; group " },
                    group.join(", ")
                );
                self.rows.push(Row {
                    event: trigger.as_ref().map_or(0, |t| t.value(i)),
                    level: levels.value(i).to_string(),
                    title: titles.value(i).to_string(),
                    rule_id: ids.value(i).to_string(),
                    kind: "correlation",
                    extra: Some(extra),
                });
            }
        }
        timeline_batch(&self.rows, &self.events)
    }
}

/// The schema of [`Hunt::finish`]'s table.
pub fn timeline_schema() -> Arc<Schema> {
    let utf8 = |n: &str, null: bool| Field::new(n, DataType::Utf8, null);
    Arc::new(Schema::new(vec![
        Field::new(
            "timestamp",
            DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
            true,
        ),
        utf8("computer", true),
        utf8("channel", true),
        Field::new("event_id", DataType::UInt64, true),
        utf8("level", false),
        utf8("rule_title", false),
        utf8("rule_id", false),
        utf8("kind", false),
        Field::new("record_id", DataType::UInt64, true),
        utf8("details", false),
        utf8("source_file", true),
    ]))
}

fn timeline_batch(rows: &[Row], events: &HashMap<u64, Event>) -> Result<RecordBatch> {
    let none = Event::default();
    let ev = |r: &Row| events.get(&r.event).unwrap_or(&none);
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.sort_by_key(|&i| {
        let r = &rows[i];
        (ev(r).time.is_none(), ev(r).time, r.event, i)
    });
    let mut computer = StringBuilder::new();
    let mut channel = StringBuilder::new();
    let mut level = StringBuilder::new();
    let mut title = StringBuilder::new();
    let mut rule_id = StringBuilder::new();
    let mut kind = StringBuilder::new();
    let mut details = StringBuilder::new();
    let mut file = StringBuilder::new();
    let (mut time, mut event_id, mut record_id) = (Vec::new(), Vec::new(), Vec::new());
    for &i in &order {
        let r = &rows[i];
        let e = ev(r);
        time.push(e.time);
        computer.append_option(e.computer.as_deref());
        channel.append_option(e.channel.as_deref());
        event_id.push(e.event_id);
        level.append_value(&r.level);
        title.append_value(&r.title);
        rule_id.append_value(&r.rule_id);
        kind.append_value(r.kind);
        record_id.push(e.record_id);
        match &r.extra {
            Some(x) => details.append_value(x),
            None => details.append_value(&e.details),
        }
        file.append_option(e.file.as_deref());
    }
    let cols: Vec<ArrayRef> = vec![
        Arc::new(TimestampNanosecondArray::from(time).with_timezone("UTC")),
        Arc::new(computer.finish()),
        Arc::new(channel.finish()),
        Arc::new(UInt64Array::from(event_id)),
        Arc::new(level.finish()),
        Arc::new(title.finish()),
        Arc::new(rule_id.finish()),
        Arc::new(kind.finish()),
        Arc::new(UInt64Array::from(record_id)),
        Arc::new(details.finish()),
        Arc::new(file.finish()),
    ];
    Ok(RecordBatch::try_new(timeline_schema(), cols)?)
}

/// The event files a hunt reads from `inputs`: a file as given; a directory's `.evtx` and JSON
/// event files (`.json`, `.jsonl`, `.ndjson`), recursively, sorted per input. An error when an
/// input does not exist or no file is found.
pub fn hunt_inputs<P: AsRef<Path>>(inputs: &[P]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for p in inputs {
        let p = p.as_ref();
        if !p.exists() {
            return Err(Error::InvalidInput(format!(
                "input `{}` does not exist",
                p.display()
            )));
        }
        if p.is_dir() {
            let mut here = event_files(p, EventFormat::Evtx)?;
            here.extend(event_files(p, EventFormat::Json)?);
            here.sort();
            files.extend(here);
        } else {
            files.push(p.to_path_buf());
        }
    }
    if files.is_empty() {
        return Err(Error::InvalidInput(
            "no .evtx, .json, .jsonl or .ndjson files under the inputs".into(),
        ));
    }
    Ok(files)
}

/// The rows of a table with a `level` column (a timeline, hits) whose level ranks at `min`
/// or above ([`level_rank`]); the table unchanged when it has no `level` column.
pub fn filter_min_level(table: RecordBatch, min: u8) -> Result<RecordBatch> {
    let Some(levels) = table.column_by_name("level") else {
        return Ok(table);
    };
    let levels = arrow::compute::cast(levels, &DataType::Utf8)?;
    let Some(levels) = levels.as_any().downcast_ref::<StringArray>() else {
        return Ok(table);
    };
    let keep: arrow::array::BooleanArray = levels
        .iter()
        .map(|l| Some(level_rank(l.unwrap_or("")) >= min))
        .collect();
    Ok(arrow::compute::filter_record_batch(&table, &keep)?)
}

/// A whole hunt over event `files` (see [`hunt_inputs`]): files read in groups of 64 in
/// parallel, every batch pushed into a [`Hunt`]; `progress(files_done, files_total)` after
/// each group. Returns the timeline ([`Hunt::finish`]) and the reader's report.
pub fn hunt_files(
    rules: &SigmaRules,
    files: &[PathBuf],
    all_detections: bool,
    mut progress: impl FnMut(u64, u64),
) -> Result<(RecordBatch, EvtxReport)> {
    let mut hunt = Hunt::new(rules, all_detections);
    let mut report = EvtxReport::default();
    let mut done = 0u64;
    for group in files.chunks(64) {
        let (batches, r) = read_evtx_files(group, &EvtxOptions::default())?;
        report.merge(&r);
        for b in &batches {
            hunt.push(b)?;
        }
        done += group.len() as u64;
        progress(done, files.len() as u64);
    }
    Ok((hunt.finish()?, report))
}
