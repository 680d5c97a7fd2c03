//! The perfect-tree walk of [`super::Perfect`] for scores only, 16 rows a vector with
//! AVX-512: the same slots, the same comparisons (`x > threshold` goes right) and the same
//! f32 sum of leaf values in tree order per row, so the scores are bit for bit those of the
//! scalar walk. Splits are looked up with two-register permutes (`vpermt2ps`, 32 entries):
//! the first five levels of a tree (31 splits) from registers loaded once per tree, levels
//! 5-7 from memory 32 entries at a time (cheaper than gathers on these CPUs: 0.68x the time
//! of gathering them), deeper levels by gathers; the rows' values and the leaf values are
//! gathered. A block's groups of 16 rows are walked by 4 trees at a time, so those trees'
//! tables stay in L1 cache. What bounds it (1M rows x 100 trees of depth 8, one core of
//! these AMD EPYC machines: ~0.40 s of CPU): the 16-lane gathers of the rows' values, about
//! 18 cycles each (without them the walk takes 0.16 s); reading the first levels' values
//! with loads from a column-major copy instead, more trees or more row groups side by side,
//! and 8-lane gathers did not help.

use std::arch::x86_64::*;

/// Rows a vector walks: the rows after the last full group are read from padding.
pub(super) const ROWS: usize = 16;
/// Splits of the first levels held in registers per tree (levels 0..=4, 31 used).
pub(super) const TOP: usize = 32;
/// Levels whose splits come from the registers.
const TOP_LEVELS: u32 = 5;
/// Levels from [`TOP_LEVELS`] up to this one (excluded) are looked up from memory 32 splits
/// at a time, not gathered.
const REG_LEVELS: u32 = 8;
/// Trees walked side by side: independent walks hide each other's gather latency.
const TREES: usize = 4;

/// A perfect forest laid out for the walk: per tree `slots` split features and thresholds,
/// [`TOP`] of them again for the first levels, 2^D leaf values.
pub(super) struct Tables {
    depth: u32,
    slots: usize,
    features: usize,
    feature: Vec<i32>,
    threshold: Vec<f32>,
    top_feature: Vec<i32>,
    top_threshold: Vec<f32>,
    value: Vec<f32>,
}

impl Tables {
    /// The tables of perfect trees of depth `depth` (`split(t, slot)` = feature and
    /// threshold of slot `slot` of tree `t`, `value` = 2^depth leaf values per tree) over
    /// `features` features; `None` when this CPU lacks AVX-512 or a feature index or the
    /// depth is out of range.
    pub(super) fn new(
        depth: u32,
        features: usize,
        value: &[f32],
        split: impl Fn(usize, usize) -> (u32, f32),
    ) -> Option<Self> {
        if depth > 10 || !available() {
            return None;
        }
        let leaves = 1usize << depth;
        let trees = value.len() / leaves;
        if trees * leaves != value.len() {
            return None;
        }
        let mut t = Tables {
            depth,
            slots: leaves,
            features,
            feature: Vec::with_capacity(trees * leaves),
            threshold: Vec::with_capacity(trees * leaves),
            top_feature: Vec::with_capacity(trees * TOP),
            top_threshold: Vec::with_capacity(trees * TOP),
            value: value.to_vec(),
        };
        let inner = leaves - 1;
        for tree in 0..trees {
            for slot in 0..leaves.max(TOP) {
                let (j, th) = if slot < inner {
                    split(tree, slot)
                } else {
                    (0, f32::INFINITY)
                };
                if j as usize >= features {
                    return None;
                }
                if slot < leaves {
                    t.feature.push(j as i32);
                    t.threshold.push(th);
                }
                if slot < TOP {
                    t.top_feature.push(j as i32);
                    t.top_threshold.push(th);
                }
            }
        }
        Some(t)
    }

