//! Backend choice, chunking, and the two executors (GPU via `crate::gpu`, CPU via
//! `crate::cpu` + rayon) of every kernel. Callers get identical layouts from both.
//!
//! Every executor goes through [`Engine::run`]: the GPU when the engine picks one for the
//! job, else — or on a GPU error, unless strict — the kernel's CPU twin.

pub(crate) mod aggregate;
mod backend;
mod counts;
pub(crate) mod feature_columns;
mod fused;
mod intel_probe;
mod matrix;
mod multi_pattern;

use rayon::prelude::*;

use crate::columns::Strings;
use crate::cpu;
use crate::error::{Error, Result};
use crate::gpu::{self, Binding, GpuContext, params};
use backend::{AUTO_MIN_BYTES, env};
pub use backend::{Backend, BackendInfo, DEFAULT_CHUNK_BYTES, backend_info};

/// A string kernel and its parameters.
#[derive(Clone, Copy, Debug)]
pub(crate) enum StringOp {
    Length,
    Entropy,
    CharClasses,
    Ngrams { n: u32, dims: u32 },
}

impl StringOp {
    /// u32 words of output per row.
    pub(crate) fn words(self) -> usize {
        match self {
            StringOp::Length => cpu::length::WORDS,
            StringOp::Entropy => cpu::entropy::WORDS,
            StringOp::CharClasses => cpu::char_classes::WORDS,
            StringOp::Ngrams { dims, .. } => dims as usize,
        }
    }

    fn kernel(self) -> &'static gpu::Kernel {
        match self {
            StringOp::Length => &gpu::LENGTH,
            StringOp::Entropy => &gpu::ENTROPY,
            StringOp::CharClasses => &gpu::CHAR_CLASSES,
            StringOp::Ngrams { .. } => &gpu::NGRAMS,
        }
    }

    fn cpu_row(self, s: &[u8], out: &mut [u32]) {
        match self {
            StringOp::Length => cpu::length::row(s, out),
            StringOp::Entropy => cpu::entropy::row(s, out),
            StringOp::CharClasses => cpu::char_classes::row(s, out),
            StringOp::Ngrams { n, .. } => {
                cpu::ngrams::row(s, n as usize, bytemuck::cast_slice_mut(out))
            }
        }
    }
}

/// An element-wise numeric kernel.
#[derive(Clone, Copy, Debug)]
pub(crate) enum NumericOp {
    Log1p,
    Standardize { mean: f32, std: f32 },
}

/// Runs kernels on the chosen backend.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Engine {
    pub backend: Backend,
    pub chunk_bytes: usize,
    /// A GPU failure is an error instead of a CPU fallback (parity tests; also `VIGIL_GPU_STRICT=1`).
    pub strict: bool,
}

impl Engine {
    /// An engine on `backend` with the default chunk size, falling back to the CPU on GPU
    /// errors unless `VIGIL_GPU_STRICT=1`.
    pub(crate) fn new(backend: Backend) -> Self {
        Engine {
            backend,
            chunk_bytes: DEFAULT_CHUNK_BYTES,
            strict: false,
        }
    }
}

/// Rows longer than this many bytes skip the GPU kernels and run on the CPU twin: one
/// invocation looping over a long row stalls its workgroup on a real GPU, and Mesa's
/// lavapipe stops a loop nest after 65,535 iterations.
pub(crate) const GPU_MAX_ROW_BYTES: usize = 16 << 10;
/// The robust-z kernel loops over features per row; wider matrices are scored on the CPU.
const GPU_MAX_FEATURES: usize = 16 << 10;

/// Rows per rayon task: big enough that scheduling is noise.
const CPU_MIN_ROWS: usize = 2048;

impl Engine {
    /// Runs one kernel: `on_gpu` when the engine picks a GPU for a job of `bytes` input
    /// bytes and the kernel can take this input (`gpu_ok`), else `on_cpu`, the kernel's CPU
    /// twin. A GPU error falls back to the twin with a logged warning, unless the engine is
    /// strict (or `VIGIL_GPU_STRICT=1`), where it is returned: never zeroed data.
    pub(crate) fn run<T>(
        &self,
        bytes: usize,
        gpu_ok: bool,
        on_gpu: impl FnOnce(&GpuContext) -> Result<T>,
        on_cpu: impl FnOnce() -> T,
    ) -> Result<T> {
        if gpu_ok && let Some(ctx) = self.gpu_for(bytes)? {
            match on_gpu(ctx) {
                Ok(out) => return Ok(out),
                Err(e) if self.strict || env().gpu_strict => return Err(e),
                Err(e) => log::warn!("{e}; running this kernel on the CPU instead"),
            }
        }
        Ok(on_cpu())
    }

    /// Whether a job of `bytes` input bytes runs on the CPU (stages with a CPU-only fast
    /// path take it then, and the kernel path otherwise).
    pub(crate) fn runs_on_cpu(&self, bytes: usize) -> Result<bool> {
        Ok(self.gpu_for(bytes)?.is_none())
    }

