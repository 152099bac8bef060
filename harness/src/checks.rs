//! The check catalogue: every check the harness makes, with a stable id, the clause it is
//! tagged with (shared/rules.md) and that clause's level.
//!
//! A check fails when the target diverges from its declared policy or from an RFC MUST; an
//! RFC SHOULD the policy does not pin is a warning (`--fail-on-should` promotes it). The
//! model-judged checks are all pinned by the declared policy, so they fail whatever their
//! clause's level. Clauses: RFC 6749 §3.3, §4.1.2, §5.1, §5.2, §6, §10.4; RFC 6750 §3.1;
//! RFC 7009 §2, §2.1, §2.2; RFC 7662 §2.2; RFC 9449 §5, §7.1, §8, §11.1; RFC 9700 §4.14.2;
//! OIDC Core §11; the
//! browser-apps draft's absolute cap.

use std::fmt;

use serde::Serialize;

/// The level of a clause.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Level {
    /// An absolute requirement.
    #[serde(rename = "MUST")]
    Must,
    /// A recommendation.
    #[serde(rename = "SHOULD")]
    Should,
    /// A choice of the server (the policy says which).
    #[serde(rename = "MAY")]
    May,
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Level::Must => "MUST",
            Level::Should => "SHOULD",
            Level::May => "MAY",
        })
    }
}

/// One check of the catalogue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Check {
    /// The stable id (`refresh.replay-rejected`).
    pub id: &'static str,
    /// The clause tag (`RFC6749-5.2`).
    pub clause: &'static str,
    /// The clause's level.
    pub level: Level,
    /// Whether the declared policy pins it (then a divergence fails even for SHOULD/MAY).
    pub pinned: bool,
    /// What is checked, as a sentence.
    pub title: &'static str,
}

macro_rules! checks {
    ($($name:ident = $id:literal, $clause:literal, $level:ident, $pinned:literal, $title:literal;)*) => {
        $(
            #[doc = $title]
            pub const $name: Check = Check {
                id: $id,
                clause: $clause,
                level: Level::$level,
                pinned: $pinned,
                title: $title,
            };
        )*
        /// Every check, in catalogue order.
        pub const ALL: &[Check] = &[$($name),*];
    };
}

