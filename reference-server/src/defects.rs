//! Injectable defects: real-world refresh-token bugs, switched on by `--defect NAME`.
//!
//! Each one reproduces the symptom of `shared/defects.md` over HTTP and nothing else, so the
//! suite can prove it catches it (its mutation score); the deep ones ([`Defect::DEEP`]) are
//! deadline-and-window bugs of deployed servers that only a longer sequence shows. The
//! clauses they break: RFC 6749 §5.2, §6, §10.4, §4.1.2; RFC 6750 §3.1; RFC 7009 §2.1, §2.2;
//! RFC 7662 §2.2; RFC 9700 §4.14.2; RFC 9449 §5, §7.1, §8, §11.1 (the DPoP ones,
//! [`Defect::DPOP`]).

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

/// One injectable defect. The names are part of the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Defect {
    /// An RT that was already rotated refreshes again (200).
    ReplayAccepted,
    /// N concurrent refreshes of one RT → several 200s with different successors.
    RaceDoubleSpend,
    /// Concurrent refreshes → a 500 or a non-OAuth error body.
    Race500,
    /// Replay of an old RT is refused, but its successor keeps working.
    NoFamilyRevocation,
    /// After revoking an RT, the family's access tokens still work at the resource.
    RevokeKeepsAccess,
    /// Revoking one family's token kills another family or another client's tokens.
    RevokeTooMuch,
    /// A dead RT gets `invalid_request` instead of `invalid_grant`.
    WrongErrorCode,
    /// A dead RT gets 403 instead of 400.
    WrongStatus,
    /// Client B refreshes client A's RT.
    CrossClient,
    /// A refresh with a scope beyond the grant succeeds.
    ScopeWidening,
    /// Omitting `scope` on refresh does not give the original scope.
    OmittedScopeShrinks,
    /// A refresh with a narrower scope narrows the new RT as well.
    NarrowingShrinksRt,
    /// An RT past its TTL still refreshes.
    ExpiredRtAccepted,
    /// Rotation pushes the family past its absolute lifetime.
    CapExtended,
    /// The grace window accepts older generations, and keeps sliding.
    GraceTooWide,
    /// A revoked RT (or one of a revoked grant) still refreshes.
    RevokedStillRefreshes,
    /// Revocation of an unknown token → an error instead of 200.
    RevokeWrongResponse,
    /// Client B revokes client A's token.
    RevokeOtherClient,
    /// Revoke with the wrong `token_type_hint` leaves the token alive.
    HintIgnoredWrongly,
    /// Introspection says `active: true` for a consumed or revoked token.
    IntrospectStale,
    /// The resource accepts an access token past its TTL.
    ExpiredAccessAccepted,
    /// A second exchange of the same code succeeds.
    CodeReplay,
    /// After a restart, a consumed RT works again (reuse state kept only in memory).
    RestartForgets,
    /// The grace window restarts at each honoured reuse (the successor still checked).
    GraceSlides,
    /// Rotating a token of a grant resets the grace reuse count of its other tokens.
    ReuseCountReset,
    /// A refresh refused for its scope records the token's use: its idle deadline moves.
    IdleRefreshedByRefused,
    /// A consumed RT's own expiry is checked only when rotating, not on a grace reuse.
    ExpiryOnlyAtRotation,
    /// A DPoP-bound RT refreshes without any DPoP proof.
    DpopRefreshWithoutProof,
    /// A DPoP-bound RT refreshes with a proof for another key.
    DpopRefreshOtherKey,
    /// A refresh answered `use_dpop_nonce` consumes the presented RT.
    DpopNonceConsumesToken,
    /// A replayed DPoP proof (same `jti`) is accepted at the token endpoint.
    DpopJtiReplay,
    /// The resource does not check a DPoP proof's `ath`.
    DpopAthUnchecked,
}

impl Defect {
    /// Every defect: those of `shared/defects.md` in its order, then the deep ones
    /// ([`Defect::DEEP`]), then the DPoP ones ([`Defect::DPOP`]).
    pub const ALL: [Defect; 32] = [
        Defect::ReplayAccepted,
        Defect::RaceDoubleSpend,
        Defect::Race500,
        Defect::NoFamilyRevocation,
        Defect::RevokeKeepsAccess,
        Defect::RevokeTooMuch,
        Defect::WrongErrorCode,
        Defect::WrongStatus,
        Defect::CrossClient,
        Defect::ScopeWidening,
        Defect::OmittedScopeShrinks,
        Defect::NarrowingShrinksRt,
        Defect::ExpiredRtAccepted,
        Defect::CapExtended,
        Defect::GraceTooWide,
        Defect::RevokedStillRefreshes,
        Defect::RevokeWrongResponse,
        Defect::RevokeOtherClient,
        Defect::HintIgnoredWrongly,
        Defect::IntrospectStale,
        Defect::ExpiredAccessAccepted,
        Defect::CodeReplay,
        Defect::RestartForgets,
        Defect::GraceSlides,
        Defect::ReuseCountReset,
        Defect::IdleRefreshedByRefused,
        Defect::ExpiryOnlyAtRotation,
        Defect::DpopRefreshWithoutProof,
        Defect::DpopRefreshOtherKey,
        Defect::DpopNonceConsumesToken,
        Defect::DpopJtiReplay,
        Defect::DpopAthUnchecked,
    ];

