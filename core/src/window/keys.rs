//! Entity keys and field values of a batch as the window code needs them.

use std::collections::HashMap;

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int64Array, RecordBatch, UInt64Array};
use arrow::buffer::NullBuffer;
use arrow::datatypes::{DataType, Float64Type, Int64Type, UInt64Type};
use arrow::row::{RowConverter, SortField};
use rayon::prelude::*;

use crate::columns::column;
use crate::error::{Error, Result};

type Map<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Rows whose entity ids are found one by one before the rest are looked up in parallel.
const HEAD: usize = 1 << 16;
/// A parallel lookup's answer for an entity the table does not hold yet.
const MISS: u32 = u32::MAX;

/// Dense ids of entities, stable across chunks. The hash table's keys are the entity's full
/// bytes and every hit compares them, so distinct entities never share an id. One string
/// column: the raw string; one dictionary-of-strings column (polars' Categorical): each
/// dictionary value is looked up once per batch and rows take their value's id; one integer
/// column: the value's 8 bytes; anything else: arrow's `RowConverter` encoding of all key
/// columns.
pub(crate) struct KeyTable {
    columns: Vec<String>,
    /// How keys are read (fixed by the first batch).
    kind: Option<KeyKind>,
    null_id: Option<u32>,
    map: Map<Box<[u8]>, u32>,
    /// Utf8View strings of at most 12 bytes, keyed by their view (length + inline bytes).
    short: ShortKeys,
    keys: Vec<Option<Box<[u8]>>>,
}

/// Ids of short strings by their 16-byte Utf8View view (length and bytes inline, bytes past
/// the length cleared): an open-addressing table with linear probing, one multiply-xor hash
/// of the two halves (seeded per table, so that crafted keys cannot be aimed at one bucket),
/// at most half full. Rows look up far more often than entities are added; a lookup reads one
/// key, next to its id, where a general hash map reads a control group and then a bucket.
struct ShortKeys {
    /// Key and id of each bucket (`EMPTY`: no key; no view of at most 12 bytes equals it).
    buckets: Vec<(u128, u32)>,
    shift: u32,
    len: usize,
    seed: (u64, u64),
}

impl ShortKeys {
    const EMPTY: u128 = u128::MAX;

    fn new() -> Self {
        use std::hash::BuildHasher;
        let random = foldhash::fast::RandomState::default();
        ShortKeys {
            buckets: vec![(Self::EMPTY, 0); 16],
            shift: 64 - 4,
            len: 0,
            seed: (random.hash_one(1u64) | 1, random.hash_one(2u64)),
        }
    }

    fn bucket(&self, k: u128) -> usize {
        let (lo, hi) = (k as u64, (k >> 64) as u64);
        let h = ((lo ^ self.seed.1).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ hi)
            .wrapping_mul(self.seed.0 ^ 0xC2B2_AE3D_27D4_EB4F | 1);
        (h >> self.shift) as usize
    }

    fn get(&self, k: u128) -> Option<u32> {
        let mask = self.buckets.len() - 1;
        let mut at = self.bucket(k);
        loop {
            let (key, id) = self.buckets[at & mask];
            if key == k {
                return Some(id);
            }
            if key == Self::EMPTY {
                return None;
            }
            at += 1;
        }
    }

    fn insert(&mut self, k: u128, id: u32) {
        if 2 * (self.len + 1) > self.buckets.len() {
            let grown = vec![(Self::EMPTY, 0); 2 * self.buckets.len()];
            let old = std::mem::replace(&mut self.buckets, grown);
            self.shift -= 1;
            self.len = 0;
            for (key, id) in old {
                if key != Self::EMPTY {
                    self.insert(key, id);
                }
            }
        }
        let mask = self.buckets.len() - 1;
        let mut at = self.bucket(k);
        while self.buckets[at & mask].0 != Self::EMPTY {
            at += 1;
        }
        self.buckets[at & mask] = (k, id);
        self.len += 1;
    }
}

/// How a batch's entity columns become key bytes.
enum KeyKind {
    /// One string column of this type: the raw bytes.
    Str(DataType),
    /// One dictionary column of this type whose values are strings: the value's raw bytes.
    Dict(DataType),
    /// One integer column of this type: the value as 8 little-endian bytes (u64 for UInt64).
    Int(DataType),
    /// Anything else: the row encoding of all key columns.
    Rows(RowConverter),
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
            kind: None,
            null_id: None,
            map: Map::default(),
            short: ShortKeys::new(),
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

    /// The key kind for the first batch's `arrays`.
    fn kind_for(&self, arrays: &[ArrayRef]) -> Result<KeyKind> {
        Ok(match arrays {
            [a] if is_string(a.data_type()) => KeyKind::Str(a.data_type().clone()),
            [a] if matches!(a.data_type(), DataType::Dictionary(_, v) if is_string(v)) => {
                KeyKind::Dict(a.data_type().clone())
            }
            [a] if a.data_type().is_integer() => KeyKind::Int(a.data_type().clone()),
            _ => {
                let fields = arrays
                    .iter()
                    .map(|a| SortField::new(a.data_type().clone()))
                    .collect();
                KeyKind::Rows(RowConverter::new(fields).map_err(|e| {
                    Error::InvalidInput(format!(
                        "entity columns {:?} cannot be grouped: {e}",
                        self.columns
                    ))
                })?)
            }
        })
    }

