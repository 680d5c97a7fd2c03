//! Entity keys and field values of a batch as the window code needs them.

use std::collections::HashMap;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::buffer::NullBuffer;
use arrow::datatypes::{DataType, Float64Type, Int64Type};
use arrow::row::{RowConverter, SortField};

use crate::columns::column;
use crate::error::{Error, Result};

type Map<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Dense ids of entities, stable across chunks. The hash table's keys are the entity's full
/// bytes (the raw string for one string column, else arrow's `RowConverter` encoding of all
/// key columns) and every hit compares them, so distinct entities never share an id.
pub(crate) struct KeyTable {
    columns: Vec<String>,
    /// One string column: its type (the raw bytes are the key; null = `null_id`).
    string_type: Option<DataType>,
    null_id: Option<u32>,
    converter: Option<RowConverter>,
    map: Map<Box<[u8]>, u32>,
    keys: Vec<Option<Box<[u8]>>>,
}

fn is_string(dt: &DataType) -> bool {
    matches!(
        dt,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    )
}

impl KeyTable {
    pub(crate) fn new(columns: &[String]) -> Self {
        KeyTable {
            columns: columns.to_vec(),
            string_type: None,
            null_id: None,
            converter: None,
            map: Map::default(),
            keys: Vec::new(),
        }
    }

    /// Entities seen so far.
    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    fn id_of(&mut self, bytes: Option<&[u8]>) -> u32 {
        let Some(bytes) = bytes else {
            return *self.null_id.get_or_insert_with(|| {
                self.keys.push(None);
                (self.keys.len() - 1) as u32
            });
        };
        match self.map.get(bytes) {
            Some(&id) => id,
            None => {
                let id = self.keys.len() as u32;
                let owned: Box<[u8]> = bytes.into();
                self.keys.push(Some(owned.clone()));
                self.map.insert(owned, id);
                id
            }
        }
    }

    /// The entity id of every row of `batch` (new entities get new ids).
    pub(crate) fn intern(&mut self, batch: &RecordBatch) -> Result<Vec<u32>> {
        let arrays: Vec<ArrayRef> = self
            .columns
            .iter()
            .map(|c| column(batch, c).cloned())
            .collect::<Result<_>>()?;
        let first_batch = self.converter.is_none() && self.string_type.is_none();
        if first_batch {
            match arrays.as_slice() {
                [a] if is_string(a.data_type()) => self.string_type = Some(a.data_type().clone()),
                _ => {
                    let fields = arrays
                        .iter()
                        .map(|a| SortField::new(a.data_type().clone()))
                        .collect();
                    self.converter = Some(RowConverter::new(fields).map_err(|e| {
                        Error::InvalidInput(format!(
                            "entity columns {:?} cannot be grouped: {e}",
                            self.columns
                        ))
                    })?);
                }
            }
        }
        if let Some(dt) = self.string_type.clone() {
            let a = &arrays[0];
            if a.data_type() != &dt {
                return Err(Error::WrongType {
                    column: self.columns[0].clone(),
                    expected: format!("{dt}, as in the first batch"),
                    found: a.data_type().clone(),
                });
            }
            let strings = crate::columns::Strings::new(a.as_ref(), &self.columns[0])?;
            let nulls = a.logical_nulls();
            let mut ids = Vec::with_capacity(a.len());
            for i in 0..a.len() {
                let valid = nulls.as_ref().is_none_or(|n| n.is_valid(i));
                ids.push(self.id_of(valid.then(|| strings.row(i))));
            }
            return Ok(ids);
        }
        let Some(conv) = &self.converter else {
            return Err(Error::InvalidInput("internal: no row converter".into()));
        };
        let rows = conv.convert_columns(&arrays).map_err(|e| {
            Error::InvalidInput(format!(
                "entity columns {:?} changed type between chunks or cannot be grouped: {e}",
                self.columns
            ))
        })?;
        let mut ids = Vec::with_capacity(batch.num_rows());
        for row in rows.iter() {
            ids.push(self.id_of(Some(row.as_ref())));
        }
        Ok(ids)
    }

