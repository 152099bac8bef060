//! The abstract state: grants (token families), refresh and access tokens, who holds what,
//! and what a client has observed.
//!
//! Compact and canonical so the model checker sees few, small states: fixed arrays with a
//! length (only the used prefix is hashed and compared), `u8` ids, deadlines in seconds
//! *relative to now* (a passed deadline is 0, "never" is [`NEVER`]; no absolute clock), and
//! no field that no rule, property or outcome reads. Each token has three kinds of field:
//! the server's bookkeeping (read only by `spec`), public deadlines (set by the server from
//! the declared policy, read by both) and observations (`seen*`, written only by `observe`).

use std::fmt;
use std::hash::{Hash, Hasher};

use serde::{Deserialize, Serialize};

use crate::policy::ClientType;

/// Room for grants in one state.
pub const MAX_GRANTS: usize = 4;
/// Room for refresh tokens (and, separately, access tokens) in one state.
pub const MAX_TOKENS: usize = 16;
/// "No token" in an id slot.
pub const NONE: u8 = u8::MAX;
/// A deadline that never comes.
pub const NEVER: u32 = u32::MAX;

/// A set of resource scopes (`offline_access` is tracked on the grant, not here).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub struct Scope(pub u8);

impl Scope {
    /// No scope.
    pub const EMPTY: Scope = Scope(0);
    /// `read`.
    pub const READ: Scope = Scope(1);
    /// `write`.
    pub const WRITE: Scope = Scope(2);
    /// `read write`: everything a client may ask for.
    pub const ALL: Scope = Scope(3);
    /// The names of the scope bits, in order.
    pub const NAMES: [&'static str; 2] = ["read", "write"];

    /// Whether every scope of `self` is in `other`.
    pub const fn is_subset(self, other: Scope) -> bool {
        self.0 & !other.0 == 0
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = Scope::NAMES
            .iter()
            .enumerate()
            .filter(|(i, _)| self.0 & (1 << i) != 0)
            .map(|(_, n)| *n)
            .collect();
        if names.is_empty() {
            f.write_str("(none)")
        } else {
            f.write_str(&names.join(" "))
        }
    }
}

/// The id of a grant (token family) in a state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct GrantId(pub u8);
/// The id of a refresh token in a state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RtId(pub u8);
/// The id of an access token in a state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AtId(pub u8);

impl fmt::Display for GrantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "G{}", self.0)
    }
}
impl fmt::Display for RtId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RT{}", self.0)
    }
}
impl fmt::Display for AtId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AT{}", self.0)
    }
}

/// The server's status of a refresh token.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum RtStatus {
    /// Usable.
    #[default]
    Active,
    /// Presented and rotated away (a successor was issued).
    Consumed,
    /// Revoked (RFC 7009) or killed with its family.
    Revoked,
}

/// Observation bits on a refresh token.
pub mod seen_rt {
    /// A response to a refresh with this token carried a successor: it is consumed.
    pub const CONSUMED: u8 = 1;
    /// Its client revoked it and the server acknowledged (or a cascade did).
    pub const REVOKED: u8 = 2;
    /// A response carried this token to a client (it was not lost).
    pub const DELIVERED: u8 = 4;
}

/// Observation bits on a grant.
pub mod seen_grant {
    /// The family was revoked because a consumed token was replayed (the client saw the
    /// replay refused where the declared policy detects reuse).
    pub const DEAD_REPLAY: u8 = 1;
    /// The family was revoked by a revocation request (RFC 7009 cascade).
    pub const DEAD_REVOKE: u8 = 2;
    /// The family was revoked because its authorization code was replayed.
    pub const DEAD_CODE: u8 = 4;
    /// The attacker holds a stolen refresh token of this family.
    pub const STOLEN: u8 = 8;
    /// The legitimate client tried to refresh after the theft.
    pub const LEGIT_TRIED: u8 = 16;
    /// The legitimate client's last refresh response was lost and not yet retried.
    pub const LOST_PENDING: u8 = 32;
    /// That lost refresh ended the access token the client held (`refresh_ends_access`):
    /// the client had access before it lost the response.
    pub const LOST_ENDED_ACCESS: u8 = 64;
    /// The legitimate client's refresh of its current token was just answered
    /// `use_dpop_nonce`, and not yet retried.
    pub const NONCE_PENDING: u8 = 128;
    /// Any of the `DEAD_*` bits.
    pub const DEAD: u8 = DEAD_REPLAY | DEAD_REVOKE | DEAD_CODE;
}

