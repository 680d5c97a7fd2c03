//! Exact sets of hex file hashes for the CPU: every MD5 / SHA-1 / SHA-256 indicator parsed
//! from its hex text to its 16 / 20 / 32 bytes and stored in a flat open-addressing table
//! keyed by those bytes (no text, no fingerprint: a hit is exact, nothing to verify but the
//! entry's validity). An event hash is parsed the same way and probed once.

use super::normalize::IndicatorKind;
use super::table::Entry;
use crate::cpu::intel_probe::prefetch;

/// Nibble value of an ASCII hex digit (either case), or 0xff.
const NIBBLE: [u8; 256] = {
    let mut t = [0xffu8; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        t[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};

/// The `N` bytes of `2 * N` hex digits (either case), or `None`.
#[inline]
pub(crate) fn hex_bytes<const N: usize>(s: &[u8]) -> Option<[u8; N]> {
    if s.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    let mut bad = 0u8;
    for (o, pair) in out.iter_mut().zip(s.chunks_exact(2)) {
        let hi = NIBBLE[usize::from(pair[0])];
        let lo = NIBBLE[usize::from(pair[1])];
        bad |= hi | lo;
        *o = (hi << 4) | (lo & 0x0f);
    }
    (bad & 0xf0 == 0).then_some(out)
}

#[derive(Clone, Copy, Debug)]
struct Slot<const N: usize> {
    key: [u8; N],
    /// First member, member count (0 = empty slot).
    first: u32,
    count: u32,
}

/// Hashes of one length: a power-of-two table of slots, each a key and its run of entries.
#[derive(Clone, Debug)]
pub(crate) struct HexTable<const N: usize> {
    slots: Vec<Slot<N>>,
    members: Vec<u32>,
    seed: u64,
    /// One bit per key (16 bits per key, small enough to stay cached): a clear bit says
    /// the key is not held without touching the slots.
    filter: Vec<u64>,
}

impl<const N: usize> Default for HexTable<N> {
    fn default() -> Self {
        HexTable {
            slots: Vec::new(),
            members: Vec::new(),
            seed: 0,
            filter: Vec::new(),
        }
    }
}

impl<const N: usize> HexTable<N> {
    /// The table of `keys` (key bytes, entry index), any order.
    fn build(mut keys: Vec<([u8; N], u32)>, seed: u64) -> Self {
        keys.sort_unstable();
        let groups = keys.chunk_by(|a, b| a.0 == b.0).count();
        if groups == 0 {
            return Self::default();
        }
        // Load factor at most 1/2: short probes.
        let n = (2 * groups).next_power_of_two().max(16);
        let mut slots = vec![
            Slot {
                key: [0u8; N],
                first: 0,
                count: 0
            };
            n
        ];
        let mut t = HexTable {
            slots: Vec::new(),
            members: keys.iter().map(|k| k.1).collect(),
            seed,
            filter: vec![0u64; (16 * groups).next_power_of_two().div_ceil(64)],
        };
        let mut first = 0u32;
        for g in keys.chunk_by(|a, b| a.0 == b.0) {
            let bit = t.filter_bit(&g[0].0);
            if let Some(w) = t.filter.get_mut(bit >> 6) {
                *w |= 1 << (bit & 63);
            }
            let mut at = t.home(&g[0].0, n);
            while slots.get(at).is_some_and(|s| s.count != 0) {
                at = (at + 1) & (n - 1);
            }
            if let Some(s) = slots.get_mut(at) {
                *s = Slot {
                    key: g[0].0,
                    first,
                    count: g.len() as u32,
                };
            }
            first += g.len() as u32;
        }
        t.slots = slots;
        t
    }

    /// Home slot of `key` in a table of `n` slots: the key's first 8 bytes (uniform for a
    /// real hash) mixed with the seed, so no one can aim keys at one slot.
    #[inline]
    fn home(&self, key: &[u8; N], n: usize) -> usize {
        let mut w = [0u8; 8];
        w.copy_from_slice(key.get(..8).unwrap_or(&[0; 8]));
        let h = (u64::from_le_bytes(w) ^ self.seed).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        (h >> 32) as usize & (n - 1)
    }

    /// The filter bit of `key`: bits 32.. of the mixed key (the home slot takes the top 32).
    #[inline]
    fn filter_bit(&self, key: &[u8; N]) -> usize {
        let mut w = [0u8; 8];
        w.copy_from_slice(key.get(..8).unwrap_or(&[0; 8]));
        let h = (u64::from_le_bytes(w) ^ self.seed).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        (h as u32 as usize) & (64 * self.filter.len()).saturating_sub(1)
    }

    /// Whether `key` may be held (`false`: it is not; a cached bit test).
    #[inline]
    pub(crate) fn may_hold(&self, key: &[u8; N]) -> bool {
        let bit = self.filter_bit(key);
        self.filter
            .get(bit >> 6)
            .is_some_and(|w| w & (1 << (bit & 63)) != 0)
    }

    /// Warms the cache line of `key`'s home slot when the filter lets it through (a hint
    /// only).
    #[inline]
    pub(crate) fn prefetch(&self, key: &[u8; N]) {
        if self.slots.is_empty() || !self.may_hold(key) {
            return;
        }
        if let Some(s) = self.slots.get(self.home(key, self.slots.len())) {
            prefetch(s);
        }
    }

    /// The entries stored under `key` (empty when none).
    #[inline]
    pub(crate) fn get(&self, key: &[u8; N]) -> &[u32] {
        let n = self.slots.len();
        if n == 0 || !self.may_hold(key) {
            return &[];
        }
        let mut at = self.home(key, n);
        loop {
            let Some(s) = self.slots.get(at) else {
                return &[];
            };
            if s.count == 0 {
                return &[];
            }
            if s.key == *key {
                let (a, c) = (s.first as usize, s.count as usize);
                return self.members.get(a..a + c).unwrap_or(&[]);
            }
            at = (at + 1) & (n - 1);
        }
    }

    fn memory_bytes(&self) -> usize {
        std::mem::size_of::<Slot<N>>() * self.slots.capacity()
            + 4 * self.members.capacity()
            + 8 * self.filter.capacity()
    }
}

/// MD5, SHA-1 and SHA-256 indicators as exact byte sets.
#[derive(Clone, Debug, Default)]
pub(crate) struct HexSets {
    pub md5: HexTable<16>,
    pub sha1: HexTable<20>,
    pub sha256: HexTable<32>,
}

impl HexSets {
    /// The sets of the live hash entries of `entries` (a value that is not hex of its
    /// kind's length can match nothing, and is left out).
    pub(crate) fn build(entries: &[Entry], seed: u64) -> Self {
        let (mut a, mut b, mut c) = (Vec::new(), Vec::new(), Vec::new());
        for (i, e) in entries.iter().enumerate().filter(|(_, e)| e.live) {
            let v = e.value.as_bytes();
            let i = i as u32;
            match e.kind {
                IndicatorKind::Md5 => a.extend(hex_bytes::<16>(v).map(|k| (k, i))),
                IndicatorKind::Sha1 => b.extend(hex_bytes::<20>(v).map(|k| (k, i))),
                IndicatorKind::Sha256 => c.extend(hex_bytes::<32>(v).map(|k| (k, i))),
                _ => {}
            }
        }
        HexSets {
            md5: HexTable::build(a, seed),
            sha1: HexTable::build(b, seed),
            sha256: HexTable::build(c, seed),
        }
    }

    /// Bytes held.
    pub(crate) fn memory_bytes(&self) -> usize {
        self.md5.memory_bytes() + self.sha1.memory_bytes() + self.sha256.memory_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_bytes_is_exact_and_case_blind() {
        assert_eq!(hex_bytes::<2>(b"0aFf"), Some([0x0a, 0xff]));
        assert_eq!(hex_bytes::<2>(b"0AfF"), Some([0x0a, 0xff]));
        for bad in [&b"0ag0"[..], b"0a0", b"0a0f0", b" a0f", b"0x0f"] {
            assert_eq!(
                hex_bytes::<2>(bad),
                None,
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        // Every byte: a digit pair decodes iff both are hex digits, to what u8 parsing says.
        for x in 0..=255u8 {
            for y in [b'0', b'f', b'G'] {
                let s = [x, y];
                let want = std::str::from_utf8(&s)
                    .ok()
                    .filter(|t| t.bytes().all(|b| b.is_ascii_hexdigit()))
                    .and_then(|t| u8::from_str_radix(t, 16).ok());
                assert_eq!(hex_bytes::<1>(&s).map(|b| b[0]), want, "{s:?}");
            }
        }
    }

    #[test]
    fn table_finds_every_key_and_only_those() {
        let mut r = crate::rng::SplitMix64(3);
        let keys: Vec<([u8; 16], u32)> = (0..5000u32)
            .map(|i| {
                let mut k = [0u8; 16];
                k[..8].copy_from_slice(&r.next_u64().to_le_bytes());
                k[8..].copy_from_slice(&r.next_u64().to_le_bytes());
                // Every 7th key twice (a run of two entries).
                (k, i)
            })
            .collect();
        let mut all = keys.clone();
        all.extend(keys.iter().step_by(7).map(|(k, i)| (*k, i + 10_000)));
        let t = HexTable::build(all, 99);
        for (j, (k, i)) in keys.iter().enumerate() {
            let want: Vec<u32> = if j % 7 == 0 {
                vec![*i, i + 10_000]
            } else {
                vec![*i]
            };
            assert_eq!(t.get(k), &want[..]);
        }
        let mut other = keys[0].0;
        other[15] ^= 1;
        assert!(t.get(&other).is_empty());
        assert!(HexTable::<16>::default().get(&other).is_empty());
    }
}
