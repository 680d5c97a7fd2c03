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
