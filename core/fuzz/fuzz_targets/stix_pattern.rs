//! STIX patterns from arbitrary bytes: parse or fail with a reason, never panic or recurse
//! without bound; whatever parses gives indicators or a reason.
#![no_main]
use libfuzzer_sys::fuzz_target;
use vigil::intel::{parse_pattern, pattern_indicators};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(p) = parse_pattern(&text) {
        let _ = pattern_indicators(&p);
    }
});