    /// The key columns of entities `ids`, in order (null keys come back null). Each entity
    /// is decoded once, then gathered.
    pub(crate) fn decode(&self, ids: &[u32]) -> Result<Vec<ArrayRef>> {
        let all: Vec<ArrayRef> = if let Some(dt) = &self.string_type {
            let strings = arrow::array::StringArray::from_iter(
                self.keys
                    .iter()
                    .map(|k| k.as_ref().map(|b| String::from_utf8_lossy(b).into_owned())),
            );
            vec![arrow::compute::cast(&strings, dt)?]
        } else if let Some(conv) = &self.converter {
            let parser = conv.parser();
            let rows = self
                .keys
                .iter()
                .map(|k| parser.parse(k.as_deref().unwrap_or_default()));
            conv.convert_rows(rows)?
        } else {
            return Ok(Vec::new());
        };
        let idx = arrow::array::UInt32Array::from(ids.to_vec());
        Ok(all
            .iter()
            .map(|a| arrow::compute::take(a.as_ref(), &idx, None))
            .collect::<std::result::Result<_, _>>()?)
    }

    /// The key columns' fields (after the first batch).
    pub(crate) fn columns(&self) -> &[String] {
        &self.columns
    }
}

/// A field's values as exact 64-bit codes: integers as themselves, floats by their bits
/// (-0.0 as 0.0, one NaN), strings and other types by a dense id from [`ValueTable`].
pub(crate) enum FieldValues {
    /// Integer field: the values (null slots hold 0).
    Int(Vec<i64>),
    /// Float field: the values as f64 (null slots hold NaN).
    Float(Vec<f64>),
    /// Any other type: a dense id per value (exact, byte-compared), usable for distinct counts.
    Codes(Vec<i64>),
}

/// Dense ids of field values of non-numeric types (strings, ...), stable across chunks.
pub(crate) struct ValueTable {
    converter: Option<RowConverter>,
    map: Map<Box<[u8]>, i64>,
}

impl ValueTable {
    pub(crate) fn new() -> Self {
        ValueTable {
            converter: None,
            map: Map::default(),
        }
    }

    fn codes(&mut self, name: &str, array: &ArrayRef) -> Result<Vec<i64>> {
        if self.converter.is_none() {
            self.converter = Some(
                RowConverter::new(vec![SortField::new(array.data_type().clone())]).map_err(
                    |e| Error::WrongType {
                        column: name.to_string(),
                        expected: format!("a comparable type ({e})"),
                        found: array.data_type().clone(),
                    },
                )?,
            );
        }
        let Some(conv) = &self.converter else {
            return Err(Error::InvalidInput("internal: no row converter".into()));
        };
        let rows = conv
            .convert_columns(std::slice::from_ref(array))
            .map_err(|e| {
                Error::InvalidInput(format!("field `{name}` changed type between chunks: {e}"))
            })?;
        let mut out = Vec::with_capacity(array.len());
        for row in rows.iter() {
            let next = self.map.len() as i64;
            let id = *self.map.entry(row.as_ref().into()).or_insert(next);
            out.push(id);
        }
        Ok(out)
    }
}

/// The field `name` of `batch` and its validity (NaN floats count as null).
pub(crate) fn field_values(
    batch: &RecordBatch,
    name: &str,
    table: &mut ValueTable,
) -> Result<(FieldValues, Option<NullBuffer>)> {
    let array = column(batch, name)?;
    let dt = array.data_type();
    let nulls = array.logical_nulls();
    if dt.is_integer() {
        if matches!(dt, DataType::UInt64) {
            let a = array.as_primitive::<arrow::datatypes::UInt64Type>();
            if let Some(i) = a.values().iter().position(|&v| v > i64::MAX as u64) {
                return Err(Error::InvalidInput(format!(
                    "field `{name}` row {i}: {} exceeds the Int64 range of aggregates",
                    a.value(i)
                )));
            }
        }
        let cast = arrow::compute::cast(array.as_ref(), &DataType::Int64)?;
        let values = cast.as_primitive::<Int64Type>().values().to_vec();
        return Ok((
            FieldValues::Int(values),
            nulls.filter(|n| n.null_count() > 0),
        ));
    }
    if dt.is_floating() {
        let cast = arrow::compute::cast(array.as_ref(), &DataType::Float64)?;
        let values = cast.as_primitive::<Float64Type>().values().to_vec();
        let valid = NullBuffer::from_iter(
            values
                .iter()
                .enumerate()
                .map(|(i, v)| !v.is_nan() && nulls.as_ref().is_none_or(|n| n.is_valid(i))),
        );
        return Ok((
            FieldValues::Float(values),
            Some(valid).filter(|n| n.null_count() > 0),
        ));
    }
    let codes = table.codes(name, array)?;
    Ok((
        FieldValues::Codes(codes),
        nulls.filter(|n| n.null_count() > 0),
    ))
}
