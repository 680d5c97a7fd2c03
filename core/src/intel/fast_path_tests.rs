//! The probe-index path (the GPU kernel's CPU twin plus host verification) against the full
//! normalisation path on random, adversarial values: the same hits per row, the same counts.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::sync::Arc;

use arrow::array::{RecordBatch, StringArray};

use super::matching::Probe;
use super::{ColumnKind, IndicatorKind, Intel};
use crate::rng::SplitMix64;

fn pick<'a>(r: &mut SplitMix64, xs: &[&'a str]) -> &'a str {
    xs[r.below(xs.len())]
}

fn ip4(r: &mut SplitMix64) -> String {
    // A small space so events land in the indicators' networks often.
    format!("10.{}.{}.{}", r.below(4), r.below(8), r.below(256))
}

fn domain(r: &mut SplitMix64) -> String {
    let words = ["a", "bad", "Cdn", "x-y", "evil", "xn--bcher-kva", "w1"];
    let tlds = ["com", "NET", "org", "io"];
    let n = 1 + r.below(4);
    let mut s: Vec<String> = (0..n).map(|_| pick(r, &words).to_string()).collect();
    s.push(pick(r, &tlds).to_string());
    s.join(".")
}

fn hex(r: &mut SplitMix64, n: usize) -> String {
    (0..n)
        .map(|_| char::from(b"0123456789abcdefABCDEF"[r.below(if n == 32 { 22 } else { 16 })]))
        .collect()
}

fn decorate(r: &mut SplitMix64, v: String) -> String {
    match r.below(14) {
        0 => format!(" {v}"),
        1 => format!("{v}."),
        2 => v.to_uppercase(),
        3 => format!("{v}.."),
        4 => "-".into(),
        5 => "(empty)".into(),
        6 => format!("{v}\u{e9}"),
        7 => String::new(),
        8 => format!("[{v}]"),
        9 => format!("0{v}"),
        _ => v,
    }
}

fn slow_hits(intel: &Intel, kind: ColumnKind, values: &[Option<String>]) -> Vec<Vec<u32>> {
    values
        .iter()
        .map(
            |v| match v.as_deref().map(|v| intel.probe(kind, v, Some(5))) {
                Some(Probe::Values(_, _, mut e)) => {
                    e.sort_unstable();
                    e
                }
                _ => Vec::new(),
            },
        )
        .collect()
}

#[test]
fn probe_index_equals_full_normalisation() {
    let mut r = SplitMix64(42);
    let mut intel = Intel::new();
    let mut hashes = Vec::new();
    for i in 0..400 {
        let (v, k) = match i % 8 {
            0 => (ip4(&mut r), IndicatorKind::Ip),
            1 => (
                format!(
                    "10.{}.{}.0/{}",
                    r.below(4),
                    r.below(8),
                    [8, 12, 16, 20, 24, 28][r.below(6)]
                ),
                IndicatorKind::Cidr,
            ),
            2 => (
                format!("::ffff:10.{}.0.0/{}", r.below(4), 104 + r.below(20)),
                IndicatorKind::Cidr,
            ),
            3 => ("2001:db8::/32".into(), IndicatorKind::Cidr),
            4 => (domain(&mut r), IndicatorKind::Domain),
            5 => (domain(&mut r), IndicatorKind::DomainSuffix),
            6 => (hex(&mut r, 32), IndicatorKind::Md5),
            _ => (hex(&mut r, 64), IndicatorKind::Sha256),
        };
        if matches!(k, IndicatorKind::Md5 | IndicatorKind::Sha256) {
            hashes.push(v.clone());
        }
        let src = ["a", "b"][r.below(2)];
        let valid_until = (r.below(5) == 0).then_some(3);
        intel.add_indicator(
            src,
            "code",
            super::NewIndicator {
                value: v,
                kind: Some(k),
                valid_until,
                ..Default::default()
            },
        );
    }
    // Removals keep the index; hits of removed entries must vanish.
    let gone: Vec<String> = intel
        .indicators()
        .iter()
        .take(20)
        .map(|i| i.value.clone())
        .collect();
    intel.remove(&gone, None, None);
    let kinds = [
        ("ip", ColumnKind::Ip),
        ("domain", ColumnKind::Domain),
        ("hash", ColumnKind::Hash),
    ];
    for (name, kind) in kinds {
        let values: Vec<Option<String>> = (0..20_000)
            .map(|_| {
                if r.below(30) == 0 {
                    return None;
                }
                let v = match kind {
                    ColumnKind::Ip if r.below(6) == 0 => "2001:db8::1".to_string(),
                    ColumnKind::Ip => ip4(&mut r),
                    ColumnKind::Domain => domain(&mut r),
                    _ if r.below(2) == 0 => hashes[r.below(hashes.len())].clone(),
                    _ => {
                        let n = [32, 64, 40, 31][r.below(4)];
                        hex(&mut r, n)
                    }
                };
                Some(decorate(&mut r, v))
            })
            .collect();
        let batch =
            RecordBatch::try_from_iter([(name, Arc::new(StringArray::from(values.clone())) as _)])
                .unwrap();
        let (hits, rep) = intel
            .column_hits(batch.column(0).as_ref(), name, kind, Some(5))
            .unwrap();
        let mut fast = vec![Vec::new(); values.len()];
        for h in &hits {
            fast[h.row as usize].push(h.entry);
        }
        for f in &mut fast {
            f.sort_unstable();
        }
        let slow = slow_hits(&intel, kind, &values);
        assert_eq!(fast, slow, "{name}");
        let matched = slow.iter().filter(|h| !h.is_empty()).count();
        assert!(matched > 100, "{name}: only {matched} rows matched");
        assert_eq!(rep.matched_rows, matched as u64);
        let (mut empty, mut invalid) = (0, 0);
        for v in &values {
            match v.as_deref().map(|v| intel.probe(kind, v, Some(5))) {
                None | Some(Probe::Empty) => empty += 1,
                Some(Probe::Invalid) => invalid += 1,
                _ => {}
            }
        }
        assert_eq!((rep.empty, rep.invalid), (empty, invalid), "{name}");
    }
}