    /// The deep defects: deadline-and-window bugs that no sequence of fewer than five model
    /// actions shows (each needs time to pass between uses, or a reuse, a rotation and a
    /// reuse again), so only a search that reaches deep states catches them.
    pub const DEEP: [Defect; 4] = [
        Defect::GraceSlides,
        Defect::ReuseCountReset,
        Defect::IdleRefreshedByRefused,
        Defect::ExpiryOnlyAtRotation,
    ];

    /// The DPoP defects (RFC 9449): bugs of sender-constrained tokens, observable only under
    /// a policy where some client type uses DPoP (`bcp-dpop`; `dpop-nonce-consumes-token`
    /// with `dpop_nonce` on too).
    pub const DPOP: [Defect; 5] = [
        Defect::DpopRefreshWithoutProof,
        Defect::DpopRefreshOtherKey,
        Defect::DpopNonceConsumesToken,
        Defect::DpopJtiReplay,
        Defect::DpopAthUnchecked,
    ];

    /// The name used with `--defect`.
    pub const fn name(self) -> &'static str {
        match self {
            Defect::ReplayAccepted => "replay-accepted",
            Defect::RaceDoubleSpend => "race-double-spend",
            Defect::Race500 => "race-500",
            Defect::NoFamilyRevocation => "no-family-revocation",
            Defect::RevokeKeepsAccess => "revoke-keeps-access",
            Defect::RevokeTooMuch => "revoke-too-much",
            Defect::WrongErrorCode => "wrong-error-code",
            Defect::WrongStatus => "wrong-status",
            Defect::CrossClient => "cross-client",
            Defect::ScopeWidening => "scope-widening",
            Defect::OmittedScopeShrinks => "omitted-scope-shrinks",
            Defect::NarrowingShrinksRt => "narrowing-shrinks-rt",
            Defect::ExpiredRtAccepted => "expired-rt-accepted",
            Defect::CapExtended => "cap-extended",
            Defect::GraceTooWide => "grace-too-wide",
            Defect::RevokedStillRefreshes => "revoked-still-refreshes",
            Defect::RevokeWrongResponse => "revoke-wrong-response",
            Defect::RevokeOtherClient => "revoke-other-client",
            Defect::HintIgnoredWrongly => "hint-ignored-wrongly",
            Defect::IntrospectStale => "introspect-stale",
            Defect::ExpiredAccessAccepted => "expired-access-accepted",
            Defect::CodeReplay => "code-replay",
            Defect::RestartForgets => "restart-forgets",
            Defect::GraceSlides => "grace-slides",
            Defect::ReuseCountReset => "reuse-count-reset",
            Defect::IdleRefreshedByRefused => "idle-refreshed-by-refused",
            Defect::ExpiryOnlyAtRotation => "expiry-only-at-rotation",
            Defect::DpopRefreshWithoutProof => "dpop-refresh-without-proof",
            Defect::DpopRefreshOtherKey => "dpop-refresh-other-key",
            Defect::DpopNonceConsumesToken => "dpop-nonce-consumes-token",
            Defect::DpopJtiReplay => "dpop-jti-replay",
            Defect::DpopAthUnchecked => "dpop-ath-unchecked",
        }
    }

    /// The symptom a client sees over HTTP.
    pub const fn symptom(self) -> &'static str {
        match self {
            Defect::ReplayAccepted => "an RT that was already rotated refreshes again (200)",
            Defect::RaceDoubleSpend => {
                "N concurrent refreshes of one RT give several 200s with different successors"
            }
            Defect::Race500 => "concurrent refreshes of one RT give a 500 with a non-OAuth body",
            Defect::NoFamilyRevocation => {
                "replay of an old RT is refused, but its successor keeps working"
            }
            Defect::RevokeKeepsAccess => {
                "after revoking an RT, the family's access tokens still work at the resource"
            }
            Defect::RevokeTooMuch => {
                "revoking one family's token kills every family of the same user, other clients' too"
            }
            Defect::WrongErrorCode => "a dead RT gets `invalid_request` instead of `invalid_grant`",
            Defect::WrongStatus => "a dead RT gets 403 instead of 400",
            Defect::CrossClient => "client B refreshes client A's RT",
            Defect::ScopeWidening => "a refresh with a scope beyond the grant succeeds",
            Defect::OmittedScopeShrinks => {
                "omitting `scope` on refresh gives a smaller scope than the original"
            }
            Defect::NarrowingShrinksRt => {
                "a refresh with a narrower scope narrows the new RT as well"
            }
            Defect::ExpiredRtAccepted => "an RT past its TTL still refreshes",
            Defect::CapExtended => {
                "rotation pushes the family past its absolute lifetime (needs an absolute cap)"
            }
            Defect::GraceTooWide => {
                "the grace window accepts older generations and slides with each reuse (needs a grace window)"
            }
            Defect::RevokedStillRefreshes => {
                "a revoked RT (or one of a revoked grant) still refreshes"
            }
            Defect::RevokeWrongResponse => {
                "revocation of an unknown token gets 400 instead of 200"
            }
            Defect::RevokeOtherClient => "client B revokes client A's token",
            Defect::HintIgnoredWrongly => {
                "revoke with the wrong `token_type_hint` leaves the token alive"
            }
            Defect::IntrospectStale => {
                "introspection says `active: true` for a consumed or revoked token"
            }
            Defect::ExpiredAccessAccepted => "the resource accepts an access token past its TTL",
            Defect::CodeReplay => "a second exchange of the same code succeeds",
            Defect::RestartForgets => {
                "after a restart, a consumed RT works again (needs a persistent store)"
            }
            Defect::GraceSlides => {
                "the grace window restarts at each honoured reuse, so a consumed RT reused inside each new window outlives the first (needs a grace window)"
            }
            Defect::ReuseCountReset => {
                "rotating one token of a grant resets the grace reuse count of its other tokens, so a consumed RT is reused past grace_max_reuse (needs a reuse limit and a new successor per reuse)"
            }
            Defect::IdleRefreshedByRefused => {
                "a refresh refused for its scope records the RT's use, so its idle deadline moves and it refreshes past the idle timeout (needs an idle timeout)"
            }
            Defect::ExpiryOnlyAtRotation => {
                "a consumed RT past its own lifetime is honoured as a grace reuse: expiry is checked only when rotating (needs a grace window outliving the RT)"
            }
            Defect::DpopRefreshWithoutProof => {
                "a public client's DPoP-bound RT refreshes without any DPoP proof (needs sender_constraint_public = \"dpop\")"
            }
            Defect::DpopRefreshOtherKey => {
                "a public client's DPoP-bound RT refreshes with a proof for another key (needs sender_constraint_public = \"dpop\")"
            }
            Defect::DpopNonceConsumesToken => {
                "a refresh answered `use_dpop_nonce` consumes the presented RT, so the retry with the nonce is refused (needs dpop_nonce)"
            }
            Defect::DpopJtiReplay => {
                "a DPoP proof sent again (same jti) is accepted at the token endpoint (needs a DPoP client)"
            }
            Defect::DpopAthUnchecked => {
                "the resource accepts a DPoP proof whose ath is not the hash of the access token (needs a DPoP client)"
            }
        }
    }

    /// A comma-separated list of every name, for error messages.
    pub fn names() -> String {
        Defect::ALL.map(Defect::name).join(", ")
    }
}

