//! Result tables: the hits (one row per event and matching rule), the per-event annotation
//! columns and the report of rules not evaluated.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, ListBuilder, RecordBatch, StringArray, StringBuilder, TimestampNanosecondArray,
    UInt8Array, UInt64Array,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};

use super::{Issue, RuleInfo, SigmaRules, level_rank};
use crate::error::Result;

/// Name of the input column whose times the hits carry.
pub(crate) const TIME_COLUMN: &str = "timestamp";

fn tags_type() -> DataType {
    DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)))
}

/// The hits table.
pub(crate) fn hits(
    rules: &SigmaRules,
    batch: &RecordBatch,
    pairs: &[(u32, u32)],
) -> Result<RecordBatch> {
    hits_from(rules, batch, pairs, 0)
}

/// The hits table of a batch whose first row is row `base` of the whole input.
pub(crate) fn hits_from(
    rules: &SigmaRules,
    batch: &RecordBatch,
    pairs: &[(u32, u32)],
    base: u64,
) -> Result<RecordBatch> {
    let times = match batch.column_by_name(TIME_COLUMN) {
        Some(a) => crate::columns::array_times(a.as_ref(), TIME_COLUMN).ok(),
        None => None,
    };
    let mut rows = Vec::with_capacity(pairs.len());
    let mut ids = StringBuilder::new();
    let mut titles = StringBuilder::new();
    let mut levels = StringBuilder::new();
    let mut tags = ListBuilder::new(StringBuilder::new());
    let mut ts = Vec::with_capacity(pairs.len());
    for &(row, r) in pairs {
        let Some(info) = rules
            .plan
            .rules
            .get(r as usize)
            .and_then(|(i, _)| rules.rules.get(*i))
        else {
            continue;
        };
        rows.push(base + row as u64);
        ids.append_value(&info.id);
        titles.append_value(&info.title);
        levels.append_value(&info.level);
        for t in &info.tags {
            tags.values().append_value(t);
        }
        tags.append(true);
        ts.push(times.as_ref().and_then(|t| t.get(row as usize)));
    }
    let schema = Schema::new(vec![
        Field::new("row", DataType::UInt64, false),
        Field::new("rule_id", DataType::Utf8, false),
        Field::new("title", DataType::Utf8, false),
        Field::new("level", DataType::Utf8, false),
        Field::new("tags", tags_type(), false),
        Field::new(
            TIME_COLUMN,
            DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
            true,
        ),
    ]);
    let columns: Vec<ArrayRef> = vec![
        Arc::new(UInt64Array::from(rows)),
        Arc::new(ids.finish()),
        Arc::new(titles.finish()),
        Arc::new(levels.finish()),
        Arc::new(tags.finish()),
        Arc::new(TimestampNanosecondArray::from(ts).with_timezone("UTC")),
    ];
    Ok(RecordBatch::try_new(Arc::new(schema), columns)?)
}

/// The fields [`annotation`] returns.
pub(crate) fn annotation_fields() -> Vec<Field> {
    vec![
        Field::new("sigma_max_level", DataType::UInt8, false),
        Field::new("sigma_rules", tags_type(), false),
    ]
}

/// `sigma_max_level` and `sigma_rules` for `rows` rows from (row, rule index) pairs sorted
/// by row.
pub(crate) fn annotation(
    rules: &[RuleInfo],
    rows: usize,
    pairs: &[(usize, usize)],
) -> Vec<ArrayRef> {
    let mut max = vec![0u8; rows];
    let mut list = ListBuilder::new(StringBuilder::new());
    let mut at = 0;
    for (row, m) in max.iter_mut().enumerate() {
        while let Some(&(r, i)) = pairs.get(at)
            && r == row
        {
            if let Some(info) = rules.get(i) {
                *m = (*m).max(level_rank(&info.level));
                list.values().append_value(&info.id);
            }
            at += 1;
        }
        list.append(true);
    }
    vec![Arc::new(UInt8Array::from(max)), Arc::new(list.finish())]
}

/// The report table.
pub(crate) fn report(issues: &[Issue]) -> Result<RecordBatch> {
    let col = |f: &dyn Fn(&Issue) -> &str| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(issues.iter().map(f)))
    };
    let schema = Schema::new(
        ["file", "rule_id", "title", "status", "kind", "reason"]
            .iter()
            .map(|n| Field::new(*n, DataType::Utf8, false))
            .collect::<Vec<_>>(),
    );
    Ok(RecordBatch::try_new(
        Arc::new(schema),
        vec![
            col(&|i| &i.file),
            col(&|i| &i.rule_id),
            col(&|i| &i.title),
            col(&|i| &i.status),
            col(&|i| i.reason.kind),
            col(&|i| &i.reason.detail),
        ],
    )?)
}
