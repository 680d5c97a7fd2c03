//! `vigil hunt` run as a user would: the in-repo SigmaHQ fixture (three rules and their
//! regression `.evtx` files) in every output format, checked against the library's own
//! reading and matching; a correlation over JSON events, checked by hand; the error cases
//! (one line, right exit code).

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use arrow::array::AsArray;
use arrow::datatypes::UInt64Type;
use vigil::logs::evtx::read_evtx;
use vigil::sigma::SigmaRules;

mod common;

use common::{assert_fails, path_str as s, vigil};

/// A fresh directory for one `vigil hunt` test.
fn scratch(name: &str) -> PathBuf {
    common::scratch(&format!("hunt-{name}"))
}

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/sigma")
}

/// (rule id, record id, file name) of every hit, from the library: each file read with
/// `read_evtx`, the rules matched with `SigmaRules::match_pairs`.
fn expected() -> BTreeSet<(String, u64, String)> {
    let rules = SigmaRules::load(fixture().join("rules")).expect("rules");
    let mut out = BTreeSet::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixture().join("events"))
        .expect("events")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "evtx"))
        .collect();
    files.sort();
    for f in files {
        let (batches, _) = read_evtx(&f).expect("read");
        for b in batches {
            let rec = b.column_by_name("record_id").expect("record_id");
            let rec = rec.as_primitive::<UInt64Type>();
            for (row, r) in rules.match_pairs(&b) {
                out.insert((
                    rules.rules()[r].id.clone(),
                    rec.value(row),
                    f.file_name().unwrap().to_string_lossy().into_owned(),
                ));
            }
        }
    }
    out
}

/// RFC 4180 records: fields split on commas, `"` quoting (with `""` inside) over commas and
/// line breaks.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let (mut record, mut field) = (Vec::new(), String::new());
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\n') => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            (false, c) => field.push(c),
        }
    }
    records
}

fn file_name(p: &str) -> String {
    Path::new(p)
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

#[test]
fn csv_json_and_parquet_timelines_hold_the_library_hits() {
    let want = expected();
    // Each of the three rules fires on its own file (SigmaHQ's regression cases).
    assert_eq!(
        want.iter().map(|w| &w.0).collect::<BTreeSet<_>>().len(),
        3,
        "{want:?}"
    );
    let dir = scratch("formats");
    let events = fixture().join("events");
    let rules = fixture().join("rules");
    // CSV.
    let csv = dir.join("t.csv");
    let o = vigil(&["hunt", s(&events), "-r", s(&rules), "-o", s(&csv), "-q"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(&csv).unwrap();
    let records = parse_csv(&text);
    let mut lines = records.iter();
    let header: Vec<&str> = lines.next().unwrap().iter().map(String::as_str).collect();
    assert_eq!(
        header,
        [
            "timestamp",
            "computer",
            "channel",
            "event_id",
            "level",
            "rule_title",
            "rule_id",
            "kind",
            "record_id",
            "details",
            "source_file"
        ]
    );
    let mut got = BTreeSet::new();
    let mut times = Vec::new();
    for cells in lines {
        assert_eq!(cells.len(), 11, "{cells:?}");
        let file = cells.last().unwrap();
        got.insert((
            cells[6].to_string(),
            cells[8].parse::<u64>().unwrap(),
            file_name(file),
        ));
        assert_eq!(cells[7], "detection");
        times.push(cells[0].to_string());
    }
    assert_eq!(got, want);
    let mut sorted = times.clone();
    sorted.sort();
    assert_eq!(times, sorted, "rows by time");
    assert!(String::from_utf8_lossy(&o.stdout).contains(&format!("{} hits", want.len())));
    // JSON lines.
    let jsonl = dir.join("t.jsonl");
    let o = vigil(&["hunt", s(&events), "-r", s(&rules), "-o", s(&jsonl), "-q"]);
    assert!(o.status.success());
    let got: BTreeSet<(String, u64, String)> = std::fs::read_to_string(&jsonl)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["rule_id"].as_str().unwrap().to_string(),
                v["record_id"].as_str().unwrap().parse().unwrap(),
                file_name(v["source_file"].as_str().unwrap()),
            )
        })
        .collect();
    assert_eq!(got, want);
    // Parquet.
    let pq = dir.join("t.parquet");
    let o = vigil(&["hunt", s(&events), "-r", s(&rules), "-o", s(&pq), "-q"]);
    assert!(o.status.success());
    let t = vigil::io::read_parquet(&pq, 65536).unwrap();
    let t = arrow::compute::concat_batches(&t[0].schema(), &t).unwrap();
    let ids = t.column_by_name("rule_id").unwrap().as_string::<i32>();
    let rec = t
        .column_by_name("record_id")
        .unwrap()
        .as_primitive::<UInt64Type>();
    let src = t.column_by_name("source_file").unwrap().as_string::<i32>();
    let got: BTreeSet<(String, u64, String)> = (0..t.num_rows())
        .map(|i| {
            (
                ids.value(i).to_string(),
                rec.value(i),
                file_name(src.value(i)),
            )
        })
        .collect();
    assert_eq!(got, want);
    // Printed: every rule title and the summary.
    let o = vigil(&["hunt", s(&events), "-r", s(&rules), "-q"]);
    let out = String::from_utf8_lossy(&o.stdout);
    for r in SigmaRules::load(&rules).unwrap().rules() {
        let title: String = r.title.chars().take(49).collect();
        assert!(out.contains(&title), "{title} not in {out}");
    }
    assert!(out.contains("3 rules + 0 correlations"), "{out}");
    // --min-level critical: none of the three rules is critical.
    let levels: Vec<String> = SigmaRules::load(&rules)
        .unwrap()
        .rules()
        .iter()
        .map(|r| r.level.clone())
        .collect();
    assert!(!levels.contains(&"critical".to_string()));
    let o = vigil(&[
        "hunt",
        s(&events),
        "-r",
        s(&rules),
        "--min-level",
        "critical",
        "-q",
    ]);
    assert!(String::from_utf8_lossy(&o.stdout).contains(", 0 hits"));
    // --fail-on-hit: exit 3 with hits.
    let o = vigil(&["hunt", s(&events), "-r", s(&rules), "--fail-on-hit", "-q"]);
    assert_eq!(o.status.code(), Some(3));
}

