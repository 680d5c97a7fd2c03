//! Windowed aggregates and beaconing on synthetic flows: 500 hosts browsing at random, one
//! host scanning 300 ports in a minute, one implant calling home every 60 s (± 5%). Prints
//! the busiest (source, minute) by distinct destination ports and the top beacon pairs.
//!
//! ```bash
//! cargo run --release --example windows
//! ```

use std::sync::Arc;

use arrow::array::{Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow::util::pretty::pretty_format_batches;
use vigil::Backend;
use vigil::synth::SplitMix64;
use vigil::window::{self, Agg, WindowFeature};

fn main() -> vigil::Result<()> {
    let mut rng = SplitMix64(7);
    let (mut src, mut dst, mut port, mut ts) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let hour_us = 3_600_000_000i64;
    let start = 1_700_000_000_000_000i64;
    for h in 0..500 {
        for _ in 0..20 + rng.below(40) {
            src.push(format!("10.0.{}.{}", h / 256, h % 256));
            dst.push(format!("172.16.0.{}", rng.below(50)));
            port.push([80i64, 443, 53][rng.below(3)]);
            ts.push(start + (rng.unit() * hour_us as f64) as i64);
        }
    }
    for p in 0..300 {
        src.push("10.6.6.6".to_string());
        dst.push("172.16.0.9".to_string());
        port.push(1000 + p);
        ts.push(start + 1_800_000_000 + rng.below(60_000_000) as i64);
    }
    let mut t = 0.0;
    while t < 3600.0 {
        src.push("10.0.0.77".to_string());
        dst.push("c2.example".to_string());
        port.push(443);
        ts.push(start + (t * 1e6) as i64);
        t += 60.0 * (1.0 + 0.05 * (2.0 * rng.unit() - 1.0));
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("src_ip", DataType::Utf8, false),
        Field::new("dst_ip", DataType::Utf8, false),
        Field::new("dst_port", DataType::Int64, false),
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Microsecond, None),
            false,
        ),
    ]));
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from(src)),
            Arc::new(StringArray::from(dst)),
            Arc::new(Int64Array::from(port)),
            Arc::new(TimestampMicrosecondArray::from(ts)),
        ],
    )?;
    let specs = [
        WindowFeature::new(Agg::Count, None, &["src_ip"], Some("1m")),
        WindowFeature::new(
            Agg::DistinctCount,
            Some("dst_port"),
            &["src_ip"],
            Some("1m"),
        ),
    ];
    let per_minute = window::aggregate(std::slice::from_ref(&batch), &specs, Backend::Auto)?;
    let order = arrow::compute::sort_to_indices(
        per_minute.column(3),
        Some(arrow::compute::SortOptions {
            descending: true,
            nulls_first: false,
        }),
        Some(3),
    )?;
    let top = arrow::compute::take_record_batch(&per_minute, &order)?;
    println!("busiest (source, minute) by distinct destination ports:");
    println!("{}", pretty_format_batches(&[top])?);
    let beacons = window::beaconing(&[batch], "src_ip", "dst_ip", "ts")?;
    println!("top beacon pairs:");
    println!("{}", pretty_format_batches(&[beacons.slice(0, 3)])?);
    Ok(())
}
