//! `Policy`: what a conformant server may do with refresh tokens, as one struct of knobs.
//!
//! A policy is shared by the model, the reference server and the harness. It is written in
//! TOML as a `profile` plus knobs that override it; durations are strings (`"90s"`, `"15m"`).
//! The knobs are the ones of design.md's "Policy" section; each built-in profile is
//! documented with the clause that motivates it (RFC 6749, RFC 9700, OAuth 2.1, RFC 7009).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

mod knobs;
mod profiles;
mod sender;

pub use knobs::{
    CascadeValue, CheckOrder, OrderedCheck, RefreshEndsAccess, RefreshTtlAnchor, ReusePresenter,
    RevokeCascade,
};
pub use profiles::{Profile, DEFAULT_PROFILE, PROFILES};
pub use sender::SenderConstraint;

/// A duration in whole seconds. In files it is a string: `"90s"`, `"15m"`, `"2h"`, `"1d"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Seconds(pub u32);

impl Seconds {
    /// The number of seconds.
    pub const fn get(self) -> u32 {
        self.0
    }
}

impl fmt::Display for Seconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        if s != 0 && s % 86_400 == 0 {
            write!(f, "{}d", s / 86_400)
        } else if s != 0 && s % 3_600 == 0 {
            write!(f, "{}h", s / 3_600)
        } else if s != 0 && s % 60 == 0 {
            write!(f, "{}m", s / 60)
        } else {
            write!(f, "{s}s")
        }
    }
}

impl FromStr for Seconds {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let t = text.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (digits, unit) = t.split_at(split);
        if digits.is_empty() {
            return Err(format!(
                "`{text}` is not a duration: expected a number and a unit, like \"90s\", \"15m\", \"2h\" or \"1d\""
            ));
        }
        let n: u64 = digits
            .parse()
            .map_err(|_| format!("`{text}` is not a duration: the number is too large"))?;
        let factor: u64 = match unit.trim() {
            "s" | "sec" | "secs" => 1,
            "m" | "min" | "mins" => 60,
            "h" => 3_600,
            "d" => 86_400,
            "" => {
                return Err(format!(
                    "`{text}` has no unit: write \"{text}s\" for seconds (or m, h, d)"
                ))
            }
            other => {
                return Err(format!(
                    "`{text}` has an unknown unit `{other}`: use s, m, h or d"
                ))
            }
        };
        let total = n
            .checked_mul(factor)
            .filter(|v| *v <= u64::from(u32::MAX / 2))
            .ok_or_else(|| format!("`{text}` is too long a duration (at most about 34 years)"))?;
        Ok(Seconds(total as u32))
    }
}

impl Serialize for Seconds {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Seconds {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Seconds;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration string like \"90s\", \"15m\", \"2h\" or \"1d\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Seconds, E> {
                v.parse().map_err(E::custom)
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Seconds, E> {
                Err(E::custom(format!(
                    "durations are strings with a unit: write \"{v}s\" rather than {v}"
                )))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Seconds, E> {
                self.visit_i64(v as i64)
            }
        }
        d.deserialize_any(V)
    }
}

/// An optional duration: a duration string, or `"none"` for "no such limit".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MaybeSeconds(pub Option<Seconds>);

impl Serialize for MaybeSeconds {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Some(v) => v.serialize(s),
            None => s.serialize_str("none"),
        }
    }
}

impl<'de> Deserialize<'de> for MaybeSeconds {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = MaybeSeconds;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration string like \"90s\", or \"none\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<MaybeSeconds, E> {
                if v.trim() == "none" {
                    Ok(MaybeSeconds(None))
                } else {
                    v.parse().map(|s| MaybeSeconds(Some(s))).map_err(E::custom)
                }
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<MaybeSeconds, E> {
                Err(E::custom(format!(
                    "durations are strings with a unit: write \"{v}s\" rather than {v}"
                )))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<MaybeSeconds, E> {
                self.visit_i64(v as i64)
            }
        }
        d.deserialize_any(V)
    }
}

/// Whether a refresh issues a new refresh token (RFC 6749 §6 MAY; RFC 9700 §4.14.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rotation {
    /// The presented refresh token stays valid and no new one is issued.
    Never,
    /// Every successful refresh consumes the presented token and issues a successor.
    Always,
    /// The server may do either (e.g. node-oidc-provider rotates past 70% of the TTL).
    Any,
}

