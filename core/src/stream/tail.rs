//! `tail -f` of a growing text log: complete new lines are read, parsed by a log reader and
//! handed on as record batches of one schema.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use arrow::array::{ArrayRef, RecordBatch, new_null_array};
use arrow::datatypes::SchemaRef;

use crate::error::{Error, Result};
use crate::logs::{LogFormat, LogReader, ReadReport};

/// A file read up to its last complete line: a partial last line (a writer mid-line) is held
/// back until its newline arrives; at the current end of the file a read returns 0. At the
/// end it also looks at the path, like `tail -F`: a file that shrank (truncated, e.g. by
/// `copytruncate`) is read again from its start; a path that now names another file (the log
/// was rotated: renamed or removed and created anew) is opened and read from its start, once
/// the old file has been read to its end. A partial line held at either moment is ended there.
struct CompleteLines {
    file: File,
    path: PathBuf,
    /// Bytes read of `file`.
    pos: u64,
    partial: Vec<u8>,
    ready: VecDeque<u8>,
    /// Rotations and truncations followed.
    reopened: Arc<AtomicU64>,
    /// Set by [`LogTail::flush`]: at the end of the file, a held partial line is complete.
    end_partial: Arc<AtomicBool>,
}

impl CompleteLines {
    /// After a read at the end of the file: reopens or rewinds as the path says. Returns true
    /// when there may be new bytes to read.
    fn follow(&mut self) -> std::io::Result<bool> {
        let now = match std::fs::metadata(&self.path) {
            Ok(m) => m,
            // Rotated away and not created anew yet: keep the old file, look again later.
            Err(_) => return Ok(false),
        };
        if !same_file(&self.file.metadata()?, &now) {
            let Ok(file) = File::open(&self.path) else {
                return Ok(false);
            };
            log::warn!(
                "{}: the file was rotated; reading the new one from its start",
                self.path.display()
            );
            self.file = file;
            self.restart();
            return Ok(true);
        }
        if now.len() < self.pos {
            log::warn!(
                "{}: the file was truncated; reading it again from its start",
                self.path.display()
            );
            self.file.seek(SeekFrom::Start(0))?;
            self.restart();
            return Ok(true);
        }
        Ok(false)
    }

    fn restart(&mut self) {
        self.pos = 0;
        self.reopened.fetch_add(1, Ordering::Relaxed);
        if !self.partial.is_empty() {
            self.partial.push(b'\n');
            self.ready.extend(std::mem::take(&mut self.partial));
        }
    }
}

#[cfg(unix)]
fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    a.dev() == b.dev() && a.ino() == b.ino()
}

#[cfg(not(unix))]
fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    a.created().ok() == b.created().ok()
}

impl Read for CompleteLines {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.ready.is_empty() {
            let mut chunk = vec![0u8; 1 << 20];
            let mut n = self.file.read(&mut chunk)?;
            if n == 0 && self.follow()? && self.ready.is_empty() {
                n = self.file.read(&mut chunk)?;
            }
            if n == 0 && self.end_partial.load(Ordering::Relaxed) && !self.partial.is_empty() {
                self.partial.push(b'\n');
            }
            self.pos += n as u64;
            self.partial.extend_from_slice(&chunk[..n]);
            if let Some(last) = self.partial.iter().rposition(|&b| b == b'\n') {
                let rest = self.partial.split_off(last + 1);
                self.ready
                    .extend(std::mem::replace(&mut self.partial, rest));
            }
        }
        let n = out.len().min(self.ready.len());
        for (o, b) in out.iter_mut().zip(self.ready.drain(..n)) {
            *o = b;
        }
        Ok(n)
    }
}

