//! Twin of `shaders/score/iforest.wgsl`: isolation-forest score and per-feature path shares
//! of one row.
// Lane loops index several per-lane arrays in lockstep; indices read clearer than zips.
#![allow(clippy::needless_range_loop)]

/// One node of a flat tree, laid out as the WGSL `Node` struct.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub(crate) struct Node {
    /// Split feature, or -1 for a leaf.
    pub feature: i32,
    /// Split value: `x <= threshold` goes left.
    pub threshold: f32,
    /// Index of the left child; the right child is `left + 1`.
    pub left: u32,
    /// For a leaf: depth + c(samples in the leaf).
    pub value: f32,
}

/// The forest as the kernel sees it.
pub(crate) struct Forest<'a> {
    pub nodes: &'a [Node],
    pub roots: &'a [u32],
    pub fill: &'a [f32],
    pub max_depth: u32,
    pub c_norm: f32,
}

#[cfg(test)]
fn feature_value(x: &[f32], fill: &[f32], j: usize) -> f32 {
    let v = x[j];
    if v.is_nan() { fill[j] } else { v }
}

#[cfg(test)]
fn walk(forest: &Forest<'_>, x: &[f32], root: u32) -> (usize, u32) {
    let mut node = root as usize;
    let mut splits = 0u32;
    for _ in 0..forest.max_depth {
        let n = forest.nodes[node];
        if n.feature < 0 {
            break;
        }
        node = if feature_value(x, forest.fill, n.feature as usize) <= n.threshold {
            n.left as usize
        } else {
            n.left as usize + 1
        };
        splits += 1;
    }
    (node, splits)
}

/// `x`, `share`: one row of features (NaN = null); `share` must be zeroed. Returns the score
/// (NaN when every feature is null, with every share NaN). The shader's arithmetic, row by
/// row; [`block`] computes the same values, faster.
#[cfg(test)]
pub(crate) fn row(forest: &Forest<'_>, x: &[f32], share: &mut [f32]) -> f32 {
    if x.iter().all(|v| v.is_nan()) {
        share.fill(f32::NAN);
        return f32::NAN;
    }
    let trees = forest.roots.len() as u32;
    let weight_per_tree = 1.0 / trees as f32;
    let mut total = 0.0f32;
    for &root in forest.roots {
        let (leaf, splits) = walk(forest, x, root);
        total += forest.nodes[leaf].value;
        if splits == 0 {
            continue;
        }
        let w = weight_per_tree / splits as f32;
        let mut node = root as usize;
        for _ in 0..splits {
            let n = forest.nodes[node];
            let j = n.feature as usize;
            share[j] += w;
            node = if feature_value(x, forest.fill, j) <= n.threshold {
                n.left as usize
            } else {
                n.left as usize + 1
            };
        }
    }
    (-(total / trees as f32) / forest.c_norm).exp2()
}

/// Rows walked in lockstep: independent walks hide each other's memory latency.
const LANES: usize = 8;
/// Rows of padding after a block: the scalar lanes and the 16-row vectors of the AVX-512
/// walk read past the last row without a check.
const PAD_ROWS: usize = 16;

#[cfg(target_arch = "x86_64")]
mod avx512;

/// The forest rearranged for branch-free walks on the CPU: every leaf becomes absorbing
/// (feature 0, threshold +inf, left = itself, so `left + (x > threshold)` stays put), each
/// tree is walked exactly its depth, and each leaf keeps the features along its path, in
/// root-to-leaf order, for the shares.
pub(crate) struct Compiled {
    perfect: Option<Perfect>,
    nodes: Vec<Node>,
    roots: Vec<u32>,
    depth: Vec<u32>,
    path_start: Vec<u32>,
    path_len: Vec<u32>,
    paths: Vec<u32>,
    fill: Vec<f32>,
    c_norm: f32,
}

