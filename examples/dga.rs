//! vigil's main job: spot DGA domains among benign ones, with explanations.
//!
//! Features are computed on the registered label (`sld`: `google` of `mail.google.com`).
//! Baseline: 8,000 of the 10,000 OpenDNS top domains (`../shared/data/domains`). Scored: the
//! other 2,000 benign domains mixed with 600 domains of each of three DGA families that vigil
//! generates itself (seeded): Conficker-style, random characters, and dictionary words.
//! Prints the top alerts with the features that drove them, and the ROC-AUC overall and per
//! family.
//!
//! Run: `cargo run --release --example dga` (options: `--data DIR`, `--backend auto|gpu|cpu`,
//! `--top N`, `--out scored.parquet`).

use std::sync::Arc;
use std::time::Instant;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Float32Type, Schema};
use vigil::detect::{RobustZ, Threshold, roc_auc};
use vigil::synth::{DgaFamily, SplitMix64, dga_domains};
use vigil::{Backend, Pipeline, features};

const PER_FAMILY: usize = 600;
const BASELINE: usize = 8000;

fn domains_batch(domains: Vec<String>, labels: Vec<String>) -> vigil::Result<RecordBatch> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("domain", DataType::Utf8, false),
        Field::new("sld", DataType::Utf8, false),
        Field::new("label", DataType::Utf8, false),
    ]));
    let sld: Vec<String> = domains
        .iter()
        .map(|d| registered_label(d).to_string())
        .collect();
    let cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(domains)),
        Arc::new(StringArray::from(sld)),
        Arc::new(StringArray::from(labels)),
    ];
    Ok(RecordBatch::try_new(schema, cols)?)
}

