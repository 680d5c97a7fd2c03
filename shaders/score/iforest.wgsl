// Isolation-forest score and per-feature path shares. x is row-major rows x features, NaN =
// null (replaced by fill[j], the baseline mean). Trees are flat node arrays: a node is a leaf
// when feature < 0 (value = depth + c(leaf samples)); an internal node sends x[feature] <=
// threshold to `left`, else to left + 1. Children always come after their parent, so a walk
// ends within max_depth steps. score = 2^(-mean path length / c_norm) (scikit-learn's
// definition, positive: higher = more anomalous). share[j] = mean over trees of (splits on j
// along the row's path) / (splits on the path). CPU twin: core/src/cpu/iforest.rs
//!include shared/params.wgsl

struct Node {
    feature: i32,
    threshold: f32,
    left: u32,
    value: f32,
}

@group(0) @binding(0) var<uniform> params: ForestParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> fill: array<f32>;
@group(0) @binding(3) var<storage, read> nodes: array<Node>;
@group(0) @binding(4) var<storage, read> roots: array<u32>;
@group(0) @binding(5) var<storage, read_write> share: array<f32>;
@group(0) @binding(6) var<storage, read_write> score: array<f32>;

fn feature_value(row: u32, j: u32) -> f32 {
    let v = x[row * params.features + j];
    if (is_nan(v)) {
        return fill[j];
    }
    return v;
}

// Walks one tree from `root`; returns the leaf index and the number of splits passed.
fn walk(row: u32, root: u32) -> vec2<u32> {
    var node = root;
    var splits = 0u;
    for (var d = 0u; d < params.max_depth; d = d + 1u) {
        let n = nodes[node];
        if (n.feature < 0) {
            break;
        }
        if (feature_value(row, u32(n.feature)) <= n.threshold) {
            node = n.left;
        } else {
            node = n.left + 1u;
        }
        splits = splits + 1u;
    }
    return vec2<u32>(node, splits);
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let row = row_index(gid, groups);
    if (row >= params.rows) {
        return;
    }
    let f = params.features;
    var usable = 0u;
    for (var j = 0u; j < f; j = j + 1u) {
        if (!is_nan(x[row * f + j])) {
            usable = usable + 1u;
        }
    }
    if (usable == 0u) {
        score[row] = nan();
        for (var j = 0u; j < f; j = j + 1u) {
            share[row * f + j] = nan();
        }
        return;
    }
    let weight_per_tree = 1.0 / f32(params.trees);
    var total = 0.0;
    for (var t = 0u; t < params.trees; t = t + 1u) {
        let end = walk(row, roots[t]);
        total = total + nodes[end.x].value;
        if (end.y == 0u) {
            continue;
        }
        // Second walk: credit each split's feature with an equal part of this tree's weight.
        let w = weight_per_tree / f32(end.y);
        var node = roots[t];
        for (var d = 0u; d < end.y; d = d + 1u) {
            let n = nodes[node];
            let j = u32(n.feature);
            share[row * f + j] = share[row * f + j] + w;
            if (feature_value(row, j) <= n.threshold) {
                node = n.left;
            } else {
                node = n.left + 1u;
            }
        }
    }
    score[row] = exp2(-(total / f32(params.trees)) / params.c_norm);
}
