//! `vigil tail`: follow a growing log file, score each new line with a saved model, print
//! the alerts as JSON lines.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Field, Float32Type, Schema};
use arrow::util::display::array_value_to_string;
use clap::Args;
use serde_json::{Value, json};
use vigil::logs::{LogFormat, RAW};
use vigil::stream::{LogTail, Scorer};

use crate::{Failure, Outcome};

/// Columns shown as the time of an alert when the model reads no time column, in this order.
const TIME_GUESSES: [&str; 5] = ["timestamp", "time", "ts", "@timestamp", "Date"];
/// Columns shown as the entity of an alert when the model has no window stage, in this order.
const ENTITY_GUESSES: [&str; 6] = ["hostname", "host", "client", "src_ip", "id.orig_h", "user"];

/// Follow a log file as it grows and print alerts as JSON lines (like `tail -F`).
///
/// Reads the lines appended to LOG (from its end, or from its start with --from-start),
/// parses them in the given format, scores them with the saved model (the streaming scorer:
/// window state carried across lines, rows out once their windows close) and prints one JSON
/// object per alert on stdout: time, entity, score, explanation (the top features and their
/// contributions), line (its number among the lines read: from the file's start with
/// --from-start; counting on across rotations) and raw (the line itself).
/// Follows rotation (the file renamed or removed and created anew) and truncation. Stops on
/// Ctrl-C (or SIGTERM), or with --once when the lines there now are done; rows still waiting
/// for a window to close are scored then and their alerts printed.
///
/// Time columns the model reads (window features) are parsed from the log's text: epoch
/// seconds or ISO 8601 / RFC 3339 (no zone = UTC); a line whose time is neither gets null
/// window features (counted in the summary line on stderr).
#[derive(Args, Debug)]
#[command(after_long_help = "\
Formats: as for `vigil mine` (syslog, apache | nginx, jsonl, zeek, loghub:<System>, or a
header spec such as '<Date> <Time> <Level>: <Content>').

Output (one line per alert):
  {\"time\":\"2026-05-01T10:00:07Z\",\"entity\":\"web-1\",\"score\":14.2,
   \"explanation\":[{\"feature\":\"message_entropy\",\"contribution\":9.1,\"value\":null}],
   \"line\":118,\"raw\":\"<34>1 2026-05-01T10:00:07Z web-1 sshd - - - ...\"}

Examples:
  vigil tail /var/log/auth.log --format syslog --model auth-model.json
  vigil tail app.log -f jsonl -m model.json --from-start --once > alerts.jsonl
  vigil tail conn.log -f zeek_json -m model.json --lateness 30s | jq .entity")]
pub(crate) struct TailArgs {
    /// The log file to follow.
    #[arg(value_name = "LOG")]
    log: PathBuf,
    /// Its format (see below).
    #[arg(short, long, value_name = "FORMAT")]
    format: String,
    /// The saved model (JSON) whose alerts to print.
    #[arg(short, long, value_name = "MODEL.json")]
    model: PathBuf,
    /// Read the file from its start (default: only lines appended from now on).
    #[arg(long)]
    from_start: bool,
    /// Process the lines there now, print their alerts and exit (for scripts and tests).
    #[arg(long)]
    once: bool,
    /// How far behind the latest event time an event may arrive and still count in its
    /// window, e.g. 30s, 5m (default: none, events in time order).
    #[arg(long, value_name = "DURATION")]
    lateness: Option<String>,
    /// The column shown as an alert's entity (default: the model's window entity, else
    /// hostname, host, client, src_ip, id.orig_h or user, whichever the log has).
    #[arg(long, value_name = "NAME")]
    entity: Option<String>,
    /// The column shown as an alert's time (default: the model's time column, else
    /// timestamp, time, ts, @timestamp or Date, whichever the log has).
    #[arg(long, value_name = "NAME")]
    time: Option<String>,
    /// How often to look for new lines, in milliseconds.
    #[arg(long, default_value_t = 500, value_name = "MS",
          value_parser = clap::builder::RangedU64ValueParser::<u64>::new().range(1..=60_000))]
    poll_ms: u64,
    /// Where kernels run: auto, gpu or cpu.
    #[arg(long, default_value = "auto", value_name = "BACKEND")]
    backend: String,
    /// No summary line on stderr at the end.
    #[arg(short, long)]
    quiet: bool,
}

