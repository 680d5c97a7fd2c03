//! The fused string pass and block-wise robust-z scoring of a pipeline against the paths
//! they replace: length, entropy and char classes of one column computed together equal each
//! computed alone (`extract` of one feature at a time), on every string layout, with
//! nulls, slices, empty and non-ASCII strings, on the CPU (bit for bit) and on a GPU
//! (lavapipe in CI) within the float tolerance; scores read block by block equal the scores
//! of the whole matrix (`ExplainRows::All` builds it), and alert explanations do not change.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, DictionaryArray, Float32Array, LargeStringArray, RecordBatch,
    StringArray, StringViewArray,
};
use arrow::datatypes::{Field, Float32Type, Int32Type, Schema};
use common::{Rng, assert_arrays_agree, gpu_available};
use vigil::detect::{ExplainRows, RobustZ, Threshold};
use vigil::features::{self, Feature};
use vigil::{Backend, FittedPipeline, Pipeline};

const ALPHABET: &[&str] = &[
    "a", "e", "k", "z", "0", "7", "f", ".", "-", "_", "Q", "X", "é", "日本", "🙂", "%",
];

fn strings(seed: u64, rows: usize) -> Vec<Option<String>> {
    let mut rng = Rng(seed);
    (0..rows)
        .map(|_| match rng.below(20) {
            0 => None,
            1 => Some(String::new()),
            _ => {
                let len = 1 + rng.below(40);
                Some(
                    (0..len)
                        .map(|_| ALPHABET[rng.below(ALPHABET.len())])
                        .collect(),
                )
            }
        })
        .collect()
}

fn layouts(values: &[Option<String>]) -> Vec<(&'static str, ArrayRef)> {
    let utf8: ArrayRef = Arc::new(StringArray::from(values.to_vec()));
    let keys: Vec<i32> = (0..values.len() as i32).map(|i| i % 50).collect();
    let dict: DictionaryArray<Int32Type> = DictionaryArray::try_new(
        keys.into(),
        Arc::new(StringArray::from(values[..50].to_vec())),
    )
    .unwrap();
    vec![
        ("utf8", utf8.clone()),
        ("sliced utf8", utf8.slice(13, values.len() - 40)),
        (
            "large utf8",
            Arc::new(LargeStringArray::from(values.to_vec())),
        ),
        (
            "utf8 view",
            Arc::new(StringViewArray::from(values.to_vec())),
        ),
        ("dictionary", Arc::new(dict)),
    ]
}

fn batch(array: ArrayRef) -> RecordBatch {
    let schema = Schema::new(vec![Field::new("s", array.data_type().clone(), true)]);
    RecordBatch::try_new(Arc::new(schema), vec![array]).unwrap()
}

fn features() -> Vec<Feature> {
    vec![
        features::length("s"),
        features::entropy("s"),
        features::char_classes("s"),
    ]
}

fn fitted(baseline: &RecordBatch, backend: Backend) -> FittedPipeline {
    let mut builder = Pipeline::builder();
    for f in features() {
        builder = builder.feature(f);
    }
    builder
        .detector(RobustZ::default())
        .threshold(Threshold::BaselineQuantile { q: 0.9 })
        .backend(backend)
        .build()
        .unwrap()
        .fit(std::slice::from_ref(baseline))
        .unwrap()
        .with_feature_columns(true)
}

/// The feature columns of a scored batch (after the input's one column).
fn feature_columns(scored: &RecordBatch, count: usize) -> Vec<ArrayRef> {
    scored.columns()[1..1 + count].to_vec()
}

#[test]
fn fused_features_equal_each_feature_alone_on_the_cpu() {
    let values = strings(5, 20_011);
    for (what, array) in layouts(&values) {
        let input = batch(array);
        let alone: Vec<ArrayRef> = features()
            .iter()
            .flat_map(|f| {
                let out = vigil::extract(std::slice::from_ref(f), &input, Backend::Cpu).unwrap();
                out.columns()[1..].to_vec()
            })
            .collect();
        assert_eq!(
            alone.len(),
            13,
            "{what}: 2 lengths + entropy + 10 char-class outputs"
        );
        let scored = fitted(&input, Backend::Cpu).score(&input).unwrap();
        let together = vigil::extract(&features(), &input, Backend::Cpu).unwrap();
        for (k, a) in alone.iter().enumerate() {
            let b = &feature_columns(&scored, 13)[k];
            assert_eq!(a.as_ref(), b.as_ref(), "{what}: scored output {k} differs");
            let c = &feature_columns(&together, 13)[k];
            assert_eq!(
                a.as_ref(),
                c.as_ref(),
                "{what}: extracted output {k} differs"
            );
        }
    }
}

#[test]
fn fused_features_on_a_gpu_agree_with_the_cpu() {
    if !gpu_available() {
        return;
    }
    let values = strings(6, 9_001);
    for (what, array) in layouts(&values) {
        let input = batch(array);
        let cpu = fitted(&input, Backend::Cpu).score(&input).unwrap();
        let gpu = fitted(&input, Backend::Gpu).score(&input).unwrap();
        for (k, (a, b)) in feature_columns(&cpu, 13)
            .iter()
            .zip(feature_columns(&gpu, 13))
            .enumerate()
        {
            assert_arrays_agree(&format!("{what} output {k}"), a, &b);
        }
        assert_arrays_agree(
            &format!("{what} score"),
            cpu.column_by_name("score").unwrap(),
            gpu.column_by_name("score").unwrap(),
        );
    }
}

