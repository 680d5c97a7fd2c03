//! Drift: PSI and KS per feature, histogram kernel parity, exact merge of histograms.
#![allow(clippy::unwrap_used, clippy::cloned_ref_to_slice_refs)]

mod common;

use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use common::{Rng, gpu_available};
use vigil::Backend;
use vigil::drift::{DriftOptions, DriftReference, drift};

fn batch(cols: Vec<(&str, Vec<Option<f64>>)>) -> RecordBatch {
    let fields: Vec<Field> = cols
        .iter()
        .map(|(n, _)| Field::new(*n, DataType::Float64, true))
        .collect();
    let arrays: Vec<ArrayRef> = cols
        .into_iter()
        .map(|(_, v)| Arc::new(Float64Array::from(v)) as ArrayRef)
        .collect();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).unwrap()
}

/// Three features; `shift` moves feature `b` by that many units.
fn window(rng: &mut Rng, rows: usize, shift: f64) -> RecordBatch {
    let mut gauss = || (0..6).map(|_| rng.unit()).sum::<f64>() - 3.0;
    let a = (0..rows).map(|_| Some(gauss())).collect();
    let b = (0..rows)
        .map(|_| Some(gauss() * 2.0 + 10.0 + shift))
        .collect();
    let c = (0..rows)
        .map(|i| {
            if i % 10 == 0 {
                None
            } else {
                Some((i % 7) as f64)
            }
        })
        .collect();
    batch(vec![("a", a), ("b", b), ("c", c)])
}

fn cols() -> Vec<String> {
    vec!["a".into(), "b".into(), "c".into()]
}

#[test]
fn a_shifted_feature_is_flagged_and_the_others_are_not() {
    let mut rng = Rng(1);
    let reference = window(&mut rng, 20_000, 0.0);
    let same = window(&mut rng, 20_000, 0.0);
    let moved = window(&mut rng, 20_000, 1.0);
    let report = drift(
        &[reference.clone()],
        &[same],
        &cols(),
        DriftOptions::default(),
        Backend::Cpu,
    )
    .unwrap();
    assert!(
        report
            .iter()
            .all(|d| !d.drifted && d.psi < 0.01 && d.ks < 0.03),
        "{report:#?}"
    );
    let report = drift(
        &[reference],
        &[moved],
        &cols(),
        DriftOptions::default(),
        Backend::Cpu,
    )
    .unwrap();
    let flagged: Vec<&str> = report
        .iter()
        .filter(|d| d.drifted)
        .map(|d| d.feature.as_str())
        .collect();
    assert_eq!(flagged, vec!["b"], "{report:#?}");
    // b has sd 2 sqrt(1/2) = 1.414 (6 uniforms): a shift of 1 is 0.7071 sd, and for a normal
    // KS = 2 Phi(0.7071 / 2) - 1 = 0.2763 (population value; sampled, on 255 points).
    let b = &report[1];
    assert!((b.ks - 0.2763).abs() < 0.02, "ks {}", b.ks);
    assert!(b.ks_pvalue < 1e-10);
    assert!((b.reference_null_share, report[2].reference_null_share) == (0.0, 0.1));
}

#[test]
fn psi_and_ks_match_hand_computed_values() {
    // Reference 0..99 (edges at its quantiles): with 2 PSI bins the edge is 50 (index
    // round(99/2) = 50); current = 25 values < 50 and 75 >= 50: p = (0.5, 0.5), q = (0.25,
    // 0.75): PSI = (0.25-0.5) ln(0.5) + (0.75-0.5) ln(1.5) = 0.274653.
    let reference = batch(vec![("x", (0..100).map(|i| Some(i as f64)).collect())]);
    let current = batch(vec![(
        "x",
        (0..100)
            .map(|i| Some(if i < 25 { 0.0 } else { 99.0 }))
            .collect(),
    )]);
    let options = DriftOptions {
        psi_bins: 2,
        ks_bins: 100,
        ..Default::default()
    };
    let d = drift(
        &[reference],
        &[current],
        &["x".into()],
        options,
        Backend::Cpu,
    )
    .unwrap();
    assert!((d[0].psi - 0.274_653_072).abs() < 1e-6, "{}", d[0].psi);
    // KS points: reference values round(i * 99 / 100) for i in 1..100, the largest 98. The gap
    // F_ref(< e) - F_cur(< e) = e/100 - 0.25 peaks there: 0.98 - 0.25 = 0.73.
    assert!((d[0].ks - 0.73).abs() < 1e-9, "{}", d[0].ks);
}

#[test]
fn histograms_merge_exactly_and_gpu_equals_cpu() {
    let mut rng = Rng(4);
    let reference = window(&mut rng, 5000, 0.0);
    let r =
        DriftReference::fit(&[reference], &cols(), DriftOptions::default(), Backend::Cpu).unwrap();
    let now = window(&mut rng, 9000, 0.3);
    let whole = r.histogram(&[now.clone()], Backend::Cpu).unwrap();
    let parts = r
        .histogram(&[now.slice(0, 4000)], Backend::Cpu)
        .unwrap()
        .merge(&r.histogram(&[now.slice(4000, 5000)], Backend::Cpu).unwrap())
        .unwrap();
    assert_eq!(parts, whole);
    if gpu_available() {
        // Raw kernel on both backends, small chunks: counts equal exactly.
        let x: Vec<f32> = (0..30_000)
            .map(|i| {
                if i % 13 == 0 {
                    f32::NAN
                } else {
                    (i % 1000) as f32 * 0.37
                }
            })
            .collect();
        let edges: Vec<f32> = (1..16)
            .flat_map(|k| [k as f32 * 20.0, k as f32 * 21.0, k as f32 * 17.0])
            .collect();
        // 3 features x 15 edges, each feature's edges ascending.
        let mut per: Vec<Vec<f32>> = vec![Vec::new(); 3];
        for (i, e) in edges.iter().enumerate() {
            per[i % 3].push(*e);
        }
        let edges: Vec<f32> = per.concat();
        let cpu = vigil::kernels::histogram(&x, 3, &edges, 16, Backend::Cpu, 1 << 14).unwrap();
        let gpu = vigil::kernels::histogram(&x, 3, &edges, 16, Backend::Gpu, 1 << 14).unwrap();
        assert_eq!(cpu, gpu);
        assert_eq!(cpu.iter().sum::<u64>(), 30_000);
        let g = r.histogram(&[now], Backend::Gpu).unwrap();
        assert_eq!(g, whole);
    }
}

#[test]
fn bad_drift_input_is_a_typed_error() {
    let reference = batch(vec![("x", vec![None, None])]);
    let e = drift(
        &[reference.clone()],
        &[reference.clone()],
        &["x".into()],
        DriftOptions::default(),
        Backend::Cpu,
    );
    assert!(matches!(e, Err(vigil::Error::InvalidInput(m)) if m.contains("`x`")));
    let e = drift(
        &[reference.clone()],
        &[reference.clone()],
        &["nope".into()],
        DriftOptions::default(),
        Backend::Cpu,
    );
    assert!(matches!(e, Err(vigil::Error::MissingColumn { .. })));
    let bad = DriftOptions {
        psi_bins: 1,
        ..Default::default()
    };
    assert!(matches!(
        drift(
            &[reference.clone()],
            &[reference],
            &["x".into()],
            bad,
            Backend::Cpu
        ),
        Err(vigil::Error::InvalidParameter { .. })
    ));
}
