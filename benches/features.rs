//! End-to-end feature extraction benchmark: 10M synthetic DNS queries from Parquet
//! (generated once into `target/bench-data/`), length + entropy + character classes.
//! CPU path always; GPU path too when an adapter exists (`VIGIL_BENCH_GPU=1` to include a
//! software adapter such as lavapipe). Compare with `benches/polars_features.py` on the same
//! file: see the README's Benchmarks section.

use criterion::{Criterion, criterion_group, criterion_main};
use std::path::PathBuf;
use std::time::Duration;
use vigil::{Backend, features};

fn data_file() -> PathBuf {
    let rows: usize = std::env::var("VIGIL_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000);
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/bench-data");
    let path = dir.join(format!("dns_{rows}.parquet"));
    if !path.exists() {
        std::fs::create_dir_all(&dir).expect("create target/bench-data");
        let domains = std::fs::read_to_string(
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../shared/data/domains/opendns-top-domains.txt"),
        )
        .expect("../shared/data/domains/opendns-top-domains.txt");
        let benign: Vec<&str> = domains.lines().filter(|l| !l.is_empty()).collect();
        vigil::synth::write_dns_parquet(&path, rows, 42, &benign).expect("generate benchmark data");
    }
    path
}

fn bench(c: &mut Criterion) {
    let path = data_file();
    let specs = [
        features::length("query"),
        features::entropy("query"),
        features::char_classes("query"),
    ];
    let mut backends = vec![("cpu", Backend::Cpu)];
    let info = vigil::backend_info(Backend::Gpu).expect("backend info");
    let software_ok = std::env::var("VIGIL_BENCH_GPU").is_ok_and(|v| v == "1");
    match &info.adapter {
        Some(a) if a.hardware || software_ok => backends.push(("gpu", Backend::Gpu)),
        Some(a) => eprintln!(
            "GPU bench skipped: {} is a software adapter (VIGIL_BENCH_GPU=1 to include it)",
            a.name
        ),
        None => eprintln!(
            "GPU bench skipped: {}",
            info.adapter_error.unwrap_or_default()
        ),
    }
    let mut group = c.benchmark_group("dns_10m_parquet");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20))
        .warm_up_time(Duration::from_secs(3));
    for (name, backend) in backends {
        group.bench_function(format!("{name}/read+length+entropy+char_classes"), |b| {
            b.iter(|| vigil::io::extract_parquet(&path, &specs, backend).expect("extract"))
        });
    }
    group.bench_function("read parquet only", |b| {
        b.iter(|| vigil::io::read_parquet_parallel(&path).expect("read"))
    });
    group.finish();

    // Each feature alone on the batches already in memory, CPU path.
    let batches = vigil::io::read_parquet_parallel(&path).expect("read");
    let mut group = c.benchmark_group("dns_10m_in_memory_cpu");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10))
        .warm_up_time(Duration::from_secs(2));
    for spec in &specs {
        group.bench_function(format!("{:?}", spec.kind), |b| {
            b.iter(|| {
                batches
                    .iter()
                    .map(|batch| {
                        vigil::extract(std::slice::from_ref(spec), batch, Backend::Cpu)
                            .expect("extract")
                    })
                    .collect::<Vec<_>>()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
