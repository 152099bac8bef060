//! Policy files as data: every file in `valid/` loads, every file in `invalid/` fails with
//! an error that names what is wrong (snapshotted per file).

use std::path::PathBuf;

use tokenlife_model::Policy;

fn dir(kind: &str) -> Vec<PathBuf> {
    let d = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/policies")
        .join(kind);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&d)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no files in {}", d.display());
    files
}

#[test]
fn valid_policy_files_load() {
    for f in dir("valid") {
        let text = std::fs::read_to_string(&f).unwrap();
        let p = Policy::from_toml(&text).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        p.validate().unwrap();
    }
}

#[test]
fn every_knob_file_sets_every_knob() {
    let f = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/policies/valid/every-knob.toml");
    let p = Policy::from_toml(&std::fs::read_to_string(f).unwrap()).unwrap();
    insta::assert_snapshot!(p.to_toml());
}

#[test]
fn invalid_policy_files_fail_naming_the_fault() {
    let mut report = String::new();
    for f in dir("invalid") {
        let text = std::fs::read_to_string(&f).unwrap();
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        match Policy::from_toml(&text) {
            Ok(p) => panic!("{name} loaded: {p:?}"),
            Err(e) => report.push_str(&format!("{name}: {e}\n")),
        }
    }
    insta::assert_snapshot!(report);
}
