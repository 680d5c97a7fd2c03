//! Detectors beyond robust z: isolation forest, PCA residual, rarity, ensembles; their
//! merges, standalone model files, and GPU = CPU agreement.
#![allow(clippy::unwrap_used, clippy::needless_range_loop)]

mod common;

use std::sync::Arc;

use arrow::array::{ArrayRef, Float32Array, Float64Array, RecordBatch};
use arrow::datatypes::{Field, Schema};
use common::{Rng, close, gpu_available};
use vigil::Backend;
use vigil::detect::{Detector, FittedDetector, IsolationForest, average_path_length};

fn numeric_batch(columns: Vec<(&str, Vec<Option<f64>>)>) -> RecordBatch {
    let fields: Vec<Field> = columns
        .iter()
        .map(|(n, _)| Field::new(*n, arrow::datatypes::DataType::Float64, true))
        .collect();
    let arrays: Vec<ArrayRef> = columns
        .into_iter()
        .map(|(_, v)| Arc::new(Float64Array::from(v)) as ArrayRef)
        .collect();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).unwrap()
}

/// `rows` x `features` Gaussian-ish values with a few shifted outliers and ~`nulls` nulls.
fn random_batch(rng: &mut Rng, rows: usize, features: usize, nulls: f64) -> RecordBatch {
    let names: Vec<String> = (0..features).map(|j| format!("f{j}")).collect();
    let cols = names
        .iter()
        .enumerate()
        .map(|(j, n)| {
            let v = (0..rows)
                .map(|i| {
                    if rng.unit() < nulls {
                        return None;
                    }
                    // Sum of 4 uniforms ~ normal; every 50th row is shifted on feature j % 3.
                    let base: f64 = (0..4).map(|_| rng.unit()).sum::<f64>() * (j + 1) as f64;
                    Some(if i % 50 == 0 && j % 3 == i % 3 {
                        base + 20.0
                    } else {
                        base
                    })
                })
                .collect();
            (n.as_str(), v)
        })
        .collect();
    numeric_batch(cols)
}

fn names(batch: &RecordBatch) -> Vec<String> {
    batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect()
}

#[test]
fn average_path_length_matches_scikit_learn() {
    // sklearn.ensemble._iforest._average_path_length([1, 2, 4, 256])
    assert_eq!(average_path_length(1), 0.0);
    assert_eq!(average_path_length(2), 1.0);
    assert!((average_path_length(4) - 1.851_655_907_139_285_5).abs() < 1e-12);
    assert!((average_path_length(256) - 10.244_770_920_455_423).abs() < 1e-9);
}

/// Two hand-built trees over one feature `a`, sample size 4 (c(4) = 1.8516559):
/// tree 0: a <= 0.5 -> leaf depth 1 (h = 1); else a <= 2 -> leaf depth 2 with 2 samples
/// (h = 2 + c(2) = 3), else leaf depth 2 (h = 2). Tree 1: a root leaf of 4 samples (h = c(4)).
const HAND_FOREST: &str = r#"{
  "format": "vigil.detector", "version": 1,
  "detector": {
    "kind": "isolation_forest",
    "params": {"n_trees": 2, "max_samples": 4, "seed": 0, "top_k": 3},
    "features": ["a"], "sample_size": 4, "sums": [6.0], "counts": [4],
    "roots": [0, 5],
    "feature":   [0,   -1,  0,   -1,  -1,  -1],
    "threshold": [0.5, 0.0, 2.0, 0.0, 0.0, 0.0],
    "left":      [1,   0,   3,   0,   0,   0],
    "value":     [0.0, 1.0, 0.0, 3.0, 2.0, 1.8516559]
  }
}"#;

#[test]
fn isolation_forest_scores_a_hand_built_forest_exactly() {
    let forest = FittedDetector::from_json(HAND_FOREST).unwrap();
    // a = 0: mean h = (1 + c4)/2; a = 1: (3 + c4)/2; a = 5: (2 + c4)/2. Scores 2^(-mean/c4),
    // computed in f64 by hand (Python). A row whose only feature is null is unscored.
    let batch = numeric_batch(vec![("a", vec![Some(0.0), Some(1.0), Some(5.0), None])]);
    let expected = [0.586_405_9_f32, 0.403_296_92, 0.486_308_2, f32::NAN];
    let mut backends = vec![Backend::Cpu];
    if gpu_available() {
        backends.push(Backend::Gpu);
    }
    for backend in backends {
        let out = vigil::kernels::score_detector(&forest, &batch, backend, 1 << 20).unwrap();
        for (i, (&got, &want)) in out.scores.iter().zip(&expected).enumerate() {
            if want.is_nan() {
                // Every feature of the row is null: unscored.
                assert!(got.is_nan(), "{backend:?} row {i}: {got}");
            } else {
                assert!(
                    (got - want).abs() < 1e-6,
                    "{backend:?} row {i}: {got} vs {want}"
                );
            }
        }
        // Shares: tree 0 isolates a = 0 in 1 split on `a` (share 1/2 of the forest), tree 1 has
        // no split: the share is 0.5 for every row.
        assert_eq!(out.contributions[..3], [0.5; 3], "{backend:?}");
        assert!(out.contributions[3].is_nan());
        // Scores alone (read column by column) are the same hand-computed values.
        let alone = forest.score_samples(&batch, backend).unwrap();
        assert!(alone[3].is_nan(), "{backend:?}");
        for (i, (&got, &want)) in alone.iter().zip(&expected).take(3).enumerate() {
            assert!(
                (got - want).abs() < 1e-6,
                "{backend:?} row {i}: {got} vs {want}"
            );
        }
    }
}

