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

use super::intel_v4::V4Sets;

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
    /// Exact IPv4 sets the CPU reads instead of hashing (`None`: fingerprints only).
    pub v4: Option<&'a V4Sets>,
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

    /// Mask of the fingerprints of `fps` held (bit `i` for `fps[i]`).
    #[inline]
    pub(crate) fn mask(&self, fps: &[[u32; 2]]) -> u32 {
        fps.iter()
            .enumerate()
            .fold(0, |m, (i, fp)| if self.has(*fp) { m | 1 << i } else { m })
    }

    /// Asks the cache for the home slots of `fps` ahead of their lookups (a hint only).
    #[inline]
    pub(crate) fn prefetch(&self, fps: &[[u32; 2]]) {
        let n = self.slots.len() / 4;
        if n == 0 {
            return;
        }
        for fp in fps {
            if let Some(w) = self.slots.get(4 * (fp[0] as usize & (n - 1))) {
                prefetch(w);
            }
        }
    }
}

/// A cache hint for the line holding `w` (no effect on results; nothing off x86-64).
#[inline(always)]
pub(crate) fn prefetch<T>(w: &T) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // SAFETY: SSE is part of the x86-64 baseline, and a prefetch never faults nor
        // changes memory: it only warms the cache line of a valid reference.
        unsafe { _mm_prefetch::<_MM_HINT_T0>((w as *const T).cast()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = w;
}

fn is_space(b: u8) -> bool {
    b <= b' ' || b >= 0x80
}

/// Strict dotted-quad IPv4 (what `Ipv4Addr::from_str` accepts, leading zeros deferred).
pub(crate) fn dotted_quad(s: &[u8]) -> Option<u32> {
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

/// Bytes no host name holds: controls, space, DEL and ``/\@#?:%<>[]|^"'`{}`` (one table
/// lookup per byte).
const DOMAIN_REJECT: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b <= b' ' as usize {
        t[b] = true;
        b += 1;
    }
    t[0x7f] = true;
    let bad = b"/\\@#?:%<>[]|^\"'`{}";
    let mut i = 0;
    while i < bad.len() {
        t[bad[i] as usize] = true;
        i += 1;
    }
    t
};

#[inline]
fn domain_reject(b: u8) -> bool {
    DOMAIN_REJECT[usize::from(b)]
}

/// The status of rows every mode turns away (empty, too long, spaces, non-ASCII).
pub(crate) fn screen(s: &[u8]) -> Result<(), u32> {
    let n = s.len();
    if n == 0 || (n == 1 && s[0] == b'-') {
        return Err(EMPTY);
    }
    if n > MAX_ROW_BYTES {
        return Err(DEFER);
    }
    // Branch-free scans (they vectorise): no early exit to mispredict.
    if s[0] == b'('
        || is_space(s[0])
        || is_space(s[n - 1])
        || s.iter().fold(0, |a, &b| a | b) >= 0x80
    {
        return Err(DEFER);
    }
    Ok(())
}

/// [`row`] of an address row through the exact IPv4 sets (same status, same mask).
fn ip_row(s: &[u8], t: &ProbeTable<'_>, v4: &V4Sets) -> (u32, u32) {
    if let Err(status) = screen(s) {
        return (status, 0);
    }
    if t.lens.len() > MAX_PROBES {
        return (DEFER, 0);
    }
    match dotted_quad(s) {
        Some(a) => (OK, v4.mask(a)),
        None => (DEFER, 0),
    }
}

/// The tag of a hex hash row (after [`screen`]), or its status.
pub(crate) fn hash_tag(s: &[u8]) -> Result<u32, u32> {
    let hex = |b: u8| (b.wrapping_sub(b'0') < 10) | ((b | 0x20).wrapping_sub(b'a') < 6);
    if !s.iter().fold(true, |ok, &b| ok & hex(b)) {
        return Err(INVALID);
    }
    match s.len() {
        32 => Ok(TAG_MD5),
        40 => Ok(TAG_SHA1),
        64 => Ok(TAG_SHA256),
        _ => Err(INVALID),
    }
}

/// [`text_fingerprint`] of `K` texts of one length at once: the hashing chains are
/// independent, so the CPU overlaps them instead of waiting on one multiply after another.
fn text_fingerprints<const K: usize>(seed: [u32; 2], texts: [&[u8]; K], tag: u32) -> [[u32; 2]; K] {
    let n = texts.iter().map(|t| t.len()).min().unwrap_or(0);
    let mut h = [seed; K];
    for i in (0..n).rev() {
        for (h, t) in h.iter_mut().zip(texts) {
            let b = t.get(i).copied().unwrap_or(0);
            *h = step(*h, u32::from(b.to_ascii_lowercase()));
        }
    }
    h.map(|h| finish(h, tag))
}

/// [`rows`] of a hash column: statuses first, then the fingerprints of runs of rows of
/// one length four at a time ([`text_fingerprints`]), then the lookups.
fn hash_rows<'s>(
    strings: impl Fn(usize) -> &'s [u8],
    first: usize,
    t: &ProbeTable<'_>,
    out: &mut [u32],
) {
    let mut tags = [Err(EMPTY); BATCH_ROWS];
    let mut fps = [[0u32; 2]; BATCH_ROWS];
    for (b, o) in out.chunks_mut(2 * BATCH_ROWS).enumerate() {
        let base = first + b * BATCH_ROWS;
        let n = o.len() / 2;
        for (k, g) in tags.iter_mut().take(n).enumerate() {
            let s = strings(base + k);
            *g = screen(s).and_then(|()| hash_tag(s));
        }
        let mut k = 0;
        while k < n {
            // Only this batch's `n` tags: past them the array holds the previous batch's.
            let quad = tags
                .get(k..k + 4)
                .filter(|_| k + 4 <= n)
                .filter(|q| q.iter().all(|g| g.is_ok()) && q.windows(2).all(|w| w[0] == w[1]));
            if let (Some(&[Ok(tag), ..]), Some(f)) = (quad, fps.get_mut(k..k + 4)) {
                let r = |j: usize| strings(base + k + j);
                f.copy_from_slice(&text_fingerprints(t.seed, [r(0), r(1), r(2), r(3)], tag));
                k += 4;
                continue;
            }
            if let (Some(Ok(tag)), Some(f)) = (tags.get(k), fps.get_mut(k)) {
                *f = text_fingerprint(t.seed, strings(base + k), *tag);
            }
            k += 1;
        }
        t.prefetch(fps.get(..n).unwrap_or(&[]));
        for ((g, f), o) in tags.iter().zip(&fps).zip(o.chunks_mut(2)) {
            let (status, mask) = match g {
                Ok(_) => (OK, u32::from(t.has(*f))),
                Err(status) => (*status, 0),
            };
            if let [a, b] = o {
                *a = status;
                *b = mask;
            }
        }
    }
}

