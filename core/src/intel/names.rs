//! Exact sets of domain names for the CPU: every `domain` and `domain_suffix` indicator
//! under the probe kernel's 64-bit fingerprint of its text (so one backward pass over an
//! event name gives the keys of the name and of all its label suffixes), in slots laid out
//! as the kernel's table is (`crate::cpu::intel_probe::ProbeTable`). A slot names a region
//! holding, for each distinct (kind, text) with that fingerprint, the text itself and its
//! entries, side by side: a hit is verified against text in the same cache lines as its
//! entries, never through an entry's own allocation.

use super::normalize::IndicatorKind;
use super::table::Entry;
use crate::cpu::intel_probe::{ProbeTable, TAG_DOMAIN, TAG_SUFFIX, text_fingerprint};

/// Domain names and suffixes: slots (4 words: fingerprint low, high, region start, record
/// count; count 0 = empty) and regions of records `[tag << 16 | len, count, entries..,
/// text bytes padded to words]`.
#[derive(Clone, Debug, Default)]
pub(crate) struct NameSet {
    slots: Vec<u32>,
    regions: Vec<u32>,
    seed: [u32; 2],
    max_probe: u32,
    /// One bit per fingerprint's high word (16 bits per key, small enough to stay cached):
    /// a clear bit says the key is not held without touching the slots.
    filter: Vec<u64>,
}

/// One record of a region: the tag, the text, the entries.
pub(crate) struct Record<'a> {
    pub tag: u32,
    pub text: &'a [u8],
    pub entries: &'a [u32],
}

impl NameSet {
    /// The set of the live domain entries of `entries`, fingerprinted under `seed`.
    pub(crate) fn build(entries: &[Entry], seed: [u32; 2]) -> Self {
        let mut keys: Vec<(u64, u32, &[u8], u32)> = entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.live)
            .filter_map(|(i, e)| {
                let tag = match e.kind {
                    IndicatorKind::Domain => TAG_DOMAIN,
                    IndicatorKind::DomainSuffix => TAG_SUFFIX,
                    _ => return None,
                };
                let t = e.value.as_bytes();
                // Longer than a region record's 16-bit length: no event name is that long.
                if t.len() > usize::from(u16::MAX) {
                    return None;
                }
                let fp = text_fingerprint(seed, t, tag);
                Some((
                    (u64::from(fp[1]) << 32) | u64::from(fp[0]),
                    tag,
                    t,
                    i as u32,
                ))
            })
            .collect();
        // The kernel's fingerprint folds ASCII case: so must the grouping of texts.
        keys.sort_unstable_by(|a, b| {
            (a.0, a.1)
                .cmp(&(b.0, b.1))
                .then_with(|| lower(a.2).cmp(lower(b.2)))
                .then(a.3.cmp(&b.3))
        });
        let groups = keys.chunk_by(|a, b| a.0 == b.0).count();
        if groups == 0 {
            return NameSet {
                seed,
                ..Default::default()
            };
        }
        let n = (groups + groups / 2).next_power_of_two().max(16);
        let mut slots = crate::cpu::huge_page_words(4 * n);
        let mut regions: Vec<u32> = Vec::new();
        let mut max_probe = 0u32;
        let mut filter = vec![0u64; (16 * groups).next_power_of_two().div_ceil(64)];
        let bits = 64 * filter.len();
        for g in keys.chunk_by(|a, b| a.0 == b.0) {
            let fp = g[0].0;
            let bit = (fp >> 32) as usize & (bits - 1);
            if let Some(w) = filter.get_mut(bit >> 6) {
                *w |= 1 << (bit & 63);
            }
            let start = regions.len() as u32;
            let mut records = 0u32;
            for r in g.chunk_by(|a, b| a.1 == b.1 && lower(a.2).eq(lower(b.2))) {
                let (tag, text) = (r[0].1, r[0].2);
                regions.push((tag << 16) | text.len() as u32);
                regions.push(r.len() as u32);
                regions.extend(r.iter().map(|k| k.3));
                regions.extend(text.chunks(4).map(|c| {
                    let mut w = [0u8; 4];
                    w[..c.len()].copy_from_slice(c);
                    u32::from_ne_bytes(w)
                }));
                records += 1;
            }
            let mut at = (fp as u32 as usize) & (n - 1);
            let mut dist = 0u32;
            while slots.get(4 * at + 3).is_some_and(|&c| c != 0) {
                at = (at + 1) & (n - 1);
                dist += 1;
            }
            max_probe = max_probe.max(dist);
            if let Some(s) = slots.get_mut(4 * at..4 * at + 4) {
                s.copy_from_slice(&[fp as u32, (fp >> 32) as u32, start, records]);
            }
        }
        NameSet {
            slots,
            regions,
            seed,
            max_probe,
            filter,
        }
    }

    /// Whether fingerprint `fp` may be held (`false`: it is not; a cached bit test).
    #[inline]
    pub(crate) fn may_hold(&self, fp: [u32; 2]) -> bool {
        let bits = 64 * self.filter.len();
        if bits == 0 {
            return false;
        }
        let bit = fp[1] as usize & (bits - 1);
        self.filter
            .get(bit >> 6)
            .is_some_and(|w| w & (1 << (bit & 63)) != 0)
    }

    /// The view [`crate::cpu::intel_probe::fingerprints`] and lookups read.
    pub(crate) fn table(&self) -> ProbeTable<'_> {
        ProbeTable {
            slots: &self.slots,
            seed: self.seed,
            max_probe: self.max_probe,
            lens: &[],
            v4: None,
        }
    }

    /// Warms the first cache line of the region of `slot`.
    #[inline]
    pub(crate) fn prefetch_region(&self, slot: usize) {
        if let Some(w) = self
            .slots
            .get(4 * slot + 2)
            .and_then(|&s| self.regions.get(s as usize))
        {
            crate::cpu::intel_probe::prefetch(w);
        }
    }

    /// The records of `slot` (a slot the table's lookup returned).
    pub(crate) fn records(&self, slot: usize) -> impl Iterator<Item = Record<'_>> {
        let mut at = self.slots.get(4 * slot + 2).copied().unwrap_or(0) as usize;
        let mut left = self.slots.get(4 * slot + 3).copied().unwrap_or(0);
        std::iter::from_fn(move || {
            if left == 0 {
                return None;
            }
            left -= 1;
            let head = *self.regions.get(at)?;
            let count = *self.regions.get(at + 1)? as usize;
            let len = (head & 0xffff) as usize;
            let entries = self.regions.get(at + 2..at + 2 + count)?;
            let words = self
                .regions
                .get(at + 2 + count..at + 2 + count + len.div_ceil(4))?;
            at += 2 + count + len.div_ceil(4);
            let text = bytemuck::cast_slice::<u32, u8>(words).get(..len)?;
            Some(Record {
                tag: head >> 16,
                text,
                entries,
            })
        })
    }

    /// Bytes held.
    pub(crate) fn memory_bytes(&self) -> usize {
        4 * (self.slots.capacity() + self.regions.capacity()) + 8 * self.filter.capacity()
    }
}

fn lower(t: &[u8]) -> impl Iterator<Item = u8> + '_ {
    t.iter().map(u8::to_ascii_lowercase)
}
