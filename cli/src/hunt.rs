//! `vigil hunt`: Sigma rules over Windows event logs (EVTX or JSON events) into a timeline of
//! hits, like hayabusa's `csv-timeline`.

use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{TimestampNanosecondType, UInt64Type};
use clap::Args;
use vigil::sigma::{
    LoadOptions, Pipeline, SigmaRules, filter_min_level, hunt_files, hunt_inputs, level_rank,
};

use crate::{Failure, Outcome};

/// Hunt with Sigma rules: EVTX files (or JSON events) against a rule directory, one row per
/// hit (a timeline like hayabusa's csv-timeline).
///
/// Reads every INPUT (an `.evtx` file, a JSON events file — evtx_dump, Winlogbeat or flat
/// objects — or a directory searched for both), evaluates the Sigma rules under `--rules`
/// (detections and correlation rules) through vigil's Windows processing pipeline (Sysmon,
/// Security, System, PowerShell, ...; `--pipeline` adds or replaces entries), and writes a
/// timeline sorted by time: timestamp, computer, channel, event_id, level, rule_title,
/// rule_id, kind (detection or correlation), record_id, details, source_file. Without `-o`
/// the table is printed. Rules that cannot be evaluated are counted in the summary (and
/// listed with `--show-skipped`).
#[derive(Args, Debug)]
#[command(after_long_help = "\
Examples:
  vigil hunt Security.evtx --rules sigma/rules/windows
  vigil hunt logs/ -r sigma/rules -o timeline.csv
  vigil hunt events.jsonl -r my_rules/ --pipeline my_pipeline.yml -o hits.parquet
  vigil hunt logs/ -r sigma/rules --min-level high --fail-on-hit || page-the-oncall")]
pub(crate) struct HuntArgs {
    /// EVTX files, JSON event files, or directories of them.
    #[arg(value_name = "INPUT", required = true)]
    inputs: Vec<PathBuf>,
    /// Sigma rules: a YAML file or a directory tree of them.
    #[arg(short, long, value_name = "RULES")]
    rules: PathBuf,
    /// A processing pipeline YAML file on top of the shipped Windows one (field renames,
    /// logsource conditions).
    #[arg(long, value_name = "PIPELINE.yml")]
    pipeline: Option<PathBuf>,
    /// Where to write the timeline: .csv, .parquet, .json / .jsonl (JSON lines).
    #[arg(short, long, value_name = "OUT")]
    output: Option<PathBuf>,
    /// Only hits of this level or above: informational, low, medium, high, critical.
    #[arg(long, value_name = "LEVEL")]
    min_level: Option<String>,
    /// Also list matches of rules that correlations name without `generate: true`.
    #[arg(long)]
    all_detections: bool,
    /// Rows printed without `-o` (0: all).
    #[arg(long, default_value_t = 50, value_name = "N")]
    top: usize,
    /// List the rules that could not be evaluated, with the reason.
    #[arg(long)]
    show_skipped: bool,
    /// Exit with code 3 when there is any hit (for scripts and schedulers).
    #[arg(long)]
    fail_on_hit: bool,
    /// No progress bar.
    #[arg(short, long)]
    quiet: bool,
}

fn load_rules(args: &HuntArgs) -> Result<SigmaRules, Failure> {
    if !args.rules.exists() {
        return Err(Failure::error(format!(
            "rules `{}` do not exist",
            args.rules.display()
        )));
    }
    let mut options = LoadOptions::default();
    if let Some(p) = &args.pipeline {
        options.pipeline = Pipeline::windows().merged(Pipeline::load(p)?);
    }
    Ok(SigmaRules::load_with(&[&args.rules], options)?)
}

