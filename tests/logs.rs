//! Log readers and the template miner on real data (Loghub, Apache access log, OTRF Zeek
//! logs, HDFS_5k) and on malformed input; grouping accuracy against Loghub's ground truth;
//! parallel = serial; merging; saved state; count vectors on GPU and CPU.

#![allow(clippy::unwrap_used, clippy::needless_range_loop)]

mod common;

use std::collections::HashMap;
use std::io::Cursor;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray};
use arrow::datatypes::{DataType, UInt64Type};
use common::{Rng, gpu_available, shared_data};
use vigil::Backend;
use vigil::logs::{self, LogFormat, LogReader, read_log};
use vigil::template::{MinerConfig, TemplateMiner, counts};

// The systems, Drain's figures and the CSV splitter of the accuracy example.
#[allow(dead_code)]
#[path = "../examples/loghub_accuracy.rs"]
mod loghub_accuracy;
use loghub_accuracy::{SYSTEMS, csv_fields};

/// The structured CSV of a Loghub system: header and rows.
fn structured(sys: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let path = shared_data()
        .join("loghub")
        .join(sys)
        .join(format!("{sys}_2k.log_structured.csv"));
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header = csv_fields(lines.next().unwrap());
    (header, lines.map(csv_fields).collect())
}

fn loghub(sys: &str) -> RecordBatch {
    let path = shared_data()
        .join("loghub")
        .join(sys)
        .join(format!("{sys}_2k.log"));
    let (batch, report) =
        read_log(path, LogFormat::parse(&format!("loghub:{sys}")).unwrap()).unwrap();
    assert_eq!(report.rows, 2000, "{sys}");
    assert_eq!(report.malformed, 0, "{sys}: {:?}", report.examples);
    batch
}

/// Loghub's grouping accuracy, computed naively: line i is correct when the set of lines
/// with its predicted id equals the set of lines with its true id.
fn grouping_accuracy(pred: &[u64], truth: &[String]) -> f64 {
    let n = pred.len();
    let correct = (0..n)
        .filter(|&i| (0..n).all(|j| (pred[j] == pred[i]) == (truth[j] == truth[i])))
        .count();
    correct as f64 / n as f64
}

fn ids(out: &RecordBatch) -> Vec<u64> {
    let c = out
        .column_by_name("template_id")
        .unwrap()
        .as_primitive::<UInt64Type>();
    (0..c.len()).map(|i| c.value(i)).collect()
}

#[test]
fn header_reader_matches_loghub_structured_csv() {
    for (sys, _) in SYSTEMS {
        let batch = loghub(sys);
        let (header, rows) = structured(sys);
        // Every header field and Content agree with Loghub's own split.
        for (k, name) in header.iter().enumerate() {
            if matches!(name.as_str(), "LineId" | "EventId" | "EventTemplate") {
                continue;
            }
            let col = batch
                .column_by_name(name)
                .unwrap_or_else(|| panic!("{sys}: {name}"));
            let col = col.as_string::<i32>();
            for (i, r) in rows.iter().enumerate() {
                let got = if col.is_null(i) { "" } else { col.value(i) };
                assert_eq!(got, r[k].trim(), "{sys} line {} field {name}", i + 1);
            }
        }
    }
}

#[test]
fn grouping_accuracy_beats_drain_on_loghub() {
    let mut sum = 0.0;
    for (sys, drain) in SYSTEMS {
        let batch = loghub(sys);
        let (header, rows) = structured(sys);
        let ev = header.iter().position(|h| h == "EventId").unwrap();
        let truth: Vec<String> = rows.iter().map(|r| r[ev].clone()).collect();
        let mut miner = TemplateMiner::default();
        let out = miner.parse_batch(&batch, "Content").unwrap();
        let acc = grouping_accuracy(&ids(&out), &truth);
        eprintln!("{sys}: grouping accuracy {acc:.4} (Drain, published: {drain})");
        // Floors a little under the measured figures (README), never under Drain - 0.05.
        let floor = match sys {
            "HDFS" | "Apache" | "OpenSSH" | "HealthApp" => 0.99,
            "BGL" | "Zookeeper" => 0.98,
            "Linux" => 0.93,
            "Proxifier" => 0.99,
            _ => drain - 0.05,
        };
        assert!(acc >= floor, "{sys}: {acc} < {floor}");
        sum += acc;
    }
    assert!(sum / 8.0 >= 0.98, "mean {}", sum / 8.0);
}

