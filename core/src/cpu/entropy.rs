//! Twin of `shaders/features/entropy.wgsl`: Shannon entropy of the bytes, in bits, as f32 bits.

pub(crate) const WORDS: usize = 1;

pub(crate) fn row(s: &[u8], out: &mut [u32]) {
    let mut counts = [0u32; 256];
    for &b in s {
        counts[b as usize] += 1;
    }
    let n = s.len() as f32;
    let mut h = 0.0f32;
    for &c in &counts {
        if c > 0 {
            let p = c as f32 / n;
            h -= p * p.log2();
        }
    }
    out[0] = h.to_bits();
}