/// What a reuse inside the grace window returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GraceSuccessor {
    /// The successor minted by the first refresh (django-oauth-toolkit).
    Same,
    /// A new successor each time (Ory Hydra, Auth0).
    New,
}

/// The lifetime of a rotated refresh token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SuccessorLifetime {
    /// A full `refresh_ttl` from the rotation.
    Fresh,
    /// The remaining lifetime of the presented token (node-oidc-provider for SPAs).
    Inherited,
}

/// What a refresh asking for a narrower scope gets (RFC 6749 §6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Narrowing {
    /// The access token gets the narrower scope; the refresh token keeps the original.
    Allowed,
    /// The request's scope is ignored: the original scope is granted (Ory Hydra, Duende).
    Ignored,
    /// A narrower scope is refused with `invalid_scope`.
    Refused,
}

/// The grace window: a consumed refresh token may be presented again for a while.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Grace {
    /// How long after its consumption a token may be reused; `None`: no time limit
    /// (a reuse count alone, Keycloak's "refresh token max reuse").
    pub window: Option<Seconds>,
    /// What a reuse returns.
    pub successor: GraceSuccessor,
    /// How many reuses are allowed; `None`: any number inside the window.
    pub max_reuse: Option<u8>,
}

/// The two client types of RFC 6749 §2.1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClientType {
    /// Authenticates at the token endpoint (`client_secret_basic` / `client_secret_post`).
    Confidential,
    /// Does not authenticate (`none` + PKCE).
    Public,
}

/// Everything a conformant server may choose about refresh tokens. Every knob is set.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Policy {
    /// The profile this policy started from (informational).
    pub profile: String,
    /// Rotation for public clients.
    pub rotation_public: Rotation,
    /// Rotation for confidential clients.
    pub rotation_confidential: Rotation,
    /// The grace window for consumed refresh tokens, if any.
    pub grace: Option<Grace>,
    /// Replay of a consumed refresh token revokes its whole family (RFC 9700 §4.14.2).
    pub reuse_detection: bool,
    /// Whose presentation of a consumed refresh token reuse detection acts on: its owner's,
    /// or any authenticated client's (RFC 9700 §4.14.2).
    pub reuse_presenter: ReusePresenter,
    /// Which refusal wins when several of scope, reuse and expiry apply to a refresh.
    pub check_order: CheckOrder,
    /// What revoking a live (or in-grace) refresh token ends besides it (RFC 7009 §2.1: the
    /// grant's access tokens SHOULD go).
    pub revoke_refresh_cascades: RevokeCascade,
    /// What revoking a live access token ends besides it (RFC 7009 §2.1 MAY).
    pub revoke_access_cascades: RevokeCascade,
    /// What revoking a consumed refresh token (outside any grace, unexpired, of a live grant)
    /// ends; `none`: it is an invalid token and nothing happens (RFC 7009 §2.2).
    pub revoke_consumed_cascades: RevokeCascade,
    /// Lifetime of an access token (its `expires_in`).
    pub access_ttl: Seconds,
    /// Lifetime of each refresh token, if limited.
    pub refresh_ttl: Option<Seconds>,
    /// Where a refresh token's lifetime starts: at its issue, or at its access token's expiry.
    pub refresh_ttl_anchor: RefreshTtlAnchor,
    /// Which access tokens a successful refresh ends: none, or those issued with the
    /// presented refresh token (RFC 6749 §6 keeps no old access token alive).
    pub refresh_ends_access: RefreshEndsAccess,
    /// Lifetime of a rotated refresh token.
    pub successor_lifetime: SuccessorLifetime,
    /// No refresh token of a grant outlives the grant by more than this (browser-apps draft).
    pub absolute_cap: Option<Seconds>,
    /// A refresh token unused for this long dies (RFC 9700 §4.14.2 SHOULD).
    pub idle_timeout: Option<Seconds>,
    /// What a narrower scope on refresh gets.
    pub narrowing: Narrowing,
    /// A refresh token is issued only when `offline_access` was granted (OIDC §11).
    pub offline_access_required: bool,
    /// A replayed authorization code revokes the tokens issued from it (RFC 6749 §4.1.2).
    pub code_replay_revokes: bool,
    /// Whether the server serves public clients at all (FAPI 2.0: confidential clients only).
    pub public_clients: bool,
    /// How public clients' tokens are sender-constrained (RFC 9449 §5: a public client's
    /// DPoP-bound refresh token needs a proof for its key).
    pub sender_constraint_public: SenderConstraint,
    /// How confidential clients' tokens are sender-constrained (RFC 9449 §5: their refresh
    /// tokens are not bound to a key; their access tokens are).
    pub sender_constraint_confidential: SenderConstraint,
    /// The token endpoint demands a fresh server nonce in DPoP proofs (RFC 9449 §8): a
    /// proof without it is answered `use_dpop_nonce` and nothing else happens.
    pub dpop_nonce: bool,
}