#[test]
fn hostile_forests_are_rejected_without_panic() {
    let good: serde_json::Value = serde_json::from_str(HAND_FOREST).unwrap();
    let edits: Vec<(&str, serde_json::Value)> = vec![
        ("left", serde_json::json!([1, 0, 0, 0, 0, 0])), // child before parent: a cycle
        ("left", serde_json::json!([1, 0, 99, 0, 0, 0])), // out of bounds
        ("feature", serde_json::json!([7, -1, 0, -1, -1, -1])), // no such feature
        ("roots", serde_json::json!([0, 9])),
        ("roots", serde_json::json!([5, 0])),
        ("value", serde_json::json!([0.0, -1.0, 0.0, 3.0, 2.0, 1.0])),
        ("threshold", serde_json::json!([0.5])),
        ("sample_size", serde_json::json!(1)),
        ("sums", serde_json::json!([])),
    ];
    for (field, v) in edits {
        let mut bad = good.clone();
        bad["detector"][field] = v;
        let err = FittedDetector::from_json(&bad.to_string()).unwrap_err();
        assert!(matches!(err, vigil::Error::Model(_)), "{field}: {err:?}");
    }
}

#[test]
fn isolation_forest_gpu_equals_cpu() {
    if !gpu_available() {
        return;
    }
    let mut rng = Rng(7);
    let baseline = random_batch(&mut rng, 3000, 6, 0.05);
    let test = random_batch(&mut rng, 20_000, 6, 0.1);
    let det = Detector::from(IsolationForest {
        n_trees: 60,
        ..Default::default()
    })
    .fit_batches(
        std::slice::from_ref(&baseline),
        &names(&baseline),
        Backend::Cpu,
    )
    .unwrap();
    // Small chunks force several dispatches.
    let cpu = vigil::kernels::score_detector(&det, &test, Backend::Cpu, 1 << 16).unwrap();
    let gpu = vigil::kernels::score_detector(&det, &test, Backend::Gpu, 1 << 16).unwrap();
    assert_eq!(cpu.scores.len(), 20_000);
    for (i, (a, b)) in cpu.scores.iter().zip(&gpu.scores).enumerate() {
        assert!(close(*a, *b), "score[{i}]: {a} vs {b}");
    }
    for (i, (a, b)) in cpu.contributions.iter().zip(&gpu.contributions).enumerate() {
        assert!(close(*a, *b), "share[{i}]: {a} vs {b}");
    }
}

#[test]
fn isolation_forest_ranks_outliers_first_and_is_deterministic() {
    let mut rng = Rng(11);
    let baseline = random_batch(&mut rng, 4000, 6, 0.0);
    let spec = Detector::from(IsolationForest::default());
    let a = spec
        .fit_batches(
            std::slice::from_ref(&baseline),
            &names(&baseline),
            Backend::Cpu,
        )
        .unwrap();
    let b = spec
        .fit_batches(
            std::slice::from_ref(&baseline),
            &names(&baseline),
            Backend::Cpu,
        )
        .unwrap();
    assert_eq!(a, b, "same seed and data must give the same forest");
    let out = a.score_batch(&baseline, Backend::Cpu).unwrap();
    let labels: Vec<bool> = (0..4000).map(|i| i % 50 == 0).collect();
    let auc = vigil::detect::roc_auc(&out.scores, &labels).unwrap();
    assert!(auc > 0.9, "ROC-AUC of shifted rows {auc}");
    // The shifted feature of outlier row 0 (f0, f3) leads its explanation.
    let share = &out.contributions[0..6];
    let top = (0..6)
        .max_by(|&x, &y| share[x].total_cmp(&share[y]))
        .unwrap();
    assert!(top % 3 == 0, "row 0 shares {share:?}");
    assert!((share.iter().sum::<f32>() - 1.0).abs() < 1e-4);
}

