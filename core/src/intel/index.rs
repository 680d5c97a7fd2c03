//! The probe index: every live indicator key (network, domain, domain suffix, hash, URL,
//! e-mail) as a 64-bit fingerprint in one open-addressing table, the layout the GPU kernel
//! and its CPU twin (`crate::cpu::intel_probe`) read. Built on the host from the table, keyed
//! with a fresh random seed per build (no one can aim collisions at it), rebuilt lazily after
//! a change. A slot names a run of `members` (entry indices sharing the fingerprint); hits are
//! always verified against the stored entry, so a fingerprint collision costs a comparison,
//! never a wrong match.

use std::hash::BuildHasher;

use super::normalize::IndicatorKind;
use super::table::Entry;
use crate::cpu::intel_probe::{
    ProbeTable, TAG_DOMAIN, TAG_EMAIL, TAG_MD5, TAG_NET, TAG_SHA1, TAG_SHA256, TAG_SUFFIX, TAG_URL,
    mask128, net_fingerprint, text_fingerprint,
};
use crate::cpu::intel_v4::V4Sets;

/// The live address and CIDR entries of `entries`: (network bits masked to the prefix,
/// prefix length, entry index), in entry order.
pub(crate) fn live_nets(entries: &[Entry]) -> impl Iterator<Item = (u128, u32, u32)> + '_ {
    entries
        .iter()
        .enumerate()
        .filter(|(_, e)| e.live && kind_tag(e.kind).is_some())
        .filter_map(|(i, e)| e.net().map(|n| (i, n)))
        .map(|(i, (bits, len))| {
            let len = u32::from(len);
            (bits & mask128(len), len, i as u32)
        })
}

/// The tag of an indicator kind's key space (`None`: substrings, not hashed).
pub(crate) fn kind_tag(kind: IndicatorKind) -> Option<u32> {
    Some(match kind {
        IndicatorKind::Ip | IndicatorKind::Cidr => TAG_NET,
        IndicatorKind::Domain => TAG_DOMAIN,
        IndicatorKind::DomainSuffix => TAG_SUFFIX,
        IndicatorKind::Md5 => TAG_MD5,
        IndicatorKind::Sha1 => TAG_SHA1,
        IndicatorKind::Sha256 => TAG_SHA256,
        IndicatorKind::Url => TAG_URL,
        IndicatorKind::Email => TAG_EMAIL,
        IndicatorKind::Substring => return None,
    })
}

/// Host-built probe index (see the module docs).
#[derive(Clone, Debug, Default)]
pub(crate) struct ProbeIndex {
    /// 4 words per slot: fingerprint low, high, first member, member count (0 = empty).
    pub slots: Vec<u32>,
    /// Entry indices, grouped by fingerprint.
    pub members: Vec<u32>,
    /// Prefix lengths held (128-bit space), longest first.
    pub lens: Vec<u32>,
    pub seed: [u32; 2],
    pub max_probe: u32,
    /// The IPv4 networks again as exact sets, for the CPU.
    pub v4: V4Sets,
}

/// `n` zeroed words whose pages Linux may back with huge pages: random probes into a table
/// of tens of MiB then miss the TLB far less often.
fn table_words(n: usize) -> Vec<u32> {
    crate::cpu::huge_page_words(n)
}

fn random_seed() -> [u32; 2] {
    let r = std::collections::hash_map::RandomState::new().hash_one(0x1d7e_u64);
    [r as u32, (r >> 32) as u32]
}

impl ProbeIndex {
    /// The index of the live entries of `entries`.
    pub(crate) fn build(entries: &[Entry]) -> Self {
        let seed = random_seed();
        let mut keys: Vec<(u64, u32)> = Vec::with_capacity(entries.len());
        let mut lens: Vec<u32> = Vec::new();
        for (i, e) in entries.iter().enumerate() {
            if !e.live {
                continue;
            }
            let Some(tag) = kind_tag(e.kind) else {
                continue;
            };
            let fp = match e.net() {
                Some((bits, len)) => {
                    let len = u32::from(len);
                    if !lens.contains(&len) {
                        lens.push(len);
                    }
                    net_fingerprint(seed, bits & mask128(len), len)
                }
                None => text_fingerprint(seed, e.value.as_bytes(), tag),
            };
            keys.push(((u64::from(fp[1]) << 32) | u64::from(fp[0]), i as u32));
        }
        lens.sort_unstable_by(|a, b| b.cmp(a));
        keys.sort_unstable();
        let groups = keys.chunk_by(|a, b| a.0 == b.0).count();
        // Load factor between 1/3 and 2/3: short linear probes, 16-byte slots.
        let n = (groups + groups / 2).next_power_of_two().max(16);
        let mut slots = table_words(4 * n);
        let members: Vec<u32> = keys.iter().map(|k| k.1).collect();
        let mut max_probe = 0u32;
        let mut first = 0usize;
        for g in keys.chunk_by(|a, b| a.0 == b.0) {
            let fp = g[0].0;
            let mut at = (fp as u32 as usize) & (n - 1);
            let mut dist = 0u32;
            while slots[4 * at + 3] != 0 {
                at = (at + 1) & (n - 1);
                dist += 1;
            }
            max_probe = max_probe.max(dist);
            slots[4 * at] = fp as u32;
            slots[4 * at + 1] = (fp >> 32) as u32;
            slots[4 * at + 2] = first as u32;
            slots[4 * at + 3] = g.len() as u32;
            first += g.len();
        }
        let nets: Vec<(u128, u32, u32)> = live_nets(entries).collect();
        let v4 = V4Sets::build(&lens, &nets);
        ProbeIndex {
            slots,
            members,
            lens,
            seed,
            max_probe,
            v4,
        }
    }

    /// The view the kernel and its twin read.
    pub(crate) fn table(&self) -> ProbeTable<'_> {
        ProbeTable {
            slots: &self.slots,
            seed: self.seed,
            max_probe: self.max_probe,
            lens: &self.lens,
            v4: Some(&self.v4),
        }
    }

    /// Entry indices stored under fingerprint `fp` (candidates: verify before use).
    pub(crate) fn candidates(&self, fp: [u32; 2]) -> &[u32] {
        let Some(slot) = self.table().lookup(fp) else {
            return &[];
        };
        let first = self.slots.get(4 * slot + 2).copied().unwrap_or(0) as usize;
        let count = self.slots.get(4 * slot + 3).copied().unwrap_or(0) as usize;
        self.members.get(first..first + count).unwrap_or(&[])
    }

    /// Bytes held.
    pub(crate) fn memory_bytes(&self) -> usize {
        4 * (self.slots.capacity() + self.members.capacity() + self.lens.capacity())
            + self.v4.memory_bytes()
    }
}
