//! The `vigil` command run as a user would: each subcommand on the bundled data, its output
//! checked against the library's own answer, and the error cases (one line, right exit code).

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, UInt64Type};
use vigil::detect::{RobustZ, Threshold};
use vigil::logs::LogFormat;
use vigil::template::TemplateMiner;

use common::{assert_fails, path_str, scratch, shared_data, stderr, stdout, vigil};

fn linux_log() -> PathBuf {
    shared_data().join("loghub/Linux/Linux_2k.log")
}

/// Benign domains from the bundled OpenDNS list and DGA domains (so that some rows alert),
/// one `query` column; the baseline is the first 4,000 benign domains.
fn domains() -> (RecordBatch, RecordBatch) {
    let benign = std::fs::read_to_string(shared_data().join("domains/opendns-top-domains.txt"))
        .expect("bundled domains");
    let dga = std::fs::read_to_string(shared_data().join("domains/dga/necurs.txt"))
        .expect("bundled DGA domains");
    let benign: Vec<&str> = benign.lines().filter(|l| !l.is_empty()).collect();
    let scored: Vec<&str> = benign[4000..]
        .iter()
        .copied()
        .chain(dga.lines().filter(|l| !l.is_empty()).take(200))
        .collect();
    let batch = |v: &[&str]| {
        let schema = Arc::new(Schema::new(vec![Field::new("query", DataType::Utf8, true)]));
        RecordBatch::try_new(schema, vec![Arc::new(StringArray::from(v.to_vec()))]).expect("batch")
    };
    (batch(&benign[..4000]), batch(&scored))
}

fn fitted(threshold: Threshold) -> vigil::FittedPipeline {
    let (baseline, _) = domains();
    vigil::Pipeline::builder()
        .feature(vigil::features::entropy("query"))
        .feature(vigil::features::length("query"))
        .feature(vigil::features::char_classes("query"))
        .detector(RobustZ::default())
        .threshold(threshold)
        .backend(vigil::Backend::Cpu)
        .build()
        .expect("pipeline")
        .fit(&[baseline])
        .expect("fit")
}

