//! Mines templates of every line of a text file (one message per line) with the default
//! template miner, in batches of 256k lines, and prints lines, templates and lines/s.
//! Used by `benches/logs_vs_drain3.py`; also a small example of the miner API.
//!
//! Run: `cargo run --release -p vigil --example mine_lines -- <file>`
//! (`MAX_CLUSTERS=n` in the environment sets the cluster cap; default: the miner's).

use std::io::BufRead;
use std::time::Instant;

use arrow::array::{ArrayBuilder, StringArray};
use vigil::template::TemplateMiner;

fn main() -> vigil::Result<()> {
    let path = std::env::args()
        .nth(1)
        .ok_or_else(|| vigil::Error::InvalidInput("usage: mine_lines <file>".into()))?;
    let start = Instant::now();
    let file = std::fs::File::open(&path).map_err(|source| vigil::Error::Io {
        path: path.clone(),
        source,
    })?;
    let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
    let mut config = vigil::template::MinerConfig::default();
    if let Some(n) = std::env::var("MAX_CLUSTERS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        config.max_clusters = n;
    }
    let mut miner = TemplateMiner::new(config)?;
    let mut lines = 0usize;
    let mut batch = arrow::array::StringBuilder::new();
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|source| vigil::Error::Io {
                path: path.clone(),
                source,
            })?;
        if n > 0 {
            let s = String::from_utf8_lossy(&buf);
            batch.append_value(s.trim_end_matches(['\n', '\r']));
            lines += 1;
        }
        if batch.len() == 1 << 18 || (n == 0 && !batch.is_empty()) {
            let arr: StringArray = batch.finish();
            miner.parse(&arr)?;
        }
        if n == 0 {
            break;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "lines {lines} templates {} seconds {secs:.3} lines_per_s {:.0}",
        miner.templates().len(),
        lines as f64 / secs
    );
    Ok(())
}