impl Compiled {
    /// Rearranges `forest` (validated: children after parents, indices in bounds).
    pub(crate) fn new(forest: &Forest<'_>) -> Self {
        let n = forest.nodes.len();
        let mut nodes = forest.nodes.to_vec();
        let (mut path_start, mut path_len) = (vec![0u32; n], vec![0u32; n]);
        let mut paths = Vec::new();
        let mut depth = Vec::with_capacity(forest.roots.len());
        let mut stack: Vec<(usize, Vec<u32>)> = Vec::new();
        for &root in forest.roots {
            let mut deepest = 0;
            stack.push((root as usize, Vec::new()));
            while let Some((i, path)) = stack.pop() {
                let node = forest.nodes[i];
                if node.feature < 0 {
                    path_start[i] = paths.len() as u32;
                    path_len[i] = path.len() as u32;
                    deepest = deepest.max(path.len() as u32);
                    paths.extend_from_slice(&path);
                    nodes[i] = Node {
                        feature: 0,
                        threshold: f32::INFINITY,
                        left: i as u32,
                        value: node.value,
                    };
                } else {
                    let mut p = path;
                    p.push(node.feature as u32);
                    stack.push((node.left as usize + 1, p.clone()));
                    stack.push((node.left as usize, p));
                }
            }
            depth.push(deepest);
        }
        let perfect = Perfect::new(forest, &depth, &path_start, &path_len);
        Compiled {
            perfect,
            nodes,
            roots: forest.roots.to_vec(),
            depth,
            path_start,
            path_len,
            paths,
            fill: forest.fill.to_vec(),
            c_norm: forest.c_norm,
        }
    }

    /// [`row`] for a block of rows (`x` row-major, `share` zeroed or empty when no shares are
    /// wanted, one `score` per row), with the same arithmetic in the same order: trees in
    /// order per row, leaf values summed in f32, each split's share added in path order.
    /// Tree by tree over the block, so a tree's nodes stay in cache, and `LANES` rows per
    /// walk step, without branches.
    pub(crate) fn block(&self, x: &[f32], share: &mut [f32], score: &mut [f32]) {
        let f = self.fill.len();
        let mut filled = Vec::with_capacity(x.len() + PAD_ROWS * f);
        let mut unscored = vec![false; score.len()];
        for (row, none) in x.chunks_exact(f).zip(unscored.iter_mut()) {
            let mut any = false;
            for (&v, &m) in row.iter().zip(&self.fill) {
                any |= !v.is_nan();
                filled.push(if v.is_nan() { m } else { v });
            }
            *none = !any;
        }
        self.walk_filled(&mut filled, &unscored, share, score);
    }

    /// Baseline mean of each feature, which replaces nulls.
    pub(crate) fn fill(&self) -> &[f32] {
        &self.fill
    }

    /// [`block`](Self::block) on rows already read into `filled` (row-major, nulls replaced
    /// by [`fill`](Self::fill)); `unscored` marks rows whose every feature was null (their
    /// score and shares become NaN). Pads `filled` with `PAD_ROWS` rows so the last, partial
    /// group of lanes reads past the block without a check.
    pub(crate) fn walk_filled(
        &self,
        filled: &mut Vec<f32>,
        unscored: &[bool],
        share: &mut [f32],
        score: &mut [f32],
    ) {
        let f = self.fill.len();
        let rows = score.len();
        let explain = !share.is_empty();
        filled.truncate(rows * f);
        filled.extend(self.fill.iter().copied().cycle().take(PAD_ROWS * f));
        let filled: &[f32] = filled;
        let weight_per_tree = 1.0 / self.roots.len() as f32;
        score.fill(0.0);
        if let Some(p) = &self.perfect {
            p.walk(filled, f, weight_per_tree, &self.paths, share, score);
        } else {
            for (&root, &depth) in self.roots.iter().zip(&self.depth) {
                let mut r0 = 0;
                while r0 < rows {
                    let lanes = LANES.min(rows - r0);
                    let mut node = [root as usize; LANES];
                    let xs: [&[f32]; LANES] = std::array::from_fn(|l| {
                        let r = r0 + l.min(lanes - 1);
                        &filled[r * f..(r + 1) * f]
                    });
                    for _ in 0..depth {
                        for l in 0..LANES {
                            let n = self.nodes[node[l]];
                            node[l] = n.left as usize
                                + usize::from(xs[l][n.feature as usize] > n.threshold);
                        }
                    }
                    for l in 0..lanes {
                        let r = r0 + l;
                        let leaf = node[l];
                        score[r] += self.nodes[leaf].value;
                        let len = self.path_len[leaf] as usize;
                        if explain && len > 0 {
                            let w = weight_per_tree / len as f32;
                            let start = self.path_start[leaf] as usize;
                            for &j in &self.paths[start..start + len] {
                                share[r * f + j as usize] += w;
                            }
                        }
                    }
                    r0 += lanes;
                }
            }
        }
        let trees = self.roots.len() as f32;
        for r in 0..rows {
            if unscored[r] {
                if explain {
                    share[r * f..(r + 1) * f].fill(f32::NAN);
                }
                score[r] = f32::NAN;
            } else {
                score[r] = (-(score[r] / trees) / self.c_norm).exp2();
            }
        }
    }
}