checks! {
    AUTHORIZE_TOKENS = "authorize.tokens-issued", "RFC6749-4.1.2", Must, true,
        "An approved authorization code is exchanged for an access token (and a refresh token as the policy says).";
    AUTHORIZE_STATE = "authorize.state-returned", "RFC6749-4.1.2", Must, true,
        "The authorization response returns the request's `state` unchanged.";
    AUTHORIZE_OFFLINE = "authorize.offline-access", "OIDC-11", May, true,
        "A refresh token is issued with `offline_access`, and without it only if the policy says so.";
    CODE_REPLAY = "code.replay-rejected", "RFC6749-4.1.2", Must, true,
        "A second exchange of the same authorization code is refused with invalid_grant.";
    CODE_REPLAY_REVOKES = "code.replay-revokes-tokens", "RFC6749-4.1.2", Should, true,
        "The tokens issued from a replayed code are revoked (as the policy declares).";
    REFRESH_ACCEPTED = "refresh.valid-accepted", "RFC6749-6", Must, true,
        "A live refresh token presented by its client refreshes.";
    REFRESH_ROTATION = "refresh.rotation", "RFC6749-6", May, true,
        "A refresh issues a new refresh token exactly as the declared rotation says.";
    REFRESH_REPLAY = "refresh.replay-rejected", "RFC6749-5.2", Must, true,
        "A rotated (consumed) refresh token is refused with invalid_grant.";
    REFRESH_FAMILY = "refresh.family-revoked-on-replay", "RFC9700-4.14.2", Must, true,
        "After a replay of a consumed refresh token, the family's tokens are revoked.";
    REFRESH_REVOKED = "refresh.revoked-rejected", "RFC6749-5.2", Must, true,
        "A revoked refresh token (or one of a revoked grant) is refused with invalid_grant.";
    REFRESH_EXPIRED = "refresh.expired-rejected", "RFC6749-5.2", Must, true,
        "A refresh token past its lifetime is refused with invalid_grant.";
    REFRESH_CAP = "refresh.absolute-cap", "browser-apps", Must, true,
        "No refresh token of a family outlives the family's absolute lifetime.";
    REFRESH_IDLE = "refresh.idle-timeout", "RFC9700-4.14.2", Should, true,
        "A refresh token unused for the idle timeout is refused.";
    REFRESH_GRACE = "refresh.grace-window", "RFC9700-4.14.2", May, true,
        "A consumed refresh token is honoured in the grace window exactly as the policy declares.";
    REFRESH_BINDING = "refresh.client-binding", "RFC6749-10.4", Must, true,
        "A refresh token presented by another client is refused with invalid_grant.";
    REFRESH_CLIENT_AUTH = "refresh.client-auth-required", "RFC6749-6", Must, true,
        "A confidential client's refresh without client authentication is refused with invalid_client.";
    REFRESH_WIDENING = "refresh.scope-widening-refused", "RFC6749-6", Must, true,
        "A refresh asking for a scope beyond the original grant is refused with invalid_scope.";
    REFRESH_OMITTED_SCOPE = "refresh.omitted-scope-original", "RFC6749-6", Must, true,
        "A refresh without `scope` is granted the original scope.";
    REFRESH_NARROWER = "refresh.narrower-scope", "RFC6749-6", Must, true,
        "A refresh asking for a narrower scope gets what the policy's narrowing rule says.";
    TOKEN_ERROR_CODE = "token.error-code", "RFC6749-5.2", Must, true,
        "A refused token request has the status and `error` code RFC 6749 §5.2 prescribes.";
    REFRESH_ID_TOKEN = "refresh.id-token-claims", "OIDC-12.2", Must, false,
        "An ID token from a refresh keeps the original iss, sub, aud, azp and auth_time.";
    TOKEN_INVALID_CLIENT = "token.invalid-client", "RFC6749-5.2", Must, false,
        "A wrong client secret gets invalid_client; over HTTP Basic, 401 with a WWW-Authenticate challenge.";
    TOKEN_CACHE_CONTROL = "token.cache-control", "RFC6749-5.1", Must, false,
        "A token response carries `Cache-Control: no-store`.";
    TOKEN_TYPE = "token.token-type", "RFC6749-5.1", Must, false,
        "A token response carries `token_type` Bearer.";
    TOKEN_EXPIRES_IN = "token.expires-in", "RFC6749-5.1", Should, false,
        "A token response carries `expires_in` (RECOMMENDED).";
    TOKEN_EXPIRES_IN_POLICY = "token.expires-in-policy", "RFC6749-5.1", Must, true,
        "`expires_in` is the declared access-token lifetime.";
    TOKEN_SCOPE_PARAM = "token.scope-parameter", "RFC6749-3.3", Must, false,
        "When the issued scope differs from the requested one, the response carries `scope`.";
    TOKEN_RESPONSE = "token.well-formed", "RFC6749-5.1", Must, false,
        "The token endpoint answers with a JSON object (tokens or an OAuth error), not a 5xx, a redirect or garbage.";
    RESOURCE_LIVE = "resource.live-token-accepted", "RFC6750-2", Must, true,
        "A live access token is honoured by the protected resource.";
    RESOURCE_DEAD = "resource.dead-token-rejected", "RFC6750-3.1", Must, true,
        "An expired or revoked access token is refused by the protected resource.";
    REFRESH_ENDS_ACCESS = "refresh.ends-presented-access", "RFC6749-6", May, true,
        "A refresh ends the access tokens issued with the presented refresh token where the policy declares it (refresh_ends_access), and none where it does not.";
    RESOURCE_CHALLENGE = "resource.www-authenticate", "RFC6750-3.1", Should, false,
        "A refused access token gets 401 with `WWW-Authenticate: Bearer error=\"invalid_token\"`.";
    RESOURCE_RESPONSE = "resource.well-formed", "RFC6750-3.1", Must, false,
        "The resource answers 200 or 401, not a 5xx or a redirect.";
    REVOKE_OK = "revoke.returns-200", "RFC7009-2.2", Must, true,
        "Revocation answers 200 (also for an already revoked or unknown token), without an error body.";
    REVOKE_REFRESH = "revoke.refresh-token", "RFC7009-2", Must, true,
        "A revoked refresh token no longer refreshes.";
    REVOKE_ACCESS = "revoke.access-token", "RFC7009-2", Should, true,
        "A revoked access token is no longer honoured.";
    REVOKE_CASCADE = "revoke.refresh-cascades-to-access", "RFC7009-2.1", Should, true,
        "Revoking a refresh token invalidates the access tokens of its grant (as the policy declares).";
    REVOKE_ACCESS_CASCADE = "revoke.access-cascades-to-refresh", "RFC7009-2.1", May, true,
        "Revoking an access token revokes its refresh token exactly as the policy declares.";
    REVOKE_CONSUMED = "revoke.consumed-refresh-token", "RFC7009-2.1", May, true,
        "Revoking a consumed refresh token ends what the policy declares (revoke_consumed_cascades), and nothing more.";
    REVOKE_HINT = "revoke.wrong-hint", "RFC7009-2.1", Must, true,
        "A wrong `token_type_hint` does not stop the revocation.";
    REVOKE_OTHER_CLIENT = "revoke.other-client-unaffected", "RFC7009-2.1", Must, true,
        "Another client's token is not revoked.";
    REVOKE_RESPONSE = "revoke.well-formed", "RFC7009-2.2", Must, false,
        "The revocation endpoint answers 200 or an OAuth error, not a 5xx or a redirect.";
    INTROSPECT_DEAD = "introspect.dead-inactive", "RFC7662-2.2", Must, true,
        "An expired, revoked, consumed or unknown token introspects as inactive.";
    INTROSPECT_LIVE = "introspect.live-access-active", "RFC7662-2.2", Must, true,
        "A live access token introspects as active.";
    INTROSPECT_ONLY_ACTIVE = "introspect.inactive-only", "RFC7662-2.2", Must, false,
        "An inactive token's introspection response is `{\"active\": false}` and nothing else.";
    INTROSPECT_RESPONSE = "introspect.well-formed", "RFC7662-2.2", Must, false,
        "The introspection endpoint answers a JSON object with a boolean `active`.";
    RACE = "race.linearizable", "RFC9700-4.14.2", Must, true,
        "Concurrent refreshes of one refresh token give answers the policy allows in some order (no double spend).";
    RESTART_DURABLE = "restart.durable", "RFC9700-4.14.2", Must, true,
        "A restart on the same store changes no token's status.";
    DISCOVERY_REFRESH_GRANT = "discovery.refresh-grant-listed", "RFC8414-2", Should, false,
        "The metadata's `grant_types_supported`, when present, lists `refresh_token`.";
    CLOCK = "clock.advance", "-", Must, false,
        "The target's test clock moves when asked.";
    DPOP_BOUND_KEY = "dpop.refresh-bound-to-key", "RFC9449-5", Must, true,
        "A public client's DPoP-bound refresh token is refused with a proof for another key (or the attacker's), and nothing changes.";
    DPOP_PROOF_REQUIRED = "dpop.proof-required", "RFC9449-5", Must, true,
        "A DPoP client's refresh without a DPoP proof is refused, and nothing changes.";
    DPOP_REPLAY = "dpop.proof-replay-rejected", "RFC9449-11.1", Should, true,
        "A DPoP proof sent again (the same `jti`) is refused at the token endpoint, and nothing changes.";
    DPOP_NONCE = "dpop.nonce-challenge", "RFC9449-8", Must, true,
        "A proof without the server's nonce is answered 400 `use_dpop_nonce` with a `DPoP-Nonce` header, and the refresh token stays usable.";
    DPOP_RESOURCE = "dpop.resource-needs-proof", "RFC9449-7.1", Must, true,
        "A DPoP-bound access token is refused at the resource without a valid proof for its key (as a bearer token, with another key, with another token's `ath`).";
    DPOP_TOKEN_TYPE = "dpop.token-type", "RFC9449-5", Must, false,
        "A token response to a DPoP client's request has `token_type` DPoP.";
}

