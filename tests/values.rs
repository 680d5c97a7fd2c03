//! Hand-checked values: every figure here was computed by hand or by an independent
//! Python script, not by vigil.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Float64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Float32Type, Schema, UInt32Type};
use vigil::detect::{RobustZ, Threshold};
use vigil::features;
use vigil::{Backend, Pipeline};

fn backends() -> Vec<Backend> {
    if common::gpu_available() {
        vec![Backend::Cpu, Backend::Gpu]
    } else {
        vec![Backend::Cpu]
    }
}

fn strings(values: &[&str]) -> ArrayRef {
    Arc::new(StringArray::from(values.to_vec()))
}

#[test]
fn entropy_of_hand_checked_strings() {
    for b in backends() {
        let out = vigil::kernels::compute_feature(
            &features::entropy("s"),
            strings(&["", "aaaa", "ab", "abcd", "google"]),
            b,
            1 << 20,
        )
        .expect("entropy");
        let e = out[0].as_primitive::<Float32Type>();
        // google: p = 2/6, 2/6, 1/6, 1/6 -> 1.9182958 bits (Python: -sum p log2 p).
        let expected = [0.0f32, 0.0, 1.0, 2.0, 1.918_295_8];
        for (i, want) in expected.iter().enumerate() {
            assert!(
                (e.value(i) - want).abs() < 1e-6,
                "{b:?} row {i}: {} != {want}",
                e.value(i)
            );
        }
    }
}

#[test]
fn length_counts_bytes_and_code_points() {
    for b in backends() {
        let out = vigil::kernels::compute_feature(
            &features::length("s"),
            strings(&["naïve", "", "日本", "🙂x"]),
            b,
            1 << 20,
        )
        .expect("length");
        let bytes = out[0].as_primitive::<UInt32Type>().values().to_vec();
        let chars = out[1].as_primitive::<UInt32Type>().values().to_vec();
        assert_eq!(bytes, vec![6, 0, 6, 5], "{b:?}");
        assert_eq!(chars, vec![5, 0, 2, 2], "{b:?}");
    }
}

#[test]
fn char_classes_of_a_hand_counted_string() {
    // "Ab1.-_é" = bytes A b 1 . - _ 0xC3 0xA9: 8 bytes; digits 1, lower 1, upper 1, dot 1,
    // dash 1, other punct 1 (_), non-ASCII 2, vowels 1 (A); consonant run 1 (b); not hex.
    // "strength" has the consonant run "ngth" = 4 after "str" = 3 -> 4. "DEADbeef" is hex and
    // its longest consonant run is "Db" = 2.
    for b in backends() {
        let out = vigil::kernels::compute_feature(
            &features::char_classes("s"),
            strings(&["Ab1.-_é", "strength", "DEADbeef", ""]),
            b,
            1 << 20,
        )
        .expect("char classes");
        let ratio = |k: usize, row: usize| out[k].as_primitive::<Float32Type>().value(row);
        let expected = [
            1.0 / 8.0,
            1.0 / 8.0,
            1.0 / 8.0,
            1.0 / 8.0,
            1.0 / 8.0,
            1.0 / 8.0,
            2.0 / 8.0,
            1.0 / 8.0,
        ];
        for (k, want) in expected.iter().enumerate() {
            assert_eq!(ratio(k, 0), *want, "{b:?} class {k}");
        }
        assert_eq!(ratio(0, 3), 0.0, "empty string ratios are 0");
        let run = out[8].as_primitive::<UInt32Type>();
        assert_eq!((run.value(0), run.value(1), run.value(2)), (1, 4, 2));
        let hex = out[9].as_boolean();
        assert_eq!(
            (hex.value(0), hex.value(1), hex.value(2), hex.value(3)),
            (false, false, true, false)
        );
        assert_eq!(out[1].data_type(), &DataType::Float32);
    }
}

