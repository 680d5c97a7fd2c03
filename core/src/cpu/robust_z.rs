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
            let zj = capped_z(v - center[j], scale[j], z_cap);
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

/// The scores of a block of rows given column-major (`x[j * n + i]` is feature `j` of row
/// `i`, NaN = null) into `score` (`n` rows): per row the same operations in the same order
/// as [`row`] (z of feature 0, 1, ... added to the sum of squares, the null ones skipped),
/// done feature by feature across the block so that they vectorise. `sum` and `count` are
/// scratch of `n` rows.
pub(crate) fn block(
    x: &[f32],
    center: &[f32],
    scale: &[f32],
    z_cap: f32,
    sum: &mut [f32],
    count: &mut [u32],
    score: &mut [f32],
) {
    let n = score.len();
    sum[..n].fill(0.0);
    count[..n].fill(0);
    for (j, column) in x.chunks_exact(n.max(1)).take(center.len()).enumerate() {
        let (c, s) = (center[j], scale[j]);
        for ((&v, acc), k) in column.iter().zip(&mut sum[..n]).zip(&mut count[..n]) {
            let zj = capped_z(v - c, s, z_cap);
            let present = !v.is_nan();
            *acc += if present { zj * zj } else { 0.0 };
            *k += u32::from(present);
        }
    }
    for ((out, &acc), &k) in score.iter_mut().zip(&sum[..n]).zip(&count[..n]) {
        *out = if k == 0 {
            f32::NAN
        } else {
            (acc / k as f32).sqrt()
        };
    }
}

/// One feature's z: the deviation `d` over the scale `s`, capped at `z_cap`; with a zero
/// scale, 0 for no deviation and `±z_cap` otherwise (the kernel's arithmetic).
#[inline(always)]
fn capped_z(d: f32, s: f32, z_cap: f32) -> f32 {
    if s > 0.0 {
        (d / s).clamp(-z_cap, z_cap)
    } else if d == 0.0 {
        0.0
    } else {
        d.signum() * z_cap
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_form_equals_row_form_bit_for_bit() {
        // Rows with some features null, rows with all null, a zero scale, values past the cap,
        // infinities; 37 rows of 5 features.
        let (n, f) = (37usize, 5usize);
        let center = [1.0f32, -2.0, 0.5, 3.0, 0.0];
        let scale = [0.7f32, 0.0, 2.5, 1e-6, 1.3];
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut rows = vec![0f32; n * f];
        for (k, v) in rows.iter_mut().enumerate() {
            let r = next();
            *v = match r % 11 {
                0 => f32::NAN,
                1 => f32::INFINITY,
                2 => -2.0, // the zero-scale feature's centre, for j = 1
                _ => ((r >> 11) % 10_000) as f32 / 100.0 - 50.0,
            };
            if k / f == 3 {
                *v = f32::NAN; // one row with every feature null
            }
        }
        let mut columns = vec![0f32; n * f];
        for i in 0..n {
            for j in 0..f {
                columns[j * n + i] = rows[i * f + j];
            }
        }
        let (mut sum, mut count, mut got) = (vec![0f32; n], vec![0u32; n], vec![0f32; n]);
        block(
            &columns, &center, &scale, 10.0, &mut sum, &mut count, &mut got,
        );
        let mut z = vec![0f32; f];
        for i in 0..n {
            let want = row(&rows[i * f..(i + 1) * f], &center, &scale, 10.0, &mut z);
            assert_eq!(
                got[i].to_bits(),
                want.to_bits(),
                "row {i}: {} vs {want}",
                got[i]
            );
        }
        assert!(got[3].is_nan());
    }
}
