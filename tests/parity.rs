//! GPU (wgpu; lavapipe in CI) versus CPU twin, kernel by kernel, on seeded random arrays and
//! real data. Integers and booleans must be equal; floats within `common::FLOAT_TOL` relative.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BinaryArray, DictionaryArray, Float32Array, Float64Array, Int64Array,
    LargeStringArray, StringArray, StringViewArray, UInt8Array,
};
use arrow::datatypes::Int32Type;
use common::{Rng, assert_arrays_agree, close, gpu_available, shared_data};
use vigil::Backend;
use vigil::features::{self, Feature};

const ALPHABET: &[&str] = &[
    "a", "b", "z", "0", "7", ".", "-", "_", "Q", "X", "é", "ß", "日本", "🙂", " ", "/", "%",
];

fn random_string(rng: &mut Rng, max_len: usize) -> String {
    let len = rng.below(max_len + 1);
    (0..len)
        .map(|_| ALPHABET[rng.below(ALPHABET.len())])
        .collect()
}

fn random_strings(seed: u64, rows: usize, null_pct: u64) -> Vec<Option<String>> {
    let mut rng = Rng(seed);
    (0..rows)
        .map(|_| {
            if rng.below(100) < null_pct as usize {
                None
            } else {
                Some(random_string(&mut rng, 40))
            }
        })
        .collect()
}

fn string_features() -> Vec<Feature> {
    let mut v = vec![
        features::length("s"),
        features::entropy("s"),
        features::char_classes("s"),
    ];
    for n in 1..=5 {
        v.push(features::ngrams("s", n, 64));
    }
    v.push(features::ngrams("s", 3, 1024).normalized());
    v
}

/// Every string feature on `array`: CPU vs GPU with default chunks and with `tiny`-byte chunks
/// (forcing many chunk boundaries).
fn check_strings_chunked(what: &str, array: ArrayRef, tiny: usize) {
    for f in string_features() {
        let cpu =
            vigil::kernels::compute_feature(&f, array.clone(), Backend::Cpu, 1 << 26).expect("cpu");
        for chunk in [64usize << 20, tiny] {
            let gpu = vigil::kernels::compute_feature(&f, array.clone(), Backend::Gpu, chunk)
                .expect("gpu");
            assert_eq!(cpu.len(), gpu.len());
            for (k, (c, g)) in cpu.iter().zip(&gpu).enumerate() {
                assert_arrays_agree(
                    &format!("{what} {:?} output {k} chunk {chunk}", f.kind),
                    c,
                    g,
                );
            }
        }
    }
}

fn check_strings(what: &str, array: ArrayRef) {
    check_strings_chunked(what, array, 4096);
}

#[test]
fn string_kernels_agree_on_random_arrays() {
    if !gpu_available() {
        return;
    }
    for (seed, null_pct) in [(1u64, 0u64), (2, 10), (3, 100)] {
        let values = random_strings(seed, 3000, null_pct);
        let utf8: ArrayRef = Arc::new(StringArray::from(values.clone()));
        check_strings(&format!("utf8 {null_pct}% nulls"), utf8.clone());
        check_strings(
            &format!("sliced utf8 {null_pct}% nulls"),
            utf8.slice(7, 2000),
        );
        check_strings(
            "large utf8",
            Arc::new(LargeStringArray::from(values.clone())),
        );
        check_strings("utf8 view", Arc::new(StringViewArray::from(values.clone())));
        let refs: Vec<Option<&[u8]>> = values
            .iter()
            .map(|v| v.as_deref().map(str::as_bytes))
            .collect();
        check_strings("binary", Arc::new(BinaryArray::from_opt_vec(refs)));
    }
}

#[test]
fn string_kernels_agree_on_edge_cases() {
    if !gpu_available() {
        return;
    }
    let mut rng = Rng(9);
    let big: String = (0..(1 << 20) + 3).map(|_| ALPHABET[rng.below(8)]).collect();
    let empty: ArrayRef = Arc::new(StringArray::from(vec!["", "", "a", ""]));
    check_strings_chunked("empty strings", empty, 64);
    check_strings("zero rows", Arc::new(StringArray::from(Vec::<&str>::new())));
    let with_big: ArrayRef = Arc::new(StringArray::from(vec![
        Some("x"),
        Some(big.as_str()),
        None,
        Some("naïve"),
    ]));
    check_strings_chunked("a string over 1 MiB", with_big.clone(), 64);
    check_strings("sliced after a big string", with_big.slice(2, 2));
    let non_ascii: ArrayRef = Arc::new(StringArray::from(vec![
        "пример.рф",
        "例え.テスト",
        "naïve",
        "🙂🙂🙂",
        "straße",
    ]));
    check_strings_chunked("non-ASCII", non_ascii, 64);
    let keys = arrow::array::Int32Array::from(vec![Some(0), Some(2), None, Some(1), Some(2)]);
    let dict = DictionaryArray::<Int32Type>::try_new(
        keys,
        Arc::new(StringArray::from(vec!["a.com", "b-b.net", "ccc"])),
    )
    .expect("dict");
    check_strings_chunked("dictionary", Arc::new(dict), 64);
}

#[test]
fn string_kernels_agree_on_real_domains() {
    if !gpu_available() {
        return;
    }
    let text = std::fs::read_to_string(shared_data().join("domains/opendns-top-domains.txt"))
        .expect("domains file");
    let domains: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
    assert!(domains.len() > 9000);
    let array: ArrayRef = Arc::new(StringArray::from(domains));
    check_strings("opendns top domains", array);
}

