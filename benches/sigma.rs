//! Sigma benchmark, vigil's CPU path as a whole process beside rsigma (see
//! `benches/sigma_bench.py`, which generates the events and runs every side):
//! `<events.parquet> <rules dir>` -> load + compile the rules, read the Parquet file, match
//! every rule on every event; prints the timings, events/s of the match and the hit count.
//!
//! ```bash
//! cargo bench -p vigil --bench sigma -- target/bench-data/sigma_1000000.parquet /tmp/rules
//! ```

use std::time::Instant;

use vigil::sigma::SigmaRules;

fn main() -> vigil::Result<()> {
    let args: Vec<String> = std::env::args().filter(|a| a != "--bench").collect();
    let (Some(events), Some(rules_dir)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: sigma <events.parquet> <rules dir>  (benches/sigma_bench.py runs it)");
        return Ok(());
    };
    let t0 = Instant::now();
    let rules = SigmaRules::load(rules_dir)?;
    let t_load = t0.elapsed().as_secs_f64();
    // Streamed batch by batch (1M rows): memory stays bounded at 10M events.
    let file = std::fs::File::open(events).map_err(|source| vigil::Error::Io {
        path: events.clone(),
        source,
    })?;
    let mut reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)?
        .with_batch_size(1 << 20)
        .build()?;
    let (mut t_read, mut t_match, mut rows, mut hits) = (0.0, 0.0, 0usize, 0usize);
    loop {
        let t1 = Instant::now();
        let Some(b) = reader.next().transpose()? else {
            break;
        };
        t_read += t1.elapsed().as_secs_f64();
        let t2 = Instant::now();
        rows += b.num_rows();
        hits += rules.matches(&b)?.num_rows();
        t_match += t2.elapsed().as_secs_f64();
    }
    println!(
        "vigil-rust rules={} events={rows} hits={hits} load_s={t_load:.3} read_s={t_read:.3} match_s={t_match:.3} match_events_per_s={:.0}",
        rules.len(),
        rows as f64 / t_match
    );
    Ok(())
}
