//! Matching columns of a batch against the indicator table: every value normalised the way
//! indicators are, probed against the hash indexes (one probe per prefix length for
//! addresses, one per label suffix for domains), warninglists consulted for each hit.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch, StringBuilder, UInt8Builder, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::Intel;
use super::normalize::{
    IndicatorKind, label_suffixes, normalize_domain, normalize_email, normalize_hash,
    normalize_url, parse_ip,
};
use crate::columns::{Strings, column};
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

enum Probe {
    Empty,
    Invalid,
    Values(String, Option<u128>, Vec<u32>),
}

const ROWS_PER_TASK: usize = 1 << 15;

impl Intel {
    fn probe(&self, kind: ColumnKind, raw: &str, at: Option<i64>) -> Probe {
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

    fn suppressor(&self, kind: ColumnKind, raw: &str, norm: &str, ip: Option<u128>) -> Option<u16> {
        let norm = match ip {
            Some(bits) => super::normalize::ip_text(bits),
            None => norm.to_string(),
        };
        self.warninglists
            .iter()
            .position(|w| w.contains(kind, raw, &norm, ip))
            .map(|i| i as u16)
    }

    /// Hits of one column, in row order, and its counts.
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
        let parts: Vec<(Vec<Hit>, [u64; 4])> = (0..n.div_ceil(ROWS_PER_TASK))
            .into_par_iter()
            .map(|task| {
                let mut hits = Vec::new();
                // empty, invalid, matched rows, suppressed
                let mut c = [0u64; 4];
                let end = ((task + 1) * ROWS_PER_TASK).min(n);
                for row in task * ROWS_PER_TASK..end {
                    if array.is_null(row) {
                        c[0] += 1;
                        continue;
                    }
                    let Ok(raw) = std::str::from_utf8(strings.row(row)) else {
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
                (hits, c)
            })
            .collect();
        let mut report = ColumnReport {
            column: name.to_string(),
            kind: kind.name().to_string(),
            rows: n as u64,
            ..Default::default()
        };
        let mut hits = Vec::new();
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
    /// row, column, indicator) with [`MATCH_COLUMNS`], ordered by row then column, and the
    /// per-column counts. Values that are not valid for their kind match nothing and are
    /// counted as invalid.
    pub fn match_batch(
        &self,
        batch: &RecordBatch,
        columns: &[(&str, ColumnKind)],
        at: Option<i64>,
    ) -> Result<(RecordBatch, MatchReport)> {
        let mut all: Vec<(u16, Hit)> = Vec::new();
        let mut report = MatchReport::default();
        let mut arrays = Vec::new();
        for (ci, (name, kind)) in columns.iter().enumerate() {
            let array = column(batch, name)?;
            let (hits, r) = self.column_hits(array.as_ref(), name, *kind, at)?;
            all.extend(hits.into_iter().map(|h| (ci as u16, h)));
            report.columns.push(r);
            arrays.push(match array.data_type() {
                DataType::Dictionary(_, _) => arrow::compute::cast(array, &DataType::Utf8)?,
                _ => array.clone(),
            });
        }
        all.sort_by_key(|(c, h)| (h.row, *c));
        let n = all.len();
        let mut row = Vec::with_capacity(n);
        let mut col = StringBuilder::with_capacity(n, n * 8);
        let mut value = StringBuilder::with_capacity(n, n * 16);
        let mut id = StringBuilder::with_capacity(n, n * 48);
        let mut kind = StringBuilder::with_capacity(n, n * 6);
        let mut source = StringBuilder::with_capacity(n, n * 8);
        let mut conf = UInt8Builder::with_capacity(n);
        let mut sup = StringBuilder::with_capacity(n, 0);
        for (c, h) in &all {
            let ci = usize::from(*c);
            let (name, _) = columns.get(ci).copied().unwrap_or(("", ColumnKind::Ip));
            row.push(u64::from(h.row));
            col.append_value(name);
            match arrays.get(ci) {
                Some(a) => value.append_value(event_text(a.as_ref(), h.row as usize)),
                None => value.append_null(),
            }
            let Some(e) = self.table.entries.get(h.entry as usize) else {
                continue;
            };
            match &e.id {
                Some(i) => id.append_value(i),
                None => id.append_value(super::derived_id(e.kind, &e.value)),
            }
            kind.append_value(e.kind.name());
            source.append_value(self.source_name(e.source));
            conf.append_option(e.confidence);
            sup.append_option(
                h.suppressed
                    .and_then(|w| self.warninglists.get(usize::from(w)))
                    .map(|w| w.name.as_str()),
            );
        }
        let cols: Vec<ArrayRef> = vec![
            Arc::new(UInt64Array::from(row)),
            Arc::new(col.finish()),
            Arc::new(value.finish()),
            Arc::new(id.finish()),
            Arc::new(kind.finish()),
            Arc::new(source.finish()),
            Arc::new(conf.finish()),
            Arc::new(sup.finish()),
        ];
        Ok((RecordBatch::try_new(match_schema(), cols)?, report))
    }
}

/// The schema of the match table.
pub fn match_schema() -> Arc<Schema> {
    let s = |n: &str, null: bool| Field::new(n, DataType::Utf8, null);
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

fn event_text(array: &dyn Array, row: usize) -> String {
    match Strings::new(array, "") {
        Ok(s) if row < s.len() => String::from_utf8_lossy(s.row(row)).into_owned(),
        _ => String::new(),
    }
}