#[test]
fn isolation_forest_merge_joins_trees_and_combines_means_exactly() {
    let mut rng = Rng(3);
    let part_a = random_batch(&mut rng, 1500, 4, 0.1);
    let part_b = random_batch(&mut rng, 1500, 4, 0.1);
    let cols = names(&part_a);
    let spec = |seed| {
        Detector::from(IsolationForest {
            n_trees: 30,
            seed,
            ..Default::default()
        })
    };
    let fa = spec(1)
        .fit_batches(std::slice::from_ref(&part_a), &cols, Backend::Cpu)
        .unwrap();
    let fb = spec(2)
        .fit_batches(std::slice::from_ref(&part_b), &cols, Backend::Cpu)
        .unwrap();
    let all = spec(1)
        .fit_batches(&[part_a.clone(), part_b.clone()], &cols, Backend::Cpu)
        .unwrap();
    let merged = fa.merge(&fb).unwrap();
    let (
        FittedDetector::IsolationForest(m),
        FittedDetector::IsolationForest(a),
        FittedDetector::IsolationForest(whole),
    ) = (&merged, &fa, &all)
    else {
        panic!("not forests")
    };
    assert_eq!(m.n_trees(), 60);
    assert_eq!(m.counts, whole.counts, "non-null counts merge exactly");
    for (x, y) in m.sums.iter().zip(&whole.sums) {
        assert!((x - y).abs() <= 1e-9 * y.abs(), "sums {x} vs {y}");
    }
    assert_eq!(&m.roots[..30], &a.roots[..]);
    // The merged forest's mean path length is the tree-weighted mean of the parts'.
    let sa = fa.score_batch(&part_a, Backend::Cpu).unwrap().scores;
    let sb = fb.score_batch(&part_a, Backend::Cpu).unwrap().scores;
    let sm = merged.score_batch(&part_a, Backend::Cpu).unwrap().scores;
    let c = average_path_length(256) as f32;
    for i in 0..part_a.num_rows() {
        // h = -c log2(s); merged h = (ha + hb) / 2 (equal tree counts), with nulls filled by
        // each forest's own mean, which differ: compare only rows without nulls.
        let row_has_null = cols.iter().any(|n| {
            use arrow::array::Array;
            part_a.column_by_name(n).unwrap().is_null(i)
        });
        if row_has_null {
            continue;
        }
        let h = |s: f32| -c * s.log2();
        let want = ((h(sa[i]) + h(sb[i])) / 2.0 / -c).exp2();
        assert!((sm[i] - want).abs() < 1e-5, "row {i}: {} vs {want}", sm[i]);
    }
    // Different feature sets do not merge.
    let other = spec(1)
        .fit_batches(std::slice::from_ref(&part_a), &cols[..3], Backend::Cpu)
        .unwrap();
    assert!(fa.merge(&other).is_err());
    let _ = Float32Array::from(vec![0.0f32]);
}

