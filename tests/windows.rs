//! Windowed aggregates, time features and beaconing: hand-checked values, a naive reference
//! implementation (BTreeMap of BTreeSet, written independently of vigil's sort-by-key
//! code), streaming across batches, GPU (lavapipe) = CPU parity, beacon ranking, and real
//! data (Zeek conn logs, OpenSSH auth log) against values counted with awk/grep.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampNanosecondArray,
};
use arrow::datatypes::{
    DataType, Field, Float32Type, Float64Type, Int64Type, Schema, TimeUnit,
    TimestampNanosecondType, UInt64Type,
};
use common::{Flows, Rng, close, gpu_available, shared_data};
use vigil::Backend;
use vigil::window::{self, Agg, CmpOp, WindowFeature};

const MIN: i64 = 60_000_000_000;
const SEC: i64 = 1_000_000_000;

fn batch(
    src: Vec<Option<String>>,
    port: Vec<Option<i64>>,
    bytes: Vec<i64>,
    ts: Vec<Option<i64>>,
) -> RecordBatch {
    let f: Vec<f64> = bytes.iter().map(|&b| b as f64 / 7.0).collect();
    let status: Vec<&'static str> = port
        .iter()
        .map(|p| {
            if p.is_some_and(|p| p % 3 == 0) {
                "failure"
            } else {
                "success"
            }
        })
        .collect();
    Flows {
        src,
        dst: None,
        port,
        bytes,
        f,
        status,
        ts,
    }
    .batch()
}

/// Random flows: `keys` sources (`null_pct`% null), ports, bytes, times over 2 hours,
/// unsorted; `null_ts_pct`% null times.
fn random_flows(
    seed: u64,
    rows: usize,
    keys: usize,
    null_pct: usize,
    null_ts_pct: usize,
) -> RecordBatch {
    let mut rng = Rng(seed);
    let mut src = Vec::new();
    let mut port = Vec::new();
    let mut bytes = Vec::new();
    let mut ts = Vec::new();
    for _ in 0..rows {
        src.push(
            (rng.below(100) >= null_pct)
                .then(|| format!("10.0.{}.{}", rng.below(keys) / 256, rng.below(keys) % 256)),
        );
        port.push((rng.below(100) >= 5).then(|| rng.below(40) as i64 * 7));
        bytes.push(rng.below(1_000_000) as i64 - 1000);
        ts.push(
            (rng.below(100) >= null_ts_pct)
                .then(|| 1_700_000_000 * SEC + (rng.unit() * 7200.0 * SEC as f64) as i64),
        );
    }
    batch(src, port, bytes, ts)
}

fn specs(every: &str, period: Option<&str>) -> Vec<WindowFeature> {
    let mk = |agg, field: Option<&str>| {
        let s = WindowFeature::new(agg, field, &["src"], Some(every));
        match period {
            Some(p) => s.period(p),
            None => s,
        }
    };
    vec![
        mk(Agg::Count, None),
        mk(Agg::DistinctCount, Some("port")),
        mk(Agg::Sum, Some("bytes")),
        mk(Agg::Min, Some("bytes")),
        mk(Agg::Max, Some("bytes")),
        mk(Agg::Mean, Some("port")),
        mk(Agg::Std, Some("f")),
        mk(Agg::Sum, Some("f")),
        mk(Agg::DistinctCount, Some("status")),
        mk(Agg::Ratio, Some("status")).predicate(CmpOp::Eq, "failure".into()),
        mk(Agg::FirstSeen, None),
        mk(Agg::LastSeen, None),
        mk(Agg::SincePrevious, None),
        mk(Agg::ApproxDistinct, Some("port")),
    ]
}

/// Naive reference: every aggregate of `specs(every, period)` per (src, window start).
#[derive(Debug, Default, Clone)]
struct Naive {
    count: u64,
    ports: BTreeSet<i64>,
    statuses: BTreeSet<String>,
    bytes: Vec<i64>,
    port_vals: Vec<i64>,
    f: Vec<f64>,
    failures: u64,
    times: Vec<i64>,
}

fn naive(b: &RecordBatch, every: i64, period: i64) -> BTreeMap<(Option<String>, i64), Naive> {
    let src = b.column(0).as_string::<i32>();
    let port = b.column(1).as_primitive::<Int64Type>();
    let bytes = b.column(2).as_primitive::<Int64Type>();
    let f = b.column(3).as_primitive::<Float64Type>();
    let status = b.column(4).as_string::<i32>();
    let ts = b.column(5).as_primitive::<TimestampNanosecondType>();
    let mut out: BTreeMap<(Option<String>, i64), Naive> = BTreeMap::new();
    for i in 0..b.num_rows() {
        if ts.is_null(i) {
            continue;
        }
        let t = ts.value(i);
        // Every window start k * every with start <= t < start + period.
        let mut start = t.div_euclid(every) * every;
        while start > t - period {
            let e = out
                .entry((src.is_valid(i).then(|| src.value(i).to_string()), start))
                .or_default();
            e.count += 1;
            if port.is_valid(i) {
                e.ports.insert(port.value(i));
                e.port_vals.push(port.value(i));
            }
            e.statuses.insert(status.value(i).to_string());
            e.bytes.push(bytes.value(i));
            e.f.push(f.value(i));
            e.failures += (status.value(i) == "failure") as u64;
            e.times.push(t);
            start -= every;
        }
    }
    out
}