impl Policy {
    /// Rotation for a client type.
    pub const fn rotation(&self, client: ClientType) -> Rotation {
        match client {
            ClientType::Public => self.rotation_public,
            ClientType::Confidential => self.rotation_confidential,
        }
    }

    /// Whether some client type may rotate (of those the server serves).
    pub fn may_rotate(&self) -> bool {
        self.client_types()
            .any(|c| self.rotation(c) != Rotation::Never)
    }

    /// The client types the server serves.
    pub fn client_types(&self) -> impl Iterator<Item = ClientType> + '_ {
        [ClientType::Confidential, ClientType::Public]
            .into_iter()
            .filter(|c| *c == ClientType::Confidential || self.public_clients)
    }

    /// How a client type's tokens are sender-constrained.
    pub const fn sender_constraint(&self, client: ClientType) -> SenderConstraint {
        match client {
            ClientType::Public => self.sender_constraint_public,
            ClientType::Confidential => self.sender_constraint_confidential,
        }
    }

    /// Whether a client type proves possession of a DPoP key on each request.
    pub fn uses_dpop(&self, client: ClientType) -> bool {
        self.sender_constraint(client) == SenderConstraint::Dpop
    }

    /// Whether a client type's refresh tokens are bound to its DPoP key (RFC 9449 §5:
    /// public clients' only).
    pub fn binds_refresh_token(&self, client: ClientType) -> bool {
        client == ClientType::Public && self.uses_dpop(client)
    }

    /// Whether some client type the server serves uses DPoP.
    pub fn any_dpop(&self) -> bool {
        self.client_types().any(|c| self.uses_dpop(c))
    }

    /// How long a refresh token lives from its issue, if limited: `refresh_ttl`, plus the
    /// access token's lifetime when the lifetime is anchored at the access token's expiry.
    pub fn refresh_lifetime(&self) -> Option<Seconds> {
        self.refresh_ttl.map(|t| match self.refresh_ttl_anchor {
            RefreshTtlAnchor::Issue => t,
            RefreshTtlAnchor::AccessExpiry => {
                Seconds(t.get().saturating_add(self.access_ttl.get()))
            }
        })
    }

    /// Whether some client type may refresh without rotating (of those the server serves).
    pub fn may_keep(&self) -> bool {
        self.client_types()
            .any(|c| self.rotation(c) != Rotation::Always)
    }

    /// Parses a policy from TOML text: a `profile` plus overriding knobs, either at the top
    /// level or in a `[policy]` table.
    pub fn from_toml(text: &str) -> Result<Policy, PolicyError> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Wrapped {
            policy: PolicyFile,
        }
        let table: toml::Table =
            toml::from_str(text).map_err(|e| PolicyError::from_toml(text, &e))?;
        let file = if table.len() == 1 && table.contains_key("policy") {
            toml::from_str::<Wrapped>(text).map(|w| w.policy)
        } else {
            toml::from_str::<PolicyFile>(text)
        }
        .map_err(|e| PolicyError::from_toml(text, &e))?;
        file.resolve()
    }

    /// Checks that the knobs do not contradict each other.
    pub fn validate(&self) -> Result<(), PolicyError> {
        let bad = |field: &str, reason: &str| {
            Err(PolicyError::Invalid {
                field: field.into(),
                reason: reason.into(),
            })
        };
        if self.access_ttl.0 == 0 {
            return bad("access_ttl", "must be longer than 0s");
        }
        if self.refresh_ttl == Some(Seconds(0)) {
            return bad("refresh_ttl", "must be longer than 0s (or \"none\")");
        }
        if self.absolute_cap == Some(Seconds(0)) {
            return bad("absolute_cap", "must be longer than 0s (or \"none\")");
        }
        if self.idle_timeout == Some(Seconds(0)) {
            return bad("idle_timeout", "must be longer than 0s (or \"none\")");
        }
        if let Some(g) = self.grace {
            if g.window == Some(Seconds(0)) {
                return bad("grace_window", "must be longer than 0s (or \"none\")");
            }
            if g.window.is_none() && g.max_reuse.is_none() {
                return bad(
                    "grace_window",
                    "a grace allowance needs a window, a max reuse count, or both",
                );
            }
            if g.max_reuse == Some(0) {
                return bad(
                    "grace_max_reuse",
                    "0 reuses is no grace at all; omit the grace knobs",
                );
            }
            if !self.may_rotate() {
                return bad(
                    "grace_window",
                    "a grace window only applies to rotated tokens, but rotation is never",
                );
            }
        }
        if self.refresh_ttl_anchor == RefreshTtlAnchor::AccessExpiry && self.refresh_ttl.is_none() {
            return bad(
                "refresh_ttl_anchor",
                "\"access-expiry\" has no effect without a refresh_ttl",
            );
        }
        if self.dpop_nonce && !self.any_dpop() {
            return bad(
                "dpop_nonce",
                "a DPoP nonce needs a client type with sender_constraint = \"dpop\"",
            );
        }
        if !self.public_clients && self.sender_constraint_public != SenderConstraint::None {
            return bad(
                "sender_constraint_public",
                "has no effect when public_clients = false",
            );
        }
        if self.successor_lifetime == SuccessorLifetime::Inherited && self.refresh_ttl.is_none() {
            return bad(
                "successor_lifetime",
                "\"inherited\" needs a refresh_ttl to inherit from",
            );
        }
        Ok(())
    }

    /// Remarks on a valid policy that departs from an RFC MUST or SHOULD.
    pub fn notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        if self.public_clients
            && self.rotation_public == Rotation::Never
            && !self.binds_refresh_token(ClientType::Public)
        {
            notes.push("RFC9700-2.2.2: public clients' refresh tokens must be rotated or sender-constrained; rotation_public = \"never\" without sender_constraint_public = \"dpop\"".into());
        }
        if self.may_rotate() && !self.reuse_detection {
            notes.push("RFC9700-4.14.2: a rotating server should revoke the family when an invalidated refresh token is replayed (reuse_detection = false)".into());
        }
        if !self.revoke_refresh_cascades.ends_access_tokens() {
            notes.push(format!("RFC7009-2.1: revoking a refresh token should invalidate the access tokens of its grant (revoke_refresh_cascades = \"{}\")", self.revoke_refresh_cascades));
        }
        if self.may_rotate()
            && self.reuse_detection
            && self
                .check_order
                .before(OrderedCheck::Scope, OrderedCheck::Reuse)
        {
            notes.push(format!("RFC9700-4.14.2: a replayed refresh token that asks for a scope the server refuses is answered invalid_scope and does not revoke its family (check_order = {})", self.check_order));
        }
        if !self.code_replay_revokes {
            notes.push("RFC6749-4.1.2: a replayed authorization code should revoke the tokens issued from it (code_replay_revokes = false)".into());
        }
        notes
    }

    /// The TOML form of this policy, every knob written out.
    pub fn to_toml(&self) -> String {
        toml::to_string(&PolicyFile::from_policy(self)).unwrap_or_default()
    }
}

