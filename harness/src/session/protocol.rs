//! The protocol checks on each answer the model allowed, beside the model's own judgement:
//! pure functions of the action, the outcome the model read, what the response showed
//! besides it ([`Protocol`]) and its grant's first answer ([`Reference`]). They return what
//! they found, in the order the session records it; the session redacts and records it.
//!
//! `Cache-Control: no-store`, `token_type`, `expires_in` (RFC 6749 §5.1), `scope` when it
//! differs from the request (§3.3), the original scope when `scope` is omitted on refresh
//! (§6), the resource's challenge (RFC 6750 §3.1), `{"active": false}` and nothing else
//! (RFC 7662 §2.2), no error body on a 200 revocation (RFC 7009 §2.2), the ID-token claims a
//! refresh keeps (OpenID Connect Core §12.2).

use std::collections::BTreeSet;

use tokenlife_model::state::Scope;
use tokenlife_model::{Action, Outcome};

use crate::checks::{self, Check, Verdict};
use crate::wire::{self, IdClaims, TokenExtras};

/// What an exchange gives the protocol checks.
pub(super) enum Protocol {
    /// A token response's extras, and the scope the request asked for (a code replay: none).
    Token(TokenExtras, Option<Scope>),
    /// Whether a resource refusal carried the right challenge.
    Resource(bool),
    /// The members of an introspection response besides `active`.
    Introspection(Vec<String>),
    /// Whether a 200 revocation carried an `error` member.
    Revocation(bool),
    /// No response (time, restart, theft).
    None,
}

/// What a grant's first token response set, for the refreshes of its family.
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct Reference {
    /// Every scope name of it (`openid` and `offline_access` included), if it sent `scope`.
    pub(super) scope_names: Option<BTreeSet<String>>,
    /// The §12.2 claims of its ID token, if it had a readable one.
    pub(super) id_claims: Option<IdClaims>,
}

/// What the checks need to know of the run.
#[derive(Clone, Copy, Debug)]
pub(super) struct Settings {
    /// The declared access-token lifetime, seconds.
    pub(super) access_ttl: u32,
    /// The clock skew allowed, seconds.
    pub(super) skew: u32,
    /// Whether a SHOULD divergence fails.
    pub(super) fail_on_should: bool,
}

/// One evaluation of a check, before the session redacts and records it.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Found {
    pub(super) check: Check,
    pub(super) verdict: Verdict,
    pub(super) message: Option<String>,
}

impl Found {
    /// `check` held when `ok`; otherwise it is `divergence`, with the message.
    fn judged(
        check: Check,
        ok: bool,
        divergence: Verdict,
        message: impl FnOnce() -> String,
    ) -> Found {
        Found {
            check,
            verdict: if ok { Verdict::Passed } else { divergence },
            message: (!ok).then(message),
        }
    }
}

/// A grant's reference: set by the authorization's token response, nothing otherwise.
pub(super) fn reference(
    action: &Action,
    outcome: &Outcome,
    protocol: &Protocol,
) -> Option<Reference> {
    match (action, outcome, protocol) {
        (Action::Authorize { .. }, Outcome::Tokens { .. }, Protocol::Token(x, _)) => {
            Some(Reference {
                scope_names: x.scope_text.as_deref().map(scope_names),
                id_claims: x.id_claims.clone().and_then(Result::ok),
            })
        }
        _ => None,
    }
}

