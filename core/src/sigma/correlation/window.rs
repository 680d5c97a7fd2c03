//! The sliding-window sweep over one group's matches: each event closes the window of the
//! matches at most `timespan` older than it, and the condition is checked there.

use std::collections::HashMap;

use super::{CorrelationKind, Threshold};

/// The most contributing event rows one hit lists.
pub(crate) const MAX_HIT_ROWS: usize = 1000;

/// One base-rule match in a group.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Entry {
    /// Event time, ns.
    pub time: i64,
    /// The event's row over everything pushed.
    pub row: u64,
    /// Which named rule matched (position in the correlation's list).
    pub rule: u32,
    /// The value field as text (`value_count`).
    pub text: Option<String>,
    /// The value field as a number (`value_sum`, `value_avg`, `value_percentile`).
    pub num: Option<f64>,
}

/// What a window that met the condition holds.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Fire {
    /// First and last event times in the window.
    pub start: i64,
    pub end: i64,
    /// The aggregate the condition was checked on.
    pub value: f64,
    /// Distinct events in the window.
    pub events: u64,
    /// Their rows (the first [`MAX_HIT_ROWS`]).
    pub rows: Vec<u64>,
    /// The event that closed the window.
    pub trigger: u64,
}

/// What a sweep checks.
pub(crate) struct Spec<'a> {
    pub kind: CorrelationKind,
    pub span: i64,
    pub condition: Option<&'a Threshold>,
    pub percentile: f64,
    pub n_rules: usize,
}

/// Whether the named rules fired in order within `w` (sorted by time): for each rule in turn,
/// a match at or after the previous rule's; equal times count as in order.
fn in_order(w: &[Entry], n_rules: usize) -> bool {
    let mut k = 0u32;
    let mut i = 0;
    while i < w.len() && (k as usize) < n_rules {
        let t = w[i].time;
        let mut j = i;
        while j < w.len() && w[j].time == t {
            j += 1;
        }
        let tie = &w[i..j];
        while (k as usize) < n_rules && tie.iter().any(|e| e.rule == k) {
            k += 1;
        }
        i = j;
    }
    k as usize >= n_rules
}

/// Linear-interpolation percentile (`p` in 0..=100) of sorted `v` (numpy's default).
pub(crate) fn percentile(v: &[f64], p: f64) -> Option<f64> {
    let last = v.len().checked_sub(1)?;
    let pos = p / 100.0 * last as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let (a, b) = (*v.get(lo)?, *v.get(hi)?);
    Some(a + (b - a) * (pos - lo as f64))
}

