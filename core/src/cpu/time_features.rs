//! Twin of `shaders/aggregate/time_features.wgsl`: hour-of-day and day-of-week sin/cos of a
//! local second of the week (0 = Monday 00:00), NaN for the null marker `u32::MAX`.

/// f32 outputs per row.
pub(crate) const WORDS: usize = 4;
/// Null marker of the input.
pub(crate) const NULL: u32 = u32::MAX;

const TAU: f32 = std::f32::consts::TAU;

/// hour_sin, hour_cos, dow_sin, dow_cos of second-of-week `s` into `out`.
pub(crate) fn row(s: u32, out: &mut [f32]) {
    if s == NULL {
        out.fill(f32::NAN);
        return;
    }
    let h = TAU * (s % 86_400) as f32 / 86_400.0;
    let d = TAU * (s / 86_400) as f32 / 7.0;
    out.copy_from_slice(&[h.sin(), h.cos(), d.sin(), d.cos()]);
}
