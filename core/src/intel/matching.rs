//! Matching columns of a batch against the indicator table: every value normalised the way
//! indicators are, probed against the hash indexes (one probe per prefix length for
//! addresses, one per label suffix for domains), warninglists consulted for each hit.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, DictionaryArray, PrimitiveArray, RecordBatch, StringArray, StringBuilder,
    UInt8Array, UInt8Builder, UInt16Array, UInt32Array, UInt64Array,
};
use arrow::datatypes::{ArrowDictionaryKeyType, DataType, Field, Schema};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::Intel;
use super::normalize::{
    INDICATOR_KINDS, IndicatorKind, label_suffixes, normalize_domain, normalize_email,
    normalize_hash, normalize_url, parse_ip,
};
use crate::columns::{Strings, column};
use crate::cpu::intel_probe as probe;
use crate::error::{Error, Result};

/// What the values of an event column are, which decides the indicators they meet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnKind {
    /// Addresses: meet `ip` and `cidr` indicators (the longest prefix wins).
    Ip,
    /// Host names: meet `domain` (exact) and `domain_suffix` indicators.
    Domain,
    /// URLs: meet `url` indicators.
    Url,
    /// Hex file hashes: meet `md5`, `sha1`, `sha256` by length.
    Hash,
    /// E-mail addresses: meet `email` indicators.
    Email,
    /// Any text: meets `substring` indicators.
    Substring,
}

impl ColumnKind {
    /// Parses `ip`, `domain`, `url`, `hash`, `email`, `substring` (and a few aliases).
    pub fn parse(name: &str) -> Result<Self> {
        Ok(match name.trim().to_ascii_lowercase().as_str() {
            "ip" | "ipv4" | "ipv6" | "addr" | "address" => ColumnKind::Ip,
            "domain" | "hostname" | "host" | "query" | "fqdn" => ColumnKind::Domain,
            "url" | "uri" => ColumnKind::Url,
            "hash" | "md5" | "sha1" | "sha256" => ColumnKind::Hash,
            "email" | "mail" => ColumnKind::Email,
            "substring" | "text" | "string" => ColumnKind::Substring,
            _ => {
                return Err(Error::param(
                    "kind",
                    format!(
                        "`{name}` is not a column kind (ip, domain, url, hash, email, substring)"
                    ),
                ));
            }
        })
    }

    /// The kind's name.
    pub fn name(self) -> &'static str {
        match self {
            ColumnKind::Ip => "ip",
            ColumnKind::Domain => "domain",
            ColumnKind::Url => "url",
            ColumnKind::Hash => "hash",
            ColumnKind::Email => "email",
            ColumnKind::Substring => "substring",
        }
    }
}

/// Counts for one matched column.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ColumnReport {
    /// The column.
    pub column: String,
    /// Its kind.
    pub kind: String,
    /// Rows seen.
    pub rows: u64,
    /// Null rows, empty strings and Zeek's `-` (unset).
    pub empty: u64,
    /// Values that are not a valid address / domain / URL / hash / e-mail (never matched).
    pub invalid: u64,
    /// Rows with at least one match.
    pub matched_rows: u64,
    /// Matches (rows of the result), suppressed ones included.
    pub matches: u64,
    /// Matches a warninglist suppressed.
    pub suppressed: u64,
}

/// Counts of one [`Intel::match_batch`] call, per column.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct MatchReport {
    /// One report per matched column, in the order asked.
    pub columns: Vec<ColumnReport>,
}

/// Columns of the match table, in order.
pub const MATCH_COLUMNS: [&str; 8] = [
    "row",
    "column",
    "value",
    "indicator_id",
    "kind",
    "source",
    "confidence",
    "suppressed_by",
];

/// One hit: event row, indicator entry, warninglist that suppressed it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Hit {
    pub row: u32,
    pub entry: u32,
    pub suppressed: Option<u16>,
}

pub(super) enum Probe {
    Empty,
    Invalid,
    Values(String, Option<u128>, Vec<u32>),
}

const ROWS_PER_TASK: usize = 1 << 15;
/// Probed rows resolved together (their memory loads overlap).
const RESOLVE_BATCH: usize = 16;