#[test]
fn isolation_forest_fills_a_null_feature_with_the_baseline_mean() {
    let forest = FittedDetector::from_json(
        &HAND_FOREST
            .replace(r#""features": ["a"]"#, r#""features": ["a", "b"]"#)
            .replace(
                r#""sums": [6.0], "counts": [4]"#,
                r#""sums": [6.0, 1.0], "counts": [4, 1]"#,
            ),
    )
    .unwrap();
    // a null, b set: a is filled with 6/4 = 1.5, which reaches the h = 3 leaf of tree 0.
    let batch = numeric_batch(vec![("a", vec![None]), ("b", vec![Some(9.0)])]);
    let out = forest.score_batch(&batch, Backend::Cpu).unwrap();
    assert!(
        (out.scores[0] - 0.403_296_92).abs() < 1e-6,
        "{}",
        out.scores[0]
    );
}

#[test]
fn evaluation_matches_hand_computed_and_scikit_learn_values() {
    use vigil::detect::{average_precision, evaluate};
    // sklearn: average_precision_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) = 0.8333...;
    // roc_auc_score = 0.75.
    let scores = [0.1f32, 0.4, 0.35, 0.8];
    let labels = [false, false, true, true];
    assert!((average_precision(&scores, &labels).unwrap() - 5.0 / 6.0).abs() < 1e-12);
    let alerts = [false, true, false, true];
    let e = evaluate(&scores, &alerts, &labels, 2).unwrap();
    assert_eq!(
        (e.true_positives, e.false_positives, e.false_negatives),
        (1, 1, 1)
    );
    assert_eq!((e.precision, e.recall, e.f1), (0.5, 0.5, 0.5));
    assert_eq!(e.roc_auc, Some(0.75));
    assert_eq!(e.precision_at_k, Some(0.5));
    // Unscored rows are never alerts and are left out of the curves.
    let e = evaluate(&[f32::NAN, 0.9], &[false, true], &[true, true], 5).unwrap();
    assert_eq!(
        (e.unscored, e.recall, e.roc_auc, e.pr_auc),
        (1, 0.5, None, Some(1.0))
    );
    assert!(evaluate(&scores, &alerts, &labels[..3], 1).is_err());
}

/// Three features on a plane (c = a + b) plus noise: a row off the plane has a large residual.
fn plane_batch(rng: &mut Rng, rows: usize, off_plane: &[usize]) -> RecordBatch {
    let (mut a, mut b, mut c) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..rows {
        let x = rng.unit() * 10.0;
        let y = rng.unit() * 10.0;
        let noise = (rng.unit() - 0.5) * 0.01;
        a.push(Some(x));
        b.push(Some(y));
        c.push(Some(
            x + y + noise + if off_plane.contains(&i) { 5.0 } else { 0.0 },
        ));
    }
    numeric_batch(vec![("a", a), ("b", b), ("c", c)])
}

#[test]
fn pca_residual_finds_rows_off_the_baseline_subspace() {
    use vigil::detect::PcaResidual;
    let mut rng = Rng(5);
    let baseline = plane_batch(&mut rng, 2000, &[]);
    let det = Detector::from(PcaResidual::default())
        .fit_batches(
            std::slice::from_ref(&baseline),
            &names(&baseline),
            Backend::Cpu,
        )
        .unwrap();
    let FittedDetector::PcaResidual(p) = &det else {
        panic!()
    };
    assert_eq!(p.n_components(), 2, "a plane: 2 components explain > 95%");
    let test = plane_batch(&mut rng, 200, &[7, 99]);
    let out = det.score_batch(&test, Backend::Cpu).unwrap();
    let mut order: Vec<usize> = (0..200).collect();
    order.sort_by(|&x, &y| out.scores[y].total_cmp(&out.scores[x]));
    assert_eq!(
        &{
            let mut t = order[..2].to_vec();
            t.sort();
            t
        },
        &[7, 99]
    );
    // Score = sum of squared residuals; the Q threshold separates the two rows.
    let r = &out.contributions[7 * 3..8 * 3];
    let spe: f32 = r.iter().map(|v| v * v).sum();
    assert!((spe - out.scores[7]).abs() <= 1e-4 * spe);
    let q = p.q_threshold(3.2905).unwrap();
    let above: Vec<usize> = (0..200).filter(|&i| f64::from(out.scores[i]) > q).collect();
    assert_eq!(above, vec![7, 99], "Q = {q}");
}

#[test]
fn pca_merge_equals_one_fit_on_both_partitions() {
    use vigil::detect::PcaResidual;
    let mut rng = Rng(9);
    let a = plane_batch(&mut rng, 700, &[3]);
    let b = plane_batch(&mut rng, 1300, &[]);
    let cols = names(&a);
    let spec = Detector::from(PcaResidual::default());
    let fa = spec
        .fit_batches(std::slice::from_ref(&a), &cols, Backend::Cpu)
        .unwrap();
    let fb = spec
        .fit_batches(std::slice::from_ref(&b), &cols, Backend::Cpu)
        .unwrap();
    let whole = spec
        .fit_batches(&[a.clone(), b.clone()], &cols, Backend::Cpu)
        .unwrap();
    let (FittedDetector::PcaResidual(m), FittedDetector::PcaResidual(w)) =
        (fa.merge(&fb).unwrap(), &whole)
    else {
        panic!()
    };
    assert_eq!(m.count, w.count);
    let near = |x: &[f64], y: &[f64]| {
        x.iter()
            .zip(y)
            .all(|(p, q)| (p - q).abs() <= 1e-9 * (1.0 + q.abs()))
    };
    assert!(near(&m.mean, &w.mean), "means");
    assert!(near(&m.comoment, &w.comoment), "co-moments");
    assert!(near(&m.eigenvalues, &w.eigenvalues), "eigenvalues");
    assert!(near(&m.components, &w.components), "components");
}

fn categorical_batch(users: &[Option<&str>], hosts: &[&str]) -> RecordBatch {
    use arrow::array::StringArray;
    RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("user", arrow::datatypes::DataType::Utf8, true),
            Field::new("host", arrow::datatypes::DataType::Utf8, false),
        ])),
        vec![
            Arc::new(StringArray::from(users.to_vec())),
            Arc::new(StringArray::from(hosts.to_vec())),
        ],
    )
    .unwrap()
}

