//! Beaconing: per (source, destination) pair, how regular the inter-arrival times are.

use std::sync::Arc;

use arrow::array::{ArrayRef, Float32Array, Float64Array, RecordBatch, UInt64Array};
use arrow::compute::concat_batches;
use arrow::datatypes::{DataType, Field, Schema};
use rayon::prelude::*;

use super::keys::KeyTable;
use crate::columns::{Times, times};
use crate::error::Result;

/// Statistic columns of [`beaconing`], after the source and destination columns.
pub const BEACON_COLUMNS: [&str; 5] = [
    "count",
    "interval_mean",
    "interval_cv",
    "periodicity",
    "beacon_score",
];

/// Pairs need this many inter-arrival intervals to be scored.
const MIN_INTERVALS: usize = 2;
/// `beacon_score = periodicity * intervals / (intervals + SCORE_HALF)`: few events earn
/// little confidence.
const SCORE_HALF: f64 = 10.0;

/// Statistics of one pair's sorted event times (ns).
#[derive(Clone, Copy, Debug, Default)]
struct Stats {
    count: u64,
    mean: Option<f64>,
    cv: Option<f64>,
    periodicity: Option<f64>,
    score: f64,
}

fn stats(t: &mut [i64]) -> Stats {
    t.sort_unstable();
    let count = t.len() as u64;
    let mut iv: Vec<f64> = t.windows(2).map(|w| super::seconds(w[0], w[1])).collect();
    if iv.is_empty() {
        return Stats {
            count,
            ..Default::default()
        };
    }
    let n = iv.len() as f64;
    let mean = iv.iter().sum::<f64>() / n;
    let cv = if iv.len() >= 2 && mean > 0.0 {
        let var = iv.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
        Some(var.sqrt() / mean)
    } else {
        None
    };
    let mut periodicity = None;
    let mut score = 0.0;
    if iv.len() >= MIN_INTERVALS {
        iv.sort_unstable_by(f64::total_cmp);
        let median = percentile50(&iv);
        let mut dev: Vec<f64> = iv.iter().map(|x| (x - median).abs()).collect();
        dev.sort_unstable_by(f64::total_cmp);
        let mad = percentile50(&dev);
        let p = if median > 0.0 {
            1.0 - (1.4826 * mad / median).min(1.0)
        } else {
            0.0
        };
        periodicity = Some(p);
        score = p * n / (n + SCORE_HALF);
    }
    Stats {
        count,
        mean: Some(mean),
        cv,
        periodicity,
        score,
    }
}

fn percentile50(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

/// Per-pair statistics and the pair of each row (None: null time).
fn pair_stats(
    batch: &RecordBatch,
    src: &str,
    dst: &str,
    time: &str,
) -> Result<(KeyTable, Vec<Stats>, Vec<Option<u32>>)> {
    let by = [src.to_string(), dst.to_string()];
    let mut keys = KeyTable::new(&by);
    let ids = keys.intern(batch)?;
    let Times { ns: t, nulls, .. } = times(batch, time)?;
    let mut per_pair: Vec<Vec<i64>> = vec![Vec::new(); keys.len()];
    let mut row_pair = Vec::with_capacity(ids.len());
    for (i, &k) in ids.iter().enumerate() {
        if nulls.as_ref().is_none_or(|n| n.is_valid(i)) {
            per_pair[k as usize].push(t[i]);
            row_pair.push(Some(k));
        } else {
            row_pair.push(None);
        }
    }
    let stats: Vec<Stats> = per_pair.par_iter_mut().map(|v| stats(v)).collect();
    Ok((keys, stats, row_pair))
}

/// Beaconing statistics of every (src, dst) pair, highest `beacon_score` first: the two
/// key columns, then `count` (events), `interval_mean` (seconds), `interval_cv` (sample
/// std / mean of the inter-arrival times), `periodicity` (1 - min(1, 1.4826 * MAD / median)
/// of the inter-arrival times: 1 for a perfectly regular beacon, near 0 for Poisson-like
/// traffic) and `beacon_score` (periodicity weighted by the evidence, intervals /
/// (intervals + 10)). Null time rows are left out; null keys are their own pair.
///
/// The periodicity is measured on the intervals rather than by a periodogram peak: jitter of
/// a few percent per beat accumulates into phase drift that flattens a periodogram over
/// hours, while the interval dispersion stays small; the median and MAD also shrug off a
/// few missed or extra beats.
pub fn beaconing(batches: &[RecordBatch], src: &str, dst: &str, time: &str) -> Result<RecordBatch> {
    let schema = match batches.first() {
        Some(b) => b.schema(),
        None => Arc::new(Schema::empty()),
    };
    let batch = concat_batches(&schema, batches)?;
    let (keys, stats, _) = pair_stats(&batch, src, dst, time)?;
    let mut order: Vec<u32> = (0..stats.len() as u32).collect();
    order.sort_by(|&a, &b| stats[b as usize].score.total_cmp(&stats[a as usize].score));
    let pick = |f: &dyn Fn(&Stats) -> Option<f64>| -> ArrayRef {
        Arc::new(Float64Array::from_iter(
            order.iter().map(|&i| f(&stats[i as usize])),
        ))
    };
    let mut fields = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    for (name, a) in [src, dst].iter().zip(keys.decode(&order)?) {
        fields.push(Field::new(*name, a.data_type().clone(), true));
        columns.push(a);
    }
    columns.push(Arc::new(UInt64Array::from_iter_values(
        order.iter().map(|&i| stats[i as usize].count),
    )));
    columns.push(pick(&|s| s.mean));
    columns.push(pick(&|s| s.cv));
    columns.push(pick(&|s| s.periodicity));
    columns.push(pick(&|s| Some(s.score)));
    fields.push(Field::new("count", DataType::UInt64, false));
    for name in &BEACON_COLUMNS[1..] {
        fields.push(Field::new(*name, DataType::Float64, true));
    }
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

/// Per event: the `beacon_score` of its (src, dst) pair (null for a null time).
pub(crate) fn broadcast(batch: &RecordBatch, src: &str, dst: &str, time: &str) -> Result<ArrayRef> {
    let (_, stats, row_pair) = pair_stats(batch, src, dst, time)?;
    Ok(Arc::new(Float32Array::from_iter(
        row_pair
            .iter()
            .map(|p| p.map(|k| stats[k as usize].score as f32)),
    )))
}
