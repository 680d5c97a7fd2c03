//! Per-event windowed aggregates are exact: counts and integer sums / minima / maxima are
//! Int64, float sums and means Float64, through `extract`, a fitted model's `score`, a model
//! reloaded from JSON, and a stream (values checked against sums worked out by hand just above
//! 2^24, where Float32 rounds, and just above 2^53, where Float64 rounds).
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
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
    let per_row = |a: Option<i64>, b: Option<i64>, c: Option<i64>| vec![a, b, a, b, b, None, c];
    // a: 2^24 + 1 = 16,777,217 (Float32 would give 16,777,216); b: 2^53 + 1 =
    // 9,007,199,254,740,993 (Float64 would give 9,007,199,254,740,992).
    assert_eq!(
        int("sum"),
        per_row(Some(16_777_217), Some(9_007_199_254_740_993), Some(7)),
        "{what}"
    );
    assert_eq!(int("n"), per_row(Some(2), Some(3), Some(1)), "{what}");
    assert_eq!(
        int("distinct"),
        per_row(Some(2), Some(2), Some(1)),
        "{what}"
    );
    assert_eq!(int("min"), per_row(Some(1), Some(1), Some(7)), "{what}");
    assert_eq!(int("max"), per_row(Some(P24), Some(P52), Some(7)), "{what}");
    let a = Some(16_777_217.0);
    let b = Some(0.875);
    assert_eq!(
        float("xsum"),
        vec![a, b, a, b, b, None, Some(2.0)],
        "{what}"
    );
    let (ma, mb) = (Some(8_388_608.5), Some(3_002_399_751_580_331.0));
    assert_eq!(
        float("mean"),
        vec![ma, mb, ma, mb, mb, None, Some(7.0)],
        "{what}"
    );
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
    p.build()
        .unwrap()
        .fit(std::slice::from_ref(b))
        .unwrap()
        .with_feature_columns(true)
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
    // Feature columns are a setting of the loaded model, not part of the file.
    let again = FittedPipeline::from_json(&json)
        .unwrap()
        .with_feature_columns(true);
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

/// Per row, a naive (entity, window) reference: count, distinct non-null ports, sums of
/// ports and bytes, min / max / mean of ports (None: no non-null port), or None for a null time.
type Naive = (i64, i64, i64, i64, Option<i64>, Option<i64>, Option<f64>);

fn naive(
    src: &[Option<String>],
    port: &[Option<i64>],
    bytes: &[i64],
    ts: &[Option<i64>],
    every: Option<i64>,
) -> Vec<Option<Naive>> {
    let key = |i: usize| ts[i].map(|t| (src[i].clone(), every.map_or(0, |e| t.div_euclid(e))));
    let mut groups: BTreeMap<(Option<String>, i64), Vec<usize>> = BTreeMap::new();
    for i in 0..ts.len() {
        if let Some(k) = key(i) {
            groups.entry(k).or_default().push(i);
        }
    }
    (0..ts.len())
        .map(|i| {
            let rows = &groups[&key(i)?];
            let ports: Vec<i64> = rows.iter().filter_map(|&r| port[r]).collect();
            let mut d = ports.clone();
            d.sort();
            d.dedup();
            let psum: i64 = ports.iter().sum();
            Some((
                rows.len() as i64,
                d.len() as i64,
                psum,
                rows.iter().map(|&r| bytes[r]).sum(),
                ports.iter().copied().min(),
                ports.iter().copied().max(),
                (!ports.is_empty()).then(|| psum as f64 / ports.len() as f64),
            ))
        })
        .collect()
}

