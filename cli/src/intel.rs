//! `vigil intel`: indicator files + a log table -> matches (and sightings).

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch, StringArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use clap::Args;
use vigil::intel::{ColumnKind, Intel, SightingOptions};
use vigil::logs::{LogFormat, LogReader};

use crate::{Failure, Outcome};

/// Match a log table against threat-intel indicators.
///
/// Loads the indicator files (STIX 2.1 bundles, MISP events, MISP feed folders, MISP
/// warninglists, CSV `value,kind[,id,source,confidence,valid_until]`, plain lists, saved
/// vigil indicator files: the format of each is detected), reads the log table (Parquet, CSV
/// with a header, JSON lines or Zeek TSV, by extension unless --format says) and matches the
/// columns named with --column. Prints one row per (event row, column, indicator): row,
/// column, value, indicator_id, kind, source, confidence, suppressed_by; -o writes them to
/// Parquet, CSV or JSON lines instead. Matches a warninglist covers are kept and name it in
/// suppressed_by; sightings leave them out.
#[derive(Args, Debug)]
#[command(after_long_help = "\
Column kinds: ip (addresses; IP and CIDR indicators, longest prefix wins), domain (exact
and subdomain indicators), url, hash (MD5/SHA-1/SHA-256 by length), email, substring.

Examples:
  vigil intel conn.parquet -i apt_bundle.json -i misp_feed/ -c id.resp_h=ip -c id.orig_h=ip
  vigil intel dns.log -i iocs.csv -c query=domain --warninglist public-dns.json -o hits.parquet
  vigil intel events.jsonl -i bundle.json -c url=url --sightings sightings.json --identity 'ACME SOC' --time-column ts")]
pub(crate) struct IntelArgs {
    /// The log table: .parquet, .csv, .jsonl/.json or a Zeek .log.
    #[arg(value_name = "LOG")]
    log: PathBuf,
    /// Indicator files or MISP feed folders (repeat, or list several).
    #[arg(short, long = "indicators", value_name = "FILE", num_args = 1.., required = true)]
    indicators: Vec<PathBuf>,
    /// A column to match and its kind, as COLUMN=KIND (repeat for more columns).
    #[arg(short, long = "column", value_name = "COLUMN=KIND", required = true)]
    columns: Vec<String>,
    /// MISP warninglists whose entries suppress matches (repeat).
    #[arg(short, long = "warninglist", value_name = "FILE")]
    warninglists: Vec<PathBuf>,
    /// The log table's format when the extension does not say: parquet, csv, jsonl, zeek.
    #[arg(short, long, value_name = "FORMAT")]
    format: Option<String>,
    /// Write the matches to this file instead of printing them: .parquet, .csv or .jsonl.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Write a STIX 2.1 bundle of sightings (one per indicator seen) to this file.
    #[arg(long, value_name = "FILE.json")]
    sightings: Option<PathBuf>,
    /// Write MISP sightings (JSON) to this file.
    #[arg(long, value_name = "FILE.json")]
    misp_sightings: Option<PathBuf>,
    /// Who saw them, for sightings.
    #[arg(long, default_value = "vigil", value_name = "NAME")]
    identity: String,
    /// A time column of the log (first/last seen of sightings; kept in the matches).
    #[arg(long, value_name = "COLUMN")]
    time_column: Option<String>,
    /// Matches to print, first rows first (0 = all).
    #[arg(long, default_value_t = 30, value_name = "N")]
    top: usize,
    /// No progress bar.
    #[arg(short, long)]
    quiet: bool,
}

fn parse_columns(specs: &[String]) -> Result<Vec<(String, ColumnKind)>, Failure> {
    specs
        .iter()
        .map(|s| {
            let (c, k) = s.rsplit_once('=').ok_or_else(|| {
                Failure::error(format!(
                    "--column `{s}`: write COLUMN=KIND, e.g. id.resp_h=ip"
                ))
            })?;
            if c.is_empty() {
                return Err(Failure::error(format!(
                    "--column `{s}`: the column name is empty"
                )));
            }
            Ok((c.to_string(), ColumnKind::parse(k)?))
        })
        .collect()
}

fn extension(path: &Path) -> String {
    path.extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase()
}

/// Every column of a CSV file with a header row, as text.
fn read_csv(path: &Path) -> Result<RecordBatch, Failure> {
    let mut r = csv::ReaderBuilder::new()
        .flexible(false)
        .from_path(path)
        .map_err(|e| Failure::error(format!("`{}`: {e}", path.display())))?;
    let names: Vec<String> = r
        .headers()
        .map_err(|e| Failure::error(format!("`{}`: {e}", path.display())))?
        .iter()
        .map(str::to_string)
        .collect();
    let mut cols: Vec<Vec<String>> = vec![Vec::new(); names.len()];
    for rec in r.records() {
        let rec = rec.map_err(|e| Failure::error(format!("`{}`: {e}", path.display())))?;
        for (c, v) in cols.iter_mut().zip(rec.iter()) {
            c.push(v.to_string());
        }
    }
    let fields: Vec<Field> = names
        .iter()
        .map(|n| Field::new(n, DataType::Utf8, false))
        .collect();
    let arrays: Vec<ArrayRef> = cols
        .into_iter()
        .map(|c| Arc::new(StringArray::from(c)) as ArrayRef)
        .collect();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
        .map_err(|e| Failure::error(format!("`{}`: {e}", path.display())))
}

