//! The characteristic matrix: which policies violate which characteristic, with the length
//! of the shortest counterexample. Pinned at the default bounds, and the violations at
//! grants=2, refreshes=2 (the bounds of the prototype table in the README).

use tokenlife_model::check::{check, Status};
use tokenlife_model::explore::search;
use tokenlife_model::model::{property, Bounds, Group, Kind, LifecycleModel, PROPERTIES};
use tokenlife_model::Policy;

const THEFT: &str = "a stolen refresh token stops working once the client refreshes (theft bound)";
const LOST: &str = "a client that lost a refresh response and retries at once keeps access";
const ONE_LIVE: &str = "a family has at most one live unconsumed refresh token";

fn cell(status: Status, len: Option<usize>) -> String {
    match status {
        Status::Holds => "✓".into(),
        Status::Violated => format!("✗{}", len.unwrap_or(0)),
        other => other.as_str().into(),
    }
}

#[test]
fn characteristic_matrix_at_default_bounds() {
    let mut rows = Vec::new();
    for name in Policy::profile_names() {
        let r = check(&Policy::profile(name).unwrap(), Bounds::default(), 1);
        let cells: Vec<String> = r
            .properties
            .iter()
            .filter(|p| p.kind == Kind::Always && p.group == Group::Characteristic)
            .map(|p| cell(p.status, p.counterexample.as_ref().map(Vec::len)))
            .collect();
        rows.push(format!("{name:<11} {}", cells.join("  ")));
    }
    let expected = "\
rfc6749     ✗4  ✓  ✓
bcp         ✓  ✗3  ✓
oauth21     ✓  ✗3  ✓
strict      ✓  ✗3  ✓
grace-same  ✗4  ✓  ✓
grace-new   ✗4  ✓  ✗3
bcp-dpop    ✓  ✗3  ✓
fapi2       ✓  ✓  ✓";
    assert_eq!(rows.join("\n"), expected);
    // The order of the characteristic columns above.
    let order: Vec<&str> = PROPERTIES
        .iter()
        .filter(|p| p.kind == Kind::Always && p.group == Group::Characteristic)
        .map(|p| p.name)
        .collect();
    assert_eq!(order, [THEFT, LOST, ONE_LIVE]);
}

fn shortest(policy: Policy, bounds: Bounds, name: &str) -> Option<usize> {
    let m = LifecycleModel::new(policy, bounds);
    let p = property(name).unwrap();
    search(&m, &[p], true).found[0].as_ref().map(Vec::len)
}

#[test]
fn violations_at_two_grants_two_refreshes() {
    let b = Bounds {
        grants: 2,
        refreshes: 2,
        depth: None,
    };
    let at = |profile: &str, name: &str| shortest(Policy::profile(profile).unwrap(), b, name);
    assert_eq!(at("rfc6749", THEFT), Some(4));
    assert_eq!(at("grace-same", THEFT), Some(4));
    assert_eq!(at("grace-new", THEFT), Some(4));
    for p in ["bcp", "strict", "oauth21"] {
        assert_eq!(at(p, LOST), Some(3), "{p}");
    }
    assert_eq!(at("grace-new", ONE_LIVE), Some(3));
    // Checking expiry before reuse opens the theft bound under bcp: the attacker refreshes
    // first, the stolen token expires, and the client's replay no longer counts as reuse.
    let ebr =
        Policy::from_toml("profile = \"bcp\"\ncheck_order = \"expiry-before-reuse\"\n").unwrap();
    assert_eq!(shortest(ebr, b, THEFT), Some(7));
}

/// A refresh that ends the access token it was presented with (`refresh_ends_access`)
/// takes the client's access away when its response is lost; the refused retry leaves it
/// with nothing, so lost-response liveness is violated as under `bcp`, not vacuously held
/// (the property once counted only an access token still alive before the retry). With a
/// grace window that repeats the pair, the retry gets it back and the property holds.
#[test]
fn a_lost_refresh_that_ended_the_access_token_still_costs_access() {
    let presented =
        Policy::from_toml("profile = \"bcp\"\nrefresh_ends_access = \"presented\"\n").unwrap();
    assert_eq!(shortest(presented, Bounds::default(), LOST), Some(3));
    let grace =
        Policy::from_toml("profile = \"grace-same\"\nrefresh_ends_access = \"presented\"\n")
            .unwrap();
    assert_eq!(shortest(grace, Bounds::default(), LOST), None);
}
