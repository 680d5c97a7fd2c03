//! Event rows into Arrow record batches, and batches of one read aligned to one schema.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, ListBuilder, RecordBatch, RecordBatchOptions, StringBuilder,
    TimestampNanosecondArray, UInt32Array, UInt64Array, new_null_array,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

use super::event::EventRow;
use super::{
    CHANNEL, COMPUTER, EVENT_DATA, EVENT_ID, EXTRA, KEYWORDS, LEVEL, MAX_FIELD_COLUMNS, OPCODE,
    PARSE_ERROR, PROCESS_ID, PROVIDER, RECORD_ID, SOURCE_FILE, TASK, THREAD_ID, TIMESTAMP,
    USER_DATA, USER_SID,
};
use crate::error::Result;

/// The columns every batch has, in order, before the named fields.
pub(crate) fn fixed_fields() -> Vec<Field> {
    let u32f = |n: &str| Field::new(n, DataType::UInt32, true);
    let utf8 = |n: &str| Field::new(n, DataType::Utf8, true);
    vec![
        Field::new(
            TIMESTAMP,
            DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
            true,
        ),
        u32f(EVENT_ID),
        utf8(PROVIDER),
        utf8(CHANNEL),
        utf8(COMPUTER),
        Field::new(RECORD_ID, DataType::UInt64, true),
        u32f(LEVEL),
        u32f(TASK),
        u32f(OPCODE),
        utf8(KEYWORDS),
        u32f(PROCESS_ID),
        u32f(THREAD_ID),
        utf8(USER_SID),
        utf8(SOURCE_FILE),
        Field::new(
            EVENT_DATA,
            DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
            true,
        ),
        utf8(USER_DATA),
        utf8(PARSE_ERROR),
    ]
}

fn utf8_col<'r>(rows: &'r [EventRow], f: impl Fn(&'r EventRow) -> Option<&'r str>) -> ArrayRef {
    // Sized up front: growing a 64k-row buffer by doubling copies it over and over.
    let bytes = rows.iter().filter_map(&f).map(str::len).sum();
    let mut b = StringBuilder::with_capacity(rows.len(), bytes);
    for r in rows {
        b.append_option(f(r));
    }
    Arc::new(b.finish())
}

/// The `source_file` column of `n` rows from `runs` (end row, source); rows past the last run
/// are null.
fn source_col(n: usize, runs: &[(usize, &str)]) -> ArrayRef {
    let longest = runs.iter().map(|r| r.1.len()).max().unwrap_or(0);
    let mut b = StringBuilder::with_capacity(n, n.saturating_mul(longest));
    let mut start = 0;
    for &(end, source) in runs {
        let end = end.min(n);
        for _ in start..end {
            b.append_value(source);
        }
        start = start.max(end);
    }
    for _ in start..n {
        b.append_null();
    }
    Arc::new(b.finish())
}

fn u32_col(rows: &[EventRow], f: impl Fn(&EventRow) -> Option<u32>) -> ArrayRef {
    Arc::new(rows.iter().map(f).collect::<UInt32Array>())
}

/// The name a field takes: its own, unless a fixed column has it (then `_` is appended).
fn field_name(name: &str, fixed: &[Field]) -> String {
    let mut n = name.to_string();
    while fixed.iter().any(|f| f.name() == &n) || n == EXTRA {
        n.push('_');
    }
    n
}

/// Builds one batch from `rows` read from `source`: the fixed columns, then one Utf8 column per
/// named field in first-seen order (at most [`MAX_FIELD_COLUMNS`]; further fields go to
/// `_extra` as a JSON object).
pub(crate) fn build_batch(rows: &[EventRow], source: &str) -> Result<RecordBatch> {
    build_batch_runs(rows, &[(rows.len(), source)])
}

