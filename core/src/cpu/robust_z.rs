//! Twin of `shaders/score/robust_z.wgsl`: robust z of each feature of a row and the row score.

/// `x`, `z`: one row of `center.len()` features (NaN = null). Returns the score (NaN when
/// every feature is null).
pub(crate) fn row(x: &[f32], center: &[f32], scale: &[f32], z_cap: f32, z: &mut [f32]) -> f32 {
    let mut sum = 0.0f32;
    let mut count = 0u32;
    for j in 0..center.len() {
        let v = x[j];
        let zj = if v.is_nan() {
            f32::NAN
        } else {
            let d = v - center[j];
            let s = scale[j];
            let zj = if s > 0.0 {
                (d / s).clamp(-z_cap, z_cap)
            } else if d == 0.0 {
                0.0
            } else {
                d.signum() * z_cap
            };
            sum += zj * zj;
            count += 1;
            zj
        };
        z[j] = zj;
    }
    if count == 0 {
        f32::NAN
    } else {
        (sum / count as f32).sqrt()
    }
}
