//! Exact IPv4 prefix sets for the CPU twin of the probe kernel (`intel_probe`): for an IPv4
//! row it answers the kernel's question — which of the table's prefix lengths hold the
//! row's network — without hashing: one bit test per length up to /24 (a bitmap of `2^len`
//! bits, at most 2 MiB for /24), a /24 filter then a hash map for the longer ones, and a
//! constant per length at or above the IPv4-mapped prefix (/96 in 128-bit space). The GPU
//! answers the same question by 64-bit fingerprint; both are verified by the host, and
//! `rows_equal_row_with_v4_sets` checks the two give the same masks.
//!
//! The sets also name the entries of each network (exact, no fingerprint to verify): a
//! bitmap's set bits are ranked (a running count per 64-bit word), the rank indexes the
//! network's run in one `members` array; the hash maps hold the run directly. The host
//! resolves an IPv4 row's hits from these runs.

use std::collections::HashMap;

/// Bit `i` of a mask per prefix length of the table (`lens`, 128-bit space, longest first),
/// and the entries of every network held.
#[derive(Clone, Debug, Default)]
pub(crate) struct V4Sets {
    /// Per length of the table: how an IPv4 row's bit is decided.
    per_len: Vec<LenSet>,
    /// Bit `v4 >> 8` set when some network longer than /24 lies in that /24.
    long24: Vec<u64>,
    /// Entry indices grouped by (length, network), each run in entry order.
    members: Vec<u32>,
}

/// A run of `members`: first index, count.
type Run = (u32, u32);

#[derive(Clone, Debug)]
enum LenSet {
    /// Length at or above /96 (128-bit): the same answer for every IPv4-mapped address.
    Const(Option<Run>),
    /// IPv4 length 1..=24: bit `v4 >> (32 - len)`; `rank[w]` = set bits before word `w`;
    /// the `k`-th set bit's run is `members[starts[k]..starts[k + 1]]`.
    Bits {
        len: u32,
        bits: Vec<u64>,
        rank: Vec<u32>,
        starts: Vec<u32>,
    },
    /// IPv4 length 25..=32: masked networks held and their runs.
    Set(u32, HashMap<u32, Run, foldhash::fast::FixedState>),
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
    /// network as (masked 128-bit address, length, entry index).
    pub(crate) fn build(lens: &[u32], nets: &[(u128, u32, u32)]) -> Self {
        let mut long24 = Vec::new();
        let mut members = Vec::new();
        let per_len = lens
            .iter()
            .map(|&len| {
                if len <= 96 {
                    let want = MAPPED & super::intel_probe::mask128(len);
                    let first = members.len() as u32;
                    members.extend(
                        nets.iter()
                            .filter(|(b, l, _)| *l == len && *b == want)
                            .map(|n| n.2),
                    );
                    let count = members.len() as u32 - first;
                    return LenSet::Const((count > 0).then_some((first, count)));
                }
                let v4len = len - 96;
                let mut ours: Vec<(u32, u32)> = nets
                    .iter()
                    .filter(|(b, l, _)| *l == len && b >> 32 == 0xffff)
                    .map(|(b, _, e)| (*b as u32, *e))
                    .collect();
                ours.sort_unstable();
                if v4len <= 24 {
                    let words = (1usize << v4len).div_ceil(64);
                    let mut bits = vec![0u64; words];
                    let mut starts = Vec::new();
                    let mut last = None;
                    for &(net, e) in &ours {
                        let bit = net >> (32 - v4len);
                        if last != Some(bit) {
                            set(&mut bits, bit);
                            starts.push(members.len() as u32);
                            last = Some(bit);
                        }
                        members.push(e);
                    }
                    starts.push(members.len() as u32);
                    let mut rank = Vec::with_capacity(words);
                    let mut seen = 0u32;
                    for w in &bits {
                        rank.push(seen);
                        seen += w.count_ones();
                    }
                    LenSet::Bits {
                        len: v4len,
                        bits,
                        rank,
                        starts,
                    }
                } else {
                    if long24.is_empty() {
                        long24 = vec![0u64; (1usize << 24) / 64];
                    }
                    let mut held: HashMap<u32, Run, _> = HashMap::default();
                    for g in ours.chunk_by(|a, b| a.0 == b.0) {
                        set(&mut long24, g[0].0 >> 8);
                        held.insert(g[0].0, (members.len() as u32, g.len() as u32));
                        members.extend(g.iter().map(|x| x.1));
                    }
                    LenSet::Set(v4len, held)
                }
            })
            .collect();
        V4Sets {
            per_len,
            long24,
            members,
        }
    }

