//! Twin of `shaders/features/ngrams.wgsl`: signed hashing of byte n-grams into `dims` buckets.

/// vigil's n-gram hash: FNV-1a 32-bit of the bytes, then murmur3's fmix32 finaliser.
/// Stable across versions and backends: bucket = hash & (dims - 1), sign = bit 31 (1 = -1).
pub fn ngram_hash(gram: &[u8]) -> u32 {
    let mut h: u32 = 2_166_136_261;
    for &b in gram {
        h = (h ^ b as u32).wrapping_mul(16_777_619);
    }
    fmix32(h)
}

fn fmix32(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^= h >> 16;
    h
}

/// `out` holds `dims` f32 values.
pub(crate) fn row(s: &[u8], n: usize, out: &mut [f32]) {
    out.fill(0.0);
    let dims = out.len();
    if n == 0 || s.len() < n {
        return;
    }
    for gram in s.windows(n) {
        let h = ngram_hash(gram);
        let bucket = (h as usize) & (dims - 1);
        if h & 0x8000_0000 == 0 {
            out[bucket] += 1.0;
        } else {
            out[bucket] -= 1.0;
        }
    }
}
