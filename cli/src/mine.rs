//! `vigil mine`: log templates of a log file.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{RecordBatch, StringArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema};
use clap::Args;
use vigil::logs::{LogFormat, LogReader};
use vigil::template::{Template, TemplateMiner};

use crate::{Failure, Outcome};

/// Mine the log templates of a log file (vigil's Drain-like miner).
///
/// Reads LOG in the given format (every line a row; lines that do not parse are counted),
/// masks variables (numbers, IPs, hex, UUIDs, paths, host names, ...) in the message column
/// and clusters the messages into templates. Prints the templates, most frequent first, as a
/// table; with -o writes them (template_id, template, size) to Parquet or JSON instead.
#[derive(Args, Debug)]
#[command(after_long_help = "\
Formats: syslog (RFC 5424 / RFC 3164), apache | nginx (common or combined access log),
jsonl (JSON lines, also Zeek JSON), zeek (Zeek TSV), loghub:<System> (HDFS, BGL, Apache,
OpenSSH, Linux, HealthApp, Proxifier, Zookeeper), or a header spec such as
'<Date> <Time> <Level> <Component>: <Content>' (the message column is then Content).

Examples:
  vigil mine /var/log/syslog --format syslog
  vigil mine /var/log/syslog --format syslog --top 0            # every template
  vigil mine HDFS_2k.log --format loghub:HDFS -o templates.json
  vigil mine app.log --format '<Date> <Time> <Level>: <Content>' --parsed lines.parquet")]
pub(crate) struct MineArgs {
    /// The log file.
    #[arg(value_name = "LOG")]
    log: PathBuf,
    /// Its format (see below).
    #[arg(short, long, value_name = "FORMAT")]
    format: String,
    /// The column holding the message (default: message, else Content, else request).
    #[arg(short, long, value_name = "NAME")]
    column: Option<String>,
    /// Write the templates to this file instead of printing them: .parquet or .json.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Also write every line with its template_id, template and parameters (Parquet).
    #[arg(long, value_name = "FILE.parquet")]
    parsed: Option<PathBuf>,
    /// Templates to print, most frequent first (0 = all).
    #[arg(long, default_value_t = 30, value_name = "N")]
    top: usize,
    /// Least share of equal tokens for a message to join a template, in (0, 1].
    #[arg(long, default_value_t = 0.5, value_name = "S")]
    similarity: f64,
    /// No progress bar.
    #[arg(short, long)]
    quiet: bool,
}

fn message_column(batch: &RecordBatch, asked: Option<&str>) -> Result<String, Failure> {
    if let Some(c) = asked {
        return Ok(c.to_string());
    }
    let schema = batch.schema();
    for c in ["message", "Content", "request", "msg"] {
        if schema.column_with_name(c).is_some() {
            return Ok(c.to_string());
        }
    }
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    Err(Failure::error(format!(
        "no message column found; name one with --column (columns: {})",
        names.join(", ")
    )))
}

/// Templates as a table: template_id, template, size.
fn templates_batch(templates: &[Template]) -> Result<RecordBatch, Failure> {
    let schema = Schema::new(vec![
        Field::new("template_id", DataType::UInt64, false),
        Field::new("template", DataType::Utf8, false),
        Field::new("size", DataType::UInt64, false),
    ]);
    Ok(RecordBatch::try_new(
        Arc::new(schema),
        vec![
            Arc::new(UInt64Array::from_iter_values(
                templates.iter().map(|t| t.id),
            )),
            Arc::new(StringArray::from_iter_values(
                templates.iter().map(|t| t.text.as_str()),
            )),
            Arc::new(UInt64Array::from_iter_values(
                templates.iter().map(|t| t.size),
            )),
        ],
    )
    .map_err(vigil::Error::from)?)
}

fn write_templates(path: &Path, templates: &[Template]) -> Result<(), Failure> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    match ext.as_str() {
        "parquet" | "pq" => Ok(vigil::io::write_parquet(
            path,
            &[templates_batch(templates)?],
        )?),
        "json" => {
            let rows: Vec<_> = templates
                .iter()
                .map(|t| serde_json::json!({"template_id": t.id, "template": t.text, "size": t.size}))
                .collect();
            let text = serde_json::to_string_pretty(&rows)
                .map_err(|e| Failure::error(format!("JSON: {e}")))?;
            std::fs::write(path, text + "\n")
                .map_err(|e| Failure::error(format!("writing `{}`: {e}", path.display())))
        }
        _ => Err(Failure::error(format!(
            "output `{}`: name a .parquet or .json file",
            path.display()
        ))),
    }
}

/// Runs `vigil mine`.
pub(crate) fn run(args: MineArgs) -> Result<Outcome, Failure> {
    let format = LogFormat::parse(&args.format)?;
    let config = vigil::template::MinerConfig {
        similarity: args.similarity,
        ..Default::default()
    };
    let mut miner = TemplateMiner::new(config)?;
    let (mut reader, progress) =
        LogReader::open_with_progress(&args.log, format, vigil::logs::DEFAULT_BATCH_ROWS)?;
    let bar = crate::progress_bar(progress.total(), args.quiet, "bytes");
    bar.set_message("mining");
    let mut column = None;
    let mut parsed = Vec::new();
    let result = (|| -> Result<(), Failure> {
        for batch in reader.by_ref() {
            let batch = batch?;
            let col = match &column {
                Some(c) => c,
                None => column.insert(message_column(&batch, args.column.as_deref())?),
            };
            let out = miner.parse_batch(&batch, col)?;
            if args.parsed.is_some() {
                parsed.push(out);
            }
            bar.set_position(progress.read());
        }
        Ok(())
    })();
    bar.finish_and_clear();
    result?;
    if let Some(path) = &args.parsed {
        if parsed.is_empty() {
            return Err(Failure::error(format!(
                "`{}` has no lines: nothing to write to `{}`",
                args.log.display(),
                path.display()
            )));
        }
        let one = vigil::logs::concat_batches(&parsed)?;
        vigil::io::write_parquet(path, &[one])?;
    }
    let mut templates = miner.templates();
    // Most frequent first; creation order among equals (a stable sort).
    templates.sort_by_key(|t| std::cmp::Reverse(t.size));
    let report = reader.report();
    let summary = format!(
        "{} lines ({} parsed, {} malformed), {} templates",
        report.rows,
        report.parsed,
        report.malformed,
        templates.len()
    );
    if let Some(path) = &args.output {
        write_templates(path, &templates)?;
        crate::out(&format!("{summary} -> {}\n", path.display()))?;
        return Ok(Outcome::Ok);
    }
    let shown = if args.top == 0 {
        templates.len()
    } else {
        args.top.min(templates.len())
    };
    let mut text = format!("{:>8}  {:<20}  template\n", "count", "template_id");
    for t in &templates[..shown] {
        text.push_str(&format!("{:>8}  {:<20}  {}\n", t.size, t.id, t.text));
    }
    if shown < templates.len() {
        text.push_str(&format!(
            "... {} more (--top 0 shows all)\n",
            templates.len() - shown
        ));
    }
    text.push_str(&summary);
    text.push('\n');
    crate::out(&text)?;
    Ok(Outcome::Ok)
}
