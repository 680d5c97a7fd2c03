// Segmented reduction over sorted runs: one invocation per run of rows that share an
// (entity, window) group. Values are signed 64-bit integers uploaded as (lo, hi) u32 pairs,
// sorted ascending within each run (the host sorts them), so the distinct count is the number
// of value changes. Per run, 8 u32 words: count, distinct, sum (lo, hi; two's complement,
// wrapping like i64::wrapping_add), min (lo, hi), max (lo, hi).
// Runs longer than params.max_run are left zero and computed by the CPU twin (one invocation
// looping over a long run stalls its workgroup; lavapipe also stops a loop nest after 65,535
// iterations).
// CPU twin: core/src/cpu/segment_reduce.rs
//!include shared/params.wgsl

@group(0) @binding(0) var<uniform> params: SegmentParams;
@group(0) @binding(1) var<storage, read> offsets: array<u32>;
@group(0) @binding(2) var<storage, read> values: array<u32>;
@group(0) @binding(3) var<storage, read_write> output: array<u32>;

// Signed 64-bit a < b on (lo, hi) pairs.
fn lt64(a_lo: u32, a_hi: u32, b_lo: u32, b_hi: u32) -> bool {
    if (a_hi != b_hi) {
        return bitcast<i32>(a_hi) < bitcast<i32>(b_hi);
    }
    return a_lo < b_lo;
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let run = row_index(gid, groups);
    if (run >= params.runs) {
        return;
    }
    let start = offsets[run] - params.base;
    let end = offsets[run + 1u] - params.base;
    let n = end - start;
    if (n == 0u || n > params.max_run) {
        return;
    }
    var s_lo = 0u;
    var s_hi = 0u;
    var min_lo = values[2u * start];
    var min_hi = values[2u * start + 1u];
    var max_lo = min_lo;
    var max_hi = min_hi;
    var prev_lo = min_lo;
    var prev_hi = min_hi;
    var distinct = 1u;
    for (var i = 0u; i < n; i = i + 1u) {
        let v_lo = values[2u * (start + i)];
        let v_hi = values[2u * (start + i) + 1u];
        let lo = s_lo + v_lo;
        s_hi = s_hi + v_hi + select(0u, 1u, lo < s_lo);
        s_lo = lo;
        if (lt64(v_lo, v_hi, min_lo, min_hi)) {
            min_lo = v_lo;
            min_hi = v_hi;
        }
        if (lt64(max_lo, max_hi, v_lo, v_hi)) {
            max_lo = v_lo;
            max_hi = v_hi;
        }
        if (i > 0u && (v_lo != prev_lo || v_hi != prev_hi)) {
            distinct = distinct + 1u;
        }
        prev_lo = v_lo;
        prev_hi = v_hi;
    }
    let o = run * 8u;
    output[o] = n;
    output[o + 1u] = distinct;
    output[o + 2u] = s_lo;
    output[o + 3u] = s_hi;
    output[o + 4u] = min_lo;
    output[o + 5u] = min_hi;
    output[o + 6u] = max_lo;
    output[o + 7u] = max_hi;
}
