use crate::{stdout, tokenlife};

#[test]
fn profiles_lists_every_knob() {
    let o = tokenlife(&["profiles"]);
    assert_eq!(o.status.code(), Some(0));
    insta::assert_snapshot!(stdout(&o));
}

#[test]
fn profiles_as_json() {
    let o = tokenlife(&["profiles", "--format", "json"]);
    assert_eq!(o.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let names: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "rfc6749",
            "bcp",
            "oauth21",
            "strict",
            "grace-same",
            "grace-new",
            "bcp-dpop",
            "fapi2"
        ]
    );
    assert_eq!(v[6]["policy"]["sender_constraint_public"], "dpop");
    assert_eq!(v[7]["policy"]["public_clients"], false);
    assert_eq!(v[1]["policy"]["rotation_public"], "always");
    assert_eq!(v[3]["policy"]["absolute_cap"], "15m");
}