impl Intel {
    pub(super) fn probe(&self, kind: ColumnKind, raw: &str, at: Option<i64>) -> Probe {
        let t = raw.trim();
        if t.is_empty() || t == "-" || t == "(empty)" {
            return Probe::Empty;
        }
        let valid = |i: &u32| {
            self.table
                .entries
                .get(*i as usize)
                .is_some_and(|e| e.valid_at(at))
        };
        match kind {
            ColumnKind::Ip => match parse_ip(t) {
                Ok(bits) => Probe::Values(String::new(), Some(bits), self.table.find_net(bits, at)),
                Err(_) => Probe::Invalid,
            },
            ColumnKind::Domain => match normalize_domain(t) {
                Ok(name) => {
                    let mut hits: Vec<u32> = self
                        .table
                        .find_key(IndicatorKind::Domain, &name)
                        .map(|(i, _)| i)
                        .collect();
                    for s in label_suffixes(&name) {
                        hits.extend(
                            self.table
                                .find_key(IndicatorKind::DomainSuffix, s)
                                .map(|(i, _)| i),
                        );
                    }
                    hits.retain(valid);
                    Probe::Values(name, None, hits)
                }
                Err(_) => Probe::Invalid,
            },
            ColumnKind::Url | ColumnKind::Hash | ColumnKind::Email => {
                let norm = match kind {
                    ColumnKind::Url => normalize_url(t).map(|u| (u, IndicatorKind::Url)),
                    ColumnKind::Hash => normalize_hash(t),
                    _ => normalize_email(t).map(|e| (e, IndicatorKind::Email)),
                };
                match norm {
                    Ok((text, k)) => {
                        let mut hits: Vec<u32> =
                            self.table.find_key(k, &text).map(|(i, _)| i).collect();
                        hits.retain(valid);
                        Probe::Values(text, None, hits)
                    }
                    Err(_) => Probe::Invalid,
                }
            }
            ColumnKind::Substring => {
                let mut hits = self.table.find_substrings(raw.as_bytes());
                hits.retain(valid);
                Probe::Values(raw.to_string(), None, hits)
            }
        }
    }

    /// The probe kernel's raw output for a column (status, mask per row) on this set's
    /// backend; `None` for kinds the kernel does not probe. For parity tests.
    #[doc(hidden)]
    pub fn probe_words(&self, array: &dyn Array, kind: ColumnKind) -> Result<Option<Vec<u32>>> {
        let mode = match kind {
            ColumnKind::Ip => probe::MODE_IP,
            ColumnKind::Domain => probe::MODE_DOMAIN,
            ColumnKind::Hash => probe::MODE_HASH,
            _ => return Ok(None),
        };
        let strings = Strings::new(array, "probe")?;
        let ix = self.table.index();
        self.engine()
            .intel_probe(&strings, mode, &ix.table())
            .map(Some)
    }

