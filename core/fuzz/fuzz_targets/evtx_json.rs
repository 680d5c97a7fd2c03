//! The Windows-event JSON reader on arbitrary bytes: it never panics, every piece of input
//! becomes a row (an event or a damaged row with a reason), the counts add up, and all
//! batches of the read share one schema.
#![no_main]
use arrow::array::Array;
use libfuzzer_sys::fuzz_target;
use vigil::logs::evtx::{PARSE_ERROR, read_event_json};

fuzz_target!(|data: &[u8]| {
    let (batches, r) = read_event_json(data, "fuzz", 3).expect("in-memory input cannot fail");
    let rows: u64 = batches.iter().map(|b| b.num_rows() as u64).sum();
    assert_eq!(r.records, rows);
    assert_eq!(r.parsed + r.damaged, r.records);
    let mut errors = 0u64;
    for b in &batches {
        assert_eq!(b.schema(), batches[0].schema());
        let e = b.column_by_name(PARSE_ERROR).expect("parse_error column");
        errors += (e.len() - e.null_count()) as u64;
    }
    assert_eq!(errors, r.damaged);
});