/// The protocol checks on one allowed answer; `reference` is its family's first answer.
pub(super) fn after(
    action: &Action,
    outcome: &Outcome,
    protocol: &Protocol,
    reference: Option<&Reference>,
    settings: Settings,
) -> Vec<Found> {
    let should = |c: Check| c.verdict_on_divergence(settings.fail_on_should);
    let mut found = Vec::new();
    match protocol {
        Protocol::Token(x, requested) => {
            let Outcome::Tokens { scope, .. } = outcome else {
                return found;
            };
            found.extend(id_token_claims(
                action,
                reference.and_then(|r| r.id_claims.as_ref()),
                x.id_claims.as_ref(),
                settings.fail_on_should,
            ));
            found.extend(whole_scope(
                action,
                reference.and_then(|r| r.scope_names.as_ref()),
                x.scope_text.as_deref(),
            ));
            let c = checks::TOKEN_CACHE_CONTROL;
            found.push(Found::judged(c, x.no_store, should(c), || {
                format!("{action}: the 200 token response has no `Cache-Control: no-store`")
            }));
            let (c, wanted) = if x.dpop_sent {
                (checks::DPOP_TOKEN_TYPE, "DPoP")
            } else {
                (checks::TOKEN_TYPE, "Bearer")
            };
            let right = x
                .token_type
                .as_deref()
                .is_some_and(|t| t.eq_ignore_ascii_case(wanted));
            found.push(Found::judged(c, right, should(c), || {
                format!("{action}: token_type is {:?}, not {wanted}", x.token_type)
            }));
            let c = checks::TOKEN_EXPIRES_IN;
            match x.expires_in {
                None => found.push(Found::judged(c, false, should(c), || {
                    format!("{action}: the token response has no expires_in")
                })),
                Some(e) => {
                    found.push(Found::judged(c, true, should(c), String::new));
                    let ttl = i64::from(settings.access_ttl);
                    let ok = (e - ttl).abs() <= i64::from(settings.skew);
                    found.push(Found::judged(
                        checks::TOKEN_EXPIRES_IN_POLICY,
                        ok,
                        Verdict::Failed,
                        || format!("{action}: expires_in is {e}, the declared access_ttl is {ttl}"),
                    ));
                }
            }
            if let Some(req) = requested {
                let ok = scope == req || x.scope_present;
                found.push(Found::judged(
                    checks::TOKEN_SCOPE_PARAM,
                    ok,
                    Verdict::Failed,
                    || format!("{action}: granted \"{scope}\" instead of the requested \"{req}\" without a `scope` member"),
                ));
            }
        }
        Protocol::Resource(challenge_ok) => {
            if matches!(outcome, Outcome::Resource { ok: false }) {
                let c = checks::RESOURCE_CHALLENGE;
                found.push(Found::judged(c, *challenge_ok, should(c), || {
                    format!("{action}: the refusal is not 401 with `WWW-Authenticate: Bearer error=\"invalid_token\"`")
                }));
            }
        }
        Protocol::Introspection(extra) => {
            if matches!(outcome, Outcome::Introspection { active: false }) {
                found.push(Found::judged(
                    checks::INTROSPECT_ONLY_ACTIVE,
                    extra.is_empty(),
                    Verdict::Failed,
                    || {
                        format!(
                            "{action}: an inactive token's response also has {}",
                            extra.join(", ")
                        )
                    },
                ));
            }
        }
        Protocol::Revocation(error_body) => {
            // Only the divergence is recorded: a clean 200 is the model's check already.
            if matches!(outcome, Outcome::Revocation { ok: true }) && *error_body {
                found.push(Found::judged(
                    checks::REVOKE_OK,
                    false,
                    Verdict::Failed,
                    || format!("{action}: 200 with an `error` member"),
                ));
            }
        }
        Protocol::None => {}
    }
    found
}

/// The scope names of a `scope` member.
fn scope_names(text: &str) -> BTreeSet<String> {
    text.split_whitespace().map(String::from).collect()
}

/// The model sees two resource scopes; this compares every scope name (`openid`,
/// `offline_access` too): omitting `scope` on refresh must give the original set
/// (RFC 6749 §6). Nothing to judge without a refresh that omits `scope`, an original set
/// or a `scope` member.
pub(super) fn whole_scope(
    action: &Action,
    original: Option<&BTreeSet<String>>,
    scope_text: Option<&str>,
) -> Option<Found> {
    if !matches!(
        action,
        Action::Refresh { scope: None, .. } | Action::RefreshLost { .. }
    ) {
        return None;
    }
    let (original, got) = (original?, scope_names(scope_text?));
    let list = |v: &BTreeSet<String>| v.iter().cloned().collect::<Vec<_>>().join(" ");
    Some(Found::judged(
        checks::REFRESH_OMITTED_SCOPE,
        got == *original,
        Verdict::Failed,
        || {
            format!(
                "{action}: scope omitted, granted \"{}\" instead of the original \"{}\"",
                list(&got),
                list(original)
            )
        },
    ))
}

