//! Windowed-aggregate benchmark, run as a whole process beside `benches/polars_windows.py`:
//! 10M synthetic flow records (src_ip, dst_ip, dst_port, bytes, ts over 24 h, time-sorted
//! like a log) in Parquet, generated once into `target/bench-data/flows_<rows>.parquet`;
//! count + exact distinct dst ports + sum of bytes per src_ip per 1-minute tumbling window,
//! vigil's CPU path (read Parquet + aggregate). Prints seconds per run.
//!
//! ```bash
//! cargo bench -p vigil --bench windows                 # generate the file (once), then time vigil
//! /usr/bin/time -f '%e s' target/release/deps/windows-* run target/bench-data/flows_10000000.parquet
//! python benches/polars_windows.py target/bench-data/flows_10000000.parquet
//! ```
//! `VIGIL_BENCH_ROWS` changes the row count; `VIGIL_BENCH_GPU=1` also times the GPU backend;
//! `windows-<hash> event <file>` times the per-event shape (`vigil::extract`) instead. The
//! Python-facing figures come from `benches/windows_side_by_side.py` (whole process, both
//! sides, every polars formulation).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use vigil::Backend;
use vigil::synth::SplitMix64;
use vigil::window::{Agg, WindowFeature};

const PORTS: [i64; 12] = [80, 443, 53, 22, 25, 8080, 3389, 445, 123, 993, 135, 139];

fn generate(path: &Path, rows: usize) -> vigil::Result<()> {
    let mut rng = SplitMix64(2024);
    let schema = Arc::new(Schema::new(vec![
        Field::new("src_ip", DataType::Utf8, false),
        Field::new("dst_ip", DataType::Utf8, false),
        Field::new("dst_port", DataType::Int64, false),
        Field::new("bytes", DataType::Int64, false),
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
    ]));
    let start_us: i64 = 1_700_000_000_000_000;
    let day_us: i64 = 86_400_000_000;
    let mut batches = Vec::new();
    let per = 1 << 20;
    let mut i = 0;
    while i < rows {
        let n = per.min(rows - i);
        let (mut src, mut dst, mut port, mut bytes, mut ts) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        for j in i..i + n {
            // 2,000 sources, skewed (a few busy hosts), 20,000 destinations.
            let u = rng.unit();
            let s = (u * u * 2000.0) as usize;
            src.push(format!("10.{}.{}.{}", s / 65536, (s / 256) % 256, s % 256));
            let d = rng.below(20_000);
            dst.push(format!("172.16.{}.{}", d / 256, d % 256));
            port.push(if rng.below(10) < 7 {
                PORTS[rng.below(PORTS.len())]
            } else {
                1024 + rng.below(64_512) as i64
            });
            bytes.push((rng.unit() * rng.unit() * 1e6) as i64);
            ts.push(start_us + (j as i64 * day_us) / rows as i64);
        }
        let columns: Vec<arrow::array::ArrayRef> = vec![
            Arc::new(StringArray::from(src)),
            Arc::new(StringArray::from(dst)),
            Arc::new(Int64Array::from(port)),
            Arc::new(Int64Array::from(bytes)),
            Arc::new(TimestampMicrosecondArray::from(ts).with_timezone("UTC")),
        ];
        batches.push(RecordBatch::try_new(schema.clone(), columns)?);
        i += n;
    }
    vigil::io::write_parquet(path, &batches)
}

fn specs() -> Vec<WindowFeature> {
    vec![
        WindowFeature::new(Agg::Count, None, &["src_ip"], Some("1m")),
        WindowFeature::new(
            Agg::DistinctCount,
            Some("dst_port"),
            &["src_ip"],
            Some("1m"),
        ),
        WindowFeature::new(Agg::Sum, Some("bytes"), &["src_ip"], Some("1m")),
    ]
}

fn run(path: &Path, backend: Backend) -> vigil::Result<usize> {
    let t = Instant::now();
    let batches = vigil::io::read_parquet_parallel(path)?;
    let read = t.elapsed().as_secs_f64();
    let out = vigil::window::aggregate(&batches, &specs(), backend)?;
    eprintln!(
        "  (read {read:.3} s, aggregate {:.3} s)",
        t.elapsed().as_secs_f64() - read
    );
    Ok(out.num_rows())
}

/// The per-event shape: each event gets its window's three values (`vigil::extract`, the
/// three aggregates sharing one grouping of the batch).
fn run_per_event(path: &Path, backend: Backend) -> vigil::Result<usize> {
    let t = Instant::now();
    let batches = vigil::io::read_parquet_parallel(path)?;
    let schema = batches
        .first()
        .map(|b| b.schema())
        .ok_or_else(|| vigil::Error::InvalidInput("empty file".into()))?;
    let batch = arrow::compute::concat_batches(&schema, &batches)?;
    let read = t.elapsed().as_secs_f64();
    let stages: Vec<_> = specs().into_iter().map(vigil::window::feature).collect();
    let out = vigil::extract(&stages, &batch, backend)?;
    eprintln!(
        "  (read {read:.3} s, per-event extract {:.3} s)",
        t.elapsed().as_secs_f64() - read
    );
    Ok(out.num_rows())
}

fn main() -> vigil::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    // `run <file>`: one aggregation, for timing the whole process.
    if let (Some("run"), Some(file)) = (args.get(1).map(String::as_str), args.get(2)) {
        let groups = run(Path::new(file), Backend::Cpu)?;
        println!("groups {groups}");
        return Ok(());
    }
    // `event <file>`: the per-event shape, for timing the whole process.
    if let (Some("event"), Some(file)) = (args.get(1).map(String::as_str), args.get(2)) {
        let rows = run_per_event(Path::new(file), Backend::Cpu)?;
        println!("rows {rows}");
        return Ok(());
    }
    let rows: usize = std::env::var("VIGIL_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000);
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/bench-data");
    let path = dir.join(format!("flows_{rows}.parquet"));
    if !path.exists() {
        std::fs::create_dir_all(&dir).map_err(|source| vigil::Error::Io {
            path: dir.display().to_string(),
            source,
        })?;
        eprintln!("generating {}", path.display());
        generate(&path, rows)?;
    }
    let mut backends = vec![("cpu", Backend::Cpu)];
    if std::env::var("VIGIL_BENCH_GPU").is_ok_and(|v| v == "1") {
        backends.push(("gpu", Backend::Gpu));
    }
    for (name, backend) in backends {
        for _ in 0..3 {
            let t = Instant::now();
            let groups = run(&path, backend)?;
            println!(
                "vigil {name}: read + count/distinct/sum per src_ip per 1m: {:.3} s ({groups} groups)",
                t.elapsed().as_secs_f64()
            );
        }
    }
    Ok(())
}
