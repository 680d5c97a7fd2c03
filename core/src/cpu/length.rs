//! Twin of `shaders/features/length.wgsl`: `[bytes, code points]` of a string.

pub(crate) const WORDS: usize = 2;

pub(crate) fn row(s: &[u8], out: &mut [u32]) {
    out[0] = s.len() as u32;
    out[1] = s.iter().filter(|&&b| b & 0xc0 != 0x80).count() as u32;
}
