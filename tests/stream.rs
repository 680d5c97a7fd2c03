//! Streaming with carried window state: a stream's output equals whole-table scoring exactly
//! (every stage kind, batch sizes 1, 7, 1000, windows spanning batches), late events are
//! counted and kept, waiting rows stay bounded, and Parquet scoring / extraction in batches
//! equals the whole-table answer.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use arrow::array::{Array, AsArray, Int64Array, RecordBatch, StringArray};
use arrow::compute::concat_batches;
use arrow::datatypes::{DataType, Field, Float64Type, Int64Type, Schema};
use common::{Flows, Rng};
use vigil::detect::{IsolationForest, Threshold};
use vigil::window::{self, Agg, CmpOp, WindowFeature};
use vigil::{Backend, FittedPipeline, Pipeline, Stage, features};

const SEC: i64 = 1_000_000_000;

/// `n` events of 6 sources (one null) to 4 destinations, time-ordered with random gaps of
/// 0..40 s (ties included), a periodic beacon from `src0` to `dst0` every 30 s.
fn events(n: usize, seed: u64) -> RecordBatch {
    let mut rng = Rng(seed);
    let mut t = 1_700_000_000 * SEC;
    let (mut src, mut dst, mut port, mut bytes, mut f, mut status, mut ts) =
        (vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
    for i in 0..n {
        t += (rng.below(41) as i64) * SEC / if rng.below(4) == 0 { 1 } else { 3 };
        let s = rng.below(6);
        src.push((s != 5).then(|| format!("src{s}")));
        dst.push(if i % 5 == 0 {
            "dst0".to_string()
        } else {
            format!("dst{}", rng.below(4))
        });
        port.push((rng.below(10) != 0).then(|| 20 + rng.below(30) as i64));
        let b = rng.below(5000) as i64;
        bytes.push(b);
        f.push(b as f64 / 7.0 + rng.unit());
        status.push(if rng.below(3) == 0 {
            "failure"
        } else {
            "success"
        });
        ts.push((rng.below(50) != 0).then_some(t));
    }
    Flows {
        src,
        dst: Some(dst),
        port,
        bytes,
        f,
        status,
        ts,
    }
    .batch()
}

fn agg(a: Agg, field: Option<&str>, every: Option<&str>) -> Stage {
    window::feature(WindowFeature::new(a, field, &["src"], every)).into()
}

/// Every window stage kind a stream can hold to bounded memory, plus row features.
fn bounded_stages() -> Vec<Stage> {
    vec![
        agg(Agg::Count, None, Some("1m")),
        window::feature(
            WindowFeature::new(Agg::DistinctCount, Some("port"), &["src"], Some("1m")).period("5m"),
        )
        .into(),
        window::feature(
            WindowFeature::new(Agg::Sum, Some("bytes"), &["src"], Some("2m")).period("6m"),
        )
        .named("hop_sum")
        .into(),
        agg(Agg::ApproxDistinct, Some("dst"), Some("5m")),
        agg(Agg::Sum, Some("bytes"), Some("1m")),
        agg(Agg::Mean, Some("f"), Some("1m")),
        agg(Agg::Min, Some("bytes"), Some("1m")),
        agg(Agg::Max, Some("f"), Some("1m")),
        agg(Agg::Std, Some("f"), Some("3m")),
        window::feature(
            WindowFeature::new(Agg::Ratio, Some("status"), &["src"], Some("1m"))
                .predicate(CmpOp::Eq, serde_json::json!("failure")),
        )
        .into(),
        agg(Agg::FirstSeen, None, Some("5m")),
        agg(Agg::LastSeen, None, Some("5m")),
        agg(Agg::SincePrevious, None, None),
        window::feature(WindowFeature::new(
            Agg::SincePrevious,
            None,
            &["src", "dst"],
            Some("1m"),
        ))
        .named("pair_gap")
        .into(),
        agg(Agg::FirstSeen, None, None),
        window::time_features("ts", "Europe/Paris").into(),
        features::entropy("dst").into(),
        features::length("status").into(),
    ]
}

fn fit(stages: Vec<Stage>, baseline: &RecordBatch) -> FittedPipeline {
    let mut b = Pipeline::builder()
        .backend(Backend::Cpu)
        .detector(IsolationForest::default());
    for s in stages {
        b = b.feature(s);
    }
    b.build()
        .unwrap()
        .fit(std::slice::from_ref(baseline))
        .unwrap()
        .with_feature_columns(true)
}

fn slices(batch: &RecordBatch, size: usize) -> Vec<RecordBatch> {
    (0..batch.num_rows())
        .step_by(size)
        .map(|at| batch.slice(at, size.min(batch.num_rows() - at)))
        .collect()
}

fn streamed(
    model: &FittedPipeline,
    input: &RecordBatch,
    size: usize,
    lateness: i64,
) -> RecordBatch {
    let out: Vec<RecordBatch> = model
        .stream(
            slices(input, size).into_iter().map(Ok::<_, vigil::Error>),
            lateness,
        )
        .unwrap()
        .collect::<vigil::Result<_>>()
        .unwrap();
    assert!(out.iter().all(|b| b.num_rows() > 0));
    concat_batches(&out[0].schema(), &out).unwrap()
}

fn assert_same(what: &str, a: &RecordBatch, b: &RecordBatch) {
    assert_eq!(a.schema(), b.schema(), "{what}: schema");
    assert_eq!(a.num_rows(), b.num_rows(), "{what}: rows");
    for (f, (x, y)) in a
        .schema()
        .fields()
        .iter()
        .zip(a.columns().iter().zip(b.columns()))
    {
        if x.to_data() != y.to_data() {
            let i = (0..x.len()).find(|&i| x.slice(i, 1).to_data() != y.slice(i, 1).to_data());
            let show = |c: &arrow::array::ArrayRef, i: usize| {
                arrow::util::display::array_value_to_string(c, i).unwrap_or_default()
            };
            let i = i.unwrap_or(0);
            panic!(
                "{what}: column `{}` differs first at row {i}: {} vs {}",
                f.name(),
                show(x, i),
                show(y, i)
            );
        }
    }
}

#[test]
fn stream_equals_whole_table_for_every_stage_kind_and_batch_size() {
    let baseline = events(1500, 1);
    let input = events(2500, 2);
    let model = fit(bounded_stages(), &baseline);
    let whole = model.score(&input).unwrap();
    // The windows do span batches: some 1-minute window holds rows of two 7-row batches.
    for size in [1, 7, 1000] {
        let out = streamed(&model, &input, size, 0);
        assert_same(&format!("batches of {size}"), &out, &whole);
    }
    // Beacon scores and whole-input aggregates: exact too, rows held until the end.
    let mut all = bounded_stages();
    all.push(window::beacon_score("src", "dst", "ts").into());
    all.push(agg(Agg::Count, None, None));
    all.push(agg(Agg::LastSeen, None, None));
    let model = fit(all, &baseline);
    let whole = model.score(&input).unwrap();
    for size in [7, 1000] {
        assert_same(
            &format!("beacons, batches of {size}"),
            &streamed(&model, &input, size, 0),
            &whole,
        );
    }
    assert!(matches!(
        vigil::Scorer::bounded(&model, 0),
        Err(vigil::Error::Unstreamable { .. })
    ));
}

#[test]
fn hand_checked_stream_of_one_entity() {
    // Events at 10 s, 50 s, 70 s, 130 s of one source: 1-minute windows [0,60) [60,120)
    // [120,180) hold 2, 1, 1 events, so counts are 2, 2, 1, 1; gaps -, 40, 20, 60.
    let t = [10, 50, 70, 130];
    let schema = Arc::new(Schema::new(vec![
        Field::new("src", DataType::Utf8, false),
        Field::new("ts", DataType::Int64, false),
    ]));
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from(vec!["a"; 4])),
            Arc::new(Int64Array::from(t.to_vec())),
        ],
    )
    .unwrap();
    let model = fit(
        vec![
            agg(Agg::Count, None, Some("1m")),
            agg(Agg::SincePrevious, None, None),
        ],
        &batch,
    );
    let mut s = model.scorer(0).unwrap();
    // The first two rows wait for their window [0, 60) to close: the event at 70 s closes it.
    assert!(s.push(&batch.slice(0, 2)).unwrap().is_none());
    let out = s.push(&batch.slice(2, 1)).unwrap().unwrap();
    let count = out
        .column_by_name("src_count_1m")
        .unwrap()
        .as_primitive::<Int64Type>();
    assert_eq!(count.values().to_vec(), vec![2, 2]);
    let gap = out
        .column_by_name("src_since_previous")
        .unwrap()
        .as_primitive::<Float64Type>();
    assert!(gap.is_null(0));
    assert_eq!(gap.value(1), 40.0);
    assert_eq!(s.stats().pending_rows, 1);
    let out = s.push(&batch.slice(3, 1)).unwrap().unwrap();
    let count = out
        .column_by_name("src_count_1m")
        .unwrap()
        .as_primitive::<Int64Type>();
    assert_eq!(count.values().to_vec(), vec![1]);
    let out = s.finish().unwrap().unwrap();
    let gap = out
        .column_by_name("src_since_previous")
        .unwrap()
        .as_primitive::<Float64Type>();
    assert_eq!(gap.values().to_vec(), vec![60.0]);
    assert_eq!(s.stats().rows_out, 4);
}

