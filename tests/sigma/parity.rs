//! GPU (lavapipe) = CPU twin = an independent reference (std slice methods) for the
//! multi-pattern kernel behind the Sigma literal pass: random and real patterns, empty
//! patterns, patterns longer than values, non-ASCII, case folding, rows past the kernel's
//! row limit, pattern sets past one dispatch.

use std::sync::Arc;

use arrow::array::{ArrayRef, StringArray};
use vigil::Backend;

use crate::common::gpu_available;

struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const ALPHABET: &[&str] = &[
    "a", "b", "C", "d", "\\", ".", "-", " ", "é", "É", "中", "X", "/",
];

fn random_string(r: &mut Lcg, max: usize) -> String {
    let n = r.below(max + 1);
    (0..n).map(|_| ALPHABET[r.below(ALPHABET.len())]).collect()
}

/// Independent reference: std slice methods on ASCII-folded bytes.
fn reference(row: &[u8], pat: &[u8], anchor: u32, fold: bool) -> bool {
    let row: Vec<u8> = if fold {
        row.to_ascii_lowercase()
    } else {
        row.to_vec()
    };
    match anchor {
        0 => row == pat,
        1 => row.starts_with(pat),
        2 => row.ends_with(pat),
        _ => pat.is_empty() || row.windows(pat.len()).any(|w| w == pat),
    }
}

fn check(rows: &[String], pats: &[(Vec<u8>, u32)], fold: bool, what: &str) {
    let array: ArrayRef = Arc::new(StringArray::from_iter_values(rows.iter()));
    let mut offsets = vec![0u32];
    let mut bytes = Vec::new();
    for (p, _) in pats {
        bytes.extend_from_slice(p);
        offsets.push(bytes.len() as u32);
    }
    let anchors: Vec<u32> = pats.iter().map(|(_, a)| *a).collect();
    let words = pats.len().div_ceil(32);
    let cpu = vigil::kernels::multi_pattern(
        &array,
        &offsets,
        &bytes,
        &anchors,
        fold,
        Backend::Cpu,
        1 << 20,
    )
    .expect("cpu");
    for (i, row) in rows.iter().enumerate() {
        for (p, (pat, a)) in pats.iter().enumerate() {
            let bit = cpu[i * words + p / 32] >> (p % 32) & 1 == 1;
            assert_eq!(
                bit,
                reference(row.as_bytes(), pat, *a, fold),
                "{what}: cpu row {i} {row:?} pattern {pat:?} anchor {a}"
            );
        }
    }
    if !gpu_available() {
        return;
    }
    // A small chunk budget forces many chunks.
    let gpu = vigil::kernels::multi_pattern(
        &array,
        &offsets,
        &bytes,
        &anchors,
        fold,
        Backend::Gpu,
        1 << 14,
    )
    .expect("gpu");
    assert_eq!(cpu.len(), gpu.len());
    for (i, (c, g)) in cpu.iter().zip(&gpu).enumerate() {
        assert_eq!(
            c,
            g,
            "{what}: word {i} (row {}) cpu {c:#x} gpu {g:#x}",
            i / words
        );
    }
}

#[test]
fn multi_pattern_gpu_equals_cpu_random() {
    let mut r = Lcg(7);
    let mut rows: Vec<String> = (0..3000).map(|_| random_string(&mut r, 40)).collect();
    rows.push(String::new());
    rows.push("a".repeat(5000) + "b.dll"); // past the kernel's row limit: CPU twin inside the GPU path
    for fold in [false, true] {
        let mut pats: Vec<(Vec<u8>, u32)> = Vec::new();
        for a in 0..4u32 {
            pats.push((Vec::new(), a)); // empty patterns
            pats.push(("x".repeat(60).into_bytes(), a)); // longer than every short value
        }
        for _ in 0..150 {
            // substrings of real rows, so that hits happen
            let row = &rows[r.below(rows.len() - 2)];
            let chars: Vec<char> = row.chars().collect();
            let s = r.below(chars.len() + 1);
            let e = s + r.below(chars.len() - s + 1);
            let mut p: String = chars[s..e].iter().collect();
            if fold {
                p = p.to_ascii_lowercase();
            }
            pats.push((p.into_bytes(), r.below(4) as u32));
            let mut q = random_string(&mut r, 4);
            if fold {
                q = q.to_ascii_lowercase();
            }
            pats.push((q.into_bytes(), r.below(4) as u32));
        }
        check(
            &rows,
            &pats,
            fold,
            if fold {
                "random, folded"
            } else {
                "random, cased"
            },
        );
    }
}

#[test]
fn multi_pattern_gpu_equals_cpu_real_and_many_patterns() {
    // Real values and real Sigma literals (lower-cased for the folded pass).
    let rows: Vec<String> = [
        r"C:\Windows\System32\cmd.exe /c whoami /priv",
        r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe -nop -w hidden -enc SQBFAFgA",
        r#""C:\Program Files\Mozilla Firefox\firefox.exe" -contentproc"#,
        r"\\?\C:\Windows\system32\conhost.exe 0xffffffff -ForceV1",
        r"rundll32.exe C:\Users\Public\payload.dll,DllRegisterServer",
        "",
        "Überprüfung des Dienstes",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let lits = [
        (r"\cmd.exe", 2),
        (" -enc ", 3),
        ("powershell", 3),
        (r"c:\windows\", 1),
        (",dllregisterserver", 2),
        ("whoami", 3),
        ("", 0),
        ("überprüfung", 1),
        (r"\\?\", 1),
        ("conhost.exe 0xffffffff -forcev1", 3),
    ];
    let pats: Vec<(Vec<u8>, u32)> = lits
        .iter()
        .map(|(p, a)| (p.to_lowercase().into_bytes(), *a as u32))
        .collect();
    check(&rows, &pats, true, "real, folded");
    // 1100 patterns: two dispatches, the second starting at pattern 1024.
    let mut many = Vec::new();
    for i in 0..1100 {
        many.push((format!("{i}").into_bytes(), 3));
    }
    let rows: Vec<String> = (0..500)
        .map(|i| format!("value {} and {}", i * 7, i * 13))
        .collect();
    check(&rows, &many, false, "1100 patterns");
}

#[test]
fn match_params_size_matches_wgsl() {
    let source = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shaders/shared/params.wgsl"
    ))
    .expect("params.wgsl");
    let module = naga::front::wgsl::parse_str(&source).expect("parse params.wgsl");
    let mut layouter = naga::proc::Layouter::default();
    layouter.update(module.to_ctx()).expect("layout");
    let (handle, _) = module
        .types
        .iter()
        .find(|(_, t)| t.name.as_deref() == Some("MatchParams"))
        .expect("MatchParams");
    assert_eq!(
        layouter[handle].size as usize,
        std::mem::size_of::<vigil::kernels::MatchParams>()
    );
}