impl Default for Policy {
    fn default() -> Self {
        Policy::profile(DEFAULT_PROFILE).unwrap_or_else(|| unreachable!("bcp is built in"))
    }
}

/// Why a policy could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// The text is not TOML.
    #[error("failed to parse the policy: {0}")]
    Syntax(String),
    /// No built-in profile has this name.
    #[error("unknown profile `{0}`; the built-in profiles are: {list}", list = Policy::profile_names().collect::<Vec<_>>().join(", "))]
    UnknownProfile(String),
    /// A knob has a bad value or contradicts another.
    #[error("policy field `{field}`: {reason}")]
    Invalid {
        /// The knob.
        field: String,
        /// What is wrong.
        reason: String,
    },
}

impl PolicyError {
    /// A TOML error, with the knob it is about (the key on the error's line) and the line.
    pub fn from_toml(text: &str, e: &toml::de::Error) -> PolicyError {
        let message = e.message().trim().replace('\n', " ");
        let Some(span) = e.span() else {
            return PolicyError::Syntax(message);
        };
        let start = span.start.min(text.len());
        let line_no = text[..start].matches('\n').count() + 1;
        let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
        let line = text[line_start..].lines().next().unwrap_or("");
        match line.split_once('=') {
            Some((key, _)) if !line.trim_start().starts_with('[') => {
                PolicyError::knob(key.trim().trim_matches('"'), &message, line_no)
            }
            _ => PolicyError::Syntax(format!("line {line_no}: {message}")),
        }
    }

