//! Exact IPv4 prefix sets for the CPU twin of the probe kernel (`intel_probe`): for an IPv4
//! row it answers the kernel's question — which of the table's prefix lengths hold the
//! row's network — without hashing: one bit test per length up to /24 (a bitmap of `2^len`
//! bits, at most 2 MiB for /24), a /24 filter then a hash set for the longer ones, and a
//! constant per length at or above the IPv4-mapped prefix (/96 in 128-bit space). The GPU
//! answers the same question by 64-bit fingerprint; both are verified by the host, and
//! `rows_equal_row_with_v4_sets` checks the two give the same masks.

use std::collections::HashSet;

/// Bit `i` of a mask per prefix length of the table (`lens`, 128-bit space, longest first).
#[derive(Clone, Debug, Default)]
pub(crate) struct V4Sets {
    /// Per length of the table: how an IPv4 row's bit is decided.
    per_len: Vec<LenSet>,
    /// Bit `v4 >> 8` set when some network longer than /24 lies in that /24.
    long24: Vec<u64>,
}

#[derive(Clone, Debug)]
enum LenSet {
    /// Length at or above /96 (128-bit): the same answer for every IPv4-mapped address.
    Const(bool),
    /// IPv4 length 1..=24: bit `v4 >> (32 - len)`.
    Bits(u32, Vec<u64>),
    /// IPv4 length 25..=32: masked networks held.
    Set(u32, HashSet<u32, foldhash::fast::FixedState>),
}

fn test(bits: &[u64], i: u32) -> bool {
    bits.get((i >> 6) as usize)
        .is_some_and(|w| w & (1 << (i & 63)) != 0)
}

fn set(bits: &mut [u64], i: u32) {
    if let Some(w) = bits.get_mut((i >> 6) as usize) {
        *w |= 1 << (i & 63);
    }
}

/// The top 96 bits of an IPv4-mapped address (`::ffff:0:0`).
const MAPPED: u128 = 0xffff_u128 << 32;

impl V4Sets {
    /// The sets of `lens` (128-bit prefix lengths, the table's order) given every held
    /// network as (masked 128-bit address, length).
    pub(crate) fn build(lens: &[u32], nets: impl Iterator<Item = (u128, u32)> + Clone) -> Self {
        let mut long24 = Vec::new();
        let per_len = lens
            .iter()
            .map(|&len| {
                if len <= 96 {
                    let want = MAPPED & super::intel_probe::mask128(len);
                    return LenSet::Const(nets.clone().any(|(b, l)| l == len && b == want));
                }
                let v4len = len - 96;
                let ours = nets
                    .clone()
                    .filter(move |(b, l)| *l == len && b >> 32 == 0xffff)
                    .map(|(b, _)| b as u32);
                if v4len <= 24 {
                    let mut bits = vec![0u64; (1usize << v4len).div_ceil(64)];
                    for net in ours {
                        set(&mut bits, net >> (32 - v4len));
                    }
                    LenSet::Bits(v4len, bits)
                } else {
                    if long24.is_empty() {
                        long24 = vec![0u64; (1usize << 24) / 64];
                    }
                    let held: HashSet<u32, _> = ours.collect();
                    for net in &held {
                        set(&mut long24, net >> 8);
                    }
                    LenSet::Set(v4len, held)
                }
            })
            .collect();
        V4Sets { per_len, long24 }
    }

    /// The probe mask of IPv4 address `v4` (bit `i` for the table's `i`-th length).
    #[inline]
    pub(crate) fn mask(&self, v4: u32) -> u32 {
        let long = test(&self.long24, v4 >> 8);
        self.per_len.iter().enumerate().fold(0, |m, (i, s)| {
            let hit = match s {
                LenSet::Const(b) => *b,
                LenSet::Bits(l, bits) => test(bits, v4 >> (32 - l)),
                LenSet::Set(l, held) => long && held.contains(&(v4 & (u32::MAX << (32 - l)))),
            };
            if hit { m | 1 << i } else { m }
        })
    }

    /// Bytes held.
    pub(crate) fn memory_bytes(&self) -> usize {
        let sets: usize = self
            .per_len
            .iter()
            .map(|s| match s {
                LenSet::Const(_) => 0,
                LenSet::Bits(_, b) => 8 * b.len(),
                LenSet::Set(_, h) => 5 * h.capacity(),
            })
            .sum();
        sets + 8 * self.long24.len()
    }
}
