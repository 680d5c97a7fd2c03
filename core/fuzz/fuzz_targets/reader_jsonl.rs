//! The jsonl reader on arbitrary bytes: see reader_check.rs.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "reader_check.rs"]
mod reader_check;

fuzz_target!(|data: &[u8]| reader_check::check("jsonl", data));
