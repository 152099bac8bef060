//! The properties can fail: deliberate spec bugs must each yield a counterexample under the
//! policies where the bug is observable, and none where it is not.

use tokenlife_model::check::check_model;
use tokenlife_model::explore::search;
use tokenlife_model::model::{property, Bounds, Group, Kind, LifecycleModel};
use tokenlife_model::spec::{Mutation, Spec};
use tokenlife_model::Policy;

const DEAD_RT: &str = "no refresh token is honoured after it was consumed, revoked or expired, or its family was revoked";
const DEAD_AT: &str = "no access token is honoured after it expired or was revoked";
const OTHER: &str = "no token is honoured for a client it was not issued to";
const REPLAY: &str =
    "replay of a consumed refresh token revokes its family where the policy detects reuse";
const SCOPE: &str = "a rotated refresh token keeps the scope of the presented one";

fn model(policy: &Policy, m: Mutation) -> LifecycleModel {
    LifecycleModel {
        spec: Spec::mutated(policy.clone(), m),
        bounds: Bounds::default(),
    }
}

/// Whether `name` has a counterexample under the mutated spec.
fn caught(policy: &Policy, m: Mutation, name: &str) -> bool {
    let p = property(name).unwrap();
    search(&model(policy, m), &[p], true).found[0].is_some()
}

/// Whether no invariant at all is violated under the mutated spec.
fn invisible(policy: &Policy, m: Mutation) -> bool {
    let r = check_model(model(policy, m), 2);
    r.properties
        .iter()
        .filter(|p| p.kind == Kind::Always && p.group == Group::Invariant)
        .all(|p| {
            matches!(
                p.status,
                tokenlife_model::check::Status::Holds
                    | tokenlife_model::check::Status::NotApplicable
            )
        })
}

fn profiles() -> Vec<Policy> {
    Policy::profile_names()
        .map(|n| Policy::profile(n).unwrap())
        .collect()
}

fn custom(toml: &str) -> Policy {
    Policy::from_toml(toml).unwrap()
}

#[test]
fn forgetting_to_consume_is_caught_wherever_tokens_rotate() {
    for p in profiles() {
        assert_eq!(
            caught(&p, Mutation::ForgetConsume, DEAD_RT),
            p.may_rotate(),
            "{}",
            p.profile
        );
    }
    let never = custom("rotation = \"never\"\nreuse_detection = false\n");
    assert!(invisible(&never, Mutation::ForgetConsume));
}

#[test]
fn ignoring_client_binding_is_caught_wherever_there_are_two_clients() {
    for p in profiles() {
        assert_eq!(
            caught(&p, Mutation::IgnoreBinding, OTHER),
            p.public_clients,
            "{}",
            p.profile
        );
    }
}

#[test]
fn replay_keeping_access_tokens_alive_is_caught_where_reuse_is_detected() {
    for p in profiles() {
        let expected = p.reuse_detection && p.may_rotate();
        assert_eq!(
            caught(&p, Mutation::ReplayKeepsAccess, DEAD_AT),
            expected,
            "{}",
            p.profile
        );
        assert_eq!(
            caught(&p, Mutation::ReplayKeepsAccess, REPLAY),
            expected,
            "{}",
            p.profile
        );
        if !expected {
            assert!(invisible(&p, Mutation::ReplayKeepsAccess), "{}", p.profile);
        }
    }
}

#[test]
fn a_rotated_token_taking_the_narrowed_scope_is_caught_where_narrowing_is_allowed() {
    for p in profiles() {
        assert_eq!(
            caught(&p, Mutation::NarrowRotatedToken, SCOPE),
            p.may_rotate(),
            "{}",
            p.profile
        );
    }
    for toml in [
        "profile = \"bcp\"\nnarrowing = \"refused\"\n",
        "profile = \"bcp\"\nnarrowing = \"ignored\"\n",
        "rotation = \"never\"\nreuse_detection = false\n",
    ] {
        assert!(
            invisible(&custom(toml), Mutation::NarrowRotatedToken),
            "{toml}"
        );
    }
}

#[test]
fn an_unstored_access_token_revocation_is_caught_everywhere() {
    for p in profiles() {
        assert!(
            caught(&p, Mutation::ForgetAccessRevocation, DEAD_AT),
            "{}",
            p.profile
        );
    }
}

const PROOF: &str = "no DPoP-bound token is honoured without a valid proof for its key";
const NONCE: &str =
    "a refresh token challenged for a DPoP nonce is honoured when its client retries at once";

#[test]
fn ignoring_dpop_proofs_is_caught_wherever_a_client_type_uses_dpop() {
    for p in profiles() {
        assert_eq!(
            caught(&p, Mutation::IgnoreProof, PROOF),
            p.any_dpop(),
            "{}",
            p.profile
        );
        if !p.any_dpop() {
            assert!(invisible(&p, Mutation::IgnoreProof), "{}", p.profile);
        }
    }
}

#[test]
fn a_nonce_challenge_that_consumes_the_token_is_caught_where_nonces_are_demanded() {
    let nonce = custom("profile = \"bcp-dpop\"\ndpop_nonce = true\n");
    assert!(caught(&nonce, Mutation::NonceConsumes, NONCE));
    let fapi = custom("profile = \"fapi2\"\ndpop_nonce = true\n");
    assert!(caught(&fapi, Mutation::NonceConsumes, NONCE));
    for p in profiles() {
        assert!(invisible(&p, Mutation::NonceConsumes), "{}", p.profile);
    }
}

#[test]
fn the_correct_spec_is_invisible_to_these_checks() {
    // The same checks on the unmutated spec find nothing: the counterexamples above are
    // the mutations' doing.
    for p in profiles() {
        let m = LifecycleModel::new(p.clone(), Bounds::default());
        let props: Vec<_> = [DEAD_RT, DEAD_AT, OTHER, REPLAY, SCOPE, PROOF, NONCE]
            .iter()
            .map(|n| property(n).unwrap())
            .collect();
        assert!(
            search(&m, &props, false).found.iter().all(Option::is_none),
            "{}",
            p.profile
        );
    }
}
