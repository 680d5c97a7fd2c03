//! Windows event logs: SigmaHQ's regression cases read from `.evtx` and from their evtx_dump
//! `.json` give the same events (two independent encodings of one set of events); values of
//! one record checked by hand against its JSON; damaged, truncated and non-EVTX files keep
//! rows with reasons; a directory read in parallel = its files read one by one; Winlogbeat
//! and flat JSON events land in the same columns.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, TimestampNanosecondType, UInt32Type, UInt64Type};
use common::shared_data;
use vigil::logs::evtx::{
    EventFormat, EvtxOptions, event_files, read_event_json, read_evtx, read_evtx_with,
};

fn regression() -> PathBuf {
    shared_data().join("sigma/regression_data")
}

fn one(batches: &[RecordBatch]) -> RecordBatch {
    if batches.is_empty() {
        panic!("no batches");
    }
    arrow::compute::concat_batches(&batches[0].schema(), batches).unwrap()
}

/// Every cell as text (null = None), per column name, row by row.
fn cells(b: &RecordBatch) -> BTreeMap<String, Vec<Option<String>>> {
    let mut out = BTreeMap::new();
    for (f, c) in b.schema().fields().iter().zip(b.columns()) {
        let text: Vec<Option<String>> = match f.data_type() {
            DataType::List(_) => {
                let l = c.as_list::<i32>();
                (0..l.len())
                    .map(|i| {
                        l.is_valid(i).then(|| {
                            let v = l.value(i);
                            let s = v.as_string::<i32>();
                            format!("{:?}", s.iter().collect::<Vec<_>>())
                        })
                    })
                    .collect()
            }
            _ => {
                // Timestamps as ns numbers (arrow casts a named zone only with chrono-tz).
                let c = match c.data_type() {
                    DataType::Timestamp(..) => arrow::compute::cast(c, &DataType::Int64).unwrap(),
                    _ => c.clone(),
                };
                let s = arrow::compute::cast(&c, &DataType::Utf8).unwrap();
                s.as_string::<i32>()
                    .iter()
                    .map(|v| v.map(str::to_string))
                    .collect()
            }
        };
        out.insert(f.name().clone(), text);
    }
    out
}

fn col_str<'a>(
    cells: &'a BTreeMap<String, Vec<Option<String>>>,
    name: &str,
) -> &'a [Option<String>] {
    cells.get(name).map(Vec::as_slice).unwrap_or(&[])
}

/// The regression cases: (.evtx, .json) pairs.
fn cases() -> Vec<(PathBuf, PathBuf)> {
    let evtx = event_files(&regression(), EventFormat::Evtx).unwrap();
    evtx.into_iter()
        .filter_map(|e| {
            let j = e.with_extension("json");
            j.exists().then_some((e, j))
        })
        .collect()
}