#[test]
fn ngram_hash_is_the_documented_function() {
    // FNV-1a 32-bit then murmur3 fmix32, computed independently in Python.
    assert_eq!(vigil::kernels::ngram_hash(b"abc"), 0x1cc9_3dbc);
    assert_eq!(vigil::kernels::ngram_hash(b"a"), 0x1a80_b1b3);
    assert_eq!(vigil::kernels::ngram_hash(b"google"), 0x13cd_a26b);
    for b in backends() {
        // "abab", n = 2, 8 buckets: ab, ba, ab land in bucket 5 with signs -, +, - -> -1.
        let out = vigil::kernels::compute_feature(
            &features::ngrams("s", 2, 8),
            strings(&["abab", "a"]),
            b,
            1 << 20,
        )
        .expect("ngrams");
        let v = out[0]
            .as_fixed_size_list()
            .values()
            .as_primitive::<Float32Type>()
            .values()
            .to_vec();
        assert_eq!(&v[..8], &[0.0, 0.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0], "{b:?}");
        assert!(
            v[8..].iter().all(|&x| x == 0.0),
            "shorter than n gives zeros"
        );
    }
}

fn table(a: &[f64], b: &[f64]) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("a", DataType::Float64, true),
        Field::new("b", DataType::Float64, true),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Float64Array::from(a.to_vec())),
            Arc::new(Float64Array::from(b.to_vec())),
        ],
    )
    .expect("batch")
}

#[test]
fn robust_z_matches_hand_computed_median_and_mad() {
    // Baseline a = 1..5: median 3, MAD 1 -> scale 1.4826.
    // Baseline b = 10,10,10,10,20: median 10, MAD 0 -> mean abs deviation 2 -> scale 1.2533 * 2.
    let baseline = table(&[1.0, 2.0, 3.0, 4.0, 5.0], &[10.0, 10.0, 10.0, 10.0, 20.0]);
    let current = table(&[3.0, 6.0, 3.0, 0.0], &[10.0, 10.0, 15.0, 30.0]);
    for backend in backends() {
        let fitted = Pipeline::builder()
            .feature(features::standardize("a").with_mean_std(0.0, 1.0))
            .feature(features::standardize("b").with_mean_std(0.0, 1.0))
            .detector(RobustZ {
                top_k: 2,
                z_cap: 100.0,
            })
            .threshold(Threshold::TopN { n: 1 })
            .backend(backend)
            .build()
            .expect("build")
            .fit(std::slice::from_ref(&baseline))
            .expect("fit");
        let d = fitted.robust_z().unwrap();
        assert_eq!(d.center, vec![3.0, 10.0]);
        assert!(
            (d.scale[0] - 1.4826).abs() < 1e-6 && (d.scale[1] - 2.5066).abs() < 1e-5,
            "{:?}",
            d.scale
        );

        let scored = fitted.score(&current).expect("score");
        assert_eq!(scored.num_rows(), 4);
        let score = scored
            .column_by_name("score")
            .expect("score")
            .as_primitive::<Float32Type>();
        // Hand/Python: row 1 sqrt((3/1.4826)^2/2), row 2 sqrt((5/2.5066)^2/2), row 3 both features.
        let expected = [0.0f32, 1.430_811, 1.410_49, 5.820_561];
        for (i, want) in expected.iter().enumerate() {
            assert!(
                (score.value(i) - want).abs() < 1e-4,
                "{backend:?} row {i}: {} vs {want}",
                score.value(i)
            );
        }
        let alert = scored.column_by_name("alert").expect("alert").as_boolean();
        assert_eq!(
            (0..4).map(|i| alert.value(i)).collect::<Vec<_>>(),
            vec![false, false, false, true]
        );
        let explanation = scored
            .column_by_name("explanation")
            .expect("explanation")
            .as_list::<i32>();
        let top = explanation.value(3);
        let top = top.as_struct();
        // Feature names are dictionary-encoded: read them as plain strings.
        let names = arrow::compute::cast(top.column(0), &DataType::Utf8).unwrap();
        let names = names.as_string::<i32>();
        let z = top.column(1).as_primitive::<Float32Type>();
        assert_eq!(
            (names.value(0), names.value(1)),
            ("b_standardized", "a_standardized")
        );
        assert!((z.value(0) - 7.978_936).abs() < 1e-4 && (z.value(1) + 2.023_472).abs() < 1e-4);
    }
}

#[test]
fn baseline_quantile_threshold_uses_the_baseline_scores() {
    // Baseline scores of a = 1..5 (b constant 0 -> z 0): |a - 3| / 1.4826 / sqrt(2).
    let baseline = table(&[1.0, 2.0, 3.0, 4.0, 5.0], &[0.0; 5]);
    let fitted = Pipeline::builder()
        .feature(features::standardize("a").with_mean_std(0.0, 1.0))
        .feature(features::standardize("b").with_mean_std(0.0, 1.0))
        .threshold(Threshold::BaselineQuantile { q: 0.5 })
        .backend(Backend::Cpu)
        .build()
        .expect("build")
        .fit(std::slice::from_ref(&baseline))
        .expect("fit");
    // Sorted baseline scores: 0, s1, s1, s2, s2 with s1 = 1/1.4826/sqrt 2 = 0.476937; median = s1.
    let cutoff = fitted.cutoff().expect("cutoff");
    assert!((cutoff - 0.476_937).abs() < 1e-5, "{cutoff}");
}

