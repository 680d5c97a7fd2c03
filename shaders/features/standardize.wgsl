// (x - mean) / std of each value. NaN (null) in, NaN out. CPU twin: core/src/cpu/standardize.rs
//!include shared/numeric.wgsl

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let row = row_index(gid, groups);
    if (row >= params.rows) {
        return;
    }
    let x = input[row];
    if (is_nan(x)) {
        output[row] = nan();
    } else {
        output[row] = (x - params.mean) / params.std_dev;
    }
}