#[test]
fn regression_evtx_and_json_give_the_same_events() {
    let cases = cases();
    assert!(cases.len() >= 100, "found {} cases", cases.len());
    let mut events = 0;
    let mut mismatches = Vec::new();
    for (evtx, json) in &cases {
        let (eb, er) = read_evtx(evtx).unwrap();
        let (jb, jr) = read_evtx(json).unwrap();
        let (e, j) = (cells(&one(&eb)), cells(&one(&jb)));
        let n = col_str(&e, "record_id").len();
        assert_eq!(er.records, n as u64);
        assert_eq!(er.damaged, 0, "{evtx:?}: {:?}", er.examples);
        assert_eq!(jr.damaged, 0, "{json:?}: {:?}", jr.examples);
        assert_eq!(n, col_str(&j, "record_id").len(), "{evtx:?}: record count");
        assert!(n >= 1);
        events += n;
        // Same order? Match by record id.
        let order = |c: &BTreeMap<String, Vec<Option<String>>>| {
            let ids = col_str(c, "record_id");
            let mut idx: Vec<usize> = (0..ids.len()).collect();
            idx.sort_by_key(|&i| ids[i].as_ref().map(|s| s.parse::<u64>().unwrap()));
            idx
        };
        let (eo, jo) = (order(&e), order(&j));
        let names: std::collections::BTreeSet<&String> = e.keys().chain(j.keys()).collect();
        for name in names {
            if name == "source_file" {
                continue;
            }
            let (ec, jc) = (col_str(&e, name), col_str(&j, name));
            for k in 0..n {
                let mut ev = ec.get(eo[k]).cloned().flatten();
                let mut jv = jc.get(jo[k]).cloned().flatten();
                if name == "timestamp" {
                    // The files hold 100 ns FILETIMEs; these JSON dumps print microseconds.
                    let us = |v: Option<String>| v.map(|t| t.parse::<i64>().unwrap() / 1000);
                    assert_eq!(us(ev.clone()), us(jv.clone()), "{evtx:?}: timestamp #{k}");
                    ev = None;
                    jv = None;
                }
                let (ev, jv) = (same_form(&ev), same_form(&jv));
                let known = KNOWN_DIFFERENCES
                    .iter()
                    .any(|(f, c)| evtx.to_string_lossy().contains(f) && c == name);
                let equal = if known {
                    ev.as_ref().map(|v| v.to_ascii_lowercase())
                        == jv.as_ref().map(|v| v.to_ascii_lowercase())
                } else {
                    ev == jv
                };
                if !equal {
                    mismatches.push(format!("{evtx:?}: {name} #{k}: {ev:?} vs {jv:?}"));
                }
            }
        }
        for must in ["event_id", "channel", "computer", "timestamp", "provider"] {
            assert!(
                col_str(&e, must).iter().all(Option::is_some),
                "{evtx:?} {must}"
            );
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
    assert!(events >= 100);
}

/// Cells whose JSON differs from the EVTX file by letter case only (the JSON was not dumped
/// from this very file): `C:\Windows\Explorer.EXE` in the file, `Explorer.exe` in the JSON.
const KNOWN_DIFFERENCES: [(&str, &str); 1] =
    [("ad691d92-15f2-4181-9aa4-723c74f9ddc3", "ParentCommandLine")];

/// A value in the form both encodings share. The older evtx_dump that wrote the JSON files
/// trimmed trailing whitespace (`"cmd.exe\" "` in the file is `"cmd.exe\""` there) and printed
/// GUIDs as `5AA13A44-...` where this crate, like Windows' XML, has `{5aa13a44-...}`.
fn same_form(v: &Option<String>) -> Option<String> {
    let s = v.as_ref()?.trim_end();
    let t = s.trim_start_matches('{').trim_end_matches('}');
    let is_guid = t.len() == 36
        && t.char_indices().all(|(i, c)| {
            if [8, 13, 18, 23].contains(&i) {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }
        });
    Some(if is_guid {
        t.to_ascii_lowercase()
    } else {
        s.to_string()
    })
}

#[test]
fn one_record_checked_by_hand() {
    // Values read off the case's evtx_dump JSON by eye.
    let path = regression().join(
        "rules-emerging-threats/2026/Exploits/RedSun/file_event_win_exploit_redsun_indicators/f2e4b7d9-5c3a-4f8b-9e1d-7a6c2b3f4e5d.evtx",
    );
    let (b, report) = read_evtx(&path).unwrap();
    let b = one(&b);
    assert_eq!(report.files, 1);
    let ids = b
        .column_by_name("record_id")
        .unwrap()
        .as_primitive::<UInt64Type>();
    let i = (0..ids.len()).find(|&i| ids.value(i) == 83239).unwrap();
    let u32_at = |c: &str| {
        b.column_by_name(c)
            .unwrap()
            .as_primitive::<UInt32Type>()
            .value(i)
    };
    let str_at = |c: &str| {
        b.column_by_name(c)
            .unwrap()
            .as_string::<i32>()
            .value(i)
            .to_string()
    };
    assert_eq!(u32_at("event_id"), 11);
    assert_eq!(u32_at("level"), 4);
    assert_eq!(u32_at("task"), 11);
    assert_eq!(u32_at("opcode"), 0);
    assert_eq!(u32_at("process_id"), 3208);
    assert_eq!(u32_at("thread_id"), 1724);
    assert_eq!(str_at("provider"), "Microsoft-Windows-Sysmon");
    assert_eq!(str_at("channel"), "Microsoft-Windows-Sysmon/Operational");
    assert_eq!(str_at("computer"), "swachchhanda");
    assert_eq!(str_at("keywords"), "0x8000000000000000");
    assert_eq!(str_at("user_sid"), "S-1-5-18");
    assert_eq!(str_at("Image"), r"C:\Users\xodih\Downloads\RedSun.exe");
    assert_eq!(
        str_at("TargetFilename"),
        r"C:\Users\xodih\AppData\Local\Temp\RS-{05A3207F-23AB-432D-BDAF-69A8306619CF}\TieringEngineService.exe"
    );
    assert_eq!(str_at("ProcessId"), "15596");
    // 2026-04-17T05:24:53.092051Z; `date -u -d 2026-04-17T05:24:53Z +%s` = 1776403493.
    let ts = b.column_by_name("timestamp").unwrap();
    assert_eq!(
        ts.data_type(),
        &DataType::Timestamp(arrow::datatypes::TimeUnit::Nanosecond, Some("UTC".into()))
    );
    // The JSON prints microseconds; the file holds 100 ns units (FILETIME).
    let ns = ts.as_primitive::<TimestampNanosecondType>().value(i);
    assert_eq!(ns / 1000, 1_776_403_493_092_051);
    assert_eq!(ns % 100, 0);
    assert!(b.column_by_name("parse_error").unwrap().is_null(i));
}

#[test]
fn userdata_fields_become_columns() {
    let path = regression().join(
        "rules/windows/builtin/wmi/win_wmi_activity_nteventlogfile_cleareventlog/d4f1a2b3-7c8e-4d5f-b6a9-1e0c2d3f4e5b.evtx",
    );
    let (b, _) = read_evtx(&path).unwrap();
    let c = cells(&one(&b));
    let ids = col_str(&c, "event_id");
    let i = ids
        .iter()
        .position(|v| v.as_deref() == Some("5858"))
        .unwrap();
    let op = col_str(&c, "Operation")[i].clone().unwrap();
    assert!(
        op.contains("Win32_NTEventlogFile") && op.contains("::cleareventlog"),
        "{op}"
    );
    assert_eq!(col_str(&c, "ResultCode")[i].as_deref(), Some("0x80041003"));
    let ud: serde_json::Value =
        serde_json::from_str(col_str(&c, "user_data")[i].as_deref().unwrap()).unwrap();
    assert_eq!(
        ud["UserData"]["Operation_ClientFailure"]["ClientProcessId"],
        serde_json::json!(25920)
    );
}

fn some_evtx() -> PathBuf {
    // The largest regression file: several chunks' worth of records, or at least many.
    cases()
        .into_iter()
        .map(|(e, _)| e)
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .unwrap()
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("vigil-evtx-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn truncated_and_corrupted_files_keep_rows_with_reasons() {
    let src = some_evtx();
    let bytes = std::fs::read(&src).unwrap();
    let (whole, whole_report) = read_evtx(&src).unwrap();
    let whole_rows = one(&whole).num_rows();
    assert_eq!(whole_report.damaged, 0);
    let dir = tmp("damaged");

    // Cut inside the first chunk, a little past its first records.
    let cut = dir.join("cut.evtx");
    std::fs::write(&cut, &bytes[..4096 + 512 + 3000]).unwrap();
    let (b, r) = read_evtx(&cut).unwrap();
    let b = one(&b);
    assert_eq!(r.truncated_files, 1);
    assert_eq!(r.records as usize, b.num_rows());
    assert!(b.num_rows() >= 1);
    assert!(r.parsed < whole_rows as u64);
    assert!(r.damaged >= 1, "{r:?}");
    let errs = b.column_by_name("parse_error").unwrap();
    assert_eq!(errs.null_count() as u64, r.parsed);

    // Cut inside the first chunk's header: no record can be read, the cut keeps a row.
    let head = dir.join("head.evtx");
    std::fs::write(&head, &bytes[..4096 + 200]).unwrap();
    let (b, r) = read_evtx(&head).unwrap();
    assert_eq!(
        (r.records, r.damaged, r.truncated_files),
        (1, 1, 1),
        "{r:?}"
    );
    let why = one(&b)
        .column_by_name("parse_error")
        .unwrap()
        .as_string::<i32>()
        .value(0)
        .to_string();
    assert!(why.contains("4296 bytes in"), "{why}");

    // Records overwritten with garbage in the middle of the first chunk.
    let mut bad = bytes.clone();
    for (k, byte) in bad.iter_mut().enumerate().skip(4096 + 1024).take(2048) {
        *byte = (k * 7 + 13) as u8;
    }
    let garbled = dir.join("garbled.evtx");
    std::fs::write(&garbled, &bad).unwrap();
    let (b, r) = read_evtx(&garbled).unwrap();
    let b = one(&b);
    assert_eq!(r.records as usize, b.num_rows());
    assert!(r.damaged >= 1, "{r:?}");
    let errs = b.column_by_name("parse_error").unwrap().as_string::<i32>();
    assert!((0..errs.len()).any(|i| errs.is_valid(i) && !errs.value(i).is_empty()));

    // Not an EVTX file at all, by extension or by content: one row, with the reason.
    let fake = dir.join("fake.evtx");
    std::fs::write(&fake, b"ElfFile\0 but nothing more").unwrap();
    let (b, r) = read_evtx(&fake).unwrap();
    assert_eq!((r.records, r.damaged, r.unreadable_files), (1, 1, 1));
    let e = one(&b);
    assert!(e.column_by_name("parse_error").unwrap().is_valid(0));
    assert_eq!(
        e.column_by_name("source_file")
            .unwrap()
            .as_string::<i32>()
            .value(0),
        fake.display().to_string()
    );

    // The four files in one directory read: rows = the sum, no file lost.
    let (b, r) = read_evtx(&dir).unwrap();
    assert_eq!(r.files, 4);
    assert_eq!(one(&b).num_rows() as u64, r.records);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn directory_in_parallel_equals_files_one_by_one() {
    let root = regression();
    let files = event_files(&root, EventFormat::Evtx).unwrap();
    assert!(files.len() >= 100);
    let opts = EvtxOptions {
        batch_rows: 7, // many batches per file
        ..EvtxOptions::default()
    };
    let (all, report) = read_evtx_with(&root, &opts).unwrap();
    let all_schema = all[0].schema();
    assert!(all.iter().all(|b| b.schema() == all_schema));
    assert!(all.iter().all(|b| b.num_rows() <= 7));
    let all = cells(&one(&all));
    let mut offset = 0;
    let mut records = 0;
    for f in &files {
        let (b, r) = read_evtx(f).unwrap();
        records += r.records;
        let c = cells(&one(&b));
        let n = col_str(&c, "record_id").len();
        for (name, vals) in &all {
            let mine = col_str(&c, name);
            for k in 0..n {
                assert_eq!(
                    vals[offset + k],
                    mine.get(k).cloned().flatten(),
                    "{f:?} {name} row {k}"
                );
            }
        }
        offset += n;
    }
    assert_eq!(offset, col_str(&all, "record_id").len());
    assert_eq!(report.records, records);
    assert_eq!(report.files, files.len() as u64);
}

#[test]
fn winlogbeat_and_flat_json_land_in_the_same_columns() {
    let text = r#"{"@timestamp":"2024-01-02T03:04:05.5Z","winlog":{"event_id":"4688","channel":"Security","computer_name":"dc1","provider_name":"Microsoft-Windows-Security-Auditing","record_id":77,"process":{"pid":4,"thread":{"id":8}},"user":{"identifier":"S-1-5-18"},"keywords":"0x8020000000000000","event_data":{"NewProcessName":"C:\\x.exe","CommandLine":"x /y"}}}
{"EventID": 1, "Channel": "Microsoft-Windows-Sysmon/Operational", "Image": "C:\\a.exe", "ProcessId": 12}
not json at all
[1, 2]
{"_source": {"winlog": {"event_id": 7045, "channel": "System"}}}
"#;
    let (b, r) = read_event_json(text.as_bytes(), "mem", 1000).unwrap();
    let c = cells(&one(&b));
    assert_eq!((r.records, r.parsed, r.damaged), (6, 3, 3));
    assert_eq!(col_str(&c, "event_id")[5].as_deref(), Some("7045"));
    assert_eq!(col_str(&c, "channel")[5].as_deref(), Some("System"));
    assert_eq!(col_str(&c, "event_id")[0].as_deref(), Some("4688"));
    assert_eq!(col_str(&c, "channel")[0].as_deref(), Some("Security"));
    assert_eq!(col_str(&c, "computer")[0].as_deref(), Some("dc1"));
    assert_eq!(col_str(&c, "record_id")[0].as_deref(), Some("77"));
    assert_eq!(col_str(&c, "process_id")[0].as_deref(), Some("4"));
    assert_eq!(col_str(&c, "thread_id")[0].as_deref(), Some("8"));
    assert_eq!(col_str(&c, "user_sid")[0].as_deref(), Some("S-1-5-18"));
    assert_eq!(col_str(&c, "CommandLine")[0].as_deref(), Some("x /y"));
    assert_eq!(
        col_str(&c, "NewProcessName")[0].as_deref(),
        Some(r"C:\x.exe")
    );
    assert_eq!(
        col_str(&c, "timestamp")[0].as_deref(),
        Some("1704164645500000000") // `date -u -d 2024-01-02T03:04:05Z +%s` = 1704164645
    );
    assert_eq!(col_str(&c, "event_id")[1].as_deref(), Some("1"));
    assert_eq!(col_str(&c, "Image")[1].as_deref(), Some(r"C:\a.exe"));
    assert_eq!(col_str(&c, "ProcessId")[1].as_deref(), Some("12"));
    assert_eq!(col_str(&c, "Image")[0], None);
    let errs = col_str(&c, "parse_error");
    assert!(errs[0].is_none() && errs[1].is_none());
    assert!(errs[2].as_deref().unwrap().contains("line 3"), "{errs:?}");
    assert!(errs[3].as_deref().unwrap().contains("not a Windows event"));
}

#[test]
fn a_missing_path_is_an_io_error() {
    let e = read_evtx(Path::new("/nonexistent/vigil.evtx")).unwrap_err();
    assert!(e.to_string().contains("/nonexistent/vigil.evtx"), "{e}");
}

#[test]
fn small_files_share_bounded_batches_in_file_order() {
    let root = regression();
    let files = event_files(&root, EventFormat::Evtx).unwrap();
    let opts = EvtxOptions {
        batch_rows: 64,
        ..EvtxOptions::default()
    };
    let (all, report) = read_evtx_with(&root, &opts).unwrap();
    let rows: usize = all.iter().map(RecordBatch::num_rows).sum();
    assert_eq!(rows as u64, report.records);
    assert!(all.iter().all(|b| (1..=64).contains(&b.num_rows())));
    // A batch is cut short only when the next file's events do not fit in it: any two
    // consecutive batches hold more than 64 rows together.
    for pair in all.windows(2) {
        assert!(pair[0].num_rows() + pair[1].num_rows() > 64);
    }
    assert!(all.len() < files.len() / 2, "{} batches", all.len());
    // `source_file` runs name the files in order, each with its own record count.
    let mut runs: Vec<(String, u64)> = Vec::new();
    for b in &all {
        let s = b.column_by_name("source_file").unwrap().as_string::<i32>();
        for v in s.iter() {
            let v = v.unwrap().to_string();
            match runs.last_mut() {
                Some((f, n)) if *f == v => *n += 1,
                _ => runs.push((v, 1)),
            }
        }
    }
    let want: Vec<(String, u64)> = files
        .iter()
        .map(|f| (f.display().to_string(), read_evtx(f).unwrap().1.records))
        .collect();
    assert_eq!(runs, want);
}
