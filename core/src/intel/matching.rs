//! Matching columns of a batch against the indicator table: every value normalised the way
//! indicators are, probed against the hash indexes (one probe per prefix length for
//! addresses, one per label suffix for domains), warninglists consulted for each hit.

use arrow::array::{Array, ArrayRef, RecordBatch};
use arrow::datatypes::DataType;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::Intel;
use super::normalize::{
    IndicatorKind, label_suffixes, normalize_domain, normalize_email, normalize_hash,
    normalize_url, parse_ip,
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

    /// Hits of one column, in row order, and its counts (see [`Intel::column_hit_chunks`]).
    pub(crate) fn column_hits(
        &self,
        array: &dyn Array,
        name: &str,
        kind: ColumnKind,
        at: Option<i64>,
        base: u32,
    ) -> Result<(Vec<Hit>, ColumnReport)> {
        let (chunks, report) = self.column_hit_chunks(array, name, kind, at, base)?;
        Ok((chunks.concat(), report))
    }

    /// Hits of one column and its counts, as one chunk per [`ROWS_PER_TASK`] rows (row
    /// order; rows numbered from `base`): every column of a batch is cut at the same rows.
    /// Addresses, domains and hashes go through the CPU's exact indexes in one pass, or on a
    /// GPU through the probe kernel and host resolution; rows either defers, and the other
    /// kinds, through the full normalisation.
    pub(crate) fn column_hit_chunks(
        &self,
        array: &dyn Array,
        name: &str,
        kind: ColumnKind,
        at: Option<i64>,
        base: u32,
    ) -> Result<(Vec<Vec<Hit>>, ColumnReport)> {
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
        // On the CPU, the one-pass path (`direct`) over exact indexes; on a GPU, the probe
        // kernel, then the host resolves what it found.
        let direct = mode.is_some() && self.engine().runs_on_cpu(strings.span_bytes(0, n))?;
        let cpu = direct.then(|| self.table.cpu_index());
        let index = if direct {
            None
        } else {
            mode.map(|_| self.table.index())
        };
        let probed = match (index, mode) {
            (Some(ix), Some(mode)) => self.engine().intel_probe(&strings, mode, &ix.table())?,
            _ => Vec::new(),
        };
        let parts: Vec<(Vec<Hit>, [u64; 4])> = (0..n.div_ceil(ROWS_PER_TASK))
            .into_par_iter()
            .map(|task| {
                let rows = task * ROWS_PER_TASK..((task + 1) * ROWS_PER_TASK).min(n);
                // Room for a hit per row: one growth at most where rows hit two networks.
                let mut hits = Vec::with_capacity(rows.len());
                // empty, invalid, matched rows, suppressed
                let mut c = [0u64; 4];
                match cpu {
                    Some(cx) => {
                        self.direct_hits(cx, kind, array, &strings, rows, at, &mut hits, &mut c);
                    }
                    None => self.probed_hits(
                        index, &probed, kind, array, &strings, rows, at, &mut hits, &mut c,
                    ),
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
        let mut chunks = Vec::with_capacity(parts.len());
        for (mut h, c) in parts {
            report.empty += c[0];
            report.invalid += c[1];
            report.matched_rows += c[2];
            report.suppressed += c[3];
            report.matches += h.len() as u64;
            if base != 0 {
                for x in &mut h {
                    x.row += base;
                }
            }
            chunks.push(h);
        }
        Ok((chunks, report))
    }

    /// Hits of rows `rows` of a column from the probe kernel's words (`probed`, empty for
    /// kinds it does not probe): the rows it found candidates for are resolved in batches,
    /// the rows it deferred (and every row of other kinds) take the full path.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn probed_hits(
        &self,
        index: Option<&super::index::ProbeIndex>,
        probed: &[u32],
        kind: ColumnKind,
        array: &dyn Array,
        strings: &Strings<'_>,
        rows: std::ops::Range<usize>,
        at: Option<i64>,
        hits: &mut Vec<Hit>,
        c: &mut [u64; 4],
    ) {
        let mut pending = Vec::with_capacity(RESOLVE_BATCH);
        for row in rows {
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
                                self.resolve_batch(ix, kind, strings, &mut pending, at, hits, c);
                            }
                        }
                        continue;
                    }
                    _ => {}
                }
            }
            if let Some(ix) = index {
                // Row order: resolve the rows waiting before this one.
                self.resolve_batch(ix, kind, strings, &mut pending, at, hits, c);
            }
            self.full_row(kind, row, bytes, at, hits, c);
        }
        if let Some(ix) = index {
            self.resolve_batch(ix, kind, strings, &mut pending, at, hits, c);
        }
    }

    /// One row through the full normalisation (no index): its hits and counts.
    pub(super) fn full_row(
        &self,
        kind: ColumnKind,
        row: usize,
        bytes: &[u8],
        at: Option<i64>,
        hits: &mut Vec<Hit>,
        c: &mut [u64; 4],
    ) {
        let Ok(raw) = std::str::from_utf8(bytes) else {
            c[1] += 1;
            return;
        };
        match self.probe(kind, raw, at) {
            Probe::Empty => c[0] += 1,
            Probe::Invalid => c[1] += 1,
            Probe::Values(norm, ip, entries) => {
                if entries.is_empty() {
                    return;
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

    /// Matches `columns` of `batch` (each `(name, kind)`) against the indicators valid at
    /// `at` (ns since the epoch; `None` = ignore validity times). Returns one row per (event
    /// row, column, indicator) with [`MATCH_COLUMNS`], ordered by row then column, and the
    /// per-column counts. `row` is UInt64, `value` Utf8View (the event's text, viewed from
    /// the input's buffers), `indicator_id` Utf8View, `confidence` UInt8; `column`, `kind`,
    /// `source` and `suppressed_by` are dictionary-encoded (`Dictionary(Int32, Utf8)`, a
    /// categorical in polars): few distinct values repeated over many rows. Values that are not valid
    /// for their kind match nothing and are counted as invalid.
    pub fn match_batch(
        &self,
        batch: &RecordBatch,
        columns: &[(&str, ColumnKind)],
        at: Option<i64>,
    ) -> Result<(RecordBatch, MatchReport)> {
        self.match_batches(std::slice::from_ref(batch), columns, at)
    }

    /// [`Intel::match_batch`] over `batches` taken as one table (rows numbered on across
    /// the batches), without joining them first: a polars frame or a Parquet file arrives
    /// as many batches, and copying them into one costs more than matching them.
    pub fn match_batches(
        &self,
        batches: &[RecordBatch],
        columns: &[(&str, ColumnKind)],
        at: Option<i64>,
    ) -> Result<(RecordBatch, MatchReport)> {
        let mut per_column: Vec<Vec<Vec<Hit>>> = Vec::with_capacity(columns.len());
        // The batch of each chunk (the same for every column).
        let mut chunk_batch: Vec<usize> = Vec::new();
        let mut report = MatchReport::default();
        let mut arrays: Vec<Vec<(u32, ArrayRef)>> = Vec::with_capacity(columns.len());
        let mut phases = super::phases::Phases::start();
        if phases.on() {
            // Built here (it is built on first use anyway) to time it apart.
            let _ = self.table.cpu_index();
            phases.lap(|| "index".into());
        }
        for (ci, (name, kind)) in columns.iter().enumerate() {
            let mut hits: Vec<Vec<Hit>> = Vec::new();
            let mut parts = Vec::with_capacity(batches.len());
            let mut rep = ColumnReport {
                column: name.to_string(),
                kind: kind.name().to_string(),
                ..Default::default()
            };
            let mut base = 0u32;
            for (b, batch) in batches.iter().enumerate() {
                let array = column(batch, name)?;
                let next = u32::try_from(batch.num_rows())
                    .ok()
                    .and_then(|n| base.checked_add(n))
                    .ok_or_else(|| {
                        Error::param("batch", "more than 2^32 - 1 rows in one match call")
                    })?;
                let (h, r) = self.column_hit_chunks(array.as_ref(), name, *kind, at, base)?;
                if ci == 0 {
                    chunk_batch.extend(std::iter::repeat_n(b, h.len()));
                }
                hits.extend(h);
                rep.rows += r.rows;
                rep.empty += r.empty;
                rep.invalid += r.invalid;
                rep.matched_rows += r.matched_rows;
                rep.matches += r.matches;
                rep.suppressed += r.suppressed;
                parts.push((base, arrow::compute::cast(array, &DataType::Utf8View)?));
                base = next;
            }
            phases.lap(|| {
                let n: usize = hits.iter().map(Vec::len).sum();
                format!("column {name} ({n} hits, {} batches)", batches.len())
            });
            per_column.push(hits);
            report.columns.push(rep);
            arrays.push(parts);
        }
        let out = self.match_table(&per_column, &chunk_batch, columns, &arrays, &report)?;
        phases.lap(|| format!("table of {} rows", out.num_rows()));
        Ok((out, report))
    }
}
