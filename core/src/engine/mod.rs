//! Backend choice, chunking, and the two executors (GPU via `crate::gpu`, CPU via
//! `crate::cpu` + rayon) of every kernel. Callers get identical layouts from both.

pub(crate) mod aggregate;
mod counts;

use rayon::prelude::*;

use crate::columns::Strings;
use crate::cpu;
use crate::error::{Error, Result};
use crate::gpu::{self, Binding, GpuContext, params};

/// Where kernels run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Backend {
    /// A hardware GPU when one exists and the input is large enough to pay for the
    /// transfer, else the CPU. `VIGIL_BACKEND=auto|gpu|cpu` overrides this default.
    #[default]
    Auto,
    /// The GPU, software adapters (Mesa's lavapipe) included; an error when there is none.
    Gpu,
    /// The Rust CPU twins only; never touches wgpu.
    Cpu,
}

impl Backend {
    /// Parses `auto`, `gpu` or `cpu` (any case).
    pub fn parse(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Backend::Auto),
            "gpu" => Ok(Backend::Gpu),
            "cpu" => Ok(Backend::Cpu),
            other => Err(Error::param(
                "backend",
                format!("`{other}` is not one of auto, gpu, cpu"),
            )),
        }
    }

    /// `Auto` replaced by `VIGIL_BACKEND` when that is set; explicit choices stay.
    pub fn resolve_env(self) -> Result<Self> {
        match (self, std::env::var("VIGIL_BACKEND")) {
            (Backend::Auto, Ok(v)) if !v.trim().is_empty() => Backend::parse(&v),
            (b, _) => Ok(b),
        }
    }
}

/// Default bytes of input per GPU chunk.
pub const DEFAULT_CHUNK_BYTES: usize = 64 << 20;
/// `Backend::Auto` uses a hardware GPU only from this many input bytes on.
const AUTO_MIN_BYTES: usize = 16 << 20;

/// Describes the backend that would run a large job now, for `backend_info`.
#[derive(Clone, Debug)]
pub struct BackendInfo {
    /// The requested backend after `VIGIL_BACKEND`.
    pub requested: Backend,
    /// The GPU adapter, when one could be opened.
    pub adapter: Option<gpu::AdapterSummary>,
    /// Why there is no adapter, when there is none.
    pub adapter_error: Option<String>,
    /// Rayon threads of the CPU path.
    pub cpu_threads: usize,
}

/// Reports the requested backend and the GPU adapter (opening it if needed).
pub fn backend_info(backend: Backend) -> Result<BackendInfo> {
    let requested = backend.resolve_env()?;
    let (adapter, adapter_error) = if requested == Backend::Cpu {
        (None, Some("backend is cpu: wgpu not opened".to_string()))
    } else {
        match gpu::context() {
            Ok(c) => (Some(c.summary.clone()), None),
            Err(e) => (None, Some(e.to_string())),
        }
    };
    Ok(BackendInfo {
        requested,
        adapter,
        adapter_error,
        cpu_threads: rayon::current_num_threads(),
    })
}

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

fn warn(msg: &str) {
    eprintln!("vigil: warning: {msg}");
}

