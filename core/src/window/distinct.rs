//! Distinct counts per group across chunks: exact (sorted distinct values kept per group)
//! and approximate (HyperLogLog).

use rayon::prelude::*;

use super::HLL_P;
use super::group::Map;
use crate::cpu::segment_reduce;
use crate::engine::Engine;
use crate::error::Result;

/// Span arena markers of exact distinct sets: no set yet, or merged into `DistinctSets::merged`.
const NO_SET: u32 = u32::MAX;
const MERGED: u32 = u32::MAX - 1;

/// Exact distinct values per group: the count, and the sorted distinct values kept for later
/// chunks: one arena per chunk, a span (arena, start, len) per group, and merged sets for
/// groups seen in several chunks (span arena = `MERGED`).
#[derive(Default)]
pub(super) struct DistinctSets {
    count: Vec<u64>,
    arenas: Vec<Vec<i64>>,
    spans: Vec<(u32, u32, u32)>,
    merged: Map<u32, Vec<i64>>,
}

impl DistinctSets {
    /// Distinct values of group `g` so far.
    pub(super) fn count(&self, g: usize) -> u64 {
        self.count.get(g).copied().unwrap_or(0)
    }

    /// Adds one chunk: `vals[off[r]..off[r + 1]]` are the non-null values of run `r`, whose
    /// global group is `groups[r]`; `total` groups exist so far.
    pub(super) fn add(
        &mut self,
        engine: &Engine,
        groups: &[u32],
        off: &[u32],
        mut vals: Vec<i64>,
        total: usize,
    ) -> Result<()> {
        sort_runs(off, &mut vals);
        let words = engine.segment_reduce(off, &vals)?;
        self.count.resize(total, 0);
        self.spans.resize(total, (NO_SET, 0, 0));
        let arena_id = self.arenas.len() as u32;
        let mut arena = Vec::with_capacity(vals.len());
        for (r, &gi) in groups.iter().enumerate() {
            let gi = gi as usize;
            let start = arena.len();
            let run = &vals[off[r] as usize..off[r + 1] as usize];
            for (j, &v) in run.iter().enumerate() {
                if j == 0 || v != run[j - 1] {
                    arena.push(v);
                }
            }
            let set = &arena[start..];
            match self.spans[gi] {
                (NO_SET, _, _) => {
                    // First chunk holding this group: the kernel's count is its count.
                    self.count[gi] = u64::from(words[r * segment_reduce::WORDS + 1]);
                    self.spans[gi] = (arena_id, start as u32, set.len() as u32);
                }
                (MERGED, _, _) => {
                    let prev = self.merged.remove(&(gi as u32)).unwrap_or_default();
                    let m = merge_sorted(&prev, set);
                    self.count[gi] = m.len() as u64;
                    self.merged.insert(gi as u32, m);
                }
                (a, s0, len) => {
                    let prev = self
                        .arenas
                        .get(a as usize)
                        .map(|x| &x[s0 as usize..(s0 + len) as usize])
                        .unwrap_or_default();
                    let m = merge_sorted(prev, set);
                    self.count[gi] = m.len() as u64;
                    self.merged.insert(gi as u32, m);
                    self.spans[gi] = (MERGED, 0, 0);
                }
            }
        }
        self.arenas.push(arena);
        Ok(())
    }
}

/// Sorts every run `vals[off[r]..off[r + 1]]` ascending, runs in parallel.
fn sort_runs(off: &[u32], vals: &mut [i64]) {
    let mut slices = Vec::with_capacity(off.len());
    let mut rest = vals;
    for w in off.windows(2) {
        let (a, b) = rest.split_at_mut((w[1] - w[0]) as usize);
        slices.push(a);
        rest = b;
    }
    slices
        .par_iter_mut()
        .with_min_len(256)
        .for_each(|s| s.sort_unstable());
}

/// The sorted union of two sorted, duplicate-free lists.
fn merge_sorted(a: &[i64], b: &[i64]) -> Vec<i64> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        let x = match (a.get(i), b.get(j)) {
            (Some(&x), Some(&y)) if x <= y => {
                i += 1;
                if x == y {
                    j += 1;
                }
                x
            }
            (_, Some(&y)) => {
                j += 1;
                y
            }
            (Some(&x), None) => {
                i += 1;
                x
            }
            (None, None) => break,
        };
        out.push(x);
    }
    out
}

/// Approximate distinct values per group: one [`Hll`] each.
#[derive(Default)]
pub(super) struct HllSets {
    hll: Vec<Hll>,
}

impl HllSets {
    /// Estimated distinct values of group `g` so far.
    pub(super) fn estimate(&self, g: usize) -> f64 {
        self.hll.get(g).map_or(0.0, Hll::estimate)
    }

    /// Adds one chunk (arguments as [`DistinctSets::add`]): hashes and register updates come
    /// from the `hll_hash` kernel (or its twin).
    pub(super) fn add(
        &mut self,
        engine: &Engine,
        groups: &[u32],
        off: &[u32],
        vals: &[i64],
        total: usize,
    ) -> Result<()> {
        let words = engine.hll_hash(vals)?;
        self.hll.resize_with(total, Hll::default);
        for (r, &gi) in groups.iter().enumerate() {
            let h = &mut self.hll[gi as usize];
            for j in off[r] as usize..off[r + 1] as usize {
                h.add(words[2 * j], words[2 * j + 1]);
            }
        }
        Ok(())
    }
}

/// HyperLogLog with 2^HLL_P registers over 32-bit hashes (kernel `aggregate/hll_hash`);
/// exact (a sorted list of hashes) up to 64 values.
#[derive(Clone, Debug)]
enum Hll {
    Small(Vec<u32>),
    Dense(Box<[u8]>),
}

impl Default for Hll {
    fn default() -> Self {
        Hll::Small(Vec::new())
    }
}

impl Hll {
    const SMALL: usize = 64;

    /// Adds a value by its hash `h` and its packed update `(register << 8) | rank`.
    fn add(&mut self, h: u32, update: u32) {
        match self {
            Hll::Small(v) => {
                if let Err(at) = v.binary_search(&h) {
                    v.insert(at, h);
                }
                if v.len() > Self::SMALL {
                    let mut regs = vec![0u8; 1 << HLL_P].into_boxed_slice();
                    for &x in v.iter() {
                        let mut w = [0u32; 2];
                        crate::cpu::hll_hash::row_of_hash(x, &mut w);
                        Self::set(&mut regs, w[1]);
                    }
                    *self = Hll::Dense(regs);
                }
            }
            Hll::Dense(regs) => Self::set(regs, update),
        }
    }

    fn set(regs: &mut [u8], update: u32) {
        let idx = (update >> 8) as usize % regs.len();
        let rank = (update & 0xff) as u8;
        if regs[idx] < rank {
            regs[idx] = rank;
        }
    }

    fn estimate(&self) -> f64 {
        match self {
            Hll::Small(v) => v.len() as f64,
            Hll::Dense(regs) => {
                let m = regs.len() as f64;
                let alpha = 0.7213 / (1.0 + 1.079 / m);
                let sum: f64 = regs.iter().map(|&r| (-(r as f64)).exp2()).sum();
                let zeros = regs.iter().filter(|&&r| r == 0).count();
                let e = alpha * m * m / sum;
                if e <= 2.5 * m && zeros > 0 {
                    m * (m / zeros as f64).ln()
                } else {
                    e
                }
            }
        }
    }
}
