//! Twin of `shaders/features/char_classes.wgsl`: 10 class counts of the bytes (see the shader
//! for their order and meaning). The shader tests each byte with comparisons; here the same
//! tests are done once per byte value into a table of class bits.

pub(crate) const WORDS: usize = 10;

const DIGIT: u16 = 1 << 0;
const LOWER: u16 = 1 << 1;
const UPPER: u16 = 1 << 2;
const DOT: u16 = 1 << 3;
const DASH: u16 = 1 << 4;
const PUNCT: u16 = 1 << 5;
const NON_ASCII: u16 = 1 << 6;
const VOWEL: u16 = 1 << 7;
/// Bits 0..8 are the eight counted classes, in output order.
const COUNTED: usize = 8;
const CONSONANT: u16 = 1 << 8;
const HEX: u16 = 1 << 9;

const fn classes(b: u8) -> u16 {
    let digit = b.is_ascii_digit();
    let lower = b.is_ascii_lowercase();
    let upper = b.is_ascii_uppercase();
    let vowel = matches!(b | 0x20, b'a' | b'e' | b'i' | b'o' | b'u');
    let mut m = 0;
    if digit {
        m |= DIGIT;
    }
    if lower {
        m |= LOWER;
    }
    if upper {
        m |= UPPER;
    }
    if b == b'.' {
        m |= DOT;
    } else if b == b'-' {
        m |= DASH;
    } else if b.is_ascii_punctuation() {
        m |= PUNCT;
    }
    if b >= 0x80 {
        m |= NON_ASCII;
    }
    if vowel {
        m |= VOWEL;
    }
    if (lower || upper) && !vowel {
        m |= CONSONANT;
    }
    if b.is_ascii_hexdigit() {
        m |= HEX;
    }
    m
}

static TABLE: [u16; 256] = {
    let mut t = [0u16; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = classes(b as u8);
        b += 1;
    }
    t
};

/// The eight counted classes of each byte value as 0/1 lanes, so one vector add counts a byte.
static LANES: [[u32; COUNTED]; 256] = {
    let mut t = [[0u32; COUNTED]; 256];
    let mut b = 0;
    while b < 256 {
        let mut k = 0;
        while k < COUNTED {
            t[b][k] = ((TABLE[b] >> k) & 1) as u32;
            k += 1;
        }
        b += 1;
    }
    t
};

/// The eight counted classes of each byte value as all-ones / zero masks: `count & mask`
/// adds a count of that byte value to the classes it belongs to (a histogram of a string's
/// bytes gives its class counts).
static MASKS: [[u32; COUNTED]; 256] = {
    let mut t = [[0u32; COUNTED]; 256];
    let mut b = 0;
    while b < 256 {
        let mut k = 0;
        while k < COUNTED {
            t[b][k] = 0u32.wrapping_sub(LANES[b][k]);
            k += 1;
        }
        b += 1;
    }
    t
};

/// The class masks of byte value `b` (see `MASKS`), in output order.
#[inline]
pub(crate) fn class_masks(b: u8) -> &'static [u32; COUNTED] {
    &MASKS[b as usize]
}

/// Whether byte `b` is an ASCII consonant (the letters of the longest-run output).
#[inline]
pub(crate) fn is_consonant(b: u8) -> bool {
    TABLE[b as usize] & CONSONANT != 0
}

/// Whether byte `b` is a hexadecimal digit (a string of only those is hex).
#[inline]
pub(crate) fn is_hex(b: u8) -> bool {
    TABLE[b as usize] & HEX != 0
}

/// Ratio of a class count to the byte length of its string (0 for an empty string): the
/// value of a ratio output.
pub(crate) fn ratio(count: u32, len: usize) -> f32 {
    if len == 0 {
        0.0
    } else {
        count as f32 / len as f32
    }
}

/// Number of ratio outputs: the first words of [`row`].
pub(crate) const RATIOS: usize = COUNTED;

pub(crate) fn row(s: &[u8], out: &mut [u32]) {
    let mut counts = [0u32; COUNTED];
    let mut run = 0u32;
    let mut longest = 0u32;
    let mut hex = HEX;
    for &b in s {
        let lanes = &LANES[b as usize];
        for k in 0..COUNTED {
            counts[k] += lanes[k];
        }
        let m = TABLE[b as usize];
        run = if m & CONSONANT != 0 { run + 1 } else { 0 };
        longest = longest.max(run);
        hex &= m;
    }
    out[..COUNTED].copy_from_slice(&counts);
    out[8] = longest;
    out[9] = u32::from(!s.is_empty() && hex != 0);
}
