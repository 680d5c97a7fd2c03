// Event-count vectors: one invocation per (session, template) pair adds 1 to its cell of
// the sessions x templates block. Cells are relative to the block's first cell; cells past
// the block are ignored. CPU twin: core/src/cpu/count_vectors.rs
//!include shared/params.wgsl

@group(0) @binding(0) var<uniform> params: CountParams;
@group(0) @binding(1) var<storage, read> cells: array<u32>;
@group(0) @binding(2) var<storage, read_write> counts: array<atomic<u32>>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = row_index(gid, groups);
    if (i >= params.rows) {
        return;
    }
    let c = cells[i];
    if (c < params.cells) {
        atomicAdd(&counts[c], 1u);
    }
}
