//! A scenario's `[requires]`: the policy conditions it needs; an unmet one skips it with
//! the reason.

use std::fmt;

use serde::{Deserialize, Serialize};
use tokenlife_model::policy::{
    CheckOrder, GraceSuccessor, Narrowing, RevokeCascade, Rotation, SenderConstraint,
};
use tokenlife_model::Policy;

/// Policy conditions a scenario needs; unmet ones skip it with the reason.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Requires {
    /// Rotation for both client types.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotation: Option<Rotation>,
    /// Rotation for confidential clients.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotation_confidential: Option<Rotation>,
    /// Rotation for public clients.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotation_public: Option<Rotation>,
    /// A grace window (or reuse count) exists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grace: Option<bool>,
    /// The grace allowance has a time limit (a window, not only a reuse count).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grace_window: Option<bool>,
    /// What a grace reuse returns.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grace_successor: Option<GraceSuccessor>,
    /// Replay revokes the family.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reuse_detection: Option<bool>,
    /// Which check wins for a consumed, expired token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check_order: Option<CheckOrder>,
    /// Revoking an RT ends something besides it (any target).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoke_refresh_cascades: Option<bool>,
    /// Revoking an AT ends something besides it (any target).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoke_access_cascades: Option<bool>,
    /// Refresh tokens expire.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_ttl: Option<bool>,
    /// An absolute cap exists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub absolute_cap: Option<bool>,
    /// An idle timeout exists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle_timeout: Option<bool>,
    /// A refresh token is still usable when the access token issued with it expires: its
    /// lifetime, idle timeout and cap (those the policy has) are all longer than `access_ttl`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_outlives_access: Option<bool>,
    /// The narrowing rule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub narrowing: Option<Narrowing>,
    /// Refresh tokens only with `offline_access`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offline_access_required: Option<bool>,
    /// Code replay revokes the code's tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code_replay_revokes: Option<bool>,
    /// How public clients' tokens are sender-constrained.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sender_constraint_public: Option<SenderConstraint>,
    /// How confidential clients' tokens are sender-constrained.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sender_constraint_confidential: Option<SenderConstraint>,
    /// The token endpoint demands a DPoP nonce.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dpop_nonce: Option<bool>,
}

impl Requires {
    /// The first unmet condition under `p`, as a sentence.
    pub fn unmet(&self, p: &Policy) -> Option<String> {
        fn show<T: Serialize + fmt::Debug>(v: &T) -> String {
            serde_json::to_string(v).unwrap_or_else(|_| format!("{v:?}"))
        }
        fn eq<T: PartialEq + fmt::Debug + Serialize>(
            name: &str,
            want: Option<T>,
            got: T,
        ) -> Option<String> {
            match want {
                Some(w) if w != got => Some(format!(
                    "needs {name} = {}, the policy has {}",
                    show(&w),
                    show(&got)
                )),
                _ => None,
            }
        }
        eq(
            "rotation_confidential",
            self.rotation,
            p.rotation_confidential,
        )
        .or_else(|| eq("rotation_public", self.rotation, p.rotation_public))
        .or_else(|| {
            eq(
                "rotation_confidential",
                self.rotation_confidential,
                p.rotation_confidential,
            )
        })
        .or_else(|| eq("rotation_public", self.rotation_public, p.rotation_public))
        .or_else(|| eq("grace", self.grace, p.grace.is_some()))
        .or_else(|| {
            let window = p.grace.is_some_and(|g| g.window.is_some());
            eq("grace_window", self.grace_window, window)
        })
        .or_else(|| match (self.grace_successor, p.grace) {
            (Some(w), Some(g)) => eq("grace_successor", Some(w), g.successor),
            (Some(w), None) => Some(format!(
                "needs grace_successor = {}, the policy has no grace",
                show(&w)
            )),
            _ => None,
        })
        .or_else(|| eq("reuse_detection", self.reuse_detection, p.reuse_detection))
        .or_else(|| eq("check_order", self.check_order, p.check_order))
        .or_else(|| {
            eq(
                "revoke_refresh_cascades",
                self.revoke_refresh_cascades,
                p.revoke_refresh_cascades != RevokeCascade::None,
            )
        })
        .or_else(|| {
            eq(
                "revoke_access_cascades",
                self.revoke_access_cascades,
                p.revoke_access_cascades != RevokeCascade::None,
            )
        })
        .or_else(|| eq("refresh_ttl", self.refresh_ttl, p.refresh_ttl.is_some()))
        .or_else(|| eq("absolute_cap", self.absolute_cap, p.absolute_cap.is_some()))
        .or_else(|| eq("idle_timeout", self.idle_timeout, p.idle_timeout.is_some()))
        .or_else(|| {
            let outlives = [p.refresh_lifetime(), p.idle_timeout, p.absolute_cap]
                .into_iter()
                .flatten()
                .all(|d| d.get() > p.access_ttl.get());
            eq(
                "refresh_outlives_access",
                self.refresh_outlives_access,
                outlives,
            )
        })
        .or_else(|| eq("narrowing", self.narrowing, p.narrowing))
        .or_else(|| {
            eq(
                "offline_access_required",
                self.offline_access_required,
                p.offline_access_required,
            )
        })
        .or_else(|| {
            eq(
                "code_replay_revokes",
                self.code_replay_revokes,
                p.code_replay_revokes,
            )
        })
        .or_else(|| {
            eq(
                "sender_constraint_public",
                self.sender_constraint_public,
                p.sender_constraint_public,
            )
        })
        .or_else(|| {
            eq(
                "sender_constraint_confidential",
                self.sender_constraint_confidential,
                p.sender_constraint_confidential,
            )
        })
        .or_else(|| eq("dpop_nonce", self.dpop_nonce, p.dpop_nonce))
    }
}
