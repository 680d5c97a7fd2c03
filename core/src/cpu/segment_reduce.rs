//! Twin of `shaders/aggregate/segment_reduce.wgsl`: count, distinct count (values sorted
//! ascending), wrapping i64 sum, min and max of one run, as 8 u32 words.

/// u32 words of output per run.
pub(crate) const WORDS: usize = 8;

/// Reduces one run of values sorted ascending into `out` (8 words); an empty run leaves zeros.
pub(crate) fn run(values: &[i64], out: &mut [u32]) {
    let Some(&first) = values.first() else {
        return;
    };
    let (mut sum, mut min, mut max, mut prev, mut distinct) = (0i64, first, first, first, 1u32);
    for (i, &v) in values.iter().enumerate() {
        sum = sum.wrapping_add(v);
        min = min.min(v);
        max = max.max(v);
        if i > 0 && v != prev {
            distinct += 1;
        }
        prev = v;
    }
    let split = |x: i64| (x as u64 as u32, ((x as u64) >> 32) as u32);
    let (s_lo, s_hi) = split(sum);
    let (min_lo, min_hi) = split(min);
    let (max_lo, max_hi) = split(max);
    out.copy_from_slice(&[
        values.len() as u32,
        distinct,
        s_lo,
        s_hi,
        min_lo,
        min_hi,
        max_lo,
        max_hi,
    ]);
}

/// The i64 held in words `lo`, `hi`.
pub(crate) fn join(lo: u32, hi: u32) -> i64 {
    ((u64::from(hi) << 32) | u64::from(lo)) as i64
}
