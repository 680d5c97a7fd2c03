//! Twin of shaders/match/multi_pattern.wgsl: for one row, which patterns occur at their
//! anchor (0 exact, 1 prefix, 2 suffix, 3 anywhere), optionally ASCII-folding the row.

/// Anchor codes shared with the shader.
pub(crate) const EXACT: u32 = 0;
pub(crate) const PREFIX: u32 = 1;
pub(crate) const SUFFIX: u32 = 2;

/// Patterns packed as the kernel reads them: `offsets` (patterns + 1 entries) into `bytes`.
pub(crate) struct Patterns<'a> {
    pub offsets: &'a [u32],
    pub bytes: &'a [u8],
    pub anchors: &'a [u32],
}

fn row_byte(row: &[u8], i: usize, fold: bool) -> u8 {
    let b = row[i];
    if fold && b.is_ascii_uppercase() {
        b + 32
    } else {
        b
    }
}

fn equal_at(row: &[u8], at: usize, pat: &[u8], fold: bool) -> bool {
    (0..pat.len()).all(|k| row_byte(row, at + k, fold) == pat[k])
}

/// Sets bit p of `out` (ceil(patterns / 32) words) for every pattern p that matches `row`.
pub(crate) fn row(row: &[u8], p: &Patterns<'_>, fold: bool, out: &mut [u32]) {
    let len = row.len();
    for i in 0..p.anchors.len() {
        let (ps, pe) = (p.offsets[i] as usize, p.offsets[i + 1] as usize);
        let pat = &p.bytes[ps..pe];
        let pl = pat.len();
        let hit = pl <= len
            && match p.anchors[i] {
                EXACT => pl == len && equal_at(row, 0, pat, fold),
                PREFIX => equal_at(row, 0, pat, fold),
                SUFFIX => equal_at(row, len - pl, pat, fold),
                _ => (0..=len - pl).any(|s| equal_at(row, s, pat, fold)),
            };
        if hit {
            out[i >> 5] |= 1 << (i & 31);
        }
    }
}
