use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokenlife_model::policy::Seconds;
use tokenlife_model::Policy;

use super::check;
use crate::builtin;
use crate::scenario::parse;

/// The seed of the lifetime draws: fixed, so a failure replays.
const SEED: u64 = 14;
/// Draws per built-in profile.
const DRAWS: usize = 200;

/// `policy` with every lifetime drawn anew (small, so deadlines often tie or swap order),
/// each optional one present or not as the draw says; `None` when the draw is no valid
/// policy (a grace allowance with neither a window nor a reuse count).
fn draw(rng: &mut StdRng, mut p: Policy) -> Option<Policy> {
    let maybe = |rng: &mut StdRng| {
        rng.random_bool(0.8)
            .then(|| Seconds(rng.random_range(1..=90)))
    };
    p.access_ttl = Seconds(rng.random_range(1..=90));
    p.refresh_ttl = maybe(rng);
    p.absolute_cap = maybe(rng);
    p.idle_timeout = maybe(rng);
    if let Some(g) = p.grace.as_mut() {
        g.window = maybe(rng);
    }
    p.validate().is_ok().then_some(p)
}

#[test]
fn no_shipped_scenario_pins_what_the_model_forbids_under_any_lifetimes() {
    let set = builtin::scenarios().expect("the shipped scenarios load");
    let mut rng = StdRng::seed_from_u64(SEED);
    let mut failures = Vec::new();
    let mut checked = 0usize;
    for name in Policy::profile_names() {
        let base = Policy::profile(name).expect("a built-in profile");
        for _ in 0..DRAWS {
            let Some(p) = draw(&mut rng, base.clone()) else {
                continue;
            };
            for sc in &set.scenarios {
                if sc.requires.unmet(&p).is_some() {
                    continue;
                }
                checked += 1;
                if let Err(e) = check(&p, sc) {
                    failures.push(format!(
                        "{} under {name} (access {}, refresh {:?}, grace {:?}, cap {:?}, idle {:?}): {e}",
                        sc.name,
                        p.access_ttl.get(),
                        p.refresh_ttl.map(Seconds::get),
                        p.grace.and_then(|g| g.window).map(Seconds::get),
                        p.absolute_cap.map(Seconds::get),
                        p.idle_timeout.map(Seconds::get),
                    ));
                }
            }
        }
    }
    // One line per scenario (its first failure), with how often it failed.
    let mut by_scenario: std::collections::BTreeMap<&str, (usize, &str)> = Default::default();
    for f in &failures {
        let name = f.split(' ').next().unwrap_or_default();
        by_scenario.entry(name).or_insert((0, f)).0 += 1;
    }
    let failures: Vec<String> = by_scenario
        .values()
        .map(|(count, first)| format!("{first} ({count} draws)"))
        .collect();
    assert!(checked > 1000, "only {checked} scenario runs were checked");
    assert!(failures.is_empty(), "seed {SEED}:\n{}", failures.join("\n"));
}

/// The grace window as it shipped before `advance`: a plain tick after a reuse lands on
/// whichever deadline comes first, the access token's when it dies before the window
/// closes, and the replay is then still honoured.
const GRACE_BY_NEXT_DEADLINE: &str = r#"
name = "grace-next"
description = "d"
[requires]
grace = true
rotation_confidential = "always"
[[steps]]
action = "authorize"
refresh = "rt1"
[[steps]]
action = "refresh"
rt = "rt1"
refresh = "rt2"
expect = "rotated"
[[steps]]
action = "refresh"
rt = "rt1"
expect = "tokens"
[[steps]]
action = "tick"
[[steps]]
action = "refresh"
rt = "rt1"
expect = "invalid_grant"
"#;

fn grace(access: u32, window: u32) -> Policy {
    let mut p = Policy::profile("grace-same").expect("a built-in profile");
    p.access_ttl = Seconds(access);
    if let Some(g) = p.grace.as_mut() {
        g.window = Some(Seconds(window));
    }
    p
}

#[test]
fn a_tick_to_the_next_deadline_pins_the_wrong_thing_when_the_access_token_dies_first() {
    let sc = parse("grace-next.toml", GRACE_BY_NEXT_DEADLINE).expect("it parses");
    assert_eq!(check(&grace(60, 30), &sc), Ok(()));
    let e = check(&grace(20, 30), &sc).expect_err("the tick lands on the access expiry");
    assert!(e.starts_with("step 5 pins `invalid_grant`"), "{e}");
    // Named, the tick lands on the window's end whatever dies first.
    let named = GRACE_BY_NEXT_DEADLINE.replace(
        "action = \"tick\"",
        "action = \"tick\"\nadvance = \"grace-end\"\nrt = \"rt1\"",
    );
    let sc = parse("grace-named.toml", &named).expect("it parses");
    assert_eq!(check(&grace(20, 30), &sc), Ok(()));
    assert_eq!(check(&grace(60, 30), &sc), Ok(()));
    // One second before it, the reuse is still honoured: the same pin is now wrong.
    let before = named.replace(
        "rt = \"rt1\"\n[[steps]]",
        "rt = \"rt1\"\nbefore = true\n[[steps]]",
    );
    let sc = parse("grace-before.toml", &before).expect("it parses");
    let e = check(&grace(20, 30), &sc).expect_err("the window is still open");
    assert!(e.contains("allows only: 200"), "{e}");
}

#[test]
fn a_named_deadline_the_policy_lacks_is_a_scenario_error_naming_the_step() {
    let named = GRACE_BY_NEXT_DEADLINE.replace(
        "action = \"tick\"",
        "action = \"tick\"\nadvance = \"refresh-expiry\"",
    );
    let sc = parse("no-ttl.toml", &named).expect("it parses");
    let mut p = grace(20, 30);
    p.refresh_ttl = None;
    let e = check(&p, &sc).expect_err("grace-same without a refresh lifetime");
    assert!(
        e.starts_with("step 4: the refresh-expiry of rt1 is not pending"),
        "{e}"
    );
}