/// Sweeps one group's matches (any order; sorted here by time, then row, then rule).
pub(crate) fn sweep(spec: &Spec<'_>, entries: &mut Vec<Entry>) -> Vec<Fire> {
    entries.sort_by_key(|a| (a.time, a.row, a.rule));
    let temporal = matches!(
        spec.kind,
        CorrelationKind::Temporal | CorrelationKind::TemporalOrdered
    );
    if !temporal {
        // One entry per event: an event matching two named rules counts once.
        entries.dedup_by(|b, a| a.row == b.row);
    }
    let n = entries.len();
    let mut out = Vec::new();
    let mut lo = 0;
    // Running state of the window entries[lo..=i].
    let mut rows_in: HashMap<u64, u32> = HashMap::new();
    let mut texts: HashMap<&str, u32> = HashMap::new();
    let mut per_rule = vec![0u32; spec.n_rules];
    let mut nums = 0u64;
    for i in 0..n {
        let e = &entries[i];
        let cutoff = e.time.saturating_sub(spec.span);
        while lo < i && entries[lo].time < cutoff {
            let old = &entries[lo];
            if let Some(c) = rows_in.get_mut(&old.row) {
                *c -= 1;
                if *c == 0 {
                    rows_in.remove(&old.row);
                }
            }
            if let Some(t) = old.text.as_deref()
                && let Some(c) = texts.get_mut(t)
            {
                *c -= 1;
                if *c == 0 {
                    texts.remove(t);
                }
            }
            if let Some(c) = per_rule.get_mut(old.rule as usize) {
                *c -= 1;
            }
            if old.num.is_some() {
                nums -= 1;
            }
            lo += 1;
        }
        *rows_in.entry(e.row).or_default() += 1;
        if let Some(t) = e.text.as_deref() {
            *texts.entry(t).or_default() += 1;
        }
        if let Some(c) = per_rule.get_mut(e.rule as usize) {
            *c += 1;
        }
        if e.num.is_some() {
            nums += 1;
        }
        // An event's entries (one per named rule it matched) are pushed before it is checked.
        if entries.get(i + 1).is_some_and(|next| next.row == e.row) {
            continue;
        }
        let window = &entries[lo..=i];
        let value = match spec.kind {
            CorrelationKind::EventCount => Some(rows_in.len() as f64),
            CorrelationKind::ValueCount => Some(texts.len() as f64),
            CorrelationKind::Temporal => Some(per_rule.iter().filter(|c| **c > 0).count() as f64),
            CorrelationKind::TemporalOrdered => Some(if in_order(window, spec.n_rules) {
                spec.n_rules as f64
            } else {
                0.0
            }),
            // Summed over the window each time (not a running sum) so values stay exact.
            CorrelationKind::ValueSum => {
                (nums > 0).then(|| window.iter().filter_map(|e| e.num).sum())
            }
            CorrelationKind::ValueAvg => {
                (nums > 0).then(|| window.iter().filter_map(|e| e.num).sum::<f64>() / nums as f64)
            }
            CorrelationKind::ValuePercentile => {
                let mut v: Vec<f64> = window.iter().filter_map(|e| e.num).collect();
                v.sort_by(f64::total_cmp);
                percentile(&v, spec.percentile)
            }
        };
        let Some(value) = value else { continue };
        let fires = match (spec.kind, spec.condition) {
            (CorrelationKind::Temporal | CorrelationKind::TemporalOrdered, None) => {
                value >= spec.n_rules as f64
            }
            (CorrelationKind::TemporalOrdered, Some(t)) => {
                value >= spec.n_rules as f64 && t.holds(value)
            }
            (_, Some(t)) => t.holds(value),
            (_, None) => false,
        };
        if fires {
            let mut rows: Vec<u64> = Vec::new();
            for w in window {
                if rows.last() != Some(&w.row) && !rows.contains(&w.row) {
                    if rows.len() >= MAX_HIT_ROWS {
                        break;
                    }
                    rows.push(w.row);
                }
            }
            out.push(Fire {
                start: window.first().map_or(e.time, |w| w.time),
                end: e.time,
                value,
                events: rows_in.len() as u64,
                rows,
                trigger: e.row,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(time: i64, row: u64, rule: u32) -> Entry {
        Entry {
            time,
            row,
            rule,
            text: None,
            num: None,
        }
    }

    #[test]
    fn event_count_by_hand() {
        // Times 0, 10, 20, 70 with a 60-unit span and gte 3: the window closed at 20 holds
        // 0, 10, 20 (3 events: fires); at 70 it holds 10, 20, 70 (70 - 60 = 10 is kept: 3).
        let t = Threshold {
            gte: Some(3.0),
            ..Threshold::default()
        };
        let spec = Spec {
            kind: CorrelationKind::EventCount,
            span: 60,
            condition: Some(&t),
            percentile: 50.0,
            n_rules: 1,
        };
        let mut v = vec![e(70, 3, 0), e(0, 0, 0), e(20, 2, 0), e(10, 1, 0)];
        let f = sweep(&spec, &mut v);
        assert_eq!(f.len(), 2);
        assert_eq!((f[0].start, f[0].end, f[0].value), (0, 20, 3.0));
        assert_eq!(f[0].rows, vec![0, 1, 2]);
        assert_eq!((f[1].start, f[1].end, f[1].value), (10, 70, 3.0));
        assert_eq!(f[1].rows, vec![1, 2, 3]);
    }

    #[test]
    fn ordered_needs_the_named_order() {
        let w = [e(1, 0, 1), e(2, 1, 0)];
        assert!(!in_order(&w, 2));
        let w = [e(1, 0, 0), e(2, 1, 1)];
        assert!(in_order(&w, 2));
        // Equal times count as in order either way.
        let w = [e(1, 0, 1), e(1, 1, 0)];
        assert!(in_order(&w, 2));
    }

    #[test]
    fn percentile_matches_numpy() {
        // numpy.percentile([1, 2, 3, 4], 50) = 2.5; 90 -> 3.7.
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0], 50.0), Some(2.5));
        assert!((percentile(&[1.0, 2.0, 3.0, 4.0], 90.0).unwrap_or(0.0) - 3.7).abs() < 1e-12);
        assert_eq!(percentile(&[], 50.0), None);
    }
}