#[test]
fn rarity_scores_surprisal_with_smoothing_and_names_the_rare_value() {
    use vigil::detect::Rarity;
    // Baseline: alice@web x3, bob@db x1 (4 rows). user: V = 2, total 4, alpha 1:
    // P(alice) = 4/7, P(bob) = 2/7, P(unseen) = 1/7. Pair: same counts.
    let base = categorical_batch(
        &[Some("alice"), Some("alice"), Some("alice"), Some("bob")],
        &["web", "web", "web", "db"],
    );
    let det = Detector::from(Rarity::of(&["user"]).with_combination(&["user", "host"]))
        .fit_batches(std::slice::from_ref(&base), &[], Backend::Cpu)
        .unwrap();
    let test = categorical_batch(
        &[Some("alice"), Some("bob"), Some("alice"), None],
        &["web", "db", "db", "web"],
    );
    let out = det.score_batch(&test, Backend::Cpu).unwrap();
    let ln = |p: f64| (-p.ln()) as f32;
    assert_eq!(out.items, vec!["user", "user+host"]);
    let want = [
        [ln(4.0 / 7.0), ln(4.0 / 7.0)],
        [ln(2.0 / 7.0), ln(2.0 / 7.0)],
        [ln(4.0 / 7.0), ln(1.0 / 7.0)], // alice@db was never seen
        [ln(1.0 / 7.0), ln(1.0 / 7.0)], // a null user is a value of its own, unseen
    ];
    for i in 0..4 {
        for c in 0..2 {
            assert!(
                (out.contributions[i * 2 + c] - want[i][c]).abs() < 1e-6,
                "row {i} item {c}"
            );
        }
        assert_eq!(out.scores[i], want[i][0].max(want[i][1]));
    }
    let values = out.values.unwrap();
    assert_eq!(values[2 * 2 + 1].as_deref(), Some("alice, db"));
    assert_eq!(values[3 * 2].as_deref(), Some("null"));
    // Merge is exact: counts of two halves add up to the counts of the whole.
    let spec = Detector::from(Rarity::of(&["user"]).with_combination(&["user", "host"]));
    let h1 = spec
        .fit_batches(&[base.slice(0, 2)], &[], Backend::Cpu)
        .unwrap();
    let h2 = spec
        .fit_batches(&[base.slice(2, 2)], &[], Backend::Cpu)
        .unwrap();
    assert_eq!(h1.merge(&h2).unwrap(), det);
    // A missing column is a typed error naming it.
    let err = det
        .score_batch(&numeric_batch(vec![("x", vec![Some(1.0)])]), Backend::Cpu)
        .unwrap_err();
    assert!(matches!(err, vigil::Error::MissingColumn { column, .. } if column == "user"));
}

#[test]
fn ensemble_combines_quantiles_and_merges_explanations() {
    use vigil::detect::{Ensemble, PcaResidual, RobustZ};
    let mut rng = Rng(21);
    let baseline = plane_batch(&mut rng, 2000, &[]);
    let cols = names(&baseline);
    let spec = Detector::from(Ensemble::of(vec![
        IsolationForest::default().into(),
        PcaResidual::default().into(),
        RobustZ::default().into(),
    ]));
    let det = spec
        .fit_batches(std::slice::from_ref(&baseline), &cols, Backend::Cpu)
        .unwrap();
    let out = det.score_batch(&baseline, Backend::Cpu).unwrap();
    // Baseline rows are normalised into [0, 1] by each member; their mean stays there.
    assert!(out.scores.iter().all(|s| (0.0..=1.0).contains(s)));
    // A row far off the plane and out of range is above every baseline row for each member.
    let odd = numeric_batch(vec![
        ("a", vec![Some(50.0)]),
        ("b", vec![Some(1.0)]),
        ("c", vec![Some(0.0)]),
    ]);
    let o = det.score_batch(&odd, Backend::Cpu).unwrap();
    assert!(o.scores[0] > 1.0, "{}", o.scores[0]);
    // Contributions per feature are summed over members and add up to the score.
    assert_eq!(o.items, vec!["a", "b", "c"]);
    let total: f32 = o.contributions.iter().sum();
    assert!(
        (total - o.scores[0]).abs() < 1e-4,
        "{total} vs {}",
        o.scores[0]
    );
    assert!(
        det.merge(&det).is_err(),
        "ensemble quantiles do not merge exactly"
    );
    // Saved and loaded, it scores the same.
    let back = FittedDetector::from_json(&det.to_json().unwrap()).unwrap();
    assert_eq!(back.score_batch(&odd, Backend::Cpu).unwrap(), o);
}

#[allow(dead_code)]
#[path = "../examples/hdfs_pca.rs"]
mod hdfs_pca;

#[test]
fn pca_residual_on_hdfs_block_count_vectors() {
    let dir = common::shared_data().join("hdfs_labelled");
    let r = hdfs_pca::run(
        &dir.join("HDFS_5k.log"),
        &dir.join("HDFS_5k_block_labels.csv"),
    )
    .unwrap();
    assert_eq!((r.lines, r.blocks, r.evaluation.positives), (4519, 110, 10));
    // Mined templates, loglizer's preprocessing (tf-idf, centred, Q-statistic at c_alpha
    // 3.2905): 9 alerts, all anomalous; 9 of the 10 anomalous blocks found.
    assert_eq!(r.events, 20);
    let e = &r.evaluation;
    assert_eq!((e.alerts, e.true_positives), (9, 9), "{e:?}");
    assert!((e.f1 - 18.0 / 19.0).abs() < 1e-9);
}

