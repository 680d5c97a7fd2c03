//! Executors of the row-matrix kernels (`shaders/score/`, `shaders/aggregate/histogram`):
//! robust z, the isolation-forest walk and per-feature histograms, over chunks of whole
//! rows of a row-major f32 matrix.

use rayon::prelude::*;

use super::{CPU_MIN_ROWS, Engine, GPU_MAX_FEATURES, f32s, first_output, u32s};
use crate::cpu;
use crate::error::{Error, Result};
use crate::gpu::{self, Binding, GpuContext, params};

/// Rows per task of [`Engine::robust_z_blocks`] (a block of 14 features is 224 KiB).
const SCORE_BLOCK_ROWS: usize = 4096;

impl Engine {
    /// Robust z of every feature (row-major, `center.len()` per row) and the row scores.
    pub(crate) fn robust_z(
        &self,
        x: &[f32],
        center: &[f32],
        scale: &[f32],
        z_cap: f32,
    ) -> Result<(Vec<f32>, Vec<f32>)> {
        self.robust_z_with(x, center, scale, z_cap, true)
    }

    /// [`robust_z`](Self::robust_z) with the per-feature z left empty unless `explain`.
    pub(crate) fn robust_z_with(
        &self,
        x: &[f32],
        center: &[f32],
        scale: &[f32],
        z_cap: f32,
        explain: bool,
    ) -> Result<(Vec<f32>, Vec<f32>)> {
        let f = center.len();
        if f == 0 || x.is_empty() {
            return Ok(unscored(x, f));
        }
        self.run(
            x.len() * 4,
            f <= GPU_MAX_FEATURES,
            |ctx| {
                let (z, score) = self.robust_z_gpu(ctx, x, center, scale, z_cap)?;
                Ok((if explain { z } else { Vec::new() }, score))
            },
            || {
                let rows = x.len() / f;
                let mut score = vec![0f32; rows];
                if !explain {
                    // The same row function, its z written to a per-task scratch row.
                    score
                        .par_iter_mut()
                        .zip(x.par_chunks(f))
                        .with_min_len(CPU_MIN_ROWS)
                        .for_each_init(
                            || vec![0f32; f],
                            |zr, (s, xr)| *s = cpu::robust_z::row(xr, center, scale, z_cap, zr),
                        );
                    return (Vec::new(), score);
                }
                let mut z = vec![0f32; x.len()];
                z.par_chunks_mut(f)
                    .zip(score.par_iter_mut())
                    .zip(x.par_chunks(f))
                    .with_min_len(CPU_MIN_ROWS)
                    .for_each(|((zr, s), xr)| {
                        *s = cpu::robust_z::row(xr, center, scale, z_cap, zr)
                    });
                (z, score)
            },
        )
    }

    /// The robust-z row scores of `rows` rows of `center.len()` features read block by
    /// block: `read(start, block)` writes the rows from `start` on into `block` column-major
    /// (`block.len() / center.len()` rows a column, NaN = null). On the CPU each task scores
    /// a small block with the twin's column-major form (`cpu::robust_z::block`, the same
    /// operations per row as its row form), so the whole matrix is never built; a GPU gets
    /// the whole row-major matrix from `matrix()`.
    pub(crate) fn robust_z_blocks(
        &self,
        rows: usize,
        center: &[f32],
        scale: &[f32],
        z_cap: f32,
        read: impl Fn(usize, &mut [f32]) + Sync,
        matrix: impl FnOnce() -> Result<Vec<f32>>,
    ) -> Result<Vec<f32>> {
        let f = center.len();
        if f == 0 || rows == 0 {
            // As `robust_z_with` over an empty matrix.
            return Ok(Vec::new());
        }
        let gpu = self.run(
            rows * f * 4,
            f <= GPU_MAX_FEATURES,
            |ctx| {
                let x = matrix()?;
                Ok(Some(self.robust_z_gpu(ctx, &x, center, scale, z_cap)?.1))
            },
            || None,
        )?;
        if let Some(score) = gpu {
            return Ok(score);
        }
        let mut score = vec![0f32; rows];
        score
            .par_chunks_mut(SCORE_BLOCK_ROWS)
            .enumerate()
            .for_each_init(
                || {
                    (
                        vec![0f32; SCORE_BLOCK_ROWS * f],
                        vec![0f32; SCORE_BLOCK_ROWS],
                        vec![0u32; SCORE_BLOCK_ROWS],
                    )
                },
                |(block, sum, count), (b, out)| {
                    let block = &mut block[..out.len() * f];
                    read(b * SCORE_BLOCK_ROWS, block);
                    cpu::robust_z::block(block, center, scale, z_cap, sum, count, out);
                },
            );
        Ok(score)
    }

