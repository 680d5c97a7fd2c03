//! The wgpu side of vigil: one lazily opened device per process, a pipeline cache keyed by
//! kernel, a small buffer pool, and one generic dispatch (upload, run, one readback).
//! Nothing outside this module touches wgpu.

pub mod params;

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use crate::error::{Error, Result};

/// A WGSL kernel: its cache key and its composed source (includes resolved by build.rs).
#[derive(Debug)]
pub(crate) struct Kernel {
    pub name: &'static str,
    pub source: &'static str,
}

macro_rules! kernel {
    ($ident:ident, $path:literal) => {
        pub(crate) const $ident: Kernel = Kernel {
            name: $path,
            source: include_str!(concat!(env!("OUT_DIR"), "/shaders/", $path, ".wgsl")),
        };
    };
}

kernel!(LENGTH, "features/length");
kernel!(ENTROPY, "features/entropy");
kernel!(CHAR_CLASSES, "features/char_classes");
kernel!(NGRAMS, "features/ngrams");
kernel!(LOG1P, "features/log1p");
kernel!(STANDARDIZE, "features/standardize");
kernel!(ROBUST_Z, "score/robust_z");
kernel!(SEGMENT_REDUCE, "aggregate/segment_reduce");
kernel!(TIME_FEATURES, "aggregate/time_features");
kernel!(HLL_HASH, "aggregate/hll_hash");
kernel!(IFOREST, "score/iforest");
kernel!(HISTOGRAM, "aggregate/histogram");
kernel!(COUNT_VECTORS, "aggregate/count_vectors");
kernel!(MULTI_PATTERN, "match/multi_pattern");
kernel!(INTEL_PROBE, "match/intel_probe");

/// One binding of a dispatch, in binding-index order starting at 0.
pub(crate) enum Binding<'a> {
    /// A uniform struct.
    Uniform(&'a [u8]),
    /// A read-only storage buffer; its bytes need not be a multiple of 4 long.
    Input(&'a [u8]),
    /// A read-write storage buffer of this many bytes, read back after the dispatch.
    Output(u64),
}

/// What the opened adapter is.
#[derive(Clone, Debug)]
pub struct AdapterSummary {
    /// Adapter name, e.g. `llvmpipe (LLVM 15.0.6, 256 bits)`.
    pub name: String,
    /// Graphics API in use, e.g. `Vulkan`.
    pub api: String,
    /// `DiscreteGpu`, `IntegratedGpu`, `Cpu` (a software rasteriser such as lavapipe), ...
    pub device_type: String,
    /// Whether it is real GPU hardware (not a software implementation).
    pub hardware: bool,
    /// Largest storage-buffer binding in bytes.
    pub max_storage_binding: u64,
}

pub(crate) struct GpuContext {
    device: wgpu::Device,
    queue: wgpu::Queue,
    pub summary: AdapterSummary,
    max_groups: u32,
    pipelines: Mutex<HashMap<&'static str, wgpu::ComputePipeline>>,
    pool: Mutex<Vec<wgpu::Buffer>>,
}

const POOL_MAX: usize = 24;

static CONTEXT: OnceLock<std::result::Result<GpuContext, String>> = OnceLock::new();

/// The process-wide GPU context, opened on first use. An error when no adapter exists.
pub(crate) fn context() -> Result<&'static GpuContext> {
    CONTEXT
        .get_or_init(open)
        .as_ref()
        .map_err(|e| Error::Gpu(e.clone()))
}

