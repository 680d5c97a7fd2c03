//! The CPU's one-pass path for address, domain and hash columns: each row is screened,
//! probed and resolved to its entries at once, with no probe words in between and no second
//! lookup per hit. Addresses walk the exact IPv4 prefix sets longest first and stop at the
//! first network with a valid entry; hashes are parsed from hex to bytes and looked up once
//! in exact byte sets; domains are fingerprinted once (the kernel's own function) and the
//! slots found are resolved from those lookups. Row statuses are the probe kernel's (the same
//! screens), rows it defers take the full normalisation path, and the hits equal the kernel +
//! resolve path's row for row (tests in `fast_path_tests`).

use arrow::array::Array;

use super::Intel;
use super::cpu_index::CpuIndex;
use super::hex::hex_bytes;
use super::matching::{ColumnKind, Hit};
use crate::columns::Strings;
use crate::cpu::intel_probe::{
    self as probe, DEFER, EMPTY, INVALID, MAX_PROBES, TAG_DOMAIN, TAG_SUFFIX,
};

/// Rows whose lookups are issued together (their cache misses overlap).
const BATCH: usize = 32;

/// A hash row after screening and parsing.
#[derive(Clone, Copy)]
enum HashKey {
    Null,
    Status(u32),
    Md5([u8; 16]),
    Sha1([u8; 20]),
    Sha256([u8; 32]),
}

