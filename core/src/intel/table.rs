//! The indicator table, built on the host: entries plus hash indexes. Networks live in one hash
//! map per prefix length (probed longest first, so the longest prefix wins); every other kind
//! in one map from a 64-bit hash of (kind, text) to the head of a chain of entries sharing
//! that hash (collisions are resolved by comparing the text); substrings in an Aho-Corasick
//! automaton rebuilt lazily after a change. Adding or removing an entry touches only its own
//! keys: no rebuild of everything.

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;
use std::sync::OnceLock;

use aho_corasick::AhoCorasick;

use super::cpu_index::CpuIndex;
use super::index::ProbeIndex;
use super::normalize::{IndicatorKind, prefix_mask};

/// No entry.
pub(crate) const NONE: u32 = u32::MAX;

/// One stored indicator.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Entry {
    pub value: Box<str>,
    pub kind: IndicatorKind,
    pub id: Option<Box<str>>,
    pub source: u32,
    pub confidence: Option<u8>,
    pub valid_from: Option<i64>,
    pub valid_until: Option<i64>,
    /// The network (address bits, prefix length) as two 8-aligned halves and a length
    /// ([`NO_NET`]: none), read through [`Entry::net`]: an `Option<(u128, u8)>` would take 48
    /// bytes of every entry (16-byte alignment), these take 17.
    net_hi: u64,
    net_lo: u64,
    net_len: u8,
    pub live: bool,
    next: u32,
}

/// `net_len` of an entry that is not a network.
const NO_NET: u8 = u8::MAX;

impl Entry {
    /// Builds a live entry.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        value: String,
        kind: IndicatorKind,
        id: Option<String>,
        source: u32,
        confidence: Option<u8>,
        valid_from: Option<i64>,
        valid_until: Option<i64>,
        net: Option<(u128, u8)>,
    ) -> Self {
        Entry {
            value: value.into_boxed_str(),
            kind,
            id: id.map(String::into_boxed_str),
            source,
            confidence,
            valid_from,
            valid_until,
            net_hi: net.map_or(0, |n| (n.0 >> 64) as u64),
            net_lo: net.map_or(0, |n| n.0 as u64),
            net_len: net.map_or(NO_NET, |n| n.1),
            live: true,
            next: NONE,
        }
    }

    /// The network (masked address bits, prefix length) of an `ip`/`cidr` entry.
    #[inline]
    pub(crate) fn net(&self) -> Option<(u128, u8)> {
        (self.net_len != NO_NET).then(|| {
            (
                (u128::from(self.net_hi) << 64) | u128::from(self.net_lo),
                self.net_len,
            )
        })
    }

    /// Whether the entry is in force at `at` (ns since the epoch; `None` = always).
    pub(crate) fn valid_at(&self, at: Option<i64>) -> bool {
        self.live
            && match at {
                None => true,
                Some(t) => {
                    self.valid_from.is_none_or(|f| f <= t) && self.valid_until.is_none_or(|u| t < u)
                }
            }
    }
}

/// Hash of (kind, text) for the string index: fixed seed so saved tables agree across runs.
pub(crate) fn key_hash(kind: IndicatorKind, text: &str) -> u64 {
    foldhash::fast::FixedState::with_seed(0x5eed_1a7e1).hash_one((kind as u8, text.as_bytes()))
}

type Map<K> = HashMap<K, u32, foldhash::fast::FixedState>;

/// Entries and their indexes.
#[derive(Default)]
pub(crate) struct Table {
    pub entries: Vec<Entry>,
    live: usize,
    nets: BTreeMap<u8, Map<u128>>,
    keys: Map<u64>,
    substrings: Vec<u32>,
    automaton: OnceLock<Option<AhoCorasick>>,
    index: OnceLock<ProbeIndex>,
    cpu: OnceLock<CpuIndex>,
}

impl Clone for Table {
    fn clone(&self) -> Self {
        Table {
            entries: self.entries.clone(),
            live: self.live,
            nets: self.nets.clone(),
            keys: self.keys.clone(),
            substrings: self.substrings.clone(),
            automaton: OnceLock::new(),
            index: self.index.clone(),
            cpu: self.cpu.clone(),
        }
    }
}

