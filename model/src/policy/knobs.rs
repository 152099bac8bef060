//! The knobs that say how real servers behave beyond the RFCs' floor, each with its TOML form
//! and its RFC standing: what a revocation ends besides the token it names (RFC 7009 §2.1),
//! which refusal wins when several apply to a refresh (RFC 6749 §5.2 does not order them;
//! RFC 9700 §4.14.2 wants replays seen), where a refresh token's lifetime starts, which
//! access tokens a refresh ends (RFC 6749 §6 keeps none alive), and whose presentation of a
//! consumed refresh token counts as reuse (RFC 9700 §4.14.2: any presentation of an
//! invalidated token tells of a breach).
//!
//! Every value an older policy file could hold keeps its meaning: `true` / `false` for the
//! cascades and the two named check orders.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What a revocation ends besides the token it names (RFC 7009 §2.1: "the revocation of a
/// particular token may cause the revocation of related tokens and the underlying
/// authorization grant").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RevokeCascade {
    /// Nothing beyond the token itself.
    None,
    /// Every refresh token of the grant (its access tokens live on).
    RefreshTokens,
    /// Every access token of the grant (its refresh tokens live on).
    AccessTokens,
    /// The grant and every token of it.
    Grant,
}

impl RevokeCascade {
    /// Every target, in the order the README lists them.
    pub const ALL: [RevokeCascade; 4] = [
        RevokeCascade::None,
        RevokeCascade::RefreshTokens,
        RevokeCascade::AccessTokens,
        RevokeCascade::Grant,
    ];

    /// The name used in policy files.
    pub const fn name(self) -> &'static str {
        match self {
            RevokeCascade::None => "none",
            RevokeCascade::RefreshTokens => "refresh-tokens",
            RevokeCascade::AccessTokens => "access-tokens",
            RevokeCascade::Grant => "grant",
        }
    }

    /// Whether the grant's refresh tokens end with it.
    pub const fn ends_refresh_tokens(self) -> bool {
        matches!(self, RevokeCascade::RefreshTokens | RevokeCascade::Grant)
    }

    /// Whether the grant's access tokens end with it.
    pub const fn ends_access_tokens(self) -> bool {
        matches!(self, RevokeCascade::AccessTokens | RevokeCascade::Grant)
    }

    fn parse(text: &str) -> Option<RevokeCascade> {
        RevokeCascade::ALL.into_iter().find(|c| c.name() == text)
    }
}

impl fmt::Display for RevokeCascade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A cascade knob as written in a file: one of the four targets, or a boolean whose meaning
/// is the knob's own (what `true` meant before the targets existed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CascadeValue {
    /// `true` or `false`.
    Bool(bool),
    /// A target by name.
    Target(RevokeCascade),
}

impl CascadeValue {
    /// The target, with `true` meaning `on_true`.
    pub fn resolve(self, on_true: RevokeCascade) -> RevokeCascade {
        match self {
            CascadeValue::Bool(false) => RevokeCascade::None,
            CascadeValue::Bool(true) => on_true,
            CascadeValue::Target(t) => t,
        }
    }
}

impl Serialize for CascadeValue {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            CascadeValue::Bool(b) => s.serialize_bool(*b),
            CascadeValue::Target(t) => t.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for CascadeValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = CascadeValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "\"none\", \"refresh-tokens\", \"access-tokens\", \"grant\", true or false",
                )
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<CascadeValue, E> {
                Ok(CascadeValue::Bool(v))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<CascadeValue, E> {
                RevokeCascade::parse(v.trim())
                    .map(CascadeValue::Target)
                    .ok_or_else(|| {
                        E::custom(format!(
                            "`{v}` is not a cascade target: use \"none\", \"refresh-tokens\", \"access-tokens\" or \"grant\" (or true / false)"
                        ))
                    })
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for RevokeCascade {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match CascadeValue::deserialize(d)? {
            CascadeValue::Target(t) => Ok(t),
            CascadeValue::Bool(_) => Err(serde::de::Error::custom(
                "a boolean means different targets for different knobs: name the target",
            )),
        }
    }
}

/// One of the refusals of a refresh whose order differs between servers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OrderedCheck {
    /// The requested scope is refused (`invalid_scope`, RFC 6749 §6).
    Scope,
    /// The token was consumed by a rotation and is outside any grace (RFC 9700 §4.14.2).
    Reuse,
    /// The token is past a deadline (RFC 6749 §5.2).
    Expiry,
}

