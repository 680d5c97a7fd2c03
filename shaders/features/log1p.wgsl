// log(1 + x) of each value, accurate for small |x| (the u = 1 + x correction of Goldberg).
// NaN (null) in, NaN out; x <= -1 (outside the domain) gives NaN, which the host turns into null.
// CPU twin: core/src/cpu/log1p.rs
//!include shared/numeric.wgsl

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let row = row_index(gid, groups);
    if (row >= params.rows) {
        return;
    }
    let x = input[row];
    let u = 1.0 + x;
    var y: f32;
    if (is_nan(x) || x <= -1.0) {
        y = nan();
    } else if (u == 1.0) {
        y = x;
    } else {
        y = log(u) * x / (u - 1.0);
    }
    output[row] = y;
}