    /// The GPU to use for a job of `bytes` input bytes, or `None` for the CPU.
    fn gpu_for(&self, bytes: usize) -> Result<Option<&'static GpuContext>> {
        match self.backend.resolve_env()? {
            Backend::Cpu => Ok(None),
            Backend::Gpu => gpu::context().map(Some),
            Backend::Auto if bytes >= AUTO_MIN_BYTES => {
                Ok(gpu::context().ok().filter(|c| c.summary.hardware))
            }
            Backend::Auto => Ok(None),
        }
    }

    /// Output of `op` for every row of `strings`: `rows * op.words()` u32 words.
    pub(crate) fn strings(&self, op: StringOp, strings: &Strings<'_>) -> Result<Vec<u32>> {
        let rows = strings.len();
        if rows == 0 {
            return Ok(Vec::new());
        }
        self.run(
            strings.span_bytes(0, rows),
            true,
            |ctx| self.strings_gpu(ctx, op, strings),
            || strings_cpu(op, strings, 0, rows),
        )
    }

    /// Output of `op` for every row of `strings`, column-major: `op.words()` columns of one
    /// word per row. The CPU twin writes each row's words straight into the columns, in
    /// parallel blocks of rows; a GPU result (row-major) is transposed.
    pub(crate) fn string_columns(
        &self,
        op: StringOp,
        strings: &Strings<'_>,
    ) -> Result<Vec<Vec<u32>>> {
        let rows = strings.len();
        let words = op.words();
        if rows == 0 {
            return Ok(vec![Vec::new(); words]);
        }
        self.run(
            strings.span_bytes(0, rows),
            true,
            |ctx| {
                let out = self.strings_gpu(ctx, op, strings)?;
                Ok((0..words)
                    .map(|k| out.iter().skip(k).step_by(words).copied().collect())
                    .collect())
            },
            || string_columns_cpu(op, strings),
        )
    }

    fn strings_gpu(
        &self,
        ctx: &GpuContext,
        op: StringOp,
        strings: &Strings<'_>,
    ) -> Result<Vec<u32>> {
        let rows = strings.len();
        let words = op.words();
        let limit = ctx.summary.max_storage_binding as usize;
        let max_rows = (limit / (4 * words)).min(limit / 4 - 1).max(1);
        let budget = self.chunk_bytes.clamp(1, limit.saturating_sub(4));
        let mut out = Vec::with_capacity(rows * words);
        let mut start = 0;
        while start < rows {
            // Grow the chunk by rows while it stays within the byte budget (at least one row).
            let end = strings.chunk_end(start, max_rows, budget);
            if end - start == 1 && strings.row_len(start) > GPU_MAX_ROW_BYTES {
                // A lone long row (the chunk budget is smaller than it): the CPU twin.
                out.extend(strings_cpu(op, strings, start, end));
            } else {
                let chunk = strings.gpu_chunk(start, end);
                let (n, dims) = match op {
                    StringOp::Ngrams { n, dims } => (n, dims),
                    _ => (0, 0),
                };
                let p = params::StringParams {
                    rows: (end - start) as u32,
                    base: chunk.base,
                    n,
                    dims,
                    max_row_bytes: GPU_MAX_ROW_BYTES as u32,
                    _pad: [0; 3],
                };
                let result = ctx.dispatch(
                    op.kernel(),
                    p.rows,
                    &[
                        Binding::Uniform(bytemuck::bytes_of(&p)),
                        Binding::Input(&chunk.offsets),
                        Binding::Input(&chunk.bytes),
                        Binding::Output(((end - start) * words * 4) as u64),
                    ],
                )?;
                let at = out.len();
                out.extend(u32s(first_output(&result, "strings")?));
                // Rows the kernel skipped for their length: the CPU twin fills them in.
                for i in start..end {
                    if strings.row_len(i) > GPU_MAX_ROW_BYTES {
                        let o = at + (i - start) * words;
                        op.cpu_row(strings.row(i), &mut out[o..o + words]);
                    }
                }
            }
            start = end;
        }
        Ok(out)
    }

    /// `op` applied to every value (NaN = null).
    pub(crate) fn numeric(&self, op: NumericOp, values: &[f32]) -> Result<Vec<f32>> {
        if values.is_empty() {
            return Ok(Vec::new());
        }
        self.run(
            values.len() * 4,
            true,
            |ctx| self.numeric_gpu(ctx, op, values),
            || {
                let mut out = vec![0f32; values.len()];
                out.par_iter_mut()
                    .zip(values)
                    .with_min_len(CPU_MIN_ROWS)
                    .for_each(|(o, &x)| {
                        *o = match op {
                            NumericOp::Log1p => cpu::log1p::row(x),
                            NumericOp::Standardize { mean, std } => {
                                cpu::standardize::row(x, mean, std)
                            }
                        }
                    });
                out
            },
        )
    }

    fn numeric_gpu(&self, ctx: &GpuContext, op: NumericOp, values: &[f32]) -> Result<Vec<f32>> {
        let limit = ctx.summary.max_storage_binding as usize;
        let chunk_rows = (self.chunk_bytes.min(limit) / 4).max(1);
        let (kernel, mean, std) = match op {
            NumericOp::Log1p => (&gpu::LOG1P, 0.0, 1.0),
            NumericOp::Standardize { mean, std } => (&gpu::STANDARDIZE, mean, std),
        };
        let mut out = Vec::with_capacity(values.len());
        for chunk in values.chunks(chunk_rows) {
            let p = params::NumericParams {
                rows: chunk.len() as u32,
                _pad: 0,
                mean,
                std_dev: std,
            };
            let result = ctx.dispatch(
                kernel,
                p.rows,
                &[
                    Binding::Uniform(bytemuck::bytes_of(&p)),
                    Binding::Input(bytemuck::cast_slice(chunk)),
                    Binding::Output((chunk.len() * 4) as u64),
                ],
            )?;
            out.extend(f32s(result.first().map(Vec::as_slice).unwrap_or_default()));
        }
        Ok(out)
    }
}