impl OrderedCheck {
    /// The name used in policy files.
    pub const fn name(self) -> &'static str {
        match self {
            OrderedCheck::Scope => "scope",
            OrderedCheck::Reuse => "reuse",
            OrderedCheck::Expiry => "expiry",
        }
    }

    fn parse(text: &str) -> Option<OrderedCheck> {
        [
            OrderedCheck::Scope,
            OrderedCheck::Reuse,
            OrderedCheck::Expiry,
        ]
        .into_iter()
        .find(|c| c.name() == text)
    }
}

/// The order in which a server checks the scope, reuse and expiry of a refresh: when several
/// refusals apply, the first in this order is the answer (and only a reuse that wins revokes
/// the family under reuse detection). Client authentication, the token's client and its
/// revocation come before all three.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CheckOrder([OrderedCheck; 3]);

impl CheckOrder {
    /// `"reuse-before-expiry"`: a consumed token is reuse even when expired (Ory Hydra).
    pub const REUSE_BEFORE_EXPIRY: CheckOrder = CheckOrder([
        OrderedCheck::Reuse,
        OrderedCheck::Expiry,
        OrderedCheck::Scope,
    ]);
    /// `"expiry-before-reuse"`: an expired token is refused as expired, reuse is only
    /// detected on unexpired tokens.
    pub const EXPIRY_BEFORE_REUSE: CheckOrder = CheckOrder([
        OrderedCheck::Expiry,
        OrderedCheck::Reuse,
        OrderedCheck::Scope,
    ]);

    /// Every order a server can take.
    pub const ALL: [CheckOrder; 6] = {
        use OrderedCheck::{Expiry as E, Reuse as R, Scope as S};
        [
            CheckOrder([R, E, S]),
            CheckOrder([E, R, S]),
            CheckOrder([S, R, E]),
            CheckOrder([S, E, R]),
            CheckOrder([R, S, E]),
            CheckOrder([E, S, R]),
        ]
    };

    /// The order naming `checks`, if it names each check once.
    pub fn new(checks: [OrderedCheck; 3]) -> Option<CheckOrder> {
        let o = CheckOrder(checks);
        CheckOrder::ALL.contains(&o).then_some(o)
    }

    /// The checks, first first.
    pub const fn checks(self) -> [OrderedCheck; 3] {
        self.0
    }

    /// Whether `a` is checked before `b`.
    pub fn before(self, a: OrderedCheck, b: OrderedCheck) -> bool {
        let at = |c| self.0.iter().position(|x| *x == c);
        at(a) < at(b)
    }

    /// The first check in this order that `applies`: the refusal the server answers.
    pub fn first(self, applies: impl Fn(OrderedCheck) -> bool) -> Option<OrderedCheck> {
        self.0.into_iter().find(|c| applies(*c))
    }

    /// The name of an order older policy files could give.
    pub fn legacy_name(self) -> Option<&'static str> {
        if self == CheckOrder::REUSE_BEFORE_EXPIRY {
            Some("reuse-before-expiry")
        } else if self == CheckOrder::EXPIRY_BEFORE_REUSE {
            Some("expiry-before-reuse")
        } else {
            None
        }
    }
}

/// As written in a policy file: `"reuse-before-expiry"`, or `["scope", "reuse", "expiry"]`.
impl fmt::Display for CheckOrder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.legacy_name() {
            Some(n) => write!(f, "\"{n}\""),
            None => {
                let names: Vec<String> =
                    self.0.iter().map(|c| format!("\"{}\"", c.name())).collect();
                write!(f, "[{}]", names.join(", "))
            }
        }
    }
}

impl Serialize for CheckOrder {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.legacy_name() {
            Some(n) => s.serialize_str(n),
            None => s.collect_seq(self.0.iter().map(|c| c.name())),
        }
    }
}

const ORDER_HELP: &str = "use \"reuse-before-expiry\", \"expiry-before-reuse\", or an array naming \"scope\", \"reuse\" and \"expiry\" once each, like [\"scope\", \"reuse\", \"expiry\"]";