fn read_log(path: &Path, format: Option<&str>, quiet: bool) -> Result<RecordBatch, Failure> {
    if !path.is_file() {
        return Err(Failure::error(format!(
            "log table `{}` is not a file",
            path.display()
        )));
    }
    let format = match format {
        Some(f) => f.to_ascii_lowercase(),
        None => match extension(path).as_str() {
            "parquet" | "pq" => "parquet".into(),
            "csv" => "csv".into(),
            "jsonl" | "json" | "ndjson" => "jsonl".into(),
            "log" | "tsv" => "zeek".into(),
            other => {
                return Err(Failure::error(format!(
                    "log table `{}`: unknown extension `{other}`; say --format parquet, csv, jsonl or zeek",
                    path.display()
                )));
            }
        },
    };
    let bar = crate::progress_bar(0, quiet, "rows");
    bar.set_message("reading");
    let batches = match format.as_str() {
        "parquet" => vigil::io::read_parquet(path, vigil::io::DEFAULT_BATCH_ROWS)?,
        "csv" => vec![read_csv(path)?],
        "jsonl" | "zeek" => {
            let f = if format == "zeek" {
                LogFormat::ZeekTsv
            } else {
                LogFormat::JsonLines
            };
            let reader = LogReader::new(
                Box::new(BufReader::new(File::open(path)?)),
                f,
                vigil::io::DEFAULT_BATCH_ROWS,
            );
            let mut out = Vec::new();
            for b in reader {
                let b = b?;
                bar.inc(b.num_rows() as u64);
                out.push(b);
            }
            out
        }
        other => {
            return Err(Failure::error(format!(
                "--format `{other}`: use parquet, csv, jsonl or zeek"
            )));
        }
    };
    bar.finish_and_clear();
    if batches.is_empty() {
        return Err(Failure::error(format!(
            "log table `{}` has no rows",
            path.display()
        )));
    }
    Ok(vigil::logs::concat_batches(&batches)?)
}

fn text_rows(batch: &RecordBatch) -> Result<Vec<Vec<String>>, Failure> {
    let opts = FormatOptions::default();
    let fmts: Vec<ArrayFormatter<'_>> = batch
        .columns()
        .iter()
        .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts))
        .collect::<Result<_, _>>()
        .map_err(|e| Failure::error(e.to_string()))?;
    Ok((0..batch.num_rows())
        .map(|r| fmts.iter().map(|f| f.value(r).to_string()).collect())
        .collect())
}

fn write_matches(path: &Path, m: &RecordBatch) -> Result<(), Failure> {
    match extension(path).as_str() {
        "parquet" | "pq" => Ok(vigil::io::write_parquet(path, std::slice::from_ref(m))?),
        "csv" => {
            let mut w = csv::Writer::from_path(path)
                .map_err(|e| Failure::error(format!("`{}`: {e}", path.display())))?;
            let names: Vec<&str> = m
                .schema_ref()
                .fields()
                .iter()
                .map(|f| f.name().as_str())
                .collect();
            let err = |e: csv::Error| Failure::error(format!("`{}`: {e}", path.display()));
            w.write_record(&names).map_err(err)?;
            for row in text_rows(m)? {
                w.write_record(&row).map_err(err)?;
            }
            w.flush()?;
            Ok(())
        }
        "jsonl" | "json" | "ndjson" => {
            let schema = m.schema();
            let mut text = String::new();
            for (r, row) in text_rows(m)?.into_iter().enumerate() {
                let obj: serde_json::Map<String, serde_json::Value> = schema
                    .fields()
                    .iter()
                    .zip(m.columns())
                    .zip(row)
                    .map(|((f, col), v)| {
                        let value = if col.is_null(r) {
                            serde_json::Value::Null
                        } else if f.data_type().is_integer() {
                            v.parse::<u64>()
                                .map_or(serde_json::Value::String(v), Into::into)
                        } else {
                            serde_json::Value::String(v)
                        };
                        (f.name().clone(), value)
                    })
                    .collect();
                text.push_str(&serde_json::Value::Object(obj).to_string());
                text.push('\n');
            }
            Ok(std::fs::write(path, text)?)
        }
        other => Err(Failure::error(format!(
            "output `{}`: unknown extension `{other}`; name a .parquet, .csv or .jsonl file",
            path.display()
        ))),
    }
}