impl Table {
    /// Live entries.
    pub(crate) fn len(&self) -> usize {
        self.live
    }

    fn head_mut(&mut self, e: &Entry) -> Option<&mut u32> {
        Some(match (e.kind, e.net()) {
            (IndicatorKind::Substring, _) => return None,
            (_, Some((bits, len))) => self
                .nets
                .entry(len)
                .or_default()
                .entry(bits & prefix_mask(len))
                .or_insert(NONE),
            _ => self.keys.entry(key_hash(e.kind, &e.value)).or_insert(NONE),
        })
    }

    fn head(&self, e: &Entry) -> u32 {
        match e.net() {
            Some((bits, len)) => self
                .nets
                .get(&len)
                .and_then(|m| m.get(&bits))
                .copied()
                .unwrap_or(NONE),
            None => self.key_head(e.kind, &e.value),
        }
    }

    fn key_head(&self, kind: IndicatorKind, text: &str) -> u32 {
        self.keys
            .get(&key_hash(kind, text))
            .copied()
            .unwrap_or(NONE)
    }

    /// Entries of the chain starting at `head`.
    pub(crate) fn chain(&self, head: u32) -> impl Iterator<Item = (u32, &Entry)> {
        let mut at = head;
        std::iter::from_fn(move || {
            let e = self.entries.get(at as usize)?;
            let i = at;
            at = e.next;
            Some((i, e))
        })
    }

    /// The entry with the same kind, value, source and id, if stored and live.
    pub(crate) fn find_same(&self, e: &Entry) -> Option<u32> {
        self.chain(self.head(e))
            .find(|(_, x)| {
                x.live
                    && x.kind == e.kind
                    && x.value == e.value
                    && x.source == e.source
                    && x.id == e.id
            })
            .map(|(i, _)| i)
    }

    /// The probe index of the live entries, built on first use after a change. Removals
    /// keep it (hits are checked against `live`); additions rebuild it.
    pub(crate) fn index(&self) -> &ProbeIndex {
        self.index.get_or_init(|| ProbeIndex::build(&self.entries))
    }

    /// The CPU's exact indexes of the live entries, built on first use after an addition;
    /// removals mark their entries in place.
    pub(crate) fn cpu_index(&self) -> &CpuIndex {
        self.cpu.get_or_init(|| CpuIndex::build(&self.entries))
    }

    /// Room for `more` entries without regrowing (a Vec doubling at 10M entries would hold
    /// ~0.7 GiB of spare capacity).
    pub(crate) fn reserve(&mut self, more: usize) {
        self.entries.reserve(more);
    }

    /// Adds an entry (the caller checked [`Table::find_same`]); returns its index.
    pub(crate) fn push(&mut self, mut e: Entry) -> u32 {
        let idx = self.entries.len() as u32;
        self.index = OnceLock::new();
        self.cpu = OnceLock::new();
        if e.kind == IndicatorKind::Substring {
            self.substrings.push(idx);
            self.automaton = OnceLock::new();
        } else if let Some(head) = self.head_mut(&e) {
            e.next = *head;
            *head = idx;
        }
        self.entries.push(e);
        self.live += 1;
        idx
    }

    /// Marks entry `i` removed (its slot stays so indexes stay valid; `compact` reclaims).
    pub(crate) fn remove(&mut self, i: u32) {
        if let Some(e) = self.entries.get_mut(i as usize)
            && e.live
        {
            e.live = false;
            self.live -= 1;
            if let Some(cpu) = self.cpu.get_mut() {
                cpu.remove(i);
            }
            if e.kind == IndicatorKind::Substring {
                self.substrings.retain(|&s| s != i);
                self.automaton = OnceLock::new();
            }
        }
    }