impl Engine {
    /// A GPU failure: an error when strict, else a warning before the CPU twin takes over.
    fn gpu_failed(&self, e: Error) -> Result<()> {
        if self.strict || std::env::var("VIGIL_GPU_STRICT").is_ok_and(|v| v == "1") {
            return Err(e);
        }
        warn(&format!("{e}; running this kernel on the CPU instead"));
        Ok(())
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
        if let Some(ctx) = self.gpu_for(strings.span_bytes(0, rows))? {
            match self.strings_gpu(ctx, op, strings) {
                Ok(out) => return Ok(out),
                Err(e) => self.gpu_failed(e)?,
            }
        }
        Ok(strings_cpu(op, strings, 0, rows))
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
            let mut end = start + 1;
            let mut bytes = strings.row_len(start);
            while end < rows && end - start < max_rows {
                let next = bytes + strings.row_len(end);
                if next > budget {
                    break;
                }
                bytes = next;
                end += 1;
            }
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
                let bytes_out = result
                    .first()
                    .ok_or_else(|| Error::Gpu("no output".into()))?;
                let at = out.len();
                out.extend(
                    bytes_out
                        .chunks_exact(4)
                        .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]])),
                );
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
        if let Some(ctx) = self.gpu_for(values.len() * 4)? {
            match self.numeric_gpu(ctx, op, values) {
                Ok(out) => return Ok(out),
                Err(e) => self.gpu_failed(e)?,
            }
        }
        let mut out = vec![0f32; values.len()];
        out.par_iter_mut()
            .zip(values)
            .with_min_len(CPU_MIN_ROWS)
            .for_each(|(o, &x)| {
                *o = match op {
                    NumericOp::Log1p => cpu::log1p::row(x),
                    NumericOp::Standardize { mean, std } => cpu::standardize::row(x, mean, std),
                }
            });
        Ok(out)
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

    /// Robust z of every feature (row-major, `center.len()` per row) and the row scores.
    pub(crate) fn robust_z(
        &self,
        x: &[f32],
        center: &[f32],
        scale: &[f32],
        z_cap: f32,
    ) -> Result<(Vec<f32>, Vec<f32>)> {
        let f = center.len();
        if f == 0 || x.is_empty() {
            return Ok((
                Vec::new(),
                vec![f32::NAN; x.len().checked_div(f).unwrap_or(0)],
            ));
        }
        let gpu = if f <= GPU_MAX_FEATURES {
            self.gpu_for(x.len() * 4)?
        } else {
            None
        };
        if let Some(ctx) = gpu {
            match self.robust_z_gpu(ctx, x, center, scale, z_cap) {
                Ok(out) => return Ok(out),
                Err(e) => self.gpu_failed(e)?,
            }
        }
        let rows = x.len() / f;
        let mut z = vec![0f32; x.len()];
        let mut score = vec![0f32; rows];
        z.par_chunks_mut(f)
            .zip(score.par_iter_mut())
            .zip(x.par_chunks(f))
            .with_min_len(CPU_MIN_ROWS)
            .for_each(|((zr, s), xr)| *s = cpu::robust_z::row(xr, center, scale, z_cap, zr));
        Ok((z, score))
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
            per_value.extend(f32s(parts.next().map(Vec::as_slice).unwrap_or_default()));
            per_row.extend(f32s(parts.next().map(Vec::as_slice).unwrap_or_default()));
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
            return Ok((
                Vec::new(),
                vec![f32::NAN; x.len().checked_div(f).unwrap_or(0)],
            ));
        }
        // Loop budget of one invocation: lavapipe ends a loop nest after 65,535 iterations.
        let walk_steps = forest.roots.len() * 2 * (forest.max_depth as usize + 1) + 2 * f;
        let gpu = if f <= GPU_MAX_FEATURES && walk_steps < 65_535 {
            self.gpu_for(x.len() * 4)?
        } else {
            None
        };
        if let Some(ctx) = gpu {
            match self.iforest_gpu(ctx, x, forest) {
                Ok((share, score)) => return Ok((if explain { share } else { Vec::new() }, score)),
                Err(e) => self.gpu_failed(e)?,
            }
        }
        // Blocks of rows small enough that a block's rows stay in cache across the trees.
        const BLOCK_ROWS: usize = 512;
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
        Ok((share, score))
    }

    fn iforest_gpu(
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
        let gpu = if f <= GPU_MAX_FEATURES && bins >= 2 {
            self.gpu_for(x.len() * 4)?
        } else {
            None
        };
        if let Some(ctx) = gpu {
            match self.histogram_gpu(ctx, x, f, edges, bins) {
                Ok(out) => return Ok(out),
                Err(e) => self.gpu_failed(e)?,
            }
        }
        Ok(x.par_chunks(f)
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
            ))
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
            let counts = result.first().map(Vec::as_slice).unwrap_or_default();
            for (t, w) in total.iter_mut().zip(counts.chunks_exact(4)) {
                *t += u64::from(u32::from_le_bytes([w[0], w[1], w[2], w[3]]));
            }
        }
        Ok(total)
    }
}

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
