//! Executors of the count-vector kernel (`aggregate/count_vectors`).

use super::{Engine, first_output, u32s};
use crate::cpu;
use crate::error::Result;
use crate::gpu::{self, Binding, GpuContext, params};

impl Engine {
    /// A dense count matrix of `total` cells with 1 added per entry of `cells`.
    pub(crate) fn count_cells(&self, cells: &[u64], total: usize) -> Result<Vec<u32>> {
        if cells.is_empty() || total == 0 {
            return Ok(vec![0; total]);
        }
        self.run(
            cells.len() * 8,
            true,
            |ctx| self.count_cells_gpu(ctx, cells, total),
            || {
                let mut out = vec![0u32; total];
                // The twin works on u32 cells of a block; the whole matrix is one block here
                // when it fits u32 indices, which `total <= u32::MAX` guarantees.
                let rel: Vec<u32> = cells.iter().map(|&c| c as u32).collect();
                cpu::count_vectors::block(&rel, &mut out);
                out
            },
        )
    }

    fn count_cells_gpu(&self, ctx: &GpuContext, cells: &[u64], total: usize) -> Result<Vec<u32>> {
        let limit = ctx.summary.max_storage_binding as usize;
        let block_cells = (self.chunk_bytes.min(limit) / 4).max(1);
        let chunk_pairs = (self.chunk_bytes.min(limit) / 4).max(1);
        let mut out = Vec::with_capacity(total);
        let mut c0 = 0usize;
        while c0 < total {
            let c1 = (c0 + block_cells).min(total);
            let rel: Vec<u32> = cells
                .iter()
                .filter(|&&c| (c as usize) >= c0 && (c as usize) < c1)
                .map(|&c| (c as usize - c0) as u32)
                .collect();
            let mut block = vec![0u32; c1 - c0];
            for chunk in rel.chunks(chunk_pairs) {
                let p = params::CountParams {
                    rows: chunk.len() as u32,
                    cells: (c1 - c0) as u32,
                    _pad: [0; 2],
                };
                let result = ctx.dispatch(
                    &gpu::COUNT_VECTORS,
                    p.rows,
                    &[
                        Binding::Uniform(bytemuck::bytes_of(&p)),
                        Binding::Input(bytemuck::cast_slice(chunk)),
                        Binding::Output(((c1 - c0) * 4) as u64),
                    ],
                )?;
                for (o, w) in block
                    .iter_mut()
                    .zip(u32s(first_output(&result, "count_vectors")?))
                {
                    *o += w;
                }
            }
            out.extend(block);
            c0 = c1;
        }
        Ok(out)
    }
}
