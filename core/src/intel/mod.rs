//! Threat-intel indicators in, bulk matches over Arrow columns, sightings out.
//!
//! An [`Intel`] holds indicators of every [`IndicatorKind`] (addresses, networks, domains
//! exact or with subdomains, URLs, file hashes, e-mail addresses, substrings) loaded from
//! STIX 2.1 bundles, MISP events and feeds, CSV or plain lists ([`Intel::load`]) or added in
//! code ([`Intel::add`]), plus MISP warninglists that suppress known-benign matches.
//! [`Intel::match_batch`] matches many columns at once, each with a [`ColumnKind`], and
//! returns one row per (event row, column, indicator); [`IntelStage`] is the per-event
//! pipeline stage (`intel_hits`, `intel_max_confidence`); [`stix_sightings`] and
//! [`misp_sightings`] write what was seen.
//!
//! ```
//! # fn main() -> vigil::Result<()> {
//! use vigil::intel::{ColumnKind, Intel, IndicatorKind};
//! let mut intel = Intel::new();
//! intel.add(["10.0.0.0/8", "evil.example"], None, "mine", Some(80));
//! let batch = arrow::array::RecordBatch::try_from_iter([(
//!     "dst",
//!     std::sync::Arc::new(arrow::array::StringArray::from(vec!["10.1.2.3", "8.8.8.8"])) as _,
//! )])?;
//! let (matches, _) = intel.match_batch(&batch, &[("dst", ColumnKind::Ip)], None)?;
//! assert_eq!(matches.num_rows(), 1);
//! # Ok(()) }
//! ```

mod cpu_index;
mod csv;
mod direct;
#[cfg(test)]
mod fast_path_tests;
mod file;
mod hex;
mod index;
mod load;
mod matching;
mod misp;
mod names;
pub mod normalize;
mod output;
mod pattern;
mod phases;
mod resolve;
mod sightings;
mod stage;
mod stix;
mod table;
mod warninglist;

use std::collections::BTreeMap;

use serde::Serialize;

pub use matching::{ColumnKind, ColumnReport, MATCH_COLUMNS, MatchReport};
pub use normalize::{INDICATOR_KINDS, IndicatorKind};
pub use pattern::{
    Comparison, Observation, Pattern, PatternError, parse_pattern, pattern_indicators,
};
pub use sightings::{SightingOptions, misp_sightings, stix_sightings};
pub use stage::IntelStage;
pub use warninglist::{Warninglist, WarninglistType};

pub use file::{INTEL_FORMAT, INTEL_VERSION, MAX_INTEL_BYTES};
use table::{Entry, Table};

/// Counts of one source: what loaded, what was rejected and why.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SourceReport {
    /// The detected format (`stix`, `misp_event`, `misp_feed`, `warninglist`, `csv`, `list`,
    /// `code`).
    pub format: String,
    /// Indicators (or warninglist entries) loaded.
    pub loaded: u64,
    /// Duplicates of an indicator already held (metadata updated, not added twice).
    pub duplicates: u64,
    /// Rejected values, counted by reason.
    pub rejected: BTreeMap<String, u64>,
    /// The first few rejected values with their reasons.
    pub examples: Vec<(String, String)>,
}

const MAX_EXAMPLES: usize = 10;

impl SourceReport {
    /// Counts one rejection.
    pub fn reject(&mut self, value: &str, reason: &str) {
        *self.rejected.entry(reason.to_string()).or_default() += 1;
        if self.examples.len() < MAX_EXAMPLES {
            let v: String = value.chars().take(200).collect();
            self.examples.push((v, reason.to_string()));
        }
    }
}

/// An indicator to add: the value and what is known about it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NewIndicator {
    /// The value as given (normalised on add).
    pub value: String,
    /// Its kind (`None`: decided per value).
    pub kind: Option<IndicatorKind>,
    /// Its id in the source (a STIX id, a MISP attribute uuid), if any.
    pub id: Option<String>,
    /// Confidence 0..=100.
    pub confidence: Option<u8>,
    /// Start of validity, ns since the epoch.
    pub valid_from: Option<i64>,
    /// End of validity (expiry), ns since the epoch.
    pub valid_until: Option<i64>,
}

