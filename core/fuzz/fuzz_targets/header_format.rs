//! The header-format spec compiler and matcher: any spec, any line; errors, never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (spec, line) = text.split_once('\n').unwrap_or((&text, ""));
    if let Ok(f) = vigil::logs::HeaderFormat::new(spec) {
        if let Some(fields) = f.parse(line) {
            assert_eq!(fields.len(), f.fields().len());
        }
    }
});
