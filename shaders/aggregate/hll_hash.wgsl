// HyperLogLog input of each value: a 32-bit hash of the value's 64-bit code (uploaded as
// (lo, hi) u32 pairs) and its register update, packed as (register << 8) | rank, for 2^12
// registers: register = top 12 bits, rank = leading zeros of the other 20 bits + 1 (1..21).
// Output: 2 u32 per value (hash, packed update). The host keeps exact hash lists for small
// groups and applies the updates (max per register) for large ones.
// CPU twin: core/src/cpu/hll_hash.rs
//!include shared/params.wgsl

@group(0) @binding(0) var<uniform> params: TimeParams;
@group(0) @binding(1) var<storage, read> values: array<u32>;
@group(0) @binding(2) var<storage, read_write> output: array<u32>;

// murmur3's 32-bit finaliser.
fn fmix32(x: u32) -> u32 {
    var h = x;
    h = h ^ (h >> 16u);
    h = h * 0x85ebca6bu;
    h = h ^ (h >> 13u);
    h = h * 0xc2b2ae35u;
    return h ^ (h >> 16u);
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let row = row_index(gid, groups);
    if (row >= params.rows) {
        return;
    }
    let lo = values[2u * row];
    let hi = values[2u * row + 1u];
    let h = fmix32(lo ^ fmix32(hi ^ 0x9e3779b9u));
    let reg = h >> 20u;
    let rank = min(countLeadingZeros(h << 12u), 20u) + 1u;
    output[2u * row] = h;
    output[2u * row + 1u] = (reg << 8u) | rank;
}