/// OpenID Connect Core §12.2: an ID token in a refresh response keeps the original
/// one's `iss`, `sub`, `aud`, `azp` and `auth_time` (present or absent alike). Only
/// when the server sends ID tokens; the first one of a grant is the reference. An ID token
/// that cannot be read fails whatever the reference.
pub(super) fn id_token_claims(
    action: &Action,
    original: Option<&IdClaims>,
    claims: Option<&Result<IdClaims, String>>,
    fail_on_should: bool,
) -> Option<Found> {
    let claims = claims?;
    if !matches!(action, Action::Refresh { .. } | Action::RefreshLost { .. }) {
        return None;
    }
    let c = checks::REFRESH_ID_TOKEN;
    let claims = match claims {
        Ok(claims) => claims,
        Err(e) => {
            return Some(Found::judged(c, false, Verdict::Failed, || {
                format!("{action}: {e}")
            }))
        }
    };
    let original = original?;
    let changed: Vec<String> = wire::ID_CLAIMS
        .iter()
        .filter(|k| original.get(**k) != claims.get(**k))
        .map(|k| match (original.get(*k), claims.get(*k)) {
            (Some(a), Some(b)) => format!("{k} {a} became {b}"),
            (Some(a), None) => format!("{k} {a} is missing"),
            (None, Some(b)) => format!("{k} {b} appeared"),
            (None, None) => String::new(),
        })
        .collect();
    Some(Found::judged(
        c,
        changed.is_empty(),
        c.verdict_on_divergence(fail_on_should),
        || {
            format!(
                "{action}: the refreshed ID token changed {}",
                changed.join(", ")
            )
        },
    ))
}

#[cfg(test)]
mod tests {
    use tokenlife_model::spec::{Hint, TokenRef};
    use tokenlife_model::state::{AtId, RtId};
    use tokenlife_model::{Actor, ClientType};

    use super::*;

    const SETTINGS: Settings = Settings {
        access_ttl: 60,
        skew: 2,
        fail_on_should: false,
    };

    fn refresh(scope: Option<Scope>) -> Action {
        Action::Refresh {
            by: Actor::Client(ClientType::Public),
            rt: RtId(0),
            scope,
        }
    }

    fn authorize() -> Action {
        Action::Authorize {
            client: ClientType::Public,
            scope: Scope::ALL,
            offline: true,
        }
    }

    fn tokens(scope: Scope) -> Outcome {
        Outcome::Tokens {
            access: AtId(1),
            refresh: Some(RtId(1)),
            refresh_is_new: true,
            scope,
        }
    }

    /// A token response every check is happy with.
    fn clean() -> TokenExtras {
        TokenExtras {
            token_type: Some("bearer".into()),
            expires_in: Some(61),
            no_store: true,
            scope_present: true,
            scope_text: Some("openid read write".into()),
            id_claims: None,
            dpop_sent: false,
        }
    }

