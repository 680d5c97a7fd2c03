//! The Sigma rule loader and compiler: any YAML text loads (bad rules are reported with a
//! reason, never a panic), and the loaded rules evaluate on a small table.
#![no_main]
use std::sync::Arc;

use arrow::array::{RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok(rules) = vigil::sigma::SigmaRules::from_yaml(&text) else {
        return;
    };
    assert!(rules.report().iter().all(|i| !i.reason.kind.is_empty()));
    let batch = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("CommandLine", DataType::Utf8, true),
            Field::new("Image", DataType::Utf8, true),
        ])),
        vec![
            Arc::new(StringArray::from(vec![Some("cmd.exe /c whoami"), None, Some("")])),
            Arc::new(StringArray::from(vec![Some(r"C:\Windows\cmd.exe"), Some("é"), None])),
        ],
    )
    .expect("batch");
    for (row, rule) in rules.match_pairs(&batch) {
        assert!(row < 3 && rule < rules.len());
    }
});