#[test]
fn score_writes_what_fitted_pipeline_score_returns() {
    let dir = scratch("score");
    let (_, events) = domains();
    let input = dir.join("events.parquet");
    vigil::io::write_parquet(&input, std::slice::from_ref(&events)).expect("write input");
    let model = fitted(Threshold::BaselineQuantile { q: 0.99 });
    let model_path = dir.join("model.json");
    model.save(&model_path).expect("save model");
    let output = dir.join("scored.parquet");
    // Small batches: the file is scored in many pieces, which must not change any value.
    let o = vigil(&[
        "score",
        "--model",
        path_str(&model_path),
        path_str(&input),
        "-o",
        path_str(&output),
        "--batch-rows",
        "999",
        "--features",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));

    let expected = model
        .clone()
        .with_feature_columns(true)
        .score(&events)
        .expect("library score");
    assert!(
        expected
            .schema()
            .column_with_name("query_entropy")
            .is_some()
    );
    let got = vigil::io::read_parquet(&output, 1 << 20).expect("read scored file");
    let got = arrow::compute::concat_batches(&got[0].schema(), &got).expect("concat");
    assert_eq!(got.num_rows(), events.num_rows());
    let exp_schema = expected.schema();
    let names: Vec<&String> = exp_schema.fields().iter().map(|f| f.name()).collect();
    let got_schema = got.schema();
    let got_names: Vec<&String> = got_schema.fields().iter().map(|f| f.name()).collect();
    assert_eq!(got_names, names);
    for name in &names {
        let a = expected.column_by_name(name).expect("expected column");
        let b = got.column_by_name(name).expect("written column");
        assert_eq!(a.to_data(), b.to_data(), "column {name}");
    }
    let alerts = expected
        .column_by_name(vigil::ALERT)
        .expect("alert")
        .as_boolean()
        .true_count();
    // The DGA domains alert: there are some alerts, and the summary line counts them.
    assert!(alerts > 0);
    assert_eq!(
        stdout(&o).trim(),
        format!(
            "{} rows scored, {alerts} alerts, 0 unscored -> {}",
            events.num_rows(),
            output.display()
        )
    );

    // --fail-on-alert: exit 3 when rows alert.
    let o = vigil(&[
        "score",
        "-m",
        path_str(&model_path),
        path_str(&input),
        "-o",
        path_str(&dir.join("again.parquet")),
        "--fail-on-alert",
        "--quiet",
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    // Without --features: the verdict columns only, the same scores.
    let again = vigil::io::read_parquet(dir.join("again.parquet"), 1 << 20).expect("read");
    let again = arrow::compute::concat_batches(&again[0].schema(), &again).expect("concat");
    assert!(again.schema().column_with_name("query_entropy").is_none());
    assert_eq!(
        again.column_by_name(vigil::SCORE).expect("score").to_data(),
        expected
            .column_by_name(vigil::SCORE)
            .expect("score")
            .to_data()
    );
}

#[test]
fn score_errors_are_one_line() {
    let dir = scratch("score-errors");
    let (_, events) = domains();
    let input = dir.join("events.parquet");
    vigil::io::write_parquet(&input, std::slice::from_ref(&events)).expect("write input");
    let model_path = dir.join("model.json");
    fitted(Threshold::BaselineQuantile { q: 0.99 })
        .save(&model_path)
        .expect("save");
    let out = dir.join("out.parquet");
    let (m, i, o) = (path_str(&model_path), path_str(&input), path_str(&out));

    assert_fails(
        &vigil(&["score", "-m", "no-such-model.json", i, "-o", o]),
        1,
        "no-such-model.json",
    );
    assert_fails(
        &vigil(&["score", "-m", m, "no-such.parquet", "-o", o]),
        1,
        "no-such.parquet",
    );
    assert_fails(&vigil(&["score", "-m", m, i]), 2, "--output");
    assert_fails(
        &vigil(&["score", "-m", m, i, "-o", o, "--backend", "tpu"]),
        1,
        "tpu",
    );
    assert_fails(
        &vigil(&["score", "-m", m, i, "-o", o, "--batch-rows", "0"]),
        2,
        "--batch-rows",
    );
    // A damaged model file.
    let bad = dir.join("bad.json");
    std::fs::write(&bad, "{\"format\": \"vigil.pipeline\", \"version\": 99}").expect("write");
    assert_fails(
        &vigil(&["score", "-m", path_str(&bad), i, "-o", o]),
        1,
        "model",
    );
    // A text file given as Parquet.
    assert_fails(&vigil(&["score", "-m", m, m, "-o", o]), 1, "Parquet");
    // A model whose column is not in the file.
    let other = dir.join("other.parquet");
    let schema = Arc::new(Schema::new(vec![Field::new("name", DataType::Utf8, true)]));
    let b =
        RecordBatch::try_new(schema, vec![Arc::new(StringArray::from(vec!["a"]))]).expect("batch");
    vigil::io::write_parquet(&other, &[b]).expect("write");
    assert_fails(
        &vigil(&["score", "-m", m, path_str(&other), "-o", o]),
        1,
        "query",
    );
    // A top-N model cannot stream.
    let top = dir.join("top.json");
    fitted(Threshold::TopN { n: 5 }).save(&top).expect("save");
    assert_fails(
        &vigil(&["score", "-m", path_str(&top), i, "-o", o]),
        1,
        "threshold",
    );
}

/// The library's templates of the Linux 2k log read as syslog.
fn library_templates() -> (Vec<vigil::template::Template>, RecordBatch) {
    let (batch, _) = vigil::logs::read_log(linux_log(), LogFormat::Syslog).expect("read");
    let mut miner = TemplateMiner::default();
    let parsed = miner.parse_batch(&batch, "message").expect("parse");
    (miner.templates(), parsed)
}

#[test]
fn mine_prints_the_library_templates() {
    let (templates, _) = library_templates();
    let o = vigil(&[
        "mine",
        path_str(&linux_log()),
        "--format",
        "syslog",
        "--top",
        "0",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0]
            .split_whitespace()
            .eq(["count", "template_id", "template"])
    );
    // Header, one line per template, the summary.
    assert_eq!(lines.len(), templates.len() + 2);
    let mut printed = Vec::new();
    for l in &lines[1..lines.len() - 1] {
        let mut parts = l.split_whitespace();
        let size: u64 = parts.next().and_then(|s| s.parse().ok()).expect("count");
        let id: u64 = parts.next().and_then(|s| s.parse().ok()).expect("id");
        let text = parts.collect::<Vec<_>>().join(" ");
        printed.push((id, size, text));
    }
    // Most frequent first.
    assert!(printed.windows(2).all(|w| w[0].1 >= w[1].1));
    let mut expected: Vec<_> = templates
        .iter()
        .map(|t| {
            (
                t.id,
                t.size,
                t.text.split_whitespace().collect::<Vec<_>>().join(" "),
            )
        })
        .collect();
    expected.sort();
    printed.sort();
    assert_eq!(printed, expected);
    let total: u64 = templates.iter().map(|t| t.size).sum();
    assert_eq!(total, 2000);
    assert_eq!(
        lines[lines.len() - 1],
        format!(
            "2000 lines (2000 parsed, 0 malformed), {} templates",
            templates.len()
        )
    );
    // --top 5: five templates and a line saying how many more.
    let o = vigil(&["mine", path_str(&linux_log()), "-f", "syslog", "--top", "5"]);
    let text = stdout(&o);
    assert_eq!(text.lines().count(), 1 + 5 + 1 + 1);
    assert!(text.contains(&format!("... {} more", templates.len() - 5)));
}

#[test]
fn mine_writes_parquet_json_and_parsed_lines() {
    let dir = scratch("mine");
    let (templates, parsed) = library_templates();
    let pq = dir.join("templates.parquet");
    let lines = dir.join("lines.parquet");
    let o = vigil(&[
        "mine",
        path_str(&linux_log()),
        "-f",
        "syslog",
        "-o",
        path_str(&pq),
        "--parsed",
        path_str(&lines),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let t = vigil::io::read_parquet(&pq, 1 << 20).expect("read templates");
    let t = &t[0];
    let ids = t.column(0).as_primitive::<UInt64Type>();
    let sizes = t.column(2).as_primitive::<UInt64Type>();
    let texts = t.column(1).as_string::<i32>();
    let mut got: Vec<_> = (0..t.num_rows())
        .map(|i| (ids.value(i), texts.value(i).to_string(), sizes.value(i)))
        .collect();
    let mut expected: Vec<_> = templates
        .iter()
        .map(|t| (t.id, t.text.clone(), t.size))
        .collect();
    got.sort();
    expected.sort();
    assert_eq!(got, expected);

    // Every line with its template id, as the library assigns them.
    let l = vigil::io::read_parquet(&lines, 1 << 20).expect("read lines");
    let l = arrow::compute::concat_batches(&l[0].schema(), &l).expect("concat");
    assert_eq!(l.num_rows(), 2000);
    let name = vigil::template::TEMPLATE_ID;
    assert_eq!(
        l.column_by_name(name).expect("ids").to_data(),
        parsed.column_by_name(name).expect("ids").to_data()
    );

    let js = dir.join("templates.json");
    let o = vigil(&[
        "mine",
        path_str(&linux_log()),
        "-f",
        "syslog",
        "-o",
        path_str(&js),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&js).expect("json")).expect("valid JSON");
    let mut got: Vec<_> = v
        .as_array()
        .expect("array")
        .iter()
        .map(|r| {
            (
                r["template_id"].as_u64().expect("id"),
                r["template"].as_str().expect("text").to_string(),
                r["size"].as_u64().expect("size"),
            )
        })
        .collect();
    got.sort();
    assert_eq!(got, expected);
}

#[test]
fn mine_header_format_uses_content() {
    // A Loghub header format: the message column is Content.
    let log = shared_data().join("loghub/HDFS/HDFS_2k.log");
    let (batch, _) = vigil::logs::read_log(&log, LogFormat::parse("loghub:HDFS").expect("format"))
        .expect("read");
    let mut miner = TemplateMiner::default();
    miner.parse_batch(&batch, "Content").expect("parse");
    let o = vigil(&["mine", path_str(&log), "-f", "loghub:HDFS", "--top", "0"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o).lines().count(), miner.templates().len() + 2);
}

#[test]
fn mine_errors_are_one_line() {
    let log = linux_log();
    let log = path_str(&log);
    assert_fails(
        &vigil(&["mine", "no-such.log", "-f", "syslog"]),
        1,
        "no-such.log",
    );
    assert_fails(&vigil(&["mine", log, "-f", "klingon"]), 1, "klingon");
    assert_fails(&vigil(&["mine", log]), 2, "--format");
    assert_fails(
        &vigil(&["mine", log, "-f", "syslog", "--column", "nope"]),
        1,
        "nope",
    );
    assert_fails(
        &vigil(&["mine", log, "-f", "syslog", "-o", "t.csv"]),
        1,
        ".parquet or .json",
    );
    assert_fails(
        &vigil(&["mine", log, "-f", "syslog", "--similarity", "2"]),
        1,
        "similarity",
    );
    let dir = shared_data().join("loghub");
    assert_fails(
        &vigil(&["mine", path_str(&dir), "-f", "syslog"]),
        1,
        "directory",
    );
}

#[test]
fn info_reports_version_and_backend() {
    let o = vigil(&["info", "--backend", "cpu", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("JSON");
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(v["backend"], "cpu");
    assert!(v["adapter"].is_null());
    assert_eq!(
        v["cpu_threads"].as_u64(),
        Some(rayon_threads()),
        "the CPU path's thread count"
    );
    let o = vigil(&["info", "--backend", "cpu"]);
    let text = stdout(&o);
    assert!(text.starts_with(&format!("vigil {}\n", env!("CARGO_PKG_VERSION"))));
    assert!(text.contains("backend:     cpu"));
}

fn rayon_threads() -> u64 {
    vigil::backend_info(vigil::Backend::Cpu)
        .expect("info")
        .cpu_threads as u64
}

#[test]
fn usage_errors_and_help() {
    assert_fails(&vigil(&["frobnicate"]), 2, "frobnicate");
    assert_fails(&vigil(&["mine", "--no-such-flag"]), 2, "--no-such-flag");
    // No subcommand: the help on stderr, usage exit code.
    let o = vigil(&[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("Usage: vigil <COMMAND>"));
    // --help: examples and exit codes, exit 0.
    let o = vigil(&["--help"]);
    assert_eq!(o.status.code(), Some(0));
    let help = stdout(&o);
    for needle in ["score", "mine", "info", "Exit codes:", "Examples:"] {
        assert!(help.contains(needle), "{needle} not in --help");
    }
    for sub in ["score", "mine", "info"] {
        let o = vigil(&[sub, "--help"]);
        assert_eq!(o.status.code(), Some(0));
        assert!(stdout(&o).contains(&format!("vigil {sub}")), "{sub} --help");
    }
    let o = vigil(&["--version"]);
    assert_eq!(
        stdout(&o).trim(),
        format!("vigil {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn a_closed_pipe_is_not_an_error() {
    use std::io::Read;
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["mine", path_str(&linux_log()), "-f", "syslog", "--top", "0"])
        .env("VIGIL_BACKEND", "cpu")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    // Read nothing and close the pipe, as `| head -0` would.
    drop(child.stdout.take());
    let mut err = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err)
        .expect("read");
    let status = child.wait().expect("wait");
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(status.code(), Some(0), "{err}");
}
