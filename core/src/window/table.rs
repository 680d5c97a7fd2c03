//! Per-window tables of windowed-aggregate pipeline stages (the Python `vigil.aggregate`).

use arrow::array::RecordBatch;

use super::agg::{self, Aggregator};
use super::{WindowFeature, WindowKind, WindowStage, dense};
use crate::engine::Engine;
use crate::error::{Error, Result};

/// One row per (entity, window) of window-aggregate stages (built with [`feature`]); each
/// aggregate's column is named by the feature's prefix, else [`WindowFeature::default_name`].
/// All must share the entity columns, time column and window.
pub fn aggregate_features(
    batches: &[RecordBatch],
    features: &[WindowStage],
    backend: crate::Backend,
) -> Result<RecordBatch> {
    let (mut agg, names) = feature_aggregator(features, backend)?;
    let engine = Engine::new(backend);
    // Several batches (e.g. a polars frame exported chunk by chunk) are one table: the
    // direct-address path keys them batch by batch.
    if let Some(table) = dense::table(&agg.specs, &names, batches, &engine)? {
        return Ok(table);
    }
    for b in batches {
        agg.push(b)?;
    }
    agg.finish_named(Some(&names))
}

/// [`aggregate_features`] over a Parquet file read in batches of `batch_rows` rows (windows
/// spanning batches are exact; memory holds the per-group state, not the file).
pub fn aggregate_features_parquet(
    path: impl AsRef<std::path::Path>,
    features: &[WindowStage],
    batch_rows: usize,
    backend: crate::Backend,
) -> Result<RecordBatch> {
    aggregate_features_parquet_with_progress(path, features, batch_rows, backend, |_, _| {})
}

/// [`aggregate_features_parquet`], calling `progress(rows_read, rows_total)` after each
/// batch (`rows_total` from the file's metadata), e.g. to drive a progress bar.
pub fn aggregate_features_parquet_with_progress(
    path: impl AsRef<std::path::Path>,
    features: &[WindowStage],
    batch_rows: usize,
    backend: crate::Backend,
    mut progress: impl FnMut(u64, u64),
) -> Result<RecordBatch> {
    let (mut agg, names) = feature_aggregator(features, backend)?;
    let reader = agg::parquet_batches(path.as_ref(), batch_rows)?;
    let total = agg::parquet_rows(path.as_ref())?;
    let mut done = 0u64;
    for b in reader {
        let b = b?;
        done += b.num_rows() as u64;
        agg.push(&b)?;
        progress(done, total);
    }
    agg.finish_named(Some(&names))
}

/// The columns `specs` read (entities, time, fields), each batch's joined into one batch;
/// `None` when a batch lacks one (the batch-by-batch path then reports it).
pub(crate) fn read_columns_joined(
    specs: &[&WindowFeature],
    batches: &[RecordBatch],
) -> Result<Option<RecordBatch>> {
    let mut names: Vec<&str> = Vec::new();
    for s in specs {
        let used = s.by.iter().chain([&s.time]).chain(s.field.as_ref());
        for n in used {
            if !names.contains(&n.as_str()) {
                names.push(n);
            }
        }
    }
    let Some(first) = batches.first() else {
        return Ok(None);
    };
    let mut indices = Vec::with_capacity(names.len());
    for n in &names {
        match first.schema().index_of(n) {
            Ok(i) => indices.push(i),
            Err(_) => return Ok(None),
        }
    }
    let mut parts = Vec::with_capacity(batches.len());
    for b in batches {
        if b.schema() != first.schema() {
            return Ok(None);
        }
        parts.push(b.project(&indices)?);
    }
    let schema = parts[0].schema();
    Ok(Some(arrow::compute::concat_batches(&schema, &parts)?))
}

fn feature_aggregator(
    features: &[WindowStage],
    backend: crate::Backend,
) -> Result<(Aggregator, Vec<String>)> {
    let mut specs = Vec::with_capacity(features.len());
    let mut names = Vec::with_capacity(features.len());
    for f in features {
        let WindowKind::Window(spec) = &f.kind else {
            return Err(Error::param(
                "aggregates",
                format!(
                    "`{}` is not a windowed aggregate (count, distinct_count, sum, ...)",
                    f.column
                ),
            ));
        };
        names.push(f.prefix.clone().unwrap_or_else(|| spec.default_name()));
        specs.push(spec.clone());
    }
    Ok((Aggregator::new(&specs, backend)?, names))
}
