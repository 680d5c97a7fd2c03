//! # vigil
//!
//! GPU-accelerated security log analytics over Apache Arrow. vigil turns log columns into
//! features (string length, entropy, character classes, hashed n-grams, numeric transforms)
//! with WGSL compute kernels on any wgpu GPU, or their bit-compatible Rust twins on the CPU,
//! then scores rows with an anomaly detector fitted on a baseline and explains each score.
//!
//! ```no_run
//! # fn main() -> vigil::Result<()> {
//! # let baseline: Vec<arrow::array::RecordBatch> = vec![];
//! # let batch = baseline[0].clone();
//! let pipeline = vigil::Pipeline::builder()
//!     .feature(vigil::features::entropy("query"))
//!     .feature(vigil::features::char_classes("query"))
//!     .detector(vigil::detect::RobustZ::default())
//!     .build()?;
//! let fitted = pipeline.fit(&baseline)?;
//! let scored = fitted.score(&batch)?; // input + features + score + explanation + alert
//! # Ok(()) }
//! ```

pub mod columns;
mod cpu;
pub mod detect;
pub mod drift;
mod engine;
mod error;
pub mod features;
mod gpu;
pub mod intel;
pub mod io;
pub mod logs;
mod pipeline;
mod rng;
pub mod sigma;
mod stage;
pub mod stream;
#[doc(hidden)]
pub mod synth;
pub mod template;
pub mod window;

pub use engine::{Backend, BackendInfo, DEFAULT_CHUNK_BYTES, backend_info};
pub use error::{Error, Result};
pub use gpu::AdapterSummary;
pub use pipeline::{
    ALERT, EXPLANATION, FittedPipeline, MAX_MODEL_BYTES, MODEL_FORMAT, MODEL_VERSION, Pipeline,
    PipelineBuilder, SCORE, UNSCORED_REASON,
};
pub use stage::extract_batches;
pub use stage::{Stage, extract};
pub use stream::{Scorer, Stream, StreamStats};

/// Row-level kernels exposed for tests and benchmarks that compare backends directly.
#[doc(hidden)]
pub mod kernels {
    use arrow::array::{ArrayRef, RecordBatch};
    use arrow::datatypes::{Field, Schema};
    use std::sync::Arc;

    pub use crate::cpu::ngrams::ngram_hash;
    pub use crate::gpu::params::MatchParams;
    pub use crate::gpu::params::ProbeParams;
    pub use crate::gpu::params::{
        NumericParams, ScoreParams, SegmentParams, StringParams, TimeParams,
    };

    /// Multi-pattern matching (the Sigma literal pass) of a string column on `backend`:
    /// per row, `ceil(patterns / 32)` words, bit p set when pattern p (`offsets` into
    /// `bytes`) occurs at anchor p (0 exact, 1 prefix, 2 suffix, 3 anywhere), rows
    /// ASCII-folded when `fold`. A GPU failure is an error.
    pub fn multi_pattern(
        strings: &dyn arrow::array::Array,
        offsets: &[u32],
        bytes: &[u8],
        anchors: &[u32],
        fold: bool,
        backend: crate::Backend,
        chunk_bytes: usize,
    ) -> crate::Result<Vec<u32>> {
        if offsets.len() != anchors.len() + 1
            || offsets.windows(2).any(|w| w[0] > w[1])
            || offsets.last().is_some_and(|&o| o as usize > bytes.len())
        {
            return Err(crate::Error::param(
                "offsets",
                "not patterns + 1 rising offsets into bytes",
            ));
        }
        let s = crate::columns::Strings::new(strings, "strings")?;
        let p = crate::cpu::multi_pattern::Patterns {
            offsets,
            bytes,
            anchors,
        };
        crate::engine::Engine {
            backend,
            chunk_bytes,
            strict: true,
        }
        .multi_pattern(&s, &p, fold)
    }

    /// Computes one feature's output columns on `backend` with GPU chunks of `chunk_bytes`.
    pub fn compute_feature<S: Clone + Into<crate::Stage>>(
        feature: &S,
        array: ArrayRef,
        backend: crate::Backend,
        chunk_bytes: usize,
    ) -> crate::Result<Vec<ArrayRef>> {
        let feature: crate::Stage = feature.clone().into();
        let schema = Arc::new(Schema::new(vec![Field::new(
            feature.column(),
            array.data_type().clone(),
            true,
        )]));
        let batch = RecordBatch::try_new(schema, vec![array])?;
        let fitted = feature.fit(std::slice::from_ref(&batch))?;
        fitted.compute(
            &batch,
            &crate::engine::Engine {
                backend,
                chunk_bytes,
                strict: true,
            },
        )
    }

    /// Computes one feature's output columns on a whole batch (features of several columns).
    pub fn compute_feature_batch<S: Clone + Into<crate::Stage>>(
        feature: &S,
        batch: &RecordBatch,
        backend: crate::Backend,
    ) -> crate::Result<Vec<ArrayRef>> {
        let fitted = feature.clone().into().fit(std::slice::from_ref(batch))?;
        fitted.compute(
            batch,
            &crate::engine::Engine {
                backend,
                chunk_bytes: crate::DEFAULT_CHUNK_BYTES,
                strict: true,
            },
        )
    }

    /// Robust z and scores of a row-major matrix on `backend`.
    pub fn robust_z(
        x: &[f32],
        center: &[f32],
        scale: &[f32],
        z_cap: f32,
        backend: crate::Backend,
        chunk_bytes: usize,
    ) -> crate::Result<(Vec<f32>, Vec<f32>)> {
        crate::engine::Engine {
            backend,
            chunk_bytes,
            strict: true,
        }
        .robust_z(x, center, scale, z_cap)
    }

    /// Scores a batch with a fitted detector on `backend`, a GPU failure being an error.
    pub fn score_detector(
        detector: &crate::detect::FittedDetector,
        batch: &RecordBatch,
        backend: crate::Backend,
        chunk_bytes: usize,
    ) -> crate::Result<crate::detect::Scores> {
        let x = crate::detect::matrix_from_batch(batch, detector.features())?;
        detector.score(
            &crate::engine::Engine {
                backend,
                chunk_bytes,
                strict: true,
            },
            &x,
            batch,
        )
    }

    /// Per-feature histograms of a row-major matrix on `backend` (GPU failure = error).
    pub fn histogram(
        x: &[f32],
        features: usize,
        edges: &[f32],
        bins: usize,
        backend: crate::Backend,
        chunk_bytes: usize,
    ) -> crate::Result<Vec<u64>> {
        crate::engine::Engine {
            backend,
            chunk_bytes,
            strict: true,
        }
        .histogram(x, features, edges, bins)
    }
}
