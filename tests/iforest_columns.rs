//! The isolation forest read column by column (fit and `score_samples` borrow Float32 and
//! Float64 columns where Arrow holds them) equals the row-matrix path exactly, on every
//! numeric type, nulls, non-finite values and several batches; and GPU = CPU through it.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, Float32Array, Float64Array, Int32Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use common::{Rng, close, gpu_available};
use vigil::Backend;
use vigil::detect::{Detector, IsolationForest, matrix_from_batch};

const NAMES: [&str; 5] = ["f32", "f64", "i32", "flag", "wide"];

/// Five features of five Arrow types: Float32 with nulls, NaN and inf; Float64 with nulls and
/// values beyond f32's range; Int32 with nulls; Boolean; Float64 without nulls. Every 97th
/// row is null or non-finite in every feature but `flag`, every 89th row null in all.
fn batch(rng: &mut Rng, rows: usize) -> RecordBatch {
    let mut f32s = Vec::with_capacity(rows);
    let mut f64s = Vec::with_capacity(rows);
    let mut ints = Vec::with_capacity(rows);
    let mut flags = Vec::with_capacity(rows);
    let mut wide = Vec::with_capacity(rows);
    for i in 0..rows {
        let u = rng.unit();
        let gone = i % 89 == 0;
        f32s.push(match (gone, i % 97, rng.below(20)) {
            (true, _, _) | (_, 0, _) | (_, _, 0) => None,
            (_, _, 1) => Some(f32::NAN),
            (_, _, 2) => Some(f32::INFINITY),
            _ => Some((u * 10.0) as f32 + if i % 40 == 0 { 30.0 } else { 0.0 }),
        });
        f64s.push(match (gone, i % 97, rng.below(25)) {
            (true, _, _) | (_, 0, _) | (_, _, 0) => None,
            (_, _, 1) => Some(1e300),
            _ => Some(rng.unit() * 3.0 - 1.5),
        });
        ints.push((!gone && i % 97 != 0 && rng.below(10) != 0).then(|| rng.below(100) as i32));
        flags.push((!gone).then(|| rng.below(7) == 0));
        wide.push(if gone || i % 97 == 0 {
            None
        } else {
            Some(rng.unit() * 1e6)
        });
    }
    let fields = vec![
        Field::new(NAMES[0], DataType::Float32, true),
        Field::new(NAMES[1], DataType::Float64, true),
        Field::new(NAMES[2], DataType::Int32, true),
        Field::new(NAMES[3], DataType::Boolean, true),
        Field::new(NAMES[4], DataType::Float64, true),
    ];
    let arrays: Vec<ArrayRef> = vec![
        Arc::new(Float32Array::from(f32s)),
        Arc::new(Float64Array::from(f64s)),
        Arc::new(Int32Array::from(ints)),
        Arc::new(BooleanArray::from(flags)),
        Arc::new(Float64Array::from(wide)),
    ];
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).unwrap()
}

fn names() -> Vec<String> {
    NAMES.iter().map(|s| s.to_string()).collect()
}

#[test]
fn column_fit_and_scores_equal_the_row_matrix_path() {
    let mut rng = Rng(21);
    // Three baseline batches (one of them sliced, so its buffers have an offset).
    let whole = batch(&mut rng, 2500);
    let baseline = vec![
        batch(&mut rng, 700),
        whole.slice(300, 1900),
        batch(&mut rng, 1),
    ];
    let spec = IsolationForest {
        n_trees: 40,
        max_samples: 200,
        seed: 5,
        top_k: 2,
    };
    let fitted = Detector::from(spec.clone())
        .fit_batches(&baseline, &names(), Backend::Cpu)
        .unwrap();
    let mut x = Vec::new();
    for b in &baseline {
        x.extend(matrix_from_batch(b, &names()).unwrap());
    }
    let by_matrix = spec.fit(&names(), &x).unwrap();
    match &fitted {
        vigil::detect::FittedDetector::IsolationForest(f) => assert_eq!(*f, by_matrix),
        other => panic!("fitted {other:?}"),
    }
    // One batch (not a whole number of blocks, sliced) and a single row.
    let test = batch(&mut rng, 3001).slice(1, 3000);
    for b in [test, batch(&mut rng, 1)] {
        let by_columns = fitted.score_samples(&b, Backend::Cpu).unwrap();
        let by_rows = fitted.score_batch(&b, Backend::Cpu).unwrap().scores;
        assert_eq!(by_columns.len(), b.num_rows());
        let bits = |v: &[f32]| v.iter().map(|s| s.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&by_columns), bits(&by_rows));
    }
    // Rows null in every feature are unscored; a row with only `flag` is scored.
    let b = batch(&mut rng, 200);
    let s = fitted.score_samples(&b, Backend::Cpu).unwrap();
    assert!(s[0].is_nan() && s[89].is_nan() && s[178].is_nan());
    assert!(s[97].is_finite() && s[194].is_finite());
    assert!(s.iter().filter(|v| v.is_nan()).count() == 3);
    if gpu_available() {
        let gpu = fitted.score_samples(&b, Backend::Gpu).unwrap();
        for (i, (a, g)) in s.iter().zip(&gpu).enumerate() {
            assert!(close(*a, *g), "score[{i}]: cpu {a} vs gpu {g}");
        }
    }
}

#[test]
fn column_fit_reports_missing_and_non_numeric_columns() {
    let mut rng = Rng(3);
    let b = batch(&mut rng, 50);
    let spec = Detector::from(IsolationForest::default());
    let err = spec
        .fit_batches(
            std::slice::from_ref(&b),
            &["nope".to_string()],
            Backend::Cpu,
        )
        .unwrap_err();
    assert!(
        matches!(err, vigil::Error::MissingColumn { ref column, .. } if column == "nope"),
        "{err}"
    );
    let empty: Vec<RecordBatch> = Vec::new();
    assert!(spec.fit_batches(&empty, &names(), Backend::Cpu).is_err());
}
