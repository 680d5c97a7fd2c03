// Shannon entropy of each string's bytes, in bits: -sum p_b log2 p_b over byte values b,
// computed as log2(n) - (1/n) sum c_b log2 c_b (c_b: count of byte b, n: length), clamped at 0.
// An empty string has entropy 0. Output: 1 f32 per row. CPU twin: core/src/cpu/entropy.rs
//!include shared/strings.wgsl

@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let r = string_row(gid, groups);
    if (!r.in_range) {
        return;
    }
    let row = r.index;
    let span = vec2<u32>(r.start, r.end);
    var counts: array<u32, 256>;
    for (var i = span.x; i < span.y; i = i + 1u) {
        let b = byte_at(i);
        counts[b] = counts[b] + 1u;
    }
    // H = log2(n) - (1/n) * sum over byte values b (ascending) of c_b * log2(c_b).
    let n = f32(span.y - span.x);
    var acc = 0.0;
    for (var b = 0u; b < 256u; b = b + 1u) {
        let c = counts[b];
        if (c > 0u) {
            let cf = f32(c);
            acc = acc + cf * log2(cf);
        }
    }
    if (span.y == span.x) {
        out[row] = 0.0;
    } else {
        out[row] = max(log2(n) - acc / n, 0.0);
    }
}