/// Unsorted times, 10% null entities, 5% null ports (one entity's ports all null), 3% null
/// times, tumbling and whole-input windows: every integer aggregate per event equals the naive
/// reference (the direct-address path on the CPU).
#[test]
fn integer_aggregates_per_event_equal_a_naive_reference() {
    let mut rng = common::Rng(7);
    let (mut src, mut port, mut bytes, mut ts) = (vec![], vec![], vec![], vec![]);
    for _ in 0..30_000 {
        let s = rng.below(300);
        src.push((rng.below(10) != 0).then(|| format!("h{s}")));
        port.push((s != 17 && rng.below(20) != 0).then(|| rng.below(50) as i64 - 10));
        bytes.push(rng.below(1 << 40) as i64 - (1 << 39));
        ts.push(
            (rng.below(33) != 0)
                .then(|| 1_700_000_000 * 1_000_000_000 + (rng.unit() * 3.6e12) as i64),
        );
    }
    let b = flows_batch(&src, port.clone(), bytes.clone(), &ts);
    // The same with the port as Int32 (read in place rather than widened).
    let b32 = port_as_int32(&b);
    for (every, b) in [(Some("1m"), &b), (None, &b), (Some("1m"), &b32)] {
        let mk = |agg, field: Option<&str>, name: &str| -> Stage {
            window::feature(WindowFeature::new(agg, field, &["src"], every))
                .named(name)
                .into()
        };
        let stages = vec![
            mk(Agg::Count, None, "n"),
            mk(Agg::DistinctCount, Some("port"), "d"),
            mk(Agg::Sum, Some("port"), "ps"),
            mk(Agg::Sum, Some("bytes"), "bs"),
            mk(Agg::Min, Some("port"), "lo"),
            mk(Agg::Max, Some("port"), "hi"),
            mk(Agg::Mean, Some("port"), "mean"),
        ];
        let out = vigil::extract(&stages, b, Backend::Cpu).unwrap();
        let int = |c: &str| {
            out.column_by_name(c)
                .unwrap()
                .as_primitive::<Int64Type>()
                .clone()
        };
        let (n, d, ps, bs, lo, hi) = (
            int("n"),
            int("d"),
            int("ps"),
            int("bs"),
            int("lo"),
            int("hi"),
        );
        let mean = out
            .column_by_name("mean")
            .unwrap()
            .as_primitive::<Float64Type>()
            .clone();
        let get = |a: &Int64Array, i: usize| a.is_valid(i).then(|| a.value(i));
        let expected = naive(&src, &port, &bytes, &ts, every.map(|_| 60_000_000_000));
        let mut empty_groups = 0;
        for (i, e) in expected.iter().enumerate() {
            let got = (
                get(&n, i),
                get(&d, i),
                get(&ps, i),
                get(&bs, i),
                get(&lo, i),
                get(&hi, i),
            );
            let m = mean.is_valid(i).then(|| mean.value(i));
            match e {
                None => assert_eq!(
                    (got, m),
                    ((None, None, None, None, None, None), None),
                    "row {i}"
                ),
                Some((c, dc, s, bsum, mn, mx, me)) => {
                    empty_groups += usize::from(mn.is_none());
                    assert_eq!(
                        got,
                        (Some(*c), Some(*dc), Some(*s), Some(*bsum), *mn, *mx),
                        "row {i} {every:?}"
                    );
                    assert_eq!(m, *me, "row {i} mean");
                }
            }
        }
        assert!(empty_groups > 0, "some group has no port");
        // The GPU backend (lavapipe) takes the run-based path and the segment_reduce kernel:
        // the same columns.
        if common::gpu_available() {
            let gpu = vigil::extract(&stages, b, Backend::Gpu).unwrap();
            assert_eq!(gpu, out, "GPU = CPU ({every:?})");
        }
    }
}

