//! The batches of a many-file read: each file's full batches as they are, and the short tails
//! of consecutive files (most files of a directory of small logs hold fewer events than a
//! batch) merged into batches of up to `batch_rows` rows, so a directory of thousands of small
//! files gives a few large batches rather than thousands of tiny ones.

use arrow::array::RecordBatch;
use rayon::prelude::*;

use super::EvtxReport;
use super::batch;
use super::event::EventRow;
use crate::error::Result;

/// What one file's read gave: whole batches, then a tail of fewer than `batch_rows` rows not
/// yet built into a batch (in record order: the tail's records come after the batches').
pub(super) struct FileRead {
    pub source: String,
    pub batches: Vec<RecordBatch>,
    pub tail: Vec<EventRow>,
    pub report: EvtxReport,
}

/// A batch to be: built already, or rows of several files with their (end row, source) runs.
enum Piece {
    Built(RecordBatch),
    Rows(Vec<EventRow>, Vec<(usize, String)>),
}

/// The batches of `reads` in file order then record order, tails of consecutive files merged
/// into batches of at most `batch_rows` rows (built in parallel), and the reports summed.
pub(super) fn merge(
    reads: Vec<FileRead>,
    batch_rows: usize,
) -> Result<(Vec<RecordBatch>, EvtxReport)> {
    let mut report = EvtxReport::default();
    let mut pieces = Vec::new();
    let mut rows: Vec<EventRow> = Vec::new();
    let mut runs: Vec<(usize, String)> = Vec::new();
    let flush =
        |rows: &mut Vec<EventRow>, runs: &mut Vec<(usize, String)>, out: &mut Vec<Piece>| {
            if !rows.is_empty() {
                out.push(Piece::Rows(std::mem::take(rows), std::mem::take(runs)));
            }
        };
    for read in reads {
        report.merge(&read.report);
        if !read.batches.is_empty() {
            flush(&mut rows, &mut runs, &mut pieces);
            pieces.extend(read.batches.into_iter().map(Piece::Built));
        }
        if read.tail.is_empty() {
            continue;
        }
        if rows.len() + read.tail.len() > batch_rows {
            flush(&mut rows, &mut runs, &mut pieces);
        }
        rows.extend(read.tail);
        runs.push((rows.len(), read.source));
    }
    flush(&mut rows, &mut runs, &mut pieces);
    let batches = pieces
        .into_par_iter()
        .map(|p| match p {
            Piece::Built(b) => Ok(b),
            Piece::Rows(rows, runs) => {
                let runs: Vec<(usize, &str)> =
                    runs.iter().map(|(end, s)| (*end, s.as_str())).collect();
                batch::build_batch_runs(&rows, &runs)
            }
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((batches, report))
}
