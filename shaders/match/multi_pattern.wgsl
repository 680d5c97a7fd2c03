// Multi-pattern matching: for every row and every pattern, whether the pattern occurs at its
// anchor (0 exact, 1 prefix, 2 suffix, 3 anywhere), optionally with ASCII case folding of the
// row (patterns arrive already lower-cased). Output: `words` u32 per row, bit p%32 of word
// p/32 set when pattern p matches. CPU twin: core/src/cpu/multi_pattern.rs
//!include shared/params.wgsl

@group(0) @binding(0) var<uniform> params: MatchParams;
@group(0) @binding(1) var<storage, read> offsets: array<u32>;
@group(0) @binding(2) var<storage, read> bytes: array<u32>;
@group(0) @binding(3) var<storage, read> pat_offsets: array<u32>;
@group(0) @binding(4) var<storage, read> pat_bytes: array<u32>;
@group(0) @binding(5) var<storage, read> pat_anchor: array<u32>;
@group(0) @binding(6) var<storage, read_write> out: array<u32>;

fn row_byte(i: u32) -> u32 {
    let b = (bytes[i >> 2u] >> ((i & 3u) * 8u)) & 0xffu;
    if (params.fold != 0u && b >= 65u && b <= 90u) {
        return b + 32u;
    }
    return b;
}

fn pat_byte(i: u32) -> u32 {
    return (pat_bytes[i >> 2u] >> ((i & 3u) * 8u)) & 0xffu;
}

// Whether the pattern bytes [ps, ps + pl) equal the row bytes from `at`.
fn equal_at(at: u32, ps: u32, pl: u32) -> bool {
    for (var k = 0u; k < pl; k = k + 1u) {
        if (row_byte(at + k) != pat_byte(ps + k)) {
            return false;
        }
    }
    return true;
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let row = row_index(gid, groups);
    if (row >= params.rows) {
        return;
    }
    let start = offsets[row] - params.base;
    let end = offsets[row + 1u] - params.base;
    let len = end - start;
    if (len > params.max_row_bytes) {
        return;
    }
    for (var p = 0u; p < params.patterns; p = p + 1u) {
        let ps = pat_offsets[p];
        let pl = pat_offsets[p + 1u] - ps;
        let anchor = pat_anchor[p];
        var hit = false;
        if (pl <= len) {
            if (anchor == 0u) {
                hit = pl == len && equal_at(start, ps, pl);
            } else if (anchor == 1u) {
                hit = equal_at(start, ps, pl);
            } else if (anchor == 2u) {
                hit = equal_at(end - pl, ps, pl);
            } else {
                for (var s = start; s + pl <= end; s = s + 1u) {
                    if (equal_at(s, ps, pl)) {
                        hit = true;
                        break;
                    }
                }
            }
        }
        if (hit) {
            let w = row * params.words + (p >> 5u);
            out[w] = out[w] | (1u << (p & 31u));
        }
    }
}
