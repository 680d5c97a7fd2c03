//! Helpers shared by the integration tests.
#![allow(dead_code, unused_imports)]

use std::path::PathBuf;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{DataType, Float32Type, UInt32Type};

/// The seeded generator of vigil's synthetic data (splitmix64).
pub use vigil::synth::SplitMix64 as Rng;

/// `../shared/data` beside the project root.
pub fn shared_data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data")
}

/// Whether GPU tests can run: true with an adapter; false (with the reason printed) without
/// one; a panic without one when `CI=true`, since CI must exercise the shaders on lavapipe.
pub fn gpu_available() -> bool {
    let info = vigil::backend_info(vigil::Backend::Gpu).expect("backend info");
    match info.adapter {
        Some(a) => {
            eprintln!("GPU adapter: {} ({}, {})", a.name, a.api, a.device_type);
            true
        }
        None => {
            let why = info.adapter_error.unwrap_or_default();
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("CI=true but no GPU adapter: {why}");
            }
            eprintln!("SKIPPED GPU part: no adapter ({why})");
            false
        }
    }
}

/// Relative tolerance of Float32 GPU-vs-CPU comparisons (WGSL allows a few ulps on log2/div).
pub const FLOAT_TOL: f32 = 1e-5;

pub fn close(a: f32, b: f32) -> bool {
    (a.is_nan() && b.is_nan())
        || a == b
        || (a - b).abs() <= FLOAT_TOL * a.abs().max(b.abs()).max(1.0)
}

/// Asserts two arrays are equal: same type and validity, integers/booleans exactly,
/// floats within `FLOAT_TOL`, list values element-wise.
pub fn assert_arrays_agree(what: &str, a: &ArrayRef, b: &ArrayRef) {
    assert_eq!(a.data_type(), b.data_type(), "{what}: types");
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    assert_eq!(a.logical_nulls(), b.logical_nulls(), "{what}: validity");
    match a.data_type() {
        DataType::Float32 => {
            let (x, y) = (
                a.as_primitive::<Float32Type>(),
                b.as_primitive::<Float32Type>(),
            );
            for i in 0..a.len() {
                if a.is_valid(i) {
                    assert!(
                        close(x.value(i), y.value(i)),
                        "{what}: row {i}: {} vs {}",
                        x.value(i),
                        y.value(i)
                    );
                }
            }
        }
        DataType::UInt32 => {
            let (x, y) = (
                a.as_primitive::<UInt32Type>(),
                b.as_primitive::<UInt32Type>(),
            );
            for i in 0..a.len() {
                if a.is_valid(i) {
                    assert_eq!(x.value(i), y.value(i), "{what}: row {i}");
                }
            }
        }
        DataType::Boolean => {
            let (x, y) = (a.as_boolean(), b.as_boolean());
            for i in 0..a.len() {
                if a.is_valid(i) {
                    assert_eq!(x.value(i), y.value(i), "{what}: row {i}");
                }
            }
        }
        DataType::FixedSizeList(_, _) => {
            let (x, y) = (a.as_fixed_size_list(), b.as_fixed_size_list());
            assert_arrays_agree(&format!("{what} values"), x.values(), y.values());
        }
        other => panic!("{what}: unexpected type {other}"),
    }
}

/// The columns of a flow table, as the stream and window tests build them.
pub struct Flows {
    /// Source entity (null allowed).
    pub src: Vec<Option<String>>,
    /// Destination, when the table has one (a `dst` column after `src`).
    pub dst: Option<Vec<String>>,
    /// Port (null allowed).
    pub port: Vec<Option<i64>>,
    /// Bytes.
    pub bytes: Vec<i64>,
    /// A float field.
    pub f: Vec<f64>,
    /// `success` or `failure`.
    pub status: Vec<&'static str>,
    /// Event time, ns since the epoch (null allowed).
    pub ts: Vec<Option<i64>>,
}

impl Flows {
    /// The table: src, [dst], port (Int64), bytes (Int64), f (Float64), status, ts
    /// (Timestamp ns, UTC).
    pub fn batch(self) -> arrow::array::RecordBatch {
        use arrow::array::{Float64Array, Int64Array, StringArray, TimestampNanosecondArray};
        use arrow::datatypes::{Field, Schema, TimeUnit};
        use std::sync::Arc;
        let mut fields = vec![Field::new("src", DataType::Utf8, true)];
        let mut columns: Vec<ArrayRef> = vec![Arc::new(StringArray::from(self.src))];
        if let Some(dst) = self.dst {
            fields.push(Field::new("dst", DataType::Utf8, false));
            columns.push(Arc::new(StringArray::from(dst)));
        }
        fields.extend([
            Field::new("port", DataType::Int64, true),
            Field::new("bytes", DataType::Int64, false),
            Field::new("f", DataType::Float64, false),
            Field::new("status", DataType::Utf8, false),
            Field::new(
                "ts",
                DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
                true,
            ),
        ]);
        columns.extend([
            Arc::new(Int64Array::from(self.port)) as ArrayRef,
            Arc::new(Int64Array::from(self.bytes)),
            Arc::new(Float64Array::from(self.f)),
            Arc::new(StringArray::from(self.status)),
            Arc::new(TimestampNanosecondArray::from(self.ts).with_timezone("UTC")),
        ]);
        arrow::array::RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
            .expect("flow table")
    }
}
