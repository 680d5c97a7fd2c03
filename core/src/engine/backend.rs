//! Backend choice: [`Backend`], the environment read once (`VIGIL_BACKEND`,
//! `VIGIL_GPU_STRICT`), and [`backend_info`].

use std::sync::OnceLock;

use crate::error::{Error, Result};
use crate::gpu;

/// The environment variables that steer the engine, read once.
pub(crate) struct EnvConfig {
    /// `VIGIL_BACKEND` when set and not blank: the backend, or why it is not one.
    pub backend: Option<std::result::Result<Backend, String>>,
    /// `VIGIL_GPU_STRICT=1`: a GPU failure is an error instead of a CPU fallback.
    pub gpu_strict: bool,
}

/// The engine's environment, read on first use and kept for the life of the process.
pub(crate) fn env() -> &'static EnvConfig {
    static ENV: OnceLock<EnvConfig> = OnceLock::new();
    ENV.get_or_init(|| EnvConfig {
        backend: std::env::var("VIGIL_BACKEND")
            .ok()
            .filter(|v| !v.trim().is_empty())
            .map(|v| Backend::parse(&v).map_err(|_| format!("`{v}` is not one of auto, gpu, cpu"))),
        gpu_strict: std::env::var("VIGIL_GPU_STRICT").is_ok_and(|v| v == "1"),
    })
}

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

    /// `Auto` replaced by `VIGIL_BACKEND` when that is set; explicit choices stay. The
    /// environment is read once, when the first engine starts.
    pub fn resolve_env(self) -> Result<Self> {
        match (self, &env().backend) {
            (Backend::Auto, Some(Ok(b))) => Ok(*b),
            (Backend::Auto, Some(Err(e))) => Err(Error::param("VIGIL_BACKEND", e.clone())),
            (b, _) => Ok(b),
        }
    }
}

/// Default bytes of input per GPU chunk.
pub const DEFAULT_CHUNK_BYTES: usize = 64 << 20;
/// `Backend::Auto` uses a hardware GPU only from this many input bytes on.
pub(crate) const AUTO_MIN_BYTES: usize = 16 << 20;

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
