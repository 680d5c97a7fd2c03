//! Raw log text into Arrow, streaming in bounded memory.
//!
//! [`LogReader`] reads a file (or any `BufRead`) line by line and yields record batches of
//! at most `batch_rows` rows. Every physical line becomes one row, except Zeek `#` directive
//! lines. Each batch has `_line` (1-based line number, UInt64), the format's fields (Utf8),
//! `_raw` (the line, only where it did not parse, unless [`LogReader::keep_raw`] keeps every
//! line) and `_error` (why it did not parse). A line
//! that does not parse keeps its row with null fields: nothing is dropped, and
//! [`ReadReport`] counts what happened. Invalid UTF-8 is replaced with U+FFFD (and counted);
//! a line longer than [`MAX_LINE_BYTES`] is cut there (and counted).

pub mod evtx;
pub mod formats;
mod header;

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow::array::{Array, ArrayRef, RecordBatch, StringBuilder, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema};

use crate::error::{Error, Result};
pub use header::{HeaderFormat, MAX_SPEC_BYTES, loghub_format};

/// Column: 1-based line number in the input.
pub const LINE: &str = "_line";
/// Column: the raw line, where it did not parse (null where it did).
pub const RAW: &str = "_raw";
/// Column: why a line did not parse (null where it did).
pub const ERROR: &str = "_error";
/// Column of JSON keys past [`MAX_COLUMNS`], as a JSON object.
pub const EXTRA: &str = "_extra";
/// Longest line kept whole; longer lines are cut to this many bytes.
pub const MAX_LINE_BYTES: usize = 16 << 20;
/// Most distinct columns per batch of a JSON-lines input; further keys go to [`EXTRA`].
pub const MAX_COLUMNS: usize = 1024;
/// Default rows per batch.
pub const DEFAULT_BATCH_ROWS: usize = 64 * 1024;

/// A log format.
#[derive(Clone, Debug)]
pub enum LogFormat {
    /// A header-format spec such as `<Date> <Time> <Level> <Component>: <Content>`.
    Header(HeaderFormat),
    /// Syslog, RFC 5424 or RFC 3164 (decided per line).
    Syslog,
    /// Apache/Nginx access log, common or combined.
    Access,
    /// JSON lines, nested objects flattened to `a.b` columns (Zeek JSON logs too).
    JsonLines,
    /// Zeek TSV logs with `#fields` headers.
    ZeekTsv,
}

impl LogFormat {
    /// Parses a format name: `syslog`, `apache`/`nginx`/`access`/`common`/`combined`,
    /// `jsonl`/`json`/`zeek_json`, `zeek`/`zeek_tsv`, `loghub:<System>`, or a header-format
    /// spec (anything containing `<Field>`).
    pub fn parse(name: &str) -> Result<Self> {
        let lower = name.trim().to_ascii_lowercase();
        Ok(match lower.as_str() {
            "syslog" | "rfc3164" | "rfc5424" => LogFormat::Syslog,
            "apache" | "nginx" | "access" | "common" | "combined" | "clf" => LogFormat::Access,
            "jsonl" | "json" | "ndjson" | "zeek_json" => LogFormat::JsonLines,
            "zeek" | "zeek_tsv" => LogFormat::ZeekTsv,
            _ => {
                if let Some(sys) = lower.strip_prefix("loghub:") {
                    let spec = loghub_format(sys).ok_or_else(|| {
                        Error::param("format", format!("no Loghub header format for `{sys}`"))
                    })?;
                    LogFormat::Header(HeaderFormat::new(spec)?)
                } else if name.contains('<') {
                    LogFormat::Header(HeaderFormat::new(name)?)
                } else {
                    return Err(Error::param(
                        "format",
                        format!(
                            "`{name}` is not one of syslog, apache, nginx, jsonl, zeek, zeek_json, loghub:<System>, or a header spec like `<Date> <Level>: <Content>`"
                        ),
                    ));
                }
            }
        })
    }
}

/// What a read found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReadReport {
    /// Rows produced (one per line, directive lines excepted).
    pub rows: u64,
    /// Rows whose line parsed.
    pub parsed: u64,
    /// Rows whose line did not parse (null fields, `_raw` and `_error` set).
    pub malformed: u64,
    /// Lines with invalid UTF-8 (replaced with U+FFFD).
    pub invalid_utf8: u64,
    /// Lines cut at [`MAX_LINE_BYTES`].
    pub truncated: u64,
    /// Zeek `#` directive lines (not rows).
    pub directives: u64,
    /// The first few malformed lines: (line number, reason).
    pub examples: Vec<(u64, String)>,
}

