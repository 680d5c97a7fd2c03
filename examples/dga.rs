//! vigil's main job: spot the domains of real DGA malware families among benign ones,
//! unsupervised (no DGA name in the baseline), with explanations.
//!
//! Data (default: the bundled `../shared/data/domains`): the 10,000 OpenDNS top domains,
//! shuffled with a fixed seed (2026) and split 8,000 baseline / 2,000 held-out benign; and
//! one `<family>.txt` per DGA family in `dga/`. Every name is split by the Public Suffix List
//! (`domain_parts`); a character trigram model fitted on the baseline gives the label left of
//! the public suffix its mean per-character and whole-name log-probability
//! (`ngram_logprob`), and the detector adds up how rare each of the two is on its lower tail
//! in the baseline (`TailRarity`, Fisher's combination). Prints the top alerts with what drove
//! them, and the ROC-AUC overall and per family.
//!
//! Run: `cargo run --release --example dga` (options: `--baseline FILE --benign FILE` one
//! domain per line, both or neither; `--dga DIR` of `<family>.txt`; `--data DIR` the folder
//! holding `domains/`; `--detector NAME` (default `tail`; the alternatives measured:
//! `chars_ngrams` (the previous main job), `chars`, `lm`, `robust_z`, `iforest`, `rz_suffix`,
//! `tail_min`, `tail_suffix`, `tail_rz`, `tail_chars`, see `configuration`); `--backend auto|gpu|cpu`;
//! `--top N`; `--out scored.parquet`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Float32Type, Schema};
use vigil::detect::{
    Detector, Ensemble, IsolationForest, Rarity, RobustZ, TailRarity, Threshold, roc_auc,
};
use vigil::features::{self, TextPart, parse_domain};
use vigil::synth::SplitMix64;
use vigil::{Backend, Pipeline, Stage};

const BASELINE: usize = 8000;

fn read_names(path: &Path) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect())
}

/// `domain`, `label` (left of the public suffix; the whole name without one) and `truth`.
fn domains_batch(domains: Vec<String>, truth: Vec<String>) -> vigil::Result<RecordBatch> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("domain", DataType::Utf8, false),
        Field::new("label", DataType::Utf8, true),
        Field::new("truth", DataType::Utf8, false),
    ]));
    let label: Vec<Option<String>> = domains
        .iter()
        .map(|d| {
            parse_domain(d).map(|p| {
                p.registrable_label()
                    .map(String::from)
                    .unwrap_or_else(|| p.name.clone())
            })
        })
        .collect();
    let cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(domains)),
        Arc::new(StringArray::from(label)),
        Arc::new(StringArray::from(truth)),
    ];
    Ok(RecordBatch::try_new(schema, cols)?)
}

