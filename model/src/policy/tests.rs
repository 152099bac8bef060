//! The policy knobs''s unit tests.

use super::*;

#[test]
fn durations_parse_and_print() {
    assert_eq!("90s".parse::<Seconds>(), Ok(Seconds(90)));
    assert_eq!("15m".parse::<Seconds>(), Ok(Seconds(900)));
    assert_eq!("2h".parse::<Seconds>(), Ok(Seconds(7200)));
    assert_eq!("1d".parse::<Seconds>(), Ok(Seconds(86_400)));
    assert!("90".parse::<Seconds>().unwrap_err().contains("no unit"));
    assert!("9y"
        .parse::<Seconds>()
        .unwrap_err()
        .contains("unknown unit"));
    assert!("abc".parse::<Seconds>().is_err());
    assert_eq!(Seconds(900).to_string(), "15m");
    assert_eq!(Seconds(61).to_string(), "61s");
}

#[test]
fn every_profile_is_valid_and_round_trips() {
    for name in Policy::profile_names() {
        let p = Policy::profile(name).unwrap();
        p.validate().unwrap();
        assert_eq!(p.profile, name);
        let back = Policy::from_toml(&p.to_toml()).unwrap();
        let mut back_named = back.clone();
        back_named.profile = p.profile.clone();
        assert_eq!(back_named, p, "{name} does not round-trip");
    }
}

#[test]
fn knobs_beside_profile_override_it() {
    let p = Policy::from_toml(
        "profile = \"strict\"\naccess_ttl = \"60s\"\ngrace_window = \"10s\"\ngrace_successor = \"same\"\n",
    )
    .unwrap();
    assert_eq!(p.access_ttl, Seconds(60));
    assert_eq!(p.absolute_cap, Some(Seconds(900)));
    assert_eq!(p.grace.unwrap().successor, GraceSuccessor::Same);
    assert_eq!(p.profile, "strict+custom");
    let q = Policy::from_toml("[policy]\nprofile = \"grace-new\"\n").unwrap();
    assert_eq!(q.profile, "grace-new");
    let none = Policy::from_toml("profile = \"grace-new\"\ngrace_window = \"none\"\n").unwrap();
    assert_eq!(none.grace, None);
}

#[test]
fn a_table_in_a_larger_file_resolves_and_names_its_lines() {
    #[derive(Deserialize)]
    struct File {
        policy: PolicyTable,
    }
    let text = "[server]\nx = 1\n\n[policy]\nprofile = \"strict\"\naccess_ttl = \"60s\"\n";
    let file: File = toml::from_str(text).unwrap();
    let p = file.policy.resolve(text).unwrap();
    assert_eq!(
        (p.profile.as_str(), p.access_ttl),
        ("strict+custom", Seconds(60))
    );
    let text = text.replace("access_ttl = \"60s\"", "access_ttl = \"60s\"\nrotaton = 1");
    let file: File = toml::from_str(&text).unwrap();
    let err = file.policy.resolve(&text).unwrap_err();
    assert!(
        matches!(&err, PolicyError::Invalid { field, reason }
            if field == "rotaton" && reason.starts_with("unknown knob, expected one of `profile`")
                && reason.ends_with("(line 7)")),
        "{err}"
    );
    let text = text
        .replace("rotaton = 1", "access_ttl = 60")
        .replace("access_ttl = \"60s\"\n", "");
    let file: File = toml::from_str(&text).unwrap();
    let err = file.policy.resolve(&text).unwrap_err();
    assert_eq!(
        err.to_string(),
        "policy field `access_ttl`: durations are strings with a unit: write \"60s\" rather than 60 (line 6)"
    );
}

#[test]
fn bad_files_name_the_field() {
    let err = Policy::from_toml("profile = \"bcp\"\nrotaton = \"always\"\n").unwrap_err();
    assert!(
        matches!(&err, PolicyError::Invalid { field, .. } if field == "rotaton"),
        "{err}"
    );
    let err = Policy::from_toml("profile = \"nope\"\n").unwrap_err();
    assert_eq!(err, PolicyError::UnknownProfile("nope".into()));
    let err = Policy::from_toml("access_ttl = 60\n").unwrap_err();
    assert!(err.to_string().contains("\"60s\""), "{err}");
    let err = Policy::from_toml("access_ttl = \"0s\"\n").unwrap_err();
    assert!(matches!(&err, PolicyError::Invalid { field, .. } if field == "access_ttl"));
    let err = Policy::from_toml("rotation = \"never\"\ngrace_window = \"5s\"\n").unwrap_err();
    assert!(matches!(&err, PolicyError::Invalid { field, .. } if field == "grace_window"));
    let err = Policy::from_toml("rotation = \"sometimes\"\n").unwrap_err();
    assert!(err.to_string().contains("sometimes"), "{err}");
}