#[test]
fn a_correlation_over_json_events() {
    let dir = scratch("corr");
    let rules = dir.join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(
        rules.join("brute.yml"),
        "title: Failed logon\nid: r-failed\nname: failed\nstatus: test\nlevel: low\n\
         logsource: {product: synthetic}\ndetection: {sel: {EventID: 4625}, condition: sel}\n\
         ---\ntitle: Brute force\nid: c-brute\nstatus: test\nlevel: high\n\
         correlation:\n  type: event_count\n  rules: [failed]\n  group-by: [TargetUserName]\n  \
         timespan: 1m\n  condition: {gte: 3}\n",
    )
    .unwrap();
    // bob fails at :00, :20, :50 (three within a minute: one hit at :50); alice at :00, :30
    // and 1:40 (never three within a minute).
    let ev = |t: &str, user: &str, rec: u64| {
        format!(
            "{{\"@timestamp\": \"2024-01-01T00:{t}Z\", \"EventID\": 4625, \"TargetUserName\": \"{user}\", \"EventRecordID\": {rec}}}\n"
        )
    };
    let events = dir.join("events.jsonl");
    let text = [
        ev("00:00", "bob", 1),
        ev("00:00", "alice", 2),
        ev("00:20", "bob", 3),
        ev("00:30", "alice", 4),
        ev("00:50", "bob", 5),
        ev("01:40", "alice", 6),
    ]
    .concat();
    std::fs::write(&events, text).unwrap();
    let out = dir.join("t.jsonl");
    let o = vigil(&["hunt", s(&events), "-r", s(&rules), "-o", s(&out), "-q"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rows: Vec<serde_json::Value> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // The failed-logon rule is named by the correlation without `generate: true`: only the
    // correlation's row, at the event that closed the window (record 5).
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["kind"], "correlation");
    assert_eq!(rows[0]["rule_id"], "c-brute");
    assert_eq!(rows[0]["level"], "high");
    assert_eq!(rows[0]["record_id"], "5");
    assert_eq!(rows[0]["timestamp"], "2024-01-01T00:00:50.000Z");
    assert_eq!(
        rows[0]["details"],
        "event_count 3 over 3 events; group TargetUserName=bob"
    );
    // --all-detections: the six failed logons too.
    let o = vigil(&[
        "hunt",
        s(&events),
        "-r",
        s(&rules),
        "-o",
        s(&out),
        "-q",
        "--all-detections",
    ]);
    assert!(o.status.success());
    let n = std::fs::read_to_string(&out).unwrap().lines().count();
    assert_eq!(n, 7);
}

#[test]
fn bad_arguments_and_missing_files_give_one_line() {
    let rules = fixture().join("rules");
    let events = fixture().join("events");
    let o = vigil(&["hunt", "/nonexistent/x.evtx", "-r", s(&rules)]);
    assert_fails(&o, 1, "does not exist");
    let o = vigil(&["hunt", s(&events), "-r", "/nonexistent/rules"]);
    assert_fails(&o, 1, "do not exist");
    let o = vigil(&["hunt", s(&events), "-r", s(&rules), "--min-level", "urgent"]);
    assert_fails(&o, 1, "--min-level");
    let dir = scratch("bad");
    let o = vigil(&[
        "hunt",
        s(&events),
        "-r",
        s(&rules),
        "-o",
        s(&dir.join("t.xlsx")),
        "-q",
    ]);
    assert_fails(&o, 1, ".csv");
    let o = vigil(&["hunt", s(&events)]);
    assert_fails(&o, 2, "--rules");
    let o = vigil(&["hunt", s(&dir), "-r", s(&rules)]);
    assert_fails(&o, 1, "no .evtx");
    let o = vigil(&["hunt", "--help"]);
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stdout).contains("csv-timeline"));
    assert!(String::from_utf8_lossy(&o.stdout).contains("--pipeline"));
}
