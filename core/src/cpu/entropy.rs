//! Twin of `shaders/features/entropy.wgsl`: Shannon entropy of the bytes, in bits, as f32 bits.
//!
//! The sum runs over byte values in ascending order, as in the shader, so both backends add
//! the same terms in the same order. Short strings are sorted on the stack instead of
//! histogrammed (same counts, same order, no 256-bin sweep).

pub(crate) const WORDS: usize = 1;

const SHORT: usize = 64;

pub(crate) fn row(s: &[u8], out: &mut [u32]) {
    let n = s.len() as f32;
    let mut h = 0.0f32;
    let mut term = |c: u32| {
        let p = c as f32 / n;
        h -= p * p.log2();
    };
    if s.len() <= SHORT {
        let mut buf = [0u8; SHORT];
        let sorted = &mut buf[..s.len()];
        sorted.copy_from_slice(s);
        sorted.sort_unstable();
        let mut i = 0;
        while i < sorted.len() {
            let mut j = i + 1;
            while j < sorted.len() && sorted[j] == sorted[i] {
                j += 1;
            }
            term((j - i) as u32);
            i = j;
        }
    } else {
        let mut counts = [0u32; 256];
        for &b in s {
            counts[b as usize] += 1;
        }
        counts.iter().filter(|&&c| c > 0).for_each(|&c| term(c));
    }
    out[0] = h.to_bits();
}
