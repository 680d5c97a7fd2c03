//! Sigma rules over Parquet files in bounded batches: the hits equal those of the whole
//! input matched at once (computed by the in-memory path), rows numbered across batches and
//! files.

#![allow(clippy::unwrap_used)]

use arrow::array::RecordBatch;
use vigil::sigma::SigmaRules;

use super::correlation::{BASE, batch, synthetic};

fn concat(batches: &[RecordBatch]) -> RecordBatch {
    arrow::compute::concat_batches(&batches[0].schema(), batches).unwrap()
}

#[test]
fn parquet_files_in_batches_equal_the_whole_input() {
    let rules = SigmaRules::from_yaml(BASE).unwrap();
    let events = synthetic();
    let whole = batch(&events);
    let want = rules.matches(&whole).unwrap();
    assert!(want.num_rows() > 3000, "{}", want.num_rows());
    let dir = std::env::temp_dir().join(format!("vigil_sigma_files_{}", std::process::id()));
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    // Two files (the second under a subdirectory, sorted after `a`), 700-row row groups.
    let parts: Vec<RecordBatch> = events.chunks(700).map(batch).collect();
    vigil::io::write_parquet(dir.join("a.parquet"), &parts[..3]).unwrap();
    vigil::io::write_parquet(dir.join("sub/b.parquet"), &parts[3..]).unwrap();
    std::fs::write(dir.join("notes.txt"), "not parquet").unwrap();
    for batch_rows in [1000, 333, 1 << 16] {
        let mut seen = Vec::new();
        let got = rules
            .matches_parquet(&[&dir], batch_rows, |d, t| seen.push((d, t)))
            .unwrap();
        assert_eq!(concat(&got), want, "batch_rows {batch_rows}");
        assert_eq!(seen.last(), Some(&(4000, 4000)));
        let it: Vec<RecordBatch> = rules
            .matches_parquet_iter(&[&dir], batch_rows)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(concat(&it), want);
    }
    // The table's chunks matched one by one, never concatenated: the same hits.
    assert_eq!(concat(&rules.matches_batches(&parts).unwrap()), want);
    let missing = rules.matches_parquet(&[dir.join("nope.parquet")], 10, |_, _| {});
    assert!(missing.unwrap_err().to_string().contains("nope.parquet"));
    let _ = std::fs::remove_dir_all(&dir);
}
