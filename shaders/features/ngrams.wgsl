// Signed feature hashing of byte n-grams. Every window of n bytes is hashed with
// vigil's n-gram hash (FNV-1a 32-bit, then the murmur3 fmix32 finaliser); bucket = hash & (dims - 1);
// the window adds +1 to its bucket when bit 31 of the hash is 0, else -1. Strings shorter
// than n give a zero vector. Output: dims f32 per row. CPU twin: core/src/cpu/ngrams.rs
//!include shared/strings.wgsl

@group(0) @binding(3) var<storage, read_write> out: array<f32>;

fn fmix32(x: u32) -> u32 {
    var h = x;
    h = h ^ (h >> 16u);
    h = h * 0x85ebca6bu;
    h = h ^ (h >> 13u);
    h = h * 0xc2b2ae35u;
    h = h ^ (h >> 16u);
    return h;
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let r = string_row(gid, groups);
    if (!r.in_range) {
        return;
    }
    let row = r.index;
    let span = vec2<u32>(r.start, r.end);
    let n = params.n;
    let base = row * params.dims;
    // The host zero-fills the output buffer before the dispatch.
    if (span.y - span.x < n) {
        return;
    }
    let last = span.y - n + 1u;
    for (var s = span.x; s < last; s = s + 1u) {
        var h = 2166136261u;
        for (var j = 0u; j < n; j = j + 1u) {
            h = (h ^ byte_at(s + j)) * 16777619u;
        }
        h = fmix32(h);
        let bucket = base + (h & (params.dims - 1u));
        if ((h & 0x80000000u) == 0u) {
            out[bucket] = out[bucket] + 1.0;
        } else {
            out[bucket] = out[bucket] - 1.0;
        }
    }
}