/// The feature stages and detector of a named configuration.
fn configuration(name: &str) -> Result<(Vec<Stage>, Detector), String> {
    let chars: Vec<Stage> = vec![
        features::length("label").into(),
        features::entropy("label").into(),
        features::char_classes("label").into(),
    ];
    let lm: Vec<Stage> = vec![
        features::domain_parts("domain").into(),
        features::ngram_logprob("domain", 3)
            .reading(TextPart::RegistrableLabel)
            .into(),
    ];
    let rz = RobustZ {
        top_k: 3,
        z_cap: 5.0,
    };
    let both = || [chars.clone(), lm.clone()].concat();
    let tail = TailRarity::of(&["domain_logprob_mean", "domain_logprob_sum"], &[]);
    Ok(match name {
        // The previous main job's features and detector.
        "chars_ngrams" => (
            [
                chars.clone(),
                vec![features::ngrams("label", 2, 64).normalized().into()],
            ]
            .concat(),
            rz.into(),
        ),
        "chars" => (chars.clone(), rz.into()),
        "lm" => (lm.clone(), rz.into()),
        "robust_z" => (both(), rz.into()),
        "iforest" => (both(), IsolationForest::default().into()),
        "rz_suffix" => (
            both(),
            Ensemble::of(vec![rz.into(), Rarity::of(&["domain_suffix"]).into()]).into(),
        ),
        "tail" => (lm.clone(), tail.into()),
        "tail_min" => (
            lm.clone(),
            TailRarity::of(
                &[
                    "domain_logprob_mean",
                    "domain_logprob_sum",
                    "domain_logprob_min",
                ],
                &[],
            )
            .into(),
        ),
        "tail_suffix" => (
            lm.clone(),
            Ensemble::of(vec![tail.into(), Rarity::of(&["domain_suffix"]).into()]).into(),
        ),
        "tail_rz" => (both(), Ensemble::of(vec![tail.into(), rz.into()]).into()),
        "tail_chars" => (
            both(),
            TailRarity::of(
                &["domain_logprob_mean", "domain_logprob_sum"],
                &[
                    "label_len_chars",
                    "label_entropy",
                    "label_max_consonant_run",
                ],
            )
            .into(),
        ),
        other => return Err(format!("unknown --detector {other}")),
    })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data");
    let (mut baseline_file, mut benign_file, mut dga_dir) = (None, None, None);
    let mut backend = Backend::Auto;
    let mut top = 15usize;
    let mut out: Option<String> = None;
    let mut detector_name = "tail".to_string();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--data" => data = value()?.into(),
            "--baseline" => baseline_file = Some(PathBuf::from(value()?)),
            "--benign" => benign_file = Some(PathBuf::from(value()?)),
            "--dga" => dga_dir = Some(PathBuf::from(value()?)),
            "--detector" => detector_name = value()?,
            "--backend" => backend = Backend::parse(&value()?)?,
            "--top" => top = value()?.parse()?,
            "--out" => out = Some(value()?),
            other => {
                return Err(format!(
                    "unknown argument {other}; see the doc comment of examples/dga.rs"
                )
                .into());
            }
        }
    }
    let domains = data.join("domains");
    let (baseline_names, held_out, source) = match (baseline_file, benign_file) {
        (Some(b), Some(h)) => (read_names(&b)?, read_names(&h)?, b.display().to_string()),
        (None, None) => {
            let path = domains.join("opendns-top-domains.txt");
            let mut benign = read_names(&path)?;
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
            (benign, held_out, "OpenDNS top domains".to_string())
        }
        _ => return Err("give both --baseline and --benign, or neither".into()),
    };
    let dga_dir = dga_dir.unwrap_or_else(|| domains.join("dga"));
    let mut families: Vec<(String, Vec<String>)> = Vec::new();
    for entry in std::fs::read_dir(&dga_dir).map_err(|e| format!("{}: {e}", dga_dir.display()))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "txt") {
            let family = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            families.push((family, read_names(&path)?));
        }
    }
    families.sort();
    if families.is_empty() || held_out.is_empty() || baseline_names.is_empty() {
        return Err("need a baseline, held-out benign names and at least one DGA family".into());
    }

    let baseline = domains_batch(
        baseline_names.clone(),
        vec!["benign".into(); baseline_names.len()],
    )?;
    let mut names = held_out.clone();
    let mut truth = vec!["benign".to_string(); held_out.len()];
    for (family, list) in &families {
        names.extend(list.iter().cloned());
        truth.extend(std::iter::repeat_n(family.clone(), list.len()));
    }
    let dga_total = names.len() - held_out.len();
    let mix = domains_batch(names, truth)?;

    let info = vigil::backend_info(backend)?;
    let (stages, detector) = configuration(&detector_name)?;
    let started = Instant::now();
    let mut builder = Pipeline::builder();
    for s in stages {
        builder = builder.feature(s);
    }
    let fitted = builder
        .detector(detector)
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
        .column_by_name("truth")
        .ok_or("no truth")?
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
        "vigil DGA scenario: baseline {} {source}; scored {} benign + {dga_total} DGA of {} real families (detector: {detector_name})",
        baseline_names.len(),
        held_out.len(),
        families.len()
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
        "{:<4} {:<30} {:<16} {:>7}  top features (contribution)",
        "rank", "domain", "truth", "score"
    );
    for (rank, &i) in order.iter().take(top).enumerate() {
        let ex = explanation.value(i);
        let ex = ex.as_struct();
        // Feature names are dictionary-encoded: read them as plain strings.
        let names = arrow::compute::cast(ex.column(0), &arrow::datatypes::DataType::Utf8)?;
        let (names, z) = (
            names.as_string::<i32>(),
            ex.column(1).as_primitive::<Float32Type>(),
        );
        let why: Vec<String> = (0..ex.len())
            .map(|k| format!("{} {:+.2}", names.value(k), z.value(k)))
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
    for (family, list) in &families {
        let keep: Vec<usize> = (0..scores.len())
            .filter(|&i| label.value(i) == "benign" || label.value(i) == family)
            .collect();
        let s: Vec<f32> = keep.iter().map(|&i| scores[i]).collect();
        let l: Vec<bool> = keep.iter().map(|&i| is_dga[i]).collect();
        let detected = (0..scores.len())
            .filter(|&i| label.value(i) == family && alert.value(i))
            .count();
        println!(
            "  {:<16} ROC-AUC {:.4}   recall at the cut-off {:.1}%",
            family,
            roc_auc(&s, &l).unwrap_or(f64::NAN),
            100.0 * detected as f64 / list.len() as f64
        );
    }
    if let Some(out) = out {
        vigil::io::write_parquet(&out, std::slice::from_ref(&scored))?;
        println!("\nscored rows written to {out}");
    }
    Ok(())
}
