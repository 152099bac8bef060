//! The built-in profiles at the default bounds: pinned state counts, every invariant holds,
//! every applicable `sometimes` is discovered, and our BFS agrees with stateright's.

use stateright::{Checker, Model};
use tokenlife_model::check::{check, check_with, Engine, Status};
use tokenlife_model::explore::{count_states, search, search_threads};
use tokenlife_model::model::{Bounds, Group, Kind, LifecycleModel};
use tokenlife_model::Policy;

/// Unique states per profile at grants=1, refreshes=4. A change here is a change of the
/// model: explain it in the commit.
const PINNED: [(&str, usize); 8] = [
    ("rfc6749", 199_900),
    ("bcp", 14_908),
    ("oauth21", 40_191),
    ("strict", 20_979),
    ("grace-same", 253_463),
    ("grace-new", 260_261),
    ("bcp-dpop", 24_130),
    ("fapi2", 6_305),
];

#[test]
fn unique_state_counts_are_pinned() {
    let names: Vec<&str> = Policy::profile_names().collect();
    assert_eq!(names, PINNED.iter().map(|(n, _)| *n).collect::<Vec<_>>());
    for (name, expected) in PINNED {
        let m = LifecycleModel::new(Policy::profile(name).unwrap(), Bounds::default());
        assert_eq!(count_states(&m), expected, "{name}");
    }
}

#[test]
fn stateright_and_our_bfs_see_the_same_space() {
    for name in ["bcp", "strict", "oauth21"] {
        let m = LifecycleModel::new(Policy::profile(name).unwrap(), Bounds::default());
        let ours = count_states(&m);
        let theirs = m.clone().checker().spawn_bfs().join().unique_state_count();
        assert_eq!(ours, theirs, "{name}");
    }
}

#[test]
fn every_invariant_holds_and_every_applicable_situation_is_reachable() {
    for name in Policy::profile_names() {
        let r = check(&Policy::profile(name).unwrap(), Bounds::default(), 1);
        for p in &r.properties {
            match (p.kind, p.group) {
                (Kind::Always, Group::Invariant) => {
                    assert!(
                        matches!(p.status, Status::Holds | Status::NotApplicable),
                        "{name}: {}: {:?}",
                        p.name,
                        p.counterexample
                    )
                }
                (Kind::Sometimes, _) => assert!(
                    matches!(p.status, Status::Discovered | Status::NotApplicable),
                    "{name}: {} is {:?}",
                    p.name,
                    p.status
                ),
                _ => {}
            }
        }
        assert!(r.passed(), "{name}");
    }
}

#[test]
fn custom_policies_reach_their_own_situations() {
    // Knobs no built-in profile turns on: idle timeout, access-token cascade, narrowing
    // ignored / refused, a reuse count without a window.
    let cases = [
        (
            "profile = \"bcp\"\nidle_timeout = \"400s\"\n",
            "a refresh token dies of inactivity",
        ),
        (
            "profile = \"bcp\"\nrevoke_access_cascades = true\n",
            "revoking an access token cuts off its refresh token",
        ),
        (
            "profile = \"bcp\"\nnarrowing = \"ignored\"\n",
            "a refresh asking a narrower scope gets the original one",
        ),
        (
            "profile = \"bcp\"\nnarrowing = \"refused\"\n",
            "a refresh asking a narrower scope is refused",
        ),
        (
            "profile = \"bcp\"\ngrace_max_reuse = 1\n",
            "a consumed refresh token is honoured inside the grace window",
        ),
        (
            "profile = \"bcp\"\nrotation = \"never\"\nreuse_detection = false\n",
            "a refresh keeps the refresh token",
        ),
    ];
    for (toml, situation) in cases {
        let policy = Policy::from_toml(toml).unwrap();
        let r = check(&policy, Bounds::default(), 1);
        let p = r.properties.iter().find(|p| p.name == situation).unwrap();
        assert_eq!(p.status, Status::Discovered, "{toml}");
        assert!(
            r.passed(),
            "{toml}: {:?}",
            r.properties
                .iter()
                .filter(|p| p.is_failure())
                .collect::<Vec<_>>()
        );
    }
}

#[test]
fn shortest_counterexample_is_shortest() {
    // bcp loses access after a lost response in 3 steps: authorize, lost refresh, retry.
    let r = check(&Policy::profile("bcp").unwrap(), Bounds::default(), 2);
    let p = r
        .properties
        .iter()
        .find(|p| {
            p.name == "a client that lost a refresh response and retries at once keeps access"
        })
        .unwrap();
    assert_eq!(p.status, Status::Violated);
    let steps: Vec<String> = p
        .counterexample
        .as_ref()
        .unwrap()
        .iter()
        .map(|s| format!("{} → {}", s.action, s.outcome))
        .collect();
    insta::assert_snapshot!(steps.join("\n"));
}

