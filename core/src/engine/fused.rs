//! Several scalar string kernels (length, entropy, character classes) over one column in a
//! single pass on the CPU: each row's bytes are read once for all of them, in parallel
//! blocks of rows, and written straight into the column-major output of every kernel.

use super::{Engine, StringOp, column_blocks};
use crate::columns::Strings;
use crate::cpu;
use crate::error::Result;

impl Engine {
    /// What [`string_columns`](Self::string_columns) gives for each of `ops`, in order,
    /// except that the char-class counts come as their ratios to the byte length (f32 bits,
    /// see `cpu::char_classes::ratio`). On the CPU the kernels' twins run fused (one read of
    /// each row); on a GPU each kernel runs as usual.
    pub(crate) fn string_columns_fused(
        &self,
        ops: &[StringOp],
        strings: &Strings<'_>,
    ) -> Result<Vec<Vec<Vec<u32>>>> {
        let rows = strings.len();
        if rows == 0 {
            return Ok(ops.iter().map(|op| vec![Vec::new(); op.words()]).collect());
        }
        self.run(
            strings.span_bytes(0, rows),
            true,
            |ctx| {
                ops.iter()
                    .map(|&op| {
                        let out = self.strings_gpu(ctx, op, strings)?;
                        let words = op.words();
                        let mut columns: Vec<Vec<u32>> = (0..words)
                            .map(|k| out.iter().skip(k).step_by(words).copied().collect())
                            .collect();
                        if let StringOp::CharClasses = op {
                            for column in columns.iter_mut().take(cpu::char_classes::RATIOS) {
                                for (i, w) in column.iter_mut().enumerate() {
                                    let len = strings.row_len(i);
                                    *w = cpu::char_classes::ratio(*w, len).to_bits();
                                }
                            }
                        }
                        Ok(columns)
                    })
                    .collect()
            },
            || fused_cpu(ops, strings),
        )
    }
}

/// What the length, entropy and char-class twins compute from one row, read in one pass
/// over its bytes: the bytes are counted once into a histogram (and the consonant runs
/// followed), then the byte values that occur, in ascending order, give the entropy terms
/// (in the order the entropy twin adds them), the class counts, the hex test and the
/// UTF-8 continuation bytes. The same values, bit for bit, as each twin alone.
struct Scalars {
    len: u32,
    chars: u32,
    entropy: f32,
    ratios: [f32; cpu::char_classes::RATIOS],
    longest_consonant_run: u32,
    hex: bool,
}

impl Scalars {
    /// The values of `s`; `counts` is all zero on entry and left all zero.
    #[inline]
    fn of(s: &[u8], counts: &mut [u32; 256], logs: &cpu::entropy::Logs) -> Self {
        // Four bitmaps of the byte values seen, one per position mod 4, joined after the
        // loop: consecutive bytes then set bits in different words, so no byte waits for
        // the previous byte's store to the same bitmap word.
        let mut seen = [[0u64; 4]; 4];
        let (mut run, mut longest) = (0u32, 0u32);
        let mut step = |lane: &mut [u64; 4], b: u8| {
            counts[b as usize] += 1;
            lane[(b >> 6) as usize] |= 1 << (b & 63);
            run = if cpu::char_classes::is_consonant(b) {
                run + 1
            } else {
                0
            };
            longest = longest.max(run);
        };
        let mut quads = s.chunks_exact(4);
        for q in &mut quads {
            let [l0, l1, l2, l3] = &mut seen;
            step(l0, q[0]);
            step(l1, q[1]);
            step(l2, q[2]);
            step(l3, q[3]);
        }
        for &b in quads.remainder() {
            step(&mut seen[0], b);
        }
        let present: [u64; 4] =
            std::array::from_fn(|w| seen[0][w] | seen[1][w] | seen[2][w] | seen[3][w]);
        let mut acc = 0.0f32;
        let mut classes = [0u32; cpu::char_classes::RATIOS];
        let mut hex = true;
        let mut continuation = 0u32;
        for (w, &bits) in present.iter().enumerate() {
            let mut bits = bits;
            while bits != 0 {
                let b = (w * 64) as u8 + bits.trailing_zeros() as u8;
                let c = counts[b as usize];
                counts[b as usize] = 0;
                acc += logs.xlogx(c);
                for (k, &m) in classes.iter_mut().zip(cpu::char_classes::class_masks(b)) {
                    *k += c & m;
                }
                hex &= cpu::char_classes::is_hex(b);
                continuation += if b & 0xc0 == 0x80 { c } else { 0 };
                bits &= bits - 1;
            }
        }
        let n = s.len();
        let mut ratios = [0f32; cpu::char_classes::RATIOS];
        if n > 0 {
            // The ratio of `char_classes::ratio`, all eight divided at once.
            let d = n as f32;
            for (r, &c) in ratios.iter_mut().zip(&classes) {
                *r = c as f32 / d;
            }
        }
        Scalars {
            len: n as u32,
            chars: n as u32 - continuation,
            entropy: if n == 0 { 0.0 } else { logs.entropy(acc, n) },
            ratios,
            longest_consonant_run: longest,
            hex: n > 0 && hex,
        }
    }
}

/// The CPU twins of `ops` over every row of `strings` in one pass.
fn fused_cpu(ops: &[StringOp], strings: &Strings<'_>) -> Vec<Vec<Vec<u32>>> {
    let rows = strings.len();
    let widths: Vec<usize> = ops.iter().map(|op| op.words()).collect();
    let words: usize = widths.iter().sum();
    let logs = cpu::entropy::Logs::get();
    let columns = column_blocks(
        rows,
        words,
        || [0u32; 256],
        |r, row, counts| {
            let s = strings.row(r);
            let v = Scalars::of(s, counts, &logs);
            let mut at = 0;
            for (&op, &w) in ops.iter().zip(&widths) {
                let out = &mut row[at..at + w];
                match op {
                    StringOp::Length => {
                        out[0] = v.len;
                        out[1] = v.chars;
                    }
                    StringOp::Entropy => out[0] = v.entropy.to_bits(),
                    StringOp::CharClasses => {
                        for (o, r) in out.iter_mut().zip(&v.ratios) {
                            *o = r.to_bits();
                        }
                        out[cpu::char_classes::RATIOS] = v.longest_consonant_run;
                        out[cpu::char_classes::RATIOS + 1] = u32::from(v.hex);
                    }
                    StringOp::Ngrams { .. } => op.cpu_row(s, out),
                }
                at += w;
            }
        },
    );
    // Split the words back into each kernel's columns.
    let mut rest = columns.into_iter();
    widths
        .iter()
        .map(|&w| rest.by_ref().take(w).collect())
        .collect()
}