impl<'de> Deserialize<'de> for CheckOrder {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = CheckOrder;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(ORDER_HELP)
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<CheckOrder, E> {
                match v.trim() {
                    "reuse-before-expiry" => Ok(CheckOrder::REUSE_BEFORE_EXPIRY),
                    "expiry-before-reuse" => Ok(CheckOrder::EXPIRY_BEFORE_REUSE),
                    _ => Err(E::custom(format!(
                        "`{v}` is not a check order: {ORDER_HELP}"
                    ))),
                }
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<CheckOrder, A::Error> {
                use serde::de::Error;
                let mut got: Vec<OrderedCheck> = Vec::new();
                while let Some(name) = seq.next_element::<String>()? {
                    let c = OrderedCheck::parse(name.trim()).ok_or_else(|| {
                        A::Error::custom(format!(
                            "`{name}` is not a check: name \"scope\", \"reuse\" and \"expiry\""
                        ))
                    })?;
                    if got.contains(&c) {
                        return Err(A::Error::custom(format!(
                            "`{name}` is named twice: name \"scope\", \"reuse\" and \"expiry\" once each"
                        )));
                    }
                    got.push(c);
                }
                match <[OrderedCheck; 3]>::try_from(got) {
                    Ok(checks) => CheckOrder::new(checks)
                        .ok_or_else(|| A::Error::custom(ORDER_HELP)),
                    Err(got) => Err(A::Error::custom(format!(
                        "names {} of the three checks: name \"scope\", \"reuse\" and \"expiry\" once each",
                        got.len()
                    ))),
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// Where a refresh token's lifetime (`refresh_ttl`) starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RefreshTtlAnchor {
    /// At its issue.
    Issue,
    /// At the expiry of the access token issued with it: `access_ttl + refresh_ttl` from its
    /// issue (django-oauth-toolkit).
    AccessExpiry,
}

/// Which access tokens a successful refresh ends besides issuing a new one. RFC 6749 §6
/// says nothing of the old access token: a server may keep it until its expiry or end it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RefreshEndsAccess {
    /// None: every access token lives until its expiry or a revocation.
    None,
    /// The access tokens issued with the presented refresh token: those of the response
    /// that issued it (the code exchange, or the refresh that rotated to it), and, without
    /// rotation, those of earlier refreshes with it (django-oauth-toolkit). A grace reuse
    /// presents a consumed token whose access tokens its first refresh already ended.
    Presented,
}

impl RefreshEndsAccess {
    /// The name used in policy files.
    pub const fn name(self) -> &'static str {
        match self {
            RefreshEndsAccess::None => "none",
            RefreshEndsAccess::Presented => "presented",
        }
    }
}

impl fmt::Display for RefreshEndsAccess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Whose presentation of a consumed refresh token reuse detection acts on (RFC 9700
/// §4.14.2: the server "cannot determine which party submitted the invalid refresh token",
/// so any presentation of an invalidated one tells of a breach; RFC 6749 §10.4 and §5.2
/// only require that the token is not honoured for another client).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReusePresenter {
    /// The token's own client: another client's presentation is refused as another client's
    /// token and changes nothing.
    Owner,
    /// Any authenticated client: another client presenting a token its owner would have had
    /// refused as reuse is refused as another client's token, and the owner's family is
    /// revoked as for the owner's replay (django-oauth-toolkit looks the token up and runs
    /// its reuse protection before it compares the clients). Without `reuse_detection` it
    /// has no effect, as `reuse_detection` has none without rotation: a policy may hold it
    /// (so inference can set either knob in either order), and nothing is revoked.
    AnyClient,
}

impl ReusePresenter {
    /// The name used in policy files.
    pub const fn name(self) -> &'static str {
        match self {
            ReusePresenter::Owner => "owner",
            ReusePresenter::AnyClient => "any-client",
        }
    }
}

