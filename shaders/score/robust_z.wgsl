// Robust z of every feature and the row score. x is row-major rows x features, NaN = null.
// z = (x - center) / scale, clamped to [-z_cap, z_cap]; a feature whose baseline scale is 0
// gives z = 0 when x equals its center, else +-z_cap. score = sqrt(mean of z^2 over the
// row's non-null features), NaN when all are null. CPU twin: core/src/cpu/robust_z.rs
//!include shared/params.wgsl

@group(0) @binding(0) var<uniform> params: ScoreParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> center: array<f32>;
@group(0) @binding(3) var<storage, read> scale: array<f32>;
@group(0) @binding(4) var<storage, read_write> z: array<f32>;
@group(0) @binding(5) var<storage, read_write> score: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let row = row_index(gid, groups);
    if (row >= params.rows) {
        return;
    }
    let f = params.features;
    let cap = params.z_cap;
    var sum = 0.0;
    var count = 0u;
    for (var j = 0u; j < f; j = j + 1u) {
        let v = x[row * f + j];
        var zj: f32;
        if (is_nan(v)) {
            zj = nan();
        } else {
            let d = v - center[j];
            let s = scale[j];
            if (s > 0.0) {
                zj = clamp(d / s, -cap, cap);
            } else if (d == 0.0) {
                zj = 0.0;
            } else {
                zj = sign(d) * cap;
            }
            sum = sum + zj * zj;
            count = count + 1u;
        }
        z[row * f + j] = zj;
    }
    if (count == 0u) {
        score[row] = nan();
    } else {
        score[row] = sqrt(sum / f32(count));
    }
}