/// Probe fingerprints of one row: `Ok(k)` (status [`OK`]) with `fps[..k]` to look up, bit
/// `i` of the mask standing for `fps[i]`; `Err(status)` for a row with no probes. Split from
/// the lookups so a caller can issue the memory loads of many probes (and rows) together.
pub(crate) fn fingerprints(
    s: &[u8],
    mode: u32,
    t: &ProbeTable<'_>,
    fps: &mut [[u32; 2]; MAX_PROBES],
) -> Result<usize, u32> {
    screen(s)?;
    let n = s.len();
    match mode {
        MODE_IP => {
            if t.lens.len() > MAX_PROBES {
                return Err(DEFER);
            }
            let Some(v4) = dotted_quad(s) else {
                return Err(DEFER);
            };
            let bits = (0xffff_u128 << 32) | u128::from(v4);
            for (fp, &len) in fps.iter_mut().zip(t.lens) {
                *fp = net_fingerprint(t.seed, bits & mask128(len), len);
            }
            Ok(t.lens.len())
        }
        MODE_DOMAIN => {
            let end = if s[n - 1] == b'.' { n - 1 } else { n };
            if end == 0 || end > MAX_DOMAIN {
                return Err(INVALID);
            }
            let mut h = t.seed;
            let mut label = 0u32;
            let mut j = 0usize;
            for i in (0..end).rev() {
                let b = s[i];
                if domain_reject(b) {
                    return Err(INVALID);
                }
                if b == b'.' {
                    if label == 0 {
                        return Err(INVALID);
                    }
                    if j + 1 >= MAX_PROBES {
                        return Err(DEFER);
                    }
                    fps[1 + j] = finish(h, TAG_SUFFIX);
                    j += 1;
                    label = 0;
                } else {
                    label += 1;
                    if label > MAX_LABEL {
                        return Err(INVALID);
                    }
                }
                h = step(h, u32::from(b.to_ascii_lowercase()));
            }
            if label == 0 {
                return Err(INVALID);
            }
            if j + 1 >= MAX_PROBES {
                return Err(DEFER);
            }
            fps[1 + j] = finish(h, TAG_SUFFIX);
            fps[0] = finish(h, TAG_DOMAIN);
            Ok(j + 2)
        }
        _ => {
            fps[0] = text_fingerprint(t.seed, s, hash_tag(s)?);
            Ok(1)
        }
    }
}

