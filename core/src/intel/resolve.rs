//! Resolving probed rows: the probe kernel says which fingerprints of a row are in the
//! index; here those candidates are verified against the stored entries (kind, text or
//! network, validity), a batch of rows at a time with their memory loads issued together,
//! and warninglists are consulted for each hit.

use super::Intel;
use super::index::ProbeIndex;
use super::matching::{ColumnKind, Hit};
use super::normalize::{IndicatorKind, parse_ip};
use crate::columns::Strings;
use crate::cpu::intel_probe as probe;

/// The 128-bit address of a row the probe kernel accepted (a plain dotted quad: parsed
/// without allocation; anything else through the full parser).
fn address(s: &[u8]) -> Option<u128> {
    match probe::dotted_quad(s) {
        Some(v4) => Some((0xffff_u128 << 32) | u128::from(v4)),
        None => std::str::from_utf8(s).ok().and_then(|t| parse_ip(t).ok()),
    }
}

impl Intel {
    pub(super) fn suppressor(
        &self,
        kind: ColumnKind,
        raw: &str,
        norm: &str,
        ip: Option<u128>,
    ) -> Option<u16> {
        let norm = match ip {
            Some(bits) => super::normalize::ip_text(bits),
            None => norm.to_string(),
        };
        self.warninglists
            .iter()
            .position(|w| w.contains(kind, raw, &norm, ip))
            .map(|i| i as u16)
    }

    /// Candidates of a probed row (status OK, `mask` != 0) verified against the stored
    /// entries and their validity at `at`, appended to `out`; returns the address bits (IP
    /// columns) for warninglists.
    fn resolve(
        &self,
        ix: &ProbeIndex,
        kind: ColumnKind,
        s: &[u8],
        mask: u32,
        at: Option<i64>,
        out: &mut Vec<u32>,
    ) -> Option<u128> {
        let entries = &self.table.entries;
        let entry = |i: &u32| entries.get(*i as usize).filter(|e| e.valid_at(at));
        match kind {
            ColumnKind::Ip => {
                if let Some(v4) = probe::dotted_quad(s) {
                    // The exact IPv4 runs: entries of the longest network with a valid one.
                    for i in 0..ix.lens.len() {
                        if mask & (1 << i) == 0 {
                            continue;
                        }
                        let before = out.len();
                        out.extend(ix.v4.entries(i, v4).iter().filter(|i| entry(i).is_some()));
                        if out.len() > before {
                            break;
                        }
                    }
                    return Some((0xffff_u128 << 32) | u128::from(v4));
                }
                let bits = address(s)?;
                for (i, &len) in ix.lens.iter().enumerate() {
                    if mask & (1 << i) == 0 {
                        continue;
                    }
                    let net = bits & probe::mask128(len);
                    let fp = probe::net_fingerprint(ix.seed, net, len);
                    let before = out.len();
                    out.extend(ix.candidates(fp).iter().filter(|i| {
                        entry(i).is_some_and(|e| {
                            e.net().is_some_and(|(b, l)| {
                                u32::from(l) == len && b & probe::mask128(len) == net
                            })
                        })
                    }));
                    if out.len() > before {
                        break;
                    }
                }
                Some(bits)
            }
            ColumnKind::Domain => {
                let name = s.strip_suffix(b".").unwrap_or(s);
                let mut verify = |text: &[u8], k: IndicatorKind, tag: u32| {
                    let fp = probe::text_fingerprint(ix.seed, text, tag);
                    out.extend(ix.candidates(fp).iter().filter(|i| {
                        entry(i).is_some_and(|e| {
                            e.kind == k && e.value.as_bytes().eq_ignore_ascii_case(text)
                        })
                    }));
                };
                if mask & 1 != 0 {
                    verify(name, IndicatorKind::Domain, probe::TAG_DOMAIN);
                }
                // Suffix bit 1 + j: j labels counted from the top-level one; longest first.
                let mut starts: Vec<usize> = std::iter::once(0)
                    .chain(
                        name.iter()
                            .enumerate()
                            .filter(|(_, b)| **b == b'.')
                            .map(|(i, _)| i + 1),
                    )
                    .collect();
                let labels = starts.len();
                starts.truncate(probe::MAX_PROBES);
                for (k, &from) in starts.iter().enumerate() {
                    let j = labels - 1 - k;
                    if j + 1 < probe::MAX_PROBES && mask & (1 << (1 + j)) != 0 {
                        let text = name.get(from..).unwrap_or(&[]);
                        verify(text, IndicatorKind::DomainSuffix, probe::TAG_SUFFIX);
                    }
                }
                None
            }
            _ => {
                let (k, tag) = match s.len() {
                    32 => (IndicatorKind::Md5, probe::TAG_MD5),
                    40 => (IndicatorKind::Sha1, probe::TAG_SHA1),
                    _ => (IndicatorKind::Sha256, probe::TAG_SHA256),
                };
                let fp = probe::text_fingerprint(ix.seed, s, tag);
                out.extend(ix.candidates(fp).iter().filter(|i| {
                    entry(i)
                        .is_some_and(|e| e.kind == k && e.value.as_bytes().eq_ignore_ascii_case(s))
                }));
                None
            }
        }
    }

