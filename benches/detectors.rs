//! Isolation-forest scoring benchmark: 1M rows x 16 features, 100 trees of 256 samples,
//! scored from an Arrow batch on the CPU path (and the GPU when an adapter exists and
//! `VIGIL_BENCH_GPU=1` for software ones). The data is generated once into
//! `target/bench-data/iforest_1000000x16.parquet`; `benches/iforest_sklearn.py` times
//! scikit-learn's `score_samples` on the same file: see the README's Benchmarks section.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{ArrayRef, Float32Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use criterion::{Criterion, criterion_group, criterion_main};
use vigil::Backend;
use vigil::detect::{Detector, IsolationForest};
use vigil::synth::SplitMix64;

const ROWS: usize = 1_000_000;
const FEATURES: usize = 16;

/// Mixed shapes: sums of uniforms (near normal), exponentials, and a heavy-tailed ratio.
fn generate() -> RecordBatch {
    let mut rng = SplitMix64(2026);
    let fields: Vec<Field> = (0..FEATURES)
        .map(|j| Field::new(format!("f{j}"), DataType::Float32, false))
        .collect();
    let columns: Vec<ArrayRef> = (0..FEATURES)
        .map(|j| {
            let values = (0..ROWS).map(|_| match j % 3 {
                0 => (0..4).map(|_| rng.unit()).sum::<f64>() as f32,
                1 => (-(1.0 - rng.unit()).ln()) as f32,
                _ => (rng.unit() / (1.0 - rng.unit()).max(1e-3)) as f32,
            });
            Arc::new(Float32Array::from_iter_values(values)) as ArrayRef
        })
        .collect();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).expect("batch")
}

fn data() -> RecordBatch {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/bench-data");
    let path = dir.join(format!("iforest_{ROWS}x{FEATURES}.parquet"));
    if !path.exists() {
        std::fs::create_dir_all(&dir).expect("create target/bench-data");
        vigil::io::write_parquet(&path, &[generate()]).expect("write benchmark data");
    }
    let batches = vigil::io::read_parquet(&path, ROWS).expect("read benchmark data");
    arrow::compute::concat_batches(&batches[0].schema(), &batches).expect("one batch")
}

fn bench(c: &mut Criterion) {
    let batch = data();
    let columns: Vec<String> = (0..FEATURES).map(|j| format!("f{j}")).collect();
    // Fitted on the first 100,000 rows, as the Python script does.
    let forest = Detector::from(IsolationForest::default())
        .fit_batches(&[batch.slice(0, 100_000)], &columns, Backend::Cpu)
        .expect("fit");
    let mut backends = vec![("cpu", Backend::Cpu)];
    let info = vigil::backend_info(Backend::Gpu).expect("backend info");
    if info
        .adapter
        .as_ref()
        .is_some_and(|a| a.hardware || std::env::var("VIGIL_BENCH_GPU").is_ok_and(|v| v == "1"))
    {
        backends.push(("gpu", Backend::Gpu));
    }
    let mut group = c.benchmark_group("iforest_1m_x16_100_trees");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(15))
        .warm_up_time(Duration::from_secs(2));
    for (name, backend) in backends {
        group.bench_function(format!("{name}/score_samples"), |b| {
            b.iter(|| forest.score_samples(&batch, backend).expect("score"))
        });
        group.bench_function(format!("{name}/score+explain"), |b| {
            b.iter(|| forest.score_batch(&batch, backend).expect("score"))
        });
    }
    group.bench_function("cpu/fit_100_trees", |b| {
        b.iter(|| {
            Detector::from(IsolationForest::default())
                .fit_batches(&[batch.slice(0, 100_000)], &columns, Backend::Cpu)
                .expect("fit")
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
