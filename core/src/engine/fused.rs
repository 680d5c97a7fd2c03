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

/// The CPU twins of `ops` over every row of `strings` in one pass.
fn fused_cpu(ops: &[StringOp], strings: &Strings<'_>) -> Vec<Vec<Vec<u32>>> {
    let rows = strings.len();
    let widths: Vec<usize> = ops.iter().map(|op| op.words()).collect();
    let words: usize = widths.iter().sum();
    let columns = column_blocks(
        rows,
        words,
        || [0u32; 256],
        |r, row, counts| {
            let s = strings.row(r);
            let mut at = 0;
            for (&op, &w) in ops.iter().zip(&widths) {
                let out = &mut row[at..at + w];
                match op {
                    StringOp::Entropy => cpu::entropy::row_with(s, out, counts),
                    StringOp::CharClasses => {
                        op.cpu_row(s, out);
                        for w in out.iter_mut().take(cpu::char_classes::RATIOS) {
                            *w = cpu::char_classes::ratio(*w, s.len()).to_bits();
                        }
                    }
                    _ => op.cpu_row(s, out),
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
