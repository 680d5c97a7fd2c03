//! The check every reader target runs: the reader of `format` on arbitrary bytes gives one
//! row per line (Zeek directives aside), the counts add up, and nothing panics.
use vigil::logs::{LogFormat, LogReader};

pub fn check(format: &str, data: &[u8]) {
    let format = LogFormat::parse(format).expect("built-in format");
    let mut reader = LogReader::new(Box::new(std::io::Cursor::new(data.to_vec())), format, 3);
    let mut rows = 0u64;
    for b in reader.by_ref() {
        rows += b.expect("in-memory input cannot fail").num_rows() as u64;
    }
    let r = reader.report();
    assert_eq!(r.rows, rows);
    assert_eq!(r.parsed + r.malformed, r.rows);
    let lines = data.split(|&b| b == b'\n').count() as u64
        - u64::from(data.ends_with(b"\n") || data.is_empty());
    assert_eq!(r.rows + r.directives, lines);
}