/// What is shown of each alert, and how the log's text becomes model input.
struct Show {
    time_columns: Vec<String>,
    time: Option<String>,
    entity: Option<String>,
    unreadable_times: usize,
    alerts: u64,
}

impl Show {
    /// The batch with the model's time columns parsed from text.
    fn prepare(&mut self, batch: RecordBatch) -> Result<RecordBatch, Failure> {
        let schema = batch.schema();
        let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
        let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
        for name in &self.time_columns {
            let Some((i, field)) = schema.column_with_name(name) else {
                continue;
            };
            let (parsed, bad) = vigil::columns::text_times(batch.column(i).as_ref(), name)?;
            self.unreadable_times += bad;
            fields[i] = Field::new(field.name(), parsed.data_type().clone(), true);
            columns[i] = parsed;
        }
        Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
            .map_err(vigil::Error::from)?)
    }

    /// The alerts of a scored batch as JSON lines.
    fn alerts(&mut self, scored: &RecordBatch) -> Result<String, Failure> {
        let column = |name: &str| vigil::columns::column(scored, name).cloned();
        let alert = column(vigil::ALERT)?;
        let alert = alert.as_boolean();
        let score = column(vigil::SCORE)?;
        let score = score.as_primitive::<Float32Type>();
        let explanation = column(vigil::EXPLANATION)?;
        let explanation = explanation.as_list::<i32>();
        let text = |name: &Option<String>, row: usize| -> Value {
            match name.as_deref().and_then(|n| scored.column_by_name(n)) {
                Some(c) if c.is_valid(row) => display(c.as_ref(), row),
                _ => Value::Null,
            }
        };
        let raw = Some(RAW.to_string());
        let line = scored.column_by_name(vigil::logs::LINE);
        let mut out = String::new();
        for row in 0..scored.num_rows() {
            if !(alert.is_valid(row) && alert.value(row)) {
                continue;
            }
            self.alerts += 1;
            let object = json!({
                "time": text(&self.time, row),
                "entity": text(&self.entity, row),
                "score": score.is_valid(row).then(|| f64::from(score.value(row))),
                "explanation": explain(explanation, row),
                "line": line.and_then(|l| l.as_primitive_opt::<arrow::datatypes::UInt64Type>())
                    .filter(|l| l.is_valid(row)).map(|l| l.value(row)),
                "raw": text(&raw, row),
            });
            out.push_str(&object.to_string());
            out.push('\n');
        }
        Ok(out)
    }
}