#[test]
fn block_scores_equal_whole_matrix_scores_and_alerts_keep_their_explanations() {
    let values = strings(7, 30_000);
    let input = batch(Arc::new(StringArray::from(values)));
    let model = fitted(&input.slice(0, 5_000), Backend::Cpu);
    let blocks = model.score(&input).unwrap();
    let whole = model
        .clone()
        .with_explain_rows(ExplainRows::All)
        .score(&input)
        .unwrap();
    let (a, b) = (
        blocks.column_by_name("score").unwrap(),
        whole.column_by_name("score").unwrap(),
    );
    // Same values bit for bit, nulls included (the null-string rows have no score).
    assert_eq!(a.as_ref(), b.as_ref());
    let scores = a.as_primitive::<Float32Type>();
    assert!(scores.null_count() > 0 && scores.null_count() < scores.len());
    let alerts = blocks.column_by_name("alert").unwrap().as_boolean();
    assert_eq!(
        alerts,
        whole.column_by_name("alert").unwrap().as_boolean(),
        "alerts"
    );
    assert!(alerts.true_count() > 100);
    let (ea, eb) = (
        blocks
            .column_by_name("explanation")
            .unwrap()
            .as_list::<i32>(),
        whole
            .column_by_name("explanation")
            .unwrap()
            .as_list::<i32>(),
    );
    for i in 0..alerts.len() {
        if alerts.value(i) {
            assert_eq!(ea.value(i).as_ref(), eb.value(i).as_ref(), "row {i}");
        } else {
            assert!(ea.is_null(i), "row {i}: a quiet row is explained");
        }
    }
    // A hand-checked row: "aaaa" has 4 bytes and chars, entropy 0, lower and vowel ratios
    // 1, no consonant run, only hex digits; its score is the RMS of the robust z of these 13
    // features, recomputed here from the model's centres and scales.
    let one = batch(Arc::new(StringArray::from(vec!["aaaa"])));
    let got = model.score(&one).unwrap();
    let x = [
        4.0f32, 4.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 1.0,
    ];
    let fitted = model.robust_z().unwrap();
    let (center, scale) = (&fitted.center, &fitted.scale);
    assert_eq!(center.len(), 13);
    let mut sum = 0.0f32;
    for j in 0..13 {
        let d = x[j] - center[j];
        let z = if scale[j] > 0.0 {
            (d / scale[j]).clamp(-100.0, 100.0)
        } else if d == 0.0 {
            0.0
        } else {
            d.signum() * 100.0
        };
        sum += z * z;
    }
    let score = got.column_by_name("score").unwrap();
    let score = score.as_any().downcast_ref::<Float32Array>().unwrap();
    assert_eq!(score.value(0), (sum / 13.0).sqrt());
}

/// Long strings, past the fused pass's tables of small counts and lengths (1,024), with
/// bytes from every quarter of the byte range: the fused pass equals each feature alone, bit
/// for bit, and a few values checked by hand.
#[test]
fn fused_features_equal_each_feature_alone_on_long_strings() {
    let mut rng = Rng(11);
    let mut values: Vec<Option<String>> = [1023usize, 1024, 1025, 3000]
        .iter()
        .map(|&n| Some("ab-9".repeat(n.div_ceil(4))[..n].to_string()))
        .collect();
    values.push(Some("é".repeat(1500)));
    values.push(Some(format!("{}{}", "a".repeat(2000), "b".repeat(2000))));
    for _ in 0..40 {
        let len = 900 + rng.below(3000);
        values.push(Some(
            (0..len)
                .map(|_| ALPHABET[rng.below(ALPHABET.len())])
                .collect(),
        ));
    }
    let input = batch(Arc::new(StringArray::from(values)));
    let together = vigil::extract(&features(), &input, Backend::Cpu).unwrap();
    let mut k = 1;
    for f in features() {
        let alone = vigil::extract(std::slice::from_ref(&f), &input, Backend::Cpu).unwrap();
        for a in &alone.columns()[1..] {
            assert_eq!(a.as_ref(), together.column(k).as_ref(), "output {k}");
            k += 1;
        }
    }
    assert_eq!(k, 14);
    let col = |name: &str| together.column_by_name(name).unwrap().clone();
    // "é" x 1500: 3000 bytes, 1500 characters, every byte non-ASCII, two byte values
    // equally often (entropy 1 bit).
    let bytes = col("s_len_bytes");
    let chars = col("s_len_chars");
    assert_eq!(
        bytes
            .as_primitive::<arrow::datatypes::UInt32Type>()
            .value(4),
        3000
    );
    assert_eq!(
        chars
            .as_primitive::<arrow::datatypes::UInt32Type>()
            .value(4),
        1500
    );
    let non_ascii = col("s_non_ascii_ratio");
    assert_eq!(non_ascii.as_primitive::<Float32Type>().value(4), 1.0);
    let entropy = col("s_entropy");
    let e = entropy.as_primitive::<Float32Type>();
    assert!((e.value(4) - 1.0).abs() < 1e-5, "{}", e.value(4));
    // 2000 "a" then 2000 "b": 1 bit; longest consonant run 2000 ("b"s), half vowels.
    assert!((e.value(5) - 1.0).abs() < 1e-5, "{}", e.value(5));
    let run = col("s_max_consonant_run");
    assert_eq!(
        run.as_primitive::<arrow::datatypes::UInt32Type>().value(5),
        2000
    );
    let vowels = col("s_vowel_ratio");
    assert_eq!(vowels.as_primitive::<Float32Type>().value(5), 0.5);
    // "ab-9" repeated: a quarter digits, a quarter dashes, 2 bits of entropy.
    let digits = col("s_digit_ratio");
    assert_eq!(digits.as_primitive::<Float32Type>().value(1), 0.25);
    assert!((e.value(1) - 2.0).abs() < 1e-5, "{}", e.value(1));
}
