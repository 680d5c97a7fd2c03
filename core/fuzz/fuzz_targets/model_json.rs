//! Model loading from arbitrary bytes: pipeline files and standalone detector files must load
//! or give an error, never panic or allocate without bound; whatever loads must score a small
//! batch without panicking. Seed corpus/model_json/ with saved models for depth (see
//! run_all.sh).
#![no_main]
use std::sync::{Arc, OnceLock};

use arrow::array::{ArrayRef, Float64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use libfuzzer_sys::fuzz_target;
use vigil::detect::FittedDetector;
use vigil::{Backend, FittedPipeline};

fn batch() -> &'static RecordBatch {
    static BATCH: OnceLock<RecordBatch> = OnceLock::new();
    BATCH.get_or_init(|| {
        let schema = Schema::new(vec![
            Field::new("q", DataType::Utf8, true),
            Field::new("f0", DataType::Float64, true),
            Field::new("f1", DataType::Float64, true),
            Field::new("f2", DataType::Float64, true),
        ]);
        let num = |v: Vec<Option<f64>>| Arc::new(Float64Array::from(v)) as ArrayRef;
        RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(StringArray::from(vec![Some("a.com"), None, Some("xj3k9q.info")])),
                num(vec![Some(1.0), None, Some(1e30)]),
                num(vec![Some(-2.0), Some(0.5), None]),
                num(vec![None, Some(3.0), Some(4.0)]),
            ],
        )
        .expect("batch")
    })
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(d) = FittedDetector::from_json(&text) {
        let _ = d.score_batch(batch(), Backend::Cpu);
        let _ = d.score_samples(batch(), Backend::Cpu);
    }
    if let Ok(p) = FittedPipeline::from_json(&text) {
        let _ = p.with_backend(Backend::Cpu).score(batch());
    }
});
