//! HDFS block anomalies with the PCA residual detector, loglizer-style.
//!
//! Reads `../shared/data/hdfs_labelled/HDFS_5k.log` (4,519 lines, 110 blocks, 10 labelled
//! anomalous), builds one event-count vector per block id, fits `PcaResidual` on all blocks
//! (unsupervised, as loglizer does), flags blocks above the Q-statistic cut-off, and reports
//! precision / recall / F1 against the labels next to loglizer's published PCA figures.
//!
//! Event types: templates mined by `vigil::template::TemplateMiner` from the `Content` field
//! (read with the Loghub HDFS header format); a message counts for every block it names.
//!
//! `cargo run --release --example hdfs_pca [-- path/to/HDFS_5k.log path/to/labels.csv]`

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, Float32Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use vigil::Backend;
use vigil::detect::{Detector, FittedDetector, PcaResidual, evaluate};
use vigil::logs::{LogFormat, read_log};
use vigil::template::{TemplateMiner, counts};

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
        "HDFS_5k: {} lines, {} blocks ({} labelled anomalous), {} mined templates, tf-idf weighted",
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
    let (lines, report) = read_log(log, LogFormat::parse("loghub:HDFS")?)?;
    let mined = TemplateMiner::default().parse_batch(&lines, "Content")?;
    let column = |name: &str| {
        mined
            .column_by_name(name)
            .cloned()
            .ok_or(format!("no {name} column"))
    };
    let cv = counts::count_by_session(
        column("template_id")?.as_ref(),
        column("Content")?.as_ref(),
        "blk_",
        Backend::Cpu,
    )?;
    let labels: HashMap<String, bool> = std::fs::read_to_string(labels_path)
        .map_err(|e| format!("{}: {e}", labels_path.display()))?
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(','))
        .map(|(b, l)| (b.to_string(), l.trim() == "Anomaly"))
        .collect();

    // One row per block, one Float32 column per template, weighted as loglizer does: tf-idf,
    // idf = ln(blocks / blocks with the template).
    let names: Vec<String> = cv
        .templates
        .iter()
        .map(|&t| counts::CountVectors::column_name(t))
        .collect();
    let x = cv.as_f32();
    let (n, width) = (cv.keys.len(), names.len());
    let columns: Vec<ArrayRef> = (0..width)
        .map(|e| {
            let df = (0..n).filter(|&b| x[b * width + e] > 0.0).count() as f64;
            let idf = (n as f64 / df.max(1.0)).ln();
            Arc::new(Float32Array::from_iter_values(
                (0..n).map(|b| (f64::from(x[b * width + e]) * idf) as f32),
            )) as ArrayRef
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
    let truth: Vec<bool> = cv
        .keys
        .iter()
        .map(|b| labels.get(b).copied().unwrap_or(false))
        .collect();
    let evaluation = evaluate(&scores, &alerts, &truth, 10)?;
    Ok(Report {
        lines: report.rows as usize,
        blocks: n,
        events: width,
        components: pca.n_components(),
        cutoff: q,
        evaluation,
    })
}