/// Builds one batch of Utf8 columns that may appear at any row.
struct Columns {
    names: Vec<String>,
    index: HashMap<String, usize>,
    builders: Vec<StringBuilder>,
    lens: Vec<usize>,
    rows: usize,
    extra: Option<StringBuilder>,
}

impl Columns {
    fn new(fixed: &[String]) -> Self {
        let mut c = Columns {
            names: Vec::new(),
            index: HashMap::new(),
            builders: Vec::new(),
            lens: Vec::new(),
            rows: 0,
            extra: None,
        };
        for n in fixed {
            c.column(n);
        }
        c
    }

    fn column(&mut self, name: &str) -> Option<usize> {
        if let Some(&i) = self.index.get(name) {
            return Some(i);
        }
        if self.names.len() >= MAX_COLUMNS {
            return None;
        }
        let mut b = StringBuilder::new();
        b.append_nulls(self.rows);
        self.index.insert(name.to_string(), self.names.len());
        self.names.push(name.to_string());
        self.builders.push(b);
        self.lens.push(self.rows);
        Some(self.names.len() - 1)
    }

    fn set(&mut self, i: usize, v: Option<&str>) {
        if self.lens[i] > self.rows {
            return; // duplicate key in one row: the first value stays
        }
        self.builders[i].append_option(v);
        self.lens[i] += 1;
    }

    fn end_row(&mut self, extra: Option<String>) {
        self.rows += 1;
        for (b, l) in self.builders.iter_mut().zip(self.lens.iter_mut()) {
            if *l < self.rows {
                b.append_null();
                *l = self.rows;
            }
        }
        if extra.is_some() && self.extra.is_none() {
            let mut b = StringBuilder::new();
            b.append_nulls(self.rows - 1);
            self.extra = Some(b);
        }
        if let Some(b) = &mut self.extra {
            b.append_option(extra);
        }
    }
}

/// How far a [`LogReader`] opened by [`LogReader::open_with_progress`] has read its file.
#[derive(Clone, Debug)]
pub struct FileProgress {
    read: Arc<AtomicU64>,
    total: u64,
}

impl FileProgress {
    /// Bytes read so far (the reader reads ahead of the rows it has returned by up to 1 MiB).
    pub fn read(&self) -> u64 {
        self.read.load(Ordering::Relaxed)
    }

    /// The file's size when it was opened.
    pub fn total(&self) -> u64 {
        self.total
    }
}

/// A reader that counts the bytes read, for [`FileProgress`].
struct Counting<R> {
    inner: R,
    read: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Reads a log into record batches, one line at a time; see the module docs.
pub struct LogReader {
    input: Box<dyn BufRead + Send>,
    format: LogFormat,
    batch_rows: usize,
    line_no: u64,
    zeek: formats::ZeekTsv,
    report: ReadReport,
    buf: Vec<u8>,
    done: bool,
    keep_raw: bool,
}

fn fixed_columns(format: &LogFormat) -> Vec<String> {
    match format {
        LogFormat::Header(h) => h.fields().to_vec(),
        LogFormat::Syslog => formats::SYSLOG_COLUMNS
            .iter()
            .map(|s| s.to_string())
            .collect(),
        LogFormat::Access => formats::ACCESS_COLUMNS
            .iter()
            .map(|s| s.to_string())
            .collect(),
        LogFormat::JsonLines | LogFormat::ZeekTsv => Vec::new(),
    }
}

impl LogReader {
    /// A reader of `input` in `format`, `batch_rows` rows per batch.
    pub fn new(input: Box<dyn BufRead + Send>, format: LogFormat, batch_rows: usize) -> Self {
        LogReader {
            input,
            format,
            batch_rows: batch_rows.max(1),
            line_no: 0,
            zeek: formats::ZeekTsv::default(),
            report: ReadReport::default(),
            buf: Vec::new(),
            done: false,
            keep_raw: false,
        }
    }

    /// With `keep` set, `_raw` holds every line, parsed or not (for output that shows the
    /// line itself, such as alerts); by default only lines that did not parse.
    pub fn keep_raw(&mut self, keep: bool) -> &mut Self {
        self.keep_raw = keep;
        self
    }

    /// A reader of the file at `path`.
    pub fn open(path: impl AsRef<Path>, format: LogFormat, batch_rows: usize) -> Result<Self> {
        Ok(Self::open_with_progress(path, format, batch_rows)?.0)
    }

