// Bindings of the element-wise numeric kernels: Float32 in, Float32 out. NaN marks a null.
//!include shared/params.wgsl

@group(0) @binding(0) var<uniform> params: NumericParams;
@group(0) @binding(1) var<storage, read> input: array<f32>;
@group(0) @binding(2) var<storage, read_write> output: array<f32>;
