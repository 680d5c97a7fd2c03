//! Executor of the multi-pattern kernel: every row of a string column against a set of
//! anchored patterns at once, on the GPU (match/multi_pattern.wgsl) or its CPU twin.

use rayon::prelude::*;

use super::{CPU_MIN_ROWS, Engine, first_output, u32s};
use crate::columns::Strings;
use crate::cpu::multi_pattern::{self, Patterns};
use crate::error::Result;
use crate::gpu::{self, Binding, GpuContext, params};

/// Patterns per GPU dispatch (bounds the per-invocation loop).
const GPU_MAX_PATTERNS: usize = 1024;
/// Patterns longer than this make the whole set run on the CPU twin.
const GPU_MAX_PATTERN_BYTES: usize = 1024;
/// Rows longer than this are matched by the CPU twin (the substring loop is per position).
const GPU_MAX_MATCH_ROW_BYTES: usize = 4096;

impl Engine {
    /// For every row of `strings`, `ceil(patterns / 32)` words whose bit p says whether
    /// pattern p occurs at its anchor (see [`multi_pattern::row`]); `fold` ASCII-lower-cases
    /// the rows (patterns must already be lower case). Null slots are computed on whatever
    /// bytes they hold: callers mask them.
    pub(crate) fn multi_pattern(
        &self,
        strings: &Strings<'_>,
        patterns: &Patterns<'_>,
        fold: bool,
    ) -> Result<Vec<u32>> {
        let rows = strings.len();
        let words = patterns.anchors.len().div_ceil(32);
        if rows == 0 || words == 0 {
            return Ok(vec![0; rows * words]);
        }
        let longest = patterns
            .offsets
            .windows(2)
            .map(|w| (w[1] - w[0]) as usize)
            .max()
            .unwrap_or(0);
        self.run(
            strings.span_bytes(0, rows),
            longest <= GPU_MAX_PATTERN_BYTES,
            |ctx| self.multi_pattern_gpu(ctx, strings, patterns, fold, words),
            || multi_pattern_cpu(strings, patterns, fold, words, 0, rows),
        )
    }

    fn multi_pattern_gpu(
        &self,
        ctx: &GpuContext,
        strings: &Strings<'_>,
        patterns: &Patterns<'_>,
        fold: bool,
        words: usize,
    ) -> Result<Vec<u32>> {
        let rows = strings.len();
        let n = patterns.anchors.len();
        let mut out = vec![0u32; rows * words];
        let limit = ctx.summary.max_storage_binding as usize;
        let budget = self.chunk_bytes.clamp(1, limit.saturating_sub(4));
        let mut first = 0;
        while first < n {
            let last = (first + GPU_MAX_PATTERNS).min(n);
            let base = patterns.offsets[first];
            let offs: Vec<u32> = patterns.offsets[first..=last]
                .iter()
                .map(|o| o - base)
                .collect();
            let bytes = &patterns.bytes[base as usize..patterns.offsets[last] as usize];
            let anchors = &patterns.anchors[first..last];
            let w = (last - first).div_ceil(32);
            let max_rows = (limit / (4 * w)).min(limit / 4 - 1).max(1);
            let mut start = 0;
            while start < rows {
                let end = strings.chunk_end(start, max_rows, budget);
                let chunk = strings.gpu_chunk(start, end);
                let p = params::MatchParams {
                    rows: (end - start) as u32,
                    base: chunk.base,
                    patterns: (last - first) as u32,
                    words: w as u32,
                    fold: u32::from(fold),
                    max_row_bytes: GPU_MAX_MATCH_ROW_BYTES as u32,
                    _pad: [0; 2],
                };
                let result = ctx.dispatch(
                    &gpu::MULTI_PATTERN,
                    p.rows,
                    &[
                        Binding::Uniform(bytemuck::bytes_of(&p)),
                        Binding::Input(&chunk.offsets),
                        Binding::Input(&chunk.bytes),
                        Binding::Input(bytemuck::cast_slice(&offs)),
                        Binding::Input(bytes),
                        Binding::Input(bytemuck::cast_slice(anchors)),
                        Binding::Output(((end - start) * w * 4) as u64),
                    ],
                )?;
                let sub = Patterns {
                    offsets: &offs,
                    bytes,
                    anchors,
                };
                for (i, bits) in u32s(first_output(&result, "multi_pattern")?)
                    .collect::<Vec<_>>()
                    .chunks(w)
                    .enumerate()
                {
                    let row = start + i;
                    let mut bits = bits.to_vec();
                    if strings.row_len(row) > GPU_MAX_MATCH_ROW_BYTES {
                        // Skipped by the kernel for its length: the CPU twin.
                        multi_pattern::row(strings.row(row), &sub, fold, &mut bits);
                    }
                    for (k, b) in bits.iter().enumerate() {
                        // Pattern first + 32k + j lands in word (first + 32k + j) / 32 of the
                        // whole set; `first` is a multiple of 32, so words shift by first / 32.
                        out[row * words + first / 32 + k] |= b;
                    }
                }
                start = end;
            }
            first = last;
        }
        Ok(out)
    }
}

fn multi_pattern_cpu(
    strings: &Strings<'_>,
    patterns: &Patterns<'_>,
    fold: bool,
    words: usize,
    start: usize,
    end: usize,
) -> Vec<u32> {
    let mut out = vec![0u32; (end - start) * words];
    out.par_chunks_mut(words)
        .enumerate()
        .with_min_len(CPU_MIN_ROWS / 8)
        .for_each(|(i, o)| multi_pattern::row(strings.row(start + i), patterns, fold, o));
    out
}
