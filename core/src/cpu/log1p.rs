//! Twin of `shaders/features/log1p.wgsl`: log(1 + x) in f32 with Goldberg's correction;
//! NaN for a null (NaN) input or x <= -1.

pub(crate) fn row(x: f32) -> f32 {
    let u = 1.0 + x;
    if x.is_nan() || x <= -1.0 {
        f32::NAN
    } else if u == 1.0 {
        x
    } else {
        u.ln() * x / (u - 1.0)
    }
}