#[test]
fn roc_auc_of_a_hand_checked_example() {
    // The classic example: scores 0.1, 0.4, 0.35, 0.8 with labels 0, 0, 1, 1 -> 0.75.
    let auc =
        vigil::detect::roc_auc(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]).expect("auc");
    assert!((auc - 0.75).abs() < 1e-12);
    // Ties count half: all equal -> 0.5.
    assert_eq!(
        vigil::detect::roc_auc(&[1.0, 1.0, 1.0], &[true, false, false]),
        Some(0.5)
    );
    assert_eq!(vigil::detect::roc_auc(&[1.0, 2.0], &[true, true]), None);
}

#[test]
fn saved_model_round_trips() {
    let baseline = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new("q", DataType::Utf8, true)])),
        vec![strings(&[
            "google.com",
            "example.org",
            "wikipedia.org",
            "github.com",
        ])],
    )
    .expect("batch");
    let fitted = Pipeline::builder()
        .feature(features::entropy("q"))
        .feature(features::char_classes("q"))
        .feature(features::ngrams("q", 2, 16).normalized())
        .backend(Backend::Cpu)
        .build()
        .expect("build")
        .fit(std::slice::from_ref(&baseline))
        .expect("fit");
    let dir = std::env::temp_dir().join(format!("vigil-model-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("model.json");
    fitted.save(&path).expect("save");
    let loaded = vigil::FittedPipeline::load(&path)
        .expect("load")
        .with_backend(Backend::Cpu);
    assert_eq!(loaded, fitted);
    assert_eq!(
        loaded.score(&baseline).expect("score"),
        fitted.score(&baseline).expect("score")
    );
    let json = std::fs::read_to_string(&path).expect("read");
    assert!(json.contains("\"format\": \"vigil.pipeline\"") && json.contains("\"version\": 2"));
}

#[test]
fn score_parquet_streams_and_matches_in_memory_scoring() {
    let names: Vec<String> = (0..5000)
        .map(|i| format!("host{}.example{}.com", i % 97, i % 13))
        .collect();
    let batch = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new("q", DataType::Utf8, true)])),
        vec![Arc::new(StringArray::from(names))],
    )
    .expect("batch");
    let fitted = Pipeline::builder()
        .feature(features::entropy("q"))
        .feature(features::length("q"))
        .backend(Backend::Cpu)
        .build()
        .expect("build")
        .fit(std::slice::from_ref(&batch))
        .expect("fit");
    let dir = std::env::temp_dir().join(format!("vigil-parquet-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let (input, output) = (dir.join("in.parquet"), dir.join("out.parquet"));
    vigil::io::write_parquet(&input, &[batch.slice(0, 2500), batch.slice(2500, 2500)])
        .expect("write");
    let summary = vigil::io::score_parquet(&fitted, &input, &output, 700).expect("score_parquet");
    assert_eq!(summary.rows, 5000);
    let back = vigil::io::read_parquet(&output, 5000).expect("read");
    let back = arrow::compute::concat_batches(&back[0].schema(), &back).expect("concat");
    let direct = fitted.score(&batch).expect("score");
    assert_eq!(back.num_rows(), 5000);
    assert_eq!(back.column_by_name("score"), direct.column_by_name("score"));
    let alerts = direct
        .column_by_name("alert")
        .expect("alert")
        .as_boolean()
        .true_count() as u64;
    assert_eq!(summary.alerts, alerts);

    let top_n = Pipeline::builder()
        .feature(features::entropy("q"))
        .threshold(Threshold::TopN { n: 5 })
        .backend(Backend::Cpu)
        .build()
        .expect("build")
        .fit(std::slice::from_ref(&batch))
        .expect("fit");
    let refused = vigil::io::score_parquet(&top_n, &input, &output, 700);
    assert!(matches!(
        refused,
        Err(vigil::Error::InvalidParameter { .. })
    ));
}