/// One stored indicator, as [`Intel::indicators`] lists it.
#[derive(Clone, Debug, PartialEq)]
pub struct IndicatorInfo {
    /// The id (the source's, or one derived from kind and value).
    pub id: String,
    /// The kind.
    pub kind: IndicatorKind,
    /// The normalised value.
    pub value: String,
    /// The source's name.
    pub source: String,
    /// Confidence 0..=100.
    pub confidence: Option<u8>,
    /// Start of validity (ns).
    pub valid_from: Option<i64>,
    /// Expiry (ns).
    pub valid_until: Option<i64>,
}

/// A set of indicators and warninglists; see the module docs.
#[derive(Clone, Default)]
pub struct Intel {
    table: Table,
    backend: crate::Backend,
    strict: bool,
    sources: Vec<String>,
    warninglists: Vec<Warninglist>,
    report: BTreeMap<String, SourceReport>,
}

impl std::fmt::Debug for Intel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Intel({} indicators, {} warninglists, {} sources)",
            self.len(),
            self.warninglists.len(),
            self.sources.len()
        )
    }
}

/// The id of an indicator without one: `indicator--<UUIDv5 of kind:value>` (stable, so the
/// same value gets the same STIX id everywhere).
pub fn derived_id(kind: IndicatorKind, value: &str) -> String {
    let ns = uuid::Uuid::from_u128(0x6b1c_7a3e_5f0e_4c61_9a2b_7d4e_11c0_ffee);
    let u = uuid::Uuid::new_v5(&ns, format!("{}:{value}", kind.name()).as_bytes());
    format!("indicator--{u}")
}

impl Intel {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Where the probe kernel runs (default [`crate::Backend::Auto`]).
    pub fn with_backend(mut self, backend: crate::Backend) -> Self {
        self.backend = backend;
        self
    }

    /// A GPU failure is an error instead of a CPU fallback (parity tests).
    #[doc(hidden)]
    pub fn strict_gpu(mut self) -> Self {
        self.strict = true;
        self
    }

    pub(crate) fn engine(&self) -> crate::engine::Engine {
        let mut e = crate::engine::Engine::new(self.backend);
        e.strict = self.strict;
        e
    }

    /// Live indicators.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Whether no indicator is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Loaded and rejected counts per source.
    pub fn report(&self) -> &BTreeMap<String, SourceReport> {
        &self.report
    }

    /// The warninglists held.
    pub fn warninglists(&self) -> &[Warninglist] {
        &self.warninglists
    }

    /// An estimate of the bytes the indicator table holds.
    pub fn memory_bytes(&self) -> usize {
        self.table.memory_bytes()
    }

    fn source_index(&mut self, source: &str) -> u32 {
        match self.sources.iter().position(|s| s == source) {
            Some(i) => i as u32,
            None => {
                self.sources.push(source.to_string());
                (self.sources.len() - 1) as u32
            }
        }
    }

    pub(crate) fn source_report(&mut self, source: &str, format: &str) -> &mut SourceReport {
        let r = self.report.entry(source.to_string()).or_default();
        if r.format.is_empty() {
            r.format = format.to_string();
        }
        r
    }

    pub(crate) fn source_name(&self, i: u32) -> &str {
        self.sources.get(i as usize).map_or("", String::as_str)
    }

    /// Adds one indicator from `source`; a rejected value is counted in the report with its
    /// reason. Returns whether it was added (a duplicate updates the held one's metadata).
    pub fn add_indicator(&mut self, source: &str, format: &str, ind: NewIndicator) -> bool {
        let norm = match normalize::normalize(&ind.value, ind.kind) {
            Ok(n) => n,
            Err(reason) => {
                self.source_report(source, format)
                    .reject(&ind.value, reason);
                return false;
            }
        };
        if let Some(c) = ind.confidence
            && c > 100
        {
            self.source_report(source, format)
                .reject(&ind.value, "confidence over 100");
            return false;
        }
        let src = self.source_index(source);
        let entry = Entry::new(
            norm.text,
            norm.kind,
            ind.id,
            src,
            ind.confidence,
            ind.valid_from,
            ind.valid_until,
            norm.net,
        );
        if let Some(i) = self.table.find_same(&entry) {
            if let Some(e) = self.table.entries.get_mut(i as usize) {
                e.confidence = entry.confidence;
                e.valid_from = entry.valid_from;
                e.valid_until = entry.valid_until;
            }
            self.source_report(source, format).duplicates += 1;
            return false;
        }
        self.table.push(entry);
        self.source_report(source, format).loaded += 1;
        true
    }

