//! DPoP (RFC 9449) at the token endpoint, the resource, introspection and discovery, with
//! the harness's client key and proofs: every rule of sender-constrained tokens, and the
//! policies without DPoP left as they were.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use tokenlife_harness::dpop::DpopKey;
use tokenlife_model::ErrorCode;
use tokenlife_server::dpop::{IAT_WINDOW, NONCE_PERIOD};
use tokenlife_server::{Defect, Defects};

use crate::common::*;

/// A server under `p` (a built-in profile, or a policy file's text), with defect `d`.
pub async fn dpop_srv(p: &str, d: Option<Defect>) -> Srv {
    let policy = match tokenlife_model::Policy::profile(p) {
        Some(policy) => policy,
        None => policy(p),
    };
    Srv::with(
        policy,
        d.map(Defects::from).unwrap_or_default(),
        "sqlite::memory:",
    )
    .await
}

pub fn token_url(s: &Srv) -> String {
    format!("{}/token", s.state.issuer())
}

pub fn resource_url(s: &Srv) -> String {
    format!("{}/api/resource", s.state.issuer())
}

/// The nonce a client would hold now, under a policy that asks for one.
pub fn nonce(s: &Srv) -> Option<String> {
    s.state.policy().dpop_nonce.then(|| s.state.dpop_nonce())
}

/// A proof by `k` for the token endpoint, now, with `nonce`.
pub fn token_proof(s: &Srv, k: &DpopKey, nonce: Option<&str>) -> String {
    k.proof("POST", &token_url(s), s.state.now(), nonce, None)
}

pub async fn token_with(s: &Srv, c: &C, params: &[(&str, &str)], proofs: &[&str]) -> Resp {
    s.send(with_proofs(post_request(c, "/token", params), proofs))
        .await
}

pub async fn exchange_with(s: &Srv, c: &C, code: &str, proofs: &[&str]) -> Resp {
    let ru = redirect_uri(c);
    let params = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", &ru),
        ("code_verifier", VERIFIER),
    ];
    token_with(s, c, &params, proofs).await
}

/// The code flow with its exchange proving `k` (and the server's nonce if it asks for one).
pub async fn login_with(s: &Srv, c: &C, k: &DpopKey) -> Tokens {
    let code = s.code(c, FULL).await;
    let proof = token_proof(s, k, nonce(s).as_deref());
    dpop_tokens(&exchange_with(s, c, &code, &[&proof]).await)
}

pub async fn refresh_with(s: &Srv, c: &C, rt: &str, proofs: &[&str]) -> Resp {
    let params = [("grant_type", "refresh_token"), ("refresh_token", rt)];
    token_with(s, c, &params, proofs).await
}

/// A refresh proving `k` (with the current nonce under a policy that asks for one).
pub async fn refresh_as(s: &Srv, c: &C, rt: &str, k: &DpopKey) -> Resp {
    let proof = token_proof(s, k, nonce(s).as_deref());
    refresh_with(s, c, rt, &[&proof]).await
}

/// A resource call with `scheme` and, if given, a `DPoP` header.
pub async fn call(s: &Srv, scheme: &str, at: &str, proof: Option<&str>) -> Resp {
    let mut req =
        Request::get("/api/resource").header(header::AUTHORIZATION, format!("{scheme} {at}"));
    if let Some(p) = proof {
        req = req.header("dpop", p);
    }
    s.send(req.body(Body::empty()).unwrap()).await
}

/// A resource call as a DPoP client makes it: the `DPoP` scheme, a proof by `k` for the
/// resource with `ath` of `at`.
pub async fn call_with(s: &Srv, at: &str, k: &DpopKey) -> Resp {
    let proof = k.proof("GET", &resource_url(s), s.state.now(), None, Some(at));
    call(s, "DPoP", at, Some(&proof)).await
}

pub fn assert_invalid_dpop_proof(r: &Resp) {
    assert_error(r, StatusCode::BAD_REQUEST, ErrorCode::InvalidDpopProof);
}

pub fn assert_use_dpop_nonce(r: &Resp) {
    assert_error(r, StatusCode::BAD_REQUEST, ErrorCode::UseDpopNonce);
}

/// RFC 9449 §7.1: 401 with a `DPoP` challenge naming `error` and the algorithms.
pub fn assert_dpop_challenge(r: &Resp, error: &str) {
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let c = r.header(header::WWW_AUTHENTICATE).unwrap_or_default();
    assert!(c.starts_with("DPoP "), "{c}");
    assert!(c.contains(&format!("error=\"{error}\"")), "{c}");
    assert!(c.contains("algs=\"ES256\""), "{c}");
}