    fn robust_z_gpu(
        &self,
        ctx: &GpuContext,
        x: &[f32],
        center: &[f32],
        scale: &[f32],
        z_cap: f32,
    ) -> Result<(Vec<f32>, Vec<f32>)> {
        let f = center.len();
        let params = |rows: usize| params::ScoreParams {
            rows: rows as u32,
            features: f as u32,
            z_cap,
            _pad: 0,
        };
        let inputs = [bytemuck::cast_slice(center), bytemuck::cast_slice(scale)];
        self.matrix_kernel_gpu(ctx, &gpu::ROBUST_Z, x, f, params, &inputs)
    }

    /// Runs a row-matrix kernel over chunks of whole rows of `x` (`f` features a row).
    /// Bindings: the params, the chunk, `inputs`, then two outputs, one f32 per value and one
    /// per row, returned concatenated over the chunks.
    fn matrix_kernel_gpu<P: bytemuck::Pod>(
        &self,
        ctx: &GpuContext,
        kernel: &gpu::Kernel,
        x: &[f32],
        f: usize,
        params: impl Fn(usize) -> P,
        inputs: &[&[u8]],
    ) -> Result<(Vec<f32>, Vec<f32>)> {
        let limit = ctx.summary.max_storage_binding as usize;
        let chunk_rows = (self.chunk_bytes.min(limit) / (4 * f)).max(1);
        let mut per_value = Vec::with_capacity(x.len());
        let mut per_row = Vec::with_capacity(x.len() / f);
        for chunk in x.chunks(chunk_rows * f) {
            let rows = chunk.len() / f;
            let p = params(rows);
            let mut bindings = vec![
                Binding::Uniform(bytemuck::bytes_of(&p)),
                Binding::Input(bytemuck::cast_slice(chunk)),
            ];
            bindings.extend(inputs.iter().map(|d| Binding::Input(d)));
            bindings.push(Binding::Output((chunk.len() * 4) as u64));
            bindings.push(Binding::Output((rows * 4) as u64));
            let result = ctx.dispatch(kernel, rows as u32, &bindings)?;
            let mut parts = result.iter();
            let (Some(values), Some(rows_out)) = (parts.next(), parts.next()) else {
                return Err(Error::Gpu(format!(
                    "{}: the kernel returned fewer outputs than bound",
                    kernel.name
                )));
            };
            per_value.extend(f32s(values));
            per_row.extend(f32s(rows_out));
        }
        Ok((per_value, per_row))
    }
}

impl Engine {
    /// Isolation-forest shares (row-major, like `x`; empty unless `explain`) and scores of a
    /// row-major matrix.
    pub(crate) fn iforest(
        &self,
        x: &[f32],
        forest: &cpu::iforest::Forest<'_>,
        explain: bool,
    ) -> Result<(Vec<f32>, Vec<f32>)> {
        let f = forest.fill.len();
        if f == 0 || x.is_empty() {
            return Ok(unscored(x, f));
        }
        // Loop budget of one invocation: lavapipe ends a loop nest after 65,535 iterations.
        let walk_steps = forest.roots.len() * 2 * (forest.max_depth as usize + 1) + 2 * f;
        self.run(
            x.len() * 4,
            f <= GPU_MAX_FEATURES && walk_steps < 65_535,
            |ctx| {
                let (share, score) = self.iforest_gpu(ctx, x, forest)?;
                Ok((if explain { share } else { Vec::new() }, score))
            },
            || iforest_cpu(x, forest, explain),
        )
    }

