// Structs shared with Rust (core/src/gpu/params.rs mirrors them; a test checks the sizes)
// and the row-index helper every kernel uses.

// Parameters of every string kernel (features/length, entropy, char_classes, ngrams).
struct StringParams {
    // Rows in this chunk.
    rows: u32,
    // Value of offsets[] that marks byte 0 of the uploaded bytes buffer.
    base: u32,
    // n-gram length (ngrams only).
    n: u32,
    // Number of hash buckets, a power of two (ngrams only).
    dims: u32,
    // Rows longer than this many bytes are skipped (output left as is): the host computes
    // them with the CPU twin. One invocation looping over a long row stalls its whole
    // workgroup on a real GPU, and Mesa's llvmpipe/lavapipe stops a loop nest after 65,535
    // iterations, so long rows are better served by the CPU.
    max_row_bytes: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

// Parameters of the element-wise numeric kernels (features/log1p, standardize).
struct NumericParams {
    rows: u32,
    _pad: u32,
    mean: f32,
    std_dev: f32,
}

// Parameters of the robust-z score kernel (score/robust_z).
struct ScoreParams {
    rows: u32,
    features: u32,
    z_cap: f32,
    _pad: u32,
}

// Threads per workgroup of every kernel.
const WORKGROUP: u32 = 64u;

// Row handled by this invocation. Dispatches wider than 65,535 workgroups spill into y.
fn row_index(gid: vec3<u32>, groups: vec3<u32>) -> u32 {
    return gid.x + gid.y * groups.x * WORKGROUP;
}

// NaN test on the bits: WGSL lets compilers assume finite floats, so `v != v` is not reliable.
fn is_nan(v: f32) -> bool {
    return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u;
}

// A quiet NaN, vigil's null marker in Float32 buffers.
fn nan() -> f32 {
    return bitcast<f32>(0x7fc00000u);
}

// Parameters of the isolation-forest score kernel (score/iforest).
struct ForestParams {
    rows: u32,
    features: u32,
    trees: u32,
    // Longest root-to-leaf walk in the forest (bounds every loop).
    max_depth: u32,
    // c(sample size): average path length of an unsuccessful BST search, the normaliser.
    c_norm: f32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

// Parameters of the histogram kernel (aggregate/histogram).
struct HistogramParams {
    rows: u32,
    features: u32,
    // Bins per feature (edges per feature = bins - 1), plus one null bin.
    bins: u32,
    _pad: u32,
}

// Parameters of the segmented reduction over sorted runs (aggregate/segment_reduce).
struct SegmentParams {
    // Runs in this chunk.
    runs: u32,
    // Value of offsets[] that marks value 0 of the uploaded values buffer.
    base: u32,
    // Runs longer than this are skipped (output left zero): the host computes them with the CPU twin.
    max_run: u32,
    _pad: u32,
}

// Parameters of the time-feature and HyperLogLog hash kernels (aggregate/time_features, hll_hash).
struct TimeParams {
    rows: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

// Parameters of the count-vector kernel (aggregate/count_vectors).
struct CountParams {
    // Pairs in this chunk.
    rows: u32,
    // Cells in this block of the count matrix.
    cells: u32,
    _pad0: u32,
    _pad1: u32,
}

// Parameters of the multi-pattern matching kernel (match/multi_pattern).
struct MatchParams {
    // Rows in this chunk.
    rows: u32,
    // Value of offsets[] that marks byte 0 of the uploaded bytes buffer.
    base: u32,
    // Patterns in this dispatch.
    patterns: u32,
    // Output u32 words per row: ceil(patterns / 32).
    words: u32,
    // 1: ASCII-lower-case the row bytes before comparing.
    fold: u32,
    // Rows longer than this are skipped (the host computes them with the CPU twin).
    max_row_bytes: u32,
    _pad0: u32,
    _pad1: u32,
}

// Parameters of match/intel_probe (mirrors gpu::params::ProbeParams).
struct ProbeParams {
    // Rows in this chunk.
    rows: u32,
    // Value of offsets[] that marks byte 0 of the uploaded bytes buffer.
    base: u32,
    // 0 addresses, 1 domains, 2 hashes.
    mode: u32,
    // Slots of the table (a power of two; 0 = empty table).
    slots: u32,
    // Longest probe sequence of the table.
    max_probe: u32,
    // Prefix lengths held.
    lens: u32,
    seed0: u32,
    seed1: u32,
    // Rows longer than this are deferred to the host.
    max_row_bytes: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}
