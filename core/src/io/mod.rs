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

/// Scores the Parquet file `input` into the Parquet file `output`, one record batch of
/// `batch_rows` rows at a time, so memory stays bounded whatever the file size. A top-N
/// threshold is refused (it needs the whole file); use a quantile or fixed threshold.
pub fn score_parquet(
    model: &FittedPipeline,
    input: impl AsRef<Path>,
    output: impl AsRef<Path>,
    batch_rows: usize,
) -> Result<ScoreSummary> {
    score_parquet_with_progress(model, input, output, batch_rows, |_, _| {})
}

/// [`score_parquet`], calling `progress(rows_done, rows_total)` after each batch is written
/// (`rows_total` from the file's metadata), e.g. to drive a progress bar.
pub fn score_parquet_with_progress(
    model: &FittedPipeline,
    input: impl AsRef<Path>,
    output: impl AsRef<Path>,
    batch_rows: usize,
    mut progress: impl FnMut(u64, u64),
) -> Result<ScoreSummary> {
    if model.threshold().is_per_batch() {
        return Err(Error::param(
            "threshold",
            "top-N and top-fraction alerts need the whole table; score_parquet streams, so use a baseline quantile or a fixed score",
        ));
    }
    let builder = ParquetRecordBatchReaderBuilder::try_new(open(input.as_ref())?)?;
    let total = u64::try_from(builder.metadata().file_metadata().num_rows()).unwrap_or(0);
    let out_schema = model.output_schema(builder.schema())?;
    let reader = builder.with_batch_size(batch_rows.max(1)).build()?;
    let mut writer = writer(output.as_ref(), out_schema)?;
    let mut summary = ScoreSummary::default();
    for batch in reader {
        let scored = model.score(&batch?)?;
        summary.rows += scored.num_rows() as u64;
        if let Some(score) = scored.column_by_name(crate::SCORE) {
            summary.unscored += score.null_count() as u64;
        }
        if let Some(alert) = scored.column_by_name(crate::ALERT) {
            summary.alerts += alert.as_boolean().true_count() as u64;
        }
        writer.write(&scored)?;
        progress(summary.rows, total);
    }
    writer.close()?;
    Ok(summary)
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

/// Reads a Parquet file and extracts `features` (see [`crate::extract`]), row
/// groups in parallel; batches come back in file order.
pub fn extract_parquet<S: Clone + Into<crate::Stage> + Sync>(
    path: impl AsRef<Path>,
    features: &[S],
    backend: crate::Backend,
) -> Result<Vec<RecordBatch>> {
    per_row_group(path.as_ref(), |reader| {
        reader
            .map(|b| crate::extract(features, &b?, backend))
            .collect()
    })
}
