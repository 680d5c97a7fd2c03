//! The CPU's exact indexes (the one-pass path of `direct`): IPv4 networks as exact prefix
//! sets, hashes as byte sets, domain names with their text beside their entries, and one
//! byte per entry saying whether it is live and whether it has validity times (so a hit is
//! checked without touching the entry). Built on first use after an addition, like the probe
//! index; a removal clears the entry's byte in place.

use std::hash::BuildHasher;

use super::hex::HexSets;
use super::index::live_nets;
use super::names::NameSet;
use super::table::Entry;
use crate::cpu::intel_v4::V4Sets;

/// Entry flags: removed (or not indexed), live with no validity times, live with times.
const DEAD: u8 = 0;
const ALWAYS: u8 = 1;
const TIMED: u8 = 2;

/// See the module docs.
#[derive(Clone, Debug, Default)]
pub(crate) struct CpuIndex {
    pub v4: V4Sets,
    pub hex: HexSets,
    pub names: NameSet,
    flags: Vec<u8>,
}

impl CpuIndex {
    /// The indexes of the live entries of `entries`.
    pub(crate) fn build(entries: &[Entry]) -> Self {
        let r = std::collections::hash_map::RandomState::new().hash_one(0x5eed_u64);
        let seed = [r as u32, (r >> 32) as u32];
        let mut lens: Vec<u32> = Vec::new();
        let nets: Vec<(u128, u32, u32)> = live_nets(entries)
            .inspect(|&(_, len, _)| {
                if !lens.contains(&len) {
                    lens.push(len);
                }
            })
            .collect();
        lens.sort_unstable_by(|a, b| b.cmp(a));
        let flags = entries
            .iter()
            .map(
                |e| match (e.live, e.valid_from.is_some() || e.valid_until.is_some()) {
                    (false, _) => DEAD,
                    (true, false) => ALWAYS,
                    (true, true) => TIMED,
                },
            )
            .collect();
        let (v4, (hex, names)) = rayon::join(
            || V4Sets::build(&lens, &nets),
            || {
                rayon::join(
                    || HexSets::build(entries, r),
                    || NameSet::build(entries, seed),
                )
            },
        );
        CpuIndex {
            v4,
            hex,
            names,
            flags,
        }
    }

    /// Whether entry `i` of `entries` (the entries this index was built from, entries
    /// removed since marked by [`CpuIndex::remove`]) is in force at `at`.
    #[inline]
    pub(crate) fn valid(&self, entries: &[Entry], i: u32, at: Option<i64>) -> bool {
        match self.flags.get(i as usize) {
            Some(&ALWAYS) => true,
            Some(&TIMED) => entries.get(i as usize).is_some_and(|e| e.valid_at(at)),
            _ => false,
        }
    }

    /// Marks entry `i` removed.
    pub(crate) fn remove(&mut self, i: u32) {
        if let Some(f) = self.flags.get_mut(i as usize) {
            *f = DEAD;
        }
    }

    /// Bytes held.
    pub(crate) fn memory_bytes(&self) -> usize {
        self.v4.memory_bytes()
            + self.hex.memory_bytes()
            + self.names.memory_bytes()
            + self.flags.capacity()
    }
}
