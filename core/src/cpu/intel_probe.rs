//! Twin of shaders/match/intel_probe.wgsl: one event value probed against the indicator hash
//! table built on the host (open addressing over 64-bit fingerprints). Per row it returns a
//! status and a mask of the probes whose fingerprint is in the table; the host then verifies
//! those few candidates against the stored indicator text (a fingerprint is never trusted).
//!
//! Probes: an address is probed once per prefix length held (longest first, bit i = the i-th
//! length); a domain once exactly (bit 0) and once per label suffix (bit 1 + j, j counted from
//! the top-level label); a hash once (bit 0). Values the kernel does not normalise itself
//! (non-ASCII, surrounding spaces, IPv6, leading zeros, ...) come back as [`DEFER`] and take
//! the host's full normalisation path, so the result never depends on where a row ran.

/// Probe modes (the column's kind).
pub(crate) const MODE_IP: u32 = 0;
/// Host names.
pub(crate) const MODE_DOMAIN: u32 = 1;
/// Hex file hashes.
pub(crate) const MODE_HASH: u32 = 2;

/// Row statuses.
pub(crate) const OK: u32 = 0;
/// Empty, `-` (Zeek's unset).
pub(crate) const EMPTY: u32 = 1;
/// Not a valid value of the column's kind.
pub(crate) const INVALID: u32 = 2;
/// Not handled here: the host normalises this row.
pub(crate) const DEFER: u32 = 3;

/// Fingerprint tags (one per indicator key space).
pub(crate) const TAG_NET: u32 = 1;
/// Exact domain.
pub(crate) const TAG_DOMAIN: u32 = 2;
/// Domain or any subdomain.
pub(crate) const TAG_SUFFIX: u32 = 3;
/// MD5.
pub(crate) const TAG_MD5: u32 = 4;
/// SHA-1.
pub(crate) const TAG_SHA1: u32 = 5;
/// SHA-256.
pub(crate) const TAG_SHA256: u32 = 6;
/// URL.
pub(crate) const TAG_URL: u32 = 7;
/// E-mail.
pub(crate) const TAG_EMAIL: u32 = 8;

/// Most probes per row (bits of the mask).
pub(crate) const MAX_PROBES: usize = 32;
/// Rows longer than this are deferred to the host (no address, domain or hash is).
pub(crate) const MAX_ROW_BYTES: usize = 1024;
/// Longest domain (bytes, after the trailing dot).
const MAX_DOMAIN: usize = 253;
const MAX_LABEL: u32 = 63;

/// The table as the kernel reads it: `slots` holds 4 words per slot (fingerprint low, high,
/// first member, member count; count 0 = empty), a power-of-two number of slots; `lens` the
/// prefix lengths held (128-bit space), longest first.
#[derive(Clone, Copy)]
pub(crate) struct ProbeTable<'a> {
    pub slots: &'a [u32],
    pub seed: [u32; 2],
    pub max_probe: u32,
    pub lens: &'a [u32],
}

/// One hashing step (shared with the shader: u32 arithmetic only).
#[inline]
pub(crate) fn step(h: [u32; 2], c: u32) -> [u32; 2] {
    [
        (h[0] ^ c).wrapping_mul(0x0100_0193),
        (h[1].wrapping_add(c))
            .wrapping_mul(0x9E37_79B1)
            .rotate_left(13),
    ]
}

#[inline]
fn fmix(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

/// The 64-bit fingerprint (low, high) of a hashing state under `tag`.
#[inline]
pub(crate) fn finish(h: [u32; 2], tag: u32) -> [u32; 2] {
    let lo = fmix(h[0] ^ tag.wrapping_mul(0x27d4_eb2f) ^ fmix(h[1]));
    let hi = fmix(h[1] ^ tag.wrapping_mul(0x1656_67b1) ^ h[0].rotate_left(16));
    [lo, hi]
}

/// Fingerprint of a text key: its bytes ASCII-lower-cased, hashed last byte first (so the
/// hash of every label suffix of a domain falls out of one backward pass).
pub(crate) fn text_fingerprint(seed: [u32; 2], text: &[u8], tag: u32) -> [u32; 2] {
    let h = text
        .iter()
        .rev()
        .fold(seed, |h, &b| step(h, u32::from(b.to_ascii_lowercase())));
    finish(h, tag)
}

/// Fingerprint of a network: its prefix length and masked 128-bit address.
pub(crate) fn net_fingerprint(seed: [u32; 2], bits: u128, len: u32) -> [u32; 2] {
    let mut h = step(seed, len);
    for k in (0..4).rev() {
        h = step(h, (bits >> (32 * k)) as u32);
    }
    finish(h, TAG_NET)
}

/// Mask of the top `len` of 128 bits.
#[inline]
pub(crate) fn mask128(len: u32) -> u128 {
    if len == 0 {
        0
    } else {
        u128::MAX << (128 - len.min(128))
    }
}

impl ProbeTable<'_> {
    /// The slot holding fingerprint `fp`, if any.
    #[inline]
    pub(crate) fn lookup(&self, fp: [u32; 2]) -> Option<usize> {
        let n = self.slots.len() / 4;
        if n == 0 {
            return None;
        }
        let mask = n - 1;
        let mut i = fp[0] as usize & mask;
        for _ in 0..=self.max_probe {
            let s = self.slots.get(4 * i..4 * i + 4)?;
            if s[3] == 0 {
                return None;
            }
            if s[0] == fp[0] && s[1] == fp[1] {
                return Some(i);
            }
            i = (i + 1) & mask;
        }
        None
    }

    fn has(&self, fp: [u32; 2]) -> bool {
        self.lookup(fp).is_some()
    }
}

