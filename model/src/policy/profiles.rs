//! The built-in profiles: their names (part of the CLI), what each is for, the clause behind
//! it, and the policy each one is.

use super::knobs::CheckOrder;
use super::{
    Grace, GraceSuccessor, Narrowing, Policy, RefreshEndsAccess, RefreshTtlAnchor, ReusePresenter,
    RevokeCascade, Rotation, Seconds, SenderConstraint, SuccessorLifetime,
};

/// A built-in profile: a name, what it is for, and the clause behind it.
#[derive(Clone, Copy, Debug)]
pub struct Profile {
    /// The name used on the command line and in files.
    pub name: &'static str,
    /// One line on what the profile is.
    pub summary: &'static str,
    /// The clause that motivates it.
    pub clause: &'static str,
}

/// The built-in profiles, in the order they are shown.
pub const PROFILES: [Profile; 8] = [
    Profile {
        name: "rfc6749",
        summary: "the floor: the server may or may not rotate, no reuse detection, no cascades",
        clause: "RFC6749-6 (a new refresh token MAY be issued)",
    },
    Profile {
        name: "bcp",
        summary: "RFC 9700: rotation always, reuse detection revokes the family, revocation cascades, reuse checked before expiry",
        clause: "RFC9700-4.14.2, RFC7009-2.1",
    },
    Profile {
        name: "oauth21",
        summary: "OAuth 2.1: rotation always for public clients, any for confidential ones, the grant revoked on reuse",
        clause: "OAuth 2.1 §4.3.1, RFC9700-2.2.2",
    },
    Profile {
        name: "strict",
        summary: "bcp + an absolute cap + offline_access required: single-use rotation as in the product documentation",
        clause: "RFC9700-4.14.2, browser-apps draft (absolute cap), OIDC-11",
    },
    Profile {
        name: "grace-same",
        summary: "bcp with a 30s grace window that returns the same successor (django-oauth-toolkit)",
        clause: "RFC9700-4.14.2 (rotation), with a lossy-network allowance",
    },
    Profile {
        name: "grace-new",
        summary: "bcp with a 30s grace window that mints a new successor per reuse (Ory Hydra)",
        clause: "RFC9700-4.14.2 (rotation), with a lossy-network allowance",
    },
    Profile {
        name: "bcp-dpop",
        summary: "bcp, but public clients' refresh tokens are DPoP-bound and never rotated (RFC 9700 §2.2.2's other branch)",
        clause: "RFC9700-2.2.2, RFC9449-5",
    },
    Profile {
        name: "fapi2",
        summary: "FAPI 2.0: confidential clients only, DPoP-bound access tokens, no refresh token rotation",
        clause: "FAPI2-5.3.2.1, RFC9449-5",
    },
];

/// The default profile everywhere.
pub const DEFAULT_PROFILE: &str = "bcp";

impl Policy {
    /// The built-in profile `name`, or `None` when there is no such profile.
    pub fn profile(name: &str) -> Option<Policy> {
        let bcp = Policy {
            profile: "bcp".into(),
            rotation_public: Rotation::Always,
            rotation_confidential: Rotation::Always,
            grace: None,
            reuse_detection: true,
            reuse_presenter: ReusePresenter::Owner,
            check_order: CheckOrder::REUSE_BEFORE_EXPIRY,
            revoke_refresh_cascades: RevokeCascade::Grant,
            revoke_access_cascades: RevokeCascade::None,
            revoke_consumed_cascades: RevokeCascade::None,
            access_ttl: Seconds(300),
            refresh_ttl: Some(Seconds(600)),
            refresh_ttl_anchor: RefreshTtlAnchor::Issue,
            refresh_ends_access: RefreshEndsAccess::None,
            successor_lifetime: SuccessorLifetime::Fresh,
            absolute_cap: None,
            idle_timeout: None,
            narrowing: Narrowing::Allowed,
            offline_access_required: false,
            code_replay_revokes: true,
            public_clients: true,
            sender_constraint_public: SenderConstraint::None,
            sender_constraint_confidential: SenderConstraint::None,
            dpop_nonce: false,
        };
        let p = match name {
            "bcp" => bcp,
            "rfc6749" => Policy {
                profile: name.into(),
                rotation_public: Rotation::Any,
                rotation_confidential: Rotation::Any,
                reuse_detection: false,
                check_order: CheckOrder::EXPIRY_BEFORE_REUSE,
                revoke_refresh_cascades: RevokeCascade::None,
                code_replay_revokes: false,
                ..bcp
            },
            "oauth21" => Policy {
                profile: name.into(),
                rotation_public: Rotation::Always,
                rotation_confidential: Rotation::Any,
                ..bcp
            },
            "strict" => Policy {
                profile: name.into(),
                absolute_cap: Some(Seconds(900)),
                offline_access_required: true,
                ..bcp
            },
            "grace-same" => Policy {
                profile: name.into(),
                grace: Some(Grace {
                    window: Some(Seconds(30)),
                    successor: GraceSuccessor::Same,
                    max_reuse: None,
                }),
                ..bcp
            },
            "grace-new" => Policy {
                profile: name.into(),
                grace: Some(Grace {
                    window: Some(Seconds(30)),
                    successor: GraceSuccessor::New,
                    max_reuse: None,
                }),
                ..bcp
            },
            "bcp-dpop" => Policy {
                profile: name.into(),
                rotation_public: Rotation::Never,
                sender_constraint_public: SenderConstraint::Dpop,
                ..bcp
            },
            // FAPI 2.0 Security Profile §5.3.2.1: confidential clients only, sender-constrained
            // access tokens, and no refresh token rotation "except in extraordinary
            // circumstances".
            "fapi2" => Policy {
                profile: name.into(),
                rotation_public: Rotation::Never,
                rotation_confidential: Rotation::Never,
                public_clients: false,
                sender_constraint_confidential: SenderConstraint::Dpop,
                ..bcp
            },
            _ => return None,
        };
        Some(p)
    }

    /// The names of the built-in profiles.
    pub fn profile_names() -> impl Iterator<Item = &'static str> {
        PROFILES.iter().map(|p| p.name)
    }
}
