//! The Rust twin of every WGSL kernel: the same name as its shader, the same arithmetic,
//! one function per row, meant to be read side by side with `shaders/`.

pub(crate) mod char_classes;
pub(crate) mod count_vectors;
pub(crate) mod entropy;
pub(crate) mod histogram;
pub(crate) mod hll_hash;
pub(crate) mod iforest;
pub(crate) mod intel_probe;
pub(crate) mod intel_v4;
pub(crate) mod length;
pub(crate) mod log1p;
pub(crate) mod multi_pattern;
pub(crate) mod ngrams;
pub(crate) mod robust_z;
pub(crate) mod segment_reduce;
pub(crate) mod standardize;
pub(crate) mod time_features;
