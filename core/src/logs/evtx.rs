//! Windows event logs into Arrow: `.evtx` files (one file, or every `*.evtx` under a
//! directory, files read in parallel) and the same events as JSON (evtx_dump's output,
//! Winlogbeat / Elastic Agent documents, flat objects; JSON lines, concatenated objects or
//! arrays).
//!
//! Every batch of one read has the same columns, in this order:
//!
//! | column | type | from |
//! |---|---|---|
//! | `timestamp` | Timestamp(ns, "UTC") | `System/TimeCreated/@SystemTime` |
//! | `event_id` | UInt32 | `System/EventID` (Windows stores a 16-bit number) |
//! | `provider` | Utf8 | `System/Provider/@Name` |
//! | `channel`, `computer` | Utf8 | `System/Channel`, `System/Computer` |
//! | `record_id` | UInt64 | `System/EventRecordID` |
//! | `level`, `task`, `opcode` | UInt32 | `System/Level`, `Task`, `Opcode` (numbers only) |
//! | `keywords` | Utf8 | `System/Keywords` as Windows shows it: `0x8020000000000000` |
//! | `process_id`, `thread_id` | UInt32 | `System/Execution/@ProcessID`, `@ThreadID` |
//! | `user_sid` | Utf8 | `System/Security/@UserID` |
//! | `source_file` | Utf8 | the file the event came from |
//! | `event_data` | List<Utf8> | unnamed `EventData/Data` items, in order (null when none) |
//! | `user_data` | Utf8 | JSON object of `Event`'s other children (`UserData`, ...) |
//! | `parse_error` | Utf8 | why the record could not be read (null when it could) |
//! | one per field name | Utf8 | named `EventData/Data` items, as Windows names them |
//!
//! The named columns (`CommandLine`, `Image`, `TargetObject`, ...: the names Sigma rules use)
//! are the union over everything read, in first-seen order; an event without a field has null
//! there. The children of `UserData`'s element are named columns too (as hayabusa and chainsaw
//! read them), besides `user_data`. Values are text as Windows renders them in XML (numbers in
//! decimal, `0x` hex where Windows uses hex). A field named like a fixed column gets a `_`
//! appended; past [`MAX_FIELD_COLUMNS`] names in one batch, further fields go to `_extra` as a
//! JSON object.
//!
//! Rows in = records found: a record (or a whole chunk, or a file whose header is not EVTX)
//! that cannot be read keeps one row with `parse_error` and `source_file` set (and `record_id`
//! when known); [`EvtxReport`] counts them. A file cut short (not a whole number of 64 KiB
//! chunks) is read up to the cut, and one more damaged row says where it was cut.

mod batch;
mod event;
pub mod json;
mod merge;
mod rendered;

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use ::evtx::{EvtxParser, ParserSettings, SerializedEvtxRecord};
use arrow::array::RecordBatch;
use rayon::prelude::*;

use crate::error::{Error, Result};
use event::EventRow;
pub use json::MAX_DOCUMENT_BYTES;
use merge::FileRead;