    /// Hits of one column, in row order, and its counts. Addresses, domains and hashes go
    /// through the probe index (the kernel's twin); rows it defers, and the other kinds,
    /// through the full normalisation.
    pub(crate) fn column_hits(
        &self,
        array: &dyn Array,
        name: &str,
        kind: ColumnKind,
        at: Option<i64>,
    ) -> Result<(Vec<Hit>, ColumnReport)> {
        let cast;
        let array: &dyn Array = match array.data_type() {
            DataType::Dictionary(_, _) => {
                cast = arrow::compute::cast(array, &DataType::Utf8)?;
                cast.as_ref()
            }
            _ => array,
        };
        let strings = Strings::new(array, name)?;
        let n = array.len();
        let mode = match kind {
            ColumnKind::Ip => Some(probe::MODE_IP),
            ColumnKind::Domain => Some(probe::MODE_DOMAIN),
            ColumnKind::Hash => Some(probe::MODE_HASH),
            _ => None,
        };
        let index = mode.map(|_| self.table.index());
        let probed = match (index, mode) {
            (Some(ix), Some(mode)) => self.engine().intel_probe(&strings, mode, &ix.table())?,
            _ => Vec::new(),
        };
        let parts: Vec<(Vec<Hit>, [u64; 4])> = (0..n.div_ceil(ROWS_PER_TASK))
            .into_par_iter()
            .map(|task| {
                let mut hits = Vec::new();
                let mut pending = Vec::with_capacity(RESOLVE_BATCH);
                // empty, invalid, matched rows, suppressed
                let mut c = [0u64; 4];
                let end = ((task + 1) * ROWS_PER_TASK).min(n);
                for row in task * ROWS_PER_TASK..end {
                    if array.is_null(row) {
                        c[0] += 1;
                        continue;
                    }
                    let bytes = strings.row(row);
                    if let (Some(ix), Some(&status), Some(&mask)) =
                        (index, probed.get(2 * row), probed.get(2 * row + 1))
                    {
                        match status {
                            probe::EMPTY => {
                                c[0] += 1;
                                continue;
                            }
                            probe::INVALID => {
                                c[1] += 1;
                                continue;
                            }
                            probe::OK => {
                                if mask != 0 {
                                    pending.push((row, mask));
                                    if pending.len() == RESOLVE_BATCH {
                                        self.resolve_batch(
                                            ix,
                                            kind,
                                            &strings,
                                            &mut pending,
                                            at,
                                            &mut hits,
                                            &mut c,
                                        );
                                    }
                                }
                                continue;
                            }
                            _ => {}
                        }
                    }
                    if let Some(ix) = index {
                        // Row order: resolve the rows waiting before this one.
                        self.resolve_batch(ix, kind, &strings, &mut pending, at, &mut hits, &mut c);
                    }
                    let Ok(raw) = std::str::from_utf8(bytes) else {
                        c[1] += 1;
                        continue;
                    };
                    match self.probe(kind, raw, at) {
                        Probe::Empty => c[0] += 1,
                        Probe::Invalid => c[1] += 1,
                        Probe::Values(norm, ip, entries) => {
                            if entries.is_empty() {
                                continue;
                            }
                            c[2] += 1;
                            let sup = if self.warninglists.is_empty() {
                                None
                            } else {
                                self.suppressor(kind, raw, &norm, ip)
                            };
                            if sup.is_some() {
                                c[3] += entries.len() as u64;
                            }
                            hits.extend(entries.into_iter().map(|entry| Hit {
                                row: row as u32,
                                entry,
                                suppressed: sup,
                            }));
                        }
                    }
                }
                if let Some(ix) = index {
                    self.resolve_batch(ix, kind, &strings, &mut pending, at, &mut hits, &mut c);
                }
                (hits, c)
            })
            .collect();
        let mut report = ColumnReport {
            column: name.to_string(),
            kind: kind.name().to_string(),
            rows: n as u64,
            ..Default::default()
        };
        let mut hits = Vec::with_capacity(parts.iter().map(|p| p.0.len()).sum());
        for (h, c) in parts {
            report.empty += c[0];
            report.invalid += c[1];
            report.matched_rows += c[2];
            report.suppressed += c[3];
            hits.extend(h);
        }
        report.matches = hits.len() as u64;
        Ok((hits, report))
    }

    /// Matches `columns` of `batch` (each `(name, kind)`) against the indicators valid at
    /// `at` (ns since the epoch; `None` = ignore validity times). Returns one row per (event
    /// row, column, indicator) with [`MATCH_COLUMNS`] (text columns as Utf8View), ordered by
    /// row then column, and the per-column counts. Values that are not valid for their kind
    /// match nothing and are counted as invalid.
    pub fn match_batch(
        &self,
        batch: &RecordBatch,
        columns: &[(&str, ColumnKind)],
        at: Option<i64>,
    ) -> Result<(RecordBatch, MatchReport)> {
        let mut per_column: Vec<Vec<Hit>> = Vec::with_capacity(columns.len());
        let mut report = MatchReport::default();
        let mut arrays: Vec<ArrayRef> = Vec::new();
        for (name, kind) in columns {
            let array = column(batch, name)?;
            let (hits, r) = self.column_hits(array.as_ref(), name, *kind, at)?;
            per_column.push(hits);
            report.columns.push(r);
            arrays.push(arrow::compute::cast(array, &DataType::Utf8View)?);
        }
        let merged = merge_by_row(&per_column);
        self.match_table(&merged, columns, &arrays)
            .map(|batch| (batch, report))
    }

