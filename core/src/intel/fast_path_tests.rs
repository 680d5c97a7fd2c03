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
    // Warninglists: a network, host names, a string (suppression must agree on every path).
    use super::{Warninglist, WarninglistType};
    let wl =
        |n: &str, t, e: &[&str]| Warninglist::new(n, t, e.iter().map(|x| x.to_string()).collect());
    intel.add_warninglist(wl("nets", WarninglistType::Cidr, &["10.1.0.0/16"]));
    intel.add_warninglist(wl(
        "hosts",
        WarninglistType::Hostname,
        &["bad.com", "evil.io"],
    ));
    intel.add_warninglist(wl(
        "strings",
        WarninglistType::String,
        &[&hashes[hashes.len() - 1], &hashes[hashes.len() - 3]],
    ));
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
            .column_hits(batch.column(0).as_ref(), name, kind, Some(5), 0)
            .unwrap();
        // No GPU here: that was the CPU's one-pass path. The kernel path (its CPU twin,
        // then host resolution) must give the same hits in the same order, the same
        // suppressions and the same counts.
        let array = batch.column(0).as_ref();
        let words = intel.probe_words(array, kind).unwrap().unwrap();
        let strings = crate::columns::Strings::new(array, name).unwrap();
        let (mut kernel, mut kc) = (Vec::new(), [0u64; 4]);
        intel.probed_hits(
            Some(intel.table.index()),
            &words,
            kind,
            array,
            &strings,
            0..values.len(),
            Some(5),
            &mut kernel,
            &mut kc,
        );
        let key = |h: &super::matching::Hit| (h.row, h.entry, h.suppressed);
        assert_eq!(
            hits.iter().map(key).collect::<Vec<_>>(),
            kernel.iter().map(key).collect::<Vec<_>>(),
            "{name}"
        );
        assert_eq!(
            [rep.empty, rep.invalid, rep.matched_rows, rep.suppressed],
            kc,
            "{name}"
        );
        assert!(
            hits.iter().any(|h| h.suppressed.is_some())
                && hits.iter().any(|h| h.suppressed.is_none()),
            "{name}: the warninglists should suppress some hits, not all"
        );
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

#[test]
fn exact_v4_sets_equal_fingerprint_probes() {
    use crate::cpu::intel_probe::{MODE_IP, ProbeTable, row, rows};
    let mut r = SplitMix64(7);
    let mut intel = Intel::new();
    let mut nets: Vec<String> = ["::/1", "8000::/1", "::ffff:0:0/96", "2001:db8::/32"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for _ in 0..3000 {
        // At most 32 lengths in all, or addresses are deferred to the host.
        let len = [1, 7, 8, 12, 16, 20, 22, 23, 24, 25, 27, 28, 31, 32][r.below(14)];
        let a = u32::from_be_bytes([10, r.below(4) as u8, r.below(8) as u8, r.below(256) as u8]);
        let net = std::net::Ipv4Addr::from(a & (u32::MAX << (32 - len)));
        nets.push(format!("{net}/{len}"));
        nets.push(ip4(&mut r));
    }
    let added = intel.add(&nets, None, "t", None);
    assert!(added > 3000, "{added} {:?}", intel.report());
    let ix = intel.table.index();
    let exact = ix.table();
    assert!(exact.v4.is_some());
    let hashed = ProbeTable { v4: None, ..exact };
    let values: Vec<String> = (0..50_000)
        .map(|i| match i % 3 {
            0 => ip4(&mut r),
            1 => {
                let v = ip4(&mut r);
                decorate(&mut r, v)
            }
            _ => format!(
                "{}.{}.{}.{}",
                r.below(256),
                r.below(256),
                r.below(256),
                r.below(256)
            ),
        })
        .collect();
    let mut got = vec![0u32; 2 * values.len()];
    rows(|i| values[i].as_bytes(), 0, MODE_IP, &exact, &mut got);
    let mut set_bits = 0;
    for (i, v) in values.iter().enumerate() {
        let want = row(v.as_bytes(), MODE_IP, &hashed);
        assert_eq!((got[2 * i], got[2 * i + 1]), want, "{v}");
        set_bits += want.1.count_ones();
    }
    // Every address meets ::/1 and ::ffff:0:0/96; many meet more.
    assert!(set_bits > 2 * 30_000, "{set_bits}");
}

#[test]
fn batched_hash_probes_equal_row_probes() {
    use crate::cpu::intel_probe::{MODE_HASH, row, rows};
    let mut r = SplitMix64(11);
    let mut intel = Intel::new();
    let known: Vec<String> = (0..500).map(|i| hex(&mut r, [32, 40, 64][i % 3])).collect();
    intel.add(&known, None, "t", None);
    let ix = intel.table.index();
    let t = ix.table();
    // Runs of one length (batched four at a time), mixed lengths, invalid rows between.
    let values: Vec<String> = (0..20_000)
        .map(|i| match (i / 7) % 4 {
            0 => known[r.below(known.len())].to_uppercase(),
            1 => hex(&mut r, 64),
            2 => {
                let v = known[r.below(known.len())].clone();
                decorate(&mut r, v)
            }
            _ => {
                let n = [31, 32, 40, 64][r.below(4)];
                hex(&mut r, n)
            }
        })
        .collect();
    for first in [0, 3] {
        let vals = &values[first..];
        let mut got = vec![0u32; 2 * vals.len()];
        rows(|i| vals[i].as_bytes(), 0, MODE_HASH, &t, &mut got);
        let mut hits = 0;
        for (i, v) in vals.iter().enumerate() {
            let want = row(v.as_bytes(), MODE_HASH, &t);
            assert_eq!((got[2 * i], got[2 * i + 1]), want, "{v}");
            hits += want.1;
        }
        assert!(hits > 5_000, "{hits}");
    }
    // Columns whose last batch is short, after full batches of one length: the short batch
    // must not read the previous batch's leftovers (it once hashed rows past the end).
    for len in 1..50 {
        let vals: Vec<&str> = known
            .iter()
            .step_by(3)
            .take(len)
            .map(String::as_str)
            .collect();
        let mut got = vec![0u32; 2 * vals.len()];
        rows(|i| vals[i].as_bytes(), 0, MODE_HASH, &t, &mut got);
        for (i, v) in vals.iter().enumerate() {
            assert_eq!(
                (got[2 * i], got[2 * i + 1]),
                (0, 1),
                "{len} rows, row {i}: {v}"
            );
        }
    }
}
