// Length of each string: bytes, and Unicode code points (bytes that are not UTF-8
// continuation bytes 0b10xxxxxx). Output: 2 u32 per row. CPU twin: core/src/cpu/length.rs
//!include shared/strings.wgsl

@group(0) @binding(3) var<storage, read_write> out: array<u32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let r = string_row(gid, groups);
    if (!r.in_range) {
        return;
    }
    let row = r.index;
    let span = vec2<u32>(r.start, r.end);
    var chars = 0u;
    for (var i = span.x; i < span.y; i = i + 1u) {
        if ((byte_at(i) & 0xc0u) != 0x80u) {
            chars = chars + 1u;
        }
    }
    out[2u * row] = span.y - span.x;
    out[2u * row + 1u] = chars;
}
