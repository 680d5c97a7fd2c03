//! Twin of `shaders/features/entropy.wgsl`: Shannon entropy of the bytes in bits, as f32 bits,
//! computed as log2(n) - (1/n) * sum over byte values (ascending) of c * log2(c).
//!
//! Same terms, same order as the shader. Two shortcuts that change no value: a bitmap of the
//! byte values present visits only those (in ascending order) instead of all 256 bins, and
//! c * log2(c) for small c comes from a table filled with the same f32 arithmetic.

use std::sync::OnceLock;

pub(crate) const WORDS: usize = 1;

const TABLE: usize = 1024;

/// The tables of c * log2(c) and log2(n) for small c and n, filled with the same f32
/// arithmetic as the values computed past them: read once by a caller that computes many rows.
#[derive(Clone, Copy)]
pub(crate) struct Logs {
    xlogx: &'static [f32],
    log2: &'static [f32],
}

impl Logs {
    /// The tables (filled on first use).
    pub(crate) fn get() -> Self {
        static X: OnceLock<Vec<f32>> = OnceLock::new();
        static L: OnceLock<Vec<f32>> = OnceLock::new();
        Logs {
            xlogx: X.get_or_init(|| (0..TABLE).map(|c| (c as f32) * (c as f32).log2()).collect()),
            log2: L.get_or_init(|| (0..TABLE).map(|n| (n as f32).log2()).collect()),
        }
    }

    /// c * log2(c) in f32.
    #[inline]
    pub(crate) fn xlogx(&self, c: u32) -> f32 {
        match self.xlogx.get(c as usize) {
            Some(&v) => v,
            None => (c as f32) * (c as f32).log2(),
        }
    }

    /// The entropy of a string of `n > 0` bytes whose terms c * log2(c) summed (in ascending
    /// byte order, f32) to `acc`: log2(n) - acc / n, at least 0.
    #[inline]
    pub(crate) fn entropy(&self, acc: f32, n: usize) -> f32 {
        let log2n = match self.log2.get(n) {
            Some(&v) => v,
            None => (n as f32).log2(),
        };
        (log2n - acc / n as f32).max(0.0)
    }
}

pub(crate) fn row(s: &[u8], out: &mut [u32]) {
    row_with(s, out, &mut [0u32; 256]);
}

/// [`row`] with a caller-kept count table, all zero on entry and left all zero on return:
/// only the byte values that occur are reset, instead of clearing 256 counts per row.
pub(crate) fn row_with(s: &[u8], out: &mut [u32], counts: &mut [u32; 256]) {
    if s.is_empty() {
        out[0] = 0f32.to_bits();
        return;
    }
    let logs = Logs::get();
    let mut present = [0u64; 4];
    for &b in s {
        counts[b as usize] += 1;
        present[(b >> 6) as usize] |= 1 << (b & 63);
    }
    // Visit the byte values that occur in ascending order, as the shader's 0..256 loop does.
    let mut acc = 0.0f32;
    for (w, &bits) in present.iter().enumerate() {
        let mut bits = bits;
        while bits != 0 {
            let b = w * 64 + bits.trailing_zeros() as usize;
            acc += logs.xlogx(counts[b]);
            counts[b] = 0;
            bits &= bits - 1;
        }
    }
    out[0] = logs.entropy(acc, s.len()).to_bits();
}
