//! The authorization-code exchange's decision (RFC 6749 §4.1.3): from the code's row and
//! the token request, refuse, refuse as a replay (RFC 6749 §4.1.2: revoking what the code
//! issued, when the policy says so), or issue a grant with its first tokens.
//!
//! The order of checks: the code exists; it was issued to this client; it was not used
//! (`code-replay` lets it be used again); it has not expired; `redirect_uri` matches
//! (§4.1.3); the PKCE verifier matches its S256 challenge (RFC 7636 §4.6).

use tokenlife_model::policy::RefreshEndsAccess;
use tokenlife_model::Policy;

use super::{plus, refresh_deadline, Issued, Refusal};
use crate::clock::UnixTime;
use crate::defects::{Defect, Defects};
use crate::scope::OFFLINE_ACCESS;
use crate::secret::{s256_challenge, Secret, SecretExt as _};
use crate::store::{AccessRow, ClientId, CodeRow, GrantId, GrantRow, RefreshRow, RtStatus};

/// A token request with `grant_type=authorization_code`, from an authenticated client.
#[derive(Debug, Clone, Copy)]
pub struct CodeRequest<'a> {
    /// The client that asked.
    pub client_id: &'a str,
    /// The client's registered redirect URI.
    pub registered_redirect_uri: &'a str,
    /// The `redirect_uri` parameter, if sent.
    pub redirect_uri: Option<&'a str>,
    /// The `code_verifier` parameter, if sent.
    pub verifier: Option<&'a str>,
    /// The thumbprint of the key of the request's DPoP proof, for a client that uses DPoP
    /// (RFC 9449 §5): the grant and its tokens are bound to it.
    pub dpop_jkt: Option<&'a str>,
}

/// New values an exchange may hand out, made by the caller.
#[derive(Debug, Clone)]
pub struct NewGrant {
    /// The grant's id.
    pub grant_id: GrantId,
    /// The access token.
    pub access: Secret,
    /// The refresh token, issued unless the policy wants `offline_access` and it is missing.
    pub refresh: Secret,
}

/// A used code presented again: refused, and what it issued revoked if the policy says so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replay {
    /// Revoke the grant the code's first exchange created.
    pub revoke: bool,
    /// The answer.
    pub error: Refusal,
}

/// What an exchange does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeDecision {
    /// Refuse.
    Refuse(Refusal),
    /// The code was already used.
    Replay(Replay),
    /// Mark the code used (compare-and-set), then store the grant and its tokens.
    Issue(Box<CodePlan>),
}

/// A successful exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodePlan {
    /// Mark the code used only if it is unused (off under `code-replay`).
    pub compare: bool,
    /// What a lost compare-and-set means: the code was used meanwhile.
    pub on_lost_race: Replay,
    /// The new grant.
    pub grant: GrantRow,
    /// Its access token.
    pub access: AccessRow,
    /// Its refresh token, if one is issued.
    pub refresh: Option<RefreshRow>,
    /// The answer once it committed.
    pub issued: Issued,
}