#[test]
fn grouping_accuracy_definition() {
    // Hand-checked: truth {a,a,b,b}; predicted {1,1,1,2}: lines 0,1 wrong (group {0,1,2}
    // != {0,1}), line 2 wrong, line 3 wrong ({3} != {2,3}) -> 0.
    let t: Vec<String> = ["a", "a", "b", "b"].iter().map(|s| s.to_string()).collect();
    assert_eq!(grouping_accuracy(&[1, 1, 1, 2], &t), 0.0);
    assert_eq!(grouping_accuracy(&[1, 1, 2, 2], &t), 1.0);
    assert_eq!(grouping_accuracy(&[1, 1, 2, 3], &t), 0.5);
}

fn all_contents() -> ArrayRef {
    let mut v: Vec<String> = Vec::new();
    for (sys, _) in SYSTEMS {
        let b = loghub(sys);
        let c = b.column_by_name("Content").unwrap().as_string::<i32>();
        v.extend((0..c.len()).map(|i| c.value(i).to_string()));
    }
    Arc::new(StringArray::from(v))
}

#[test]
fn parallel_equals_serial() {
    let msgs = all_contents();
    let mut reference = TemplateMiner::default();
    let expected = reference.parse_chunked(msgs.as_ref(), usize::MAX).unwrap();
    let pool1 = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    for chunk in [1, 7, 1000, 4096] {
        for threads in [1, 4] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let mut m = TemplateMiner::default();
            let got = pool
                .install(|| m.parse_chunked(msgs.as_ref(), chunk))
                .unwrap();
            assert_eq!(got, expected, "chunk {chunk}, threads {threads}");
            assert_eq!(m.to_json().unwrap(), reference.to_json().unwrap());
        }
    }
    // One message at a time, on one thread (the first 4,000 messages, to keep the test short):
    // the same final state as one call over them.
    let part = msgs.slice(0, 4000);
    let mut whole = TemplateMiner::default();
    whole.parse(part.as_ref()).unwrap();
    let mut one = TemplateMiner::default();
    pool1.install(|| {
        for i in 0..part.len() {
            one.parse(part.slice(i, 1).as_ref()).unwrap();
        }
    });
    assert_eq!(one.to_json().unwrap(), whole.to_json().unwrap());
}

#[test]
fn merge_keeps_ids_of_shared_templates() {
    let b = loghub("HDFS");
    let c = b.column_by_name("Content").unwrap();
    let (a_half, b_half) = (c.slice(0, 1000), c.slice(1000, 1000));
    let mut a = TemplateMiner::default();
    a.parse(a_half.as_ref()).unwrap();
    let mut bm = TemplateMiner::default();
    bm.parse(b_half.as_ref()).unwrap();
    let mut seq = TemplateMiner::default();
    seq.parse(a_half.as_ref()).unwrap();
    seq.parse(b_half.as_ref()).unwrap();
    let mut merged = a.clone();
    merged.merge(&bm).unwrap();
    let text_ids = |m: &TemplateMiner| -> HashMap<String, u64> {
        m.templates().into_iter().map(|t| (t.text, t.id)).collect()
    };
    let (ta, tb, tm, ts) = (
        text_ids(&a),
        text_ids(&bm),
        text_ids(&merged),
        text_ids(&seq),
    );
    let shared: Vec<&String> = ta.keys().filter(|k| tb.contains_key(*k)).collect();
    assert!(shared.len() >= 5, "{shared:?}");
    for t in shared {
        assert_eq!(tm.get(t), ta.get(t), "merged: {t}");
        assert_eq!(ts.get(t), ta.get(t), "sequential: {t}");
    }
    // Message counts add up.
    let total: u64 = merged.templates().iter().map(|t| t.size).sum();
    assert_eq!(total, 2000);
    // Ids are FNV-1a 64 of the text (stable across machines): hand-checked value of "a".
    assert_eq!(vigil::template::template_id("a"), 0xaf63dc4c8601ec8c);
    assert!(
        merged
            .merge(
                &TemplateMiner::new(MinerConfig {
                    similarity: 0.7,
                    ..Default::default()
                })
                .unwrap()
            )
            .is_err()
    );
}