#[tokio::test]
async fn discovery_names_es256_only_where_a_client_type_uses_dpop() {
    for (p, listed) in [("bcp", false), ("bcp-dpop", true), ("fapi2", true)] {
        let s = dpop_srv(p, None).await;
        let v = s
            .get("/.well-known/oauth-authorization-server")
            .await
            .json();
        let algs = &v["dpop_signing_alg_values_supported"];
        if listed {
            assert_eq!(algs, &serde_json::json!(["ES256"]), "{p}");
        } else {
            assert!(algs.is_null(), "{p}: {v}");
        }
    }
}

#[tokio::test]
async fn a_dpop_client_needs_a_proof_and_gets_dpop_tokens() {
    let s = dpop_srv("bcp-dpop", None).await;
    let k = DpopKey::generate();
    // No proof: refused, and the code is still good.
    let code = s.code(&SPA, FULL).await;
    assert_invalid_dpop_proof(&exchange_with(&s, &SPA, &code, &[]).await);
    let t = dpop_tokens(&exchange_with(&s, &SPA, &code, &[&token_proof(&s, &k, None)]).await);
    assert!(t.refresh.is_some());
    // A refresh without a proof: refused; the token still refreshes with one.
    assert_invalid_dpop_proof(&refresh_with(&s, &SPA, t.rt(), &[]).await);
    let t1 = dpop_tokens(&refresh_as(&s, &SPA, t.rt(), &k).await);
    assert_eq!(
        t1.refresh, None,
        "bcp-dpop does not rotate public clients' tokens"
    );
    // A client type without DPoP: Bearer as before, a DPoP header ignored.
    let code = s.code(&A, FULL).await;
    let bearer = tokens(&exchange_with(&s, &A, &code, &[&token_proof(&s, &k, None)]).await);
    assert!(s.works(&bearer.access).await);
    tokens(&s.refresh(&A, bearer.rt(), None).await);
}

#[tokio::test]
async fn an_invalid_proof_is_refused_and_changes_nothing() {
    let s = dpop_srv("bcp-dpop", None).await;
    let k = DpopKey::generate();
    let t = login_with(&s, &SPA, &k).await;
    let now = s.state.now();
    let url = token_url(&s);
    let bad = [
        // Another endpoint, another method, outside the iat window either way.
        k.proof(
            "POST",
            &format!("{}/revoke", s.state.issuer()),
            now,
            None,
            None,
        ),
        k.proof("GET", &url, now, None, None),
        k.proof("POST", &url, now - IAT_WINDOW - 1, None, None),
        k.proof("POST", &url, now + IAT_WINDOW + 1, None, None),
        "not.a.jwt".into(),
        "garbage".into(),
    ];
    for p in &bad {
        assert_invalid_dpop_proof(&refresh_with(&s, &SPA, t.rt(), &[p]).await);
    }
    // Two proofs, each valid alone.
    let (p1, p2) = (token_proof(&s, &k, None), token_proof(&s, &k, None));
    assert_invalid_dpop_proof(&refresh_with(&s, &SPA, t.rt(), &[&p1, &p2]).await);
    // A proof sent again (its jti) is a replay (RFC 9449 §11.1).
    let once = token_proof(&s, &k, None);
    dpop_tokens(&refresh_with(&s, &SPA, t.rt(), &[&once]).await);
    assert_invalid_dpop_proof(&refresh_with(&s, &SPA, t.rt(), &[&once]).await);
    // The iat window is the server's clock: a proof made now is stale once it moves.
    let early = token_proof(&s, &k, None);
    s.advance(u32::try_from(IAT_WINDOW).unwrap() + 1).await;
    assert_invalid_dpop_proof(&refresh_with(&s, &SPA, t.rt(), &[&early]).await);
    // Nothing changed: the token refreshes with a good proof.
    dpop_tokens(&refresh_as(&s, &SPA, t.rt(), &k).await);
}

#[tokio::test]
async fn a_public_clients_refresh_token_is_bound_to_its_key() {
    let s = dpop_srv("bcp-dpop", None).await;
    let (k, thief) = (DpopKey::generate(), DpopKey::generate());
    let t = login_with(&s, &SPA, &k).await;
    assert_invalid_grant(&refresh_as(&s, &SPA, t.rt(), &thief).await);
    let t1 = dpop_tokens(&refresh_as(&s, &SPA, t.rt(), &k).await);
    assert!(call_with(&s, &t1.access, &k).await.status.is_success());
}

