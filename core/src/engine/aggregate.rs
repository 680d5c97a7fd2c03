//! Executors of the aggregate kernels (`shaders/aggregate/`): the segmented reduction over
//! sorted runs and the time features, on the GPU in chunks or on the CPU twin with rayon.

use rayon::prelude::*;

use super::{CPU_MIN_ROWS, Engine, f32s, first_output, u32s};
use crate::cpu::{hll_hash, segment_reduce, time_features};
use crate::error::Result;
use crate::gpu::{self, Binding, GpuContext, params};

/// Runs longer than this are reduced by the CPU twin (see the shader's header).
pub(crate) const GPU_MAX_RUN: usize = 4096;

impl Engine {
    /// Reduces every run `values[offsets[r]..offsets[r + 1]]` (each sorted ascending when the
    /// distinct count matters): `runs * 8` words as documented in `cpu::segment_reduce`.
    pub(crate) fn segment_reduce(&self, offsets: &[u32], values: &[i64]) -> Result<Vec<u32>> {
        let runs = offsets.len().saturating_sub(1);
        if runs == 0 {
            return Ok(Vec::new());
        }
        self.run(
            values.len() * 8,
            true,
            |ctx| self.segment_reduce_gpu(ctx, offsets, values),
            || segment_reduce_cpu(offsets, values, 0, runs),
        )
    }

    fn segment_reduce_gpu(
        &self,
        ctx: &GpuContext,
        offsets: &[u32],
        values: &[i64],
    ) -> Result<Vec<u32>> {
        let runs = offsets.len() - 1;
        let words = segment_reduce::WORDS;
        let limit = ctx.summary.max_storage_binding as usize;
        let budget = (self.chunk_bytes.min(limit) / 8).max(1);
        let max_runs = (limit / (4 * words)).min(limit / 4 - 1).max(1);
        let run_len = |r: usize| (offsets[r + 1] - offsets[r]) as usize;
        let mut out = Vec::with_capacity(runs * words);
        let mut start = 0;
        while start < runs {
            let mut end = start + 1;
            let mut n = run_len(start);
            while end < runs && end - start < max_runs && n + run_len(end) <= budget {
                n += run_len(end);
                end += 1;
            }
            if n > budget {
                // One run larger than the chunk budget: the CPU twin.
                out.extend(segment_reduce_cpu(offsets, values, start, end));
                start = end;
                continue;
            }
            let base = offsets[start];
            let lo = base as usize;
            let hi = offsets[end] as usize;
            let p = params::SegmentParams {
                runs: (end - start) as u32,
                base,
                max_run: GPU_MAX_RUN as u32,
                _pad: 0,
            };
            let result = ctx.dispatch(
                &gpu::SEGMENT_REDUCE,
                p.runs,
                &[
                    Binding::Uniform(bytemuck::bytes_of(&p)),
                    Binding::Input(bytemuck::cast_slice(&offsets[start..=end])),
                    Binding::Input(bytemuck::cast_slice(&values[lo..hi])),
                    Binding::Output(((end - start) * words * 4) as u64),
                ],
            )?;
            let at = out.len();
            out.extend(u32s(first_output(&result, "segment_reduce")?));
            // Runs the kernel skipped for their length: the CPU twin fills them in.
            for r in start..end {
                if run_len(r) > GPU_MAX_RUN {
                    let o = at + (r - start) * words;
                    let (a, b) = (offsets[r] as usize, offsets[r + 1] as usize);
                    segment_reduce::run(&values[a..b], &mut out[o..o + words]);
                }
            }
            start = end;
        }
        Ok(out)
    }

    /// hour_sin, hour_cos, dow_sin, dow_cos per local second of the week (`u32::MAX` = null).
    pub(crate) fn time_features(&self, seconds: &[u32]) -> Result<Vec<f32>> {
        if seconds.is_empty() {
            return Ok(Vec::new());
        }
        self.run(
            seconds.len() * 4,
            true,
            |ctx| self.time_features_gpu(ctx, seconds),
            || {
                let mut out = vec![0f32; seconds.len() * time_features::WORDS];
                out.par_chunks_mut(time_features::WORDS)
                    .zip(seconds)
                    .with_min_len(CPU_MIN_ROWS)
                    .for_each(|(o, &s)| time_features::row(s, o));
                out
            },
        )
    }

    fn time_features_gpu(&self, ctx: &GpuContext, seconds: &[u32]) -> Result<Vec<f32>> {
        let limit = ctx.summary.max_storage_binding as usize;
        let words = time_features::WORDS;
        let chunk_rows = (self.chunk_bytes.min(limit) / (4 * words)).max(1);
        let mut out = Vec::with_capacity(seconds.len() * words);
        for chunk in seconds.chunks(chunk_rows) {
            let p = params::TimeParams {
                rows: chunk.len() as u32,
                _pad: [0; 3],
            };
            let result = ctx.dispatch(
                &gpu::TIME_FEATURES,
                p.rows,
                &[
                    Binding::Uniform(bytemuck::bytes_of(&p)),
                    Binding::Input(bytemuck::cast_slice(chunk)),
                    Binding::Output((chunk.len() * words * 4) as u64),
                ],
            )?;
            out.extend(f32s(first_output(&result, "time_features")?));
        }
        Ok(out)
    }
}

impl Engine {
    /// Hash and HyperLogLog register update of every value code: `2 * codes.len()` words.
    pub(crate) fn hll_hash(&self, codes: &[i64]) -> Result<Vec<u32>> {
        if codes.is_empty() {
            return Ok(Vec::new());
        }
        self.run(
            codes.len() * 8,
            true,
            |ctx| self.hll_hash_gpu(ctx, codes),
            || {
                let mut out = vec![0u32; codes.len() * hll_hash::WORDS];
                out.par_chunks_mut(hll_hash::WORDS)
                    .zip(codes)
                    .with_min_len(CPU_MIN_ROWS)
                    .for_each(|(o, &c)| hll_hash::row(c, o));
                out
            },
        )
    }

    fn hll_hash_gpu(&self, ctx: &GpuContext, codes: &[i64]) -> Result<Vec<u32>> {
        let limit = ctx.summary.max_storage_binding as usize;
        let chunk_rows = (self.chunk_bytes.min(limit) / 8).max(1);
        let mut out = Vec::with_capacity(codes.len() * hll_hash::WORDS);
        for chunk in codes.chunks(chunk_rows) {
            let p = params::TimeParams {
                rows: chunk.len() as u32,
                _pad: [0; 3],
            };
            let result = ctx.dispatch(
                &gpu::HLL_HASH,
                p.rows,
                &[
                    Binding::Uniform(bytemuck::bytes_of(&p)),
                    Binding::Input(bytemuck::cast_slice(chunk)),
                    Binding::Output((chunk.len() * hll_hash::WORDS * 4) as u64),
                ],
            )?;
            out.extend(u32s(first_output(&result, "hll_hash")?));
        }
        Ok(out)
    }
}

fn segment_reduce_cpu(offsets: &[u32], values: &[i64], start: usize, end: usize) -> Vec<u32> {
    let words = segment_reduce::WORDS;
    let mut out = vec![0u32; (end - start) * words];
    out.par_chunks_mut(words)
        .enumerate()
        .with_min_len(CPU_MIN_ROWS / 8)
        .for_each(|(i, o)| {
            let r = start + i;
            let (a, b) = (offsets[r] as usize, offsets[r + 1] as usize);
            segment_reduce::run(&values[a..b], o);
        });
    out
}