/// One grant: the family of tokens an authorization code started.
#[derive(Clone, Copy, Debug)]
pub struct Grant {
    /// The client it was issued to.
    pub client: ClientType,
    /// The granted scope (the client saw it in the first token response).
    pub scope: Scope,
    /// Server: the grant was revoked, with every token of it.
    pub revoked: bool,
    /// Public deadline: the absolute cap of the family.
    pub cap: u32,
    /// Observations, [`seen_grant`] bits.
    pub seen: u8,
    /// The refresh token the legitimate client holds.
    pub legit_rt: u8,
    /// The access token the legitimate client holds.
    pub legit_at: u8,
    /// The refresh token the attacker holds.
    pub atk_rt: u8,
}

impl Default for Grant {
    fn default() -> Self {
        Grant {
            client: ClientType::Confidential,
            scope: Scope::EMPTY,
            revoked: false,
            cap: 0,
            seen: 0,
            legit_rt: NONE,
            legit_at: NONE,
            atk_rt: NONE,
        }
    }
}

/// One refresh token.
#[derive(Clone, Copy, Debug)]
pub struct RefreshToken {
    /// Its grant.
    pub family: u8,
    /// Server: its status.
    pub status: RtStatus,
    /// Server: the scope it carries (RFC 6749 §6: that of the grant).
    pub scope: Scope,
    /// Server: the first successor issued for it.
    pub successor: u8,
    /// Server: reuses honoured in the grace window.
    pub reuses: u8,
    /// Observations, [`seen_rt`] bits.
    pub seen: u8,
    /// Observation: the successor the first rotation response carried.
    pub seen_successor: u8,
    /// Observation: presentations honoured after it was seen consumed.
    pub seen_reuses: u8,
    /// Public deadline: end of its lifetime (`refresh_ttl`, fresh or inherited).
    pub exp: u32,
    /// Public deadline: idle timeout.
    pub idle: u32,
    /// Public deadline: end of its grace window once consumed (0: none or over).
    pub grace: u32,
}

impl Default for RefreshToken {
    fn default() -> Self {
        RefreshToken {
            family: 0,
            status: RtStatus::Active,
            scope: Scope::EMPTY,
            successor: NONE,
            reuses: 0,
            seen: 0,
            seen_successor: NONE,
            seen_reuses: 0,
            exp: 0,
            idle: 0,
            grace: 0,
        }
    }
}

/// One access token. Its scope is not kept: nothing reads it after issuance.
#[derive(Clone, Copy, Debug)]
pub struct AccessToken {
    /// Its grant.
    pub family: u8,
    /// Server: revoked.
    pub revoked: bool,
    /// Observation: revoked by its client (acknowledged) or by a cascade.
    pub seen_revoked: bool,
    /// Observation: a response carried it to a client (it was not lost).
    pub delivered: bool,
    /// Server: the refresh token it was issued with, where a refresh with that token ends it
    /// (`refresh_ends_access`; [`NONE`] otherwise, so other policies' states stay as many).
    pub rt: u8,
    /// Observation: the refresh token it was seen issued with (the one in its response, or
    /// the presented one when the response kept it), under the same policy; else [`NONE`].
    pub seen_rt: u8,
    /// Observation: a refresh with `seen_rt` ended it.
    pub seen_ended: bool,
    /// Public deadline: `expires_in` from issuance.
    pub exp: u32,
}

impl Default for AccessToken {
    fn default() -> Self {
        AccessToken {
            family: 0,
            revoked: false,
            seen_revoked: false,
            delivered: false,
            rt: NONE,
            seen_rt: NONE,
            seen_ended: false,
            exp: 0,
        }
    }
}

