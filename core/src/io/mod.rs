//! Parquet in and out, in bounded memory.

use std::fs::File;
use std::path::Path;

use arrow::array::{AsArray, RecordBatch};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::pipeline::FittedPipeline;

/// Rows per record batch when reading Parquet.
pub const DEFAULT_BATCH_ROWS: usize = 64 * 1024;

fn open(path: &Path) -> Result<File> {
    File::open(path).map_err(|source| Error::Io {
        path: path.display().to_string(),
        source,
    })
}

/// Reads a whole Parquet file into record batches of `batch_rows` rows.
pub fn read_parquet(path: impl AsRef<Path>, batch_rows: usize) -> Result<Vec<RecordBatch>> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(open(path.as_ref())?)?
        .with_batch_size(batch_rows.max(1))
        .build()?;
    Ok(reader.collect::<std::result::Result<Vec<_>, _>>()?)
}

/// Writes batches to a zstd-compressed Parquet file.
pub fn write_parquet(path: impl AsRef<Path>, batches: &[RecordBatch]) -> Result<()> {
    let path = path.as_ref();
    let first = batches
        .first()
        .ok_or_else(|| Error::InvalidInput("no batches to write".into()))?;
    let mut writer = writer(path, first.schema())?;
    for b in batches {
        writer.write(b)?;
    }
    writer.close()?;
    Ok(())
}

fn writer(path: &Path, schema: arrow::datatypes::SchemaRef) -> Result<ArrowWriter<File>> {
    let file = File::create(path).map_err(|source| Error::Io {
        path: path.display().to_string(),
        source,
    })?;
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .build();
    Ok(ArrowWriter::try_new(file, schema, Some(props))?)
}

/// Summary of a [`score_parquet`] run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScoreSummary {
    /// Rows read and written.
    pub rows: u64,
    /// Rows flagged as alerts.
    pub alerts: u64,
    /// Rows with a null score.
    pub unscored: u64,
}

/// Scores the Parquet file `input` into the Parquet file `output`, reading `batch_rows` rows
/// at a time through a [`Scorer`](crate::Scorer) that carries window state across batches,
/// so the output equals [`FittedPipeline::score`] of the whole file (for a file in time
/// order; rows more than `lateness` behind get null window features and are counted, see
/// [`crate::stream`]). Memory holds the open windows, not the file. Refused with
/// [`Error::Unstreamable`]: top-N / top-fraction / per-window thresholds (they rank the
/// whole file), beacon scores and whole-input aggregates (they would hold every row).
pub fn score_parquet(
    model: &FittedPipeline,
    input: impl AsRef<Path>,
    output: impl AsRef<Path>,
    batch_rows: usize,
) -> Result<ScoreSummary> {
    score_parquet_late(model, input, output, batch_rows, 0, |_, _| {}).map(|(s, _)| s)
}

/// [`score_parquet`], calling `progress(rows_done, rows_total)` after each batch is written
/// (`rows_total` from the file's metadata), e.g. to drive a progress bar.
pub fn score_parquet_with_progress(
    model: &FittedPipeline,
    input: impl AsRef<Path>,
    output: impl AsRef<Path>,
    batch_rows: usize,
    progress: impl FnMut(u64, u64),
) -> Result<ScoreSummary> {
    score_parquet_late(model, input, output, batch_rows, 0, progress).map(|(s, _)| s)
}

/// [`score_parquet_with_progress`] accepting events up to `lateness_ns` behind the
/// watermark; also returns the stream's counters (late rows, ...).
pub fn score_parquet_late(
    model: &FittedPipeline,
    input: impl AsRef<Path>,
    output: impl AsRef<Path>,
    batch_rows: usize,
    lateness_ns: i64,
    mut progress: impl FnMut(u64, u64),
) -> Result<(ScoreSummary, crate::StreamStats)> {
    let mut scorer = crate::Scorer::bounded(model, lateness_ns)?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(open(input.as_ref())?)?;
    let total = u64::try_from(builder.metadata().file_metadata().num_rows()).unwrap_or(0);
    let out_schema = model.output_schema(builder.schema())?;
    let reader = builder.with_batch_size(batch_rows.max(1)).build()?;
    let mut writer = writer(output.as_ref(), out_schema)?;
    let mut summary = ScoreSummary::default();
    let mut write = |scored: RecordBatch| -> Result<()> {
        summary.rows += scored.num_rows() as u64;
        if let Some(score) = scored.column_by_name(crate::SCORE) {
            summary.unscored += score.null_count() as u64;
        }
        if let Some(alert) = scored.column_by_name(crate::ALERT) {
            summary.alerts += alert.as_boolean().true_count() as u64;
        }
        writer.write(&scored)?;
        progress(summary.rows, total);
        Ok(())
    };
    for batch in reader {
        if let Some(scored) = scorer.push(&batch?)? {
            write(scored)?;
        }
    }
    if let Some(scored) = scorer.finish()? {
        write(scored)?;
    }
    writer.close()?;
    Ok((summary, scorer.stats()))
}

fn row_groups(path: &Path) -> Result<usize> {
    Ok(ParquetRecordBatchReaderBuilder::try_new(open(path)?)?
        .metadata()
        .num_row_groups())
}

/// Runs `each` on a reader of every row group of `path`, row groups in parallel, and
/// concatenates the results in file order.
fn per_row_group(
    path: &Path,
    each: impl Fn(parquet::arrow::arrow_reader::ParquetRecordBatchReader) -> Result<Vec<RecordBatch>>
    + Sync,
) -> Result<Vec<RecordBatch>> {
    let parts: Vec<Result<Vec<RecordBatch>>> = (0..row_groups(path)?)
        .into_par_iter()
        .map(|g| {
            let reader = ParquetRecordBatchReaderBuilder::try_new(open(path)?)?
                .with_row_groups(vec![g])
                .with_batch_size(DEFAULT_BATCH_ROWS)
                .build()?;
            each(reader)
        })
        .collect();
    let mut out = Vec::new();
    for p in parts {
        out.extend(p?);
    }
    Ok(out)
}

/// Reads a whole Parquet file, its row groups decoded in parallel; batches of at most
/// [`DEFAULT_BATCH_ROWS`] rows, in file order.
pub fn read_parquet_parallel(path: impl AsRef<Path>) -> Result<Vec<RecordBatch>> {
    per_row_group(path.as_ref(), |reader| {
        Ok(reader.collect::<std::result::Result<Vec<_>, _>>()?)
    })
}

/// Reads a Parquet file and extracts `features` (see [`crate::extract`]); batches come back
/// in file order. Row-local features run on row groups in parallel; window stages and
/// features fitted on the input (a `standardize` without mean and std) see the whole file at
/// once, so the result equals [`crate::extract`] of the whole table.
pub fn extract_parquet<S: Clone + Into<crate::Stage> + Sync>(
    path: impl AsRef<Path>,
    features: &[S],
    backend: crate::Backend,
) -> Result<Vec<RecordBatch>> {
    if !features
        .iter()
        .all(|f| Into::<crate::Stage>::into(f.clone()).is_row_local())
    {
        let batches = read_parquet_parallel(path.as_ref())?;
        let schema = match batches.first() {
            Some(b) => b.schema(),
            None => ParquetRecordBatchReaderBuilder::try_new(open(path.as_ref())?)?
                .schema()
                .clone(),
        };
        let whole = arrow::compute::concat_batches(&schema, &batches)?;
        return Ok(vec![crate::extract(features, &whole, backend)?]);
    }
    per_row_group(path.as_ref(), |reader| {
        reader
            .map(|b| crate::extract(features, &b?, backend))
            .collect()
    })
}