fn is_space(b: u8) -> bool {
    b <= b' ' || b >= 0x80
}

/// Strict dotted-quad IPv4 (what `Ipv4Addr::from_str` accepts, leading zeros deferred).
fn dotted_quad(s: &[u8]) -> Option<u32> {
    let mut v: u32 = 0;
    let mut parts = 0;
    let mut i = 0;
    while i <= s.len() {
        let start = i;
        let mut octet: u32 = 0;
        while i < s.len() && s[i].is_ascii_digit() {
            octet = octet * 10 + u32::from(s[i] - b'0');
            i += 1;
            if i - start > 3 {
                return None;
            }
        }
        let digits = i - start;
        if digits == 0 || octet > 255 || (digits > 1 && s[start] == b'0') {
            return None;
        }
        v = (v << 8) | octet;
        parts += 1;
        if i == s.len() {
            break;
        }
        if s[i] != b'.' || parts == 4 {
            return None;
        }
        i += 1;
    }
    (parts == 4).then_some(v)
}

fn domain_reject(b: u8) -> bool {
    b <= b' ' || b == 0x7f || b"/\\@#?:%<>[]|^\"'`{}".contains(&b)
}

/// Status and probe mask of one row (see the module docs).
pub(crate) fn row(s: &[u8], mode: u32, t: &ProbeTable<'_>) -> (u32, u32) {
    let n = s.len();
    if n == 0 || (n == 1 && s[0] == b'-') {
        return (EMPTY, 0);
    }
    if n > MAX_ROW_BYTES {
        return (DEFER, 0);
    }
    if s[0] == b'(' || is_space(s[0]) || is_space(s[n - 1]) || s.iter().any(|&b| b >= 0x80) {
        return (DEFER, 0);
    }
    match mode {
        MODE_IP => {
            if t.lens.len() > MAX_PROBES {
                return (DEFER, 0);
            }
            let Some(v4) = dotted_quad(s) else {
                return (DEFER, 0);
            };
            let bits = (0xffff_u128 << 32) | u128::from(v4);
            let mut mask = 0;
            for (i, &len) in t.lens.iter().enumerate() {
                if t.has(net_fingerprint(t.seed, bits & mask128(len), len)) {
                    mask |= 1 << i;
                }
            }
            (OK, mask)
        }
        MODE_DOMAIN => {
            let end = if s[n - 1] == b'.' { n - 1 } else { n };
            if end == 0 || end > MAX_DOMAIN {
                return (INVALID, 0);
            }
            let mut h = t.seed;
            let mut label = 0u32;
            let mut j = 0usize;
            let mut mask = 0u32;
            for i in (0..end).rev() {
                let b = s[i];
                if domain_reject(b) {
                    return (INVALID, 0);
                }
                if b == b'.' {
                    if label == 0 {
                        return (INVALID, 0);
                    }
                    if j + 1 >= MAX_PROBES {
                        return (DEFER, 0);
                    }
                    if t.has(finish(h, TAG_SUFFIX)) {
                        mask |= 1 << (1 + j);
                    }
                    j += 1;
                    label = 0;
                } else {
                    label += 1;
                    if label > MAX_LABEL {
                        return (INVALID, 0);
                    }
                }
                h = step(h, u32::from(b.to_ascii_lowercase()));
            }
            if label == 0 {
                return (INVALID, 0);
            }
            if j + 1 >= MAX_PROBES {
                return (DEFER, 0);
            }
            if t.has(finish(h, TAG_SUFFIX)) {
                mask |= 1 << (1 + j);
            }
            if t.has(finish(h, TAG_DOMAIN)) {
                mask |= 1;
            }
            (OK, mask)
        }
        _ => {
            if !s.iter().all(u8::is_ascii_hexdigit) {
                return (INVALID, 0);
            }
            let tag = match n {
                32 => TAG_MD5,
                40 => TAG_SHA1,
                64 => TAG_SHA256,
                _ => return (INVALID, 0),
            };
            (OK, u32::from(t.has(text_fingerprint(t.seed, s, tag))))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_quad_is_strict() {
        assert_eq!(dotted_quad(b"1.2.3.4"), Some(0x0102_0304));
        assert_eq!(dotted_quad(b"255.255.255.255"), Some(u32::MAX));
        assert_eq!(dotted_quad(b"0.0.0.0"), Some(0));
        for bad in [
            &b"1.2.3"[..],
            b"1.2.3.4.5",
            b"256.1.1.1",
            b"01.2.3.4",
            b"1..2.3",
            b"1.2.3.",
            b".1.2.3",
            b"1.2.3.4a",
            b"1234.1.1.1",
        ] {
            assert_eq!(dotted_quad(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn suffix_states_equal_text_fingerprints() {
        // One backward pass over "a.b.c" must give the fingerprints of "c", "b.c", "a.b.c".
        let seed = [7, 11];
        let mut h = seed;
        let mut got = Vec::new();
        let s = b"A.b.C";
        for i in (0..s.len()).rev() {
            if s[i] == b'.' {
                got.push(finish(h, TAG_SUFFIX));
            }
            h = step(h, u32::from(s[i].to_ascii_lowercase()));
        }
        got.push(finish(h, TAG_SUFFIX));
        let want: Vec<_> = ["c", "b.c", "a.b.c"]
            .iter()
            .map(|x| text_fingerprint(seed, x.as_bytes(), TAG_SUFFIX))
            .collect();
        assert_eq!(got, want);
    }
}
