//! Twin of `shaders/features/entropy.wgsl`: Shannon entropy of the bytes in bits, as f32 bits,
//! computed as log2(n) - (1/n) * sum over byte values (ascending) of c * log2(c).
//!
//! Same terms, same order as the shader. Two shortcuts that change no value: short strings
//! are sorted on the stack instead of histogrammed (the runs come out in ascending byte
//! order), and c * log2(c) for small c comes from a table filled with the same f32 arithmetic.

use std::sync::OnceLock;

pub(crate) const WORDS: usize = 1;

const SHORT: usize = 64;
const TABLE: usize = 1024;

fn xlogx(c: u32) -> f32 {
    static T: OnceLock<Vec<f32>> = OnceLock::new();
    let t = T.get_or_init(|| (0..TABLE).map(|c| (c as f32) * (c as f32).log2()).collect());
    match t.get(c as usize) {
        Some(&v) => v,
        None => (c as f32) * (c as f32).log2(),
    }
}

pub(crate) fn row(s: &[u8], out: &mut [u32]) {
    if s.is_empty() {
        out[0] = 0f32.to_bits();
        return;
    }
    let mut acc = 0.0f32;
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
            acc += xlogx((j - i) as u32);
            i = j;
        }
    } else {
        let mut counts = [0u32; 256];
        for &b in s {
            counts[b as usize] += 1;
        }
        for &c in counts.iter().filter(|&&c| c > 0) {
            acc += xlogx(c);
        }
    }
    let n = s.len() as f32;
    out[0] = (n.log2() - acc / n).max(0.0).to_bits();
}