/// A text time column (CSV) as epoch seconds (Int64 or Float64) or ISO 8601 timestamps,
/// whichever reads every value; other columns as they are.
fn text_times(a: ArrayRef) -> ArrayRef {
    use arrow::datatypes::TimeUnit;
    if !matches!(
        a.data_type(),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    ) {
        return a;
    }
    for t in [
        DataType::Int64,
        DataType::Float64,
        DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
    ] {
        if let Ok(c) = arrow::compute::cast(a.as_ref(), &t)
            && c.null_count() == a.null_count()
        {
            return c;
        }
    }
    a
}

/// Runs `vigil intel`.
pub(crate) fn run(args: IntelArgs) -> Result<Outcome, Failure> {
    let columns = parse_columns(&args.columns)?;
    for p in args.indicators.iter().chain(&args.warninglists) {
        if !p.exists() {
            return Err(Failure::error(format!("`{}` does not exist", p.display())));
        }
    }
    if let Some(o) = &args.output
        && o == &args.log
    {
        return Err(Failure::error(
            "the output must not be the log table (it would be overwritten while read)",
        ));
    }
    let mut intel = Intel::new();
    intel.load(&args.indicators)?;
    for w in &args.warninglists {
        let before = intel.warninglists().len();
        intel.load(std::slice::from_ref(w))?;
        if intel.warninglists().len() == before {
            return Err(Failure::error(format!(
                "--warninglist `{}` is not a MISP warninglist (a JSON object with `list` and `type`)",
                w.display()
            )));
        }
    }
    if intel.is_empty() {
        return Err(Failure::error(
            "no indicator loaded from the given files (see their formats in `vigil intel --help`)",
        ));
    }
    let log = read_log(&args.log, args.format.as_deref(), args.quiet)?;
    let refs: Vec<(&str, ColumnKind)> = columns.iter().map(|(c, k)| (c.as_str(), *k)).collect();
    let bar = crate::progress_bar(0, args.quiet, "rows");
    bar.set_message("matching");
    let result = intel.match_batch(&log, &refs, None);
    bar.finish_and_clear();
    let (mut matches, report) = result?;
    if let Some(t) = &args.time_column {
        let times = vigil::columns::column(&log, t)?;
        let rows = matches
            .column(0)
            .as_any()
            .downcast_ref::<UInt64Array>()
            .ok_or_else(|| Failure::error("match rows are not UInt64"))?;
        let taken = arrow::compute::take(times.as_ref(), rows, None)
            .map_err(|e| Failure::error(e.to_string()))?;
        let taken = text_times(taken);
        let mut fields: Vec<Field> = matches
            .schema()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        fields.push(Field::new(t, taken.data_type().clone(), true));
        let mut cols = matches.columns().to_vec();
        cols.push(taken);
        matches = RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)
            .map_err(|e| Failure::error(e.to_string()))?;
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64);
    let opts = SightingOptions {
        identity: args.identity.clone(),
        time_column: args.time_column.clone(),
        observed_data: false,
        include_suppressed: false,
        now,
    };
    if let Some(p) = &args.sightings {
        let bundle = vigil::intel::stix_sightings(&matches, &opts)?;
        std::fs::write(p, serde_json::to_string_pretty(&bundle).unwrap_or_default())?;
    }
    if let Some(p) = &args.misp_sightings {
        let s = vigil::intel::misp_sightings(&matches, &opts)?;
        std::fs::write(p, serde_json::to_string_pretty(&s).unwrap_or_default())?;
    }
    let suppressed: u64 = report.columns.iter().map(|c| c.suppressed).sum();
    let invalid: u64 = report.columns.iter().map(|c| c.invalid).sum();
    let rejected: u64 = intel
        .report()
        .values()
        .map(|r| r.rejected.values().sum::<u64>())
        .sum();
    let summary = format!(
        "{} indicators ({} rejected), {} log rows, {} matches ({} suppressed), {} values invalid for their kind",
        intel.len(),
        rejected,
        log.num_rows(),
        matches.num_rows(),
        suppressed,
        invalid
    );
    match &args.output {
        Some(p) => {
            write_matches(p, &matches)?;
            crate::out(&format!("{summary} -> {}\n", p.display()))?;
        }
        None => {
            let shown = if args.top == 0 {
                matches.num_rows()
            } else {
                args.top.min(matches.num_rows())
            };
            if shown > 0 {
                let table = arrow::util::pretty::pretty_format_batches(&[matches.slice(0, shown)])
                    .map_err(|e| Failure::error(e.to_string()))?;
                crate::out(&format!("{table}\n"))?;
            }
            crate::out(&format!("{summary}\n"))?;
        }
    }
    Ok(Outcome::Ok)
}
