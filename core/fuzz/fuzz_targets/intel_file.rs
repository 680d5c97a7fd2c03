//! Indicator sources and saved indicator files from arbitrary bytes: every format detector
//! and loader (STIX, MISP event, warninglist, CSV, plain list, vigil-intel file) must load or
//! report, never panic; whatever loads must match a small batch and save again.
#![no_main]
use std::sync::{Arc, OnceLock};

use arrow::array::{ArrayRef, RecordBatch, StringArray};
use libfuzzer_sys::fuzz_target;
use vigil::intel::{ColumnKind, Intel};

fn batch() -> &'static RecordBatch {
    static BATCH: OnceLock<RecordBatch> = OnceLock::new();
    BATCH.get_or_init(|| {
        let col = |v: Vec<Option<&str>>| Arc::new(StringArray::from(v)) as ArrayRef;
        RecordBatch::try_from_iter([
            ("ip", col(vec![Some("10.1.2.3"), None, Some("::ffff:1.2.3.4"), Some("x")])),
            ("q", col(vec![Some("a.evil.com."), Some("XN--BCHER-KVA.example"), None, Some("")])),
        ])
        .expect("batch")
    })
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut intel = Intel::new();
    let _ = intel.load_text(&text, "fuzz");
    if let Ok(saved) = Intel::from_json(&text) {
        intel.merge(&saved);
    }
    let cols = [("ip", ColumnKind::Ip), ("q", ColumnKind::Domain), ("q", ColumnKind::Substring)];
    let _ = intel.match_batch(batch(), &cols, None);
    if let Ok(json) = intel.to_json() {
        assert!(Intel::from_json(&json).is_ok(), "a saved set must load again");
    }
});