/// Utf8View entity keys of every length 0..=20 (inline up to 12 bytes, longer in buffers),
/// long keys sharing their first 12 bytes, "" beside null, over 100,000 rows (the parallel
/// lookup): per-event counts equal a naive count per key.
#[test]
fn string_view_keys_short_and_long_are_told_apart() {
    use arrow::array::StringViewArray;
    let mut rng = common::Rng(5);
    let mut names: Vec<String> = (0..=20)
        .flat_map(|len| ["a", "b"].map(|c| c.repeat(len)))
        .chain(["aaaaaaaaaaaaX", "aaaaaaaaaaaaY", "aaaaaaaaaaaaXZ"].map(String::from))
        .collect();
    names.sort();
    names.dedup();
    let keys: Vec<Option<&str>> = (0..100_000)
        .map(|_| {
            let k = rng.below(names.len() + 1);
            names.get(k).map(String::as_str)
        })
        .collect();
    let schema = Schema::new(vec![
        Field::new("src", DataType::Utf8View, true),
        Field::new("ts", DataType::Timestamp(TimeUnit::Nanosecond, None), true),
    ]);
    let b = RecordBatch::try_new(
        Arc::new(schema),
        vec![
            Arc::new(StringViewArray::from(keys.clone())),
            Arc::new(TimestampNanosecondArray::from(vec![0i64; keys.len()])),
        ],
    )
    .unwrap();
    let stage: Stage = window::feature(WindowFeature::new(Agg::Count, None, &["src"], Some("1m")))
        .named("n")
        .into();
    let out = vigil::extract(&[stage], &b, Backend::Cpu).unwrap();
    let n = out.column_by_name("n").unwrap().as_primitive::<Int64Type>();
    let mut naive: BTreeMap<Option<&str>, i64> = BTreeMap::new();
    for k in &keys {
        *naive.entry(*k).or_default() += 1;
    }
    assert_eq!(naive.len(), names.len() + 1);
    for (i, k) in keys.iter().enumerate() {
        assert_eq!(n.value(i), naive[k], "row {i} key {k:?}");
    }
}

/// A table arriving as several batches (a polars frame exported chunk by chunk) gives the
/// same per-window table as one batch; the counts add up to the rows with a time, in as many
/// rows as the naive grouping of (entity, minute) has groups.
#[test]
fn per_window_table_of_several_batches_equals_one_batch() {
    let mut rng = common::Rng(11);
    let (mut src, mut port, mut ts) = (vec![], vec![], vec![]);
    for _ in 0..20_000 {
        src.push((rng.below(10) != 0).then(|| format!("h{}", rng.below(200))));
        port.push((rng.below(20) != 0).then(|| rng.below(50) as i64));
        ts.push(
            (rng.below(33) != 0)
                .then(|| 1_700_000_000 * 1_000_000_000 + (rng.unit() * 3.6e12) as i64),
        );
    }
    let b = flows_batch(&src, port, vec![1; 20_000], &ts);
    let mk = |agg, field: Option<&str>, name: &str| {
        window::feature(WindowFeature::new(agg, field, &["src"], Some("1m"))).named(name)
    };
    let feats = vec![
        mk(Agg::Count, None, "n"),
        mk(Agg::DistinctCount, Some("port"), "d"),
        mk(Agg::Sum, Some("bytes"), "bs"),
    ];
    let whole = window::aggregate_features(std::slice::from_ref(&b), &feats, Backend::Cpu).unwrap();
    let parts = [b.slice(0, 7_000), b.slice(7_000, 3), b.slice(7_003, 12_997)];
    let split = window::aggregate_features(&parts, &feats, Backend::Cpu).unwrap();
    assert_eq!(split.schema(), whole.schema());
    for (i, (a, b)) in split.columns().iter().zip(whole.columns()).enumerate() {
        assert!(a.to_data() == b.to_data(), "column {i} differs");
    }
    let groups: std::collections::BTreeSet<(Option<String>, i64)> = (0..ts.len())
        .filter_map(|i| ts[i].map(|t| (src[i].clone(), t.div_euclid(60_000_000_000))))
        .collect();
    assert_eq!(whole.num_rows(), groups.len());
    let n = arrow::compute::cast(whole.column_by_name("n").unwrap(), &DataType::Int64).unwrap();
    let n = n.as_primitive::<Int64Type>();
    let timed = ts.iter().filter(|t| t.is_some()).count() as i64;
    assert_eq!(n.iter().flatten().sum::<i64>(), timed);
}