/// Deepest forest laid out as perfect trees (2^depth leaves per tree).
const PERFECT_MAX_DEPTH: u32 = 10;
/// Split slots stored per tree (for any depth up to the maximum), a power of two.
const PERFECT_SLOTS: usize = 1 << PERFECT_MAX_DEPTH;
const PERFECT_MASK: usize = PERFECT_SLOTS - 1;

/// One split of a perfect tree: `x[feature] > threshold` goes right.
#[derive(Clone, Copy)]
struct Split {
    feature: u32,
    threshold: f32,
}

/// The forest as perfect binary trees of one depth D in level order (children of slot i at
/// 2i+1 and 2i+2), so a walk is D steps of arithmetic with no child pointers. A leaf above
/// depth D becomes pass-through slots (threshold +inf: always left) down to depth D.
struct Perfect {
    depth: u32,
    /// Per tree, 2^D - 1 splits (feature, threshold), side by side so one load reads both.
    split: Vec<Split>,
    /// Per tree, 2^D leaf values and the (start, len) of the original leaf's path.
    value: Vec<f32>,
    path: Vec<(u32, u32)>,
    /// The same trees for the AVX-512 walk of scores only, when the CPU has it.
    #[cfg(target_arch = "x86_64")]
    simd: Option<avx512::Tables>,
}

impl Perfect {
    fn new(
        forest: &Forest<'_>,
        depth: &[u32],
        path_start: &[u32],
        path_len: &[u32],
    ) -> Option<Self> {
        let d = depth.iter().copied().max().unwrap_or(0);
        if d > PERFECT_MAX_DEPTH {
            return None;
        }
        let (inner, leaves) = ((1usize << d) - 1, 1usize << d);
        let trees = forest.roots.len();
        let mut p = Perfect {
            depth: d,
            split: vec![
                Split {
                    feature: 0,
                    threshold: f32::INFINITY,
                };
                trees * PERFECT_SLOTS
            ],
            value: vec![0.0; trees * leaves],
            path: vec![(0, 0); trees * leaves],
            #[cfg(target_arch = "x86_64")]
            simd: None,
        };
        for (t, &root) in forest.roots.iter().enumerate() {
            // (original node, slot in the perfect tree)
            let mut stack = vec![(root as usize, 0usize)];
            while let Some((node, slot)) = stack.pop() {
                let n = forest.nodes[node];
                if slot >= inner {
                    let leaf = t * leaves + slot - inner;
                    p.value[leaf] = n.value;
                    p.path[leaf] = (path_start[node], path_len[node]);
                } else if n.feature >= 0 {
                    p.split[t * PERFECT_SLOTS + slot] = Split {
                        feature: n.feature as u32,
                        threshold: n.threshold,
                    };
                    stack.push((n.left as usize, 2 * slot + 1));
                    stack.push((n.left as usize + 1, 2 * slot + 2));
                } else {
                    // Pass-through: both sides lead to the same leaf.
                    stack.push((node, 2 * slot + 1));
                    stack.push((node, 2 * slot + 2));
                }
            }
        }
        #[cfg(target_arch = "x86_64")]
        {
            p.simd = avx512::Tables::new(d, forest.fill.len(), &p.value, |t, slot| {
                let s = p.split[t * PERFECT_SLOTS + slot];
                (s.feature, s.threshold)
            });
        }
        Some(p)
    }

