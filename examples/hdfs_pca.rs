//! HDFS block anomalies with the PCA residual detector, loglizer-style.
//!
//! Reads `../shared/data/hdfs_labelled/HDFS_5k.log` (4,519 lines, 110 blocks, 10 labelled
//! anomalous), builds one event-count vector per block id, fits `PcaResidual` on all blocks
//! (unsupervised, as loglizer does), flags blocks above the Q-statistic cut-off, and reports
//! precision / recall / F1 against the labels next to loglizer's published PCA figures.
//!
//! Event types: the message text after the header with every token holding a digit masked
//! (`<*>`), a stand-in for mined templates.
//!
//! `cargo run --release --example hdfs_pca [-- path/to/HDFS_5k.log path/to/labels.csv]`

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow::array::{ArrayRef, Float32Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use vigil::Backend;
use vigil::detect::{Detector, FittedDetector, PcaResidual, evaluate};

/// The message of an HDFS line (`<Date> <Time> <Pid> <Level> <Component>: <Content>`) with
/// every token that holds a digit replaced by `<*>`.
fn masked_event(line: &str) -> Option<String> {
    let content = line.split_once(": ")?.1;
    Some(
        content
            .split_whitespace()
            .map(|t| {
                if t.bytes().any(|b| b.is_ascii_digit()) {
                    "<*>"
                } else {
                    t
                }
            })
            .collect::<Vec<_>>()
            .join(" "),
    )
}

/// Block ids (`blk_<digits>`, possibly negative) mentioned in a line, each once.
fn block_ids(line: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("blk_") {
        let tail = &rest[at + 4..];
        let len = tail
            .char_indices()
            .take_while(|&(i, c)| c.is_ascii_digit() || (i == 0 && c == '-'))
            .count();
        let id = format!("blk_{}", &tail[..len]);
        if len > 0 && !out.contains(&id) {
            out.push(id);
        }
        rest = &tail[len..];
    }
    out
}

/// What [`run`] found.
pub struct Report {
    /// Lines read.
    pub lines: usize,
    /// Blocks (rows of the count matrix).
    pub blocks: usize,
    /// Event types (columns).
    pub events: usize,
    /// Components kept.
    pub components: usize,
    /// Q-statistic cut-off.
    pub cutoff: f64,
    /// Figures against the block labels.
    pub evaluation: vigil::detect::Evaluation,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let data =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/hdfs_labelled");
    let log = args.first().map_or(data.join("HDFS_5k.log"), Into::into);
    let labels = args
        .get(1)
        .map_or(data.join("HDFS_5k_block_labels.csv"), Into::into);
    let r = run(&log, &labels)?;
    let e = &r.evaluation;
    println!(
        "HDFS_5k: {} lines, {} blocks ({} labelled anomalous), {} event types (digits masked), tf-idf weighted",
        r.lines, r.blocks, e.positives, r.events
    );
    println!(
        "PCA residual: {} of {} components kept (95% of variance), Q-statistic cut-off {:.3} (c_alpha 3.2905)",
        r.components, r.events, r.cutoff
    );
    println!(
        "alerts {}: precision {:.3}  recall {:.3}  F1 {:.3}   (ROC-AUC {:.3}, precision@10 {:.2})",
        e.alerts,
        e.precision,
        e.recall,
        e.f1,
        e.roc_auc.unwrap_or(f64::NAN),
        e.precision_at_k.unwrap_or(f64::NAN)
    );
    println!(
        "loglizer PCA, published on the full HDFS data: precision 0.975  recall 0.635  F1 0.769"
    );
    Ok(())
}

/// Builds the count vectors, fits and evaluates (see the file's docs).
pub fn run(
    log: &std::path::Path,
    labels_path: &std::path::Path,
) -> Result<Report, Box<dyn std::error::Error>> {
    let text = std::fs::read_to_string(log).map_err(|e| format!("{}: {e}", log.display()))?;

    let mut events: BTreeMap<String, usize> = BTreeMap::new();
    let mut counts: BTreeMap<String, HashMap<usize, u32>> = BTreeMap::new();
    for line in text.lines() {
        let (Some(event), blocks) = (masked_event(line), block_ids(line)) else {
            continue;
        };
        let next = events.len();
        let id = *events.entry(event).or_insert(next);
        for b in blocks {
            *counts.entry(b).or_default().entry(id).or_default() += 1;
        }
    }
    let labels: HashMap<String, bool> = std::fs::read_to_string(labels_path)
        .map_err(|e| format!("{}: {e}", labels_path.display()))?
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(','))
        .map(|(b, l)| (b.to_string(), l.trim() == "Anomaly"))
        .collect();

    // One row per block, one Float32 column per event type.
    let names: Vec<String> = (0..events.len()).map(|e| format!("e{e}")).collect();
    let blocks: Vec<&String> = counts.keys().collect();
    // loglizer's weighting: tf-idf, idf = ln(blocks / blocks with the event).
    let n = blocks.len() as f64;
    let columns: Vec<ArrayRef> = (0..events.len())
        .map(|e| {
            let df = blocks
                .iter()
                .filter(|b| counts[**b].contains_key(&e))
                .count() as f64;
            let idf = (n / df.max(1.0)).ln();
            Arc::new(Float32Array::from_iter_values(blocks.iter().map(|b| {
                (f64::from(counts[*b].get(&e).copied().unwrap_or(0)) * idf) as f32
            }))) as ArrayRef
        })
        .collect();
    let schema = Schema::new(
        names
            .iter()
            .map(|n| Field::new(n, DataType::Float32, false))
            .collect::<Vec<_>>(),
    );
    let batch = RecordBatch::try_new(Arc::new(schema), columns)?;

    // loglizer centres but does not scale the weighted counts.
    let spec = PcaResidual {
        standardize: false,
        ..Default::default()
    };
    let detector =
        Detector::from(spec).fit_batches(std::slice::from_ref(&batch), &names, Backend::Cpu)?;
    let FittedDetector::PcaResidual(pca) = &detector else {
        return Err("not a PCA model".into());
    };
    let q = pca.q_threshold(3.2905).ok_or("no residual variance")?;
    let scores = detector.score_batch(&batch, Backend::Cpu)?.scores;
    let alerts: Vec<bool> = scores.iter().map(|&s| f64::from(s) > q).collect();
    let truth: Vec<bool> = blocks
        .iter()
        .map(|b| labels.get(*b).copied().unwrap_or(false))
        .collect();
    let evaluation = evaluate(&scores, &alerts, &truth, 10)?;
    Ok(Report {
        lines: text.lines().count(),
        blocks: blocks.len(),
        events: events.len(),
        components: pca.n_components(),
        cutoff: q,
        evaluation,
    })
}