    /// A deserialisation error about the knob `key` on line `line_no`: an unknown field is
    /// called an unknown knob.
    fn knob(key: &str, message: &str, line_no: usize) -> PolicyError {
        let reason = match message.strip_prefix("unknown field `") {
            Some(rest) => {
                let expected = rest.split_once('`').map_or("", |(_, r)| r);
                format!("unknown knob{expected} (line {line_no})")
            }
            None => format!("{message} (line {line_no})"),
        };
        PolicyError::Invalid {
            field: key.to_string(),
            reason,
        }
    }
}

/// A `[policy]` table read as part of a larger TOML file (a target file, a server config),
/// each knob with its place in that file: it resolves without being written back to text,
/// and an error still names the knob and its line in the file.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(transparent)]
pub struct PolicyTable(BTreeMap<toml::Spanned<String>, toml::Value>);

impl PolicyTable {
    /// The policy: the profile with every knob applied, validated. `text` is the whole file
    /// the table was read from, for line numbers. Knobs are checked in name order, so the
    /// first bad one reported is the same whatever their order in the file.
    pub fn resolve(&self, text: &str) -> Result<Policy, PolicyError> {
        let mut table = toml::Table::new();
        for (key, value) in &self.0 {
            let knob: toml::Table =
                std::iter::once((key.get_ref().clone(), value.clone())).collect();
            if let Err(e) = toml::Value::Table(knob).try_into::<PolicyFile>() {
                let before = text.get(..key.span().start).unwrap_or(text);
                let line_no = before.matches('\n').count() + 1;
                let message = e.message().trim().replace('\n', " ");
                return Err(PolicyError::knob(key.get_ref(), &message, line_no));
            }
            table.insert(key.get_ref().clone(), value.clone());
        }
        let file: PolicyFile = toml::Value::Table(table)
            .try_into()
            .map_err(|e| PolicyError::Syntax(e.message().trim().replace('\n', " ")))?;
        file.resolve()
    }
}

/// The TOML shape of a policy: a profile plus optional overriding knobs.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyFile {
    /// The profile to start from (default `bcp`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// Sets rotation for both client types.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation: Option<Rotation>,
    /// Rotation for public clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation_public: Option<Rotation>,
    /// Rotation for confidential clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation_confidential: Option<Rotation>,
    /// Grace window (`"none"` for a count-only allowance or no grace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace_window: Option<MaybeSeconds>,
    /// What a reuse in the grace window returns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace_successor: Option<GraceSuccessor>,
    /// How many grace reuses; `"none"` for unlimited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace_max_reuse: Option<MaxReuse>,
    /// Replay of a consumed refresh token revokes its family.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reuse_detection: Option<bool>,
    /// Whose replay reuse detection acts on (`"owner"` or `"any-client"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reuse_presenter: Option<ReusePresenter>,
    /// Which check wins for a consumed, expired token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_order: Option<CheckOrder>,
    /// What revoking a refresh token ends (`true`: the grant).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoke_refresh_cascades: Option<CascadeValue>,
    /// What revoking an access token ends (`true`: the grant's refresh tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoke_access_cascades: Option<CascadeValue>,
    /// What revoking a consumed refresh token ends (`true`: the grant).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoke_consumed_cascades: Option<CascadeValue>,
    /// Access-token lifetime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_ttl: Option<Seconds>,
    /// Refresh-token lifetime (`"none"` for unlimited).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_ttl: Option<MaybeSeconds>,
    /// Where the refresh-token lifetime starts (`"issue"` or `"access-expiry"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_ttl_anchor: Option<RefreshTtlAnchor>,
    /// Which access tokens a refresh ends (`"none"` or `"presented"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_ends_access: Option<RefreshEndsAccess>,
    /// Lifetime of a rotated token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub successor_lifetime: Option<SuccessorLifetime>,
    /// Absolute cap from the grant (`"none"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub absolute_cap: Option<MaybeSeconds>,
    /// Idle timeout (`"none"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_timeout: Option<MaybeSeconds>,
    /// Narrower scope on refresh.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub narrowing: Option<Narrowing>,
    /// Refresh tokens only with `offline_access`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offline_access_required: Option<bool>,
    /// Code replay revokes the code's tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_replay_revokes: Option<bool>,
    /// The server serves public clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_clients: Option<bool>,
    /// Sets the sender constraint for both client types (`"none"` or `"dpop"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender_constraint: Option<SenderConstraint>,
    /// Public clients' sender constraint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender_constraint_public: Option<SenderConstraint>,
    /// Confidential clients' sender constraint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender_constraint_confidential: Option<SenderConstraint>,
    /// DPoP proofs at the token endpoint need a server nonce.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpop_nonce: Option<bool>,
}

