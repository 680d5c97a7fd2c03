//! Evaluation of scores and alerts against labels.

use serde::Serialize;

use crate::error::{Error, Result};

/// How well scores and alerts match a label column.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Evaluation {
    /// Rows evaluated.
    pub rows: usize,
    /// Rows labelled positive (anomalous).
    pub positives: usize,
    /// Rows without a score (never alerts; left out of ROC-AUC and PR-AUC).
    pub unscored: usize,
    /// Alerts raised.
    pub alerts: usize,
    /// Alerts on positive rows.
    pub true_positives: usize,
    /// Alerts on negative rows.
    pub false_positives: usize,
    /// Positive rows without an alert.
    pub false_negatives: usize,
    /// true positives / alerts (0 when there is no alert).
    pub precision: f64,
    /// true positives / positives (0 when there is no positive).
    pub recall: f64,
    /// Harmonic mean of precision and recall (0 when both are 0).
    pub f1: f64,
    /// Area under the ROC curve, ties counted half (`None` without both classes).
    pub roc_auc: Option<f64>,
    /// Average precision, scikit-learn's `average_precision_score` (`None` without positives).
    pub pr_auc: Option<f64>,
    /// The `k` of `precision_at_k`.
    pub k: usize,
    /// Share of positives among the `k` highest scores (ties broken by row order).
    pub precision_at_k: Option<f64>,
}

/// Evaluates `scores` (NaN = unscored) and `alerts` against `labels` (true = anomalous).
pub fn evaluate(scores: &[f32], alerts: &[bool], labels: &[bool], k: usize) -> Result<Evaluation> {
    if scores.len() != labels.len() || alerts.len() != labels.len() {
        return Err(Error::InvalidInput(format!(
            "{} scores, {} alert flags and {} labels: evaluation needs one of each per row",
            scores.len(),
            alerts.len(),
            labels.len()
        )));
    }
    let positives = labels.iter().filter(|&&l| l).count();
    let n_alerts = alerts.iter().filter(|&&a| a).count();
    let tp = alerts
        .iter()
        .zip(labels)
        .filter(|(a, l)| **a && **l)
        .count();
    let precision = if n_alerts > 0 {
        tp as f64 / n_alerts as f64
    } else {
        0.0
    };
    let recall = if positives > 0 {
        tp as f64 / positives as f64
    } else {
        0.0
    };
    let f1 = if precision + recall > 0.0 {
        2.0 * precision * recall / (precision + recall)
    } else {
        0.0
    };
    let mut order: Vec<usize> = (0..scores.len()).filter(|&i| !scores[i].is_nan()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    let precision_at_k = (k > 0 && !order.is_empty()).then(|| {
        let top = &order[..k.min(order.len())];
        top.iter().filter(|&&i| labels[i]).count() as f64 / top.len() as f64
    });
    Ok(Evaluation {
        rows: labels.len(),
        positives,
        unscored: scores.len() - order.len(),
        alerts: n_alerts,
        true_positives: tp,
        false_positives: n_alerts - tp,
        false_negatives: positives - tp,
        precision,
        recall,
        f1,
        roc_auc: roc_auc(scores, labels),
        pr_auc: average_precision(scores, labels),
        k,
        precision_at_k,
    })
}

/// Average precision: Σ over distinct score thresholds (high to low) of (recall gained) x
/// (precision at that threshold), as scikit-learn's `average_precision_score`.
pub fn average_precision(scores: &[f32], labels: &[bool]) -> Option<f64> {
    let mut pairs = scored_pairs(scores, labels);
    let positives = pairs.iter().filter(|p| p.1).count();
    if positives == 0 {
        return None;
    }
    pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
    let (mut tp, mut ap, mut last_recall) = (0usize, 0.0, 0.0);
    let mut i = 0;
    while i < pairs.len() {
        let mut j = i;
        while j < pairs.len() && pairs[j].0 == pairs[i].0 {
            tp += usize::from(pairs[j].1);
            j += 1;
        }
        let recall = tp as f64 / positives as f64;
        ap += (recall - last_recall) * tp as f64 / j as f64;
        last_recall = recall;
        i = j;
    }
    Some(ap)
}

/// (score, label) of the rows with a score.
fn scored_pairs(scores: &[f32], labels: &[bool]) -> Vec<(f32, bool)> {
    scores
        .iter()
        .zip(labels)
        .filter(|(s, _)| !s.is_nan())
        .map(|(&s, &l)| (s, l))
        .collect()
}

/// Area under the ROC curve of `scores` against `labels` (true = positive), with ties
/// counted as half (the Mann-Whitney U statistic). Rows with a NaN score are skipped.
/// `None` when there is no positive or no negative.
pub fn roc_auc(scores: &[f32], labels: &[bool]) -> Option<f64> {
    let mut pairs = scored_pairs(scores, labels);
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let pos = pairs.iter().filter(|p| p.1).count() as f64;
    let neg = pairs.len() as f64 - pos;
    if pos == 0.0 || neg == 0.0 {
        return None;
    }
    // Sum of the (average, for ties) ranks of the positives.
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < pairs.len() {
        let mut j = i;
        while j < pairs.len() && pairs[j].0 == pairs[i].0 {
            j += 1;
        }
        let avg_rank = (i + 1 + j) as f64 / 2.0;
        rank_sum += avg_rank * pairs[i..j].iter().filter(|p| p.1).count() as f64;
        i = j;
    }
    Some((rank_sum - pos * (pos + 1.0) / 2.0) / (pos * neg))
}