/// The first output buffer of a dispatch, or a GPU error naming the kernel.
fn first_output<'a>(result: &'a [Vec<u8>], kernel: &str) -> Result<&'a [u8]> {
    result
        .first()
        .map(Vec::as_slice)
        .ok_or_else(|| Error::Gpu(format!("{kernel}: the kernel returned no output")))
}

/// Little-endian u32 words of a read-back buffer.
fn u32s(bytes: &[u8]) -> impl Iterator<Item = u32> + '_ {
    bytes
        .chunks_exact(4)
        .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
}

/// Little-endian f32 values of a read-back buffer.
fn f32s(bytes: &[u8]) -> impl Iterator<Item = f32> + '_ {
    bytes
        .chunks_exact(4)
        .map(|w| f32::from_le_bytes([w[0], w[1], w[2], w[3]]))
}

fn strings_cpu(op: StringOp, strings: &Strings<'_>, start: usize, end: usize) -> Vec<u32> {
    let words = op.words();
    let mut out = vec![0u32; (end - start) * words];
    out.par_chunks_mut(words)
        .enumerate()
        .with_min_len(CPU_MIN_ROWS / 8)
        .for_each(|(i, o)| op.cpu_row(strings.row(start + i), o));
    out
}

/// Rows per parallel task of [`string_columns_cpu`].
const COLUMN_BLOCK_ROWS: usize = 8192;

/// The CPU twin of `op` over every row, written column-major.
fn string_columns_cpu(op: StringOp, strings: &Strings<'_>) -> Vec<Vec<u32>> {
    column_blocks(
        strings.len(),
        op.words(),
        || (),
        |r, row, _| op.cpu_row(strings.row(r), row),
    )
}

/// Rows of a [`column_blocks`] tile.
const TILE_ROWS: usize = 64;

/// `words` columns of `rows` values written column-major from rows: each parallel task takes
/// a block of rows and the matching slice of every column, makes one `scratch`, and has
/// `fill_row(row index, the row's words, scratch)` write each row's words.
pub(super) fn column_blocks<S>(
    rows: usize,
    words: usize,
    scratch: impl Fn() -> S + Sync,
    fill_row: impl Fn(usize, &mut [u32], &mut S) + Sync,
) -> Vec<Vec<u32>> {
    // Huge pages where Linux gives them: one page fault per 2 MiB of output, not per 4 KiB.
    let mut columns: Vec<Vec<u32>> = (0..words).map(|_| cpu::huge_page_words(rows)).collect();
    if words == 0 {
        return columns;
    }
    let mut blocks: Vec<Vec<&mut [u32]>> = (0..rows.div_ceil(COLUMN_BLOCK_ROWS))
        .map(|_| Vec::with_capacity(words))
        .collect();
    for column in &mut columns {
        for (b, part) in column.chunks_mut(COLUMN_BLOCK_ROWS).enumerate() {
            blocks[b].push(part);
        }
    }
    blocks
        .into_par_iter()
        .enumerate()
        .for_each(|(b, mut parts)| {
            // Rows are written row-major into a small tile, then each column's part of
            // the tile is copied out in one run.
            let mut tile = vec![0u32; TILE_ROWS * words];
            let mut s = scratch();
            let start = b * COLUMN_BLOCK_ROWS;
            let n = parts.first().map_or(0, |p| p.len());
            for at in (0..n).step_by(TILE_ROWS) {
                let m = TILE_ROWS.min(n - at);
                for (r, row) in tile.chunks_exact_mut(words).take(m).enumerate() {
                    fill_row(start + at + r, row, &mut s);
                }
                for (k, part) in parts.iter_mut().enumerate() {
                    let column = tile.iter().skip(k).step_by(words);
                    for (slot, &w) in part[at..at + m].iter_mut().zip(column) {
                        *slot = w;
                    }
                }
            }
        });
    columns
}
