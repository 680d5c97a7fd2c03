//! `vigil tail`: alerts of lines appended to a followed log, known by construction (a line
//! far from its baseline in length and entropy; a burst of one host's events in one minute)
//! and equal to the library's whole-file scoring; rotation, truncation, Ctrl-C; errors.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use arrow::array::{Array, AsArray, RecordBatch, StringArray, TimestampNanosecondArray};
use arrow::datatypes::{DataType, Field, Float32Type, Schema, TimeUnit, UInt64Type};
use serde_json::Value;
use vigil::detect::{RobustZ, Threshold};
use vigil::logs::LogFormat;
use vigil::window::{Agg, WindowFeature};

use common::{assert_fails, command, path_str, scratch, stderr, stdout, vigil};

/// The `i`-th ordinary sshd line (RFC 5424), from one of 5 hosts.
fn ssh_line(i: usize) -> String {
    format!(
        "<38>1 2026-05-01T10:{:02}:{:02}Z host-{} sshd 4{:03} - - Accepted password for user{} from 10.0.{}.{} port {} ssh2",
        (i / 60) % 60,
        i % 60,
        i % 5,
        i % 1000,
        i % 37,
        i % 7,
        (i * 13) % 250,
        40000 + (i * 7919) % 20000
    )
}

/// A line whose message is 160 random-looking characters: far longer and of far higher
/// entropy than any ordinary message.
fn odd_line(host: &str, minute: u32) -> String {
    let mut rng = vigil::synth::SplitMix64(7 + u64::from(minute));
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let noise: String = (0..160).map(|_| alphabet[rng.below(64)] as char).collect();
    format!("<38>1 2026-05-01T11:{minute:02}:00Z {host} sshd 4999 - - {noise}")
}

/// Message length and entropy with a robust z detector, fitted on 400 ordinary lines; the
/// cut-off is the baseline's highest score, so a copy of a baseline line never alerts.
fn message_model(dir: &Path) -> (vigil::FittedPipeline, String) {
    let baseline = dir.join("baseline.log");
    let text: String = (0..400).map(|i| ssh_line(i) + "\n").collect();
    std::fs::write(&baseline, text).expect("write baseline");
    let (table, _) = vigil::logs::read_log(&baseline, LogFormat::Syslog).expect("read baseline");
    let stages = vec![
        vigil::features::length("message").into(),
        vigil::features::entropy("message").into(),
    ];
    fit_and_save(stages, table, dir)
}

/// A robust z model of `stages` fitted on `baseline` whose cut-off is the baseline's highest
/// score (a copy of a baseline row never alerts), saved in `dir`: the model and its path.
fn fit_and_save(
    stages: Vec<vigil::Stage>,
    baseline: RecordBatch,
    dir: &Path,
) -> (vigil::FittedPipeline, String) {
    let mut builder = vigil::Pipeline::builder();
    for stage in stages {
        builder = builder.feature(stage);
    }
    let model = builder
        .detector(RobustZ::default())
        .threshold(Threshold::BaselineQuantile { q: 1.0 })
        .backend(vigil::Backend::Cpu)
        .build()
        .expect("pipeline")
        .fit(&[baseline])
        .expect("fit");
    let path = dir.join("model.json");
    model.save(&path).expect("save");
    (model, path_str(&path).to_string())
}

fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// The library's answer for a whole file: (line number, score, explanation features) of
/// each alert row.
fn library_alerts(scored: &RecordBatch) -> Vec<(u64, f32, Vec<String>)> {
    let alert = scored.column_by_name("alert").expect("alert").as_boolean();
    let score = scored.column_by_name("score").expect("score");
    let score = score.as_primitive::<Float32Type>();
    let line = scored.column_by_name("_line").expect("_line");
    let line = line.as_primitive::<UInt64Type>();
    let expl = scored.column_by_name("explanation").expect("explanation");
    let expl = expl.as_list::<i32>();
    (0..scored.num_rows())
        .filter(|&i| alert.value(i))
        .map(|i| {
            let items = expl.value(i);
            let features = items
                .as_struct()
                .column_by_name("feature")
                .expect("feature");
            // Feature names are dictionary-encoded: read them as text.
            let features = arrow::compute::cast(features, &arrow::datatypes::DataType::Utf8)
                .expect("feature names as text");
            let features = features.as_string::<i32>();
            let names = (0..features.len())
                .map(|j| features.value(j).to_string())
                .collect();
            (line.value(i), score.value(i), names)
        })
        .collect()
}

