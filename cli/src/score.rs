//! `vigil score`: a Parquet file through a saved model into a scored Parquet file.

use std::path::PathBuf;

use clap::Args;

use crate::{Failure, Outcome};

/// Score a Parquet file with a saved model (features, detector, threshold).
///
/// Reads IN.parquet in batches (bounded memory), appends `score`, `explanation`, `alert`
/// and `unscored_reason` (and the feature columns with --features), and writes OUT.parquet
/// (zstd).
/// Prints a one-line summary: rows, alerts, unscored rows. The model must have a
/// baseline-quantile or fixed-score threshold (a top-N threshold needs the whole table).
/// Models are the JSON files written by `Model.save` (Python) or `FittedPipeline::save`
/// (Rust).
#[derive(Args, Debug)]
#[command(after_long_help = "\
Examples:
  vigil score --model model.json events.parquet -o scored.parquet
  vigil score -m model.json events.parquet -o scored.parquet --backend cpu --quiet
  vigil score -m model.json events.parquet -o scored.parquet --fail-on-alert || page-the-oncall")]
pub(crate) struct ScoreArgs {
    /// The saved model (JSON).
    #[arg(short, long, value_name = "MODEL.json")]
    model: PathBuf,
    /// The Parquet file to score.
    #[arg(value_name = "IN.parquet")]
    input: PathBuf,
    /// Where to write the scored Parquet file.
    #[arg(short, long, value_name = "OUT.parquet")]
    output: PathBuf,
    /// Rows per batch: memory grows with it.
    #[arg(long, default_value_t = vigil::io::DEFAULT_BATCH_ROWS, value_name = "N",
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    batch_rows: usize,
    /// Where kernels run: auto, gpu or cpu.
    #[arg(long, default_value = "auto", value_name = "BACKEND")]
    backend: String,
    /// Also write the feature columns (before `score`).
    #[arg(long)]
    features: bool,
    /// Exit with code 3 when any row alerts (for scripts and schedulers).
    #[arg(long)]
    fail_on_alert: bool,
    /// No progress bar.
    #[arg(short, long)]
    quiet: bool,
}

/// Runs `vigil score`.
pub(crate) fn run(args: ScoreArgs) -> Result<Outcome, Failure> {
    let backend = crate::backend(&args.backend)?;
    if !args.input.is_file() {
        return Err(Failure::error(format!(
            "input `{}` is not a file",
            args.input.display()
        )));
    }
    if args.input == args.output {
        return Err(Failure::error(
            "the output must not be the input file (it would be overwritten while read)",
        ));
    }
    let model = vigil::FittedPipeline::load(&args.model)?
        .with_backend(backend)
        .with_feature_columns(args.features);
    let bar = crate::progress_bar(0, args.quiet, "rows");
    bar.set_message("scoring");
    let summary = vigil::io::score_parquet_with_progress(
        &model,
        &args.input,
        &args.output,
        args.batch_rows,
        |done, total| {
            bar.set_length(total);
            bar.set_position(done);
        },
    );
    bar.finish_and_clear();
    let summary = summary?;
    crate::out(&format!(
        "{} rows scored, {} alerts, {} unscored -> {}\n",
        summary.rows,
        summary.alerts,
        summary.unscored,
        args.output.display()
    ))?;
    Ok(if args.fail_on_alert && summary.alerts > 0 {
        Outcome::Findings
    } else {
        Outcome::Ok
    })
}