fn check_against_naive(out: &RecordBatch, reference: &BTreeMap<(Option<String>, i64), Naive>) {
    assert_eq!(out.num_rows(), reference.len(), "groups");
    let src = out.column(0).as_string::<i32>();
    let start = out.column(1).as_primitive::<TimestampNanosecondType>();
    let col = |i: usize| out.column(2 + i);
    for r in 0..out.num_rows() {
        let key = (
            src.is_valid(r).then(|| src.value(r).to_string()),
            start.value(r),
        );
        let n = reference
            .get(&key)
            .unwrap_or_else(|| panic!("unexpected group {key:?}"));
        let u = |i: usize| col(i).as_primitive::<UInt64Type>().value(r);
        let i64v = |i: usize| col(i).as_primitive::<Int64Type>().value(r);
        let f64v = |i: usize| col(i).as_primitive::<Float64Type>();
        assert_eq!(u(0), n.count, "count {key:?}");
        assert_eq!(u(1), n.ports.len() as u64, "distinct port {key:?}");
        assert_eq!(i64v(2), n.bytes.iter().sum::<i64>(), "sum {key:?}");
        assert_eq!(i64v(3), *n.bytes.iter().min().unwrap(), "min");
        assert_eq!(i64v(4), *n.bytes.iter().max().unwrap(), "max");
        if n.port_vals.is_empty() {
            assert!(f64v(5).is_null(r));
        } else {
            let mean = n.port_vals.iter().sum::<i64>() as f64 / n.port_vals.len() as f64;
            assert!((f64v(5).value(r) - mean).abs() < 1e-9, "mean");
        }
        if n.f.len() < 2 {
            assert!(f64v(6).is_null(r), "std of one value is null");
        } else {
            let m = n.f.iter().sum::<f64>() / n.f.len() as f64;
            let sd =
                (n.f.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n.f.len() - 1) as f64).sqrt();
            assert!(
                (f64v(6).value(r) - sd).abs() <= 1e-9 * sd.max(1.0),
                "std {} vs {sd}",
                f64v(6).value(r)
            );
        }
        let fs: f64 = n.f.iter().sum();
        assert!(
            (f64v(7).value(r) - fs).abs() <= 1e-9 * fs.abs().max(1.0),
            "float sum"
        );
        assert_eq!(u(8), n.statuses.len() as u64, "distinct status");
        assert!(
            (f64v(9).value(r) - n.failures as f64 / n.count as f64).abs() < 1e-12,
            "ratio"
        );
        let first = col(10).as_primitive::<TimestampNanosecondType>().value(r);
        let last = col(11).as_primitive::<TimestampNanosecondType>().value(r);
        assert_eq!(first, *n.times.iter().min().unwrap());
        assert_eq!(last, *n.times.iter().max().unwrap());
        // At most 40 distinct ports: HyperLogLog's exact small-set mode.
        assert_eq!(u(13), n.ports.len() as u64, "approx distinct port {key:?}");
        if n.count >= 2 {
            let gap = (last - first) as f64 / 1e9 / (n.count - 1) as f64;
            assert!((f64v(12).value(r) - gap).abs() < 1e-9);
        } else {
            assert!(f64v(12).is_null(r));
        }
    }
}

/// Same schema and rows; integer, string and timestamp columns equal; Float64 columns within
/// 1e-9 relative (floating sums and Welford merges depend on how rows were split in batches).
fn assert_tables_agree(what: &str, a: &RecordBatch, b: &RecordBatch) {
    assert_eq!(a.schema(), b.schema(), "{what}: schema");
    assert_eq!(a.num_rows(), b.num_rows(), "{what}: rows");
    for (k, (x, y)) in a.columns().iter().zip(b.columns()).enumerate() {
        if x.data_type() == &DataType::Float64 {
            assert_eq!(
                x.logical_nulls(),
                y.logical_nulls(),
                "{what}: column {k} validity"
            );
            let (x, y) = (
                x.as_primitive::<Float64Type>(),
                y.as_primitive::<Float64Type>(),
            );
            for r in 0..x.len() {
                let (p, q) = (x.value(r), y.value(r));
                assert!(
                    x.is_null(r) || (p - q).abs() <= 1e-9 * p.abs().max(q.abs()).max(1.0),
                    "{what}: column {k} row {r}: {p} vs {q}"
                );
            }
        } else {
            assert_eq!(x, y, "{what}: column {k}");
        }
    }
}

#[test]
fn hand_checked_tumbling_and_hopping() {
    // src a: t = 0s, 30s, 59s (window [0,1m)), 61s (window [1m,2m)); b: 10s; null: 20s, 70s.
    let s = |x: &str| Some(x.to_string());
    let b = batch(
        vec![s("a"), s("a"), s("a"), s("a"), s("b"), None, None],
        vec![
            Some(22),
            Some(22),
            Some(80),
            Some(443),
            Some(22),
            Some(1),
            None,
        ],
        vec![10, 20, 30, 40, 50, 60, 70],
        vec![
            Some(0),
            Some(30 * SEC),
            Some(59 * SEC),
            Some(61 * SEC),
            Some(10 * SEC),
            Some(20 * SEC),
            Some(70 * SEC),
        ],
    );
    let out =
        window::aggregate(std::slice::from_ref(&b), &specs("1m", None), Backend::Cpu).unwrap();
    // Groups in first-seen entity order: a@0, a@1m, b@0, null@0, null@1m.
    let count: Vec<u64> = out.column(2).as_primitive::<UInt64Type>().values().to_vec();
    assert_eq!(count, vec![3, 1, 1, 1, 1]);
    let distinct: Vec<u64> = out.column(3).as_primitive::<UInt64Type>().values().to_vec();
    assert_eq!(distinct, vec![2, 1, 1, 1, 0]);
    let sum: Vec<i64> = out.column(4).as_primitive::<Int64Type>().values().to_vec();
    assert_eq!(sum, vec![60, 40, 50, 60, 70]);
    // The null entity is its own group, with null key.
    assert_eq!(out.column(0).null_count(), 2);
    // Hopping: 2-minute windows every minute. a@-1m holds 0,30,59 (3); a@0 holds all 4.
    let hop = window::aggregate(&[b], &specs("1m", Some("2m")), Backend::Cpu).unwrap();
    let starts: Vec<i64> = hop
        .column(1)
        .as_primitive::<TimestampNanosecondType>()
        .values()
        .to_vec();
    let count: Vec<u64> = hop.column(2).as_primitive::<UInt64Type>().values().to_vec();
    assert_eq!(starts[..3], [-MIN, 0, MIN]);
    assert_eq!(count[..3], [3, 4, 1]);
}

