//! Reads Windows event logs (an `.evtx` file, a JSON file of events, or a directory of
//! `.evtx` files) and prints what was found and how fast: the whole read, files in parallel.
//!
//! `cargo run --release --example evtx_read -- ../shared/data/sigma/regression_data`

use std::time::Instant;

use arrow::array::RecordBatch;

fn main() -> vigil::Result<()> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "../shared/data/sigma/regression_data".to_string());
    let start = Instant::now();
    let (batches, report) = vigil::logs::evtx::read_evtx(&path)?;
    let secs = start.elapsed().as_secs_f64();
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    let columns = batches.first().map_or(0, |b| b.num_columns());
    println!(
        "{path}: {} files, {rows} rows ({} parsed, {} damaged), {columns} columns, {} batches",
        report.files,
        report.parsed,
        report.damaged,
        batches.len()
    );
    println!(
        "read in {secs:.3} s: {:.0} events/s, {:.0} files/s",
        rows as f64 / secs.max(1e-9),
        report.files as f64 / secs.max(1e-9)
    );
    for (file, why) in &report.examples {
        println!("damaged: {file}: {why}");
    }
    Ok(())
}