/// Mutation fuzzing of model loading, run in every test pass (the cargo-fuzz target
/// `model_json` in core/fuzz does the same, coverage-guided, for as long as it is given):
/// valid pipeline and detector files of every kind, damaged 4,000 ways (truncation, byte
/// flips, numbers swapped for extremes, fields duplicated), must load or give an error,
/// never panic.
#[test]
fn damaged_model_files_give_errors_not_panics() {
    use vigil::detect::{Ensemble, PcaResidual, Rarity};
    let mut rng = Rng(99);
    let base = random_batch(&mut rng, 300, 3, 0.1);
    let cols = names(&base);
    let mut files: Vec<String> = [
        Detector::from(IsolationForest {
            n_trees: 3,
            max_samples: 16,
            ..Default::default()
        }),
        PcaResidual::default().into(),
        Ensemble::of(vec![
            IsolationForest {
                n_trees: 2,
                ..Default::default()
            }
            .into(),
            PcaResidual::default().into(),
        ])
        .into(),
    ]
    .iter()
    .map(|d| {
        d.fit_batches(std::slice::from_ref(&base), &cols, Backend::Cpu)
            .unwrap()
            .to_json()
            .unwrap()
    })
    .collect();
    let users = categorical_batch(&[Some("a"), Some("b"), None], &["x", "y", "z"]);
    files.push(
        Detector::from(Rarity::of(&["user"]))
            .fit_batches(&[users], &[], Backend::Cpu)
            .unwrap()
            .to_json()
            .unwrap(),
    );
    let hosts = categorical_batch(
        &[Some("ab"), Some("cde"), None, Some("fg")],
        &["x", "y", "z", "w"],
    );
    let pipeline = vigil::Pipeline::builder()
        .feature(vigil::features::entropy("user"))
        .feature(vigil::features::length("host"))
        .detector(IsolationForest {
            n_trees: 2,
            max_samples: 4,
            ..Default::default()
        })
        .backend(Backend::Cpu)
        .build()
        .unwrap()
        .fit(std::slice::from_ref(&hosts))
        .unwrap();
    files.push(pipeline.to_json().unwrap());
    let extremes = [
        "-1",
        "0",
        "1e308",
        "-1e308",
        "4294967296",
        "18446744073709551615",
        "null",
        "[]",
        "{}",
        "\"x\"",
    ];
    let mut loaded = 0;
    for i in 0..4000 {
        let src = &files[i % files.len()];
        let mut bytes = src.as_bytes().to_vec();
        match rng.below(4) {
            0 => bytes.truncate(rng.below(bytes.len())),
            1 => {
                for _ in 0..1 + rng.below(4) {
                    let at = rng.below(bytes.len());
                    bytes[at] = rng.below(256) as u8;
                }
            }
            2 => {
                // Replace one number with an extreme value.
                let text = String::from_utf8_lossy(&bytes).into_owned();
                let starts: Vec<usize> = text
                    .char_indices()
                    .filter(|(j, c)| c.is_ascii_digit() && text[..*j].ends_with([' ', '[', ',']))
                    .map(|(j, _)| j)
                    .collect();
                if let Some(&at) = starts.get(rng.below(starts.len().max(1))) {
                    let end = text[at..]
                        .find([',', ']', '\n', '}'])
                        .map_or(text.len(), |e| at + e);
                    let mut t = text.clone();
                    t.replace_range(at..end, extremes[rng.below(extremes.len())]);
                    bytes = t.into_bytes();
                }
            }
            _ => {
                // Duplicate a slice of the file into another place.
                let a = rng.below(bytes.len());
                let b = (a + rng.below(200)).min(bytes.len());
                let at = rng.below(bytes.len());
                let piece = bytes[a..b].to_vec();
                bytes.splice(at..at, piece);
            }
        }
        let text = String::from_utf8_lossy(&bytes);
        if let Ok(d) = FittedDetector::from_json(&text) {
            // Whatever loads must also score without panicking.
            loaded += 1;
            let _ = d.score_batch(&base, Backend::Cpu);
        }
        if let Ok(p) = vigil::FittedPipeline::from_json(&text) {
            let _ = p.with_backend(Backend::Cpu).score(&hosts);
        }
    }
    eprintln!("{loaded} of 4000 damaged files still loaded (and scored)");
}