/// A reuse count: a number, or `"none"` for unlimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MaxReuse(pub Option<u8>);

impl Serialize for MaxReuse {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Some(n) => s.serialize_u8(n),
            None => s.serialize_str("none"),
        }
    }
}

impl<'de> Deserialize<'de> for MaxReuse {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = MaxReuse;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a reuse count from 1 to 255, or \"none\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<MaxReuse, E> {
                if v.trim() == "none" {
                    Ok(MaxReuse(None))
                } else {
                    Err(E::custom(format!(
                        "`{v}` is not a reuse count: use a number or \"none\""
                    )))
                }
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<MaxReuse, E> {
                u8::try_from(v)
                    .map(|n| MaxReuse(Some(n)))
                    .map_err(|_| E::custom(format!("{v} is not a reuse count from 0 to 255")))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<MaxReuse, E> {
                u8::try_from(v)
                    .map(|n| MaxReuse(Some(n)))
                    .map_err(|_| E::custom(format!("{v} is not a reuse count from 0 to 255")))
            }
        }
        d.deserialize_any(V)
    }
}

impl PolicyFile {
    /// The policy: the profile with every given knob applied, validated.
    pub fn resolve(&self) -> Result<Policy, PolicyError> {
        let name = self.profile.as_deref().unwrap_or(DEFAULT_PROFILE);
        let mut p =
            Policy::profile(name).ok_or_else(|| PolicyError::UnknownProfile(name.to_string()))?;
        if let Some(r) = self.rotation {
            if self.rotation_public.is_some() || self.rotation_confidential.is_some() {
                return Err(PolicyError::Invalid {
                    field: "rotation".into(),
                    reason: "give either `rotation` or `rotation_public`/`rotation_confidential`, not both".into(),
                });
            }
            p.rotation_public = r;
            p.rotation_confidential = r;
        }
        if let Some(r) = self.rotation_public {
            p.rotation_public = r;
        }
        if let Some(r) = self.rotation_confidential {
            p.rotation_confidential = r;
        }
        if let Some(c) = self.sender_constraint {
            if self.sender_constraint_public.is_some()
                || self.sender_constraint_confidential.is_some()
            {
                return Err(PolicyError::Invalid {
                    field: "sender_constraint".into(),
                    reason: "give either `sender_constraint` or `sender_constraint_public`/`sender_constraint_confidential`, not both".into(),
                });
            }
            p.sender_constraint_public = c;
            p.sender_constraint_confidential = c;
        }
        let grace_given = self.grace_window.is_some()
            || self.grace_successor.is_some()
            || self.grace_max_reuse.is_some();
        if grace_given {
            let base = p.grace.unwrap_or(Grace {
                window: None,
                successor: GraceSuccessor::New,
                max_reuse: None,
            });
            let g = Grace {
                window: self.grace_window.map_or(base.window, |w| w.0),
                successor: self.grace_successor.unwrap_or(base.successor),
                max_reuse: self.grace_max_reuse.map_or(base.max_reuse, |m| m.0),
            };
            p.grace = if g.window.is_none() && g.max_reuse.is_none() {
                if self.grace_successor.is_some() {
                    return Err(PolicyError::Invalid {
                        field: "grace_successor".into(),
                        reason: "has no effect without grace_window or grace_max_reuse".into(),
                    });
                }
                None
            } else {
                Some(g)
            };
        }
        macro_rules! set {
            ($($f:ident),*) => { $( if let Some(v) = self.$f { p.$f = v; } )* };
        }
        set!(
            reuse_detection,
            reuse_presenter,
            check_order,
            access_ttl,
            refresh_ttl_anchor,
            refresh_ends_access,
            successor_lifetime,
            narrowing,
            offline_access_required,
            code_replay_revokes,
            public_clients,
            sender_constraint_public,
            sender_constraint_confidential,
            dpop_nonce
        );
        if !p.public_clients && self.sender_constraint.is_some() {
            // `sender_constraint` names both types; the public one does not exist here.
            p.sender_constraint_public = SenderConstraint::None;
        }
        // A boolean keeps the meaning it had before the targets: `true` was the grant for a
        // refresh token's revocation, its refresh tokens for an access token's.
        if let Some(v) = self.revoke_refresh_cascades {
            p.revoke_refresh_cascades = v.resolve(RevokeCascade::Grant);
        }
        if let Some(v) = self.revoke_access_cascades {
            p.revoke_access_cascades = v.resolve(RevokeCascade::RefreshTokens);
        }
        if let Some(v) = self.revoke_consumed_cascades {
            p.revoke_consumed_cascades = v.resolve(RevokeCascade::Grant);
        }
        if let Some(v) = self.refresh_ttl {
            p.refresh_ttl = v.0;
        }
        if let Some(v) = self.absolute_cap {
            p.absolute_cap = v.0;
        }
        if let Some(v) = self.idle_timeout {
            p.idle_timeout = v.0;
        }
        if self.profile.is_some() || self != &PolicyFile::default() {
            let overridden = self.profile.as_deref().unwrap_or(DEFAULT_PROFILE);
            p.profile = if *self == PolicyFile::profile_only(overridden) {
                overridden.to_string()
            } else {
                format!("{overridden}+custom")
            };
        }
        p.validate()?;
        Ok(p)
    }

