//! `vigil intel` run as a user would: hand-checked matches (longest prefix, subdomains,
//! hashes in any case, a warninglist suppression), every output format, STIX and MISP
//! sightings, and the error cases (one line, non-zero exit code).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Output;

mod common;

use common::{path_str as p, vigil};

/// A fresh directory for one `vigil intel` test.
fn scratch(name: &str) -> PathBuf {
    common::scratch(&format!("intel-{name}"))
}

const SHA: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// Indicators, events and a warninglist; returns (indicators, events, warninglist).
fn fixture(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let ind = dir.join("iocs.csv");
    std::fs::write(
        &ind,
        format!(
            "value,kind,id,source,confidence\n\
             10.0.0.0/8,cidr,net8,feed,40\n\
             10.1.0.0/16,cidr,net16,feed,60\n\
             8.8.8.8,ip,dns,feed,10\n\
             evil.example,domain_suffix,evil,feed,90\n\
             bad.test,domain,bad,feed,80\n\
             {SHA},sha256,empty-file,feed,50\n\
             not-an-ip/99,cidr,broken,feed,50\n"
        ),
    )
    .expect("write indicators");
    let ev = dir.join("events.csv");
    std::fs::write(
        &ev,
        format!(
            "ts,dst,query,sha\n\
             1700000000,10.1.2.3,www.EVIL.example.,-\n\
             1700000060,10.200.0.1,bad.test,{}\n\
             1700000120,8.8.8.8,sub.bad.test,{SHA}\n\
             1700000180,192.168.1.1,example.org,nothex\n",
            SHA.to_uppercase()
        ),
    )
    .expect("write events");
    let wl = dir.join("public-dns.json");
    std::fs::write(
        &wl,
        r#"{"name": "public-dns", "type": "cidr", "description": "resolvers", "version": 1, "list": ["8.8.8.0/24"]}"#,
    )
    .expect("write warninglist");
    (ind, ev, wl)
}

fn csv_rows(path: &Path) -> Vec<Vec<String>> {
    let mut r = csv::Reader::from_path(path).expect("read csv");
    r.records()
        .map(|x| x.expect("record").iter().map(str::to_string).collect())
        .collect()
}

#[test]
fn intel_matches_by_hand_with_sightings() {
    let dir = scratch("hand");
    let (ind, ev, wl) = fixture(&dir);
    let out = dir.join("m.csv");
    let stix = dir.join("seen.json");
    let misp = dir.join("misp.json");
    let o = vigil(&[
        "intel",
        p(&ev),
        "-i",
        p(&ind),
        "-c",
        "dst=ip",
        "-c",
        "query=domain",
        "-c",
        "sha=hash",
        "--warninglist",
        p(&wl),
        "--time-column",
        "ts",
        "--identity",
        "ACME SOC",
        "--sightings",
        p(&stix),
        "--misp-sightings",
        p(&misp),
        "-o",
        p(&out),
        "--quiet",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    let summary = String::from_utf8_lossy(&o.stdout);
    // 6 indicators loaded, one rejected (not-an-ip/99); 7 matches, 1 suppressed; the values
    // invalid for their kind: the hash column's "nothex" (the "-" is empty, not invalid).
    assert!(summary.contains("6 indicators (1 rejected)"), "{summary}");
    assert!(
        summary.contains("4 log rows, 7 matches (1 suppressed)"),
        "{summary}"
    );
    assert!(summary.contains("1 values invalid"), "{summary}");
    let rows = csv_rows(&out);
    // row, column, value, indicator_id, kind, source, confidence, suppressed_by, ts
    let got: BTreeSet<(String, String, String, String)> = rows
        .iter()
        .map(|r| (r[0].clone(), r[1].clone(), r[3].clone(), r[7].clone()))
        .collect();
    let s = |a: &str, b: &str, c: &str, d: &str| {
        (a.to_string(), b.to_string(), c.to_string(), d.to_string())
    };
    let want: BTreeSet<_> = [
        s("0", "dst", "net16", ""), // longest prefix of 10.0.0.0/8 and 10.1.0.0/16
        s("0", "query", "evil", ""), // www.EVIL.example. under evil.example
        s("1", "dst", "net8", ""),
        s("1", "query", "bad", ""),         // exact
        s("1", "sha", "empty-file", ""),    // upper-case hex
        s("2", "dst", "dns", "public-dns"), // suppressed by the warninglist
        s("2", "sha", "empty-file", ""),
        // sub.bad.test: `bad.test` is exact-only, no match.
    ]
    .into_iter()
    .collect();
    assert_eq!(got, want);
    assert_eq!(rows.len(), 7);
    // Ordered by row, then column; the time column rides along.
    assert_eq!(rows[0][8], "1700000000");
    let bundle: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&stix).expect("stix")).expect("json");
    assert_eq!(bundle["type"], "bundle");
    let sightings: Vec<&serde_json::Value> = bundle["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .filter(|o| o["type"] == "sighting")
        .collect();
    // Unsuppressed indicators seen: net16, evil, net8, bad, empty-file (twice).
    assert_eq!(sightings.len(), 5);
    let mut counts: Vec<u64> = sightings
        .iter()
        .map(|s| s["count"].as_u64().expect("count"))
        .collect();
    counts.sort_unstable();
    assert_eq!(counts, [1, 1, 1, 1, 2]);
    let misp: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&misp).expect("misp")).expect("json");
    assert!(misp.as_array().is_some_and(|a| !a.is_empty()), "{misp}");
}