    /// The fingerprints [`Intel::resolve`] looks up for a probed row (one per set bit of
    /// `mask`), appended to `out`.
    fn resolve_fps(
        ix: &ProbeIndex,
        kind: ColumnKind,
        s: &[u8],
        mask: u32,
        out: &mut Vec<[u32; 2]>,
    ) {
        match kind {
            ColumnKind::Ip => {
                if probe::dotted_quad(s).is_some() {
                    // Resolved from the exact IPv4 runs, not the fingerprint table.
                    return;
                }
                let Some(bits) = address(s) else {
                    return;
                };
                for (i, &len) in ix.lens.iter().enumerate() {
                    if mask & (1 << i) != 0 {
                        out.push(probe::net_fingerprint(
                            ix.seed,
                            bits & probe::mask128(len),
                            len,
                        ));
                    }
                }
            }
            ColumnKind::Domain => {
                let name = s.strip_suffix(b".").unwrap_or(s);
                if mask & 1 != 0 {
                    out.push(probe::text_fingerprint(ix.seed, name, probe::TAG_DOMAIN));
                }
                let labels = 1 + name.iter().filter(|b| **b == b'.').count();
                let mut from = 0;
                for k in 0..labels.min(probe::MAX_PROBES) {
                    let j = labels - 1 - k;
                    if j + 1 < probe::MAX_PROBES && mask & (1 << (1 + j)) != 0 {
                        let text = name.get(from..).unwrap_or(&[]);
                        out.push(probe::text_fingerprint(ix.seed, text, probe::TAG_SUFFIX));
                    }
                    from += name
                        .get(from..)
                        .and_then(|t| t.iter().position(|b| *b == b'.'))
                        .map_or(0, |p| p + 1);
                }
            }
            _ => {
                let tag = match s.len() {
                    32 => probe::TAG_MD5,
                    40 => probe::TAG_SHA1,
                    _ => probe::TAG_SHA256,
                };
                out.push(probe::text_fingerprint(ix.seed, s, tag));
            }
        }
    }

    /// Warms the cache for resolving `rows` (row, mask): their index slots first, then the
    /// member lists those slots name, then the entries; each stage's loads overlap.
    fn prefetch_resolve(
        &self,
        ix: &ProbeIndex,
        kind: ColumnKind,
        strings: &Strings<'_>,
        rows: &[(usize, u32)],
        fps: &mut Vec<[u32; 2]>,
    ) {
        fps.clear();
        for &(row, mask) in rows {
            Self::resolve_fps(ix, kind, strings.row(row), mask, fps);
        }
        let table = ix.table();
        table.prefetch(fps);
        for fp in fps.iter() {
            if let Some(m) = ix.candidates(*fp).first() {
                probe::prefetch(m);
            }
        }
        for fp in fps.iter() {
            for m in ix.candidates(*fp).iter().take(4) {
                if let Some(e) = self.table.entries.get(*m as usize) {
                    probe::prefetch(e);
                }
            }
        }
    }

    /// Resolves the probed rows of `pending` (row, mask) in row order into `hits`, counting
    /// matched rows and suppressed hits in `c[2]`, `c[3]`; empties `pending`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn resolve_batch(
        &self,
        ix: &ProbeIndex,
        kind: ColumnKind,
        strings: &Strings<'_>,
        pending: &mut Vec<(usize, u32)>,
        at: Option<i64>,
        hits: &mut Vec<Hit>,
        c: &mut [u64; 4],
    ) {
        if pending.is_empty() {
            return;
        }
        let mut found = Vec::new();
        let mut fps = Vec::new();
        if kind != ColumnKind::Ip {
            // IPv4 rows resolve from the exact runs (small, cached): nothing to warm.
            self.prefetch_resolve(ix, kind, strings, pending, &mut fps);
        }
        for &(row, mask) in pending.iter() {
            let bytes = strings.row(row);
            found.clear();
            let ip = self.resolve(ix, kind, bytes, mask, at, &mut found);
            self.emit(kind, row, bytes, ip, &found, hits, c);
        }
        pending.clear();
    }
}