    /// Adds, per row of `score` (in tree order, starting from its current value), the leaf
    /// value each tree gives the row of `filled` (row-major, `f` features, nulls already
    /// replaced, at least `score.len()` rounded up to [`ROWS`] rows). Returns false, touching
    /// nothing, when `filled` is too short or `f` is not the tables' feature count.
    pub(super) fn walk(&self, filled: &[f32], f: usize, score: &mut [f32]) -> bool {
        let padded = score.len().div_ceil(ROWS) * ROWS * f;
        if f != self.features || filled.len() < padded || padded > i32::MAX as usize {
            return false;
        }
        // SAFETY: `new` ran only with AVX-512F present, and every index the walk forms is
        // in bounds: slots stay below 2^D - 1 < `slots` while walking and leaf indices below
        // 2^D; features are below `f` (checked in `new`); row offsets + feature below
        // `padded` <= filled.len().
        unsafe { walk_avx512(self, filled, f, score) };
        true
    }
}

/// Whether this CPU runs the walk.
fn available() -> bool {
    is_x86_feature_detected!("avx512f")
}

#[target_feature(enable = "avx512f")]
unsafe fn walk_avx512(t: &Tables, filled: &[f32], f: usize, score: &mut [f32]) {
    let trees = t.value.len() >> t.depth;
    let leaves = 1usize << t.depth;
    let inner = leaves as i32 - 1;
    let rows = score.len();
    let lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    // Trees outer, groups of 16 rows inner: the few trees walked at a time stay in L1 cache
    // across the block's rows (rows x all trees would stream every tree from L2 per group).
    let groups = rows.div_ceil(ROWS);
    let mut sums = vec![_mm512_setzero_ps(); groups];
    for (g, sum) in sums.iter_mut().enumerate() {
        let r0 = g * ROWS;
        let n = ROWS.min(rows - r0);
        let mut acc = [0f32; ROWS];
        acc[..n].copy_from_slice(&score[r0..r0 + n]);
        // SAFETY: `acc` holds 16 f32.
        *sum = unsafe { _mm512_loadu_ps(acc.as_ptr()) };
    }
    let bases: Vec<__m512i> = (0..groups)
        .map(|g| {
            _mm512_mullo_epi32(
                _mm512_add_epi32(_mm512_set1_epi32((g * ROWS) as i32), lane),
                _mm512_set1_epi32(f as i32),
            )
        })
        .collect();
    let mut tree = 0;
    while tree < trees {
        let n = if tree + TREES <= trees { TREES } else { 1 };
        for (sum, &base) in sums.iter_mut().zip(&bases) {
            if n == TREES {
                // SAFETY: as in `walk`.
                let v = unsafe { walk_trees::<TREES>(t, tree, filled, base, inner) };
                for v in v {
                    *sum = _mm512_add_ps(*sum, v);
                }
            } else {
                // SAFETY: as in `walk`.
                let [v] = unsafe { walk_trees::<1>(t, tree, filled, base, inner) };
                *sum = _mm512_add_ps(*sum, v);
            }
        }
        tree += n;
    }
    for (g, sum) in sums.iter().enumerate() {
        let r0 = g * ROWS;
        let n = ROWS.min(rows - r0);
        let mut acc = [0f32; ROWS];
        // SAFETY: `acc` holds 16 f32.
        unsafe { _mm512_storeu_ps(acc.as_mut_ptr(), *sum) };
        score[r0..r0 + n].copy_from_slice(&acc[..n]);
    }
}