#[test]
fn state_round_trip_and_untrusted_input() {
    let msgs = all_contents();
    let mut m = TemplateMiner::default();
    m.parse(msgs.slice(0, 8000).as_ref()).unwrap();
    let json = m.to_json().unwrap();
    let mut loaded = TemplateMiner::from_json(&json).unwrap();
    assert_eq!(loaded.to_json().unwrap(), json);
    // Continuing from the loaded state gives the same result as continuing the original.
    let rest = msgs.slice(8000, msgs.len() - 8000);
    assert_eq!(
        loaded.parse(rest.as_ref()).unwrap(),
        m.parse(rest.as_ref()).unwrap()
    );
    for bad in [
        "",
        "null",
        "[]",
        "{\"format\":\"vigil.template_miner\"}",
        &json.replace(
            &format!("\"version\":{}", vigil::template::STATE_VERSION),
            "\"version\":99",
        ),
        &json.replace("vigil.template_miner", "pickle"),
        &json.replace("\"depth\":4", "\"depth\":1000000"),
        &json.replace("\"similarity\":0.5", "\"similarity\":-1"),
        "{\"format\":\"vigil.template_miner\",\"version\":1,\"config\":{},\"clusters\":[{\"template\":\"a b\",\"path\":[\"7\",\"a\",\"b\"],\"size\":1}]}",
        "{\"format\":\"vigil.template_miner\",\"version\":1,\"config\":{},\"clusters\":[{\"template\":\"\",\"path\":[],\"size\":1}]}",
        &"[".repeat(100_000),
    ] {
        match TemplateMiner::from_json(bad) {
            Err(vigil::Error::Model(_)) => {}
            other => panic!("{:?} accepted: {other:?}", &bad[..bad.len().min(80)]),
        }
    }
    // An empty message (a template of no tokens) survives a round trip (found by fuzzing).
    let mut e = TemplateMiner::default();
    let empty: ArrayRef = Arc::new(StringArray::from(vec!["", "a b"]));
    e.parse(empty.as_ref()).unwrap();
    let again = TemplateMiner::from_json(&e.to_json().unwrap()).unwrap();
    assert_eq!(again.templates(), e.templates());
    let huge = " ".repeat(vigil::template::MAX_STATE_BYTES + 1);
    assert!(matches!(
        TemplateMiner::from_json(&huge),
        Err(vigil::Error::Model(_))
    ));
}