/// Follows a text log as it grows (`tail -f`): each [`poll`](Self::poll) returns the lines
/// completed since the last one, parsed by the reader of `format` (every line a row, bad
/// ones with `_raw` and `_error`), in the schema of the first batch read (columns a later
/// line lacks are null; columns the first batch lacked are dropped, with a warning).
pub struct LogTail {
    reader: LogReader,
    schema: Option<SchemaRef>,
    path: String,
    reopened: Arc<AtomicU64>,
    end_partial: Arc<AtomicBool>,
}

impl LogTail {
    /// Follows `path` from its start (`from_end`: from its current end) in `format`, at most
    /// `batch_rows` rows per batch.
    pub fn open(
        path: impl AsRef<Path>,
        format: LogFormat,
        batch_rows: usize,
        from_end: bool,
    ) -> Result<Self> {
        let path = path.as_ref();
        let io = |source| Error::Io {
            path: path.display().to_string(),
            source,
        };
        let mut file = File::open(path).map_err(io)?;
        if file.metadata().map_err(io)?.is_dir() {
            return Err(Error::InvalidInput(format!(
                "`{}` is a directory; name a log file",
                path.display()
            )));
        }
        let pos = if from_end {
            file.seek(SeekFrom::End(0)).map_err(io)?
        } else {
            0
        };
        let reopened = Arc::new(AtomicU64::new(0));
        let end_partial = Arc::new(AtomicBool::new(false));
        let lines = CompleteLines {
            file,
            path: path.to_path_buf(),
            pos,
            partial: Vec::new(),
            ready: VecDeque::new(),
            reopened: reopened.clone(),
            end_partial: end_partial.clone(),
        };
        Ok(LogTail {
            reader: LogReader::new(Box::new(BufReader::new(lines)), format, batch_rows),
            schema: None,
            path: path.display().to_string(),
            reopened,
            end_partial,
        })
    }

    /// The batches of the lines completed since the last call (empty when none).
    pub fn poll(&mut self) -> Result<Vec<RecordBatch>> {
        self.reader.resume();
        let mut out = Vec::new();
        for b in self.reader.by_ref() {
            let b = b?;
            if b.num_rows() == 0 {
                continue;
            }
            let schema = self.schema.get_or_insert_with(|| b.schema()).clone();
            out.push(conform(&b, &schema, &self.path)?);
        }
        Ok(out)
    }

    /// Like [`poll`](Self::poll), at the end of following: a last line without its newline
    /// (held back by `poll` while a writer may still be mid-line) counts as complete.
    pub fn flush(&mut self) -> Result<Vec<RecordBatch>> {
        self.end_partial.store(true, Ordering::Relaxed);
        let out = self.poll();
        self.end_partial.store(false, Ordering::Relaxed);
        out
    }

    /// With `keep` set, `_raw` holds every line, parsed or not (see [`LogReader::keep_raw`]).
    pub fn keep_raw(mut self, keep: bool) -> Self {
        self.reader.keep_raw(keep);
        self
    }

    /// How many times the file was found rotated or truncated and read anew from its start.
    pub fn reopened(&self) -> u64 {
        self.reopened.load(Ordering::Relaxed)
    }

    /// What has been read so far (rows, parsed, malformed, ...).
    pub fn report(&self) -> &ReadReport {
        self.reader.report()
    }
}

impl std::fmt::Debug for CompleteLines {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CompleteLines({})", self.path.display())
    }
}

/// `batch` in `schema`: columns by name, nulls where absent or of another type.
fn conform(batch: &RecordBatch, schema: &SchemaRef, path: &str) -> Result<RecordBatch> {
    if &batch.schema() == schema {
        return Ok(batch.clone());
    }
    for f in batch.schema().fields() {
        if schema.field_with_name(f.name()).is_err() {
            log::warn!(
                "{path}: column `{}` appeared after the first batch and is left out of the stream",
                f.name()
            );
        }
    }
    let columns: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .map(|f| match batch.column_by_name(f.name()) {
            Some(c) if c.data_type() == f.data_type() => c.clone(),
            _ => new_null_array(f.data_type(), batch.num_rows()),
        })
        .collect();
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}
