//! Sigma rules over Parquet files in bounded memory: the files (a file, a directory tree of
//! `.parquet` files, or a list of both) are read in batches of at most `batch_rows` rows,
//! each batch matched and dropped; only the hits are kept, their `row` numbered across all
//! files (file order, then row order), so the result equals [`SigmaRules::matches`] of the
//! files concatenated.

use std::fs::File;
use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};

use super::{SigmaRules, eval, output};
use crate::error::{Error, Result};

/// Rows per batch when matching Parquet files: measured on 1M events and all Windows rules
/// (`benches/sigma_bench.py`): smaller batches cost more per-batch overhead, larger ones
/// hold more of the file in memory for no speed.
pub const DEFAULT_BATCH_ROWS: usize = 64 * 1024;

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.display().to_string(),
        source,
    }
}

fn parquet_under(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io_error(dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            parquet_under(&p, out)?;
        } else if p
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("parquet"))
        {
            out.push(p);
        }
    }
    Ok(())
}

/// The Parquet files named by `paths`: a file as given, a directory as every `.parquet` file
/// under it (sorted by path, recursively). An error when a path does not exist or nothing is
/// found.
pub fn parquet_files<P: AsRef<Path>>(paths: &[P]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        let p = p.as_ref();
        if p.is_dir() {
            parquet_under(p, &mut out)?;
        } else {
            std::fs::metadata(p).map_err(io_error(p))?;
            out.push(p.to_path_buf());
        }
    }
    if out.is_empty() {
        return Err(Error::InvalidInput(
            "no Parquet files found in the paths given".into(),
        ));
    }
    Ok(out)
}

/// Batches of at most `batch_rows` rows over several Parquet files, in order, with the
/// total row count of all files (from their metadata) known up front.
pub struct ParquetBatches {
    files: std::vec::IntoIter<PathBuf>,
    reader: Option<ParquetRecordBatchReader>,
    batch_rows: usize,
    /// Rows in all files.
    pub total_rows: u64,
}

impl ParquetBatches {
    /// Opens `files` (reading only their metadata now).
    pub fn new(files: Vec<PathBuf>, batch_rows: usize) -> Result<Self> {
        let mut total_rows = 0u64;
        for f in &files {
            let b = ParquetRecordBatchReaderBuilder::try_new(File::open(f).map_err(io_error(f))?)?;
            total_rows += u64::try_from(b.metadata().file_metadata().num_rows()).unwrap_or(0);
        }
        Ok(ParquetBatches {
            files: files.into_iter(),
            reader: None,
            batch_rows: batch_rows.max(1),
            total_rows,
        })
    }
}

impl Iterator for ParquetBatches {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(r) = self.reader.as_mut() {
                match r.next() {
                    Some(b) => return Some(b.map_err(Error::from)),
                    None => self.reader = None,
                }
            }
            let f = self.files.next()?;
            let opened = File::open(&f)
                .map_err(io_error(&f))
                .and_then(|file| Ok(ParquetRecordBatchReaderBuilder::try_new(file)?))
                .and_then(|b| Ok(b.with_batch_size(self.batch_rows).build()?));
            match opened {
                Ok(r) => self.reader = Some(r),
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

fn empty_hits(rules: &SigmaRules) -> Result<RecordBatch> {
    let none = RecordBatch::new_empty(std::sync::Arc::new(arrow::datatypes::Schema::empty()));
    output::hits_from(rules, &none, &[], 0)
}

impl SigmaRules {
    /// [`SigmaRules::matches`] of a batch that is part of a larger input, its first row being
    /// row `first_row` of it (the hits' `row` counts from there).
    pub fn matches_at(&self, batch: &RecordBatch, first_row: u64) -> Result<RecordBatch> {
        let pairs = eval::matches(&self.plan, batch);
        output::hits_from(self, batch, &pairs, first_row)
    }

    /// [`SigmaRules::matches`] of `batches` taken as one input, without concatenating them:
    /// one hit table per batch, `row` counting across the batches from 0 (an empty input
    /// gives one empty table).
    pub fn matches_batches(&self, batches: &[RecordBatch]) -> Result<Vec<RecordBatch>> {
        let mut first = 0u64;
        let mut out = Vec::with_capacity(batches.len().max(1));
        for b in batches {
            out.push(self.matches_at(b, first)?);
            first += b.num_rows() as u64;
        }
        if out.is_empty() {
            out.push(empty_hits(self)?);
        }
        Ok(out)
    }

    /// [`SigmaRules::correlate`] over Parquet files (as [`SigmaRules::matches_parquet`] reads
    /// them): rows numbered across the files, windows exact across batches and files.
    pub fn correlate_parquet<P: AsRef<Path>>(
        &self,
        paths: &[P],
        batch_rows: usize,
        mut progress: impl FnMut(u64, u64),
    ) -> Result<RecordBatch> {
        let batches = ParquetBatches::new(parquet_files(paths)?, batch_rows)?;
        let total = batches.total_rows;
        let mut done = 0u64;
        let mut c = self.correlator();
        for b in batches {
            let b = b?;
            c.push(&b)?;
            done += b.num_rows() as u64;
            progress(done, total);
        }
        c.finish()
    }

    /// [`SigmaRules::matches`] over Parquet files (a file, a directory of `.parquet` files or
    /// several), read `batch_rows` rows at a time ([`DEFAULT_BATCH_ROWS`] is a good choice):
    /// memory holds one batch and the hits, not the files. Returns the hit tables of the
    /// batches (the same columns; `row` counts across all files from 0), and calls
    /// `progress(rows_done, rows_total)` after each batch. [`SigmaRules::matches_parquet_iter`]
    /// gives them one by one (memory: one batch, not all the hits).
    pub fn matches_parquet<P: AsRef<Path>>(
        &self,
        paths: &[P],
        batch_rows: usize,
        mut progress: impl FnMut(u64, u64),
    ) -> Result<Vec<RecordBatch>> {
        let mut it = self.matches_parquet_iter(paths, batch_rows)?;
        let mut out = Vec::new();
        while let Some(hits) = it.next() {
            out.push(hits?);
            progress(it.rows_done(), it.rows_total());
        }
        if out.is_empty() {
            out.push(empty_hits(self)?);
        }
        Ok(out)
    }

    /// The hit table of each batch of [`SigmaRules::matches_parquet`], one at a time, for
    /// writing hits out as they come (memory holds one batch and its hits).
    pub fn matches_parquet_iter<P: AsRef<Path>>(
        &self,
        paths: &[P],
        batch_rows: usize,
    ) -> Result<MatchBatches<'_>> {
        Ok(MatchBatches {
            rules: self,
            batches: ParquetBatches::new(parquet_files(paths)?, batch_rows)?,
            done: 0,
        })
    }
}

/// The hit tables of Parquet files batch by batch ([`SigmaRules::matches_parquet_iter`]):
/// one table per input batch (possibly empty), `row` counting across all files.
pub struct MatchBatches<'r> {
    rules: &'r SigmaRules,
    batches: ParquetBatches,
    done: u64,
}

impl MatchBatches<'_> {
    /// Input rows matched so far.
    pub fn rows_done(&self) -> u64 {
        self.done
    }

    /// Input rows in all files.
    pub fn rows_total(&self) -> u64 {
        self.batches.total_rows
    }
}

impl Iterator for MatchBatches<'_> {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        let b = match self.batches.next()? {
            Ok(b) => b,
            Err(e) => return Some(Err(e)),
        };
        let hits = self.rules.matches_at(&b, self.done);
        self.done += b.num_rows() as u64;
        Some(hits)
    }
}
