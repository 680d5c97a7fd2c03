//! SigmaHQ's regression cases read through vigil's own EVTX reader (`read_evtx`): for each
//! case with an `.evtx` file, the case's rule (`rule_metadata` id in `info.yml`) fires on at
//! least `match_count` of its events (1 when absent). The in-repo fixture (three cases copied
//! from SigmaHQ with their rules) always runs, so a fresh clone tests the same path.

use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
use vigil::logs::evtx::read_evtx;
use vigil::sigma::SigmaRules;

use super::{case, data, info_files};

/// The rows of `batches` (one file's read) on which rule `id` fires.
fn firing_rows(rules: &SigmaRules, batches: &[RecordBatch], id: &str) -> usize {
    let mut n = 0;
    for b in batches {
        let mut rows: Vec<usize> = rules
            .match_pairs(b)
            .into_iter()
            .filter(|(_, r)| rules.rules().get(*r).is_some_and(|x| x.id == id))
            .map(|(row, _)| row)
            .collect();
        rows.dedup();
        n += rows.len();
    }
    n
}

/// The `.evtx` file of a case directory, if it has one.
fn evtx_of(dir: &Path) -> Option<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "evtx"))
        .collect();
    files.sort();
    files.into_iter().next()
}

#[test]
fn regression_cases_fire_on_the_evtx_files() {
    let root = data();
    if !root.exists() {
        println!(
            "SKIP: {} not found (the in-repo fixture test still runs)",
            root.display()
        );
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
    let mut checked = 0;
    let mut without_evtx = Vec::new();
    let mut failures = Vec::new();
    for info in &infos {
        let (id, want) = case(info);
        let dir = info.parent().expect("case dir");
        let Some(file) = evtx_of(dir) else {
            without_evtx.push(dir.display().to_string());
            continue;
        };
        let (batches, report) = read_evtx(&file).expect("read_evtx");
        assert_eq!(
            report.damaged,
            0,
            "{}: {:?}",
            file.display(),
            report.examples
        );
        let got = firing_rows(&rules, &batches, &id);
        checked += 1;
        if got < want {
            failures.push(format!(
                "{id} in {}: fired on {got} of {} events, want >= {want}",
                file.display(),
                report.records
            ));
        }
    }
    println!(
        "{checked} regression cases read from .evtx, {} failures; {} without an .evtx file: {without_evtx:?}",
        failures.len(),
        without_evtx.len()
    );
    assert!(failures.is_empty(), "{failures:#?}");
    // The one case without an .evtx file is SigmaHQ's Cisco case (raw CLI text, no Windows
    // event log); every other case has one.
    assert_eq!(without_evtx.len(), 1, "{without_evtx:?}");
    assert!(without_evtx[0].contains("cisco"), "{without_evtx:?}");
    assert_eq!(checked, 101);
}

/// The in-repo fixture: `tests/fixtures/sigma/` holds three SigmaHQ rules and their regression
/// `.evtx` files; each rule fires on its own file on exactly the events SigmaHQ's case names
/// (`match_count` 1 each), and on no event of the other two files.
#[test]
fn fixture_cases_fire_on_their_own_evtx_files_only() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/sigma");
    let rules = SigmaRules::load(root.join("rules")).expect("load");
    assert_eq!(rules.len(), 3, "{:?}", rules.report());
    let mut infos: Vec<PathBuf> = std::fs::read_dir(root.join("events"))
        .expect("events")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".info.yml"))
        .collect();
    infos.sort();
    assert_eq!(infos.len(), 3);
    let ids: Vec<String> = infos.iter().map(|i| case(i).0).collect();
    for info in &infos {
        let (id, want) = case(info);
        assert_eq!(want, 1);
        let name = info.to_string_lossy().replace(".info.yml", ".evtx");
        let (batches, report) = read_evtx(&name).expect("read_evtx");
        assert_eq!(report.damaged, 0);
        assert!(report.records >= 1);
        for other in &ids {
            let got = firing_rows(&rules, &batches, other);
            if other == &id {
                assert!(got >= want, "{id} on {name}: {got}");
            } else {
                assert_eq!(got, 0, "{other} fired on {name}");
            }
        }
    }
}
