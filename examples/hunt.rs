//! Runs the bundled Sigma rules over the bundled regression EVTX files and prints a timeline
//! of hits (what `vigil hunt` prints): SigmaHQ's Windows rules and regression `.evtx` files in
//! `../shared/data/sigma` when present, else the three rules and files in
//! `tests/fixtures/sigma` (a fresh clone).
//!
//! `cargo run --release --example hunt` (or `-- EVENTS_DIR RULES_DIR`)

use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};

fn main() -> vigil::Result<()> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let shared = root.join("../shared/data/sigma");
    let mut args = std::env::args().skip(1);
    let (events, rules) = match (args.next(), args.next()) {
        (Some(e), Some(r)) => (PathBuf::from(e), PathBuf::from(r)),
        _ if shared.join("regression_data").is_dir() => {
            (shared.join("regression_data"), shared.join("rules/windows"))
        }
        _ => (
            root.join("tests/fixtures/sigma/events"),
            root.join("tests/fixtures/sigma/rules"),
        ),
    };
    let start = std::time::Instant::now();
    let rules = vigil::sigma::SigmaRules::load(&rules)?;
    let (batches, report) = vigil::logs::evtx::read_evtx(&events)?;
    let mut hunt = vigil::sigma::Hunt::new(&rules, false);
    for b in &batches {
        hunt.push(b)?;
    }
    let timeline = hunt.finish()?;
    let shown = timeline.project(&[0, 1, 3, 4, 5, 8])?;
    // arrow prints a named zone only with chrono-tz: show UTC as the +00:00 offset.
    let utc = DataType::Timestamp(TimeUnit::Nanosecond, Some("+00:00".into()));
    let mut columns = shown.columns().to_vec();
    columns[0] = arrow::compute::cast(&columns[0], &utc)?;
    let mut fields: Vec<Field> = shown
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields[0] = Field::new("timestamp", utc, true);
    let shown = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?;
    let head: RecordBatch = shown.slice(0, shown.num_rows().min(40));
    println!("{}", arrow::util::pretty::pretty_format_batches(&[head])?);
    println!(
        "{} events from {} files, {} rules ({} not evaluated): {} hits in {:.2} s",
        report.records,
        report.files,
        rules.len(),
        rules.report().len(),
        timeline.num_rows(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