/// [`build_batch`] for rows of several files: `runs` are (end row, exclusive; source) in row
/// order, the last ending at `rows.len()`. The named field columns are the union over all rows
/// (null where an event lacks the field).
pub(crate) fn build_batch_runs(rows: &[EventRow], runs: &[(usize, &str)]) -> Result<RecordBatch> {
    let fixed = fixed_fields();
    let n = rows.len();
    let mut arrays: Vec<ArrayRef> = vec![
        Arc::new(
            rows.iter()
                .map(|r| r.timestamp)
                .collect::<TimestampNanosecondArray>()
                .with_timezone("UTC"),
        ),
        u32_col(rows, |r| r.event_id),
        utf8_col(rows, |r| r.provider.as_deref()),
        utf8_col(rows, |r| r.channel.as_deref()),
        utf8_col(rows, |r| r.computer.as_deref()),
        Arc::new(rows.iter().map(|r| r.record_id).collect::<UInt64Array>()),
        u32_col(rows, |r| r.level),
        u32_col(rows, |r| r.task),
        u32_col(rows, |r| r.opcode),
        utf8_col(rows, |r| r.keywords.as_deref()),
        u32_col(rows, |r| r.process_id),
        u32_col(rows, |r| r.thread_id),
        utf8_col(rows, |r| r.user_sid.as_deref()),
        source_col(rows.len(), runs),
    ];
    let items = rows.iter().filter_map(|r| r.data.as_ref());
    let (count, bytes) = items.fold((0, 0), |(c, b), d| {
        (c + d.len(), b + d.iter().map(String::len).sum::<usize>())
    });
    let mut list = ListBuilder::with_capacity(StringBuilder::with_capacity(count, bytes), n)
        .with_field(Arc::new(Field::new("item", DataType::Utf8, true)));
    for r in rows {
        match &r.data {
            Some(items) => {
                for s in items {
                    list.values().append_value(s);
                }
                list.append(true);
            }
            None => list.append(false),
        }
    }
    arrays.push(Arc::new(list.finish()));
    arrays.push(utf8_col(rows, |r| r.user_data.as_deref()));
    arrays.push(utf8_col(rows, |r| r.error.as_deref()));

    // Named fields: per column, the (row, value) pairs in row order.
    let mut index: HashMap<&str, usize, foldhash::fast::RandomState> = HashMap::default();
    let mut names: Vec<&str> = Vec::new();
    let mut cells: Vec<Vec<(usize, &str)>> = Vec::new();
    let mut extra: Vec<Option<serde_json::Map<String, serde_json::Value>>> = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        for (k, v) in &r.fields {
            let col = match index.get(k.as_str()) {
                Some(&c) => Some(c),
                None if names.len() < MAX_FIELD_COLUMNS => {
                    index.insert(k, names.len());
                    names.push(k);
                    cells.push(Vec::new());
                    Some(names.len() - 1)
                }
                None => None,
            };
            match col.and_then(|c| cells.get_mut(c)) {
                Some(cell) => {
                    // A name repeated in one event: the first value stays.
                    if cell.last().is_none_or(|&(row, _)| row != i) {
                        cell.push((i, v));
                    }
                }
                None => {
                    if extra.is_empty() {
                        extra.resize(n, None);
                    }
                    if let Some(slot) = extra.get_mut(i) {
                        slot.get_or_insert_with(serde_json::Map::new)
                            .insert(k.clone(), serde_json::Value::String(v.clone()));
                    }
                }
            }
        }
    }
    let mut fields = fixed.clone();
    for (name, cell) in names.iter().zip(&cells) {
        let bytes = cell.iter().map(|(_, v)| v.len()).sum();
        let mut b = StringBuilder::with_capacity(n, bytes);
        let mut next = cell.iter().peekable();
        for i in 0..n {
            match next.peek() {
                Some(&&(row, v)) if row == i => {
                    b.append_value(v);
                    next.next();
                }
                _ => b.append_null(),
            }
        }
        fields.push(Field::new(field_name(name, &fixed), DataType::Utf8, true));
        arrays.push(Arc::new(b.finish()));
    }
    if !extra.is_empty() {
        let mut b = StringBuilder::with_capacity(n, 0);
        for e in extra {
            b.append_option(e.map(|m| serde_json::Value::Object(m).to_string()));
        }
        fields.push(Field::new(EXTRA, DataType::Utf8, true));
        arrays.push(Arc::new(b.finish()));
    }
    let opts = RecordBatchOptions::new().with_row_count(Some(n));
    Ok(RecordBatch::try_new_with_options(
        Arc::new(Schema::new(fields)),
        arrays,
        &opts,
    )?)
}

/// The union schema of `batches`: the fixed columns, then every named field in first-seen
/// order (`_extra` last).
pub(crate) fn union_schema(batches: &[RecordBatch]) -> SchemaRef {
    let mut fields = fixed_fields();
    let fixed = fields.len();
    let mut seen: HashMap<String, ()> = fields.iter().map(|f| (f.name().clone(), ())).collect();
    let mut has_extra = false;
    for b in batches {
        for f in b.schema().fields().iter().skip(fixed) {
            if f.name() == EXTRA {
                has_extra = true;
            } else if seen.insert(f.name().clone(), ()).is_none() {
                fields.push(f.as_ref().clone());
            }
        }
    }
    if has_extra {
        fields.push(Field::new(EXTRA, DataType::Utf8, true));
    }
    Arc::new(Schema::new(fields))
}

/// `batch` with the columns of `schema` (null where it lacks one), in that order.
pub(crate) fn align(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch> {
    if batch.schema() == *schema {
        return Ok(batch.clone());
    }
    let arrays: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .map(|f| match batch.column_by_name(f.name()) {
            Some(c) if c.data_type() == f.data_type() => c.clone(),
            _ => new_null_array(f.data_type(), batch.num_rows()),
        })
        .collect();
    let opts = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
    Ok(RecordBatch::try_new_with_options(
        schema.clone(),
        arrays,
        &opts,
    )?)
}