    /// Adds `values` of `kind` (`None`: decided per value) from `source` with an optional
    /// confidence; returns how many were added (rejections are in [`Intel::report`]).
    pub fn add<I, S>(
        &mut self,
        values: I,
        kind: Option<IndicatorKind>,
        source: &str,
        confidence: Option<u8>,
    ) -> usize
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut n = 0;
        self.source_report(source, "code");
        for v in values {
            let ind = NewIndicator {
                value: v.as_ref().to_string(),
                kind,
                confidence,
                ..Default::default()
            };
            n += usize::from(self.add_indicator(source, "code", ind));
        }
        n
    }

    /// Removes the indicators with these values (normalised as `kind`, `None` = per value),
    /// from `source` only when given; returns how many were removed.
    pub fn remove<I, S>(
        &mut self,
        values: I,
        kind: Option<IndicatorKind>,
        source: Option<&str>,
    ) -> usize
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut n = 0;
        for v in values {
            let Ok(norm) = normalize::normalize(v.as_ref(), kind) else {
                continue;
            };
            let hits: Vec<u32> = match norm.net {
                Some((bits, len)) => self.table.find_prefix(bits, len),
                None => self
                    .table
                    .find_key(norm.kind, &norm.text)
                    .map(|(i, _)| i)
                    .collect(),
            };
            for i in hits {
                let keep = source.is_some_and(|s| {
                    self.table
                        .entries
                        .get(i as usize)
                        .is_some_and(|e| self.source_name(e.source) != s)
                });
                if !keep {
                    self.table.remove(i);
                    n += 1;
                }
            }
        }
        self.maybe_compact();
        n
    }

    /// Removes every indicator whose `valid_until` is at or before `now` (ns since the
    /// epoch); returns how many.
    pub fn expire(&mut self, now: i64) -> usize {
        let dead: Vec<u32> = self
            .table
            .entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.live && e.valid_until.is_some_and(|u| u <= now))
            .map(|(i, _)| i as u32)
            .collect();
        for &i in &dead {
            self.table.remove(i);
        }
        self.maybe_compact();
        dead.len()
    }

    fn maybe_compact(&mut self) {
        if self.table.entries.len() > 1024 && self.table.len() * 2 < self.table.entries.len() {
            self.table.compact();
        }
    }

    /// Adds a warninglist (entries it cannot read are counted under its name in the report).
    pub fn add_warninglist(&mut self, list: Warninglist) {
        let name = list.name.clone();
        let r = self.source_report(&name, "warninglist");
        r.loaded += list.entries.len() as u64;
        for (v, why) in &list.rejected {
            r.reject(v, why);
        }
        self.warninglists.retain(|w| w.name != name);
        self.warninglists.push(list);
    }

    /// Every live indicator.
    pub fn indicators(&self) -> Vec<IndicatorInfo> {
        self.table
            .entries
            .iter()
            .filter(|e| e.live)
            .map(|e| self.info(e))
            .collect()
    }

    fn info(&self, e: &Entry) -> IndicatorInfo {
        IndicatorInfo {
            id: e
                .id
                .as_deref()
                .map_or_else(|| derived_id(e.kind, &e.value), str::to_string),
            kind: e.kind,
            value: e.value.to_string(),
            source: self.source_name(e.source).to_string(),
            confidence: e.confidence,
            valid_from: e.valid_from,
            valid_until: e.valid_until,
        }
    }

    /// Prefix lengths of the networks held (IPv4 as `/n`, IPv6 as `v6/n`), for diagnostics.
    pub fn prefix_lengths(&self) -> Vec<u8> {
        self.table.prefix_lengths()
    }
}
