//! Composes every WGSL kernel under `../shaders` (resolving `//!include` lines against
//! the shaders folder, each file once), validates it with naga, and writes the composed
//! source to `$OUT_DIR/shaders/<family>/<name>.wgsl` for `include_str!`. A shader that
//! does not parse or validate fails the build with the error and its location.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

fn compose(root: &Path, rel: &str, seen: &mut HashSet<String>, out: &mut String) {
    if !seen.insert(rel.to_string()) {
        return;
    }
    let path = root.join(rel);
    println!("cargo:rerun-if-changed={}", path.display());
    let text = fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read shader {}: {e}", path.display()));
    let mut body = String::new();
    for line in text.lines() {
        if let Some(inc) = line.trim().strip_prefix("//!include ") {
            compose(root, inc.trim(), seen, out);
        } else {
            body.push_str(line);
            body.push('\n');
        }
    }
    out.push_str(&format!("// ---- {rel} ----\n"));
    out.push_str(&body);
}

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let root = manifest.join("../shaders");
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR")).join("shaders");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut failures = Vec::new();
    for family in ["shared", "features", "score", "aggregate", "match"] {
        let dir = root.join(family);
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        println!("cargo:rerun-if-changed={}", dir.display());
        let mut names: Vec<_> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".wgsl"))
            .collect();
        names.sort();
        for name in names {
            let rel = format!("{family}/{name}");
            let mut source = String::new();
            compose(&root, &rel, &mut HashSet::new(), &mut source);
            if family != "shared" {
                let module = match naga::front::wgsl::parse_str(&source) {
                    Ok(m) => m,
                    Err(e) => {
                        failures.push(format!("{rel}:\n{}", e.emit_to_string(&source)));
                        continue;
                    }
                };
                let mut validator = naga::valid::Validator::new(
                    naga::valid::ValidationFlags::all(),
                    naga::valid::Capabilities::default(),
                );
                if let Err(e) = validator.validate(&module) {
                    failures.push(format!("{rel}:\n{}", e.emit_to_string(&source)));
                    continue;
                }
            }
            let dest = out_dir.join(&rel);
            fs::create_dir_all(dest.parent().expect("parent")).expect("create OUT_DIR/shaders");
            fs::write(&dest, source).expect("write composed shader");
        }
    }
    if !failures.is_empty() {
        panic!("WGSL validation failed:\n{}", failures.join("\n"));
    }
}
