//! The inferable discrete knobs of a [`Policy`], in one table: a knob's name (its key in a
//! policy file), its values, how to read one from a policy and how to set one on it.
//!
//! A new knob joins inference by one entry in [`KNOBS`]; nothing else names knobs. The
//! order of the table is the order of the experiments: a knob whose value changes what a
//! later experiment means comes before it (rotation decides whether there is a consumed token
//! at all; the lifetime's anchor and a successor's lifetime when a token expires, which the
//! check order's experiments wait for; a grace window whether a replay is refused; reuse
//! detection what a refused replay ends; the check order whether a replay is refused as
//! reuse at all, which is what another client's replay is judged by). The order of a knob's values is the order of preference when
//! the answers cannot tell some of them apart: the file carries the first candidate left (the
//! most permissive: rotation `any`), experiments run under the last (the sharpest: rotation
//! `always` for a server that was seen to rotate).
//!
//! Lifetimes (`access_ttl`, `refresh_ttl`, the grace window's length, cap, idle timeout) are
//! not in this table: they are measured, not chosen among a few values. The lifetime's
//! anchor is, but setting it keeps the lifetime from issue (see `set_anchor`): what it
//! changes is how `refresh_ttl` is counted, never a deadline, so no experiment decides it. A grace allowance
//! switched on by [`Knob::set`] keeps the window the policy had, or [`DEFAULT_GRACE_WINDOW`].

use crate::policy::{
    CheckOrder, Grace, GraceSuccessor, Narrowing, Policy, RefreshEndsAccess, RefreshTtlAnchor,
    ReusePresenter, RevokeCascade, Rotation, Seconds, SuccessorLifetime,
};

/// The window a grace allowance gets when a policy without one is given one.
pub const DEFAULT_GRACE_WINDOW: Seconds = Seconds(30);

/// One discrete knob.
#[derive(Clone, Copy, Debug)]
pub struct Knob {
    /// The knob's key in a policy file.
    pub name: &'static str,
    /// Its values as a policy file writes them, most permissive first.
    pub values: &'static [&'static str],
    /// The index in `values` of the value a policy holds.
    pub get: fn(&Policy) -> usize,
    /// Sets the value of index `i` (an index out of range leaves the policy as it is).
    pub set: fn(&mut Policy, usize),
    /// The clause that leaves this choice to the server.
    pub clause: &'static str,
}

impl Knob {
    /// `p` with this knob set to value `i`, if that makes a valid policy.
    pub fn with(&self, p: &Policy, i: usize) -> Option<Policy> {
        let mut q = p.clone();
        (self.set)(&mut q, i);
        ((self.get)(&q) == i && q.validate().is_ok()).then_some(q)
    }

    /// The name of value `i`.
    pub fn value(&self, i: usize) -> &'static str {
        self.values.get(i).copied().unwrap_or("?")
    }
}

const ROTATION: [Rotation; 3] = [Rotation::Any, Rotation::Always, Rotation::Never];
const ROTATION_NAMES: &[&str] = &["any", "always", "never"];
const BOOL_NAMES: &[&str] = &["false", "true"];
const CASCADE_NAMES: &[&str] = &["none", "refresh-tokens", "access-tokens", "grant"];
const ORDER_NAMES: &[&str] = &[
    "reuse-before-expiry",
    "expiry-before-reuse",
    "[scope, reuse, expiry]",
    "[scope, expiry, reuse]",
    "[reuse, scope, expiry]",
    "[expiry, scope, reuse]",
];
const NARROWING: [Narrowing; 3] = [Narrowing::Allowed, Narrowing::Ignored, Narrowing::Refused];

fn index<T: PartialEq>(all: &[T], v: &T) -> usize {
    all.iter().position(|x| x == v).unwrap_or(0)
}

fn cascade(i: usize) -> Option<RevokeCascade> {
    RevokeCascade::ALL.get(i).copied()
}

fn grace_index(p: &Policy) -> usize {
    match p.grace {
        None => 0,
        Some(g) if g.successor == GraceSuccessor::New => 1,
        Some(_) => 2,
    }
}