/// Status and probe mask of one row (see the module docs); [`rows`] does the same in batches.
#[cfg(test)]
pub(crate) fn row(s: &[u8], mode: u32, t: &ProbeTable<'_>) -> (u32, u32) {
    let mut fps = [[0u32; 2]; MAX_PROBES];
    match fingerprints(s, mode, t, &mut fps) {
        Ok(k) => {
            let fps = fps.get(..k).unwrap_or(&[]);
            t.prefetch(fps);
            (OK, t.mask(fps))
        }
        Err(status) => (status, 0),
    }
}

/// Rows probed in one batch by [`rows`]: their loads are in flight together.
const BATCH_ROWS: usize = 16;

/// [`row`] of every row of `strings` into `out` (status, mask per row), in batches whose
/// fingerprints are computed and prefetched before any lookup: a random probe into a large
/// table costs a cache (and TLB) miss, and this keeps many of them in flight at once.
pub(crate) fn rows<'s>(
    strings: impl Fn(usize) -> &'s [u8],
    first: usize,
    mode: u32,
    t: &ProbeTable<'_>,
    out: &mut [u32],
) {
    if let (MODE_IP, Some(v4)) = (mode, t.v4) {
        for (i, o) in out.chunks_mut(2).enumerate() {
            if let [a, b] = o {
                (*a, *b) = ip_row(strings(first + i), t, v4);
            }
        }
        return;
    }
    if mode == MODE_HASH {
        return hash_rows(strings, first, t, out);
    }
    let mut fps = [[[0u32; 2]; MAX_PROBES]; BATCH_ROWS];
    let mut got = [Err(EMPTY); BATCH_ROWS];
    for (b, o) in out.chunks_mut(2 * BATCH_ROWS).enumerate() {
        let base = first + b * BATCH_ROWS;
        let n = o.len() / 2;
        for (k, (g, f)) in got.iter_mut().zip(fps.iter_mut()).take(n).enumerate() {
            *g = fingerprints(strings(base + k), mode, t, f);
            if let Ok(c) = *g {
                t.prefetch(f.get(..c).unwrap_or(&[]));
            }
        }
        for ((g, f), o) in got.iter().zip(&fps).zip(o.chunks_mut(2)) {
            let (status, mask) = match *g {
                Ok(c) => (OK, t.mask(f.get(..c).unwrap_or(&[]))),
                Err(status) => (status, 0),
            };
            if let [a, b] = o {
                *a = status;
                *b = mask;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reject_table_is_the_byte_rule() {
        for b in 0..=255u8 {
            let rule = b <= b' ' || b == 0x7f || b"/\\@#?:%<>[]|^\"'`{}".contains(&b);
            assert_eq!(domain_reject(b), rule, "{b}");
            let hex = |b: u8| (b.wrapping_sub(b'0') < 10) | ((b | 0x20).wrapping_sub(b'a') < 6);
            assert_eq!(hex(b), b.is_ascii_hexdigit(), "{b}");
        }
    }

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
