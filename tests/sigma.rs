//! Sigma rules: SigmaHQ's regression cases (every case's rule fires on at least its
//! `match_count` events), loading the whole rule corpus, hand-checked modifiers and
//! conditions, hostile rules.

#[path = "sigma/events.rs"]
mod events;

use std::path::{Path, PathBuf};

use vigil::sigma::SigmaRules;

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/sigma")
}

fn info_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            info_files(&p, out);
        } else if p.file_name().is_some_and(|n| n == "info.yml") {
            out.push(p);
        }
    }
}

/// (rule id, match_count) of a regression case's info.yml.
fn case(info: &Path) -> (String, usize) {
    let t = std::fs::read_to_string(info).unwrap_or_default();
    let mut id = String::new();
    let mut count = 1;
    let mut in_meta = false;
    for line in t.lines() {
        let l = line.trim();
        if l.starts_with("rule_metadata") {
            in_meta = true;
        } else if in_meta && l.starts_with("- id:") && id.is_empty() {
            id = l.trim_start_matches("- id:").trim().to_string();
        } else if let Some(n) = l.strip_prefix("match_count:") {
            count = n.trim().parse().unwrap_or(1);
        }
    }
    (id, count)
}

#[test]
fn regression_cases_fire() {
    let root = data();
    if !root.exists() {
        println!("SKIP: {} not found", root.display());
        return;
    }
    let rules = SigmaRules::load_with(
        &[
            root.join("rules"),
            root.join("rules-emerging-threats"),
            root.join("rules-threat-hunting"),
        ],
        Default::default(),
    )
    .expect("load");
    let mut infos = Vec::new();
    info_files(&root.join("regression_data"), &mut infos);
    assert_eq!(infos.len(), 102, "SigmaHQ ships 102 regression cases");
    let mut failures = Vec::new();
    for info in &infos {
        let (id, want) = case(info);
        let dir = info.parent().expect("dir");
        let file = std::fs::read_dir(dir)
            .expect("case dir")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| {
                p.extension()
                    .is_some_and(|e| e == "json" || e == "jsoncls" || e == "raw")
            });
        let Some(file) = file else {
            failures.push(format!("{}: no event file", dir.display()));
            continue;
        };
        let batch = if file.extension().is_some_and(|e| e == "raw") {
            events::raw_batch(&file)
        } else {
            events::batch(&events::read_events(&file))
        };
        let pairs = rules.match_pairs(&batch);
        let mut rows: Vec<usize> = pairs
            .iter()
            .filter(|(_, r)| rules.rules()[*r].id == id)
            .map(|(row, _)| *row)
            .collect();
        rows.dedup();
        if rows.len() < want {
            let why = match rules.report().iter().find(|i| i.rule_id == id) {
                Some(i) => format!("not loaded: {} ({})", i.reason.detail, i.reason.kind),
                None if rules.rules().iter().any(|r| r.id == id) => "loaded".to_string(),
                None => "rule not found".to_string(),
            };
            failures.push(format!(
                "{id} in {}: fired on {} of {} events, want >= {want} [{why}]",
                file.display(),
                rows.len(),
                batch.num_rows()
            ));
        }
    }
    println!(
        "{} regression cases, {} failures",
        infos.len(),
        failures.len()
    );
    for f in &failures {
        println!("  {f}");
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn windows_rules_load() {
    let root = data();
    if !root.exists() {
        println!("SKIP: {} not found", root.display());
        return;
    }
    let all = SigmaRules::load(&root).expect("load all");
    println!(
        "all of shared/data/sigma: {} loaded, {} reported",
        all.len(),
        all.report().len()
    );
    for (k, n) in all.counts_by_reason() {
        println!("  {k}: {n}");
    }
    let win = SigmaRules::load(root.join("rules/windows")).expect("load windows");
    let total = win.len() + win.report().len();
    let share = win.len() as f64 / total as f64;
    println!(
        "rules/windows: {} of {total} load ({:.2}%)",
        win.len(),
        100.0 * share
    );
    for i in win.report() {
        println!(
            "  {} {}: {} ({})",
            i.file, i.rule_id, i.reason.detail, i.reason.kind
        );
    }
    assert!(share >= 0.98, "{share}");
}

#[path = "sigma/modifiers.rs"]
mod modifiers;

#[path = "sigma/chained.rs"]
mod chained;
#[path = "common/mod.rs"]
mod common;
#[path = "sigma/correlation.rs"]
mod correlation;
#[path = "sigma/files.rs"]
mod files;
#[path = "sigma/parity.rs"]
mod parity;
#[path = "sigma/regression_evtx.rs"]
mod regression_evtx;