/// The label left of the public suffix, approximated as the second-to-last label (the
/// third-to-last when the last two are short, as in `bbc.co.uk`).
fn registered_label(domain: &str) -> &str {
    let labels: Vec<&str> = domain.trim_end_matches('.').split('.').collect();
    match labels.len() {
        0 | 1 => domain,
        n if n >= 3 && labels[n - 1].len() == 2 && labels[n - 2].len() <= 3 => labels[n - 3],
        n => labels[n - 2],
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut data = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data");
    let mut backend = Backend::Auto;
    let mut top = 15usize;
    let mut out: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--data" => data = args.next().ok_or("--data needs a folder")?.into(),
            "--backend" => {
                backend = Backend::parse(&args.next().ok_or("--backend needs auto|gpu|cpu")?)?
            }
            "--top" => top = args.next().ok_or("--top needs a number")?.parse()?,
            "--out" => out = Some(args.next().ok_or("--out needs a path")?),
            other => {
                return Err(format!(
                    "unknown argument {other}; see the doc comment of examples/dga.rs"
                )
                .into());
            }
        }
    }
    let path = data.join("domains/opendns-top-domains.txt");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut benign: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    // Seeded Fisher-Yates shuffle, then split baseline / held-out benign.
    let mut rng = SplitMix64(2026);
    for i in (1..benign.len()).rev() {
        benign.swap(i, rng.below(i + 1));
    }
    if benign.len() <= BASELINE {
        return Err(format!(
            "{} has {} domains; {BASELINE}+ needed",
            path.display(),
            benign.len()
        )
        .into());
    }
    let held_out = benign.split_off(BASELINE);
    let baseline = domains_batch(benign.clone(), vec!["benign".into(); benign.len()])?;

    let mut names = held_out.clone();
    let mut labels = vec!["benign".to_string(); held_out.len()];
    for (k, family) in DgaFamily::ALL.iter().enumerate() {
        names.extend(dga_domains(*family, PER_FAMILY, 7 + k as u64));
        labels.extend(std::iter::repeat_n(family.name().to_string(), PER_FAMILY));
    }
    let mix = domains_batch(names, labels)?;

    let info = vigil::backend_info(backend)?;
    let started = Instant::now();
    let fitted = Pipeline::builder()
        .feature(features::length("sld"))
        .feature(features::entropy("sld"))
        .feature(features::char_classes("sld"))
        .feature(features::ngrams("sld", 2, 64).normalized())
        // z capped at 5: one feature far outside the baseline (a digit in a name, say) counts
        // like a strong signal, not like a hundred of them, so weaker signals still add up.
        .detector(RobustZ {
            top_k: 3,
            z_cap: 5.0,
        })
        .threshold(Threshold::BaselineQuantile { q: 0.99 })
        .backend(backend)
        .build()?
        .fit(std::slice::from_ref(&baseline))?;
    let scored = fitted.score(&mix)?;
    let elapsed = started.elapsed();

    let score = scored
        .column_by_name(vigil::SCORE)
        .ok_or("no score")?
        .as_primitive::<Float32Type>();
    let alert = scored
        .column_by_name(vigil::ALERT)
        .ok_or("no alert")?
        .as_boolean();
    let label = scored
        .column_by_name("label")
        .ok_or("no label")?
        .as_string::<i32>();
    let domain = scored
        .column_by_name("domain")
        .ok_or("no domain")?
        .as_string::<i32>();
    let explanation = scored
        .column_by_name(vigil::EXPLANATION)
        .ok_or("no explanation")?
        .as_list::<i32>();
    let scores: Vec<f32> = (0..scored.num_rows())
        .map(|i| {
            if score.is_null(i) {
                f32::NAN
            } else {
                score.value(i)
            }
        })
        .collect();

    println!(
        "vigil DGA scenario: baseline {BASELINE} OpenDNS top domains; scored {} benign + {} DGA ({} per family)",
        held_out.len(),
        PER_FAMILY * 3,
        PER_FAMILY
    );
    let adapter = info
        .adapter
        .as_ref()
        .map(|a| format!("{} ({}, {})", a.name, a.api, a.device_type));
    let runs_on = match (info.requested, &info.adapter) {
        (Backend::Gpu, Some(_)) => "GPU",
        (Backend::Auto, Some(a)) if a.hardware => "GPU for large inputs, CPU for this small one",
        _ => "CPU",
    };
    println!(
        "backend: {:?} -> {runs_on} ({} CPU threads; GPU adapter: {})",
        info.requested,
        info.cpu_threads,
        adapter.unwrap_or_else(|| "none".into())
    );
    println!(
        "fit + score: {:.1} ms; alert cut-off (baseline q=0.99): {:.3}\n",
        elapsed.as_secs_f64() * 1e3,
        fitted.cutoff().unwrap_or(f64::NAN)
    );

    let mut order: Vec<usize> = (0..scores.len()).filter(|&i| !scores[i].is_nan()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    println!(
        "{:<4} {:<30} {:<16} {:>7}  top features (robust z)",
        "rank", "domain", "truth", "score"
    );
    for (rank, &i) in order.iter().take(top).enumerate() {
        let ex = explanation.value(i);
        let ex = ex.as_struct();
        let (names, z) = (
            ex.column(0).as_string::<i32>(),
            ex.column(1).as_primitive::<Float32Type>(),
        );
        let why: Vec<String> = (0..ex.len())
            .map(|k| format!("{} {:+.1}", names.value(k), z.value(k)))
            .collect();
        println!(
            "{:<4} {:<30} {:<16} {:>7.2}  {}",
            rank + 1,
            domain.value(i),
            label.value(i),
            scores[i],
            why.join(", ")
        );
    }

    let is_dga: Vec<bool> = (0..scores.len())
        .map(|i| label.value(i) != "benign")
        .collect();
    let alerts = alert.true_count();
    let true_alerts = (0..scores.len())
        .filter(|&i| alert.value(i) && is_dga[i])
        .count();
    let false_alerts = alerts - true_alerts;
    println!(
        "\nalerts: {alerts} ({true_alerts} DGA, {false_alerts} benign = {:.1}% of held-out benign)",
        100.0 * false_alerts as f64 / held_out.len() as f64
    );
    let auc = roc_auc(&scores, &is_dga).ok_or("no AUC")?;
    println!("ROC-AUC, all DGA vs benign: {auc:.4}");
    for family in DgaFamily::ALL {
        let keep: Vec<usize> = (0..scores.len())
            .filter(|&i| label.value(i) == "benign" || label.value(i) == family.name())
            .collect();
        let s: Vec<f32> = keep.iter().map(|&i| scores[i]).collect();
        let l: Vec<bool> = keep.iter().map(|&i| is_dga[i]).collect();
        let detected = (0..scores.len())
            .filter(|&i| label.value(i) == family.name() && alert.value(i))
            .count();
        println!(
            "  {:<16} ROC-AUC {:.4}   recall at the cut-off {:.1}%",
            family.name(),
            roc_auc(&s, &l).unwrap_or(f64::NAN),
            100.0 * detected as f64 / PER_FAMILY as f64
        );
    }
    if let Some(out) = out {
        vigil::io::write_parquet(&out, std::slice::from_ref(&scored))?;
        println!("\nscored rows written to {out}");
    }
    Ok(())
}