fn set_grace(p: &mut Policy, i: usize) {
    let successor = match i {
        0 => {
            p.grace = None;
            return;
        }
        1 => GraceSuccessor::New,
        2 => GraceSuccessor::Same,
        _ => return,
    };
    let base = p.grace.unwrap_or(Grace {
        window: Some(DEFAULT_GRACE_WINDOW),
        successor,
        max_reuse: None,
    });
    p.grace = Some(Grace { successor, ..base });
}

/// Sets the refresh lifetime's anchor keeping the refresh token's lifetime from its issue,
/// which is what a server's answers show (and what inference measures before the knobs):
/// `refresh_ttl` counts from the anchor, so it shrinks by `access_ttl` when the anchor moves
/// to the access token's expiry and grows by it when it moves back. The two values are then
/// the same tokens, which no answer tells apart; a lifetime no longer than `access_ttl`
/// cannot be counted from the access token's expiry, and the policy is left as it is.
fn set_anchor(p: &mut Policy, i: usize) {
    let to = match i {
        0 => RefreshTtlAnchor::Issue,
        1 => RefreshTtlAnchor::AccessExpiry,
        _ => return,
    };
    if p.refresh_ttl_anchor == to {
        return;
    }
    let a = p.access_ttl.get();
    match (to, p.refresh_ttl) {
        (RefreshTtlAnchor::AccessExpiry, Some(t)) if t.get() > a => {
            p.refresh_ttl = Some(Seconds(t.get() - a));
        }
        (RefreshTtlAnchor::AccessExpiry, _) => return,
        (RefreshTtlAnchor::Issue, t) => {
            p.refresh_ttl = t.map(|t| Seconds(t.get().saturating_add(a)))
        }
    }
    p.refresh_ttl_anchor = to;
}

