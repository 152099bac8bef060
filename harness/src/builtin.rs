//! The scenarios shipped in `scenarios/`, built into the binary so that `tokenlife run`
//! works from anywhere. `scenarios/*.toml` stays the source of truth; a test checks that
//! this list and the folder agree.

use crate::scenario::{from_texts, ScenarioError, ScenarioSet};

/// `(file name, text)` of every shipped scenario.
pub const FILES: &[(&str, &str)] = &[
    (
        "absolute-cap.toml",
        include_str!("../../scenarios/absolute-cap.toml"),
    ),
    (
        "code-replay.toml",
        include_str!("../../scenarios/code-replay.toml"),
    ),
    (
        "cross-client-refusal.toml",
        include_str!("../../scenarios/cross-client-refusal.toml"),
    ),
    (
        "dpop-bound-refresh-token.toml",
        include_str!("../../scenarios/dpop-bound-refresh-token.toml"),
    ),
    (
        "dpop-key-moves.toml",
        include_str!("../../scenarios/dpop-key-moves.toml"),
    ),
    (
        "dpop-nonce.toml",
        include_str!("../../scenarios/dpop-nonce.toml"),
    ),
    (
        "family-revocation.toml",
        include_str!("../../scenarios/family-revocation.toml"),
    ),
    (
        "grace-older-generation.toml",
        include_str!("../../scenarios/grace-older-generation.toml"),
    ),
    (
        "grace-window.toml",
        include_str!("../../scenarios/grace-window.toml"),
    ),
    (
        "idle-timeout.toml",
        include_str!("../../scenarios/idle-timeout.toml"),
    ),
    (
        "introspect-dead-tokens.toml",
        include_str!("../../scenarios/introspect-dead-tokens.toml"),
    ),
    (
        "lost-response-retry.toml",
        include_str!("../../scenarios/lost-response-retry.toml"),
    ),
    (
        "narrower-scope.toml",
        include_str!("../../scenarios/narrower-scope.toml"),
    ),
    (
        "omitted-scope.toml",
        include_str!("../../scenarios/omitted-scope.toml"),
    ),
    (
        "race-refresh-revoke.toml",
        include_str!("../../scenarios/race-refresh-revoke.toml"),
    ),
    (
        "race-refresh.toml",
        include_str!("../../scenarios/race-refresh.toml"),
    ),
    (
        "refresh-token-expiry.toml",
        include_str!("../../scenarios/refresh-token-expiry.toml"),
    ),
    (
        "refresh-without-client-auth.toml",
        include_str!("../../scenarios/refresh-without-client-auth.toml"),
    ),
    (
        "replay-after-expiry.toml",
        include_str!("../../scenarios/replay-after-expiry.toml"),
    ),
    (
        "replay-rotated-refresh-token.toml",
        include_str!("../../scenarios/replay-rotated-refresh-token.toml"),
    ),
    (
        "replay-with-wider-scope.toml",
        include_str!("../../scenarios/replay-with-wider-scope.toml"),
    ),
    ("restart.toml", include_str!("../../scenarios/restart.toml")),
    (
        "revoke-access-token.toml",
        include_str!("../../scenarios/revoke-access-token.toml"),
    ),
    (
        "revoke-consumed-refresh-token.toml",
        include_str!("../../scenarios/revoke-consumed-refresh-token.toml"),
    ),
    (
        "revoke-other-clients-token.toml",
        include_str!("../../scenarios/revoke-other-clients-token.toml"),
    ),
    (
        "revoke-refresh-token.toml",
        include_str!("../../scenarios/revoke-refresh-token.toml"),
    ),
    (
        "revoke-wrong-hint.toml",
        include_str!("../../scenarios/revoke-wrong-hint.toml"),
    ),
    (
        "scope-widening-refused.toml",
        include_str!("../../scenarios/scope-widening-refused.toml"),
    ),
    (
        "ten-step-flow.toml",
        include_str!("../../scenarios/ten-step-flow.toml"),
    ),
];

/// The shipped scenarios.
pub fn scenarios() -> Result<ScenarioSet, ScenarioError> {
    from_texts(FILES.iter().copied())
}
