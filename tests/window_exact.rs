//! Per-event windowed aggregates are exact: counts and integer sums / minima / maxima are
//! Int64, float sums and means Float64, through `extract`, a fitted model's `score`, a model
//! reloaded from JSON, and a stream (values checked against sums worked out by hand just above
//! 2^24, where Float32 rounds, and just above 2^53, where Float64 rounds).
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampNanosecondArray,
};
use arrow::datatypes::{DataType, Field, Float64Type, Int64Type, Schema, TimeUnit};
use vigil::detect::IsolationForest;
use vigil::window::{self, Agg, WindowFeature};
use vigil::{Backend, FittedPipeline, Pipeline, Stage};

const MIN: i64 = 60_000_000_000;
const P24: i64 = 1 << 24; // 16,777,216
const P52: i64 = 1 << 52; // 4,503,599,627,370,496

/// Entity `a`: bytes 2^24 and 1, x 2^24 and 1.0; entity `b`: bytes 2^52, 2^52 and 1,
/// x 0.5, 0.25, 0.125; all in minute 100, plus one `b` row with a null time and a `c` row in
/// minute 101 (so a stream sees minute 100 close).
fn batch() -> RecordBatch {
    let schema = Schema::new(vec![
        Field::new("src", DataType::Utf8, true),
        Field::new("bytes", DataType::Int64, true),
        Field::new("x", DataType::Float64, true),
        Field::new("ts", DataType::Timestamp(TimeUnit::Nanosecond, None), true),
    ]);
    let t = 100 * MIN;
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(vec!["a", "b", "a", "b", "b", "b", "c"])),
        Arc::new(Int64Array::from(vec![P24, P52, 1, P52, 1, 5, 7])),
        Arc::new(Float64Array::from(vec![
            P24 as f64, 0.5, 1.0, 0.25, 0.125, 9.0, 2.0,
        ])),
        Arc::new(TimestampNanosecondArray::from(vec![
            Some(t),
            Some(t + 1),
            Some(t + 2),
            Some(t + 3),
            Some(t + 4),
            None,
            Some(t + MIN),
        ])),
    ];
    RecordBatch::try_new(Arc::new(schema), columns).unwrap()
}

fn stages() -> Vec<Stage> {
    let mk = |agg, field: Option<&str>, name: &str| -> Stage {
        window::feature(WindowFeature::new(agg, field, &["src"], Some("1m")))
            .named(name)
            .into()
    };
    vec![
        mk(Agg::Count, None, "n"),
        mk(Agg::DistinctCount, Some("bytes"), "distinct"),
        mk(Agg::Sum, Some("bytes"), "sum"),
        mk(Agg::Min, Some("bytes"), "min"),
        mk(Agg::Max, Some("bytes"), "max"),
        mk(Agg::Sum, Some("x"), "xsum"),
        mk(Agg::Mean, Some("bytes"), "mean"),
    ]
}

/// The hand-worked values per row (None: null time).
fn check(out: &RecordBatch, what: &str) {
    let int = |name: &str| -> Vec<Option<i64>> {
        let c = out.column_by_name(name).unwrap();
        assert_eq!(c.data_type(), &DataType::Int64, "{what}: {name}");
        c.as_primitive::<Int64Type>().iter().collect()
    };
    let float = |name: &str| -> Vec<Option<f64>> {
        let c = out.column_by_name(name).unwrap();
        assert_eq!(c.data_type(), &DataType::Float64, "{what}: {name}");
        c.as_primitive::<Float64Type>().iter().collect()
    };
    let per_row = |a: Option<i64>, b: Option<i64>, c: Option<i64>| {
        vec![a, b, a, b, b, None, c]
    };
    // a: 2^24 + 1 = 16,777,217 (Float32 would give 16,777,216); b: 2^53 + 1 =
    // 9,007,199,254,740,993 (Float64 would give 9,007,199,254,740,992).
    assert_eq!(int("sum"), per_row(Some(16_777_217), Some(9_007_199_254_740_993), Some(7)), "{what}");
    assert_eq!(int("n"), per_row(Some(2), Some(3), Some(1)), "{what}");
    assert_eq!(int("distinct"), per_row(Some(2), Some(2), Some(1)), "{what}");
    assert_eq!(int("min"), per_row(Some(1), Some(1), Some(7)), "{what}");
    assert_eq!(int("max"), per_row(Some(P24), Some(P52), Some(7)), "{what}");
    let a = Some(16_777_217.0);
    let b = Some(0.875);
    assert_eq!(float("xsum"), vec![a, b, a, b, b, None, Some(2.0)], "{what}");
    let (ma, mb) = (Some(8_388_608.5), Some(3_002_399_751_580_331.0));
    assert_eq!(float("mean"), vec![ma, mb, ma, mb, mb, None, Some(7.0)], "{what}");
}

#[test]
fn extract_keeps_sums_above_2_pow_24_and_2_pow_53_exact() {
    let b = batch();
    let out = vigil::extract(&stages(), &b, Backend::Cpu).unwrap();
    check(&out, "extract");
    // The declared types for this input are the computed ones.
    for s in stages() {
        for f in s.output_fields_for(&b.schema()) {
            assert_eq!(
                out.schema().field_with_name(f.name()).unwrap().data_type(),
                f.data_type()
            );
        }
    }
    assert_eq!(
        window::event_type(Agg::Sum, Some(&DataType::Float32)),
        DataType::Float64
    );
    assert_eq!(window::event_type(Agg::Std, None), DataType::Float64);
}

fn model(b: &RecordBatch) -> FittedPipeline {
    let mut p = Pipeline::builder()
        .backend(Backend::Cpu)
        .detector(IsolationForest::default());
    for s in stages() {
        p = p.feature(s);
    }
    p.build().unwrap().fit(std::slice::from_ref(b)).unwrap()
}

#[test]
fn scoring_reloaded_models_and_streams_keep_them_exact() {
    let b = batch();
    let m = model(&b);
    let scored = m.score(&b).unwrap();
    check(&scored, "score");
    assert_eq!(scored.schema(), m.output_schema(&b.schema()).unwrap());
    // Model files hold the stage specs, no output types: a file saved when these columns were
    // Float32 has this same JSON and now gives the exact types.
    let json = m.to_json().unwrap();
    assert!(!json.contains("Float32"));
    let again = FittedPipeline::from_json(&json).unwrap();
    check(&again.score(&b).unwrap(), "reloaded");
    for size in [1, 3] {
        let parts: Vec<RecordBatch> = (0..b.num_rows())
            .step_by(size)
            .map(|at| b.slice(at, size.min(b.num_rows() - at)))
            .collect();
        let out: Vec<RecordBatch> = m
            .stream(parts.into_iter().map(Ok::<_, vigil::Error>), 0)
            .unwrap()
            .collect::<vigil::Result<_>>()
            .unwrap();
        let whole = arrow::compute::concat_batches(&out[0].schema(), &out).unwrap();
        check(&whole, &format!("stream of {size}"));
    }
}