    fn claims(sub: &str) -> IdClaims {
        [("iss", "https://op"), ("sub", sub)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), serde_json::Value::from(v)))
            .collect()
    }

    fn ids(found: &[Found]) -> Vec<(&str, Verdict)> {
        found.iter().map(|f| (f.check.id, f.verdict)).collect()
    }

    #[test]
    fn a_clean_token_response_passes_every_check_in_order() {
        let p = Protocol::Token(clean(), Some(Scope::ALL));
        let found = after(&authorize(), &tokens(Scope::ALL), &p, None, SETTINGS);
        assert_eq!(
            ids(&found),
            [
                (checks::TOKEN_CACHE_CONTROL.id, Verdict::Passed),
                (checks::TOKEN_TYPE.id, Verdict::Passed),
                (checks::TOKEN_EXPIRES_IN.id, Verdict::Passed),
                (checks::TOKEN_EXPIRES_IN_POLICY.id, Verdict::Passed),
                (checks::TOKEN_SCOPE_PARAM.id, Verdict::Passed),
            ]
        );
        assert!(found.iter().all(|f| f.message.is_none()));
    }

    #[test]
    fn a_refresh_is_compared_with_its_grant_first() {
        let mut x = clean();
        x.id_claims = Some(Ok(claims("u2")));
        x.scope_text = Some("read".into());
        let original = Reference {
            scope_names: Some(scope_names("openid read")),
            id_claims: Some(claims("u1")),
        };
        let p = Protocol::Token(x, Some(Scope::READ));
        let found = after(
            &refresh(None),
            &tokens(Scope::READ),
            &p,
            Some(&original),
            SETTINGS,
        );
        assert_eq!(
            ids(&found)[..3],
            [
                (checks::REFRESH_ID_TOKEN.id, Verdict::Failed),
                (checks::REFRESH_OMITTED_SCOPE.id, Verdict::Failed),
                (checks::TOKEN_CACHE_CONTROL.id, Verdict::Passed),
            ]
        );
    }

    #[test]
    fn token_response_divergences_are_named() {
        let x = TokenExtras {
            token_type: Some("mac".into()),
            expires_in: Some(3600),
            no_store: false,
            scope_present: false,
            ..clean()
        };
        let p = Protocol::Token(x, Some(Scope::ALL));
        let found = after(&refresh(None), &tokens(Scope::READ), &p, None, SETTINGS);
        let failed: Vec<&str> = found
            .iter()
            .filter(|f| f.verdict == Verdict::Failed)
            .map(|f| f.check.id)
            .collect();
        assert_eq!(
            failed,
            [
                checks::TOKEN_CACHE_CONTROL.id,
                checks::TOKEN_TYPE.id,
                checks::TOKEN_EXPIRES_IN_POLICY.id,
                checks::TOKEN_SCOPE_PARAM.id
            ]
        );
        let policy = &found[3];
        assert!(policy
            .message
            .as_deref()
            .is_some_and(|m| m.contains("expires_in is 3600, the declared access_ttl is 60")));
    }

    #[test]
    fn a_missing_expires_in_only_warns_unless_should_fails() {
        let x = TokenExtras {
            expires_in: None,
            ..clean()
        };
        let p = Protocol::Token(x, None);
        let warned = after(&refresh(None), &tokens(Scope::ALL), &p, None, SETTINGS);
        assert!(ids(&warned).contains(&(checks::TOKEN_EXPIRES_IN.id, Verdict::Warning)));
        assert!(!ids(&warned)
            .iter()
            .any(|(id, _)| *id == checks::TOKEN_EXPIRES_IN_POLICY.id));
        let strict = Settings {
            fail_on_should: true,
            ..SETTINGS
        };
        let failed = after(&refresh(None), &tokens(Scope::ALL), &p, None, strict);
        assert!(ids(&failed).contains(&(checks::TOKEN_EXPIRES_IN.id, Verdict::Failed)));
    }

    #[test]
    fn an_error_answer_to_a_token_request_is_not_checked_here() {
        let p = Protocol::Token(TokenExtras::default(), Some(Scope::ALL));
        let refused = Outcome::Error {
            status: 400,
            error: tokenlife_model::ErrorCode::InvalidGrant,
        };
        assert!(after(&refresh(None), &refused, &p, None, SETTINGS).is_empty());
    }

    #[test]
    fn resource_introspection_and_revocation_answers_are_checked() {
        let use_at = Action::UseAccess { at: AtId(0) };
        let refused = Outcome::Resource { ok: false };
        let found = after(
            &use_at,
            &refused,
            &Protocol::Resource(false),
            None,
            SETTINGS,
        );
        assert_eq!(
            ids(&found),
            [(checks::RESOURCE_CHALLENGE.id, Verdict::Warning)]
        );
        let served = Outcome::Resource { ok: true };
        assert!(after(&use_at, &served, &Protocol::Resource(false), None, SETTINGS).is_empty());

        let token = TokenRef::Refresh(RtId(0));
        let introspect = Action::Introspect { token };
        let inactive = Outcome::Introspection { active: false };
        let p = Protocol::Introspection(vec!["exp".into()]);
        let found = after(&introspect, &inactive, &p, None, SETTINGS);
        assert_eq!(
            ids(&found),
            [(checks::INTROSPECT_ONLY_ACTIVE.id, Verdict::Failed)]
        );
        assert!(found[0]
            .message
            .as_deref()
            .is_some_and(|m| m.ends_with("also has exp")));

        let revoke = Action::Revoke {
            by: Actor::Client(ClientType::Public),
            token,
            hint: Hint::None,
        };
        let ok = Outcome::Revocation { ok: true };
        let found = after(&revoke, &ok, &Protocol::Revocation(true), None, SETTINGS);
        assert_eq!(ids(&found), [(checks::REVOKE_OK.id, Verdict::Failed)]);
        assert!(after(&revoke, &ok, &Protocol::Revocation(false), None, SETTINGS).is_empty());
    }

    #[test]
    fn the_authorization_sets_the_reference() {
        let mut x = clean();
        x.id_claims = Some(Ok(claims("u1")));
        let p = Protocol::Token(x, Some(Scope::ALL));
        let r = reference(&authorize(), &tokens(Scope::ALL), &p).unwrap();
        assert_eq!(r.scope_names, Some(scope_names("read openid write")));
        assert_eq!(r.id_claims, Some(claims("u1")));
        let refused = Outcome::Error {
            status: 400,
            error: tokenlife_model::ErrorCode::InvalidScope,
        };
        assert_eq!(reference(&authorize(), &refused, &p), None);
        assert_eq!(reference(&refresh(None), &tokens(Scope::ALL), &p), None);
    }

    #[test]
    fn an_omitted_scope_must_give_every_original_name() {
        let original = scope_names("openid offline_access read");
        let same = whole_scope(
            &refresh(None),
            Some(&original),
            Some("read offline_access openid"),
        );
        assert_eq!(same.map(|f| f.verdict), Some(Verdict::Passed));
        let lost = whole_scope(&refresh(None), Some(&original), Some("read")).unwrap();
        assert_eq!(lost.verdict, Verdict::Failed);
        assert!(lost
            .message
            .unwrap()
            .contains("granted \"read\" instead of the original \"offline_access openid read\""));
        let lost_refresh = Action::RefreshLost { rt: RtId(0) };
        assert!(whole_scope(&lost_refresh, Some(&original), Some("read")).is_some());
        // Nothing to compare: a narrowed request, no original, no scope member.
        assert_eq!(
            whole_scope(&refresh(Some(Scope::READ)), Some(&original), Some("read")),
            None
        );
        assert_eq!(whole_scope(&refresh(None), None, Some("read")), None);
        assert_eq!(whole_scope(&refresh(None), Some(&original), None), None);
    }

    #[test]
    fn a_refreshed_id_token_keeps_the_original_claims() {
        let original = claims("u1");
        let kept = id_token_claims(
            &refresh(None),
            Some(&original),
            Some(&Ok(claims("u1"))),
            false,
        );
        assert_eq!(kept.map(|f| f.verdict), Some(Verdict::Passed));
        let changed = id_token_claims(
            &refresh(None),
            Some(&original),
            Some(&Ok(claims("u2"))),
            false,
        )
        .unwrap();
        assert_eq!(changed.verdict, Verdict::Failed);
        assert!(changed
            .message
            .unwrap()
            .ends_with("changed sub \"u1\" became \"u2\""));
        let mut fewer = claims("u1");
        fewer.remove("iss");
        let missing =
            id_token_claims(&refresh(None), Some(&original), Some(&Ok(fewer)), false).unwrap();
        assert!(missing
            .message
            .unwrap()
            .contains("iss \"https://op\" is missing"));
    }

    #[test]
    fn an_unreadable_id_token_fails_and_the_authorization_is_not_judged() {
        let unreadable = Err("the id_token is not a compact JWT".to_string());
        let found = id_token_claims(&refresh(None), None, Some(&unreadable), false).unwrap();
        assert_eq!(found.verdict, Verdict::Failed);
        assert_eq!(
            id_token_claims(&refresh(None), None, Some(&Ok(claims("u1"))), false),
            None
        );
        assert_eq!(
            id_token_claims(&authorize(), None, Some(&unreadable), false),
            None
        );
        assert_eq!(
            id_token_claims(&refresh(None), Some(&claims("u1")), None, false),
            None
        );
    }
}
