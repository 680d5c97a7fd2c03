//! Grouping accuracy of vigil's template miner on the eight Loghub 2k logs, default settings
//! (only each system's header format is given), next to Drain's published figures.
//!
//! Run: `cargo run --release -p vigil --example loghub_accuracy [-- <data dir>]`
//! (data dir default: `../shared/data/loghub` from the repository root).

use std::collections::HashMap;
use std::path::PathBuf;

use arrow::array::AsArray;
use arrow::datatypes::UInt64Type;
use vigil::logs::{LogFormat, read_log};
use vigil::template::TemplateMiner;

/// The eight Loghub systems and Drain's published grouping accuracy on each.
pub const SYSTEMS: [(&str, f64); 8] = [
    ("HDFS", 0.9975),
    ("BGL", 0.9625),
    ("Apache", 1.0),
    ("OpenSSH", 0.7875),
    ("Linux", 0.69),
    ("HealthApp", 0.78),
    ("Proxifier", 0.5265),
    ("Zookeeper", 0.9665),
];

/// Splits one CSV record (RFC 4180 quoting).
pub fn csv_fields(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out
}

/// Per line, whether it is grouped correctly (Loghub's definition): the set of lines with
/// its predicted id equals the set of lines with its true template.
pub fn line_correct(predicted: &[u64], truth: &[String]) -> Vec<bool> {
    let mut by_truth: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut by_pred: HashMap<u64, Vec<usize>> = HashMap::new();
    for (i, (p, t)) in predicted.iter().zip(truth).enumerate() {
        by_truth.entry(t).or_default().push(i);
        by_pred.entry(*p).or_default().push(i);
    }
    let mut ok = vec![false; predicted.len()];
    for (_, lines) in by_truth {
        let p = predicted[lines[0]];
        if by_pred[&p] == lines {
            for i in lines {
                ok[i] = true;
            }
        }
    }
    ok
}

/// Loghub grouping accuracy of `predicted` against `truth`.
pub fn grouping_accuracy(predicted: &[u64], truth: &[String]) -> f64 {
    let ok = line_correct(predicted, truth);
    ok.iter().filter(|&&b| b).count() as f64 / predicted.len().max(1) as f64
}

/// The ground-truth `EventId` of every line of `<dir>/<sys>/<sys>_2k.log_structured.csv`.
pub fn ground_truth(dir: &std::path::Path, sys: &str) -> vigil::Result<Vec<String>> {
    let path = dir.join(sys).join(format!("{sys}_2k.log_structured.csv"));
    let csv = std::fs::read_to_string(&path).map_err(|source| vigil::Error::Io {
        path: path.display().to_string(),
        source,
    })?;
    let mut lines = csv.lines();
    let header = csv_fields(lines.next().unwrap_or_default());
    let ev = header.iter().position(|h| h == "EventId").unwrap_or(0);
    Ok(lines
        .map(|l| csv_fields(l).get(ev).cloned().unwrap_or_default())
        .collect())
}

fn main() -> vigil::Result<()> {
    let dir = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/loghub")
        });
    let verbose = std::env::var("VERBOSE").is_ok();
    println!("| system | vigil | Drain (published, tuned) | difference |");
    println!("|---|---|---|---|");
    let (mut sum, mut drain_sum) = (0.0, 0.0);
    for (sys, drain) in SYSTEMS {
        let log = dir.join(sys).join(format!("{sys}_2k.log"));
        let truth = ground_truth(&dir, sys)?;
        let (batch, report) = read_log(&log, LogFormat::parse(&format!("loghub:{sys}"))?)?;
        assert_eq!(report.malformed, 0, "{sys}: {:?}", report.examples);
        let mut miner = TemplateMiner::default();
        let out = miner.parse_batch(&batch, "Content")?;
        let ids = out
            .column_by_name("template_id")
            .map(|c| c.as_primitive::<UInt64Type>().clone());
        let ids = ids.ok_or_else(|| vigil::Error::InvalidInput("no ids".into()))?;
        let pred: Vec<u64> = (0..ids.len()).map(|i| ids.value(i)).collect();
        let acc = grouping_accuracy(&pred, &truth);
        if verbose {
            let tmpl = out
                .column_by_name("template")
                .map(|c| arrow::compute::cast(c, &arrow::datatypes::DataType::Utf8));
            let tmpl = tmpl.and_then(|r| r.ok());
            let content = batch.column_by_name("Content").cloned();
            if let (Some(t), Some(c)) = (tmpl, content) {
                let (t, c) = (t.as_string::<i32>().clone(), c.as_string::<i32>().clone());
                // Wrong ground-truth groups: print the predicted templates they got.
                let mut groups: HashMap<&str, Vec<usize>> = HashMap::new();
                for (i, tr) in truth.iter().enumerate() {
                    groups.entry(tr).or_default().push(i);
                }
                let mut pg: HashMap<u64, Vec<usize>> = HashMap::new();
                for (i, p) in pred.iter().enumerate() {
                    pg.entry(*p).or_default().push(i);
                }
                let mut keys: Vec<_> = groups.keys().copied().collect();
                keys.sort();
                for k in keys {
                    let g = &groups[k];
                    if pg[&pred[g[0]]] != *g {
                        let mut seen: Vec<u64> = g.iter().map(|&i| pred[i]).collect();
                        seen.sort();
                        seen.dedup();
                        println!(
                            "  {sys} {k} ({} lines) -> {} predicted groups; e.g. `{}` ; first pred `{}` (size {})",
                            g.len(),
                            seen.len(),
                            c.value(g[0]),
                            t.value(g[0]),
                            pg[&pred[g[0]]].len()
                        );
                    }
                }
            }
        }
        println!("| {sys} | {acc:.4} | {drain:.4} | {:+.4} |", acc - drain);
        sum += acc;
        drain_sum += drain;
    }
    println!(
        "| **mean** | **{:.4}** | **{:.4}** | {:+.4} |",
        sum / 8.0,
        drain_sum / 8.0,
        (sum - drain_sum) / 8.0
    );
    Ok(())
}
