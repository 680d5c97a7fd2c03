//! HDFS_5k: mine templates, build per-block event-count vectors, score the blocks with the
//! robust z detector fitted on all blocks (unsupervised), and compare with the labels.
//!
//! Run: `cargo run --release -p vigil --example hdfs_anomalies [-- <dir of HDFS_5k.log>]`

use std::collections::HashMap;
use std::path::PathBuf;

use arrow::array::AsArray;
use vigil::Backend;
use vigil::detect::{Detector, RobustZ};
use vigil::logs::{LogFormat, read_log};
use vigil::template::{TemplateMiner, counts};

/// A block is flagged when its robust-z score (RMS of per-template z) is at least this: the
/// conventional three-sigma rule, fixed before looking at the labels.
pub const CUTOFF: f32 = 3.0;

fn main() -> vigil::Result<()> {
    let dir = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/hdfs_labelled")
        });
    let (batch, report) = read_log(dir.join("HDFS_5k.log"), LogFormat::parse("loghub:HDFS")?)?;
    println!(
        "lines {} parsed {} malformed {}",
        report.rows, report.parsed, report.malformed
    );
    let mut miner = TemplateMiner::default();
    let out = miner.parse_batch(&batch, "Content")?;
    let ids = out
        .column_by_name("template_id")
        .cloned()
        .unwrap_or_else(|| batch.column(0).clone());
    let content = batch
        .column_by_name("Content")
        .cloned()
        .unwrap_or_else(|| batch.column(0).clone());
    let cv = counts::count_by_session(ids.as_ref(), content.as_ref(), "blk_", Backend::Auto)?;
    println!("templates {} blocks {}", cv.templates.len(), cv.keys.len());
    let labels_text =
        std::fs::read_to_string(dir.join("HDFS_5k_block_labels.csv")).map_err(|source| {
            vigil::Error::Io {
                path: "labels".into(),
                source,
            }
        })?;
    let labels: HashMap<&str, bool> = labels_text
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
    let blocks = cv.to_batch()?;
    let fitted = Detector::from(RobustZ::default()).fit_batches(
        std::slice::from_ref(&blocks),
        &names,
        Backend::Auto,
    )?;
    let scores = fitted.score_samples(&blocks, Backend::Auto)?;
    let (mut tp, mut fp, mut fneg) = (0, 0, 0);
    let mut ranked: Vec<(f32, &str, bool)> = Vec::new();
    for (k, s) in cv.keys.iter().zip(&scores) {
        let truth = labels.get(k.as_str()).copied().unwrap_or(false);
        let flag = *s >= CUTOFF;
        ranked.push((*s, k, truth));
        match (flag, truth) {
            (true, true) => tp += 1,
            (true, false) => fp += 1,
            (false, true) => fneg += 1,
            _ => {}
        }
    }
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
    for r in ranked.iter().take(15) {
        println!("{:8.3} {} {}", r.0, r.1, r.2);
    }
    let p = tp as f64 / (tp + fp).max(1) as f64;
    let r = tp as f64 / (tp + fneg).max(1) as f64;
    println!(
        "blocks labelled {} ; precision {p:.3} recall {r:.3} F1 {:.3} (tp {tp} fp {fp} fn {fneg})",
        labels.len(),
        2.0 * p * r / (p + r).max(1e-12)
    );
    let _ = out
        .column(0)
        .as_primitive_opt::<arrow::datatypes::UInt64Type>();
    Ok(())
}