    /// Live entries of `kind` whose value is `text` (string kinds).
    pub(crate) fn find_key<'a>(
        &'a self,
        kind: IndicatorKind,
        text: &'a str,
    ) -> impl Iterator<Item = (u32, &'a Entry)> + 'a {
        self.chain(self.key_head(kind, text))
            .filter(move |(_, e)| e.live && e.kind == kind && &*e.value == text)
    }

    /// Entries of the longest prefix holding `bits` with an entry valid at `at`.
    pub(crate) fn find_net(&self, bits: u128, at: Option<i64>) -> Vec<u32> {
        for (len, map) in self.nets.iter().rev() {
            if let Some(&head) = map.get(&(bits & prefix_mask(*len))) {
                let found: Vec<u32> = self
                    .chain(head)
                    .filter(|(_, e)| e.valid_at(at) && e.net().is_some_and(|(_, l)| l == *len))
                    .map(|(i, _)| i)
                    .collect();
                if !found.is_empty() {
                    return found;
                }
            }
        }
        Vec::new()
    }

    /// Live entries of exactly the network `bits/len`.
    pub(crate) fn find_prefix(&self, bits: u128, len: u8) -> Vec<u32> {
        let head = self
            .nets
            .get(&len)
            .and_then(|m| m.get(&(bits & prefix_mask(len))))
            .copied()
            .unwrap_or(NONE);
        self.chain(head)
            .filter(|(_, e)| e.live && e.net() == Some((bits & prefix_mask(len), len)))
            .map(|(i, _)| i)
            .collect()
    }

    /// Prefix lengths present (in the 128-bit space).
    pub(crate) fn prefix_lengths(&self) -> Vec<u8> {
        self.nets.keys().copied().collect()
    }

    /// Substring entries found in `text` (each once), ASCII case-insensitive.
    pub(crate) fn find_substrings(&self, text: &[u8]) -> Vec<u32> {
        let auto = self.automaton.get_or_init(|| {
            let pats: Vec<&[u8]> = self
                .substrings
                .iter()
                .filter_map(|&i| self.entries.get(i as usize))
                .map(|e| e.value.as_bytes())
                .collect();
            if pats.is_empty() {
                return None;
            }
            AhoCorasick::builder()
                .ascii_case_insensitive(true)
                .build(pats)
                .ok()
        });
        let Some(auto) = auto else {
            return Vec::new();
        };
        let mut out: Vec<u32> = auto
            .find_overlapping_iter(text)
            .filter_map(|m| self.substrings.get(m.pattern().as_usize()).copied())
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Drops removed entries and rebuilds the indexes (after many removals).
    pub(crate) fn compact(&mut self) {
        let entries = std::mem::take(&mut self.entries);
        *self = Table::default();
        for mut e in entries.into_iter().filter(|e| e.live) {
            e.next = NONE;
            self.push(e);
        }
    }

    /// Bytes held by the table (entries, their heap text, index maps), an estimate.
    pub(crate) fn memory_bytes(&self) -> usize {
        let entry = std::mem::size_of::<Entry>();
        let text: usize = self
            .entries
            .iter()
            .map(|e| e.value.len() + e.id.as_ref().map_or(0, |i| i.len()))
            .sum();
        // hashbrown: key + value + 1 control byte per bucket, buckets ~ 8/7 of the items.
        let map = |items: usize, kv: usize| items * (kv + 1) * 8 / 7;
        let nets: usize = self.nets.values().map(|m| map(m.capacity(), 16 + 4)).sum();
        let index = self.index.get().map_or(0, ProbeIndex::memory_bytes)
            + self.cpu.get().map_or(0, CpuIndex::memory_bytes);
        self.entries.capacity() * entry + text + nets + map(self.keys.capacity(), 8 + 4) + index
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_is_compact_and_keeps_its_network() {
        // 10M entries: every 16 bytes of an entry is 160 MB.
        assert!(
            std::mem::size_of::<Entry>() <= 96,
            "{}",
            std::mem::size_of::<Entry>()
        );
        let net = (u128::MAX << 100, 28u8);
        let e = Entry::new(
            "x".into(),
            IndicatorKind::Cidr,
            None,
            0,
            None,
            None,
            None,
            Some(net),
        );
        assert_eq!(e.net(), Some(net));
        let d = Entry::new(
            "a.b".into(),
            IndicatorKind::Domain,
            None,
            0,
            None,
            None,
            None,
            None,
        );
        assert_eq!(d.net(), None);
    }
}