/// A table in several batches (a polars frame's chunks, one of a single row): `extract_batches`
/// gives one batch per input batch, its input columns the same buffers, and per event the
/// values of the naive (entity, window) reference across batch boundaries: groups of one, two
/// and many rows (1-minute and whole-input windows, the many-row groups counted by sorting their
/// values), null times, ports and entities, the port as Int64 and as Int32. A stage mix that
/// is not all windowed aggregates joins the batches whole: one batch with the same values.
#[test]
fn extract_over_several_batches_equals_the_naive_reference() {
    let mut rng = common::Rng(19);
    let rows = 12_000;
    let (mut src, mut port, mut bytes, mut ts) = (vec![], vec![], vec![], vec![]);
    for _ in 0..rows {
        src.push((rng.below(10) != 0).then(|| format!("h{}", rng.below(150))));
        port.push((rng.below(20) != 0).then(|| rng.below(40) as i64));
        bytes.push(rng.below(1 << 40) as i64 - (1 << 39));
        ts.push(
            (rng.below(33) != 0)
                .then(|| 1_700_000_000 * 1_000_000_000 + (rng.unit() * 3.6e12) as i64),
        );
    }
    let b = flows_batch(&src, port.clone(), bytes.clone(), &ts);
    let b32 = port_as_int32(&b);
    for (every, b) in [(Some("1m"), &b), (None, &b), (Some("1m"), &b32)] {
        let parts = [
            b.slice(0, 5_000),
            b.slice(5_000, 1),
            b.slice(5_001, 2_999),
            b.slice(8_000, 4_000),
        ];
        let stages = count_distinct_sum(every);
        let expected = naive(&src, &port, &bytes, &ts, every.map(|_| MIN));
        let check = |out: &[RecordBatch], what: &str| {
            let mut row = 0;
            for o in out {
                let int = |c: &str| o.column_by_name(c).unwrap().as_primitive::<Int64Type>();
                let (n, d, bs) = (int("n"), int("d"), int("bs"));
                let get = |a: &Int64Array, i: usize| a.is_valid(i).then(|| a.value(i));
                for i in 0..o.num_rows() {
                    let got = (get(n, i), get(d, i), get(bs, i));
                    let want = match &expected[row] {
                        None => (None, None, None),
                        Some((c, dc, _, bsum, ..)) => (Some(*c), Some(*dc), Some(*bsum)),
                    };
                    assert_eq!(got, want, "{what} row {row} {every:?}");
                    row += 1;
                }
            }
            assert_eq!(row, rows, "{what}: rows in = rows out");
        };
        let out = vigil::extract_batches(&stages, &parts, Backend::Cpu).unwrap();
        assert_eq!(out.len(), parts.len());
        for (o, p) in out.iter().zip(&parts) {
            assert_eq!(o.num_rows(), p.num_rows());
            for (c, pc) in o.columns().iter().zip(p.columns()) {
                assert!(c.to_data().ptr_eq(&pc.to_data()), "input column copied");
            }
        }
        check(&out, "windowed aggregates");
        let mut mixed = stages.clone();
        mixed.push(vigil::features::length("status").into());
        let joined = vigil::extract_batches(&mixed, &parts, Backend::Cpu).unwrap();
        assert_eq!(joined.len(), 1);
        check(&joined, "with a row feature");
    }
}

/// `b` (a `common::Flows` batch) with its `port` column (index 1) cast to Int32.
fn port_as_int32(b: &RecordBatch) -> RecordBatch {
    let mut columns = b.columns().to_vec();
    columns[1] = arrow::compute::cast(&columns[1], &DataType::Int32).unwrap();
    let mut fields: Vec<Field> = b
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields[1] = Field::new("port", DataType::Int32, true);
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
}

/// A `common::Flows` batch without `dst`, its float field 0 and every status `success`.
fn flows_batch(
    src: &[Option<String>],
    port: Vec<Option<i64>>,
    bytes: Vec<i64>,
    ts: &[Option<i64>],
) -> RecordBatch {
    common::Flows {
        src: src.to_vec(),
        dst: None,
        port,
        f: vec![0.0; bytes.len()],
        status: vec!["success"; bytes.len()],
        bytes,
        ts: ts.to_vec(),
    }
    .batch()
}