/// Column: event time (UTC, ns).
pub const TIMESTAMP: &str = "timestamp";
/// Column: the event id.
pub const EVENT_ID: &str = "event_id";
/// Column: the provider name.
pub const PROVIDER: &str = "provider";
/// Column: the channel (`Security`, `Microsoft-Windows-Sysmon/Operational`, ...).
pub const CHANNEL: &str = "channel";
/// Column: the computer name.
pub const COMPUTER: &str = "computer";
/// Column: the event record id.
pub const RECORD_ID: &str = "record_id";
/// Column: the level.
pub const LEVEL: &str = "level";
/// Column: the task.
pub const TASK: &str = "task";
/// Column: the opcode.
pub const OPCODE: &str = "opcode";
/// Column: the keywords mask, as hex text.
pub const KEYWORDS: &str = "keywords";
/// Column: the id of the process that logged the event.
pub const PROCESS_ID: &str = "process_id";
/// Column: the id of the thread that logged the event.
pub const THREAD_ID: &str = "thread_id";
/// Column: the SID of the user the event was logged as.
pub const USER_SID: &str = "user_sid";
/// Column: the file the event was read from.
pub const SOURCE_FILE: &str = "source_file";
/// Column: unnamed `Data` items.
pub const EVENT_DATA: &str = "event_data";
/// Column: `UserData` and other nested children of `Event`, as JSON text.
pub const USER_DATA: &str = "user_data";
/// Column: why a record could not be read.
pub const PARSE_ERROR: &str = "parse_error";
/// Column: fields past [`MAX_FIELD_COLUMNS`], as a JSON object.
pub const EXTRA: &str = super::EXTRA;
/// Most named field columns in one batch.
pub const MAX_FIELD_COLUMNS: usize = super::MAX_COLUMNS;

/// What the input files are.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EventFormat {
    /// A file: EVTX when named `*.evtx` or starting with the EVTX signature, else JSON. A
    /// directory: its `*.evtx` files.
    #[default]
    Auto,
    /// EVTX files (a directory: `*.evtx`).
    Evtx,
    /// JSON events (a directory: `*.json`, `*.jsonl`, `*.ndjson`).
    Json,
}

impl EventFormat {
    /// Parses `auto`, `evtx` or `json`.
    pub fn parse(name: &str) -> Result<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(EventFormat::Auto),
            "evtx" => Ok(EventFormat::Evtx),
            "json" | "jsonl" | "ndjson" => Ok(EventFormat::Json),
            other => Err(Error::param(
                "format",
                format!("`{other}` is not one of auto, evtx, json"),
            )),
        }
    }
}

/// How to read.
#[derive(Clone, Debug)]
pub struct EvtxOptions {
    /// Most rows per batch (default 65,536).
    pub batch_rows: usize,
    /// What the files are (default: decided per file).
    pub format: EventFormat,
}

impl Default for EvtxOptions {
    fn default() -> Self {
        EvtxOptions {
            batch_rows: super::DEFAULT_BATCH_ROWS,
            format: EventFormat::Auto,
        }
    }
}

/// What a read found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EvtxReport {
    /// Files read.
    pub files: u64,
    /// Rows produced: records found (read or damaged) plus one per unreadable file or chunk.
    pub records: u64,
    /// Rows whose record was read.
    pub parsed: u64,
    /// Rows with a `parse_error`.
    pub damaged: u64,
    /// Files whose header could not be read (each one damaged row).
    pub unreadable_files: u64,
    /// EVTX files cut short inside a chunk (read up to the cut).
    pub truncated_files: u64,
    /// The first few damaged rows: (file, reason).
    pub examples: Vec<(String, String)>,
}

impl EvtxReport {
    fn count(&mut self, rows: &[EventRow], source: &str) {
        self.records += rows.len() as u64;
        for r in rows {
            match &r.error {
                None => self.parsed += 1,
                Some(why) => {
                    self.damaged += 1;
                    if self.examples.len() < 5 {
                        self.examples.push((source.to_string(), why.clone()));
                    }
                }
            }
        }
    }

    /// Adds another read's counts to this one (examples up to five).
    pub fn merge(&mut self, other: &EvtxReport) {
        self.files += other.files;
        self.records += other.records;
        self.parsed += other.parsed;
        self.damaged += other.damaged;
        self.unreadable_files += other.unreadable_files;
        self.truncated_files += other.truncated_files;
        for e in &other.examples {
            if self.examples.len() < 5 {
                self.examples.push(e.clone());
            }
        }
    }
}

/// The columns every read has, before the named fields (the schema of an empty read).
pub fn fixed_schema() -> arrow::datatypes::SchemaRef {
    std::sync::Arc::new(arrow::datatypes::Schema::new(batch::fixed_fields()))
}

