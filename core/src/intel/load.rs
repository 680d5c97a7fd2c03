//! [`Intel::load`]: any mix of files and folders, each one's format detected — a folder
//! with `manifest.json` is a MISP feed, any other folder is read file by file; JSON is a
//! STIX bundle, a MISP event or a warninglist (by its keys); text with a `value,kind`
//! header is CSV, else a plain list; a saved indicator file ([`Intel::save`]) merges in.

use std::path::Path;

use serde_json::Value;

use super::csv::is_csv;
use super::misp::{is_misp_event, is_warninglist};
use super::stix::is_stix;
use super::{Intel, file};
use crate::error::{Error, Result};

/// Largest single source file read (1 GiB).
pub const MAX_SOURCE_BYTES: u64 = 1 << 30;

fn read(path: &Path) -> Result<String> {
    let buf = crate::error::read_capped(path, MAX_SOURCE_BYTES)?;
    if buf.len() as u64 > MAX_SOURCE_BYTES {
        return Err(Error::InvalidInput(format!(
            "`{}` is over {} bytes; split it",
            path.display(),
            MAX_SOURCE_BYTES
        )));
    }
    // Invalid UTF-8 is replaced rather than refused: the bad values are then rejected
    // one by one and counted, and the rest of the file still loads.
    Ok(String::from_utf8(buf)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
}

fn name_of(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

impl Intel {
    /// Loads each path (files or folders), detecting formats; returns indicators added.
    /// Rejected values are counted per source in [`Intel::report`]; a file that is not any
    /// known format is an error naming it.
    pub fn load<P: AsRef<Path>>(&mut self, paths: &[P]) -> Result<usize> {
        let mut added = 0;
        for p in paths {
            added += self.load_path(p.as_ref())?;
        }
        Ok(added)
    }

    fn load_path(&mut self, path: &Path) -> Result<usize> {
        if path.is_dir() {
            if path.join("manifest.json").is_file() {
                return self.load_feed(path);
            }
            let mut files: Vec<_> = std::fs::read_dir(path)
                .map_err(|source| Error::Io {
                    path: path.display().to_string(),
                    source,
                })?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file() || p.join("list.json").is_file())
                .collect();
            files.sort();
            let mut added = 0;
            for f in files {
                let f = if f.is_dir() { f.join("list.json") } else { f };
                added += self.load_path(&f)?;
            }
            return Ok(added);
        }
        let text = read(path)?;
        let name = name_of(path);
        self.load_text(&text, &name)
    }

    /// Loads one source given as text, detecting its format; `name` is its source name.
    pub fn load_text(&mut self, text: &str, name: &str) -> Result<usize> {
        let trimmed = text.trim_start_matches('\u{feff}').trim_start();
        if trimmed.starts_with('{') || trimmed.starts_with('[') {
            let v: Value = serde_json::from_str(trimmed)
                .map_err(|e| Error::InvalidInput(format!("`{name}` is not valid JSON: {e}")))?;
            if file::is_intel_file(&v) {
                let other = file::from_value(v)?;
                return Ok(self.merge(&other));
            }
            if is_stix(&v) {
                return Ok(self.add_stix(&v, name));
            }
            if is_misp_event(&v) {
                return Ok(self.add_misp_event(&v, name));
            }
            if is_warninglist(&v) {
                self.add_warninglist_json(&v, name)?;
                return Ok(0);
            }
            return Err(Error::InvalidInput(format!(
                "`{name}`: JSON that is neither a STIX bundle, a MISP event, a MISP warninglist nor a vigil indicator file (a MISP feed's manifest.json: give its folder)"
            )));
        }
        if is_csv(trimmed) {
            Ok(self.add_csv(trimmed, name))
        } else {
            Ok(self.add_list(trimmed, None, name))
        }
    }

    fn load_feed(&mut self, dir: &Path) -> Result<usize> {
        let manifest_path = dir.join("manifest.json");
        let manifest: Value = serde_json::from_str(&read(&manifest_path)?).map_err(|e| {
            Error::InvalidInput(format!(
                "`{}` is not valid JSON: {e}",
                manifest_path.display()
            ))
        })?;
        let name = name_of(dir);
        self.source_report(&name, "misp_feed");
        let Some(events) = manifest.as_object() else {
            return Err(Error::InvalidInput(format!(
                "`{}` is not a MISP manifest (an object of event uuids)",
                manifest_path.display()
            )));
        };
        let mut added = 0;
        for uuid in events.keys() {
            let safe = !uuid.is_empty() && uuid.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
            if !safe {
                self.source_report(&name, "misp_feed")
                    .reject(uuid, "manifest key is not an event uuid");
                continue;
            }
            let path = dir.join(format!("{uuid}.json"));
            let text = match read(&path) {
                Ok(t) => t,
                Err(e) => {
                    self.source_report(&name, "misp_feed")
                        .reject(uuid, &format!("event file unreadable: {e}"));
                    continue;
                }
            };
            match serde_json::from_str::<Value>(&text) {
                Ok(v) => added += self.add_misp_event(&v, &name),
                Err(e) => self
                    .source_report(&name, "misp_feed")
                    .reject(uuid, &format!("event is not valid JSON: {e}")),
            }
        }
        if let Some(r) = self.report.get_mut(&name) {
            r.format = "misp_feed".into();
        }
        Ok(added)
    }

    /// Adds every indicator and warninglist of `other`; returns indicators added.
    pub fn merge(&mut self, other: &Intel) -> usize {
        let mut added = 0;
        for e in other.table.entries.iter().filter(|e| e.live) {
            let source = other.source_name(e.source).to_string();
            let ind = super::NewIndicator {
                value: e.value.to_string(),
                kind: Some(e.kind),
                id: e.id.as_deref().map(str::to_string),
                confidence: e.confidence,
                valid_from: e.valid_from,
                valid_until: e.valid_until,
            };
            added += usize::from(self.add_indicator(&source, "vigil", ind));
        }
        for w in &other.warninglists {
            self.add_warninglist(w.clone());
        }
        added
    }
}
