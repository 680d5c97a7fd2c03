//! Twin of `shaders/features/char_classes.wgsl`: 10 class counts of the bytes (see the shader
//! for their order and meaning).

pub(crate) const WORDS: usize = 10;

fn is_vowel(b: u8) -> bool {
    matches!(b | 0x20, b'a' | b'e' | b'i' | b'o' | b'u')
}

pub(crate) fn row(s: &[u8], out: &mut [u32]) {
    let c = &mut out[..WORDS];
    c.fill(0);
    let mut run = 0u32;
    let mut hex = 1u32;
    for &b in s {
        let digit = b.is_ascii_digit();
        let lower = b.is_ascii_lowercase();
        let upper = b.is_ascii_uppercase();
        c[0] += digit as u32;
        c[1] += lower as u32;
        c[2] += upper as u32;
        if b == b'.' {
            c[3] += 1;
        } else if b == b'-' {
            c[4] += 1;
        } else if b.is_ascii_punctuation() {
            c[5] += 1;
        }
        c[6] += (b >= 0x80) as u32;
        let vowel = is_vowel(b);
        c[7] += vowel as u32;
        if (lower || upper) && !vowel {
            run += 1;
            c[8] = c[8].max(run);
        } else {
            run = 0;
        }
        if !b.is_ascii_hexdigit() {
            hex = 0;
        }
    }
    c[9] = if s.is_empty() { 0 } else { hex };
}