#[test]
fn alert_budget_per_time_window() {
    use arrow::array::TimestampMillisecondArray;
    use vigil::detect::{Rarity, Threshold};
    // Six events over three hours (ms timestamps); rarity scores the user. Budget: 1 per hour.
    let hour = 3_600_000i64;
    let users = ["a", "zz", "a", "yy", "xx", "a"];
    let times = [0, 10, hour + 5, hour + 6, 2 * hour + 1, 2 * hour + 2];
    let schema = Arc::new(Schema::new(vec![
        Field::new("user", arrow::datatypes::DataType::Utf8, false),
        Field::new(
            "ts",
            arrow::datatypes::DataType::Timestamp(arrow::datatypes::TimeUnit::Millisecond, None),
            true,
        ),
    ]));
    let batch = |times: Vec<Option<i64>>| {
        RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(arrow::array::StringArray::from(users.to_vec())) as ArrayRef,
                Arc::new(TimestampMillisecondArray::from(times)),
            ],
        )
        .unwrap()
    };
    let baseline = batch(vec![Some(0); 6]);
    let model = vigil::Pipeline::builder()
        .detector(Rarity::of(&["user"]))
        .threshold(Threshold::TopPerWindow {
            n: 1,
            every_seconds: 3600,
            time_column: "ts".into(),
        })
        .backend(Backend::Cpu)
        .build()
        .unwrap()
        .fit(std::slice::from_ref(&baseline))
        .unwrap();
    let scored = model
        .score(&batch(times.iter().map(|&t| Some(t)).collect()))
        .unwrap();
    let alert = scored
        .column_by_name("alert")
        .unwrap()
        .as_any()
        .downcast_ref::<arrow::array::BooleanArray>()
        .unwrap();
    // Hour 0: "zz" (seen once) beats "a" (3 times); hour 1: "yy"; hour 2: "xx".
    assert_eq!(
        alert.iter().map(|v| v.unwrap()).collect::<Vec<_>>(),
        vec![false, true, false, true, true, false]
    );
    // A null time never alerts; a missing time column is a typed error.
    let scored = model
        .score(&batch(vec![None, Some(10), None, None, None, None]))
        .unwrap();
    let alert = scored
        .column_by_name("alert")
        .unwrap()
        .as_any()
        .downcast_ref::<arrow::array::BooleanArray>()
        .unwrap();
    assert_eq!(alert.true_count(), 1);
    let no_time = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new(
            "user",
            arrow::datatypes::DataType::Utf8,
            false,
        )])),
        vec![Arc::new(arrow::array::StringArray::from(vec!["a"])) as ArrayRef],
    )
    .unwrap();
    assert!(
        matches!(model.score(&no_time), Err(vigil::Error::MissingColumn { column, .. }) if column == "ts")
    );
}

#[test]
fn forest_and_histogram_kernels_agree_on_real_domains() {
    if !gpu_available() {
        return;
    }
    use vigil::drift::{DriftOptions, DriftReference};
    let text =
        std::fs::read_to_string(common::shared_data().join("domains/opendns-top-domains.txt"))
            .unwrap();
    let domains: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
    let batch = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new(
            "q",
            arrow::datatypes::DataType::Utf8,
            false,
        )])),
        vec![Arc::new(arrow::array::StringArray::from(domains)) as ArrayRef],
    )
    .unwrap();
    let specs = [
        vigil::features::length("q"),
        vigil::features::entropy("q"),
        vigil::features::char_classes("q"),
    ];
    let features = vigil::extract(&specs, &batch, Backend::Cpu).unwrap();
    let cols: Vec<String> = names(&features).into_iter().filter(|n| n != "q").collect();
    let forest = Detector::from(IsolationForest::default())
        .fit_batches(&[features.slice(0, 5000)], &cols, Backend::Cpu)
        .unwrap();
    let cpu = vigil::kernels::score_detector(&forest, &features, Backend::Cpu, 1 << 20).unwrap();
    let gpu = vigil::kernels::score_detector(&forest, &features, Backend::Gpu, 1 << 20).unwrap();
    for (i, (a, b)) in cpu.scores.iter().zip(&gpu.scores).enumerate() {
        assert!(close(*a, *b), "score[{i}]: {a} vs {b}");
    }
    for (i, (a, b)) in cpu.contributions.iter().zip(&gpu.contributions).enumerate() {
        assert!(close(*a, *b), "share[{i}]: {a} vs {b}");
    }
    let numeric: Vec<String> = cols.into_iter().filter(|c| c != "q_is_hex").collect();
    let r = DriftReference::fit(
        &[features.slice(0, 5000)],
        &numeric,
        DriftOptions::default(),
        Backend::Cpu,
    )
    .unwrap();
    let now = [features.slice(5000, features.num_rows() - 5000)];
    assert_eq!(
        r.histogram(&now, Backend::Cpu).unwrap(),
        r.histogram(&now, Backend::Gpu).unwrap()
    );
}

#[test]
fn non_finite_baseline_values_are_fitted_as_nulls() {
    // +-inf and NaN in a baseline must not poison a model: each detector fitted on them equals
    // the one fitted with those cells null, and scores stay finite.
    let mut rng = Rng(17);
    let n = 300;
    let clean: Vec<Option<f64>> = (0..n).map(|_| Some(rng.unit() * 10.0)).collect();
    let other: Vec<Option<f64>> = (0..n).map(|_| Some(rng.unit())).collect();
    let mut dirty = clean.clone();
    let mut nulled = clean.clone();
    for i in (0..n).step_by(9) {
        dirty[i] = Some(if i % 2 == 0 {
            f64::INFINITY
        } else {
            f64::NEG_INFINITY
        });
        nulled[i] = None;
    }
    dirty[4] = Some(f64::NAN);
    nulled[4] = None;
    let a = numeric_batch(vec![("x", dirty), ("y", other.clone())]);
    let b = numeric_batch(vec![("x", nulled), ("y", other)]);
    let cols = vec!["x".to_string(), "y".to_string()];
    for det in [
        Detector::IsolationForest(IsolationForest::default()),
        Detector::RobustZ(vigil::detect::RobustZ::default()),
        Detector::PcaResidual(vigil::detect::PcaResidual::default()),
    ] {
        let fa = det
            .fit_batches(std::slice::from_ref(&a), &cols, Backend::Cpu)
            .unwrap();
        let fb = det
            .fit_batches(std::slice::from_ref(&b), &cols, Backend::Cpu)
            .unwrap();
        assert_eq!(fa.to_json().unwrap(), fb.to_json().unwrap());
        let scores = fa.score_samples(&a, Backend::Cpu).unwrap();
        assert!(scores.iter().all(|s| s.is_finite()), "{det:?}");
    }
}

