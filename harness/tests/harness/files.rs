//! Files as data: the shipped scenarios load (and match the built-in list); every file of
//! `tests/scenarios/invalid/` fails with an error naming the file, the step and the field
//! its first line announces; target files that are wrong name their key.

use std::path::Path;

use tokenlife_harness::scenario::{load_dir, load_file};
use tokenlife_harness::target::{self, TargetError};

fn manifest() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn the_shipped_scenarios_load_and_are_built_in() {
    let set = load_dir(&manifest().join("../scenarios")).unwrap();
    let builtin = tokenlife_harness::builtin::scenarios().unwrap();
    let names = |s: &tokenlife_harness::ScenarioSet| {
        s.scenarios
            .iter()
            .map(|x| x.name.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(&set),
        names(&builtin),
        "harness/src/builtin.rs must list every scenarios/*.toml"
    );
    assert_eq!(set.hash, builtin.hash);
    assert!(set.scenarios.len() >= 20);
}

#[test]
fn every_invalid_scenario_names_its_file_step_and_field() {
    let dir = manifest().join("tests/scenarios/invalid");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let want = text
            .lines()
            .next()
            .unwrap()
            .strip_prefix("# expect: ")
            .unwrap()
            .to_string();
        let err = load_file(&path).expect_err(&format!("{} loaded", path.display()));
        let shown = err.to_string();
        let file = path.file_name().unwrap().to_string_lossy().to_string();
        assert!(shown.contains(&file), "{shown}");
        for part in want.split(", ") {
            let (what, value) = part.split_once(' ').unwrap();
            match what {
                "step" => assert_eq!(err.step, Some(value.parse().unwrap()), "{shown}"),
                "field" => assert_eq!(err.field.as_deref(), Some(value), "{shown}"),
                _ => panic!("bad expectation line in {file}"),
            }
        }
        n += 1;
    }
    assert!(n >= 10);
}

const TARGET: &str = r#"
[server]
issuer = "http://127.0.0.1:9000"
resource_url = "http://127.0.0.1:9000/api/resource"

[[clients]]
id = "app-a"
secret_env = "TOKENLIFE_TEST_UNSET_SECRET"
auth = "client_secret_post"
redirect_uri = "http://127.0.0.1:9000/cb"
scope = "openid offline_access read write"

[[clients]]
id = "spa"
auth = "none"
redirect_uri = "http://127.0.0.1:9000/cb"
scope = "offline_access read write"

[authorize]
mode = "command"
command = ["./get-code.sh"]

[clock]
mode = "real"
skew = "1s"

[policy]
profile = "oauth21"
"#;

#[test]
fn target_files_load_or_name_the_key() {
    let ok = target::parse(TARGET, |v| {
        (v == "TOKENLIFE_TEST_UNSET_SECRET").then(|| "s".into())
    })
    .unwrap();
    assert_eq!(ok.policy.profile, "oauth21");
    let cases = [
        (
            TARGET.replace("skew = \"1s\"", "skew = \"1s\"\nwobble = true"),
            "wobble",
        ),
        (TARGET.replace("[authorize]", "[authorise]"), "authorise"),
        (
            TARGET.replace(
                "scope = \"offline_access read write\"",
                "scope = \"offline_access read write\"\nsecrets = \"x\"",
            ),
            "secrets",
        ),
    ];
    for (text, key) in cases {
        let e = target::parse(&text, |_| Some("s".into())).unwrap_err();
        assert!(
            matches!(e, TargetError::Syntax(_)) && e.to_string().contains(key),
            "{e}"
        );
    }
    let e = target::parse(TARGET, |_| None).unwrap_err();
    assert!(
        matches!(&e, TargetError::Invalid { field, .. } if field == "clients[0].secret_env"),
        "{e}"
    );
    let e = target::parse(&TARGET.replace("command = [\"./get-code.sh\"]", ""), |_| {
        Some("s".into())
    })
    .unwrap_err();
    assert!(
        matches!(&e, TargetError::Invalid { field, .. } if field == "authorize.command"),
        "{e}"
    );
}