#[test]
fn cpu_equals_naive_reference_unsorted_nulls_and_chunks() {
    let b = random_flows(7, 20_000, 300, 10, 3);
    for (every, period) in [("1m", None), ("1m", Some("5m")), ("7m", None)] {
        let e = vigil::window::parse_duration(every).unwrap();
        let p = period.map_or(e, |p| vigil::window::parse_duration(p).unwrap());
        let reference = naive(&b, e, p);
        let sp = specs(every, period);
        let whole = window::aggregate(std::slice::from_ref(&b), &sp, Backend::Cpu).unwrap();
        check_against_naive(&whole, &reference);
        // The same rows in 7 uneven batches: windows span batch boundaries, same answer.
        let mut parts = Vec::new();
        let mut at = 0;
        for len in [1, 999, 3000, 17, 6000, 4983, 5000] {
            parts.push(b.slice(at, len));
            at += len;
        }
        let chunked = window::aggregate(&parts, &sp, Backend::Cpu).unwrap();
        assert_tables_agree(&format!("chunked {every} {period:?}"), &whole, &chunked);
    }
}

#[test]
fn streaming_parquet_equals_in_memory() {
    let b = random_flows(11, 30_000, 50, 5, 0);
    let dir = std::env::temp_dir().join(format!("vigil-win-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("flows.parquet");
    vigil::io::write_parquet(&path, std::slice::from_ref(&b)).unwrap();
    let sp = specs("1m", None);
    let streamed = window::aggregate_parquet(&path, &sp, 4096, Backend::Cpu).unwrap();
    let whole = window::aggregate(std::slice::from_ref(&b), &sp, Backend::Cpu).unwrap();
    assert_tables_agree("streamed", &streamed, &whole);
    check_against_naive(&streamed, &naive(&b, MIN, MIN));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn hll_within_stated_error() {
    // 4 entities with 50, 5,000, 50,000 and 200,000 distinct values (each seen twice).
    let mut src = Vec::new();
    let mut val = Vec::new();
    for (k, n) in [50i64, 5_000, 50_000, 200_000].iter().enumerate() {
        for _ in 0..2 {
            for v in 0..*n {
                src.push(Some(format!("h{k}")));
                val.push(Some(v * 31 + k as i64 * 1_000_000));
            }
        }
    }
    let rows = src.len();
    let b = batch(src, val, vec![0; rows], vec![Some(0); rows]);
    let sp = vec![
        WindowFeature::new(Agg::ApproxDistinct, Some("port"), &["src"], None),
        WindowFeature::new(Agg::DistinctCount, Some("port"), &["src"], None),
    ];
    let out = window::aggregate(std::slice::from_ref(&b), &sp, Backend::Cpu).unwrap();
    let approx = out.column(1).as_primitive::<UInt64Type>();
    let exact = out.column(2).as_primitive::<UInt64Type>();
    for r in 0..out.num_rows() {
        let (a, e) = (approx.value(r) as f64, exact.value(r) as f64);
        let rel = (a - e).abs() / e;
        // 3 standard errors.
        assert!(
            rel <= 3.0 * window::HLL_RELATIVE_ERROR,
            "HLL {a} vs exact {e}: {rel}"
        );
    }
    assert_eq!(exact.values().to_vec(), vec![50, 5_000, 50_000, 200_000]);
    assert_eq!(approx.value(0), 50, "sets of up to 64 values are exact");
    if gpu_available() {
        // Hashes and register updates from the hll_hash kernel: the same sketches.
        let gpu = window::aggregate_strict(std::slice::from_ref(&b), &sp, Backend::Gpu, 1 << 20);
        assert_eq!(gpu.unwrap(), out);
    }
}

#[test]
fn gpu_equals_cpu_random_chunked_nulls_unsorted_long_runs() {
    if !gpu_available() {
        return;
    }
    // 300 keys plus one hot key with 10,000 events in one minute (a run longer than the
    // kernel's per-run bound, computed by the CPU twin inside the GPU path).
    let mut b = random_flows(21, 40_000, 300, 10, 2);
    let hot = batch(
        vec![Some("hot".to_string()); 10_000],
        (0..10_000).map(|i| Some(i as i64 % 977)).collect(),
        (0..10_000).map(|i| i as i64 * 1_000_003).collect(),
        (0..10_000)
            .map(|i| Some(1_700_000_000 * SEC + (i as i64 * 7919) % 60_000 * 1_000_000))
            .collect(),
    );
    b = arrow::compute::concat_batches(&b.schema(), &[b.clone(), hot]).unwrap();
    for (every, period) in [("1m", None), ("1m", Some("3m")), ("1h", None)] {
        let sp = specs(every, period);
        let cpu =
            window::aggregate_strict(std::slice::from_ref(&b), &sp, Backend::Cpu, 1 << 26).unwrap();
        for chunk in [64usize << 20, 4096] {
            let gpu = window::aggregate_strict(std::slice::from_ref(&b), &sp, Backend::Gpu, chunk)
                .unwrap();
            assert_tables_agree(&format!("{every} {period:?} chunk {chunk}"), &cpu, &gpu);
        }
        // Batches split across window boundaries, GPU.
        let parts: Vec<RecordBatch> = (0..5).map(|i| b.slice(i * 10_000, 10_000)).collect();
        let gpu = window::aggregate_strict(&parts, &sp, Backend::Gpu, 4096).unwrap();
        assert_tables_agree(&format!("{every} {period:?} split"), &cpu, &gpu);
    }
    // All keys null, empty input.
    let nulls = random_flows(3, 5_000, 10, 100, 0);
    let sp = specs("1m", None);
    assert_eq!(
        window::aggregate_strict(std::slice::from_ref(&nulls), &sp, Backend::Cpu, 1 << 20).unwrap(),
        window::aggregate_strict(&[nulls], &sp, Backend::Gpu, 1 << 20).unwrap()
    );
    let empty = random_flows(3, 0, 10, 0, 0);
    assert_eq!(
        window::aggregate_strict(std::slice::from_ref(&empty), &sp, Backend::Cpu, 1 << 20)
            .unwrap()
            .num_rows(),
        window::aggregate_strict(&[empty], &sp, Backend::Gpu, 1 << 20)
            .unwrap()
            .num_rows()
    );
}

fn time_batch(ts: Vec<Option<i64>>) -> RecordBatch {
    let schema = Schema::new(vec![Field::new(
        "ts",
        DataType::Timestamp(TimeUnit::Nanosecond, None),
        true,
    )]);
    RecordBatch::try_new(
        Arc::new(schema),
        vec![Arc::new(TimestampNanosecondArray::from(ts))],
    )
    .unwrap()
}

#[test]
fn time_features_hand_checked_and_parity() {
    // 2024-03-04 (a Monday) 06:00 UTC = 07:00 in Paris (CET, +1); 2024-07-06 (Saturday)
    // 18:00 UTC = 20:00 in Paris (CEST, +2).
    let monday = 1_709_532_000 * SEC;
    let saturday = 1_720_288_800 * SEC;
    let b = time_batch(vec![Some(monday), None, Some(saturday)]);
    let out = window::time_features_strict(&b, "ts", "Europe/Paris", Backend::Cpu).unwrap();
    let v = |k: usize, r: usize| out[k].as_primitive::<Float32Type>().value(r);
    let tau = std::f32::consts::TAU;
    assert!(close(v(0, 0), (tau * 7.0 / 24.0).sin()) && close(v(1, 0), (tau * 7.0 / 24.0).cos()));
    assert!(
        close(v(2, 0), 0.0) && close(v(3, 0), 1.0),
        "Monday is day 0"
    );
    assert!(close(v(0, 2), (tau * 20.0 / 24.0).sin()));
    assert!(close(v(2, 2), (tau * 5.0 / 7.0).sin()), "Saturday is day 5");
    assert!(out[0].is_null(1));
    if gpu_available() {
        let mut rng = Rng(5);
        let ts: Vec<Option<i64>> = (0..100_000)
            .map(|_| {
                (rng.below(10) > 0).then(|| (rng.unit() * 4e9) as i64 * SEC - 1_000_000_000 * SEC)
            })
            .collect();
        let b = time_batch(ts);
        for tz in ["UTC", "America/New_York", "Asia/Kolkata"] {
            let c = window::time_features_strict(&b, "ts", tz, Backend::Cpu).unwrap();
            let g = window::time_features_strict(&b, "ts", tz, Backend::Gpu).unwrap();
            for (k, (x, y)) in c.iter().zip(&g).enumerate() {
                common::assert_arrays_agree(&format!("time {tz} {k}"), x, y);
            }
        }
    }
}

#[test]
fn three_beacons_rank_top_three_among_1000_hosts() {
    let mut rng = Rng(42);
    let mut src = Vec::new();
    let mut dst = Vec::new();
    let mut ts = Vec::new();
    let span = 6.0 * 3600.0;
    let mut push = |s: String, d: String, t: f64| {
        src.push(Some(s));
        dst.push(Some(d));
        ts.push(Some((t * 1e9) as i64));
    };
    // 1,000 hosts, each talking to a few of 200 servers at random (Poisson) times.
    for h in 0..1000 {
        let servers: Vec<usize> = (0..3).map(|_| rng.below(200)).collect();
        let events = 5 + rng.below(60);
        for _ in 0..events {
            let d = servers[rng.below(3)];
            push(
                format!("10.1.{}.{}", h / 256, h % 256),
                format!("srv{d}"),
                rng.unit() * span,
            );
        }
    }
    // Three beacons: 60 s +- 5%, 300 s +- 20%, 10 s exact.
    for (host, period, jitter) in [
        ("10.9.0.1", 60.0, 0.05),
        ("10.9.0.2", 300.0, 0.20),
        ("10.9.0.3", 10.0, 0.0),
    ] {
        let mut t = rng.unit() * period;
        while t < span {
            push(host.to_string(), "c2.example".to_string(), t);
            t += period * (1.0 + jitter * (2.0 * rng.unit() - 1.0));
        }
    }
    let n = src.len();
    let schema = Schema::new(vec![
        Field::new("src_ip", DataType::Utf8, true),
        Field::new("dst_ip", DataType::Utf8, true),
        Field::new("ts", DataType::Timestamp(TimeUnit::Nanosecond, None), true),
    ]);
    // Shuffle rows: the input need not be sorted.
    let mut idx: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        idx.swap(i, rng.below(i + 1));
    }
    let pick_s = |v: &Vec<Option<String>>| {
        StringArray::from(idx.iter().map(|&i| v[i].clone()).collect::<Vec<_>>())
    };
    let b = RecordBatch::try_new(
        Arc::new(schema),
        vec![
            Arc::new(pick_s(&src)),
            Arc::new(pick_s(&dst)),
            Arc::new(TimestampNanosecondArray::from(
                idx.iter().map(|&i| ts[i]).collect::<Vec<_>>(),
            )),
        ],
    )
    .unwrap();
    let out = window::beaconing(std::slice::from_ref(&b), "src_ip", "dst_ip", "ts").unwrap();
    let top: BTreeSet<&str> = (0..3)
        .map(|r| out.column(0).as_string::<i32>().value(r))
        .collect();
    assert_eq!(
        top,
        BTreeSet::from(["10.9.0.1", "10.9.0.2", "10.9.0.3"]),
        "{:?}",
        out.slice(0, 5)
    );
    // The exact beacon: CV 0, periodicity 1, 2,160 events.
    let cv = out.column(4).as_primitive::<Float64Type>();
    let srcs = out.column(0).as_string::<i32>();
    let exact = (0..3).find(|&r| srcs.value(r) == "10.9.0.3").unwrap();
    assert!(cv.value(exact) < 1e-9);
    assert!(out.num_rows() > 1000);
    // Per event (pipeline feature): beacon rows carry their pair's score.
    let f = window::beacon_score("src_ip", "dst_ip", "ts");
    let cols = vigil::kernels::compute_feature_batch(&f, &b, Backend::Cpu).unwrap();
    let score = cols[0].as_primitive::<Float32Type>();
    let s = b.column(0).as_string::<i32>();
    let best_random = (0..n)
        .filter(|&i| !s.value(i).starts_with("10.9."))
        .map(|i| score.value(i))
        .fold(0f32, f32::max);
    let worst_beacon = (0..n)
        .filter(|&i| s.value(i).starts_with("10.9."))
        .map(|i| score.value(i))
        .fold(1f32, f32::min);
    assert!(
        worst_beacon > best_random,
        "{worst_beacon} vs {best_random}"
    );
}

/// Unzips the Zeek conn.log of the OTRF LSASS campaign with the `zip` crate.
fn zeek_conn_log() -> Option<String> {
    let path = shared_data().join("otrf/datasets/compound/LSASS_campaign_01/metasploit_logonpasswords_lsass_memory_dump_zeek_logs.zip");
    let Ok(file) = std::fs::File::open(&path) else {
        eprintln!("SKIPPED: {} not found", path.display());
        return None;
    };
    let mut zip = zip::ZipArchive::new(file).unwrap();
    let mut entry = zip.by_name("conn.log").unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut entry, &mut text).unwrap();
    Some(text)
}

#[test]
fn zeek_distinct_destination_ports_per_source() {
    let Some(text) = zeek_conn_log() else { return };
    let (mut ts, mut src, mut port) = (Vec::new(), Vec::new(), Vec::new());
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let f: Vec<&str> = line.split('\t').collect();
        ts.push(f[0].parse::<f64>().unwrap());
        src.push(f[2].to_string());
        port.push(f[5].parse::<i64>().unwrap());
    }
    let schema = Schema::new(vec![
        Field::new("ts", DataType::Float64, false),
        Field::new("id.orig_h", DataType::Utf8, false),
        Field::new("id.resp_p", DataType::Int64, false),
    ]);
    let cols: Vec<ArrayRef> = vec![
        Arc::new(Float64Array::from(ts.clone())),
        Arc::new(StringArray::from(src.clone())),
        Arc::new(Int64Array::from(port.clone())),
    ];
    let b = RecordBatch::try_new(Arc::new(schema), cols).unwrap();
    let spec = |every: Option<&str>| {
        WindowFeature::new(Agg::DistinctCount, Some("id.resp_p"), &["id.orig_h"], every)
    };
    let out = window::aggregate(std::slice::from_ref(&b), &[spec(None)], Backend::Cpu).unwrap();
    let got: BTreeMap<String, u64> = (0..out.num_rows())
        .map(|r| {
            (
                out.column(0).as_string::<i32>().value(r).to_string(),
                out.column(1).as_primitive::<UInt64Type>().value(r),
            )
        })
        .collect();
    // Counted with: awk -F'\t' '!/^#/ {print $3, $6}' conn.log | sort -u | awk '{print $1}' | uniq -c
    let expected = BTreeMap::from([
        ("192.168.1.4".to_string(), 3),
        ("192.168.1.41".to_string(), 8),
        ("fe80::5d91:ea18:e2b5:9755".to_string(), 2),
        ("fe80::a00:27ff:fe18:a1ef".to_string(), 1),
    ]);
    assert_eq!(got, expected);
    assert_eq!(b.num_rows(), 112);
    // Per 1-minute window against the naive reference (BTreeSet per (src, minute)).
    let mut reference: BTreeMap<(String, i64), BTreeSet<i64>> = BTreeMap::new();
    for i in 0..ts.len() {
        let ns = (ts[i] * 1e9).round() as i64;
        reference
            .entry((src[i].clone(), ns.div_euclid(MIN) * MIN))
            .or_default()
            .insert(port[i]);
    }
    let out = window::aggregate(&[b], &[spec(Some("1m"))], Backend::Cpu).unwrap();
    let got: BTreeMap<(String, i64), u64> = (0..out.num_rows())
        .map(|r| {
            (
                (
                    out.column(0).as_string::<i32>().value(r).to_string(),
                    out.column(1)
                        .as_primitive::<TimestampNanosecondType>()
                        .value(r),
                ),
                out.column(2).as_primitive::<UInt64Type>().value(r),
            )
        })
        .collect();
    let want: BTreeMap<(String, i64), u64> = reference
        .into_iter()
        .map(|(k, v)| (k, v.len() as u64))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn openssh_failed_logins_per_source_ip() {
    let path = shared_data().join("loghub/OpenSSH/OpenSSH_2k.log");
    let Ok(text) = std::fs::read_to_string(&path) else {
        eprintln!("SKIPPED: {} not found", path.display());
        return;
    };
    // Each line: the source IP after " from " (null when there is none), the event kind.
    let (mut ts, mut src, mut kind) = (Vec::new(), Vec::new(), Vec::new());
    for (i, line) in text.lines().enumerate() {
        let ip = line
            .split(" from ")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .map(str::to_string);
        src.push(ip);
        kind.push(if line.contains("Failed password for") {
            "failed"
        } else {
            "other"
        });
        ts.push(i as i64); // line order; the log spans one year-less day range
    }
    let schema = Schema::new(vec![
        Field::new("ts", DataType::Int64, false),
        Field::new("src_ip", DataType::Utf8, true),
        Field::new("event", DataType::Utf8, false),
    ]);
    let b = RecordBatch::try_new(
        Arc::new(schema),
        vec![
            Arc::new(Int64Array::from(ts)),
            Arc::new(StringArray::from(src)),
            Arc::new(StringArray::from(kind)),
        ],
    )
    .unwrap();
    let sp = vec![
        WindowFeature::new(Agg::Count, None, &["src_ip"], None),
        WindowFeature::new(Agg::Ratio, Some("event"), &["src_ip"], None)
            .predicate(CmpOp::Eq, "failed".into()),
    ];
    let out = window::aggregate(&[b], &sp, Backend::Cpu).unwrap();
    let mut failed: BTreeMap<Option<String>, u64> = BTreeMap::new();
    for r in 0..out.num_rows() {
        let ip = out.column(0).as_string::<i32>();
        let n = out.column(1).as_primitive::<UInt64Type>().value(r) as f64;
        let ratio = out.column(2).as_primitive::<Float64Type>().value(r);
        failed.insert(
            ip.is_valid(r).then(|| ip.value(r).to_string()),
            (n * ratio).round() as u64,
        );
    }
    // Counted with: grep -oE "Failed password for (invalid user )?\S+ from [0-9.]+" OpenSSH_2k.log
    //   | awk '{print $NF}' | sort | uniq -c   (520 lines in all)
    assert_eq!(failed[&Some("183.62.140.253".to_string())], 286);
    assert_eq!(failed[&Some("187.141.143.180".to_string())], 80);
    assert_eq!(failed[&Some("103.99.0.122".to_string())], 46);
    assert_eq!(failed[&Some("112.95.230.3".to_string())], 26);
    assert_eq!(failed.values().sum::<u64>(), 520);
}

#[test]
fn pipeline_scores_with_window_features() {
    let b = random_flows(9, 5_000, 40, 5, 0);
    let count = window::feature(WindowFeature::new(Agg::Count, None, &["src"], Some("5m")));
    let distinct = window::feature(WindowFeature::new(
        Agg::DistinctCount,
        Some("port"),
        &["src"],
        Some("5m"),
    ));
    let pipe = vigil::Pipeline::builder()
        .feature(count)
        .feature(distinct)
        .feature(window::time_features("ts", "UTC"))
        .feature(vigil::features::entropy("status"))
        .backend(Backend::Cpu)
        .build()
        .unwrap();
    let fitted = pipe
        .fit(std::slice::from_ref(&b))
        .unwrap()
        .with_feature_columns(true);
    let scored = fitted.score(&b).unwrap();
    assert_eq!(scored.num_rows(), b.num_rows());
    // Broadcast values equal the per-window table.
    let table = window::aggregate(
        std::slice::from_ref(&b),
        &[WindowFeature::new(Agg::Count, None, &["src"], Some("5m"))],
        Backend::Cpu,
    )
    .unwrap();
    let mut per_window = BTreeMap::new();
    for r in 0..table.num_rows() {
        let s = table.column(0).as_string::<i32>();
        let key = (
            s.is_valid(r).then(|| s.value(r).to_string()),
            table
                .column(1)
                .as_primitive::<TimestampNanosecondType>()
                .value(r),
        );
        per_window.insert(key, table.column(2).as_primitive::<UInt64Type>().value(r));
    }
    let bc = scored
        .column_by_name("src_count_5m")
        .unwrap()
        .as_primitive::<Int64Type>();
    let s = b.column(0).as_string::<i32>();
    let ts = b.column(5).as_primitive::<TimestampNanosecondType>();
    for i in 0..b.num_rows() {
        let key = (
            s.is_valid(i).then(|| s.value(i).to_string()),
            ts.value(i).div_euclid(5 * MIN) * 5 * MIN,
        );
        assert_eq!(bc.value(i) as u64, per_window[&key]);
    }
    // The model round-trips through JSON with its window specs.
    let again = vigil::FittedPipeline::from_json(&fitted.to_json().unwrap()).unwrap();
    assert_eq!(again, fitted);
}

#[test]
fn bad_input_is_a_typed_error() {
    let b = random_flows(1, 100, 5, 0, 0);
    let bad_time = WindowFeature::new(Agg::Count, None, &["src"], Some("1m")).time("status");
    assert!(matches!(
        window::aggregate(std::slice::from_ref(&b), &[bad_time], Backend::Cpu),
        Err(vigil::Error::WrongType { .. })
    ));
    let missing = WindowFeature::new(Agg::Count, None, &["nope"], Some("1m"));
    assert!(matches!(
        window::aggregate(std::slice::from_ref(&b), &[missing], Backend::Cpu),
        Err(vigil::Error::MissingColumn { .. })
    ));
    let bad_every = WindowFeature::new(Agg::Count, None, &["src"], Some("5 minutes"));
    assert!(matches!(
        window::aggregate(std::slice::from_ref(&b), &[bad_every], Backend::Cpu),
        Err(vigil::Error::InvalidParameter { .. })
    ));
    let sum_of_strings = WindowFeature::new(Agg::Sum, Some("status"), &["src"], Some("1m"));
    assert!(matches!(
        window::aggregate(std::slice::from_ref(&b), &[sum_of_strings], Backend::Cpu),
        Err(vigil::Error::WrongType { .. })
    ));
    let mixed = [
        WindowFeature::new(Agg::Count, None, &["src"], Some("1m")),
        WindowFeature::new(Agg::Count, None, &["src"], Some("5m")),
    ];
    assert!(matches!(
        window::aggregate(&[b], &mixed, Backend::Cpu),
        Err(vigil::Error::InvalidParameter { .. })
    ));
    assert!(matches!(
        window::time_features_strict(
            &random_flows(1, 10, 5, 0, 0),
            "ts",
            "Mars/Olympus",
            Backend::Cpu
        ),
        Err(vigil::Error::InvalidParameter { .. })
    ));
}

#[test]
fn aggregate_param_structs_match_wgsl() {
    let source = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shaders/shared/params.wgsl"
    ))
    .unwrap();
    let module = naga::front::wgsl::parse_str(&source).unwrap();
    let mut layouter = naga::proc::Layouter::default();
    layouter.update(module.to_ctx()).unwrap();
    let size_of = |name: &str| -> usize {
        let (handle, _) = module
            .types
            .iter()
            .find(|(_, t)| t.name.as_deref() == Some(name))
            .unwrap();
        layouter[handle].size as usize
    };
    assert_eq!(
        size_of("SegmentParams"),
        std::mem::size_of::<vigil::kernels::SegmentParams>()
    );
    assert_eq!(
        size_of("TimeParams"),
        std::mem::size_of::<vigil::kernels::TimeParams>()
    );
}

