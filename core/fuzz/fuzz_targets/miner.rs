//! The template miner on arbitrary messages, and miner state loading from arbitrary JSON.
#![no_main]
use std::sync::Arc;

use arrow::array::StringArray;
use libfuzzer_sys::fuzz_target;
use vigil::template::TemplateMiner;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = TemplateMiner::from_json(&text);
    let lines: Vec<&str> = text.split('\n').collect();
    let arr = Arc::new(StringArray::from(lines.clone()));
    let mut m = TemplateMiner::default();
    let out = m.parse(arr.as_ref()).expect("strings parse");
    assert_eq!(out.num_rows(), lines.len());
    let again = TemplateMiner::from_json(&m.to_json().expect("json")).expect("own state loads");
    assert_eq!(again.templates(), m.templates());
});