    /// The entity id of every row of `batch` (new entities get new ids).
    pub(crate) fn intern(&mut self, batch: &RecordBatch) -> Result<Vec<u32>> {
        let mut ids = vec![0; batch.num_rows()];
        self.intern_into(batch, &mut ids)?;
        Ok(ids)
    }

    /// [`intern`](Self::intern) into `ids` (one entry per row of `batch`), e.g. a part of a
    /// buffer over several batches.
    pub(crate) fn intern_into(&mut self, batch: &RecordBatch, ids: &mut [u32]) -> Result<()> {
        let arrays: Vec<ArrayRef> = self
            .columns
            .iter()
            .map(|c| column(batch, c).cloned())
            .collect::<Result<_>>()?;
        if self.kind.is_none() {
            self.kind = Some(self.kind_for(&arrays)?);
        }
        let single = match &self.kind {
            Some(KeyKind::Str(dt) | KeyKind::Dict(dt) | KeyKind::Int(dt)) => Some(dt.clone()),
            _ => None,
        };
        if let Some(dt) = single {
            let a = &arrays[0];
            if a.data_type() != &dt {
                return Err(Error::WrongType {
                    column: self.columns[0].clone(),
                    expected: format!("{dt}, as in the first batch"),
                    found: a.data_type().clone(),
                });
            }
            return self.intern_single(a, ids);
        }
        let Some(KeyKind::Rows(conv)) = &self.kind else {
            return Err(Error::InvalidInput("internal: no row converter".into()));
        };
        let rows = conv.convert_columns(&arrays).map_err(|e| {
            Error::InvalidInput(format!(
                "entity columns {:?} changed type between chunks or cannot be grouped: {e}",
                self.columns
            ))
        })?;
        for (id, row) in ids.iter_mut().zip(rows.iter()) {
            *id = self.id_of(Some(row.as_ref()));
        }
        Ok(())
    }

    /// Ids of one string, dictionary or integer column (its type checked by the caller).
    fn intern_single(&mut self, a: &ArrayRef, ids: &mut [u32]) -> Result<()> {
        let nulls = a.logical_nulls();
        let valid = |i: usize| nulls.as_ref().is_none_or(|n| n.is_valid(i));
        match a.data_type() {
            DataType::Dictionary(_, _) => {
                let dict = a.as_any_dictionary();
                let values = dict.values();
                let strings = crate::columns::Strings::new(values.as_ref(), &self.columns[0])?;
                let value_nulls = values.logical_nulls();
                let value_ids: Vec<u32> = (0..values.len())
                    .map(|j| {
                        let ok = value_nulls.as_ref().is_none_or(|n| n.is_valid(j));
                        self.id_of(ok.then(|| strings.row(j)))
                    })
                    .collect();
                let null = self.id_of(None);
                for ((i, k), id) in dict.normalized_keys().into_iter().enumerate().zip(ids) {
                    *id = if valid(i) {
                        value_ids.get(k).copied().unwrap_or(null)
                    } else {
                        null
                    };
                }
            }
            DataType::UInt64 => {
                let v = a.as_primitive::<UInt64Type>().values();
                for ((i, x), id) in v.iter().enumerate().zip(ids.iter_mut()) {
                    *id = self.id_of(valid(i).then(|| x.to_le_bytes()).as_ref().map(|b| &b[..]));
                }
            }
            dt if dt.is_integer() => {
                let cast = arrow::compute::cast(a.as_ref(), &DataType::Int64)?;
                let v = cast.as_primitive::<Int64Type>().values();
                for ((i, x), id) in v.iter().enumerate().zip(ids.iter_mut()) {
                    *id = self.id_of(valid(i).then(|| x.to_le_bytes()).as_ref().map(|b| &b[..]));
                }
            }
            DataType::Utf8View => {
                let views = a.as_string_view();
                self.ids_views(views, nulls.as_ref(), ids);
            }
            _ => {
                let strings = crate::columns::Strings::new(a.as_ref(), &self.columns[0])?;
                self.ids_parallel(|i| valid(i).then(|| strings.row(i)), ids);
            }
        }
        Ok(())
    }