#[test]
fn new_orders_and_the_anchor_round_trip_and_old_files_keep_their_meaning() {
    let p = Policy::from_toml(
        "profile = \"bcp\"\ncheck_order = [\"scope\", \"reuse\", \"expiry\"]\nrefresh_ttl_anchor = \"access-expiry\"\n",
    )
    .unwrap();
    assert_eq!(p.check_order.checks()[0], OrderedCheck::Scope);
    assert_eq!(p.refresh_lifetime(), Some(Seconds(900)));
    let text = p.to_toml();
    assert!(
        text.contains("check_order = [\"scope\", \"reuse\", \"expiry\"]"),
        "{text}"
    );
    assert_eq!(Policy::from_toml(&text).unwrap(), p);
    let old = Policy::from_toml("check_order = \"expiry-before-reuse\"\n").unwrap();
    let new = Policy::from_toml("check_order = [\"expiry\", \"reuse\", \"scope\"]\n").unwrap();
    assert_eq!(old, new);
    assert_eq!(
        Policy::default().refresh_ttl_anchor,
        RefreshTtlAnchor::Issue
    );
}

#[test]
fn bad_orders_and_anchors_name_the_knob_and_the_value() {
    let err = Policy::from_toml("check_order = [\"scope\", \"reuse\", \"reuse\"]\n").unwrap_err();
    assert!(
        matches!(&err, PolicyError::Invalid { field, reason } if field == "check_order" && reason.contains("`reuse` is named twice")),
        "{err}"
    );
    let err = Policy::from_toml("refresh_ttl_anchor = \"now\"\n").unwrap_err();
    assert!(err.to_string().contains("`now`"), "{err}");
    let err = Policy::from_toml("refresh_ttl = \"none\"\nrefresh_ttl_anchor = \"access-expiry\"\n")
        .unwrap_err();
    assert!(
        matches!(&err, PolicyError::Invalid { field, .. } if field == "refresh_ttl_anchor"),
        "{err}"
    );
}

#[test]
fn cascades_take_the_old_booleans_or_a_target_and_round_trip() {
    let old = Policy::from_toml("revoke_refresh_cascades = true\nrevoke_access_cascades = true\n")
        .unwrap();
    assert_eq!(old.revoke_refresh_cascades, RevokeCascade::Grant);
    assert_eq!(old.revoke_access_cascades, RevokeCascade::RefreshTokens);
    assert_eq!(old.revoke_consumed_cascades, RevokeCascade::None);
    let off = Policy::from_toml("revoke_refresh_cascades = false\n").unwrap();
    assert_eq!(off.revoke_refresh_cascades, RevokeCascade::None);
    let node = Policy::from_toml(
        "revoke_access_cascades = \"grant\"\nrevoke_consumed_cascades = true\nrevoke_refresh_cascades = \"access-tokens\"\n",
    )
    .unwrap();
    assert_eq!(node.revoke_consumed_cascades, RevokeCascade::Grant);
    assert_eq!(Policy::from_toml(&node.to_toml()).unwrap(), node);
    // Ending the access tokens satisfies RFC 7009 §2.1's SHOULD; ending only the refresh
    // tokens does not.
    let note = |p: &Policy| {
        p.notes()
            .iter()
            .any(|n| n.contains("revoke_refresh_cascades"))
    };
    assert!(!note(&node));
    let rts = Policy::from_toml("revoke_refresh_cascades = \"refresh-tokens\"\n").unwrap();
    assert!(note(&rts));
    let err = Policy::from_toml("revoke_access_cascades = \"everything\"\n").unwrap_err();
    assert!(
        matches!(&err, PolicyError::Invalid { field, reason } if field == "revoke_access_cascades" && reason.contains("`everything`")),
        "{err}"
    );
}

#[test]
fn a_policy_table_takes_the_new_knobs_as_a_file_does() {
    #[derive(Deserialize)]
    struct File {
        policy: PolicyTable,
    }
    let text = "[policy]\nprofile = \"bcp\"\ncheck_order = [\"expiry\", \"scope\", \"reuse\"]\nrevoke_access_cascades = \"grant\"\nrevoke_consumed_cascades = true\nrefresh_ttl_anchor = \"access-expiry\"\n";
    let file: File = toml::from_str(text).unwrap();
    let p = file.policy.resolve(text).unwrap();
    assert_eq!(p, Policy::from_toml(text).unwrap());
    assert_eq!(p.revoke_consumed_cascades, RevokeCascade::Grant);
    let bad = text.replace(
        "[\"expiry\", \"scope\", \"reuse\"]",
        "[\"expiry\", \"scope\"]",
    );
    let file: File = toml::from_str(&bad).unwrap();
    let err = file.policy.resolve(&bad).unwrap_err();
    assert!(
        matches!(&err, PolicyError::Invalid { field, reason } if field == "check_order" && reason.contains("names 2 of the three") && reason.ends_with("(line 3)")),
        "{err}"
    );
}