/// Reads `path` (a file, or a directory searched recursively) with default options; see the
/// module docs for the columns. All batches share one schema.
pub fn read_evtx(path: impl AsRef<Path>) -> Result<(Vec<RecordBatch>, EvtxReport)> {
    read_evtx_with(path, &EvtxOptions::default())
}

/// Reads `path` as [`read_evtx`] does, with `options`. Files are read in parallel (rayon);
/// the batches come in file order (paths sorted), then record order. Files holding fewer
/// events than a batch share batches: consecutive files' events are merged into batches of
/// up to `batch_rows` rows (`source_file` says which file each row came from).
pub fn read_evtx_with(
    path: impl AsRef<Path>,
    options: &EvtxOptions,
) -> Result<(Vec<RecordBatch>, EvtxReport)> {
    let files = event_files(path.as_ref(), options.format)?;
    read_evtx_files(&files, options)
}

/// Reads `files` (each an EVTX or JSON events file, as `options.format` says) as
/// [`read_evtx_with`] reads a directory's: in parallel, in the order given, the events of
/// small files sharing batches.
pub fn read_evtx_files(
    files: &[PathBuf],
    options: &EvtxOptions,
) -> Result<(Vec<RecordBatch>, EvtxReport)> {
    let rows = options.batch_rows.max(1);
    let per_file: Vec<Result<FileRead>> = if files.len() == 1 {
        files
            .iter()
            .map(|f| read_one(f, options.format, rows, true))
            .collect()
    } else {
        files
            .par_iter()
            .map(|f| read_one(f, options.format, rows, false))
            .collect()
    };
    let reads = per_file.into_iter().collect::<Result<Vec<_>>>()?;
    let (batches, report) = merge::merge(reads, rows)?;
    let schema = batch::union_schema(&batches);
    let batches = batches
        .iter()
        .map(|b| batch::align(b, &schema))
        .collect::<Result<Vec<_>>>()?;
    Ok((batches, report))
}

/// Reads JSON events from `input` (JSON lines, concatenated objects or arrays), naming
/// `source` in `source_file`. Bad JSON and non-events become damaged rows; see the module docs.
pub fn read_event_json(
    input: impl std::io::BufRead,
    source: &str,
    batch_rows: usize,
) -> Result<(Vec<RecordBatch>, EvtxReport)> {
    let mut report = EvtxReport {
        files: 1,
        ..EvtxReport::default()
    };
    let mut split = json::Splitter::new(input);
    let mut batches = Vec::new();
    loop {
        let (rows, done) = json::next_rows(&mut split, batch_rows.max(1));
        if !rows.is_empty() {
            report.count(&rows, source);
            batches.push(batch::build_batch(&rows, source)?);
        }
        if done {
            break;
        }
    }
    let schema = batch::union_schema(&batches);
    let batches = batches
        .iter()
        .map(|b| batch::align(b, &schema))
        .collect::<Result<Vec<_>>>()?;
    Ok((batches, report))
}