/// Row `row` of `array` as text; times in RFC 3339 (UTC).
fn display(array: &dyn Array, row: usize) -> Value {
    if matches!(array.data_type(), DataType::Timestamp(..)) {
        let ns = vigil::columns::array_times(&array.slice(row, 1), "time")
            .ok()
            .and_then(|t| t.get(0));
        return ns
            .map(|ns| {
                let t = chrono::DateTime::from_timestamp_nanos(ns);
                Value::String(t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
            })
            .unwrap_or(Value::Null);
    }
    array_value_to_string(array, row)
        .map(Value::String)
        .unwrap_or(Value::Null)
}

/// The explanation of `row` as a list of objects (feature, contribution, value).
fn explain(list: &arrow::array::ListArray, row: usize) -> Value {
    if !list.is_valid(row) {
        return Value::Null;
    }
    let items = list.value(row);
    let Some(items) = items.as_struct_opt() else {
        return Value::Null;
    };
    let mut out = Vec::with_capacity(items.len());
    for i in 0..items.len() {
        let mut item = serde_json::Map::new();
        for (field, values) in items.fields().iter().zip(items.columns()) {
            let v = if !values.is_valid(i) {
                Value::Null
            } else if let Some(f) = values.as_primitive_opt::<Float32Type>() {
                json!(f64::from(f.value(i)))
            } else {
                array_value_to_string(values.as_ref(), i)
                    .map(Value::String)
                    .unwrap_or(Value::Null)
            };
            item.insert(field.name().clone(), v);
        }
        out.push(Value::Object(item));
    }
    Value::Array(out)
}

/// The first of `guesses` that `batch` has.
fn guess(batch: &RecordBatch, guesses: &[&str]) -> Option<String> {
    guesses
        .iter()
        .find(|g| batch.column_by_name(g).is_some())
        .map(|g| g.to_string())
}

/// Runs `vigil tail`.
pub(crate) fn run(args: TailArgs) -> Result<Outcome, Failure> {
    let backend = crate::backend(&args.backend)?;
    let format = LogFormat::parse(&args.format)?;
    let lateness = match &args.lateness {
        Some(text) => vigil::columns::parse_duration_param(text, "lateness")?,
        None => 0,
    };
    let model = vigil::FittedPipeline::load(&args.model)?.with_backend(backend);
    // Followed for ever, a stage that holds every row until the input ends would grow
    // without bound: only --once (an input with an end) accepts one.
    let mut scorer = if args.once {
        Scorer::new(&model, lateness)?
    } else {
        Scorer::bounded(&model, lateness)?
    };
    let mut tail = LogTail::open(
        &args.log,
        format,
        vigil::logs::DEFAULT_BATCH_ROWS,
        !args.from_start,
    )?
    .keep_raw(true);
    let stop = Arc::new(AtomicBool::new(false));
    if !args.once {
        let flag = stop.clone();
        ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst))
            .map_err(|e| Failure::error(format!("cannot catch Ctrl-C: {e}")))?;
    }
    let time_columns = model.time_columns();
    let mut show = Show {
        time: args.time.clone().or_else(|| time_columns.first().cloned()),
        entity: args
            .entity
            .clone()
            .or_else(|| model.entity_columns().first().cloned()),
        time_columns,
        unreadable_times: 0,
        alerts: 0,
    };
    let mut guessed = false;
    let mut last = false;
    loop {
        // At the end (--once, Ctrl-C), a last line without its newline counts too.
        let batches = if last { tail.flush()? } else { tail.poll()? };
        for batch in batches {
            if !guessed {
                guessed = true;
                show.time = show.time.take().or_else(|| guess(&batch, &TIME_GUESSES));
                show.entity = show
                    .entity
                    .take()
                    .or_else(|| guess(&batch, &ENTITY_GUESSES));
            }
            let batch = show.prepare(batch)?;
            if let Some(scored) = scorer.push(&batch)? {
                crate::out(&show.alerts(&scored)?)?;
            }
        }
        if last {
            break;
        }
        last = args.once || wait(&stop, Duration::from_millis(args.poll_ms));
    }
    if let Some(scored) = scorer.finish()? {
        crate::out(&show.alerts(&scored)?)?;
    }
    if !args.quiet {
        let report = tail.report();
        let mut summary = format!(
            "vigil tail: {} lines ({} parsed, {} malformed), {} alerts",
            report.rows, report.parsed, report.malformed, show.alerts
        );
        if show.unreadable_times > 0 {
            summary.push_str(&format!(
                "; {} lines had a time that is neither epoch seconds nor ISO 8601 (their window features are null)",
                show.unreadable_times
            ));
        }
        let late = scorer.stats().late_rows;
        if late > 0 {
            summary.push_str(&format!(
                "; {late} lines came later than --lateness allows (null window features)"
            ));
        }
        if tail.reopened() > 0 {
            summary.push_str(&format!(
                "; followed {} rotations or truncations",
                tail.reopened()
            ));
        }
        eprintln!("{summary}");
    }
    Ok(Outcome::Ok)
}

/// Sleeps `total`, waking early when `stop` is set; true when it is.
fn wait(stop: &AtomicBool, total: Duration) -> bool {
    let step = Duration::from_millis(50);
    let mut slept = Duration::ZERO;
    while slept < total {
        if stop.load(Ordering::SeqCst) {
            return true;
        }
        let nap = step.min(total - slept);
        std::thread::sleep(nap);
        slept += nap;
    }
    stop.load(Ordering::SeqCst)
}