/// What happened in the last step, for `sometimes` properties. Only events that some
/// property looks for are recorded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Event {
    /// Nothing a `sometimes` property asks about.
    #[default]
    None,
    /// The legitimate client refreshed after its access token expired (the ten-step flow).
    RefreshAfterAccessExpired,
    /// A refresh rotated the refresh token.
    Rotated,
    /// A refresh kept the refresh token.
    Kept,
    /// A consumed refresh token was honoured inside the grace window.
    GraceReuse,
    /// A replayed refresh token got its family revoked.
    ReuseDetected,
    /// A refresh token was refused because it expired.
    RefreshExpired,
    /// A refresh token was refused because the family reached its absolute cap.
    CapReached,
    /// A refresh token was refused because it was idle too long.
    IdleExpired,
    /// A refresh token was revoked by its client.
    RevokedRefresh,
    /// Revoking a refresh token cut off a live access token of its grant.
    CascadeToAccess,
    /// Revoking an access token cut off a live refresh token of its grant.
    CascadeToRefresh,
    /// A refresh was granted a narrower scope.
    Narrowed,
    /// A narrower scope was asked for and the original granted.
    NarrowingIgnored,
    /// A narrower scope was refused.
    NarrowingRefused,
    /// A replayed authorization code revoked its tokens.
    CodeReplayRevoked,
    /// The attacker's stolen refresh token was honoured.
    AttackerHonoured,
    /// An authorization without `offline_access` got no refresh token.
    NoRefreshWithoutOffline,
    /// A legitimate client retried a refresh whose response was lost, and kept access.
    LostRetryKeptAccess,
    /// A DPoP-bound refresh token was refused with a proof for another key (or the attacker's).
    BoundKeyRefused,
    /// A confidential client's refresh with a new DPoP key was honoured.
    KeyMoved,
    /// A refresh retried after a `use_dpop_nonce` challenge was honoured.
    NonceRetryHonoured,
}

impl Event {
    /// Every event, in order.
    pub const ALL: [Event; 22] = [
        Event::None,
        Event::RefreshAfterAccessExpired,
        Event::Rotated,
        Event::Kept,
        Event::GraceReuse,
        Event::ReuseDetected,
        Event::RefreshExpired,
        Event::CapReached,
        Event::IdleExpired,
        Event::RevokedRefresh,
        Event::CascadeToAccess,
        Event::CascadeToRefresh,
        Event::Narrowed,
        Event::NarrowingIgnored,
        Event::NarrowingRefused,
        Event::CodeReplayRevoked,
        Event::AttackerHonoured,
        Event::NoRefreshWithoutOffline,
        Event::LostRetryKeptAccess,
        Event::BoundKeyRefused,
        Event::KeyMoved,
        Event::NonceRetryHonoured,
    ];

    /// The event's bit in `State::events` (`None` has none).
    pub const fn bit(self) -> u32 {
        match self {
            Event::None => 0,
            e => 1 << (e as u8),
        }
    }
}

/// One state of the model.
#[derive(Clone, Debug, Eq)]
pub struct State {
    /// Grants, `n_grants` used.
    pub grants: [Grant; MAX_GRANTS],
    /// Grants in use.
    pub n_grants: u8,
    /// Refresh tokens, `n_rts` used.
    pub rts: [RefreshToken; MAX_TOKENS],
    /// Refresh tokens in use.
    pub n_rts: u8,
    /// Access tokens, `n_ats` used.
    pub ats: [AccessToken; MAX_TOKENS],
    /// Access tokens in use.
    pub n_ats: u8,
    /// Successful refreshes so far (the model checker's budget).
    pub refreshes: u8,
    /// Observation: which properties a response broke (`properties::flag` bits).
    pub violations: u16,
    /// Observation: the last step's events, [`Event::bit`]s.
    pub events: u32,
}

// Equality and hashing of the records go through `words()`, which folds every field into a
// few integers: the model checker compares and hashes every state it generates, and a few
// word operations are much cheaper than one per field. Every field is in the words, so the
// two agree with each other and with field-by-field equality.

impl Grant {
    fn words(&self) -> (u64, u32) {
        let small = u64::from(self.client as u8)
            | u64::from(self.scope.0) << 8
            | u64::from(self.revoked) << 16
            | u64::from(self.seen) << 24
            | u64::from(self.legit_rt) << 32
            | u64::from(self.legit_at) << 40
            | u64::from(self.atk_rt) << 48;
        (small, self.cap)
    }
}