#[test]
fn nan_and_extreme_times_do_not_panic() {
    // Float64 epoch seconds with a NaN (a null time) and times ~580 years apart.
    let schema = Schema::new(vec![
        Field::new("k", DataType::Utf8, false),
        Field::new("ts", DataType::Float64, false),
    ]);
    let b = RecordBatch::try_new(
        Arc::new(schema),
        vec![
            Arc::new(StringArray::from(vec!["a", "a", "a", "b"])),
            Arc::new(Float64Array::from(vec![-9.0e9, f64::NAN, 9.0e9, 5.0])),
        ],
    )
    .unwrap();
    let sp = vec![
        WindowFeature::new(Agg::Count, None, &["k"], None),
        WindowFeature::new(Agg::SincePrevious, None, &["k"], None),
    ];
    let out = window::aggregate(std::slice::from_ref(&b), &sp, Backend::Cpu).unwrap();
    assert_eq!(
        out.column(1).as_primitive::<UInt64Type>().value(0),
        2,
        "NaN time is in no window"
    );
    assert_eq!(out.column(2).as_primitive::<Float64Type>().value(0), 1.8e10);
    let f = window::feature(WindowFeature::new(Agg::SincePrevious, None, &["k"], None));
    let gap = vigil::kernels::compute_feature_batch(&f, &b, Backend::Cpu).unwrap();
    let gap = gap[0].as_primitive::<Float64Type>();
    assert!(gap.is_null(0) && gap.is_null(1) && gap.is_null(3));
    assert_eq!(gap.value(2), 1.8e10);
    // Out of the nanosecond range: a typed error naming the row.
    let far = RecordBatch::try_new(
        b.schema(),
        vec![
            Arc::new(StringArray::from(vec!["a"])),
            Arc::new(Float64Array::from(vec![1.0e12])),
        ],
    )
    .unwrap();
    let err = window::aggregate(&[far], &sp, Backend::Cpu).unwrap_err();
    assert!(err.to_string().contains("row 0"), "{err}");
}