#[tokio::test]
async fn another_key_changes_nothing_even_where_tokens_rotate() {
    // Rotation on: another key's proof neither consumes the token nor, on a consumed one,
    // counts as a replay (no family revocation).
    let s = dpop_srv("profile = \"bcp-dpop\"\nrotation_public = \"always\"", None).await;
    let (k, thief) = (DpopKey::generate(), DpopKey::generate());
    let t0 = login_with(&s, &SPA, &k).await;
    assert_invalid_grant(&refresh_as(&s, &SPA, t0.rt(), &thief).await);
    let t1 = dpop_tokens(&refresh_as(&s, &SPA, t0.rt(), &k).await);
    // The successor inherits the binding.
    assert_invalid_grant(&refresh_as(&s, &SPA, t1.rt(), &thief).await);
    // The consumed one, with another key: refused, and the family lives on.
    assert_invalid_grant(&refresh_as(&s, &SPA, t0.rt(), &thief).await);
    let t2 = dpop_tokens(&refresh_as(&s, &SPA, t1.rt(), &k).await);
    assert!(call_with(&s, &t2.access, &k).await.status.is_success());
}

#[tokio::test]
async fn a_confidential_client_may_move_to_a_new_key_on_refresh() {
    let s = dpop_srv("fapi2", None).await;
    let (k1, k2) = (DpopKey::generate(), DpopKey::generate());
    let t = login_with(&s, &A, &k1).await;
    assert!(call_with(&s, &t.access, &k1).await.status.is_success());
    let moved = dpop_tokens(&refresh_as(&s, &A, t.rt(), &k2).await);
    // The new access token is bound to the new key, the old one still to the old key.
    assert!(call_with(&s, &moved.access, &k2).await.status.is_success());
    assert_dpop_challenge(&call_with(&s, &moved.access, &k1).await, "invalid_token");
    assert!(call_with(&s, &t.access, &k1).await.status.is_success());
    // The proof is still required.
    assert_invalid_dpop_proof(&refresh_with(&s, &A, t.rt(), &[]).await);
}