/// `rows` numeric rows (see `random_batch`) plus `user` and `host` string columns, a few
/// users rare.
fn mixed_batch(rng: &mut Rng, rows: usize) -> RecordBatch {
    use arrow::array::StringArray;
    let numeric = random_batch(rng, rows, 4, 0.05);
    let users: Vec<String> = (0..rows)
        .map(|i| {
            if rng.unit() < 0.02 {
                format!("rare{i}")
            } else {
                format!("user{}", i % 7)
            }
        })
        .collect();
    let hosts: Vec<String> = (0..rows).map(|i| format!("host{}", i % 3)).collect();
    let mut fields: Vec<Field> = numeric
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(Field::new("user", arrow::datatypes::DataType::Utf8, true));
    fields.push(Field::new("host", arrow::datatypes::DataType::Utf8, true));
    let mut columns = numeric.columns().to_vec();
    columns.push(Arc::new(StringArray::from(users)));
    columns.push(Arc::new(StringArray::from(hosts)));
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
}

/// By default a scored table explains only its alert rows: each equals the explanation of
/// the same row when every row is explained (`ExplainRows::All`), every other row's
/// explanation is null, and scores and alerts are the same either way; feature names are
/// dictionary-encoded.
#[test]
fn only_alert_rows_are_explained_by_default_and_as_when_all_are() {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::DataType;
    use vigil::detect::{Ensemble, ExplainRows, PcaResidual, Rarity, RobustZ, Threshold};
    let mut rng = Rng(31);
    let baseline = mixed_batch(&mut rng, 3000);
    let current = mixed_batch(&mut rng, 2000);
    let detectors: Vec<Detector> = vec![
        RobustZ::default().into(),
        IsolationForest::default().into(),
        PcaResidual::default().into(),
        Rarity::of(&["user"])
            .with_combination(&["user", "host"])
            .into(),
        Ensemble::of(vec![
            RobustZ::default().into(),
            Rarity::of(&["user"]).into(),
        ])
        .into(),
    ];
    for (d, detector) in detectors.into_iter().enumerate() {
        let mut builder = vigil::Pipeline::builder()
            .detector(detector)
            .threshold(Threshold::TopFraction { fraction: 0.05 })
            .backend(Backend::Cpu);
        for j in 0..4 {
            builder = builder.feature(vigil::features::standardize(&format!("f{j}")));
        }
        let fitted = builder
            .build()
            .unwrap()
            .fit(std::slice::from_ref(&baseline))
            .unwrap();
        assert_eq!(fitted.explain_rows(), ExplainRows::Alerts, "the default");
        let alerts_only = fitted.score(&current).unwrap();
        let all = fitted
            .clone()
            .with_explain_rows(ExplainRows::All)
            .score(&current)
            .unwrap();
        assert_eq!(alerts_only.num_rows(), 2000, "rows in = rows out");
        for col in ["score", "alert", "unscored_reason"] {
            assert_eq!(
                alerts_only.column_by_name(col),
                all.column_by_name(col),
                "detector {d}: {col}"
            );
        }
        let alert = alerts_only.column_by_name("alert").unwrap().as_boolean();
        // ceil(0.05 * scored rows): every row has a non-null feature or a user here.
        assert_eq!(alert.true_count(), 100, "detector {d}");
        let some = alerts_only
            .column_by_name("explanation")
            .unwrap()
            .as_list::<i32>();
        let every = all.column_by_name("explanation").unwrap().as_list::<i32>();
        let score = all.column_by_name("score").unwrap();
        for i in 0..2000 {
            if alert.value(i) {
                assert!(some.is_valid(i), "detector {d} row {i}");
                assert!(!some.value(i).is_empty(), "detector {d} row {i}");
                assert!(
                    some.value(i).as_ref() == every.value(i).as_ref(),
                    "detector {d} row {i}: {:?} vs {:?}",
                    some.value(i),
                    every.value(i)
                );
            } else {
                assert!(some.is_null(i), "detector {d} row {i}: not an alert");
                assert_eq!(every.is_valid(i), score.is_valid(i), "detector {d} row {i}");
            }
        }
        let DataType::List(item) = some.data_type() else {
            panic!("explanation is a list")
        };
        let DataType::Struct(fields) = item.data_type() else {
            panic!("of structs")
        };
        assert_eq!(
            fields[0].data_type(),
            &DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
        );
    }
}