/// The leaf values trees `first..first + N` give the 16 rows at `base`.
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn walk_trees<const N: usize>(
    t: &Tables,
    first: usize,
    filled: &[f32],
    base: __m512i,
    inner: i32,
) -> [__m512; N] {
    let one = _mm512_set1_epi32(1);
    let top: [(__m512i, __m512i, __m512, __m512); N] = std::array::from_fn(|k| {
        let at = (first + k) * TOP;
        // SAFETY: the top tables hold TOP = 32 entries per tree, `first + k` < trees.
        unsafe {
            (
                _mm512_loadu_si512(t.top_feature.as_ptr().add(at).cast()),
                _mm512_loadu_si512(t.top_feature.as_ptr().add(at + 16).cast()),
                _mm512_loadu_ps(t.top_threshold.as_ptr().add(at)),
                _mm512_loadu_ps(t.top_threshold.as_ptr().add(at + 16)),
            )
        }
    });
    let mut slot = [_mm512_setzero_si512(); N];
    for level in 0..t.depth {
        for k in 0..N {
            let (feature, threshold) = if level < TOP_LEVELS {
                let (f0, f1, t0, t1) = top[k];
                (
                    _mm512_permutex2var_epi32(f0, slot[k], f1),
                    _mm512_permutex2var_ps(t0, slot[k], t1),
                )
            } else if level < REG_LEVELS {
                // Level `level` holds 2^level splits from slot 2^level - 1 on: looked up
                // 32 at a time from memory (two vectors a pair), the pair picked by the
                // index's high bits.
                let first_slot = (1usize << level) - 1;
                let at = (first + k) * t.slots + first_slot;
                let idx = _mm512_sub_epi32(slot[k], _mm512_set1_epi32(first_slot as i32));
                let pair = _mm512_srli_epi32::<5>(idx);
                // SAFETY: 2^level entries from `at` lie within tree `first + k` (level < D).
                unsafe {
                    let fp = t.feature.as_ptr().add(at);
                    let tp = t.threshold.as_ptr().add(at);
                    let mut fe = _mm512_permutex2var_epi32(
                        _mm512_loadu_si512(fp.cast()),
                        idx,
                        _mm512_loadu_si512(fp.add(16).cast()),
                    );
                    let mut th = _mm512_permutex2var_ps(
                        _mm512_loadu_ps(tp),
                        idx,
                        _mm512_loadu_ps(tp.add(16)),
                    );
                    for p in 1..(1usize << (level - 5)) {
                        let m = _mm512_cmpeq_epi32_mask(pair, _mm512_set1_epi32(p as i32));
                        fe = _mm512_mask_mov_epi32(
                            fe,
                            m,
                            _mm512_permutex2var_epi32(
                                _mm512_loadu_si512(fp.add(32 * p).cast()),
                                idx,
                                _mm512_loadu_si512(fp.add(32 * p + 16).cast()),
                            ),
                        );
                        th = _mm512_mask_mov_ps(
                            th,
                            m,
                            _mm512_permutex2var_ps(
                                _mm512_loadu_ps(tp.add(32 * p)),
                                idx,
                                _mm512_loadu_ps(tp.add(32 * p + 16)),
                            ),
                        );
                    }
                    (fe, th)
                }
            } else {
                let at = (first + k) * t.slots;
                // SAFETY: slot < 2^D - 1 <= slots within tree `first + k`.
                unsafe {
                    (
                        _mm512_i32gather_epi32::<4>(slot[k], t.feature.as_ptr().add(at).cast()),
                        _mm512_i32gather_ps::<4>(slot[k], t.threshold.as_ptr().add(at).cast()),
                    )
                }
            };
            // SAFETY: row offsets + feature < groups * ROWS * f <= filled.len().
            let x = unsafe {
                _mm512_i32gather_ps::<4>(_mm512_add_epi32(base, feature), filled.as_ptr().cast())
            };
            let right = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(x, threshold);
            let down = _mm512_add_epi32(_mm512_add_epi32(slot[k], slot[k]), one);
            slot[k] = _mm512_mask_add_epi32(down, right, down, one);
        }
    }
    std::array::from_fn(|k| {
        let leaf = _mm512_sub_epi32(slot[k], _mm512_set1_epi32(inner));
        // SAFETY: leaf < 2^D within tree `first + k`'s values.
        unsafe {
            _mm512_i32gather_ps::<4>(leaf, t.value.as_ptr().add((first + k) << t.depth).cast())
        }
    })
}
