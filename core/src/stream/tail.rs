//! `tail -f` of a growing text log: complete new lines are read, parsed by a log reader and
//! handed on as record batches of one schema.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use arrow::array::{ArrayRef, RecordBatch, new_null_array};
use arrow::datatypes::SchemaRef;

use crate::error::{Error, Result};
use crate::logs::{LogFormat, LogReader, ReadReport};

/// A file read up to its last complete line: a partial last line (a writer mid-line) is held
/// back until its newline arrives; at the current end of the file a read returns 0.
struct CompleteLines {
    file: File,
    path: String,
    partial: Vec<u8>,
    ready: VecDeque<u8>,
}

impl Read for CompleteLines {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.ready.is_empty() {
            let mut chunk = vec![0u8; 1 << 20];
            let n = self.file.read(&mut chunk)?;
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
        if from_end {
            use std::io::{Seek, SeekFrom};
            file.seek(SeekFrom::End(0)).map_err(io)?;
        }
        let lines = CompleteLines {
            file,
            path: path.display().to_string(),
            partial: Vec::new(),
            ready: VecDeque::new(),
        };
        Ok(LogTail {
            reader: LogReader::new(Box::new(BufReader::new(lines)), format, batch_rows),
            schema: None,
            path: path.display().to_string(),
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

    /// What has been read so far (rows, parsed, malformed, ...).
    pub fn report(&self) -> &ReadReport {
        self.reader.report()
    }
}

impl std::fmt::Debug for CompleteLines {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CompleteLines({})", self.path)
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