#[test]
fn parameters_and_nulls() {
    let msgs: ArrayRef = Arc::new(StringArray::from(vec![
        Some("Accepted password for fztu from 119.137.62.142 port 49116 ssh2"),
        None,
        Some("Accepted password for fztu from 10.0.0.1 port 22 ssh2"),
        Some("BLOCK* ask 10.250.18.114:50010 to delete  blk_-514 blk_77 blk_78"),
        Some(""),
    ]));
    let mut m = TemplateMiner::default();
    let out = m.parse(msgs.as_ref()).unwrap();
    assert_eq!(out.num_rows(), 5);
    let id = out.column(0).as_primitive::<UInt64Type>();
    assert!(id.is_null(1) && id.is_valid(4));
    assert_eq!(id.value(0), id.value(2));
    let t = arrow::compute::cast(out.column(1), &DataType::Utf8).unwrap();
    let t = t.as_string::<i32>();
    assert_eq!(
        t.value(0),
        "Accepted password for fztu from <*> port <*> ssh2"
    );
    assert_eq!(t.value(3), "BLOCK* ask <*> to delete <*>");
    let p = out.column(2).as_list::<i32>();
    let row = |i: usize| -> Vec<String> {
        let v = p.value(i);
        let v = v.as_string::<i32>();
        (0..v.len()).map(|k| v.value(k).to_string()).collect()
    };
    assert_eq!(row(0), ["119.137.62.142", "49116"]);
    assert_eq!(row(3), ["10.250.18.114:50010", "blk_-514 blk_77 blk_78"]);
    assert!(p.is_null(1));
    // Optional variables: `(1.01 KB)` and `<1 sec` make lines of other lengths, with the same
    // constant skeleton: one template, "" where an optional variable is absent.
    let msgs: ArrayRef = Arc::new(StringArray::from(vec![
        "proxy.cse.cuhk.edu.hk:5070 close, 0 bytes sent, 0 bytes received, lifetime 00:01",
        "ocsp.digicert.com:80 close, 942 bytes sent, 3184 bytes (3.10 KB) received, lifetime 00:07",
        "block.dropbox.com:443 close, 0 bytes sent, 0 bytes received, lifetime <1 sec",
    ]));
    let mut m2 = TemplateMiner::default();
    let out = m2.parse(msgs.as_ref()).unwrap();
    let id = out.column(0).as_primitive::<UInt64Type>();
    assert!(id.value(0) == id.value(1) && id.value(1) == id.value(2));
    let t = arrow::compute::cast(out.column(1), &DataType::Utf8).unwrap();
    assert_eq!(
        t.as_string::<i32>().value(0),
        "<*> close, <*> bytes sent, <*> bytes <*> received, lifetime <*>"
    );
    let p = out.column(2).as_list::<i32>();
    let row = |i: usize| -> Vec<String> {
        let v = p.value(i);
        let v = v.as_string::<i32>();
        (0..v.len()).map(|k| v.value(k).to_string()).collect()
    };
    assert_eq!(
        row(0),
        ["proxy.cse.cuhk.edu.hk:5070", "0", "0", "", "00:01"]
    );
    assert_eq!(
        row(1),
        ["ocsp.digicert.com:80", "942", "3184", "(3.10 KB)", "00:07"]
    );
    assert_eq!(row(2), ["block.dropbox.com:443", "0", "0", "", "<1 sec"]);
    assert_eq!(m2.templates().len(), 1);
    assert_eq!(m2.templates()[0].size, 3);
    // A wrong column type is a typed error.
    let ints: ArrayRef = Arc::new(arrow::array::Int32Array::from(vec![1]));
    assert!(matches!(
        m.parse(ints.as_ref()),
        Err(vigil::Error::WrongType { .. })
    ));
}

fn read_bytes(
    bytes: Vec<u8>,
    format: &str,
    batch_rows: usize,
) -> (Vec<RecordBatch>, logs::ReadReport) {
    let mut r = LogReader::new(
        Box::new(Cursor::new(bytes)),
        LogFormat::parse(format).unwrap(),
        batch_rows,
    );
    let batches: Vec<RecordBatch> = r.by_ref().map(|b| b.unwrap()).collect();
    (batches, r.report().clone())
}

#[test]
fn malformed_input_is_kept_and_counted() {
    let mut rng = Rng(7);
    let mut data = Vec::new();
    data.extend_from_slice(
        b"081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 terminating\n",
    );
    data.extend_from_slice(b"081109 203615 148 INFO\n"); // truncated
    for _ in 0..3 {
        let garbage: Vec<u8> = (0..200)
            .map(|_| rng.below(256) as u8)
            .filter(|&b| b != b'\n')
            .collect();
        data.extend_from_slice(&garbage);
        data.push(b'\n');
    }
    let long = "x".repeat(1 << 20);
    data.extend_from_slice(format!("081109 203615 148 INFO comp: {long}\n").as_bytes());
    data.extend_from_slice(b"\r\n");
    data.extend_from_slice(b"081109 203615 148 INFO comp: no newline at the end");
    let (batches, rep) = read_bytes(data, "loghub:HDFS", 3);
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    assert_eq!(rows, 8);
    assert_eq!(rep.rows, 8);
    assert_eq!(rep.parsed + rep.malformed, 8);
    // Malformed: the truncated line, 3 lines of binary garbage, the empty line.
    assert_eq!((rep.parsed, rep.malformed), (3, 5), "{rep:?}");
    let all = logs::concat_batches(&batches).unwrap();
    let content = all.column_by_name("Content").unwrap().as_string::<i32>();
    let raw = all.column_by_name(logs::RAW).unwrap().as_string::<i32>();
    let err = all.column_by_name(logs::ERROR).unwrap().as_string::<i32>();
    let line = all
        .column_by_name(logs::LINE)
        .unwrap()
        .as_primitive::<UInt64Type>();
    assert_eq!(
        (0..8).map(|i| line.value(i)).collect::<Vec<_>>(),
        (1..=8).collect::<Vec<u64>>()
    );
    assert_eq!(content.value(5).len(), long.len());
    assert!(content.is_null(1) && raw.value(1) == "081109 203615 148 INFO" && err.is_valid(1));
    assert_eq!(content.value(7), "no newline at the end");
    assert!(rep.invalid_utf8 >= 1);
}