#[tokio::test]
async fn a_nonce_challenge_changes_nothing_and_the_retry_succeeds() {
    // Rotation on, so that a consumed token would show.
    let s = dpop_srv(
        &format!("{BCP_DPOP_NONCE}\nrotation_public = \"always\""),
        None,
    )
    .await;
    let k = DpopKey::generate();
    let code = s.code(&SPA, FULL).await;
    let r = exchange_with(&s, &SPA, &code, &[&token_proof(&s, &k, None)]).await;
    assert_use_dpop_nonce(&r);
    let n = r
        .header(header::HeaderName::from_static("dpop-nonce"))
        .unwrap()
        .to_string();
    let r = exchange_with(&s, &SPA, &code, &[&token_proof(&s, &k, Some(&n))]).await;
    let t0 = dpop_tokens(&r);
    assert!(r
        .header(header::HeaderName::from_static("dpop-nonce"))
        .is_some());
    // Time moves two periods: the nonce is stale; the challenge leaves the token unconsumed.
    s.advance(u32::try_from(2 * NONCE_PERIOD).unwrap()).await;
    let r = refresh_with(&s, &SPA, t0.rt(), &[&token_proof(&s, &k, Some(&n))]).await;
    assert_use_dpop_nonce(&r);
    let fresh = r
        .header(header::HeaderName::from_static("dpop-nonce"))
        .unwrap()
        .to_string();
    assert_ne!(fresh, n, "nonces rotate");
    let t1 =
        dpop_tokens(&refresh_with(&s, &SPA, t0.rt(), &[&token_proof(&s, &k, Some(&fresh))]).await);
    assert!(t1.refresh.is_some());
    // One period later the previous nonce is still accepted.
    s.advance(u32::try_from(NONCE_PERIOD).unwrap()).await;
    dpop_tokens(&refresh_with(&s, &SPA, t1.rt(), &[&token_proof(&s, &k, Some(&fresh))]).await);
    // Every token endpoint answer carries a nonce: an unrelated error, a wrong method, a
    // body too large, all made before the grant is read.
    let nonce_of = |r: &Resp| {
        r.header(header::HeaderName::from_static("dpop-nonce"))
            .map(String::from)
    };
    assert!(nonce_of(&s.get("/token").await).is_some());
    let big = s.post_raw("/token", vec![b'a'; 70 * 1024], &[]).await;
    assert_eq!(big.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(nonce_of(&big).is_some());
    // Not the other endpoints.
    assert!(nonce_of(&s.introspect(&SPA, &t1.access).await).is_none());
    let r = token_with(
        &s,
        &SPA,
        &[("grant_type", "password")],
        &[&token_proof(&s, &k, Some(&fresh))],
    )
    .await;
    assert!(r
        .header(header::HeaderName::from_static("dpop-nonce"))
        .is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nonces_and_bindings_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", dir.path().join("tokens.db").display());
    let cfg = || config(policy(BCP_DPOP_NONCE), Defects::none(), &db);
    let server = tokenlife_server::start(cfg()).await.unwrap();
    let s = Srv::remote(&server);
    let k = DpopKey::generate();
    let t = login_with(&s, &SPA, &k).await;
    let n = nonce(&s).unwrap();
    server.shutdown().await;
    let server = tokenlife_server::start(cfg()).await.unwrap();
    let s = Srv::remote(&server);
    // The URL (its port) changed with the restart; the key and the nonce did not.
    dpop_tokens(&refresh_with(&s, &SPA, t.rt(), &[&token_proof(&s, &k, Some(&n))]).await);
    // Nor did the binding, read back from the file.
    let thief = DpopKey::generate();
    let r = refresh_with(&s, &SPA, t.rt(), &[&token_proof(&s, &thief, Some(&n))]).await;
    assert_invalid_grant(&r);
    server.shutdown().await;
}

#[tokio::test]
async fn the_resource_wants_the_dpop_scheme_a_proof_its_key_and_its_ath() {
    let s = dpop_srv("bcp-dpop", None).await;
    let (k, other) = (DpopKey::generate(), DpopKey::generate());
    let t = login_with(&s, &SPA, &k).await;
    let url = resource_url(&s);
    let now = s.state.now();
    let ok = call_with(&s, &t.access, &k).await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(ok.json()["client_id"], SPA.id);
    // Sent as a Bearer token, with or without a proof.
    let proof = k.proof("GET", &url, now, None, Some(&t.access));
    assert_dpop_challenge(&call(&s, "Bearer", &t.access, None).await, "invalid_token");
    assert_dpop_challenge(
        &call(&s, "Bearer", &t.access, Some(&proof)).await,
        "invalid_token",
    );
    // Without a proof, with another key's.
    assert_dpop_challenge(&call(&s, "DPoP", &t.access, None).await, "invalid_token");
    assert_dpop_challenge(&call_with(&s, &t.access, &other).await, "invalid_token");
    // A proof for another token (ath), for another method, the same proof again.
    let wrong_ath = k.proof("GET", &url, now, None, Some("another-token"));
    assert_dpop_challenge(
        &call(&s, "DPoP", &t.access, Some(&wrong_ath)).await,
        "invalid_dpop_proof",
    );
    let no_ath = k.proof("GET", &url, now, None, None);
    assert_dpop_challenge(
        &call(&s, "DPoP", &t.access, Some(&no_ath)).await,
        "invalid_dpop_proof",
    );
    let post = k.proof("POST", &url, now, None, Some(&t.access));
    assert_dpop_challenge(
        &call(&s, "DPoP", &t.access, Some(&post)).await,
        "invalid_dpop_proof",
    );
    let once = k.proof("GET", &url, now, None, Some(&t.access));
    assert_eq!(
        call(&s, "DPoP", &t.access, Some(&once)).await.status,
        StatusCode::OK
    );
    assert_dpop_challenge(
        &call(&s, "DPoP", &t.access, Some(&once)).await,
        "invalid_dpop_proof",
    );
    // A dead token: 401 invalid_token.
    s.advance(3_600).await;
    assert_dpop_challenge(&call_with(&s, &t.access, &k).await, "invalid_token");
    // A confidential client's Bearer token under the same policy: as before.
    let bearer = s.login(&A, FULL).await;
    assert!(s.works(&bearer.access).await);
}

#[tokio::test]
async fn introspection_shows_a_bound_tokens_key() {
    let s = dpop_srv("bcp-dpop", None).await;
    let k = DpopKey::generate();
    let t = login_with(&s, &SPA, &k).await;
    let v = assert_active(&s.introspect(&SPA, &t.access).await);
    assert_eq!(v["token_type"], "DPoP");
    assert_eq!(v["cnf"]["jkt"], k.thumbprint());
    let rt = assert_active(&s.introspect(&SPA, t.rt()).await);
    assert!(rt.get("cnf").is_none(), "{rt}");
    let bearer = s.login(&A, FULL).await;
    let v = assert_active(&s.introspect(&A, &bearer.access).await);
    assert_eq!(v["token_type"], "Bearer");
    assert!(v.get("cnf").is_none(), "{v}");
}