#[test]
fn both_engines_agree_on_every_verdict_and_path_length() {
    for name in Policy::profile_names() {
        let m = LifecycleModel::new(Policy::profile(name).unwrap(), Bounds::default());
        let own = check_with(m.clone(), 2, Engine::Own);
        let theirs = check_with(m, 1, Engine::Stateright);
        assert_eq!(own.unique_states, theirs.unique_states, "{name}");
        for (a, b) in own.properties.iter().zip(&theirs.properties) {
            assert_eq!(a.status, b.status, "{name}: {}", a.name);
            assert_eq!(
                a.counterexample.as_ref().map(Vec::len),
                b.counterexample.as_ref().map(Vec::len),
                "{name}: {}",
                a.name
            );
        }
    }
}

#[test]
fn the_threaded_search_finds_what_the_sequential_one_finds() {
    for name in ["rfc6749", "grace-new"] {
        let m = LifecycleModel::new(Policy::profile(name).unwrap(), Bounds::default());
        let props: Vec<_> = m.applicable().collect();
        let one = search(&m, &props, false);
        let two = search_threads(&m, &props, false, 2);
        assert_eq!(one.unique_states, two.unique_states, "{name}");
        assert_eq!(one.max_depth, two.max_depth, "{name}");
        assert_eq!(one.found, two.found, "{name}");
    }
}

#[test]
fn every_new_knob_value_keeps_every_invariant() {
    // The spec's order of refusals and the observer's reading of it must agree: a replay
    // refused for its scope or its expiry first does not revoke the family.
    let mut files: Vec<String> = tokenlife_model::policy::CheckOrder::ALL
        .iter()
        .map(|o| {
            let names: Vec<String> = o
                .checks()
                .iter()
                .map(|c| format!("\"{}\"", c.name()))
                .collect();
            format!(
                "profile = \"bcp\"\nnarrowing = \"refused\"\ncheck_order = [{}]\n",
                names.join(", ")
            )
        })
        .collect();
    files.push("profile = \"bcp\"\nrefresh_ttl_anchor = \"access-expiry\"\n".into());
    // Every cascade target of every revocation.
    for knob in [
        "revoke_access_cascades",
        "revoke_refresh_cascades",
        "revoke_consumed_cascades",
    ] {
        for target in ["none", "refresh-tokens", "access-tokens", "grant"] {
            files.push(format!("profile = \"bcp\"\n{knob} = \"{target}\"\n"));
        }
    }
    files.push(
        "profile = \"grace-new\"\nrevoke_consumed_cascades = \"grant\"\nrevoke_access_cascades = \"access-tokens\"\n"
            .into(),
    );
    files.push(
        "profile = \"grace-same\"\nrefresh_ttl_anchor = \"access-expiry\"\ncheck_order = [\"scope\", \"reuse\", \"expiry\"]\n"
            .into(),
    );
    // A refresh ending the access tokens issued with the presented refresh token, with
    // rotation, without it (or either), with each grace successor.
    for profile in ["bcp", "rfc6749", "grace-same", "grace-new"] {
        files.push(format!(
            "profile = \"{profile}\"\nrefresh_ends_access = \"presented\"\n"
        ));
    }
    files.push(
        "profile = \"bcp\"\nrotation = \"never\"\nrefresh_ends_access = \"presented\"\nrevoke_access_cascades = \"refresh-tokens\"\n"
            .into(),
    );
    // Reuse detection acting on another client's presentation of a consumed token (reached
    // after a lost response leaves the client holding the consumed one): with rotation,
    // with each grace successor, with expiry or the scope checked first.
    for extra in [
        "profile = \"bcp\"\n",
        "profile = \"grace-same\"\n",
        "profile = \"grace-new\"\n",
        "profile = \"oauth21\"\n",
        "profile = \"bcp\"\ncheck_order = \"expiry-before-reuse\"\n",
        "profile = \"bcp\"\nnarrowing = \"refused\"\ncheck_order = [\"scope\", \"reuse\", \"expiry\"]\n",
    ] {
        files.push(format!("{extra}reuse_presenter = \"any-client\"\n"));
    }
    for toml in files {
        let policy = Policy::from_toml(&toml).unwrap();
        let r = check(&policy, Bounds::default(), 1);
        assert!(
            r.passed(),
            "{toml}: {:?}",
            r.properties
                .iter()
                .filter(|p| p.is_failure())
                .collect::<Vec<_>>()
        );
    }
}