    /// The probe mask of IPv4 address `v4` (bit `i` for the table's `i`-th length).
    #[inline]
    pub(crate) fn mask(&self, v4: u32) -> u32 {
        let long = test(&self.long24, v4 >> 8);
        self.per_len.iter().enumerate().fold(0, |m, (i, s)| {
            let hit = match s {
                LenSet::Const(r) => r.is_some(),
                LenSet::Bits { len, bits, .. } => test(bits, v4 >> (32 - len)),
                LenSet::Set(l, held) => long && held.contains_key(&(v4 & (u32::MAX << (32 - l)))),
            };
            if hit { m | 1 << i } else { m }
        })
    }

    /// Entry indices of the network of the table's `i`-th length holding IPv4 address `v4`
    /// (empty when none).
    #[inline]
    pub(crate) fn entries(&self, i: usize, v4: u32) -> &[u32] {
        let run = match self.per_len.get(i) {
            Some(LenSet::Const(r)) => *r,
            Some(LenSet::Bits {
                len,
                bits,
                rank,
                starts,
            }) => {
                let bit = v4 >> (32 - len);
                let w = (bit >> 6) as usize;
                // The bit first: the rank (another array) only for a network held.
                let word = bits.get(w).copied().unwrap_or(0);
                if word & (1 << (bit & 63)) == 0 {
                    None
                } else {
                    let below = word & ((1u64 << (bit & 63)) - 1);
                    let k = (rank.get(w).copied().unwrap_or(0) + below.count_ones()) as usize;
                    match (starts.get(k), starts.get(k + 1)) {
                        (Some(&a), Some(&b)) => Some((a, b - a)),
                        _ => None,
                    }
                }
            }
            Some(LenSet::Set(l, held)) => held.get(&(v4 & (u32::MAX << (32 - l)))).copied(),
            None => None,
        };
        run.and_then(|(a, n)| self.members.get(a as usize..(a + n) as usize))
            .unwrap_or(&[])
    }

    /// Warms the cache lines [`V4Sets::longest`] reads first for `v4` (a hint only): the
    /// /24 filter of the long networks and the bitmaps too large to stay cached.
    #[inline]
    pub(crate) fn prefetch(&self, v4: u32) {
        if let Some(w) = self.long24.get((v4 >> 14) as usize) {
            super::intel_probe::prefetch(w);
        }
        for s in &self.per_len {
            if let LenSet::Bits { len, bits, .. } = s
                && *len >= 16
                && let Some(w) = bits.get((v4 >> (32 - len) >> 6) as usize)
            {
                super::intel_probe::prefetch(w);
            }
        }
    }

    /// Appends to `out` the entries of the longest network holding IPv4 address `v4` that
    /// has an entry `keep` accepts (those entries only, in run order); nothing when none.
    #[inline]
    pub(crate) fn longest(&self, v4: u32, keep: impl Fn(u32) -> bool, out: &mut Vec<u32>) {
        let long = test(&self.long24, v4 >> 8);
        for (i, s) in self.per_len.iter().enumerate() {
            if matches!(s, LenSet::Set(..)) && !long {
                continue;
            }
            let before = out.len();
            out.extend(self.entries(i, v4).iter().copied().filter(|&e| keep(e)));
            if out.len() > before {
                return;
            }
        }
    }

    /// Bytes held.
    pub(crate) fn memory_bytes(&self) -> usize {
        let sets: usize = self
            .per_len
            .iter()
            .map(|s| match s {
                LenSet::Const(_) => 0,
                LenSet::Bits {
                    bits, rank, starts, ..
                } => 8 * bits.len() + 4 * (rank.len() + starts.len()),
                LenSet::Set(_, h) => 13 * h.capacity(),
            })
            .sum();
        sets + 8 * self.long24.len() + 4 * self.members.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_name_exactly_the_entries_of_each_network() {
        // 10.0.0.0/8 twice (entries 0, 3), 10.1.0.0/16 (1), 10.1.2.128/25 (2), ::/0 (4).
        let v4 = |a: u32| MAPPED | u128::from(a);
        let nets = [
            (v4(0x0a00_0000), 104, 0),
            (v4(0x0a01_0000), 112, 1),
            (v4(0x0a01_0280), 121, 2),
            (v4(0x0a00_0000), 104, 3),
            (0, 0, 4),
        ];
        let lens = [121, 112, 104, 0];
        let s = V4Sets::build(&lens, &nets);
        let a = 0x0a01_0281; // 10.1.2.129
        assert_eq!(s.mask(a), 0b1111);
        assert_eq!(s.entries(0, a), &[2]);
        assert_eq!(s.entries(1, a), &[1]);
        assert_eq!(s.entries(2, a), &[0, 3]);
        assert_eq!(s.entries(3, a), &[4]);
        let b = 0x0a02_0000; // 10.2.0.0: /8 and ::/0 only
        assert_eq!(s.mask(b), 0b1100);
        assert!(s.entries(0, b).is_empty() && s.entries(1, b).is_empty());
        assert_eq!(s.entries(2, b), &[0, 3]);
        assert_eq!(s.mask(0x0b00_0000), 0b1000);
        assert!(s.entries(2, 0x0b00_0000).is_empty());
    }
}