impl fmt::Display for Defect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `--defect` got a name that is not in the catalogue.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown defect `{name}`; the defects are: {list}", list = Defect::names())]
pub struct UnknownDefect {
    /// The name given.
    pub name: String,
}

impl FromStr for Defect {
    type Err = UnknownDefect;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Defect::ALL
            .into_iter()
            .find(|d| d.name() == s.trim())
            .ok_or_else(|| UnknownDefect {
                name: s.to_string(),
            })
    }
}

/// The defects switched on for one server (none by default).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Defects(BTreeSet<Defect>);

impl Defects {
    /// No defect: the correct server.
    pub fn none() -> Defects {
        Defects::default()
    }

    /// Whether `d` is switched on.
    pub fn has(&self, d: Defect) -> bool {
        self.0.contains(&d)
    }

    /// Whether any defect is on.
    pub fn any(&self) -> bool {
        !self.0.is_empty()
    }

    /// The defects that are on, in catalogue order.
    pub fn iter(&self) -> impl Iterator<Item = Defect> + '_ {
        self.0.iter().copied()
    }
}

impl FromIterator<Defect> for Defects {
    fn from_iter<I: IntoIterator<Item = Defect>>(iter: I) -> Self {
        Defects(iter.into_iter().collect())
    }
}

impl From<Defect> for Defects {
    fn from(d: Defect) -> Self {
        Defects(BTreeSet::from([d]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_list_the_valid_ones() {
        for d in Defect::ALL {
            assert_eq!(d.name().parse::<Defect>(), Ok(d));
        }
        let err = "replay".parse::<Defect>().unwrap_err().to_string();
        assert!(err.contains("unknown defect `replay`"), "{err}");
        assert!(err.contains("restart-forgets"), "{err}");
    }

    #[test]
    fn the_catalogue_matches_the_shared_defect_list() {
        // shared/defects.md is the source of truth; keep this list in step with it.
        let names: Vec<_> = Defect::ALL.iter().map(|d| d.name()).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len());
    }

    #[test]
    fn the_deep_then_the_dpop_defects_close_the_catalogue() {
        // The shared list's defects first, in its order; the deep ones after them, then the
        // DPoP ones.
        let dpop = Defect::ALL.len() - Defect::DPOP.len();
        let shared = dpop - Defect::DEEP.len();
        assert_eq!(Defect::ALL[shared..dpop], Defect::DEEP);
        assert_eq!(Defect::ALL[dpop..], Defect::DPOP);
        assert!(!Defect::ALL[..shared]
            .iter()
            .any(|d| Defect::DEEP.contains(d) || Defect::DPOP.contains(d)));
    }
}
