//! Scored tables for polars: the new columns in the layouts polars holds, so that
//! `polars.from_arrow` takes them without converting (polars keeps strings as views and
//! lists with 64-bit offsets; handed `Utf8` and `List`, it would build a converted copy).

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch, StringViewArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Schema};
use arrow::error::ArrowError;
use arrow::pyarrow::Table;

/// The polars layout of a column type: `Utf8` as `Utf8View`, `List` as `LargeList`.
fn polars_type(t: &DataType) -> DataType {
    match t {
        DataType::Utf8 => DataType::Utf8View,
        DataType::List(item) => DataType::LargeList(item.clone()),
        other => other.clone(),
    }
}

/// `array` in the layout of `to`: an all-null string column becomes views that are never
/// written (zeroed on allocation), others are cast.
fn convert(array: &ArrayRef, to: &DataType) -> Result<ArrayRef, ArrowError> {
    if array.data_type() == to {
        return Ok(array.clone());
    }
    if *to == DataType::Utf8View && array.null_count() == array.len() {
        return Ok(Arc::new(StringViewArray::new_null(array.len())));
    }
    cast(array, to)
}

/// `table` with its columns from `from` on (those a call appended to its input's) in
/// polars' layouts; the earlier columns are left as they are.
pub(crate) fn table(table: Table, from: usize) -> Result<Table, ArrowError> {
    let (batches, schema) = table.into_inner();
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| {
            if i < from {
                f.as_ref().clone()
            } else {
                f.as_ref()
                    .clone()
                    .with_data_type(polars_type(f.data_type()))
            }
        })
        .collect();
    let schema = Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()));
    let batches = batches
        .iter()
        .map(|b| {
            let columns = b
                .columns()
                .iter()
                .zip(schema.fields())
                .map(|(a, f)| convert(a, f.data_type()))
                .collect::<Result<Vec<_>, _>>()?;
            RecordBatch::try_new(schema.clone(), columns)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Table::try_new(batches, schema)
}
