//! Twin of `shaders/score/iforest.wgsl`: isolation-forest score and per-feature path shares
//! of one row.

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

fn feature_value(x: &[f32], fill: &[f32], j: usize) -> f32 {
    let v = x[j];
    if v.is_nan() { fill[j] } else { v }
}

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
/// (NaN when every feature is null, with every share NaN).
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