    pub(super) fn iforest_gpu(
        &self,
        ctx: &GpuContext,
        x: &[f32],
        forest: &cpu::iforest::Forest<'_>,
    ) -> Result<(Vec<f32>, Vec<f32>)> {
        let f = forest.fill.len();
        let params = |rows: usize| params::ForestParams {
            rows: rows as u32,
            features: f as u32,
            trees: forest.roots.len() as u32,
            max_depth: forest.max_depth,
            c_norm: forest.c_norm,
            _pad: [0; 3],
        };
        let inputs = [
            bytemuck::cast_slice(forest.fill),
            bytemuck::cast_slice(forest.nodes),
            bytemuck::cast_slice(forest.roots),
        ];
        self.matrix_kernel_gpu(ctx, &gpu::IFOREST, x, f, params, &inputs)
    }
}

impl Engine {
    /// Histograms of each of the `f` features of a row-major matrix over `edges` (`bins - 1`
    /// ascending edges per feature): features x (bins + 1) counts, the last of each feature
    /// counting nulls.
    pub(crate) fn histogram(
        &self,
        x: &[f32],
        f: usize,
        edges: &[f32],
        bins: usize,
    ) -> Result<Vec<u64>> {
        let cells = f * (bins + 1);
        if f == 0 || x.is_empty() {
            return Ok(vec![0; cells]);
        }
        self.run(
            x.len() * 4,
            f <= GPU_MAX_FEATURES && bins >= 2,
            |ctx| self.histogram_gpu(ctx, x, f, edges, bins),
            || {
                x.par_chunks(f)
                    .with_min_len(CPU_MIN_ROWS)
                    .fold(
                        || vec![0u64; cells],
                        |mut acc, row| {
                            cpu::histogram::row(row, edges, bins, &mut acc);
                            acc
                        },
                    )
                    .reduce(
                        || vec![0u64; cells],
                        |mut a, b| {
                            a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
                            a
                        },
                    )
            },
        )
    }

    fn histogram_gpu(
        &self,
        ctx: &GpuContext,
        x: &[f32],
        f: usize,
        edges: &[f32],
        bins: usize,
    ) -> Result<Vec<u64>> {
        let cells = f * (bins + 1);
        let limit = ctx.summary.max_storage_binding as usize;
        let chunk_rows = (self.chunk_bytes.min(limit) / (4 * f)).max(1);
        let mut total = vec![0u64; cells];
        for chunk in x.chunks(chunk_rows * f) {
            let p = params::HistogramParams {
                rows: (chunk.len() / f) as u32,
                features: f as u32,
                bins: bins as u32,
                _pad: 0,
            };
            let result = ctx.dispatch(
                &gpu::HISTOGRAM,
                p.rows,
                &[
                    Binding::Uniform(bytemuck::bytes_of(&p)),
                    Binding::Input(bytemuck::cast_slice(chunk)),
                    Binding::Input(bytemuck::cast_slice(edges)),
                    Binding::Output((cells * 4) as u64),
                ],
            )?;
            let counts = first_output(&result, "histogram")?;
            for (t, w) in total.iter_mut().zip(u32s(counts)) {
                *t += u64::from(w);
            }
        }
        Ok(total)
    }
}

/// The result of a matrix kernel with no features or no rows: no per-value output, every
/// row unscored (NaN).
fn unscored(x: &[f32], f: usize) -> (Vec<f32>, Vec<f32>) {
    (
        Vec::new(),
        vec![f32::NAN; x.len().checked_div(f).unwrap_or(0)],
    )
}

/// The isolation-forest CPU twin: blocks of rows small enough that a block's rows stay in
/// cache across the trees.
fn iforest_cpu(
    x: &[f32],
    forest: &cpu::iforest::Forest<'_>,
    explain: bool,
) -> (Vec<f32>, Vec<f32>) {
    const BLOCK_ROWS: usize = 512;
    let f = forest.fill.len();
    let compiled = cpu::iforest::Compiled::new(forest);
    let rows = x.len() / f;
    let mut share = if explain {
        vec![0f32; x.len()]
    } else {
        Vec::new()
    };
    let mut score = vec![0f32; rows];
    let blocks = score
        .par_chunks_mut(BLOCK_ROWS)
        .zip(x.par_chunks(BLOCK_ROWS * f));
    if explain {
        blocks
            .zip(share.par_chunks_mut(BLOCK_ROWS * f))
            .for_each(|((s, xb), sb)| compiled.block(xb, sb, s));
    } else {
        blocks.for_each(|(s, xb)| compiled.block(xb, &mut [], s));
    }
    (share, score)
}