/// Every inferable discrete knob, in the order of the experiments.
pub const KNOBS: &[Knob] = &[
    Knob {
        name: "rotation_public",
        values: ROTATION_NAMES,
        get: |p| index(&ROTATION, &p.rotation_public),
        set: |p, i| {
            if let Some(r) = ROTATION.get(i) {
                p.rotation_public = *r;
            }
        },
        clause: "RFC6749-6 (MAY issue a new refresh token), RFC9700-2.2.2",
    },
    Knob {
        name: "rotation_confidential",
        values: ROTATION_NAMES,
        get: |p| index(&ROTATION, &p.rotation_confidential),
        set: |p, i| {
            if let Some(r) = ROTATION.get(i) {
                p.rotation_confidential = *r;
            }
        },
        clause: "RFC6749-6 (MAY issue a new refresh token)",
    },
    Knob {
        name: "refresh_ttl_anchor",
        values: &["issue", "access-expiry"],
        get: |p| usize::from(p.refresh_ttl_anchor == RefreshTtlAnchor::AccessExpiry),
        set: set_anchor,
        clause: "RFC6749-5.1 (the lifetime is the server's)",
    },
    Knob {
        name: "successor_lifetime",
        values: &["fresh", "inherited"],
        get: |p| usize::from(p.successor_lifetime == SuccessorLifetime::Inherited),
        set: |p, i| match i {
            0 => p.successor_lifetime = SuccessorLifetime::Fresh,
            1 => p.successor_lifetime = SuccessorLifetime::Inherited,
            _ => {}
        },
        clause: "browser-apps draft (a rotated token never outlives the initial lifetime)",
    },
    Knob {
        name: "refresh_ends_access",
        values: &["none", "presented"],
        get: |p| usize::from(p.refresh_ends_access == RefreshEndsAccess::Presented),
        set: |p, i| match i {
            0 => p.refresh_ends_access = RefreshEndsAccess::None,
            1 => p.refresh_ends_access = RefreshEndsAccess::Presented,
            _ => {}
        },
        clause: "RFC6749-6 (the server's choice; django-oauth-toolkit ends them)",
    },
    Knob {
        name: "grace_successor",
        values: &["none", "new", "same"],
        get: grace_index,
        set: set_grace,
        clause: "RFC9700-4.14.2 (rotation), with a lossy-network allowance",
    },
    Knob {
        name: "reuse_detection",
        values: BOOL_NAMES,
        get: |p| usize::from(p.reuse_detection),
        set: |p, i| {
            if i < 2 {
                p.reuse_detection = i == 1;
            }
        },
        clause: "RFC9700-4.14.2 (replay of an invalidated refresh token revokes the family)",
    },
    Knob {
        name: "check_order",
        values: ORDER_NAMES,
        get: |p| index(&CheckOrder::ALL, &p.check_order),
        set: |p, i| {
            if let Some(o) = CheckOrder::ALL.get(i) {
                p.check_order = *o;
            }
        },
        clause: "RFC6749-5.2 (does not order the refusals), RFC9700-4.14.2",
    },
    Knob {
        name: "reuse_presenter",
        values: &["owner", "any-client"],
        get: |p| usize::from(p.reuse_presenter == ReusePresenter::AnyClient),
        set: |p, i| match i {
            0 => p.reuse_presenter = ReusePresenter::Owner,
            1 => p.reuse_presenter = ReusePresenter::AnyClient,
            _ => {}
        },
        clause: "RFC9700-4.14.2 (any presentation of an invalidated token), RFC6749-10.4",
    },
    Knob {
        name: "revoke_refresh_cascades",
        values: CASCADE_NAMES,
        get: |p| index(&RevokeCascade::ALL, &p.revoke_refresh_cascades),
        set: |p, i| {
            if let Some(c) = cascade(i) {
                p.revoke_refresh_cascades = c;
            }
        },
        clause: "RFC7009-2.1 (SHOULD end the grant's access tokens)",
    },
    Knob {
        name: "revoke_access_cascades",
        values: CASCADE_NAMES,
        get: |p| index(&RevokeCascade::ALL, &p.revoke_access_cascades),
        set: |p, i| {
            if let Some(c) = cascade(i) {
                p.revoke_access_cascades = c;
            }
        },
        clause: "RFC7009-2.1 (MAY end the refresh token)",
    },
    Knob {
        name: "revoke_consumed_cascades",
        values: CASCADE_NAMES,
        get: |p| index(&RevokeCascade::ALL, &p.revoke_consumed_cascades),
        set: |p, i| {
            if let Some(c) = cascade(i) {
                p.revoke_consumed_cascades = c;
            }
        },
        clause: "RFC7009-2.1, RFC7009-2.2 (an invalid token's revocation is a no-op)",
    },
    Knob {
        name: "narrowing",
        values: &["allowed", "ignored", "refused"],
        get: |p| index(&NARROWING, &p.narrowing),
        set: |p, i| {
            if let Some(n) = NARROWING.get(i) {
                p.narrowing = *n;
            }
        },
        clause: "RFC6749-6 (scope on refresh)",
    },
    Knob {
        name: "offline_access_required",
        values: BOOL_NAMES,
        get: |p| usize::from(p.offline_access_required),
        set: |p, i| {
            if i < 2 {
                p.offline_access_required = i == 1;
            }
        },
        clause: "OIDC-11",
    },
    Knob {
        name: "code_replay_revokes",
        values: BOOL_NAMES,
        get: |p| usize::from(p.code_replay_revokes),
        set: |p, i| {
            if i < 2 {
                p.code_replay_revokes = i == 1;
            }
        },
        clause: "RFC6749-4.1.2 (SHOULD revoke the code's tokens)",
    },
];

/// The knob named `name`.
pub fn knob(name: &str) -> Option<&'static Knob> {
    KNOBS.iter().find(|k| k.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_sets_and_reads_back() {
        let base = Policy::profile("rfc6749").expect("built in");
        for k in KNOBS {
            for i in 0..k.values.len() {
                let mut p = base.clone();
                (k.set)(&mut p, i);
                assert_eq!((k.get)(&p), i, "{} = {}", k.name, k.value(i));
            }
            let mut p = base.clone();
            (k.set)(&mut p, k.values.len());
            assert_eq!(p, base, "{}: an index out of range changes nothing", k.name);
        }
    }

    #[test]
    fn the_order_names_match_the_policy_file() {
        for (i, o) in CheckOrder::ALL.iter().enumerate() {
            let written = o.to_string().replace('"', "");
            assert_eq!(written, ORDER_NAMES[i]);
        }
        for k in KNOBS {
            assert!(knob(k.name).is_some());
        }
    }

    #[test]
    fn an_invalid_combination_is_no_candidate() {
        let never = Policy::from_toml("rotation = \"never\"").expect("a policy");
        let grace = knob("grace_successor").expect("in the table");
        assert!(grace.with(&never, 1).is_none());
        assert!(grace.with(&never, 0).is_some());
    }
}