impl Intel {
    /// Appends the hits of rows `from..to` of a column to `hits` (row order), counting empty,
    /// invalid, matched rows and suppressed hits in `c`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn direct_hits(
        &self,
        ix: &CpuIndex,
        kind: ColumnKind,
        array: &dyn Array,
        strings: &Strings<'_>,
        rows: std::ops::Range<usize>,
        at: Option<i64>,
        hits: &mut Vec<Hit>,
        c: &mut [u64; 4],
    ) {
        match kind {
            ColumnKind::Ip => self.direct_ip(ix, array, strings, rows, at, hits, c),
            ColumnKind::Domain => self.direct_domain(ix, array, strings, rows, at, hits, c),
            _ => self.direct_hash(ix, array, strings, rows, at, hits, c),
        }
    }

    /// The hits of one resolved row (none when `found` is empty), with its suppression.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn emit(
        &self,
        kind: ColumnKind,
        row: usize,
        bytes: &[u8],
        ip: Option<u128>,
        found: &[u32],
        hits: &mut Vec<Hit>,
        c: &mut [u64; 4],
    ) {
        if found.is_empty() {
            return;
        }
        c[2] += 1;
        let sup = if self.warninglists.is_empty() {
            None
        } else {
            let raw = std::str::from_utf8(bytes).unwrap_or("");
            let norm = raw.strip_suffix('.').unwrap_or(raw);
            self.suppressor(kind, raw, &norm.to_ascii_lowercase(), ip)
        };
        if sup.is_some() {
            c[3] += found.len() as u64;
        }
        hits.extend(found.iter().map(|&entry| Hit {
            row: row as u32,
            entry,
            suppressed: sup,
        }));
    }

    #[allow(clippy::too_many_arguments)]
    fn direct_ip(
        &self,
        ix: &CpuIndex,
        array: &dyn Array,
        strings: &Strings<'_>,
        rows: std::ops::Range<usize>,
        at: Option<i64>,
        hits: &mut Vec<Hit>,
        c: &mut [u64; 4],
    ) {
        let kind = ColumnKind::Ip;
        let entries = &self.table.entries;
        let mut found = Vec::new();
        // Per row of a batch: `Ok(address)`, or `Err(status)` (EMPTY, or DEFER to the host).
        let mut got = [Err(EMPTY); BATCH];
        let mut start = rows.start;
        while start < rows.end {
            let end = (start + BATCH).min(rows.end);
            prefetch_rows(strings, end..(end + BATCH).min(rows.end));
            for (g, row) in got.iter_mut().zip(start..end) {
                *g = if array.is_null(row) {
                    Err(EMPTY)
                } else {
                    let s = strings.row(row);
                    probe::screen(s).and_then(|()| probe::dotted_quad(s).ok_or(DEFER))
                };
                if let Ok(v4) = *g {
                    ix.v4.prefetch(v4);
                }
            }
            for (g, row) in got.iter().zip(start..end) {
                match *g {
                    Err(EMPTY) => c[0] += 1,
                    Err(_) => self.full_row(kind, row, strings.row(row), at, hits, c),
                    Ok(v4) => {
                        found.clear();
                        ix.v4.longest(v4, |e| ix.valid(entries, e, at), &mut found);
                        let bits = (0xffff_u128 << 32) | u128::from(v4);
                        self.emit(kind, row, strings.row(row), Some(bits), &found, hits, c);
                    }
                }
            }
            start = end;
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn direct_hash(
        &self,
        ix: &CpuIndex,
        array: &dyn Array,
        strings: &Strings<'_>,
        rows: std::ops::Range<usize>,
        at: Option<i64>,
        hits: &mut Vec<Hit>,
        c: &mut [u64; 4],
    ) {
        let kind = ColumnKind::Hash;
        let hx = &ix.hex;
        let mut keys = [HashKey::Null; BATCH];
        let mut found = Vec::new();
        let mut start = rows.start;
        while start < rows.end {
            let end = (start + BATCH).min(rows.end);
            prefetch_rows(strings, end..(end + BATCH).min(rows.end));
            for (k, row) in keys.iter_mut().zip(start..end) {
                *k = if array.is_null(row) {
                    HashKey::Null
                } else {
                    let s = strings.row(row);
                    // Hex digits of a hash's length decode in one pass (and then pass the
                    // screens); anything else takes the screens for its status.
                    let key = match s.len() {
                        32 => hex_bytes(s).map(HashKey::Md5),
                        40 => hex_bytes(s).map(HashKey::Sha1),
                        64 => hex_bytes(s).map(HashKey::Sha256),
                        _ => None,
                    };
                    key.unwrap_or_else(|| {
                        HashKey::Status(match probe::screen(s).and_then(|()| probe::hash_tag(s)) {
                            Err(status) => status,
                            // Screens passed but no decode: cannot happen; never a hit.
                            Ok(_) => INVALID,
                        })
                    })
                };
                match k {
                    HashKey::Md5(b) => hx.md5.prefetch(b),
                    HashKey::Sha1(b) => hx.sha1.prefetch(b),
                    HashKey::Sha256(b) => hx.sha256.prefetch(b),
                    _ => {}
                }
            }
            for (k, row) in keys.iter().zip(start..end) {
                let run = match k {
                    HashKey::Null | HashKey::Status(EMPTY) => {
                        c[0] += 1;
                        continue;
                    }
                    HashKey::Status(INVALID) => {
                        c[1] += 1;
                        continue;
                    }
                    HashKey::Status(_) => {
                        self.full_row(kind, row, strings.row(row), at, hits, c);
                        continue;
                    }
                    HashKey::Md5(b) => hx.md5.get(b),
                    HashKey::Sha1(b) => hx.sha1.get(b),
                    HashKey::Sha256(b) => hx.sha256.get(b),
                };
                if run.is_empty() {
                    continue;
                }
                found.clear();
                let entries = &self.table.entries;
                found.extend(run.iter().copied().filter(|&e| ix.valid(entries, e, at)));
                self.emit(kind, row, strings.row(row), None, &found, hits, c);
            }
            start = end;
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn direct_domain(
        &self,
        ix: &CpuIndex,
        array: &dyn Array,
        strings: &Strings<'_>,
        rows: std::ops::Range<usize>,
        at: Option<i64>,
        hits: &mut Vec<Hit>,
        c: &mut [u64; 4],
    ) {
        let kind = ColumnKind::Domain;
        let t = ix.names.table();
        let entries = &self.table.entries;
        let mut fps = [[[0u32; 2]; MAX_PROBES]; BATCH];
        let mut got = [Err(EMPTY); BATCH];
        // Slots found per batch: (row in batch, probe, slot), each row's in resolve order.
        let mut slots: Vec<(usize, usize, usize)> = Vec::with_capacity(4 * BATCH);
        let mut found = Vec::new();
        let mut start = rows.start;
        while start < rows.end {
            let end = (start + BATCH).min(rows.end);
            prefetch_rows(strings, end..(end + BATCH).min(rows.end));
            // 1. Fingerprints of each name and its suffixes; their home slots warmed.
            for ((g, f), row) in got.iter_mut().zip(fps.iter_mut()).zip(start..end) {
                *g = if array.is_null(row) {
                    Err(EMPTY)
                } else {
                    probe::fingerprints(strings.row(row), probe::MODE_DOMAIN, &t, f)
                };
                if let Ok(n) = *g {
                    // Only keys the filter lets through are looked up: warm their slots.
                    for fp in f.get(..n).unwrap_or(&[]) {
                        if ix.names.may_hold(*fp) {
                            t.prefetch(std::slice::from_ref(fp));
                        }
                    }
                }
            }
            // 2. Lookups: exact name first, then suffixes longest first; regions warmed.
            slots.clear();
            for (r, (g, f)) in got.iter().zip(&fps).enumerate().take(end - start) {
                let Ok(n) = *g else { continue };
                let f = f.get(..n).unwrap_or(&[]);
                let order = f.first().into_iter().chain(f.iter().skip(1).rev());
                for (k, fp) in order.enumerate() {
                    if !ix.names.may_hold(*fp) {
                        continue;
                    }
                    if let Some(slot) = t.lookup(*fp) {
                        ix.names.prefetch_region(slot);
                        slots.push((r, k, slot));
                    }
                }
            }
            // 3. Each row in order: counts, or its slots verified against their texts.
            let mut next = 0;
            for (r, (g, row)) in got.iter().zip(start..end).enumerate() {
                match *g {
                    Err(EMPTY) => c[0] += 1,
                    Err(INVALID) => c[1] += 1,
                    Err(_) => self.full_row(kind, row, strings.row(row), at, hits, c),
                    Ok(_) => {
                        let s = strings.row(row);
                        let name = s.strip_suffix(b".").unwrap_or(s);
                        found.clear();
                        while let Some(&(_, k, slot)) = slots.get(next).filter(|x| x.0 == r) {
                            next += 1;
                            // Probe k: 0 the exact name, k >= 1 the suffix after k - 1 dots.
                            let (tag, text) = if k == 0 {
                                (TAG_DOMAIN, name)
                            } else {
                                (TAG_SUFFIX, suffix(name, k - 1))
                            };
                            for rec in ix.names.records(slot) {
                                if rec.tag == tag && rec.text.eq_ignore_ascii_case(text) {
                                    found.extend(
                                        rec.entries
                                            .iter()
                                            .copied()
                                            .filter(|&e| ix.valid(entries, e, at)),
                                    );
                                }
                            }
                        }
                        self.emit(kind, row, s, None, &found, hits, c);
                    }
                }
            }
            start = end;
        }
    }
}

/// Warms the first bytes of `rows` (the next batch: their value bytes may lie anywhere, a
/// dictionary-decoded column's views point all over its buffers).
#[inline]
fn prefetch_rows(strings: &Strings<'_>, rows: std::ops::Range<usize>) {
    for row in rows {
        if let Some(b) = strings.row(row).first() {
            probe::prefetch(b);
        }
    }
}

/// `name` after its first `dots` dots (the whole name for 0).
fn suffix(name: &[u8], dots: usize) -> &[u8] {
    let mut from = 0;
    for _ in 0..dots {
        from += name
            .get(from..)
            .and_then(|r| r.iter().position(|b| *b == b'.'))
            .map_or(0, |p| p + 1);
    }
    name.get(from..).unwrap_or(&[])
}