    /// The match table of `merged` (column index, hit) pairs.
    fn match_table(
        &self,
        merged: &[(u16, Hit)],
        columns: &[(&str, ColumnKind)],
        arrays: &[ArrayRef],
    ) -> Result<RecordBatch> {
        let n = merged.len();
        let entries = &self.table.entries;
        // Dense ids of the entries matched, in first-seen order (a slot per entry: no hashing).
        let mut dense = vec![u32::MAX; entries.len()];
        let mut ids = StringBuilder::new();
        let mut next = 0u32;
        let mut row = Vec::with_capacity(n);
        let mut col = Vec::with_capacity(n);
        let mut id = Vec::with_capacity(n);
        let mut kind = Vec::with_capacity(n);
        let mut source = Vec::with_capacity(n);
        let mut conf = UInt8Builder::with_capacity(n);
        let mut sup = Vec::with_capacity(n);
        let mut take = Vec::with_capacity(n);
        for (c, h) in merged {
            let e = entries.get(h.entry as usize);
            row.push(u64::from(h.row));
            col.push(*c);
            take.push((usize::from(*c), h.row as usize));
            let d = match dense.get_mut(h.entry as usize) {
                Some(d) if *d != u32::MAX => *d,
                slot => {
                    match e {
                        Some(e) => match &e.id {
                            Some(i) => ids.append_value(i),
                            None => ids.append_value(super::derived_id(e.kind, &e.value)),
                        },
                        None => ids.append_value(""),
                    }
                    if let Some(d) = slot {
                        *d = next;
                    }
                    next += 1;
                    next - 1
                }
            };
            id.push(d);
            kind.push(e.map_or(0, |e| e.kind as u8));
            source.push(e.map_or(0, |e| e.source));
            conf.append_option(e.and_then(|e| e.confidence));
            sup.push(h.suppressed);
        }
        let names: Vec<&str> = columns.iter().map(|(c, _)| *c).collect();
        let kinds: Vec<&str> = INDICATOR_KINDS.iter().map(|k| k.name()).collect();
        let lists: Vec<&str> = self.warninglists.iter().map(|w| w.name.as_str()).collect();
        let refs: Vec<&dyn Array> = arrays.iter().map(|a| a.as_ref()).collect();
        let value = if n == 0 {
            arrow::array::new_empty_array(&DataType::Utf8View)
        } else {
            arrow::compute::interleave(&refs, &take)?
        };
        let cols: Vec<ArrayRef> = vec![
            Arc::new(UInt64Array::from(row)),
            views(UInt16Array::from(col), &names)?,
            value,
            view_dict(UInt32Array::from(id), ids.finish())?,
            views(UInt8Array::from(kind), &kinds)?,
            views(UInt32Array::from(source), &self.sources)?,
            Arc::new(conf.finish()),
            views(UInt16Array::from(sup), &lists)?,
        ];
        Ok(RecordBatch::try_new(match_schema(), cols)?)
    }
}

/// A Utf8View column of `values[keys[i]]` (a dictionary cast to views: no per-row text copy).
fn views<K, S>(keys: PrimitiveArray<K>, values: &[S]) -> Result<ArrayRef>
where
    K: ArrowDictionaryKeyType,
    S: AsRef<str>,
{
    view_dict(
        keys,
        StringArray::from_iter_values(values.iter().map(AsRef::as_ref)),
    )
}

/// [`views`] of a built string array.
fn view_dict<K: ArrowDictionaryKeyType>(
    keys: PrimitiveArray<K>,
    values: StringArray,
) -> Result<ArrayRef> {
    let dict = DictionaryArray::<K>::try_new(keys, Arc::new(values))?;
    Ok(arrow::compute::cast(&dict, &DataType::Utf8View)?)
}

/// Hits of every column (each in row order) merged by row, then column.
fn merge_by_row(per_column: &[Vec<Hit>]) -> Vec<(u16, Hit)> {
    let mut at = vec![0usize; per_column.len()];
    let mut out = Vec::with_capacity(per_column.iter().map(Vec::len).sum());
    loop {
        let mut best: Option<(usize, u32)> = None;
        for (c, hits) in per_column.iter().enumerate() {
            if let Some(h) = at.get(c).and_then(|&i| hits.get(i))
                && best.is_none_or(|(_, r)| h.row < r)
            {
                best = Some((c, h.row));
            }
        }
        let Some((c, r)) = best else {
            return out;
        };
        let (Some(hits), Some(i)) = (per_column.get(c), at.get_mut(c)) else {
            return out;
        };
        while let Some(h) = hits.get(*i).filter(|h| h.row == r) {
            out.push((c as u16, *h));
            *i += 1;
        }
    }
}

/// The schema of the match table.
pub fn match_schema() -> Arc<Schema> {
    let s = |n: &str, null: bool| Field::new(n, DataType::Utf8View, null);
    Arc::new(Schema::new(vec![
        Field::new("row", DataType::UInt64, false),
        s("column", false),
        s("value", true),
        s("indicator_id", false),
        s("kind", false),
        s("source", false),
        Field::new("confidence", DataType::UInt8, true),
        s("suppressed_by", true),
    ]))
}
