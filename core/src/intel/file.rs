//! The versioned indicator file: JSON `{"format": "vigil-intel", "version": 1, "sources",
//! "indicators", "warninglists"}`, one indicator per compact array `[kind, value, id, source,
//! confidence, valid_from, valid_until]`. Loading follows the model-file rules: a size cap,
//! format and version checked, every value normalised again (a value that does not
//! normalise to itself, an unknown kind or a source index out of range is an error naming the
//! indicator), never a panic (fuzz target `intel_file`).

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::normalize::{IndicatorKind, normalize};
use super::table::Entry;
use super::warninglist::{Warninglist, WarninglistType};
use super::{Intel, SourceReport};
use crate::error::{Error, Result};

/// `format` of indicator files.
pub const INTEL_FORMAT: &str = "vigil-intel";
/// Version written (and the only one read).
pub const INTEL_VERSION: u32 = 1;
/// Largest indicator file read (2 GiB: about 20M indicators).
pub const MAX_INTEL_BYTES: u64 = 2 << 30;

type Row = (
    IndicatorKind,
    String,
    Option<String>,
    u32,
    Option<u8>,
    Option<i64>,
    Option<i64>,
);

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SavedList {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    entries: Vec<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Saved {
    format: String,
    version: u32,
    sources: Vec<String>,
    indicators: Vec<Row>,
    warninglists: Vec<SavedList>,
}

pub(crate) fn is_intel_file(v: &Value) -> bool {
    v.get("format").and_then(Value::as_str) == Some(INTEL_FORMAT)
}

fn bad(msg: String) -> Error {
    Error::Model(format!("indicator file: {msg}"))
}

pub(crate) fn from_value(v: Value) -> Result<Intel> {
    let fmt = v.get("format").and_then(Value::as_str).unwrap_or("");
    if fmt != INTEL_FORMAT {
        return Err(bad(format!("format is `{fmt}`, not `{INTEL_FORMAT}`")));
    }
    let ver = v.get("version").and_then(Value::as_u64).unwrap_or(0);
    if ver != u64::from(INTEL_VERSION) {
        return Err(bad(format!(
            "version {ver}; this vigil reads version {INTEL_VERSION}"
        )));
    }
    let saved: Saved = serde_json::from_value(v).map_err(|e| bad(e.to_string()))?;
    let mut intel = Intel::new();
    intel.sources = saved.sources;
    for (i, (kind, value, id, source, conf, from, until)) in
        saved.indicators.into_iter().enumerate()
    {
        if source as usize >= intel.sources.len() {
            return Err(bad(format!(
                "indicator {i}: source index {source} out of range"
            )));
        }
        if conf.is_some_and(|c| c > 100) {
            return Err(bad(format!("indicator {i}: confidence over 100")));
        }
        let norm = normalize(&value, Some(kind))
            .map_err(|why| bad(format!("indicator {i} (`{value}`): {why}")))?;
        if norm.text != value || norm.kind != kind {
            return Err(bad(format!(
                "indicator {i}: `{value}` is not in normal form (`{}`)",
                norm.text
            )));
        }
        let e = Entry::new(value, kind, id, source, conf, from, until, norm.net);
        if intel.table.find_same(&e).is_none() {
            intel.table.push(e);
        }
    }
    for w in saved.warninglists {
        let kind = WarninglistType::parse(&w.kind).map_err(bad)?;
        intel
            .warninglists
            .push(Warninglist::new(&w.name, kind, w.entries));
    }
    for (i, s) in intel.sources.iter().enumerate() {
        let loaded = intel
            .table
            .entries
            .iter()
            .filter(|e| e.source == i as u32)
            .count() as u64;
        intel.report.insert(
            s.clone(),
            SourceReport {
                format: "vigil".into(),
                loaded,
                ..Default::default()
            },
        );
    }
    Ok(intel)
}

impl Intel {
    /// The set as versioned JSON (live indicators and warninglists; reports are not saved).
    pub fn to_json(&self) -> Result<String> {
        let saved = Saved {
            format: INTEL_FORMAT.into(),
            version: INTEL_VERSION,
            sources: self.sources.clone(),
            indicators: self
                .table
                .entries
                .iter()
                .filter(|e| e.live)
                .map(|e| {
                    (
                        e.kind,
                        e.value.to_string(),
                        e.id.as_deref().map(str::to_string),
                        e.source,
                        e.confidence,
                        e.valid_from,
                        e.valid_until,
                    )
                })
                .collect(),
            warninglists: self
                .warninglists
                .iter()
                .map(|w| SavedList {
                    name: w.name.clone(),
                    kind: w.kind.name().into(),
                    entries: w.entries.clone(),
                })
                .collect(),
        };
        serde_json::to_string(&saved).map_err(|e| Error::Model(e.to_string()))
    }

    /// Reads a set from [`Intel::to_json`] (format, version, size and every value checked).
    pub fn from_json(text: &str) -> Result<Intel> {
        if text.len() as u64 > MAX_INTEL_BYTES {
            return Err(bad(format!("over {MAX_INTEL_BYTES} bytes")));
        }
        let v: Value = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
        from_value(v)
    }

    /// Writes [`Intel::to_json`] to `path`.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let p = path.as_ref();
        std::fs::write(p, self.to_json()?).map_err(|source| Error::Io {
            path: p.display().to_string(),
            source,
        })
    }

    /// Reads a file written by [`Intel::save`] (at most [`MAX_INTEL_BYTES`]).
    pub fn open(path: impl AsRef<Path>) -> Result<Intel> {
        Self::from_json(&crate::error::read_capped_text(
            path.as_ref(),
            MAX_INTEL_BYTES,
        )?)
    }
}