#[test]
fn events_within_the_lateness_are_exact_and_later_ones_counted_not_dropped() {
    let baseline = events(1000, 3);
    let input = events(2000, 4);
    // Shuffle times within 20 s windows of rows: out of order by at most ~40 s of event time.
    let mut order: Vec<usize> = (0..input.num_rows()).collect();
    let mut rng = Rng(9);
    for chunk in order.chunks_mut(4) {
        for i in (1..chunk.len()).rev() {
            chunk.swap(i, rng.below(i + 1));
        }
    }
    let idx = arrow::array::UInt32Array::from(order.iter().map(|&i| i as u32).collect::<Vec<_>>());
    let shuffled = arrow::compute::take_record_batch(&input, &idx).unwrap();
    let model = fit(bounded_stages(), &baseline);
    let whole = model.score(&shuffled).unwrap();
    for size in [1, 7, 1000] {
        let mut scorer = model.scorer(600 * SEC).unwrap();
        let mut out = Vec::new();
        for b in slices(&shuffled, size) {
            out.extend(scorer.push(&b).unwrap());
        }
        out.extend(scorer.finish().unwrap());
        assert_eq!(scorer.stats().late_rows, 0);
        let out = concat_batches(&out[0].schema(), &out).unwrap();
        assert_same(&format!("lateness, batches of {size}"), &out, &whole);
    }
    // Lateness 0: every event earlier than the watermark is late, kept with null windows.
    let mut scorer = model.scorer(0).unwrap();
    let mut out = Vec::new();
    for b in slices(&shuffled, 7) {
        out.extend(scorer.push(&b).unwrap());
    }
    out.extend(scorer.finish().unwrap());
    let out = concat_batches(&out[0].schema(), &out).unwrap();
    assert_eq!(out.num_rows(), shuffled.num_rows());
    let ts = shuffled
        .column_by_name("ts")
        .unwrap()
        .as_primitive::<arrow::datatypes::TimestampNanosecondType>();
    let (mut max, mut late) = (i64::MIN, vec![]);
    for i in 0..ts.len() {
        if ts.is_valid(i) {
            if ts.value(i) < max {
                late.push(i);
            }
            max = max.max(ts.value(i));
        }
    }
    assert!(!late.is_empty());
    assert_eq!(scorer.stats().late_rows, late.len() as u64);
    let count = out.column_by_name("src_count_1m").unwrap();
    for &i in &late {
        assert!(count.is_null(i), "late row {i} has a window value");
    }
    // The rows out keep their input values, in order.
    assert_eq!(out.column(0).to_data(), shuffled.column(0).to_data());
}