/// Per-event values of count / distinct ports / sum of bytes per (src, 1m), straight from the
/// naive reference: None where the row's time is null.
fn naive_per_event(b: &RecordBatch) -> Vec<Option<(u64, u64, i64)>> {
    let reference = naive(b, MIN, MIN);
    let src = b.column(0).as_string::<i32>();
    let ts = b.column(5).as_primitive::<TimestampNanosecondType>();
    (0..b.num_rows())
        .map(|i| {
            ts.is_valid(i).then(|| {
                let key = (
                    src.is_valid(i).then(|| src.value(i).to_string()),
                    ts.value(i).div_euclid(MIN) * MIN,
                );
                let n = &reference[&key];
                (n.count, n.ports.len() as u64, n.bytes.iter().sum::<i64>())
            })
        })
        .collect()
}

/// `b` with its `src` column replaced by `src` and its time column by `ts`.
fn with_columns(b: &RecordBatch, src: ArrayRef, ts: ArrayRef) -> RecordBatch {
    let mut fields: Vec<Field> = b.schema().fields().iter().map(|f| (**f).clone()).collect();
    fields[0] = Field::new("src", src.data_type().clone(), true);
    fields[5] = Field::new("ts", ts.data_type().clone(), true);
    let mut columns = b.columns().to_vec();
    columns[0] = src;
    columns[5] = ts;
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
}