fn open() -> std::result::Result<GpuContext, String> {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
    desc.backends = wgpu::Backends::PRIMARY;
    desc.flags = wgpu::InstanceFlags::empty();
    let instance = wgpu::Instance::new(desc.with_env());
    let adapter = pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
        power_preference: wgpu::PowerPreference::HighPerformance,
        ..Default::default()
    }))
    .map_err(|e| {
        format!(
            "no GPU adapter found ({e}); install a Vulkan/Metal/DX12 driver (on Debian, \
             `apt-get install mesa-vulkan-drivers` gives the software adapter lavapipe) \
             or use Backend::Cpu"
        )
    })?;
    let info = adapter.get_info();
    let limits = adapter.limits();
    let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
        label: Some("vigil"),
        required_limits: limits.clone(),
        ..Default::default()
    }))
    .map_err(|e| format!("could not open GPU device {}: {e}", info.name))?;
    let hardware = matches!(
        info.device_type,
        wgpu::DeviceType::DiscreteGpu
            | wgpu::DeviceType::IntegratedGpu
            | wgpu::DeviceType::VirtualGpu
    );
    let summary = AdapterSummary {
        name: info.name.clone(),
        api: format!("{:?}", info.backend),
        device_type: format!("{:?}", info.device_type),
        hardware,
        max_storage_binding: limits
            .max_storage_buffer_binding_size
            .min(limits.max_buffer_size),
    };
    Ok(GpuContext {
        device,
        queue,
        summary,
        max_groups: limits.max_compute_workgroups_per_dimension,
        pipelines: Mutex::new(HashMap::new()),
        pool: Mutex::new(Vec::new()),
    })
}

fn round4(n: u64) -> u64 {
    n.max(4).div_ceil(4) * 4
}