#[test]
fn waiting_rows_and_carried_state_stay_bounded() {
    // One event per second for 3 hours from 50 sources; 1-minute windows: at most one
    // window of events (60) plus one batch waits, whatever the stream's length.
    let n = 3 * 3600;
    let schema = Arc::new(Schema::new(vec![
        Field::new("src", DataType::Utf8, false),
        Field::new("ts", DataType::Int64, false),
    ]));
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from(
                (0..n).map(|i| format!("s{}", i % 50)).collect::<Vec<_>>(),
            )),
            Arc::new(Int64Array::from((0..n as i64).collect::<Vec<_>>())),
        ],
    )
    .unwrap();
    let model = fit(
        vec![
            agg(Agg::Count, None, Some("1m")),
            agg(Agg::SincePrevious, None, None),
        ],
        &batch.slice(0, 1000),
    );
    let mut s = model.scorer(0).unwrap();
    let (mut max_pending, mut max_carried, mut out) = (0, 0, 0);
    for b in slices(&batch, 7) {
        out += s.push(&b).unwrap().map_or(0, |b| b.num_rows());
        max_pending = max_pending.max(s.stats().pending_rows);
        max_carried = max_carried.max(s.stats().carried_entries);
    }
    out += s.finish().unwrap().map_or(0, |b| b.num_rows());
    assert_eq!(out, n);
    assert!(max_pending <= 60 + 7, "{max_pending} rows waited");
    // since_previous keeps the last time before the watermark (and ties at it) per source.
    assert!(max_carried <= 2 * 50, "{max_carried} carried entries");
}

