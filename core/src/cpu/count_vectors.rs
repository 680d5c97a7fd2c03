//! Twin of `shaders/aggregate/count_vectors.wgsl`: adds 1 to `out[cell]` for every cell
//! index (relative to the block's first cell) of a block of (session, template) pairs.

pub(crate) fn block(cells: &[u32], out: &mut [u32]) {
    for &c in cells {
        if let Some(o) = out.get_mut(c as usize) {
            *o += 1;
        }
    }
}
