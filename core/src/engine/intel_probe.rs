//! Executor of the threat-intel probe kernel: every row of an event column probed against
//! the host-built indicator table, on the GPU (match/intel_probe.wgsl) or its CPU twin.

use rayon::prelude::*;

use super::{CPU_MIN_ROWS, Engine, first_output, u32s};
use crate::columns::Strings;
use crate::cpu::intel_probe::{self, MAX_ROW_BYTES, ProbeTable};
use crate::error::Result;
use crate::gpu::{self, Binding, GpuContext, params};

/// Output words per row: status, probe mask.
pub(crate) const PROBE_WORDS: usize = 2;

impl Engine {
    /// Per row of `strings`, (status, probe mask) as [`intel_probe::rows`] defines them:
    /// `2 * rows` words. Null slots are probed on whatever bytes they hold: callers mask them.
    pub(crate) fn intel_probe(
        &self,
        strings: &Strings<'_>,
        mode: u32,
        table: &ProbeTable<'_>,
    ) -> Result<Vec<u32>> {
        let rows = strings.len();
        if rows == 0 {
            return Ok(Vec::new());
        }
        self.run(
            strings.span_bytes(0, rows),
            true,
            |ctx| self.intel_probe_gpu(ctx, strings, mode, table),
            || intel_probe_cpu(strings, mode, table),
        )
    }

    fn intel_probe_gpu(
        &self,
        ctx: &GpuContext,
        strings: &Strings<'_>,
        mode: u32,
        table: &ProbeTable<'_>,
    ) -> Result<Vec<u32>> {
        let rows = strings.len();
        let limit = ctx.summary.max_storage_binding as usize;
        if table.slots.len() * 4 > limit {
            return Err(crate::Error::Gpu(format!(
                "intel_probe: the indicator table ({} bytes) is over the device's storage binding limit ({limit} bytes)",
                table.slots.len() * 4
            )));
        }
        let max_rows = (limit / (4 * PROBE_WORDS)).min(limit / 4 - 1).max(1);
        let budget = self.chunk_bytes.clamp(1, limit.saturating_sub(4));
        // An empty binding is not allowed: the kernel never reads past `lens`, so pad it.
        let lens: Vec<u32> = if table.lens.is_empty() {
            vec![0]
        } else {
            table.lens.to_vec()
        };
        let slots: &[u32] = if table.slots.is_empty() {
            &[0, 0, 0, 0]
        } else {
            table.slots
        };
        let mut out = Vec::with_capacity(rows * PROBE_WORDS);
        let mut start = 0;
        while start < rows {
            let end = strings.chunk_end(start, max_rows, budget);
            let chunk = strings.gpu_chunk(start, end);
            let p = params::ProbeParams {
                rows: (end - start) as u32,
                base: chunk.base,
                mode,
                slots: (table.slots.len() / 4) as u32,
                max_probe: table.max_probe,
                lens: table.lens.len() as u32,
                seed0: table.seed[0],
                seed1: table.seed[1],
                max_row_bytes: MAX_ROW_BYTES as u32,
                _pad: [0; 3],
            };
            // A chunk of empty rows uploads no bytes: give the binding one word.
            let bytes: &[u8] = if chunk.bytes.is_empty() {
                &[0, 0, 0, 0]
            } else {
                &chunk.bytes
            };
            let result = ctx.dispatch(
                &gpu::INTEL_PROBE,
                p.rows,
                &[
                    Binding::Uniform(bytemuck::bytes_of(&p)),
                    Binding::Input(&chunk.offsets),
                    Binding::Input(bytes),
                    Binding::Input(bytemuck::cast_slice(slots)),
                    Binding::Input(bytemuck::cast_slice(&lens)),
                    Binding::Output(((end - start) * PROBE_WORDS * 4) as u64),
                ],
            )?;
            out.extend(u32s(first_output(&result, "intel_probe")?));
            start = end;
        }
        Ok(out)
    }
}

fn intel_probe_cpu(strings: &Strings<'_>, mode: u32, table: &ProbeTable<'_>) -> Vec<u32> {
    let mut out = vec![0u32; strings.len() * PROBE_WORDS];
    out.par_chunks_mut(PROBE_WORDS * CPU_MIN_ROWS)
        .enumerate()
        .for_each(|(c, o)| {
            intel_probe::rows(|i| strings.row(i), c * CPU_MIN_ROWS, mode, table, o);
        });
    out
}