    fn profile_only(name: &str) -> PolicyFile {
        PolicyFile {
            profile: Some(name.to_string()),
            ..PolicyFile::default()
        }
    }

    /// Every knob of `p`, written out.
    pub fn from_policy(p: &Policy) -> PolicyFile {
        let base = p.profile.split('+').next().unwrap_or(DEFAULT_PROFILE);
        PolicyFile {
            profile: Some(base.to_string()),
            rotation: None,
            rotation_public: Some(p.rotation_public),
            rotation_confidential: Some(p.rotation_confidential),
            grace_window: Some(MaybeSeconds(p.grace.and_then(|g| g.window))),
            grace_successor: p.grace.map(|g| g.successor),
            grace_max_reuse: p.grace.map(|g| MaxReuse(g.max_reuse)),
            reuse_detection: Some(p.reuse_detection),
            reuse_presenter: Some(p.reuse_presenter),
            check_order: Some(p.check_order),
            revoke_refresh_cascades: Some(CascadeValue::Target(p.revoke_refresh_cascades)),
            revoke_access_cascades: Some(CascadeValue::Target(p.revoke_access_cascades)),
            revoke_consumed_cascades: Some(CascadeValue::Target(p.revoke_consumed_cascades)),
            access_ttl: Some(p.access_ttl),
            refresh_ttl: Some(MaybeSeconds(p.refresh_ttl)),
            refresh_ttl_anchor: Some(p.refresh_ttl_anchor),
            refresh_ends_access: Some(p.refresh_ends_access),
            successor_lifetime: Some(p.successor_lifetime),
            absolute_cap: Some(MaybeSeconds(p.absolute_cap)),
            idle_timeout: Some(MaybeSeconds(p.idle_timeout)),
            narrowing: Some(p.narrowing),
            offline_access_required: Some(p.offline_access_required),
            code_replay_revokes: Some(p.code_replay_revokes),
            public_clients: Some(p.public_clients),
            sender_constraint: None,
            sender_constraint_public: Some(p.sender_constraint_public),
            sender_constraint_confidential: Some(p.sender_constraint_confidential),
            dpop_nonce: Some(p.dpop_nonce),
        }
    }
}

impl PartialEq for PolicyFile {
    fn eq(&self, other: &Self) -> bool {
        // Compared through TOML so the helper types need no PartialEq of their own.
        toml::to_string(self).ok() == toml::to_string(other).ok()
    }
}

#[cfg(test)]
mod tests;
