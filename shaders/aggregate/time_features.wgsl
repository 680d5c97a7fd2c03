// Hour-of-day and day-of-week as sin/cos pairs. Input: per row, the local second of the week
// (0 = Monday 00:00:00 in the chosen time zone, computed on the host, which applies the zone's
// offset), or 0xffffffff for a null time. Output: 4 f32 per row: hour_sin, hour_cos (angle
// 2*pi * second_of_day / 86400, so minutes count), dow_sin, dow_cos (angle 2*pi * day / 7,
// Monday = 0); NaN for a null time.
// CPU twin: core/src/cpu/time_features.rs
//!include shared/params.wgsl

@group(0) @binding(0) var<uniform> params: TimeParams;
@group(0) @binding(1) var<storage, read> input: array<u32>;
@group(0) @binding(2) var<storage, read_write> output: array<f32>;

const TAU: f32 = 6.2831855;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let row = row_index(gid, groups);
    if (row >= params.rows) {
        return;
    }
    let s = input[row];
    let o = row * 4u;
    if (s == 0xffffffffu) {
        output[o] = nan();
        output[o + 1u] = nan();
        output[o + 2u] = nan();
        output[o + 3u] = nan();
        return;
    }
    let h = TAU * f32(s % 86400u) / 86400.0;
    let d = TAU * f32(s / 86400u) / 7.0;
    output[o] = sin(h);
    output[o + 1u] = cos(h);
    output[o + 2u] = sin(d);
    output[o + 3u] = cos(d);
}