#[test]
fn extract_shares_grouping_and_equals_naive_for_every_key_kind() {
    use arrow::array::{DictionaryArray, Int32Array, LargeStringArray, StringViewArray};
    use arrow::datatypes::Int32Type;
    // Unsorted, 10% null sources, 3% null times, about as many (src, minute) groups as rows;
    // more rows than the keying does one by one before going parallel.
    let b = random_flows(21, 100_000, 3000, 10, 3);
    let expected = naive_per_event(&b);
    let src = b.column(0).as_string::<i32>().clone();
    let ts = b
        .column(5)
        .as_primitive::<TimestampNanosecondType>()
        .clone();
    // The same sources as other key types: their ids are a function of the string.
    let code = |s: &str| {
        let p: Vec<i64> = s.split('.').map(|x| x.parse().unwrap()).collect();
        p[2] * 256 + p[3]
    };
    let ints: Int64Array = src.iter().map(|s| s.map(code)).collect();
    let dict: DictionaryArray<Int32Type> = src.iter().collect();
    let variants: Vec<(&str, ArrayRef, ArrayRef)> = vec![
        ("utf8", Arc::new(src.clone()), Arc::new(ts.clone())),
        (
            "large_utf8",
            Arc::new(LargeStringArray::from_iter(src.iter())),
            Arc::new(ts.clone().with_timezone("Asia/Kolkata")),
        ),
        (
            "utf8_view",
            Arc::new(StringViewArray::from_iter(src.iter())),
            Arc::new(ts.clone().with_timezone_opt(None::<&str>)),
        ),
        ("int64", Arc::new(ints.clone()), Arc::new(ts.clone())),
        (
            "int32",
            Arc::new(Int32Array::from_iter(
                ints.iter().map(|v| v.map(|v| v as i32)),
            )),
            Arc::new(ts.clone()),
        ),
        ("dictionary", Arc::new(dict), Arc::new(ts.clone())),
    ];
    let mk = |agg, field: Option<&str>, name: &str| {
        window::feature(WindowFeature::new(agg, field, &["src"], Some("1m"))).named(name)
    };
    let stages = [
        mk(Agg::Count, None, "n"),
        mk(Agg::DistinctCount, Some("port"), "ports"),
        mk(Agg::Sum, Some("bytes"), "total"),
    ];
    for (what, src_col, ts_col) in variants {
        let v = with_columns(&b, src_col.clone(), ts_col);
        let out = vigil::extract(&stages, &v, Backend::Cpu).unwrap();
        assert_eq!(out.num_rows(), v.num_rows(), "{what}: rows in = rows out");
        let col = |name: &str| {
            out.column_by_name(name)
                .unwrap()
                .as_primitive::<Int64Type>()
                .clone()
        };
        let (n, ports, total) = (col("n"), col("ports"), col("total"));
        for (i, e) in expected.iter().enumerate() {
            match e {
                None => assert!(
                    n.is_null(i) && ports.is_null(i) && total.is_null(i),
                    "{what}: row {i} with a null time has null aggregates"
                ),
                Some((c, p, s)) => {
                    assert_eq!(n.value(i), *c as i64, "{what}: count row {i}");
                    assert_eq!(ports.value(i), *p as i64, "{what}: ports row {i}");
                    assert_eq!(total.value(i), *s, "{what}: sum row {i}");
                }
            }
        }
        // The per-window table gives the key column back in its own type, the same groups
        // and the same values, in one piece and in uneven batches.
        let specs: Vec<WindowFeature> = stages
            .iter()
            .map(|s| match &s.kind {
                window::WindowKind::Window(f) => f.clone(),
                _ => unreachable!(),
            })
            .collect();
        let whole = window::aggregate(std::slice::from_ref(&v), &specs, Backend::Cpu).unwrap();
        assert_eq!(whole.column(0).data_type(), src_col.data_type(), "{what}");
        let parts = [
            v.slice(0, 13_001),
            v.slice(13_001, 7),
            v.slice(13_008, 86_992),
        ];
        let chunked = window::aggregate(&parts, &specs, Backend::Cpu).unwrap();
        assert_tables_agree(what, &whole, &chunked);
        let reference = naive(&b, MIN, MIN);
        assert_eq!(whole.num_rows(), reference.len(), "{what}: groups");
        let counts = whole.column(2).as_primitive::<UInt64Type>();
        let total_rows: u64 = counts.values().iter().sum();
        assert_eq!(
            total_rows,
            expected.iter().flatten().count() as u64,
            "{what}"
        );
    }
}
