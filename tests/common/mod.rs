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
