//! Twin of `shaders/aggregate/hll_hash.wgsl`: the 32-bit hash of a 64-bit value code and its
//! HyperLogLog update `(register << 8) | rank` for 2^12 registers.

/// u32 words of output per value.
pub(crate) const WORDS: usize = 2;

fn fmix32(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

/// Hash and packed register update of `code` into `out` (2 words).
pub(crate) fn row(code: i64, out: &mut [u32]) {
    let (lo, hi) = (code as u64 as u32, ((code as u64) >> 32) as u32);
    row_of_hash(fmix32(lo ^ fmix32(hi ^ 0x9e37_79b9)), out);
}

/// The words of a value whose hash is `h`.
pub(crate) fn row_of_hash(h: u32, out: &mut [u32]) {
    let reg = h >> 20;
    let rank = (h << 12).leading_zeros().min(20) + 1;
    out[0] = h;
    out[1] = (reg << 8) | rank;
}