#[test]
fn intel_prints_and_writes_parquet_and_jsonl() {
    let dir = scratch("formats");
    let (ind, ev, _) = fixture(&dir);
    let o = vigil(&["intel", p(&ev), "-i", p(&ind), "-c", "dst=ip", "--quiet"]);
    assert!(o.status.success());
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("net16") && text.contains("net8") && text.contains("dns"),
        "{text}"
    );
    assert!(text.contains("3 matches"), "{text}");
    let pq = dir.join("m.parquet");
    let o = vigil(&[
        "intel",
        p(&ev),
        "-i",
        p(&ind),
        "-c",
        "dst=ip",
        "-o",
        p(&pq),
        "-q",
    ]);
    assert!(o.status.success());
    let batches = vigil::io::read_parquet(&pq, 1024).expect("read parquet");
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 3);
    let jl = dir.join("m.jsonl");
    let o = vigil(&[
        "intel",
        p(&ev),
        "-i",
        p(&ind),
        "-c",
        "dst=ip",
        "-o",
        p(&jl),
        "-q",
    ]);
    assert!(o.status.success());
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&jl)
        .expect("jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["row"], 0);
    assert_eq!(lines[0]["indicator_id"], "net16");
    assert_eq!(lines[0]["confidence"], 60);
    assert!(lines[0]["suppressed_by"].is_null());
}

fn assert_fails(o: &Output, needle: &str) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert_ne!(o.status.code(), Some(0), "{err}");
    assert!(o.status.code().is_some(), "killed by a signal: {err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "one line on stderr, got: {err:?}");
    assert!(lines[0].starts_with("vigil: error: "), "{err}");
    assert!(lines[0].contains(needle), "`{needle}` not in: {err}");
}

#[test]
fn intel_errors_are_one_line() {
    let dir = scratch("errors");
    let (ind, ev, _) = fixture(&dir);
    let missing = dir.join("nope.json");
    assert_fails(
        &vigil(&["intel", p(&ev), "-i", p(&missing), "-c", "dst=ip"]),
        "does not exist",
    );
    assert_fails(
        &vigil(&["intel", p(&ev), "-i", p(&ind), "-c", "dst"]),
        "COLUMN=KIND",
    );
    assert_fails(
        &vigil(&["intel", p(&ev), "-i", p(&ind), "-c", "dst=planet"]),
        "not a column kind",
    );
    assert_fails(
        &vigil(&["intel", p(&ev), "-i", p(&ind), "-c", "nosuch=ip"]),
        "nosuch",
    );
    assert_fails(
        &vigil(&[
            "intel",
            p(&dir.join("x.parquet")),
            "-i",
            p(&ind),
            "-c",
            "dst=ip",
        ]),
        "not a file",
    );
    assert_fails(
        &vigil(&[
            "intel",
            p(&ev),
            "-i",
            p(&ind),
            "-c",
            "dst=ip",
            "--warninglist",
            p(&ind),
        ]),
        "not a MISP warninglist",
    );
    assert_fails(
        &vigil(&[
            "intel",
            p(&ev),
            "-i",
            p(&ind),
            "-c",
            "dst=ip",
            "-o",
            p(&dir.join("m.xlsx")),
        ]),
        "unknown extension",
    );
    // Usage errors: clap's, exit code 2.
    let o = vigil(&["intel", p(&ev), "-c", "dst=ip"]);
    assert_eq!(o.status.code(), Some(2));
    assert_fails(&o, "--indicators");
}
