//! `tokenlife mutants`: every catalogued defect killed, the clean server clean.

use crate::{stderr, tokenlife};

#[test]
fn every_catalogued_defect_is_killed_with_zero_clean_failures() {
    let o = tokenlife(&["mutants", "--format", "json"]);
    let v: serde_json::Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", stderr(&o)));
    let survivors: Vec<&serde_json::Value> = v["defects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["killed"] != true)
        .collect();
    assert!(survivors.is_empty(), "survived: {survivors:#?}");
    assert_eq!(v["clean_failures"], 0, "{:#}", v["clean"]);
    assert_eq!(v["score"], 1.0);
    let defects = v["defects"].as_array().unwrap();
    let catalogued = tokenlife_server::Defect::ALL.len();
    assert_eq!(defects.len(), catalogued);
    for d in defects {
        for key in ["name", "profile", "killed", "checks"] {
            assert!(d.get(key).is_some(), "{key} missing in {d}");
        }
        assert!(!d["checks"].as_array().unwrap().is_empty(), "{d}");
    }
    let by_name = |n: &str| defects.iter().find(|d| d["name"] == n).unwrap();
    assert_eq!(by_name("cap-extended")["profile"], "strict");
    assert_eq!(by_name("grace-too-wide")["profile"], "grace-same");
    assert_eq!(by_name("replay-accepted")["profile"], "bcp");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn an_unknown_defect_is_a_usage_error() {
    let o = tokenlife(&["mutants", "--defect", "no-such-defect"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no-such-defect"), "{}", stderr(&o));
}