fn features_of(alert: &Value) -> Vec<String> {
    alert["explanation"]
        .as_array()
        .expect("explanation list")
        .iter()
        .map(|e| e["feature"].as_str().expect("feature").to_string())
        .collect()
}

#[test]
fn once_prints_the_odd_line_as_the_library_scores_it() {
    let dir = scratch("tail-once");
    let (model, model_path) = message_model(&dir);
    let log = dir.join("app.log");
    let odd = odd_line("host-9", 5);
    // 50 copies of baseline lines, the odd line (line 51), 10 more copies.
    let mut text: String = (0..50).map(|i| ssh_line(i * 7) + "\n").collect();
    text += &format!("{odd}\n");
    text.extend((0..10).map(|i| ssh_line(i * 3) + "\n"));
    // The last line has no newline: at the end of --once it counts all the same.
    text.pop();
    std::fs::write(&log, &text).expect("write log");
    let l = path_str(&log);

    // Without --from-start only lines appended from now on count: none with --once.
    let o = vigil(&["tail", l, "-f", "syslog", "-m", &model_path, "--once"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "");
    assert_eq!(
        stderr(&o).trim(),
        "vigil tail: 0 lines (0 parsed, 0 malformed), 0 alerts"
    );

    let o = vigil(&[
        "tail",
        l,
        "--format",
        "syslog",
        "--model",
        &model_path,
        "--from-start",
        "--once",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        stderr(&o).trim(),
        "vigil tail: 61 lines (61 parsed, 0 malformed), 1 alerts"
    );
    let alerts = json_lines(&stdout(&o));
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let a = &alerts[0];
    assert_eq!(a["raw"], odd.as_str());
    assert_eq!(a["line"], 51);
    assert_eq!(a["entity"], "host-9");
    assert_eq!(a["time"], "2026-05-01T11:05:00Z");

    // The library, scoring the whole file in one piece, alerts on the same line with the
    // same score and explanation.
    let (table, _) = vigil::logs::read_log(&log, LogFormat::Syslog).expect("read log");
    let expected = library_alerts(&model.score(&table).expect("score"));
    assert_eq!(expected.len(), 1);
    let (line, score, features) = &expected[0];
    assert_eq!(*line, 51);
    assert_eq!(a["score"].as_f64().expect("score") as f32, *score);
    assert!(f64::from(*score) > model.cutoff().expect("cut-off"));
    assert_eq!(features_of(a), *features);
    assert!(!features.is_empty());
}

/// Reads the child's stdout lines into a channel.
fn lines_of(stdout: std::process::ChildStdout) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn next_alert(rx: &mpsc::Receiver<String>) -> Value {
    let line = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("an alert within 60 s");
    serde_json::from_str(&line).expect("JSON alert")
}

fn append(path: &Path, lines: &[String]) {
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .expect("open for append");
    for l in lines {
        writeln!(f, "{l}").expect("append");
    }
    f.flush().expect("flush");
}

#[test]
fn follows_appends_rotation_and_truncation_until_ctrl_c() {
    let dir = scratch("tail-follow");
    let (_, model_path) = message_model(&dir);
    let log = dir.join("app.log");
    std::fs::write(
        &log,
        (0..10).map(|i| ssh_line(i) + "\n").collect::<String>(),
    )
    .expect("write");
    let mut child = command(&[
        "tail",
        path_str(&log),
        "-f",
        "syslog",
        "-m",
        &model_path,
        "--poll-ms",
        "20",
    ])
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("spawn vigil tail");
    let rx = lines_of(child.stdout.take().expect("stdout"));
    // Give it time to open the file at its end: the 10 lines before are not read.
    std::thread::sleep(Duration::from_millis(500));

    // Appended while it runs; a line written in two pieces is read once it is complete.
    let a = odd_line("host-a", 1);
    append(&log, &[ssh_line(11), ssh_line(12)]);
    {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&log)
            .expect("open");
        f.write_all(&a.as_bytes()[..40]).expect("half a line");
        f.flush().expect("flush");
        std::thread::sleep(Duration::from_millis(200));
        f.write_all(&a.as_bytes()[40..]).expect("rest of the line");
        f.write_all(b"\n").expect("newline");
    }
    let got = next_alert(&rx);
    assert_eq!(got["raw"], a.as_str());
    assert_eq!(got["entity"], "host-a");
    assert_eq!(got["line"], 3, "the third line read since it started");

    // Rotated: renamed away, a new file created at the path.
    std::fs::rename(&log, dir.join("app.log.1")).expect("rotate");
    let b = odd_line("host-b", 2);
    std::fs::write(&log, format!("{}\n{b}\n", ssh_line(20))).expect("new file");
    let got = next_alert(&rx);
    assert_eq!(got["raw"], b.as_str());
    assert_eq!(got["entity"], "host-b");

    // Truncated in place (copytruncate) and written again.
    let c = odd_line("host-c", 3);
    std::fs::write(&log, format!("{c}\n")).expect("truncate and write");
    let got = next_alert(&rx);
    assert_eq!(got["raw"], c.as_str());

    // Ctrl-C: a clean exit with the summary.
    let pid = child.id().to_string();
    // The shell's own `kill` (no procps needed).
    let kill = std::process::Command::new("sh")
        .args(["-c", &format!("kill -INT {pid}")])
        .status()
        .expect("sh -c kill -INT");
    assert!(kill.success());
    let out = child.wait_with_output().expect("wait");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert_eq!(
        err.trim(),
        "vigil tail: 6 lines (6 parsed, 0 malformed), 3 alerts; followed 2 rotations or truncations"
    );
    assert!(rx.try_recv().is_err(), "no other alert");
}

/// JSON lines of 6 hosts over 10 minutes, host h{k} sending 1 + (minute + k) % 3 events in
/// each minute, times as ISO 8601 text; with `burst`, h3 sends 20 more in minute 5.
fn host_events(hour: u32, burst: bool) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for minute in 0..10u32 {
        for k in 0..6u32 {
            let n = 1
                + (minute + k) % 3
                + if burst && k == 3 && minute == 5 {
                    20
                } else {
                    0
                };
            for j in 0..n {
                let ts = format!(
                    "2026-05-01T{hour:02}:{minute:02}:{:02}Z",
                    (k * 7 + j * 2) % 60
                );
                out.push((ts, format!("h{k}"), format!("GET /item/{j}")));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn a_burst_in_one_window_alerts_its_rows_only() {
    let dir = scratch("tail-window");
    // Baseline: the same pattern an hour earlier, times as Arrow timestamps.
    let base = host_events(9, false);
    let ns: Vec<i64> = base
        .iter()
        .map(|(t, _, _)| {
            arrow::compute::kernels::cast_utils::string_to_timestamp_nanos(t).expect("time")
        })
        .collect();
    let schema = Schema::new(vec![
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
            true,
        ),
        Field::new("host", DataType::Utf8, true),
    ]);
    let baseline = RecordBatch::try_new(
        Arc::new(schema),
        vec![
            Arc::new(TimestampNanosecondArray::from(ns).with_timezone("UTC")),
            Arc::new(StringArray::from_iter_values(
                base.iter().map(|(_, h, _)| h.as_str()),
            )),
        ],
    )
    .expect("baseline");
    let stages = vec![
        vigil::window::feature(
            WindowFeature::new(Agg::Count, None, &["host"], Some("1m")).time("ts"),
        )
        .into(),
    ];
    let (model, model_path) = fit_and_save(stages, baseline, &dir);

    let events = host_events(11, true);
    let text: String = events
        .iter()
        .map(|(t, h, m)| format!("{{\"ts\":\"{t}\",\"host\":\"{h}\",\"msg\":\"{m}\"}}\n"))
        .collect();
    let log = dir.join("events.jsonl");
    std::fs::write(&log, &text).expect("write log");
    let o = vigil(&[
        "tail",
        path_str(&log),
        "-f",
        "jsonl",
        "-m",
        &model_path,
        "--from-start",
        "--once",
        "--quiet",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stderr(&o), "");
    let alerts = json_lines(&stdout(&o));
    // By construction: exactly h3's 23 events of minute 5 (1 + (5 + 3) % 3 + 20; every other window
    // holds 1 to 3 events, as in the baseline).
    let expected: Vec<usize> = events
        .iter()
        .enumerate()
        .filter(|(_, (t, h, _))| h == "h3" && t.starts_with("2026-05-01T11:05:"))
        .map(|(i, _)| i + 1)
        .collect();
    assert_eq!(expected.len(), 23);
    let lines: Vec<usize> = alerts
        .iter()
        .map(|a| a["line"].as_u64().expect("line") as usize)
        .collect();
    assert_eq!(lines, expected);
    // The library, scoring the whole file in one piece (times parsed the same way), agrees.
    let (table, _) = vigil::logs::read_log(&log, LogFormat::JsonLines).expect("read log");
    let (ts, bad) =
        vigil::columns::text_times(table.column_by_name("ts").expect("ts"), "ts").expect("times");
    assert_eq!(bad, 0);
    let mut columns = table.columns().to_vec();
    let i = table.schema().index_of("ts").expect("ts");
    columns[i] = ts.clone();
    let mut fields: Vec<Field> = table
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields[i] = Field::new("ts", ts.data_type().clone(), true);
    let table = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).expect("table");
    let expected = library_alerts(&model.score(&table).expect("score"));
    assert_eq!(expected.len(), alerts.len());
    for ((line, score, features), a) in expected.iter().zip(&alerts) {
        assert_eq!(a["line"].as_u64(), Some(*line));
        assert_eq!(a["score"].as_f64().expect("score") as f32, *score);
        assert_eq!(features_of(a), *features);
    }
    for a in &alerts {
        assert_eq!(a["entity"], "h3");
        assert!(
            a["time"]
                .as_str()
                .expect("time")
                .starts_with("2026-05-01T11:05:"),
            "{a}"
        );
        assert_eq!(features_of(a), vec!["host_count_1m".to_string()]);
        let raw = a["raw"].as_str().expect("raw");
        assert_eq!(
            raw,
            text.lines()
                .nth(a["line"].as_u64().expect("line") as usize - 1)
                .expect("that line")
        );
    }
}

#[test]
fn tail_errors_are_one_line() {
    let dir = scratch("tail-errors");
    let (_, model_path) = message_model(&dir);
    let log = dir.join("app.log");
    std::fs::write(&log, ssh_line(1) + "\n").expect("write");
    let l = path_str(&log);
    let m = model_path.as_str();
    assert_fails(
        &vigil(&["tail", "no-such.log", "-f", "syslog", "-m", m, "--once"]),
        1,
        "no-such.log",
    );
    assert_fails(
        &vigil(&["tail", path_str(&dir), "-f", "syslog", "-m", m, "--once"]),
        1,
        "is a directory",
    );
    assert_fails(
        &vigil(&["tail", l, "-f", "klingon", "-m", m, "--once"]),
        1,
        "klingon",
    );
    assert_fails(
        &vigil(&[
            "tail",
            l,
            "-f",
            "syslog",
            "-m",
            "no-such-model.json",
            "--once",
        ]),
        1,
        "no-such-model.json",
    );
    assert_fails(
        &vigil(&["tail", l, "-f", "syslog", "-m", m, "--lateness", "soon"]),
        1,
        "lateness",
    );
    assert_fails(&vigil(&["tail", l, "-f", "syslog"]), 2, "--model");
    assert_fails(
        &vigil(&["tail", l, "-f", "syslog", "-m", m, "--poll-ms", "0"]),
        2,
        "--poll-ms",
    );
    // A model that ranks the whole table cannot alert line by line.
    let (table, _) = vigil::logs::read_log(&log, LogFormat::Syslog).expect("read");
    let top = vigil::Pipeline::builder()
        .feature(vigil::features::length("message"))
        .threshold(Threshold::TopN { n: 5 })
        .build()
        .expect("pipeline")
        .fit(&[table])
        .expect("fit");
    let top_path = dir.join("top.json");
    top.save(&top_path).expect("save");
    assert_fails(
        &vigil(&[
            "tail",
            l,
            "-f",
            "syslog",
            "-m",
            path_str(&top_path),
            "--once",
        ]),
        1,
        "threshold",
    );
}