/// RFC 7636 §4.1: 43 to 128 characters of `[A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~"`.
pub fn pkce_syntax_ok(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// RFC 6749 §4.1.2: a used code is refused, and what it issued revoked when the policy says so.
pub fn replay(policy: &Policy) -> Replay {
    Replay {
        revoke: policy.code_replay_revokes,
        error: Refusal::invalid_grant("the authorization code was already used"),
    }
}

/// Decides an exchange of the code `row` (as read) at `now`.
pub fn decide_code_exchange(
    policy: &Policy,
    defects: &Defects,
    row: Option<&CodeRow>,
    request: CodeRequest<'_>,
    new: NewGrant,
    now: UnixTime,
) -> CodeDecision {
    let refuse = CodeDecision::Refuse;
    let Some(row) = row else {
        return refuse(Refusal::invalid_grant("unknown authorization code"));
    };
    if row.client_id != *request.client_id {
        return refuse(Refusal::invalid_grant(
            "the authorization code was issued to another client",
        ));
    }
    let replayable = defects.has(Defect::CodeReplay);
    if row.used && !replayable {
        return CodeDecision::Replay(replay(policy));
    }
    if now >= row.expires_at {
        return refuse(Refusal::invalid_grant("the authorization code expired"));
    }
    if !row.redirect_uri.is_empty() {
        match request.redirect_uri {
            None => {
                return refuse(Refusal::invalid_request(
                    "redirect_uri is required: the authorization request included it",
                ))
            }
            Some(r) if r != row.redirect_uri => {
                return refuse(Refusal::invalid_grant(
                    "redirect_uri does not match the authorization request",
                ))
            }
            Some(_) => {}
        }
    } else if request
        .redirect_uri
        .is_some_and(|r| r != request.registered_redirect_uri)
    {
        return refuse(Refusal::invalid_grant(
            "redirect_uri does not match the registered one",
        ));
    }
    match (&row.code_challenge, request.verifier) {
        (Some(_), None) => return refuse(Refusal::invalid_grant("code_verifier is missing")),
        (None, Some(_)) => {
            // RFC 9700 §2.1.1: a verifier without a challenge is a downgrade attempt.
            return refuse(Refusal::invalid_grant(
                "code_verifier sent, but the authorization request had no code_challenge",
            ));
        }
        (Some(challenge), Some(v)) => {
            if !pkce_syntax_ok(v) || !Secret::new(s256_challenge(v)).ct_eq(challenge) {
                return refuse(Refusal::invalid_grant(
                    "code_verifier does not match the code_challenge",
                ));
            }
        }
        (None, None) => {}
    }
    let scope = row.scope.clone();
    let client_id = ClientId::from(request.client_id);
    let grant = GrantRow {
        id: new.grant_id,
        client_id: client_id.clone(),
        subject: row.subject.clone(),
        scope: scope.clone(),
        created_at: now,
        cap_at: plus(now, policy.absolute_cap),
        revoked: false,
        dpop_jkt: request.dpop_jkt.map(str::to_string),
    };
    let access = AccessRow {
        hash: new.access.digest(),
        grant_id: grant.id.clone(),
        client_id: client_id.clone(),
        scope: scope.clone(),
        expires_at: now + i64::from(policy.access_ttl.get()),
        revoked: false,
        refresh_hash: None,
        // Bound to the key the exchange proved, if it proved one (RFC 9449 §5).
        dpop_jkt: request.dpop_jkt.map(str::to_string),
    };
    let issue_refresh = scope.contains(OFFLINE_ACCESS) || !policy.offline_access_required;
    // Under `refresh_ends_access = "presented"` the first refresh ends this access token.
    let access = AccessRow {
        refresh_hash: (issue_refresh && policy.refresh_ends_access == RefreshEndsAccess::Presented)
            .then(|| new.refresh.digest()),
        ..access
    };
    let refresh = issue_refresh.then(|| RefreshRow {
        hash: new.refresh.digest(),
        grant_id: grant.id.clone(),
        client_id,
        scope: scope.clone(),
        issued_at: now,
        expires_at: refresh_deadline(policy, now),
        idle_deadline: plus(now, policy.idle_timeout),
        status: RtStatus::Active,
        consumed_at: None,
        reuse_count: 0,
        successor_hash: None,
    });
    CodeDecision::Issue(Box::new(CodePlan {
        compare: !replayable,
        on_lost_race: replay(policy),
        grant,
        access,
        refresh,
        issued: Issued {
            access: new.access,
            expires_in: i64::from(policy.access_ttl.get()),
            refresh: issue_refresh.then_some(new.refresh),
            scope,
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;
    use crate::secret::TokenHash;

    /// A PKCE verifier of valid syntax.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

    fn code(f: impl FnOnce(&mut CodeRow)) -> Option<CodeRow> {
        let mut row = CodeRow {
            hash: TokenHash::of("code"),
            client_id: ClientId::from("a"),
            subject: "alice".into(),
            redirect_uri: "https://a.example/cb".into(),
            scope: scope("read offline_access"),
            code_challenge: Some(s256_challenge(VERIFIER)),
            expires_at: NOW + 60,
            used: false,
            grant_id: None,
        };
        f(&mut row);
        Some(row)
    }

    fn render(d: &CodeDecision) -> String {
        match d {
            CodeDecision::Refuse(Refusal::OAuth(e)) => format!(
                "{} {} ({})",
                e.status.as_u16(),
                e.code.as_str(),
                e.description
            ),
            CodeDecision::Refuse(r) => refusal(r),
            CodeDecision::Replay(r) => format!("replay{}", if r.revoke { " +revoke" } else { "" }),
            CodeDecision::Issue(p) => {
                let mut s = format!("issue at=[{}]", p.issued.scope);
                assert_eq!(p.refresh.is_some(), p.issued.refresh.is_some());
                s += if p.refresh.is_some() {
                    " +rt"
                } else {
                    " no rt"
                };
                if let Some(cap) = p.grant.cap_at {
                    s += &format!(" cap=+{}", cap - NOW);
                }
                if !p.compare {
                    s += " +no-compare";
                }
                assert_eq!(p.grant.id, GrantId::from("g-new"));
                assert_eq!(p.access.grant_id, p.grant.id);
                assert_eq!(p.access.expires_at, NOW + p.issued.expires_in);
                s
            }
        }
    }

    /// (case, policy, defects, the code, caller, redirect_uri, code_verifier, expected decision)
    type Row = (
        &'static str,
        Policy,
        Vec<Defect>,
        Option<CodeRow>,
        &'static str,
        Option<&'static str>,
        Option<&'static str>,
        &'static str,
    );

    #[test]
    fn the_code_exchange_table() {
        use Defect::*;
        let cb = Some("https://a.example/cb");
        let v = Some(VERIFIER);
        #[rustfmt::skip]
        let table: Vec<Row> = vec![
            ("unknown code", profile("bcp"), vec![], None, "a", cb, v, "400 invalid_grant (unknown authorization code)"),
            ("another client's code", profile("bcp"), vec![], code(|_| {}), "b", cb, v,
                "400 invalid_grant (the authorization code was issued to another client)"),
            ("an exchange", profile("bcp"), vec![], code(|_| {}), "a", cb, v, "issue at=[offline_access read] +rt"),
            ("a used code: replay revokes", profile("bcp"), vec![], code(|c| c.used = true), "a", cb, v, "replay +revoke"),
            ("a used code: replay without revocation", profile("rfc6749"), vec![], code(|c| c.used = true), "a", cb, v, "replay"),
            ("a used code, code-replay", profile("bcp"), vec![CodeReplay], code(|c| c.used = true), "a", cb, v,
                "issue at=[offline_access read] +rt +no-compare"),
            ("an expired code", profile("bcp"), vec![], code(|c| c.expires_at = NOW), "a", cb, v,
                "400 invalid_grant (the authorization code expired)"),
            ("redirect_uri missing", profile("bcp"), vec![], code(|_| {}), "a", None, v,
                "400 invalid_request (redirect_uri is required: the authorization request included it)"),
            ("redirect_uri differs", profile("bcp"), vec![], code(|_| {}), "a", Some("https://evil.example/cb"), v,
                "400 invalid_grant (redirect_uri does not match the authorization request)"),
            ("no redirect_uri in the request: the registered one may be sent", profile("bcp"), vec![],
                code(|c| c.redirect_uri.clear()), "a", Some("https://registered.example/cb"), v, "issue at=[offline_access read] +rt"),
            ("no redirect_uri in the request: another one is refused", profile("bcp"), vec![],
                code(|c| c.redirect_uri.clear()), "a", cb, v, "400 invalid_grant (redirect_uri does not match the registered one)"),
            ("verifier missing", profile("bcp"), vec![], code(|_| {}), "a", cb, None, "400 invalid_grant (code_verifier is missing)"),
            ("verifier without a challenge", profile("bcp"), vec![], code(|c| c.code_challenge = None), "a", cb, v,
                "400 invalid_grant (code_verifier sent, but the authorization request had no code_challenge)"),
            ("neither verifier nor challenge", profile("bcp"), vec![], code(|c| c.code_challenge = None), "a", cb, None,
                "issue at=[offline_access read] +rt"),
            ("a wrong verifier", profile("bcp"), vec![], code(|_| {}), "a", cb, Some("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"),
                "400 invalid_grant (code_verifier does not match the code_challenge)"),
            ("a verifier of bad syntax", profile("bcp"), vec![], code(|c| c.code_challenge = Some(s256_challenge("short"))), "a", cb, Some("short"),
                "400 invalid_grant (code_verifier does not match the code_challenge)"),
            ("offline_access required and asked for", profile("strict"), vec![], code(|_| {}), "a", cb, v,
                "issue at=[offline_access read] +rt cap=+900"),
            ("offline_access required and missing", profile("strict"), vec![], code(|c| c.scope = scope("read")), "a", cb, v,
                "issue at=[read] no rt cap=+900"),
            ("offline_access not required", profile("bcp"), vec![], code(|c| c.scope = scope("read")), "a", cb, v,
                "issue at=[read] +rt"),
        ];
        for (name, policy, d, row, client, redirect_uri, verifier, expected) in table {
            let request = CodeRequest {
                client_id: client,
                registered_redirect_uri: "https://registered.example/cb",
                redirect_uri,
                verifier,
                dpop_jkt: None,
            };
            let new = NewGrant {
                grant_id: GrantId::from("g-new"),
                access: Secret::new("AT"),
                refresh: Secret::new("RT"),
            };
            let got = decide_code_exchange(&policy, &defects(&d), row.as_ref(), request, new, NOW);
            assert_eq!(render(&got), expected, "{name}");
        }
    }

    #[test]
    fn pkce_verifiers_have_43_to_128_unreserved_characters() {
        assert!(pkce_syntax_ok(VERIFIER));
        assert!(!pkce_syntax_ok("short"));
        assert!(!pkce_syntax_ok(&"a".repeat(129)));
        assert!(pkce_syntax_ok(&"a".repeat(128)));
        assert!(!pkce_syntax_ok(&format!("{}+", "a".repeat(42))));
    }
}