    fn walk(
        &self,
        filled: &[f32],
        f: usize,
        weight_per_tree: f32,
        paths: &[u32],
        share: &mut [f32],
        score: &mut [f32],
    ) {
        let rows = score.len();
        let explain = !share.is_empty();
        #[cfg(target_arch = "x86_64")]
        if let (false, Some(simd)) = (explain, &self.simd)
            && simd.walk(filled, f, score)
        {
            return;
        }
        let (inner, leaves) = ((1usize << self.depth) - 1, 1usize << self.depth);
        let trees = self.value.len() / leaves;
        for t in 0..trees {
            let Ok(split) = <&[Split; PERFECT_SLOTS]>::try_from(
                &self.split[t * PERFECT_SLOTS..(t + 1) * PERFECT_SLOTS],
            ) else {
                continue;
            };
            let mut r0 = 0;
            while r0 < rows {
                let lanes = LANES.min(rows - r0);
                let base = r0 * f;
                let mut slot = [0usize; LANES];
                for _ in 0..self.depth {
                    for l in 0..LANES {
                        // Slots stay below 2^depth - 1 during the walk: the mask only lets
                        // the compiler drop the bounds checks.
                        let i = slot[l] & PERFECT_MASK;
                        let Split { feature, threshold } = split[i];
                        let v = filled[base + l * f + feature as usize];
                        slot[l] = 2 * i + 1 + usize::from(v > threshold);
                    }
                }
                for l in 0..lanes {
                    let r = r0 + l;
                    let leaf = t * leaves + slot[l] - inner;
                    score[r] += self.value[leaf];
                    let (start, len) = self.path[leaf];
                    if explain && len > 0 {
                        let w = weight_per_tree / len as f32;
                        for &j in &paths[start as usize..(start + len) as usize] {
                            share[r * f + j as usize] += w;
                        }
                    }
                }
                r0 += lanes;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;

    #[test]
    fn block_equals_row_exactly() {
        // A random forest of depth <= 6 over 5 features, and rows with nulls.
        let mut rng = SplitMix64(1);
        let (f, trees) = (5usize, 7usize);
        let mut nodes = Vec::new();
        let mut roots = Vec::new();
        for _ in 0..trees {
            let base = nodes.len();
            roots.push(base as u32);
            // A full tree of depth 4 in level order: node i has children 2i+1, 2i+2.
            for i in 0..31usize {
                if i < 15 {
                    nodes.push(Node {
                        feature: rng.below(f) as i32,
                        threshold: rng.unit() as f32,
                        left: (base + 2 * i + 1) as u32,
                        value: 0.0,
                    });
                } else {
                    nodes.push(Node {
                        feature: -1,
                        threshold: 0.0,
                        left: 0,
                        value: 4.0 + rng.unit() as f32,
                    });
                }
            }
        }
        let fill = vec![0.5f32; f];
        let forest = Forest {
            nodes: &nodes,
            roots: &roots,
            fill: &fill,
            max_depth: 5,
            c_norm: 3.0,
        };
        let rows = 37;
        let x: Vec<f32> = (0..rows * f)
            .map(|i| {
                if i % 11 == 0 || i / f == 20 {
                    f32::NAN
                } else {
                    rng.unit() as f32
                }
            })
            .collect();
        let (mut share_a, mut score_a) = (vec![0f32; rows * f], vec![0f32; rows]);
        for r in 0..rows {
            score_a[r] = row(
                &forest,
                &x[r * f..(r + 1) * f],
                &mut share_a[r * f..(r + 1) * f],
            );
        }
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        let (mut share_b, mut score_b) = (vec![0f32; rows * f], vec![0f32; rows]);
        let compiled = Compiled::new(&forest);
        compiled.block(&x, &mut share_b, &mut score_b);
        let mut score_c = vec![0f32; rows];
        compiled.block(&x, &mut [], &mut score_c);
        assert_eq!(bits(&score_c), bits(&score_b));
        // The same through the general (pointer) walk.
        assert!(compiled.perfect.is_some());
        let general = Compiled {
            perfect: None,
            ..Compiled::new(&forest)
        };
        let (mut share_d, mut score_d) = (vec![0f32; rows * f], vec![0f32; rows]);
        general.block(&x, &mut share_d, &mut score_d);
        assert_eq!(bits(&score_d), bits(&score_b));
        assert_eq!(bits(&share_d), bits(&share_b));
        assert_eq!(bits(&score_a), bits(&score_b));
        assert_eq!(bits(&share_a), bits(&share_b));
        assert!(score_b[20].is_nan());
    }

    /// A random tree grown to `depth` levels at most, leaves appearing early at random;
    /// nodes appended to `nodes` in the kernel layout (children after parents).
    fn random_tree(rng: &mut SplitMix64, nodes: &mut Vec<Node>, f: usize, depth: u32) {
        let root = nodes.len();
        nodes.push(Node::default());
        let mut stack = vec![(root, 0u32)];
        while let Some((at, d)) = stack.pop() {
            if d == depth || (d >= 2 && rng.below(6) == 0) {
                nodes[at] = Node {
                    feature: -1,
                    threshold: 0.0,
                    left: 0,
                    value: d as f32 + rng.unit() as f32,
                };
                continue;
            }
            let left = nodes.len();
            nodes.push(Node::default());
            nodes.push(Node::default());
            nodes[at] = Node {
                feature: rng.below(f) as i32,
                threshold: rng.unit() as f32 - 0.5,
                left: left as u32,
                value: 0.0,
            };
            stack.push((left + 1, d + 1));
            stack.push((left, d + 1));
        }
    }

    #[test]
    fn vector_walk_equals_scalar_walk_exactly() {
        // Depths on both sides of the five levels held in registers, tree counts that are
        // and are not multiples of the trees walked side by side, rows that are and are not
        // multiples of 16, rows with nulls and all-null rows.
        let mut rng = SplitMix64(7);
        for (f, trees, depth, rows) in [
            (16usize, 100usize, 8u32, 1000usize),
            (3, 7, 5, 37),
            (16, 9, 10, 16),
            (1, 5, 2, 3),
            (20, 4, 9, 250),
        ] {
            let (mut nodes, mut roots) = (Vec::new(), Vec::new());
            for _ in 0..trees {
                roots.push(nodes.len() as u32);
                random_tree(&mut rng, &mut nodes, f, depth);
            }
            let fill: Vec<f32> = (0..f).map(|_| rng.unit() as f32 - 0.5).collect();
            let forest = Forest {
                nodes: &nodes,
                roots: &roots,
                fill: &fill,
                max_depth: depth + 1,
                c_norm: 7.0,
            };
            let x: Vec<f32> = (0..rows * f)
                .map(|i| {
                    if i % 13 == 0 || i / f == 2 {
                        f32::NAN
                    } else {
                        rng.unit() as f32 - 0.5
                    }
                })
                .collect();
            let compiled = Compiled::new(&forest);
            let mut fast = vec![0f32; rows];
            compiled.block(&x, &mut [], &mut fast);
            // The scalar perfect-tree walk and the pointer walk, without the vector tables.
            let mut scalar = Compiled::new(&forest);
            if let Some(p) = scalar.perfect.as_mut() {
                #[cfg(target_arch = "x86_64")]
                {
                    if p.simd.is_none() {
                        eprintln!("no AVX-512 on this CPU: the vector walk is not exercised");
                    }
                    p.simd = None;
                }
                let _ = p;
            }
            let mut slow = vec![0f32; rows];
            scalar.block(&x, &mut [], &mut slow);
            let general = Compiled {
                perfect: None,
                ..Compiled::new(&forest)
            };
            let mut pointer = vec![0f32; rows];
            general.block(&x, &mut [], &mut pointer);
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(
                bits(&fast),
                bits(&slow),
                "f {f}, trees {trees}, depth {depth}"
            );
            assert_eq!(
                bits(&fast),
                bits(&pointer),
                "f {f}, trees {trees}, depth {depth}"
            );
            // Row by row, the shader's arithmetic.
            for r in 0..rows {
                let mut share = vec![0f32; f];
                let want = row(&forest, &x[r * f..(r + 1) * f], &mut share);
                assert_eq!(fast[r].to_bits(), want.to_bits(), "row {r}");
            }
            assert!(fast[2].is_nan());
        }
    }
}