    /// A reader of the file at `path`, and a [`FileProgress`] that counts the bytes it has
    /// read (for progress bars). A directory is [`Error::InvalidInput`].
    pub fn open_with_progress(
        path: impl AsRef<Path>,
        format: LogFormat,
        batch_rows: usize,
    ) -> Result<(Self, FileProgress)> {
        let path = path.as_ref();
        let io = |source| Error::Io {
            path: path.display().to_string(),
            source,
        };
        let file = File::open(path).map_err(io)?;
        let meta = file.metadata().map_err(io)?;
        if meta.is_dir() {
            return Err(Error::InvalidInput(format!(
                "`{}` is a directory; name a log file",
                path.display()
            )));
        }
        let progress = FileProgress {
            read: Arc::new(AtomicU64::new(0)),
            total: meta.len(),
        };
        let counting = Counting {
            inner: file,
            read: progress.read.clone(),
        };
        let reader = Self::new(
            Box::new(BufReader::with_capacity(1 << 20, counting)),
            format,
            batch_rows,
        );
        Ok((reader, progress))
    }

    /// Reads on after the end of the input: for an input that grows (a followed file, see
    /// [`crate::stream::LogTail`]), the next batches hold the lines appended since.
    pub fn resume(&mut self) {
        self.done = false;
    }

    /// What has been read so far.
    pub fn report(&self) -> &ReadReport {
        &self.report
    }

    /// Reads one line (without its `\n`) into `self.buf`, at most `MAX_LINE_BYTES` kept.
    /// Returns false at the end of input.
    fn read_line(&mut self) -> Result<bool> {
        self.buf.clear();
        let mut any = false;
        let mut cut = false;
        loop {
            let chunk = self.input.fill_buf().map_err(|source| Error::Io {
                path: "<log input>".into(),
                source,
            })?;
            if chunk.is_empty() {
                break;
            }
            any = true;
            let (take, found) = match chunk.iter().position(|&b| b == b'\n') {
                Some(i) => (i, true),
                None => (chunk.len(), false),
            };
            let room = MAX_LINE_BYTES.saturating_sub(self.buf.len());
            if take > room {
                cut = true;
            }
            self.buf.extend_from_slice(&chunk[..take.min(room)]);
            self.input.consume(if found { take + 1 } else { take });
            if found {
                break;
            }
        }
        if cut {
            self.report.truncated += 1;
        }
        if self.buf.last() == Some(&b'\r') {
            self.buf.pop();
        }
        Ok(any)
    }

    fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        if self.done {
            return Ok(None);
        }
        let mut cols = Columns::new(&fixed_columns(&self.format));
        let mut lines = Vec::with_capacity(self.batch_rows.min(1 << 16));
        let mut raw = StringBuilder::new();
        let mut err = StringBuilder::new();
        while cols.rows < self.batch_rows {
            if !self.read_line()? {
                self.done = true;
                break;
            }
            self.line_no += 1;
            let text = match std::str::from_utf8(&self.buf) {
                Ok(s) => std::borrow::Cow::Borrowed(s),
                Err(_) => {
                    self.report.invalid_utf8 += 1;
                    String::from_utf8_lossy(&self.buf)
                }
            };
            let line: &str = &text;
            let mut extra = None;
            let outcome: std::result::Result<(), String> = match &self.format {
                LogFormat::Header(h) => match h.parse(line) {
                    Some(vals) => {
                        for (i, v) in vals.into_iter().enumerate() {
                            cols.set(i, v);
                        }
                        Ok(())
                    }
                    None => Err(format!("does not match the header format `{}`", h.spec())),
                },
                LogFormat::Syslog | LogFormat::Access => {
                    let r = if matches!(self.format, LogFormat::Syslog) {
                        formats::syslog(line)
                    } else {
                        formats::access(line)
                    };
                    r.map(|vals| {
                        for (i, v) in vals.iter().enumerate() {
                            cols.set(i, v.as_deref());
                        }
                    })
                }
                LogFormat::JsonLines => formats::json(line).map(|pairs| {
                    let mut over = serde_json::Map::new();
                    for (k, v) in pairs {
                        match cols.column(&k) {
                            Some(i) => cols.set(i, v.as_deref()),
                            None => {
                                over.insert(
                                    k,
                                    v.map_or(serde_json::Value::Null, serde_json::Value::String),
                                );
                            }
                        }
                    }
                    if !over.is_empty() {
                        extra = Some(serde_json::Value::Object(over).to_string());
                    }
                }),
                LogFormat::ZeekTsv => {
                    if self.zeek.directive(line) {
                        self.report.directives += 1;
                        continue;
                    }
                    self.zeek.row(line).map(|vals| {
                        for (name, v) in self.zeek.fields.iter().zip(&vals) {
                            if let Some(i) = cols.column(name) {
                                cols.set(i, v.as_deref());
                            }
                        }
                    })
                }
            };
            lines.push(self.line_no);
            match outcome {
                Ok(()) => {
                    self.report.parsed += 1;
                    raw.append_option(self.keep_raw.then_some(line));
                    err.append_null();
                }
                Err(why) => {
                    self.report.malformed += 1;
                    if self.report.examples.len() < 5 {
                        self.report.examples.push((self.line_no, why.clone()));
                    }
                    raw.append_value(line);
                    err.append_value(why);
                }
            }
            self.report.rows += 1;
            cols.end_row(extra);
        }
        if cols.rows == 0 {
            return Ok(None);
        }
        let mut fields = vec![Field::new(LINE, DataType::UInt64, false)];
        let mut arrays: Vec<ArrayRef> = vec![Arc::new(UInt64Array::from(lines))];
        for (name, mut b) in cols.names.iter().zip(cols.builders) {
            fields.push(Field::new(name, DataType::Utf8, true));
            arrays.push(Arc::new(b.finish()));
        }
        if let Some(mut b) = cols.extra {
            fields.push(Field::new(EXTRA, DataType::Utf8, true));
            arrays.push(Arc::new(b.finish()));
        }
        fields.push(Field::new(RAW, DataType::Utf8, true));
        arrays.push(Arc::new(raw.finish()));
        fields.push(Field::new(ERROR, DataType::Utf8, true));
        arrays.push(Arc::new(err.finish()));
        // A field named like a reserved column (a JSON key `_raw`, say) would clash.
        let mut seen = std::collections::HashSet::new();
        for f in &mut fields {
            while !seen.insert(f.name().clone()) {
                *f = Field::new(format!("{}_", f.name()), f.data_type().clone(), true);
            }
        }
        Ok(Some(RecordBatch::try_new(
            Arc::new(Schema::new(fields)),
            arrays,
        )?))
    }
}

impl Iterator for LogReader {
    type Item = Result<RecordBatch>;
    fn next(&mut self) -> Option<Self::Item> {
        match self.next_batch() {
            Ok(Some(b)) => Some(Ok(b)),
            Ok(None) => None,
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// Concatenates batches whose columns may differ (JSON lines, Zeek logs with several
/// headers) into one: the union of columns in first-seen order, nulls where absent.
pub fn concat_batches(batches: &[RecordBatch]) -> Result<RecordBatch> {
    let mut names: Vec<(String, DataType)> = Vec::new();
    for b in batches {
        for f in b.schema().fields() {
            if !names.iter().any(|(n, _)| n == f.name()) {
                names.push((f.name().clone(), f.data_type().clone()));
            }
        }
    }
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    let mut fields = Vec::with_capacity(names.len());
    let mut arrays = Vec::with_capacity(names.len());
    for (name, dt) in &names {
        let parts: Vec<ArrayRef> = batches
            .iter()
            .map(|b| match b.column_by_name(name) {
                Some(c) if c.data_type() == dt => c.clone(),
                _ => arrow::array::new_null_array(dt, b.num_rows()),
            })
            .collect();
        let refs: Vec<&dyn Array> = parts.iter().map(|a| a.as_ref()).collect();
        let a = if refs.is_empty() {
            arrow::array::new_null_array(dt, 0)
        } else {
            arrow::compute::concat(&refs)?
        };
        fields.push(Field::new(name, dt.clone(), name != LINE));
        arrays.push(a);
    }
    let opts = arrow::array::RecordBatchOptions::new().with_row_count(Some(rows));
    Ok(RecordBatch::try_new_with_options(
        Arc::new(Schema::new(fields)),
        arrays,
        &opts,
    )?)
}

/// Reads the whole file at `path` into one batch (see [`concat_batches`]) and its report.
pub fn read_log(path: impl AsRef<Path>, format: LogFormat) -> Result<(RecordBatch, ReadReport)> {
    let mut reader = LogReader::open(path, format, DEFAULT_BATCH_ROWS)?;
    let batches = reader.by_ref().collect::<Result<Vec<_>>>()?;
    Ok((concat_batches(&batches)?, reader.report))
}