#[test]
fn score_parquet_equals_whole_table_scoring_with_windows_across_batches() {
    let baseline = events(1500, 5);
    let input = events(3000, 6);
    let model = fit(bounded_stages(), &baseline);
    let dir = std::env::temp_dir().join(format!("vigil-stream-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (inp, outp) = (dir.join("in.parquet"), dir.join("out.parquet"));
    vigil::io::write_parquet(&inp, &slices(&input, 1000)).unwrap();
    let summary = vigil::io::score_parquet(&model, &inp, &outp, 333).unwrap();
    assert_eq!(summary.rows, 3000);
    let back = vigil::io::read_parquet(&outp, 100_000).unwrap();
    let back = concat_batches(&back[0].schema(), &back).unwrap();
    let whole = model.score(&input).unwrap();
    for name in [
        "src_count_1m",
        "src_distinct_count_port_1m_5m",
        "src_last_seen_5m",
        "src_since_previous",
        "score",
    ] {
        assert!(
            back.column_by_name(name).unwrap().to_data()
                == whole.column_by_name(name).unwrap().to_data(),
            "score_parquet differs from whole-table scoring in `{name}`"
        );
    }
    // Beacon scores need the whole file: refused with a typed error, not per-batch values.
    let mut with_beacon = bounded_stages();
    with_beacon.push(window::beacon_score("src", "dst", "ts").into());
    let model = fit(with_beacon, &baseline);
    assert!(matches!(
        vigil::io::score_parquet(&model, &inp, &outp, 333),
        Err(vigil::Error::Unstreamable { .. })
    ));
    let top = Pipeline::builder()
        .feature(features::entropy("dst"))
        .threshold(Threshold::TopN { n: 3 })
        .build()
        .unwrap()
        .fit(std::slice::from_ref(&baseline))
        .unwrap();
    assert!(vigil::io::score_parquet(&top, &inp, &outp, 333).is_err());
}

#[test]
fn extract_parquet_with_window_stages_equals_whole_table_extract() {
    let input = events(3000, 7);
    let dir = std::env::temp_dir().join(format!("vigil-extract-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("in.parquet");
    // Row groups of 1000 rows: the writer flushes one per written batch below this size.
    let props = parquet::file::properties::WriterProperties::builder()
        .set_max_row_group_row_count(Some(1000))
        .build();
    let file = std::fs::File::create(&path).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(file, input.schema(), Some(props)).unwrap();
    w.write(&input).unwrap();
    w.close().unwrap();
    let stages = vec![
        agg(Agg::Count, None, Some("1m")),
        window::beacon_score("src", "dst", "ts").into(),
        Stage::from(features::standardize("bytes")),
    ];
    let got = vigil::io::extract_parquet(&path, &stages, Backend::Cpu).unwrap();
    let got = concat_batches(&got[0].schema(), &got).unwrap();
    let whole = vigil::extract(&stages, &input, Backend::Cpu).unwrap();
    assert_same("extract_parquet", &got, &whole);
}

#[test]
fn window_stages_over_two_time_columns_are_refused() {
    let base = events(200, 8);
    let mut cols = base.columns().to_vec();
    cols.push(base.column_by_name("ts").unwrap().clone());
    let mut fields: Vec<Field> = base
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(Field::new("ts2", fields[6].data_type().clone(), true));
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).unwrap();
    let model = fit(
        vec![
            agg(Agg::Count, None, Some("1m")),
            window::feature(WindowFeature::new(Agg::Count, None, &["src"], Some("1m")).time("ts2"))
                .named("n2")
                .into(),
        ],
        &batch,
    );
    assert!(matches!(
        model.scorer(0),
        Err(vigil::Error::Unstreamable { .. })
    ));
    // One time column is fine, and a negative lateness is a parameter error.
    assert!(matches!(
        fit(vec![agg(Agg::Count, None, Some("1m"))], &batch).scorer(-1),
        Err(vigil::Error::InvalidParameter { .. })
    ));
}