    /// Ids of a Utf8View column's rows: a string of at most 12 bytes is looked up by its
    /// 16-byte view (length and bytes inline, so equal views are equal strings), never
    /// copied or compared byte by byte; longer strings by their bytes. First rows one by one,
    /// the rest in parallel as in [`ids_parallel`](Self::ids_parallel): the same ids as a
    /// sequential pass.
    fn ids_views(
        &mut self,
        a: &arrow::array::StringViewArray,
        nulls: Option<&NullBuffer>,
        ids: &mut [u32],
    ) {
        let views = a.views();
        let n = views.len().min(ids.len());
        let valid = |i: usize| nulls.is_none_or(|nb| nb.is_valid(i));
        // The view with bytes past the length cleared (padding is not relied on).
        let short_key = |v: u128| -> Option<u128> {
            let len = (v as u32) as usize;
            (len <= 12).then(|| v & (u128::MAX >> (96 - 8 * len)))
        };
        let one = |t: &mut KeyTable, i: usize| -> u32 {
            if !valid(i) {
                return t.id_of(None);
            }
            match short_key(views[i]) {
                Some(k) => match t.short.get(k) {
                    Some(id) => id,
                    None => {
                        let id = t.keys.len() as u32;
                        t.keys.push(Some(a.value(i).as_bytes().into()));
                        t.short.insert(k, id);
                        id
                    }
                },
                None => t.id_of(Some(a.value(i).as_bytes())),
            }
        };
        let lookup = |t: &KeyTable, i: usize| -> u32 {
            if !valid(i) {
                return t.null_id.unwrap_or(MISS);
            }
            match short_key(views[i]) {
                Some(k) => t.short.get(k).unwrap_or(MISS),
                None => t.map.get(a.value(i).as_bytes()).copied().unwrap_or(MISS),
            }
        };
        self.fill_ids(&mut ids[..n], one, lookup);
    }

    /// Ids (into `ids`) of rows `0..ids.len()` whose key bytes are `key(i)` (None = null). The first rows are
    /// looked up one by one (new entities get ids in first-seen order); the rest in parallel
    /// against the table as it then is, and the few rows holding entities it lacks one by one
    /// afterwards, in row order: the same ids as a sequential pass.
    fn ids_parallel<'k>(
        &mut self,
        key: impl Fn(usize) -> Option<&'k [u8]> + Sync,
        ids: &mut [u32],
    ) {
        self.fill_ids(
            ids,
            |t, i| t.id_of(key(i)),
            |t, i| match key(i) {
                None => t.null_id.unwrap_or(MISS),
                Some(b) => t.map.get(b).copied().unwrap_or(MISS),
            },
        );
    }

    /// Fills `ids[i]` for every row: the first [`HEAD`] rows one by one with `insert` (new
    /// entities numbered in first-seen order), the rest in parallel with `lookup` against the
    /// table as it then is ([`MISS`] for an entity it lacks), then those rows one by one with
    /// `insert`, in row order: the same ids as a sequential pass.
    fn fill_ids(
        &mut self,
        ids: &mut [u32],
        insert: impl Fn(&mut KeyTable, usize) -> u32,
        lookup: impl Fn(&KeyTable, usize) -> u32 + Sync,
    ) {
        let n = ids.len();
        let head = n.min(HEAD);
        for (i, id) in ids.iter_mut().enumerate().take(head) {
            *id = insert(self, i);
        }
        if n == head {
            return;
        }
        let table = &*self;
        ids[head..]
            .par_chunks_mut(1 << 14)
            .enumerate()
            .for_each(|(b, out)| {
                let from = head + (b << 14);
                for (j, id) in out.iter_mut().enumerate() {
                    *id = lookup(table, from + j);
                }
            });
        for (i, id) in ids.iter_mut().enumerate().skip(head) {
            if *id == MISS {
                *id = insert(self, i);
            }
        }
    }

    /// The key columns of entities `ids`, in order (null keys come back null). Each entity
    /// is decoded once, then gathered.
    pub(crate) fn decode(&self, ids: &[u32]) -> Result<Vec<ArrayRef>> {
        let ints = |signed: bool| -> ArrayRef {
            let word = |b: &[u8]| {
                let mut w = [0u8; 8];
                w.copy_from_slice(b.get(..8).unwrap_or(&[0; 8]));
                w
            };
            if signed {
                Arc::new(Int64Array::from_iter(
                    self.keys
                        .iter()
                        .map(|k| k.as_ref().map(|b| i64::from_le_bytes(word(b)))),
                ))
            } else {
                Arc::new(UInt64Array::from_iter(
                    self.keys
                        .iter()
                        .map(|k| k.as_ref().map(|b| u64::from_le_bytes(word(b)))),
                ))
            }
        };
        let all: Vec<ArrayRef> = match &self.kind {
            Some(KeyKind::Str(dt) | KeyKind::Dict(dt)) => {
                let strings = arrow::array::StringArray::from_iter(
                    self.keys
                        .iter()
                        .map(|k| k.as_ref().map(|b| String::from_utf8_lossy(b).into_owned())),
                );
                vec![arrow::compute::cast(&strings, dt)?]
            }
            Some(KeyKind::Int(dt)) => {
                vec![arrow::compute::cast(&ints(dt != &DataType::UInt64), dt)?]
            }
            Some(KeyKind::Rows(conv)) => {
                let parser = conv.parser();
                let rows = self
                    .keys
                    .iter()
                    .map(|k| parser.parse(k.as_deref().unwrap_or_default()));
                conv.convert_rows(rows)?
            }
            None => return Ok(Vec::new()),
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