impl fmt::Display for ReusePresenter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct K {
        c: Option<CascadeValue>,
        o: Option<CheckOrder>,
        a: Option<RefreshTtlAnchor>,
        e: Option<RefreshEndsAccess>,
        r: Option<ReusePresenter>,
    }

    fn parse(text: &str) -> Result<K, String> {
        toml::from_str(text).map_err(|e| e.message().to_string())
    }

    #[test]
    fn cascade_values_keep_the_old_booleans_and_name_the_targets() {
        let t = |text: &str| parse(text).map(|k| k.c);
        assert_eq!(t("c = true"), Ok(Some(CascadeValue::Bool(true))));
        assert_eq!(
            t("c = \"access-tokens\""),
            Ok(Some(CascadeValue::Target(RevokeCascade::AccessTokens)))
        );
        let err = t("c = \"family\"").unwrap_err();
        assert!(err.contains("`family` is not a cascade target"), "{err}");
        assert_eq!(
            CascadeValue::Bool(true).resolve(RevokeCascade::RefreshTokens),
            RevokeCascade::RefreshTokens
        );
        assert_eq!(
            CascadeValue::Bool(false).resolve(RevokeCascade::Grant),
            RevokeCascade::None
        );
    }

    #[test]
    fn check_orders_are_the_old_names_or_any_permutation() {
        let o = |text: &str| parse(text).map(|k| k.o);
        assert_eq!(
            o("o = \"expiry-before-reuse\""),
            Ok(Some(CheckOrder::EXPIRY_BEFORE_REUSE))
        );
        assert_eq!(
            o("o = [\"reuse\", \"expiry\", \"scope\"]"),
            Ok(Some(CheckOrder::REUSE_BEFORE_EXPIRY))
        );
        let sre = o("o = [\"scope\", \"reuse\", \"expiry\"]")
            .unwrap()
            .unwrap();
        assert!(sre.before(OrderedCheck::Scope, OrderedCheck::Reuse));
        assert_eq!(sre.legacy_name(), None);
        for (text, fault) in [
            ("o = [\"scope\", \"reuse\"]", "names 2 of the three"),
            (
                "o = [\"scope\", \"scope\", \"expiry\"]",
                "`scope` is named twice",
            ),
            (
                "o = [\"scope\", \"replay\", \"expiry\"]",
                "`replay` is not a check",
            ),
            ("o = \"scope-first\"", "`scope-first` is not a check order"),
        ] {
            let err = o(text).unwrap_err();
            assert!(err.contains(fault), "{text}: {err}");
        }
        assert_eq!(
            CheckOrder::ALL
                .iter()
                .collect::<std::collections::HashSet<_>>()
                .len(),
            6
        );
    }

    #[test]
    fn orders_print_as_they_are_written() {
        let t = |o: CheckOrder| toml::to_string(&std::collections::BTreeMap::from([("o", o)]));
        assert_eq!(
            t(CheckOrder::EXPIRY_BEFORE_REUSE).unwrap(),
            "o = \"expiry-before-reuse\"\n"
        );
        let sre = CheckOrder::new([
            OrderedCheck::Scope,
            OrderedCheck::Reuse,
            OrderedCheck::Expiry,
        ])
        .unwrap();
        assert_eq!(t(sre).unwrap(), "o = [\"scope\", \"reuse\", \"expiry\"]\n");
    }

    #[test]
    fn the_anchor_names_its_values() {
        assert_eq!(
            parse("a = \"access-expiry\"").unwrap().a,
            Some(RefreshTtlAnchor::AccessExpiry)
        );
        let err = parse("a = \"expiry\"").unwrap_err();
        assert!(err.contains("`expiry`"), "{err}");
    }

    #[test]
    fn what_a_refresh_ends_names_its_values() {
        assert_eq!(
            parse("e = \"presented\"").unwrap().e,
            Some(RefreshEndsAccess::Presented)
        );
        assert_eq!(
            parse("e = \"none\"").unwrap().e,
            Some(RefreshEndsAccess::None)
        );
        let err = parse("e = \"previous\"").unwrap_err();
        assert!(err.contains("`previous`"), "{err}");
    }

    #[test]
    fn whose_reuse_counts_names_its_values() {
        assert_eq!(
            parse("r = \"any-client\"").unwrap().r,
            Some(ReusePresenter::AnyClient)
        );
        assert_eq!(
            parse("r = \"owner\"").unwrap().r,
            Some(ReusePresenter::Owner)
        );
        let err = parse("r = \"anyone\"").unwrap_err();
        assert!(err.contains("`anyone`"), "{err}");
    }
}
