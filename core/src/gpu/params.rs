//! Structs that cross to the GPU. Each mirrors a struct of `shaders/shared/params.wgsl`
//! field for field; `tests/parity.rs` checks that the sizes agree.

use bytemuck::{Pod, Zeroable};

/// Mirrors `StringParams`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct StringParams {
    /// Rows in the chunk.
    pub rows: u32,
    /// Value of `offsets[]` that marks byte 0 of the uploaded bytes.
    pub base: u32,
    /// n-gram length.
    pub n: u32,
    /// Hash buckets.
    pub dims: u32,
    /// Rows longer than this are skipped by the kernel and computed by the CPU twin.
    pub max_row_bytes: u32,
    /// Padding.
    pub _pad: [u32; 3],
}

/// Mirrors `NumericParams`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct NumericParams {
    /// Rows in the chunk.
    pub rows: u32,
    /// Padding.
    pub _pad: u32,
    /// Mean subtracted by `standardize`.
    pub mean: f32,
    /// Standard deviation divided by `standardize`.
    pub std_dev: f32,
}

/// Mirrors `ScoreParams`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct ScoreParams {
    /// Rows in the chunk.
    pub rows: u32,
    /// Features per row.
    pub features: u32,
    /// Largest |z|.
    pub z_cap: f32,
    /// Padding.
    pub _pad: u32,
}

/// Threads per workgroup of every kernel (`WORKGROUP` in WGSL).
pub const WORKGROUP: u32 = 64;

/// Mirrors `SegmentParams`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct SegmentParams {
    /// Runs in the chunk.
    pub runs: u32,
    /// Value of `offsets[]` that marks value 0 of the uploaded values.
    pub base: u32,
    /// Runs longer than this are left to the CPU twin.
    pub max_run: u32,
    /// Padding.
    pub _pad: u32,
}

/// Mirrors `TimeParams`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct TimeParams {
    /// Rows in the chunk.
    pub rows: u32,
    /// Padding.
    pub _pad: [u32; 3],
}

/// Mirrors `ForestParams`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct ForestParams {
    /// Rows in the chunk.
    pub rows: u32,
    /// Features per row.
    pub features: u32,
    /// Trees in the forest.
    pub trees: u32,
    /// Longest root-to-leaf walk.
    pub max_depth: u32,
    /// Path-length normaliser c(sample size).
    pub c_norm: f32,
    /// Padding.
    pub _pad: [u32; 3],
}

/// Mirrors `HistogramParams`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct HistogramParams {
    /// Rows in the chunk.
    pub rows: u32,
    /// Features per row.
    pub features: u32,
    /// Bins per feature (edges = bins - 1), not counting the null bin.
    pub bins: u32,
    /// Padding.
    pub _pad: u32,
}

/// Mirrors `CountParams`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct CountParams {
    /// Pairs in the chunk.
    pub rows: u32,
    /// Cells in the block of the count matrix.
    pub cells: u32,
    /// Padding.
    pub _pad: [u32; 2],
}

/// Mirrors `MatchParams` (match/multi_pattern).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct MatchParams {
    /// Rows in the chunk.
    pub rows: u32,
    /// Value of `offsets[]` that marks byte 0 of the uploaded bytes.
    pub base: u32,
    /// Patterns in this dispatch.
    pub patterns: u32,
    /// Output words per row.
    pub words: u32,
    /// 1 to ASCII-fold the row bytes.
    pub fold: u32,
    /// Rows longer than this are skipped by the kernel and computed by the CPU twin.
    pub max_row_bytes: u32,
    /// Padding.
    pub _pad: [u32; 2],
}

/// Mirrors `ProbeParams` (match/intel_probe).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct ProbeParams {
    /// Rows in the chunk.
    pub rows: u32,
    /// Value of `offsets[]` that marks byte 0 of the uploaded bytes.
    pub base: u32,
    /// 0 addresses, 1 domains, 2 hashes.
    pub mode: u32,
    /// Slots of the table (a power of two; 0 = empty table).
    pub slots: u32,
    /// Longest probe sequence of the table (slots past the home slot).
    pub max_probe: u32,
    /// Prefix lengths held (entries of `lens`).
    pub lens: u32,
    /// Hash seed, low word.
    pub seed0: u32,
    /// Hash seed, high word.
    pub seed1: u32,
    /// Rows longer than this are deferred to the host.
    pub max_row_bytes: u32,
    /// Padding.
    pub _pad: [u32; 3],
}