#[test]
fn syslog_json_and_access_fixtures() {
    let fx = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures");
    let (b, rep) = read_log(fx.join("syslog.txt"), LogFormat::Syslog).unwrap();
    assert_eq!((rep.rows, rep.parsed, rep.malformed), (6, 4, 2));
    let host = b.column_by_name("hostname").unwrap().as_string::<i32>();
    assert_eq!(host.value(0), "mymachine.example.com");
    assert_eq!(host.value(2), "LabSZ");
    let app = b.column_by_name("app_name").unwrap().as_string::<i32>();
    assert_eq!(app.value(2), "sshd");
    let (b, rep) = read_log(fx.join("events.jsonl"), LogFormat::JsonLines).unwrap();
    assert_eq!((rep.rows, rep.parsed, rep.malformed), (8, 4, 4));
    let name = b.column_by_name("user.name").unwrap().as_string::<i32>();
    assert_eq!(name.value(0), "alice");
    assert!(name.is_null(3));
    assert_eq!(name.value(7), "carol");
    assert_eq!(
        b.column_by_name("extra_field")
            .unwrap()
            .as_string::<i32>()
            .value(1),
        "x"
    );
    assert_eq!(
        b.column_by_name("tags")
            .unwrap()
            .as_string::<i32>()
            .value(3),
        "[\"a\",\"b\"]"
    );
    let (b, rep) = read_log(
        fx.join("zeek_conn.json"),
        LogFormat::parse("zeek_json").unwrap(),
    )
    .unwrap();
    assert_eq!((rep.rows, rep.malformed), (3, 0));
    assert_eq!(
        b.column_by_name("id.orig_h")
            .unwrap()
            .as_string::<i32>()
            .value(2),
        "fe80::1"
    );
}

#[test]
fn access_log_webshell_real_file() {
    let path = shared_data().join("web/access_log_webshell.txt");
    let text = std::fs::read(&path).unwrap();
    let lines = text.split(|&b| b == b'\n').count() - usize::from(text.ends_with(b"\n"));
    let (b, rep) = read_log(&path, LogFormat::Access).unwrap();
    assert_eq!(rep.rows as usize, lines);
    assert_eq!(b.num_rows(), lines);
    eprintln!("access log: {rep:?}");
    assert!(rep.parsed as f64 >= 0.99 * lines as f64, "{rep:?}");
    let status = b.column_by_name("status").unwrap().as_string::<i32>();
    assert!(
        (0..b.num_rows())
            .filter(|&i| status.is_valid(i))
            .all(|i| status.value(i).len() == 3)
    );
}

#[test]
fn syslog_reader_on_loghub_openssh_and_linux() {
    for sys in ["OpenSSH", "Linux"] {
        let path = shared_data()
            .join("loghub")
            .join(sys)
            .join(format!("{sys}_2k.log"));
        let (b, rep) = read_log(&path, LogFormat::Syslog).unwrap();
        assert_eq!(
            (rep.rows, rep.parsed),
            (2000, 2000),
            "{sys}: {:?}",
            rep.examples
        );
        let msg = b.column_by_name("message").unwrap().as_string::<i32>();
        let (header, rows) = structured(sys);
        let k = header.iter().position(|h| h == "Content").unwrap();
        let app = b.column_by_name("app_name").unwrap().as_string::<i32>();
        for i in 0..2000 {
            // RFC 3164 ends the tag at whitespace: `syslogd 1.4.1: restart.` has no tag, so
            // the message is the whole rest (Loghub's header regex would take `restart.`).
            if app.is_valid(i) {
                assert_eq!(msg.value(i).trim(), rows[i][k], "{sys} line {}", i + 1);
            } else {
                assert!(
                    msg.value(i).trim().ends_with(&rows[i][k]),
                    "{sys} line {}",
                    i + 1
                );
            }
        }
    }
}

