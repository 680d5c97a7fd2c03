// Bindings and helpers of the string kernels: a column arrives as Arrow has it,
// an offsets buffer and the value bytes packed into little-endian u32 words.
//!include shared/params.wgsl

@group(0) @binding(0) var<uniform> params: StringParams;
@group(0) @binding(1) var<storage, read> offsets: array<u32>;
@group(0) @binding(2) var<storage, read> bytes: array<u32>;

// Byte i of the uploaded value bytes.
fn byte_at(i: u32) -> u32 {
    return (bytes[i >> 2u] >> ((i & 3u) * 8u)) & 0xffu;
}

// [start, end) of row `row` in the uploaded value bytes.
fn row_span(row: u32) -> vec2<u32> {
    return vec2<u32>(offsets[row] - params.base, offsets[row + 1u] - params.base);
}

// The row of this invocation and its byte span; `in_range` is false past the last row and for
// rows longer than `params.max_row_bytes` (the host computes those on the CPU).
struct StringRow {
    index: u32,
    start: u32,
    end: u32,
    in_range: bool,
}

fn string_row(gid: vec3<u32>, groups: vec3<u32>) -> StringRow {
    let row = row_index(gid, groups);
    if (row >= params.rows) {
        return StringRow(row, 0u, 0u, false);
    }
    let span = row_span(row);
    return StringRow(row, span.x, span.y, span.y - span.x <= params.max_row_bytes);
}
