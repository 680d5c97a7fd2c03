//! Sigma benchmark, vigil's CPU path as a whole process beside rsigma (see
//! `benches/sigma_bench.py`, which generates the events and runs every side):
//! `<events.parquet> <rules dir> [batch rows] [collect]` -> load + compile the rules, then
//! `SigmaRules::matches_parquet_iter` (the file read and matched `batch rows` rows at a time,
//! default `vigil::sigma::DEFAULT_BATCH_ROWS`, each batch's hits counted and dropped, as a
//! sink would take them; with `collect`, `matches_parquet`, which keeps every hit table);
//! prints the timings, events/s and the hit count.
//!
//! ```bash
//! cargo bench -p vigil --bench sigma -- target/bench-data/sigma_1000000.parquet /tmp/rules
//! ```

use std::time::Instant;

use vigil::sigma::{DEFAULT_BATCH_ROWS, SigmaRules};

fn main() -> vigil::Result<()> {
    let args: Vec<String> = std::env::args().filter(|a| a != "--bench").collect();
    let (Some(events), Some(rules_dir)) = (args.get(1), args.get(2)) else {
        eprintln!(
            "usage: sigma <events.parquet> <rules dir> [batch rows] [collect]  (benches/sigma_bench.py runs it)"
        );
        return Ok(());
    };
    let batch_rows = match args.get(3) {
        Some(n) => n
            .parse()
            .map_err(|_| vigil::Error::InvalidInput(format!("batch rows `{n}`")))?,
        None => DEFAULT_BATCH_ROWS,
    };
    let t0 = Instant::now();
    let rules = SigmaRules::load(rules_dir)?;
    let t_load = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    let (mut rows, mut hits) = (0u64, 0usize);
    if args.get(4).is_some_and(|a| a == "collect") {
        let all = rules.matches_parquet(&[events], batch_rows, |done, _| rows = done)?;
        hits = all.iter().map(|b| b.num_rows()).sum();
    } else {
        let mut it = rules.matches_parquet_iter(&[events], batch_rows)?;
        for b in it.by_ref() {
            hits += b?.num_rows();
        }
        rows = it.rows_done();
    }
    let t_match = t1.elapsed().as_secs_f64();
    println!(
        "vigil-rust rules={} events={rows} hits={hits} batch_rows={batch_rows} load_s={t_load:.3} read_match_s={t_match:.3} events_per_s={:.0}",
        rules.len(),
        rows as f64 / t_match
    );
    Ok(())
}