/// The check with this id.
pub fn by_id(id: &str) -> Option<Check> {
    ALL.iter().copied().find(|c| c.id == id)
}

/// What became of one evaluation of a check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// It held.
    Passed,
    /// An unpinned SHOULD or MAY did not hold.
    Warning,
    /// A MUST or a policy-pinned rule did not hold.
    Failed,
}

impl Check {
    /// The verdict when this check does not hold; `fail_on_should` promotes warnings.
    pub fn verdict_on_divergence(&self, fail_on_should: bool) -> Verdict {
        if self.pinned || self.level == Level::Must || fail_on_should {
            Verdict::Failed
        } else {
            Verdict::Warning
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_well_formed() {
        let mut ids: Vec<_> = ALL.iter().map(|c| c.id).collect();
        ids.sort_unstable();
        let n = ids.len();
        ids.dedup();
        assert_eq!(ids.len(), n);
        for c in ALL {
            assert!(c.id.contains('.') && !c.id.contains(' '), "{}", c.id);
        }
        assert_eq!(by_id("refresh.replay-rejected"), Some(REFRESH_REPLAY));
    }

    #[test]
    fn unpinned_shoulds_warn_unless_promoted() {
        assert_eq!(
            RESOURCE_CHALLENGE.verdict_on_divergence(false),
            Verdict::Warning
        );
        assert_eq!(
            RESOURCE_CHALLENGE.verdict_on_divergence(true),
            Verdict::Failed
        );
        assert_eq!(REVOKE_CASCADE.verdict_on_divergence(false), Verdict::Failed);
    }
}