/// `timestamp` as RFC 3339 UTC with milliseconds (`2024-01-01T00:00:00.000Z`).
fn time_text(ns: i64) -> String {
    chrono::DateTime::from_timestamp_nanos(ns)
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// Cell `i` of every column, as text (None for null).
fn row_texts(batch: &RecordBatch, i: usize) -> Vec<(String, Option<String>)> {
    let schema = batch.schema();
    schema
        .fields()
        .iter()
        .zip(batch.columns())
        .map(|(f, c)| {
            let v = if c.is_null(i) {
                None
            } else if let Some(t) = c.as_primitive_opt::<TimestampNanosecondType>() {
                Some(time_text(t.value(i)))
            } else if let Some(u) = c.as_primitive_opt::<UInt64Type>() {
                Some(u.value(i).to_string())
            } else {
                c.as_string_opt::<i32>().map(|s| s.value(i).to_string())
            };
            (f.name().clone(), v)
        })
        .collect()
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn write_timeline(path: &Path, t: &RecordBatch) -> Result<(), Failure> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let text = match ext.as_str() {
        "parquet" | "pq" => return Ok(vigil::io::write_parquet(path, std::slice::from_ref(t))?),
        "csv" => {
            let schema = t.schema();
            let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
            let mut s = names.join(",");
            s.push('\n');
            for i in 0..t.num_rows() {
                let cells: Vec<String> = row_texts(t, i)
                    .into_iter()
                    .map(|(_, v)| csv_field(v.as_deref().unwrap_or("")))
                    .collect();
                s.push_str(&cells.join(","));
                s.push('\n');
            }
            s
        }
        "json" | "jsonl" | "ndjson" => {
            let mut s = String::new();
            for i in 0..t.num_rows() {
                let obj: serde_json::Map<String, serde_json::Value> = row_texts(t, i)
                    .into_iter()
                    .map(|(k, v)| {
                        (
                            k,
                            v.map_or(serde_json::Value::Null, serde_json::Value::from),
                        )
                    })
                    .collect();
                s.push_str(&serde_json::Value::Object(obj).to_string());
                s.push('\n');
            }
            s
        }
        _ => {
            return Err(Failure::error(format!(
                "output `{}`: name a .csv, .parquet or .json/.jsonl file",
                path.display()
            )));
        }
    };
    std::fs::write(path, text)
        .map_err(|e| Failure::error(format!("writing `{}`: {e}", path.display())))
}

/// The printed table: the columns an analyst reads first, details cut to fit a line.
fn table(t: &RecordBatch, top: usize) -> String {
    let shown = if top == 0 {
        t.num_rows()
    } else {
        top.min(t.num_rows())
    };
    let mut s = format!(
        "{:<24}  {:<13}  {:<16}  {:>6}  {:>8}  {:<50}  details\n",
        "timestamp", "level", "computer", "event", "record", "rule"
    );
    for i in 0..shown {
        let cells: std::collections::HashMap<String, String> = row_texts(t, i)
            .into_iter()
            .map(|(k, v)| (k, v.unwrap_or_default()))
            .collect();
        let c = |k: &str| cells.get(k).cloned().unwrap_or_default();
        let cut = |v: String, n: usize| -> String {
            let v = v.replace(['\r', '\n', '\t'], " ");
            if v.chars().count() > n {
                v.chars().take(n.saturating_sub(1)).collect::<String>() + "…"
            } else {
                v
            }
        };
        s.push_str(&format!(
            "{:<24}  {:<13}  {:<16}  {:>6}  {:>8}  {:<50}  {}\n",
            c("timestamp"),
            c("level"),
            cut(c("computer"), 16),
            c("event_id"),
            c("record_id"),
            cut(c("rule_title"), 50),
            cut(c("details"), 120)
        ));
    }
    if shown < t.num_rows() {
        s.push_str(&format!(
            "... {} more (--top 0 shows all, -o writes them)\n",
            t.num_rows() - shown
        ));
    }
    s
}

/// Runs `vigil hunt`.
pub(crate) fn run(args: HuntArgs) -> Result<Outcome, Failure> {
    let min_level = match args.min_level.as_deref() {
        None => 0,
        Some(l) => match level_rank(l) {
            0 => {
                return Err(Failure::error(format!(
                    "--min-level `{l}` is not one of informational, low, medium, high, critical"
                )));
            }
            r => r,
        },
    };
    let files = hunt_inputs(&args.inputs)?;
    let rules = load_rules(&args)?;
    if rules.is_empty() {
        return Err(Failure::error(format!(
            "no rule under `{}` could be evaluated ({} reported; --show-skipped lists them)",
            args.rules.display(),
            rules.report().len()
        )));
    }
    let bar = crate::progress_bar(files.len() as u64, args.quiet, "files");
    bar.set_message("hunting");
    let result = hunt_files(&rules, &files, args.all_detections, |done, _| {
        bar.set_position(done)
    });
    bar.finish_and_clear();
    let (timeline, report) = result?;
    let timeline = filter_min_level(timeline, min_level)?;
    let correlations = rules.correlations().len();
    let summary = format!(
        "{} events from {} files ({} damaged), {} rules + {} correlations ({} not evaluated), {} hits",
        report.records,
        report.files,
        report.damaged,
        rules.len(),
        correlations,
        rules.report().len(),
        timeline.num_rows()
    );
    let mut text = String::new();
    if args.show_skipped {
        for i in rules.report() {
            text.push_str(&format!(
                "skipped {} {}: {} ({})\n",
                i.file, i.rule_id, i.reason.detail, i.reason.kind
            ));
        }
    }
    match &args.output {
        Some(path) => {
            write_timeline(path, &timeline)?;
            text.push_str(&format!("{summary} -> {}\n", path.display()));
        }
        None => {
            text.push_str(&table(&timeline, args.top));
            text.push_str(&summary);
            text.push('\n');
        }
    }
    crate::out(&text)?;
    Ok(if args.fail_on_hit && timeline.num_rows() > 0 {
        Outcome::Findings
    } else {
        Outcome::Ok
    })
}