#[test]
fn zeek_tsv_otrf_logs() {
    let dir = std::env::temp_dir().join(format!("vigil-zeek-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let zip = shared_data()
        .join("otrf/datasets/compound/LSASS_campaign_01/metasploit_logonpasswords_lsass_memory_dump_zeek_logs.zip");
    let st = std::process::Command::new("unzip")
        .arg("-o")
        .arg("-q")
        .arg(&zip)
        .arg("-d")
        .arg(&dir)
        .status()
        .unwrap();
    assert!(st.success());
    let mut files = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        let text = std::fs::read_to_string(&p).unwrap();
        let data_lines = text.lines().filter(|l| !l.starts_with('#')).count();
        let directive_lines = text.lines().filter(|l| l.starts_with('#')).count();
        let (b, rep) = read_log(&p, LogFormat::ZeekTsv).unwrap();
        assert_eq!(rep.rows as usize, data_lines, "{p:?}");
        assert_eq!(rep.directives as usize, directive_lines, "{p:?}");
        assert_eq!(rep.malformed, 0, "{p:?}: {:?}", rep.examples);
        assert_eq!(b.num_rows(), data_lines);
        if p.file_name().unwrap() == "dns.log" {
            let rcode = b.column_by_name("rcode_name").unwrap().as_string::<i32>();
            assert_eq!(rcode.value(0), "SERVFAIL");
            assert!(b.column_by_name("query").unwrap().is_null(0));
        }
        files += 1;
    }
    assert!(files >= 10);
    // Wrong field counts are kept and reported.
    let bad = b"#separator \\x09\n#fields\ta\tb\n1\t2\n1\n1\t2\t3\n".to_vec();
    let (_, rep) = read_bytes(bad, "zeek", 10);
    assert_eq!(
        (rep.rows, rep.parsed, rep.malformed, rep.directives),
        (3, 1, 2, 2)
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn format_errors_are_typed() {
    for bad in ["<A> <A>", "nonsense", "loghub:Nope", "<bad name>", "<_x>"] {
        assert!(
            matches!(
                LogFormat::parse(bad),
                Err(vigil::Error::InvalidParameter { .. })
            ),
            "{bad}"
        );
    }
    assert!(matches!(
        read_log("/nonexistent/file.log", LogFormat::Syslog),
        Err(vigil::Error::Io { .. })
    ));
}

#[test]
fn count_vectors_hand_checked() {
    let ids: ArrayRef = Arc::new(arrow::array::UInt64Array::from(vec![
        Some(5),
        Some(3),
        Some(5),
        None,
        Some(3),
    ]));
    let msgs: ArrayRef = Arc::new(StringArray::from(vec![
        "open blk_1",
        "close blk_1 and blk_2",
        "open blk_2",
        "open blk_3",
        "x",
    ]));
    let cv = counts::count_by_session(ids.as_ref(), msgs.as_ref(), "blk_", Backend::Cpu).unwrap();
    assert_eq!(cv.keys, ["blk_1", "blk_2"]);
    assert_eq!(cv.templates, [3, 5]);
    assert_eq!(cv.counts, [1, 1, 1, 1]);
    let times: ArrayRef = Arc::new(arrow::array::Int64Array::from(vec![0, 59, 60, 61, 130]));
    let cv = counts::count_by_window(ids.as_ref(), times.as_ref(), 60_000_000_000, Backend::Cpu)
        .unwrap();
    assert_eq!(cv.keys, ["0", "60", "120"]);
    assert_eq!(cv.counts, [1, 1, 0, 1, 1, 0]);
    // The same times as a microsecond Timestamp: the window is still 60 seconds, not 60 units.
    let micros: ArrayRef = Arc::new(arrow::array::TimestampMicrosecondArray::from(vec![
        0,
        59_000_000,
        60_000_000,
        61_000_000,
        130_000_000,
    ]));
    let window = vigil::columns::parse_duration("1m").unwrap();
    let cv = counts::count_by_window(ids.as_ref(), micros.as_ref(), window, Backend::Cpu).unwrap();
    assert_eq!(cv.keys, ["0", "60", "120"]);
    assert_eq!(cv.counts, [1, 1, 0, 1, 1, 0]);
    let b = cv.to_batch().unwrap();
    assert_eq!(b.schema().field(1).name(), "t_0000000000000003");
}

#[test]
fn count_vectors_gpu_parity() {
    if !gpu_available() {
        return;
    }
    let mut rng = Rng(11);
    for (n, total) in [
        (0usize, 5usize),
        (1, 1),
        (1000, 37),
        (200_000, 5000),
        (50_000, 3),
    ] {
        let cells: Vec<u64> = (0..n).map(|_| rng.below(total) as u64).collect();
        let cpu = counts::count_cells(&cells, total, Backend::Cpu, 1 << 20).unwrap();
        let mut naive = vec![0u32; total];
        for &c in &cells {
            naive[c as usize] += 1;
        }
        assert_eq!(cpu, naive);
        for chunk in [vigil::DEFAULT_CHUNK_BYTES, 256] {
            let gpu = counts::count_cells(&cells, total, Backend::Gpu, chunk).unwrap();
            assert_eq!(gpu, cpu, "n {n} total {total} chunk {chunk}");
        }
    }
    // Real data: HDFS_5k block vectors.
    let (b, _) = read_log(
        shared_data().join("hdfs_labelled/HDFS_5k.log"),
        LogFormat::parse("loghub:HDFS").unwrap(),
    )
    .unwrap();
    let out = TemplateMiner::default().parse_batch(&b, "Content").unwrap();
    let (ids, c) = (
        out.column_by_name("template_id").unwrap(),
        out.column_by_name("Content").unwrap(),
    );
    let cpu = counts::count_by_session(ids.as_ref(), c.as_ref(), "blk_", Backend::Cpu).unwrap();
    let gpu = counts::count_by_session(ids.as_ref(), c.as_ref(), "blk_", Backend::Gpu).unwrap();
    assert_eq!(cpu, gpu);
}

#[test]
fn hdfs_block_anomalies() {
    let dir = shared_data().join("hdfs_labelled");
    let (b, rep) = read_log(
        dir.join("HDFS_5k.log"),
        LogFormat::parse("loghub:HDFS").unwrap(),
    )
    .unwrap();
    assert_eq!((rep.rows, rep.malformed), (4519, 0));
    let out = TemplateMiner::default().parse_batch(&b, "Content").unwrap();
    let (ids, c) = (
        out.column_by_name("template_id").unwrap(),
        out.column_by_name("Content").unwrap(),
    );
    let cv = counts::count_by_session(ids.as_ref(), c.as_ref(), "blk_", Backend::Cpu).unwrap();
    assert_eq!(cv.keys.len(), 110);
    let labels = std::fs::read_to_string(dir.join("HDFS_5k_block_labels.csv")).unwrap();
    let labels: HashMap<&str, bool> = labels
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(','))
        .map(|(b, l)| (b, l.trim() == "Anomaly"))
        .collect();
    let names: Vec<String> = cv
        .templates
        .iter()
        .map(|&t| counts::CountVectors::column_name(t))
        .collect();
    let x = cv.as_f32();
    let fitted = vigil::detect::RobustZ::default().fit(&names, &x).unwrap();
    let (_, scores) = vigil::kernels::robust_z(
        &x,
        &fitted.center,
        &fitted.scale,
        fitted.params.z_cap,
        Backend::Cpu,
        vigil::DEFAULT_CHUNK_BYTES,
    )
    .unwrap();
    let (mut tp, mut fp, mut fneg) = (0, 0, 0);
    for (k, s) in cv.keys.iter().zip(&scores) {
        match (*s >= 3.0, labels[k.as_str()]) {
            (true, true) => tp += 1,
            (true, false) => fp += 1,
            (false, true) => fneg += 1,
            _ => {}
        }
    }
    let p = tp as f64 / (tp + fp) as f64;
    let r = tp as f64 / (tp + fneg) as f64;
    let f1 = 2.0 * p * r / (p + r);
    eprintln!("HDFS_5k: precision {p:.3} recall {r:.3} F1 {f1:.3}");
    assert!(r >= 0.9 && p >= 0.75 && f1 >= 0.85, "{p} {r} {f1}");
}
