//! Twin of `shaders/aggregate/histogram.wgsl`: per-feature histograms over given bin edges.

/// Adds one row's values to `counts` (features x (bins + 1), the last bin of each feature
/// counting nulls). `edges`: `bins - 1` ascending edges per feature; v goes to bin = the
/// number of its feature's edges that are <= v.
pub(crate) fn row(x: &[f32], edges: &[f32], bins: usize, counts: &mut [u64]) {
    let n = bins - 1;
    for (j, &v) in x.iter().enumerate() {
        let b = if v.is_nan() {
            bins
        } else {
            edges[j * n..(j + 1) * n].partition_point(|&e| e <= v)
        };
        counts[j * (bins + 1) + b] += 1;
    }
}