impl RefreshToken {
    fn words(&self) -> (u64, u64, u32) {
        let small = u64::from(self.family)
            | u64::from(self.status as u8) << 8
            | u64::from(self.scope.0) << 16
            | u64::from(self.successor) << 24
            | u64::from(self.reuses) << 32
            | u64::from(self.seen) << 40
            | u64::from(self.seen_successor) << 48
            | u64::from(self.seen_reuses) << 56;
        (
            small,
            u64::from(self.exp) | u64::from(self.idle) << 32,
            self.grace,
        )
    }
}

impl AccessToken {
    fn words(&self) -> u64 {
        u64::from(self.family)
            | u64::from(self.revoked) << 8
            | u64::from(self.seen_revoked) << 9
            | u64::from(self.delivered) << 10
            | u64::from(self.seen_ended) << 11
            | u64::from(self.rt) << 16
            | u64::from(self.seen_rt) << 24
            | u64::from(self.exp) << 32
    }
}

macro_rules! by_words {
    ($($t:ty),*) => {$(
        impl PartialEq for $t {
            fn eq(&self, o: &Self) -> bool {
                self.words() == o.words()
            }
        }
        impl Eq for $t {}
        impl Hash for $t {
            fn hash<H: Hasher>(&self, h: &mut H) {
                self.words().hash(h);
            }
        }
    )*};
}
by_words!(Grant, RefreshToken, AccessToken);

impl Hash for State {
    fn hash<H: Hasher>(&self, h: &mut H) {
        // Only the used prefixes: unused slots are always default.
        self.grants[..self.n_grants as usize].hash(h);
        self.rts[..self.n_rts as usize].hash(h);
        self.ats[..self.n_ats as usize].hash(h);
        h.write_u8(self.refreshes);
        h.write_u16(self.violations);
        h.write_u32(self.events);
    }
}

impl PartialEq for State {
    fn eq(&self, o: &Self) -> bool {
        // Only the used prefixes, as in `Hash`.
        self.n_grants == o.n_grants
            && self.n_rts == o.n_rts
            && self.n_ats == o.n_ats
            && self.refreshes == o.refreshes
            && self.violations == o.violations
            && self.events == o.events
            && self.grants() == o.grants()
            && self.rts() == o.rts()
            && self.ats() == o.ats()
    }
}

impl Default for State {
    fn default() -> Self {
        State {
            grants: [Grant::default(); MAX_GRANTS],
            n_grants: 0,
            rts: [RefreshToken::default(); MAX_TOKENS],
            n_rts: 0,
            ats: [AccessToken::default(); MAX_TOKENS],
            n_ats: 0,
            refreshes: 0,
            violations: 0,
            events: 0,
        }
    }
}

impl State {
    /// The grants in use.
    pub fn grants(&self) -> &[Grant] {
        &self.grants[..self.n_grants as usize]
    }
    /// The refresh tokens in use.
    pub fn rts(&self) -> &[RefreshToken] {
        &self.rts[..self.n_rts as usize]
    }
    /// The access tokens in use.
    pub fn ats(&self) -> &[AccessToken] {
        &self.ats[..self.n_ats as usize]
    }
    /// The grant of a refresh token.
    pub fn rt_grant(&self, rt: RtId) -> &Grant {
        &self.grants[self.rts[rt.0 as usize].family as usize]
    }
    /// The grant of an access token.
    pub fn at_grant(&self, at: AtId) -> &Grant {
        &self.grants[self.ats[at.0 as usize].family as usize]
    }
    /// Whether `rt` names a refresh token of this state.
    pub fn has_rt(&self, rt: RtId) -> bool {
        rt.0 < self.n_rts
    }
    /// Whether `at` names an access token of this state.
    pub fn has_at(&self, at: AtId) -> bool {
        at.0 < self.n_ats
    }
    /// Whether `g` names a grant of this state.
    pub fn has_grant(&self, g: GrantId) -> bool {
        g.0 < self.n_grants
    }
    /// Whether one more grant fits.
    pub fn room_for_grant(&self) -> bool {
        (self.n_grants as usize) < MAX_GRANTS
    }
    /// Whether one more access token and one more refresh token fit.
    pub fn room_for_tokens(&self) -> bool {
        (self.n_rts as usize) < MAX_TOKENS && (self.n_ats as usize) < MAX_TOKENS
    }
}