impl GpuContext {
    fn pipeline(&self, kernel: &Kernel) -> wgpu::ComputePipeline {
        let mut cache = self.pipelines.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .entry(kernel.name)
            .or_insert_with(|| {
                let module = self
                    .device
                    .create_shader_module(wgpu::ShaderModuleDescriptor {
                        label: Some(kernel.name),
                        source: wgpu::ShaderSource::Wgsl(kernel.source.into()),
                    });
                self.device
                    .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                        label: Some(kernel.name),
                        layout: None,
                        module: &module,
                        entry_point: Some("main"),
                        compilation_options: Default::default(),
                        cache: None,
                    })
            })
            .clone()
    }

    /// A pooled buffer of at least `size` bytes with exactly `usage`.
    fn buffer(&self, usage: wgpu::BufferUsages, size: u64) -> wgpu::Buffer {
        let mut pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
        let best = pool
            .iter()
            .enumerate()
            .filter(|(_, b)| {
                b.usage() == usage && b.size() >= size && b.size() <= size.max(4096) * 4
            })
            .min_by_key(|(_, b)| b.size())
            .map(|(i, _)| i);
        if let Some(i) = best {
            return pool.swap_remove(i);
        }
        drop(pool);
        let rounded = size.max(256).next_power_of_two();
        let alloc = if rounded <= self.summary.max_storage_binding {
            rounded
        } else {
            round4(size)
        };
        self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("vigil pool"),
            size: alloc,
            usage,
            mapped_at_creation: false,
        })
    }

    fn recycle(&self, buffers: impl IntoIterator<Item = wgpu::Buffer>) {
        let mut pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
        pool.extend(buffers);
        while pool.len() > POOL_MAX {
            pool.remove(0);
        }
    }

    /// Runs `kernel` over `rows` rows (one invocation a row, 2D dispatch past the per-dimension
    /// limit) with `bindings` at indices 0.., and returns the bytes of every `Output` binding,
    /// in order, read back with one copy and one map.
    pub(crate) fn dispatch(
        &self,
        kernel: &Kernel,
        rows: u32,
        bindings: &[Binding<'_>],
    ) -> Result<Vec<Vec<u8>>> {
        use wgpu::BufferUsages as U;
        let max = self.summary.max_storage_binding;
        for b in bindings {
            let len = match b {
                Binding::Input(d) => d.len() as u64,
                Binding::Output(n) => *n,
                Binding::Uniform(_) => 0,
            };
            if len > max {
                return Err(Error::Gpu(format!(
                    "{}: a buffer of {len} bytes exceeds the adapter's storage binding limit of {max}",
                    kernel.name
                )));
            }
        }
        let groups = rows.div_ceil(params::WORKGROUP).max(1);
        let gx = groups.min(self.max_groups);
        let gy = groups.div_ceil(gx);
        if gy > self.max_groups {
            return Err(Error::Gpu(format!(
                "{}: {rows} rows exceed one dispatch",
                kernel.name
            )));
        }

        let oom = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let invalid = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let pipeline = self.pipeline(kernel);
        let mut buffers = Vec::with_capacity(bindings.len());
        let mut sizes = Vec::with_capacity(bindings.len());
        let mut outputs = Vec::new();
        for b in bindings {
            let (usage, size) = match b {
                Binding::Uniform(d) => (U::UNIFORM | U::COPY_DST, round4(d.len() as u64)),
                Binding::Input(d) => (U::STORAGE | U::COPY_DST, round4(d.len() as u64)),
                Binding::Output(n) => (U::STORAGE | U::COPY_SRC | U::COPY_DST, round4(*n)),
            };
            let buf = self.buffer(usage, size);
            match b {
                Binding::Uniform(d) | Binding::Input(d) => self.write_padded(&buf, d),
                Binding::Output(_) => outputs.push(buffers.len()),
            }
            buffers.push(buf);
            sizes.push(size);
        }
        let layout = pipeline.get_bind_group_layout(0);
        let entries: Vec<wgpu::BindGroupEntry<'_>> = buffers
            .iter()
            .zip(&sizes)
            .enumerate()
            .map(|(i, (buf, size))| wgpu::BindGroupEntry {
                binding: i as u32,
                resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer: buf,
                    offset: 0,
                    size: wgpu::BufferSize::new(*size),
                }),
            })
            .collect();
        let bind_group = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(kernel.name),
            layout: &layout,
            entries: &entries,
        });
        let total: u64 = outputs.iter().map(|&i| sizes[i]).sum();
        let staging = self.buffer(U::MAP_READ | U::COPY_DST, total.max(4));
        let mut encoder = self.device.create_command_encoder(&Default::default());
        for &i in &outputs {
            encoder.clear_buffer(&buffers[i], 0, Some(sizes[i]));
        }
        {
            let mut pass = encoder.begin_compute_pass(&Default::default());
            pass.set_pipeline(&pipeline);
            pass.set_bind_group(0, &bind_group, &[]);
            pass.dispatch_workgroups(gx, gy, 1);
        }
        let mut at = 0;
        for &i in &outputs {
            encoder.copy_buffer_to_buffer(&buffers[i], 0, &staging, at, sizes[i]);
            at += sizes[i];
        }
        self.queue.submit([encoder.finish()]);
        let (tx, rx) = std::sync::mpsc::channel();
        staging.map_async(wgpu::MapMode::Read, 0..total.max(4), move |r| {
            let _ = tx.send(r);
        });
        let polled = self.device.poll(wgpu::PollType::wait_indefinitely());
        let invalid = pollster::block_on(invalid.pop());
        let oom = pollster::block_on(oom.pop());
        if let Some(e) = oom.or(invalid) {
            return Err(Error::Gpu(format!("{}: {e:?}", kernel.name)));
        }
        polled.map_err(|e| Error::Gpu(format!("{}: device poll failed: {e}", kernel.name)))?;
        match rx.recv() {
            Ok(Ok(())) => {}
            _ => {
                return Err(Error::Gpu(format!(
                    "{}: reading results back failed",
                    kernel.name
                )));
            }
        }
        let mut result = Vec::with_capacity(outputs.len());
        {
            let view = staging
                .get_mapped_range(0..total.max(4))
                .map_err(|e| Error::Gpu(format!("{}: {e}", kernel.name)))?;
            let mut at = 0usize;
            for (&i, b) in outputs
                .iter()
                .zip(bindings.iter().filter(|b| matches!(b, Binding::Output(_))))
            {
                let Binding::Output(n) = b else { continue };
                result.push(view[at..at + *n as usize].to_vec());
                at += sizes[i] as usize;
            }
        }
        staging.unmap();
        buffers.push(staging);
        self.recycle(buffers);
        Ok(result)
    }

    /// Writes `data` at offset 0; a trailing partial word is zero-padded (wgpu copies whole words).
    fn write_padded(&self, buf: &wgpu::Buffer, data: &[u8]) {
        let whole = data.len() / 4 * 4;
        if whole > 0 {
            self.queue.write_buffer(buf, 0, &data[..whole]);
        }
        if whole < data.len() || data.is_empty() {
            let mut tail = [0u8; 4];
            tail[..data.len() - whole].copy_from_slice(&data[whole..]);
            self.queue.write_buffer(buf, whole as u64, &tail);
        }
    }
}
