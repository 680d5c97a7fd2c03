// Per-feature histograms of a row-major matrix (rows x features, NaN = null) over given bin
// edges: a value v of feature j falls in bin b = the number of edges of j that are <= v
// (edges ascending, `bins - 1` per feature), a null in the extra bin `bins`. Counts are
// accumulated with atomics into features x (bins + 1) u32 cells (zeroed before dispatch).
// CPU twin: core/src/cpu/histogram.rs
//!include shared/params.wgsl

@group(0) @binding(0) var<uniform> params: HistogramParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> edges: array<f32>;
@group(0) @binding(3) var<storage, read_write> counts: array<atomic<u32>>;

// Number of the first `n` edges of feature j that are <= v (binary search).
fn upper_bound(j: u32, n: u32, v: f32) -> u32 {
    var lo = 0u;
    var hi = n;
    // At most 32 halvings for any n < 2^32.
    for (var step = 0u; step < 32u && lo < hi; step = step + 1u) {
        let mid = (lo + hi) / 2u;
        if (edges[j * n + mid] <= v) {
            lo = mid + 1u;
        } else {
            hi = mid;
        }
    }
    return lo;
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let row = row_index(gid, groups);
    if (row >= params.rows) {
        return;
    }
    let f = params.features;
    let bins = params.bins;
    for (var j = 0u; j < f; j = j + 1u) {
        let v = x[row * f + j];
        var b = bins;
        if (!is_nan(v)) {
            b = upper_bound(j, bins - 1u, v);
        }
        atomicAdd(&counts[j * (bins + 1u) + b], 1u);
    }
}