/// The files a read of `path` takes, sorted: `path` itself when a file; under a directory
/// (recursively, not following directory links) the `*.evtx` files, or with
/// [`EventFormat::Json`] the `*.json`, `*.jsonl` and `*.ndjson` files.
pub fn event_files(path: &Path, format: EventFormat) -> Result<Vec<PathBuf>> {
    let meta = std::fs::metadata(path).map_err(|source| Error::Io {
        path: path.display().to_string(),
        source,
    })?;
    if !meta.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let exts: &[&str] = match format {
        EventFormat::Json => &["json", "jsonl", "ndjson"],
        _ => &["evtx"],
    };
    let mut out = Vec::new();
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|source| Error::Io {
            path: dir.display().to_string(),
            source,
        })?;
        for e in entries {
            let e = e.map_err(|source| Error::Io {
                path: dir.display().to_string(),
                source,
            })?;
            let p = e.path();
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() {
                stack.push(p);
            } else if p
                .extension()
                .and_then(|x| x.to_str())
                .is_some_and(|x| exts.iter().any(|e| x.eq_ignore_ascii_case(e)))
            {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The reason an error gives, with its causes.
fn reason(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        let t = inner.to_string();
        if !s.ends_with(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        src = inner.source();
    }
    s
}

const EVTX_MAGIC: &[u8; 8] = b"ElfFile\0";
const EVTX_HEADER: u64 = 4096;
const EVTX_CHUNK: u64 = 65536;

/// Whether `path` is to be read as EVTX: its name ends in `.evtx`, or it starts with the EVTX
/// signature.
fn is_evtx(path: &Path) -> std::io::Result<bool> {
    use std::io::Read;
    if path
        .extension()
        .and_then(|x| x.to_str())
        .is_some_and(|x| x.eq_ignore_ascii_case("evtx"))
    {
        return Ok(true);
    }
    let mut head = [0u8; 8];
    let mut f = File::open(path)?;
    let n = f.read(&mut head)?;
    Ok(n == 8 && &head == EVTX_MAGIC)
}

/// Reads one file into batches. An unreadable file is one damaged row, not an error.
fn read_one(path: &Path, format: EventFormat, batch_rows: usize, alone: bool) -> Result<FileRead> {
    let source = path.display().to_string();
    let evtx = match format {
        EventFormat::Evtx => Ok(true),
        EventFormat::Json => Ok(false),
        EventFormat::Auto => is_evtx(path),
    };
    let open_failed = |why: String| -> Result<FileRead> {
        let rows = vec![EventRow::damaged(why, None)];
        let mut report = EvtxReport {
            files: 1,
            unreadable_files: 1,
            ..EvtxReport::default()
        };
        report.count(&rows, &source);
        Ok(FileRead {
            source: source.clone(),
            batches: Vec::new(),
            tail: rows,
            report,
        })
    };
    match evtx {
        Err(e) => open_failed(format!("cannot open the file: {e}")),
        Ok(false) => match File::open(path) {
            Ok(f) => {
                let (batches, report) =
                    read_event_json(BufReader::with_capacity(1 << 20, f), &source, batch_rows)?;
                Ok(FileRead {
                    source: source.clone(),
                    batches,
                    tail: Vec::new(),
                    report,
                })
            }
            Err(e) => open_failed(format!("cannot open the file: {e}")),
        },
        Ok(true) => read_evtx_file(path, &source, batch_rows, alone, open_failed),
    }
}

/// The rows of one rendered record (or its error).
fn record_row(rec: ::evtx::err::Result<SerializedEvtxRecord<Vec<u8>>>) -> EventRow {
    match rec {
        Err(e) => {
            let id = match &e {
                ::evtx::err::EvtxError::FailedToParseRecord { record_id, .. } => Some(*record_id),
                _ => None,
            };
            EventRow::damaged(reason(&e), id)
        }
        Ok(r) => {
            // The common shape is read straight off the bytes; the rest takes the general path.
            let parsed = match rendered::row_from_rendered(&r.data) {
                Some(row) => Ok(row),
                None => serde_json::from_slice::<serde_json::Value>(&r.data)
                    .map_err(|e| e.to_string())
                    .and_then(|v| event::event_from_json(&v)),
            };
            match parsed {
                Ok(mut row) => {
                    row.record_id = row.record_id.or(Some(r.event_record_id));
                    if row.timestamp.is_none() {
                        row.timestamp = i64::try_from(r.timestamp.as_nanosecond()).ok();
                    }
                    row
                }
                Err(why) => EventRow::damaged(
                    format!(
                        "record {}: rendered JSON unreadable: {why}",
                        r.event_record_id
                    ),
                    Some(r.event_record_id),
                ),
            }
        }
    }
}

fn read_evtx_file(
    path: &Path,
    source: &str,
    batch_rows: usize,
    alone: bool,
    open_failed: impl Fn(String) -> Result<FileRead>,
) -> Result<FileRead> {
    let len = match std::fs::metadata(path) {
        Ok(m) => m.len(),
        Err(e) => return open_failed(format!("cannot open the file: {e}")),
    };
    // The crate skips a partial last chunk: pad a file cut inside a chunk with zeros to a whole
    // chunk, so the records before the cut are read and the one across it is damaged.
    let truncated = len > EVTX_HEADER && !(len - EVTX_HEADER).is_multiple_of(EVTX_CHUNK);
    // Chunks in parallel only when nothing else runs on the pool: the crate's pipeline waits
    // for pool tasks, which would deadlock a pool whose threads all wait.
    let threads = if alone && rayon::current_thread_index().is_none() {
        rayon::current_num_threads()
    } else {
        1
    };
    let settings = ParserSettings::new().num_threads(threads).indent(false);
    let mut report = EvtxReport {
        files: 1,
        truncated_files: u64::from(truncated),
        ..EvtxReport::default()
    };
    let mut batches = Vec::new();
    // Whole batches are built here (on this file's thread); the last, short one is left as
    // rows for [`merge::merge`] to share a batch with the next files' events.
    let mut tail = Vec::new();
    let mut sink = |rows: &mut Vec<EventRow>| -> Result<()> {
        report.count(rows, source);
        if rows.len() >= batch_rows {
            batches.push(batch::build_batch(rows, source)?);
            rows.clear();
        } else {
            tail.append(rows);
        }
        Ok(())
    };
    if truncated {
        let mut bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) => return open_failed(format!("cannot read the file: {e}")),
        };
        let whole = EVTX_HEADER + (len - EVTX_HEADER).div_ceil(EVTX_CHUNK) * EVTX_CHUNK;
        bytes.resize(usize::try_from(whole).unwrap_or(bytes.len()), 0);
        match EvtxParser::from_buffer(bytes) {
            Ok(p) => {
                let mut p = p.with_configuration(settings);
                in_batches(p.serialized_records(render), batch_rows, &mut sink)?;
            }
            Err(e) => return open_failed(format!("not an EVTX file: {}", reason(&e))),
        }
        // The cut itself keeps a row, so a file cut inside its first chunk's header is not lost.
        let chunk = (len - EVTX_HEADER) / EVTX_CHUNK;
        let why = format!(
            "the file ends {len} bytes in, inside chunk {chunk}: records past the cut are lost"
        );
        log::warn!("{source}: {why}");
        sink(&mut vec![EventRow::damaged(why, None)])?;
    } else {
        match EvtxParser::from_path(path) {
            Ok(p) => {
                let mut p = p.with_configuration(settings);
                in_batches(p.serialized_records(render), batch_rows, &mut sink)?;
            }
            Err(e) => return open_failed(format!("not an EVTX file: {}", reason(&e))),
        }
    }
    Ok(FileRead {
        source: source.to_string(),
        batches,
        tail,
        report,
    })
}

/// Renders one record (on the crate's worker threads) into its row.
fn render(r: ::evtx::err::Result<::evtx::EvtxRecord<'_>>) -> ::evtx::err::Result<EventRow> {
    Ok(record_row(r.and_then(|r| r.into_json_bytes())))
}

/// Feeds the rows of `records` to `sink` in batches of `batch_rows`.
fn in_batches(
    records: impl Iterator<Item = ::evtx::err::Result<EventRow>>,
    batch_rows: usize,
    sink: &mut impl FnMut(&mut Vec<EventRow>) -> Result<()>,
) -> Result<()> {
    let mut rows = Vec::with_capacity(batch_rows.min(1 << 16));
    for r in records {
        rows.push(r.unwrap_or_else(|e| EventRow::damaged(reason(&e), None)));
        if rows.len() >= batch_rows {
            sink(&mut rows)?;
        }
    }
    if !rows.is_empty() {
        sink(&mut rows)?;
    }
    Ok(())
}