fn check_numeric(what: &str, array: ArrayRef) {
    for f in [
        features::log1p("x"),
        features::standardize("x"),
        features::standardize("x").with_mean_std(3.0, 0.25),
    ] {
        let cpu =
            vigil::kernels::compute_feature(&f, array.clone(), Backend::Cpu, 1 << 26).expect("cpu");
        for chunk in [64usize << 20, 64] {
            let gpu = vigil::kernels::compute_feature(&f, array.clone(), Backend::Gpu, chunk)
                .expect("gpu");
            assert_arrays_agree(
                &format!("{what} {:?} chunk {chunk}", f.kind),
                &cpu[0],
                &gpu[0],
            );
        }
    }
}

#[test]
fn numeric_kernels_agree() {
    if !gpu_available() {
        return;
    }
    let mut rng = Rng(5);
    for null_pct in [0u64, 10, 100] {
        let v: Vec<Option<f64>> = (0..5000)
            .map(|_| {
                if rng.below(100) < null_pct as usize {
                    None
                } else {
                    Some((rng.unit() - 0.1) * 10f64.powi(rng.below(12) as i32 - 4))
                }
            })
            .collect();
        let array: ArrayRef = Arc::new(Float64Array::from(v));
        if null_pct < 100 {
            check_numeric(&format!("f64 {null_pct}% nulls"), array.clone());
            check_numeric("sliced f64", array.slice(11, 3000));
        }
    }
    let specials: ArrayRef = Arc::new(Float32Array::from(vec![
        0.0,
        -0.0,
        1e-10,
        -1.0,
        -2.0,
        f32::NAN,
        f32::INFINITY,
        1e30,
        3.0,
    ]));
    check_numeric("specials", specials);
    let ints: ArrayRef = Arc::new(Int64Array::from_iter_values((0..1000).map(|i| i * i - 500)));
    check_numeric("int64", ints);
    check_numeric("uint8", Arc::new(UInt8Array::from_iter_values(0..=255)));
}

#[test]
fn robust_z_kernel_agrees() {
    if !gpu_available() {
        return;
    }
    let mut rng = Rng(11);
    let f = 13;
    let rows = 4001;
    let x: Vec<f32> = (0..rows * f)
        .map(|_| {
            if rng.below(10) == 0 {
                f32::NAN
            } else {
                (rng.unit() * 20.0 - 10.0) as f32
            }
        })
        .collect();
    let center: Vec<f32> = (0..f).map(|j| j as f32 * 0.5 - 2.0).collect();
    let mut scale: Vec<f32> = (0..f).map(|j| 0.1 + j as f32).collect();
    scale[3] = 0.0; // a constant baseline feature
    let (zc, sc) =
        vigil::kernels::robust_z(&x, &center, &scale, 100.0, Backend::Cpu, 1 << 26).expect("cpu");
    for chunk in [64usize << 20, 256] {
        let (zg, sg) =
            vigil::kernels::robust_z(&x, &center, &scale, 100.0, Backend::Gpu, chunk).expect("gpu");
        assert_eq!(zc.len(), zg.len());
        for (i, (a, b)) in zc.iter().zip(&zg).enumerate() {
            assert!(close(*a, *b), "z[{i}]: {a} vs {b}");
        }
        for (i, (a, b)) in sc.iter().zip(&sg).enumerate() {
            assert!(close(*a, *b), "score[{i}]: {a} vs {b}");
        }
    }
}

#[test]
fn gpu_param_structs_match_wgsl() {
    let source = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shaders/shared/params.wgsl"
    ))
    .expect("params.wgsl");
    let module = naga::front::wgsl::parse_str(&source).expect("parse params.wgsl");
    let mut layouter = naga::proc::Layouter::default();
    layouter.update(module.to_ctx()).expect("layout");
    let size_of = |name: &str| -> u32 {
        let (handle, _) = module
            .types
            .iter()
            .find(|(_, t)| t.name.as_deref() == Some(name))
            .expect(name);
        layouter[handle].size
    };
    assert_eq!(
        size_of("StringParams") as usize,
        std::mem::size_of::<vigil::kernels::StringParams>()
    );
    assert_eq!(
        size_of("NumericParams") as usize,
        std::mem::size_of::<vigil::kernels::NumericParams>()
    );
    assert_eq!(
        size_of("ScoreParams") as usize,
        std::mem::size_of::<vigil::kernels::ScoreParams>()
    );
}

#[test]
fn two_dimensional_dispatch_covers_every_row() {
    if !gpu_available() {
        return;
    }
    // 65,535 workgroups x 64 threads = 4,194,240 rows: one more chunk's worth spills into y.
    let rows = 4_194_240 + 4_321;
    let strings: ArrayRef = Arc::new(StringArray::from_iter_values(
        (0..rows).map(|i| if i % 3 == 0 { "é" } else { "ab" }),
    ));
    let cpu = vigil::kernels::compute_feature(
        &features::length("s"),
        strings.clone(),
        Backend::Cpu,
        1 << 26,
    )
    .expect("cpu");
    let gpu =
        vigil::kernels::compute_feature(&features::length("s"), strings, Backend::Gpu, 1 << 26)
            .expect("gpu");
    assert_arrays_agree("length, 2D dispatch", &cpu[0], &gpu[0]);
    assert_arrays_agree("length chars, 2D dispatch", &cpu[1], &gpu[1]);
    let values: ArrayRef = Arc::new(Float32Array::from_iter_values(
        (0..rows).map(|i| i as f32 * 1e-3),
    ));
    let cpu = vigil::kernels::compute_feature(
        &features::log1p("s"),
        values.clone(),
        Backend::Cpu,
        1 << 26,
    )
    .expect("cpu");
    let gpu = vigil::kernels::compute_feature(&features::log1p("s"), values, Backend::Gpu, 1 << 26)
        .expect("gpu");
    assert_arrays_agree("log1p, 2D dispatch", &cpu[0], &gpu[0]);
}
