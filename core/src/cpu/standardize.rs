//! Twin of `shaders/features/standardize.wgsl`: (x - mean) / std in f32, NaN stays NaN.

pub(crate) fn row(x: f32, mean: f32, std: f32) -> f32 {
    if x.is_nan() {
        f32::NAN
    } else {
        (x - mean) / std
    }
}
