//! Compares the miner's segmenters (how text of scripts written without spaces is cut into
//! tokens): grouping accuracy per language on the multilingual fixture
//! (tests/fixtures/multilingual_logs.tsv), the mean over the eight Loghub 2k logs, and the
//! time to parse the fixture repeated 200 times (409,600 lines, one call per repeat).
//!
//! Run: `cargo run --release -p vigil --example segmenters [-- <loghub dir>]`

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{ArrayRef, AsArray, StringArray};
use arrow::datatypes::UInt64Type;
use vigil::logs::{LogFormat, read_log};
use vigil::template::{MinerConfig, Segmenter, TemplateMiner};

#[allow(dead_code)]
#[path = "loghub_accuracy.rs"]
mod loghub_accuracy;
use loghub_accuracy::{SYSTEMS, ground_truth, grouping_accuracy, line_correct};

fn ids(m: &mut TemplateMiner, msgs: &ArrayRef) -> vigil::Result<Vec<u64>> {
    let out = m.parse(msgs.as_ref())?;
    let c = out.column(0).as_primitive::<UInt64Type>();
    Ok(c.values().to_vec())
}

fn main() -> vigil::Result<()> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("../shared/data/loghub"));
    let text = std::fs::read_to_string(root.join("tests/fixtures/multilingual_logs.tsv")).map_err(
        |source| vigil::Error::Io {
            path: "multilingual_logs.tsv".into(),
            source,
        },
    )?;
    let rows: Vec<(&str, &str)> = text.lines().filter_map(|l| l.split_once('\t')).collect();
    let truth: Vec<String> = rows.iter().map(|r| r.0.to_string()).collect();
    let msgs: ArrayRef = Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.1)));
    println!(
        "| segmenter | ar | de | en | es | fr | ja | ru | tr | zh | all | Loghub mean | 409,600 lines, s |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for seg in [Segmenter::Words, Segmenter::Chars, Segmenter::Whitespace] {
        let config = MinerConfig {
            segmenter: seg,
            ..Default::default()
        };
        let pred = ids(&mut TemplateMiner::new(config.clone())?, &msgs)?;
        let ok = line_correct(&pred, &truth);
        let mut per: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
        for (t, good) in truth.iter().zip(&ok) {
            let e = per.entry(t.split('.').next().unwrap_or("")).or_default();
            e.0 += usize::from(*good);
            e.1 += 1;
        }
        let mut line = format!("| {seg:?} |");
        for (good, n) in per.values() {
            line += &format!(" {:.4} |", *good as f64 / *n as f64);
        }
        line += &format!(" {:.4} |", grouping_accuracy(&pred, &truth));
        let mut sum = 0.0;
        for (sys, _) in SYSTEMS {
            let truth = ground_truth(&dir, sys)?;
            let (batch, _) = read_log(
                dir.join(sys).join(format!("{sys}_2k.log")),
                LogFormat::parse(&format!("loghub:{sys}"))?,
            )?;
            let mut m = TemplateMiner::new(config.clone())?;
            let out = m.parse_batch(&batch, "Content")?;
            let pred: Vec<u64> = out
                .column_by_name("template_id")
                .map(|c| c.as_primitive::<UInt64Type>().values().to_vec())
                .unwrap_or_default();
            sum += grouping_accuracy(&pred, &truth);
        }
        line += &format!(" {:.4} |", sum / SYSTEMS.len() as f64);
        let mut m = TemplateMiner::new(config)?;
        let start = Instant::now();
        for _ in 0..200 {
            m.parse(msgs.as_ref())?;
        }
        line += &format!(" {:.2} |", start.elapsed().as_secs_f64());
        println!("{line}");
    }
    Ok(())
}
