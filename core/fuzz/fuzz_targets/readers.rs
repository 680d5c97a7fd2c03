//! Every reader on arbitrary bytes: one row per line (Zeek directives aside), counts add up.
//! The first byte picks the format.
#![no_main]
use libfuzzer_sys::fuzz_target;
use vigil::logs::{LogFormat, LogReader};

const FORMATS: [&str; 6] = ["loghub:HDFS", "loghub:Linux", "syslog", "apache", "jsonl", "zeek"];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else { return };
    let name = FORMATS[pick as usize % FORMATS.len()];
    let format = LogFormat::parse(name).expect("built-in format");
    let mut reader = LogReader::new(Box::new(std::io::Cursor::new(body.to_vec())), format, 3);
    let mut rows = 0u64;
    for b in reader.by_ref() {
        rows += b.expect("in-memory input cannot fail").num_rows() as u64;
    }
    let r = reader.report();
    assert_eq!(r.rows, rows);
    assert_eq!(r.parsed + r.malformed, r.rows);
    let lines = body.split(|&b| b == b'\n').count() as u64 - u64::from(body.ends_with(b"\n") || body.is_empty());
    assert_eq!(r.rows + r.directives, lines, "{name}");
});