/// Time-sorted input (the shape of most logs), times in microseconds in a zone and in epoch
/// seconds (read as stored, windows from the stored unit), null times scattered through it,
/// several batches, one busy window holding a third of the rows, 1-minute and whole-input
/// windows: per event, count / exact distinct / sum equal the naive (entity, window)
/// reference on 1 to 4 threads (each thread then reads only the rows of its own windows).
#[test]
fn time_sorted_input_on_any_thread_count_equals_the_naive_reference() {
    let mut rng = common::Rng(23);
    let rows = 20_000;
    let (mut src, mut port, mut bytes, mut ts) = (vec![], vec![], vec![], vec![]);
    let mut t = 1_700_000_000i64 * 1_000_000; // microseconds
    for i in 0..rows {
        // Minute-scale steps, except a busy stretch inside one minute.
        let busy = (rows / 3..2 * rows / 3).contains(&i);
        t += if busy {
            0
        } else {
            rng.below(20_000_000) as i64
        };
        src.push(
            (rng.below(10) != 0).then(|| format!("h{}", rng.below(if busy { 5 } else { 200 }))),
        );
        port.push((rng.below(20) != 0).then(|| rng.below(40) as i64));
        bytes.push(rng.below(1 << 40) as i64 - (1 << 39));
        // Whole seconds, so that the epoch-seconds copy below is the same time.
        ts.push((rng.below(33) != 0).then_some(t / 1_000_000 * 1_000_000_000));
    }
    let b = flows_batch(&src, port.clone(), bytes.clone(), &ts);
    let ts_at = b.schema().index_of("ts").unwrap();
    let with_ts = |a: ArrayRef| {
        let mut columns = b.columns().to_vec();
        columns[ts_at] = a;
        let mut fields: Vec<Field> = b
            .schema()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        fields[ts_at] = Field::new("ts", columns[ts_at].data_type().clone(), true);
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
    };
    let micros = with_ts(
        arrow::compute::cast(
            b.column(ts_at),
            &DataType::Timestamp(TimeUnit::Microsecond, Some("Europe/Paris".into())),
        )
        .unwrap(),
    );
    let seconds = with_ts(Arc::new(arrow::array::Int64Array::from_iter(
        ts.iter().map(|t| t.map(|t| t / 1_000_000_000)),
    )));
    for (every, b) in [
        (Some("1m"), &micros),
        (Some("1m"), &seconds),
        (None, &micros),
    ] {
        let parts = [
            b.slice(0, 7_000),
            b.slice(7_000, 1),
            b.slice(7_001, rows - 7_001),
        ];
        let stages = count_distinct_sum(every);
        let expected = naive(&src, &port, &bytes, &ts, every.map(|_| MIN));
        for threads in 1..=4 {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let out =
                pool.install(|| vigil::extract_batches(&stages, &parts, Backend::Cpu).unwrap());
            let mut row = 0;
            for o in &out {
                let int = |c: &str| o.column_by_name(c).unwrap().as_primitive::<Int64Type>();
                let (n, d, bs) = (int("n"), int("d"), int("bs"));
                let get = |a: &Int64Array, i: usize| a.is_valid(i).then(|| a.value(i));
                for i in 0..o.num_rows() {
                    let want = match &expected[row] {
                        None => (None, None, None),
                        Some((c, dc, _, bsum, ..)) => (Some(*c), Some(*dc), Some(*bsum)),
                    };
                    assert_eq!(
                        (get(n, i), get(d, i), get(bs, i)),
                        want,
                        "row {row} {every:?} {threads} threads"
                    );
                    row += 1;
                }
            }
            assert_eq!(row, rows);
        }
    }
}

/// Count `n`, distinct ports `d` and byte sums `bs` per `src` per `every` window.
fn count_distinct_sum(every: Option<&str>) -> Vec<Stage> {
    let mk = |agg, field: Option<&str>, name: &str| -> Stage {
        window::feature(WindowFeature::new(agg, field, &["src"], every))
            .named(name)
            .into()
    };
    vec![
        mk(Agg::Count, None, "n"),
        mk(Agg::DistinctCount, Some("port"), "d"),
        mk(Agg::Sum, Some("bytes"), "bs"),
    ]
}
