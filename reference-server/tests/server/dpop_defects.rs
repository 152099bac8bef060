//! The DPoP defects' symptoms (RFC 9449), each a function of the defect switched on that
//! says whether the symptom showed; `defects.rs` runs each with and without its defect.

use axum::http::{header, StatusCode};
use tokenlife_harness::dpop::DpopKey;
use tokenlife_server::Defect;

use crate::common::*;
use crate::dpop::*;

/// A public client's bound refresh token, refreshed with no proof at all.
pub async fn dpop_refresh_without_proof(d: Option<Defect>) -> bool {
    let s = dpop_srv("bcp-dpop", d).await;
    let t = login_with(&s, &SPA, &DpopKey::generate()).await;
    refresh_with(&s, &SPA, t.rt(), &[]).await.status == StatusCode::OK
}

/// A public client's bound refresh token, refreshed with a thief's key.
pub async fn dpop_refresh_other_key(d: Option<Defect>) -> bool {
    let s = dpop_srv("bcp-dpop", d).await;
    let t = login_with(&s, &SPA, &DpopKey::generate()).await;
    refresh_as(&s, &SPA, t.rt(), &DpopKey::generate())
        .await
        .status
        == StatusCode::OK
}

/// A refresh with a stale nonce, then the retry with the nonce it was given: refused.
pub async fn dpop_nonce_consumes_token(d: Option<Defect>) -> bool {
    let s = dpop_srv(BCP_DPOP_NONCE, d).await;
    let k = DpopKey::generate();
    let t = login_with(&s, &SPA, &k).await;
    let r = refresh_with(&s, &SPA, t.rt(), &[&token_proof(&s, &k, None)]).await;
    assert_use_dpop_nonce(&r);
    let n = r
        .header(header::HeaderName::from_static("dpop-nonce"))
        .unwrap()
        .to_string();
    let retry = refresh_with(&s, &SPA, t.rt(), &[&token_proof(&s, &k, Some(&n))]).await;
    retry.status != StatusCode::OK
}

/// The same proof sent twice to the token endpoint.
pub async fn dpop_jti_replay(d: Option<Defect>) -> bool {
    let s = dpop_srv("bcp-dpop", d).await;
    let k = DpopKey::generate();
    let t = login_with(&s, &SPA, &k).await;
    let proof = token_proof(&s, &k, None);
    dpop_tokens(&refresh_with(&s, &SPA, t.rt(), &[&proof]).await);
    refresh_with(&s, &SPA, t.rt(), &[&proof]).await.status == StatusCode::OK
}

/// A resource call whose proof's `ath` is another token's.
pub async fn dpop_ath_unchecked(d: Option<Defect>) -> bool {
    let s = dpop_srv("bcp-dpop", d).await;
    let k = DpopKey::generate();
    let t = login_with(&s, &SPA, &k).await;
    let proof = k.proof(
        "GET",
        &resource_url(&s),
        s.state.now(),
        None,
        Some("another-token"),
    );
    call(&s, "DPoP", &t.access, Some(&proof)).await.status == StatusCode::OK
}

#[tokio::test]
async fn a_dpop_defect_changes_nothing_else() {
    // The DPoP happy path of a server with a DPoP defect is the happy path: a bound
    // refresh with its key, the resource with a good proof, a nonce retry.
    for d in Defect::DPOP {
        for p in ["bcp-dpop", BCP_DPOP_NONCE] {
            let s = dpop_srv(p, Some(d)).await;
            let k = DpopKey::generate();
            let t = login_with(&s, &SPA, &k).await;
            let t1 = dpop_tokens(&refresh_as(&s, &SPA, t.rt(), &k).await);
            assert!(
                call_with(&s, &t1.access, &k).await.status.is_success(),
                "{d}"
            );
            assert!(s.works(&s.login(&A, FULL).await.access).await, "{d}");
        }
    }
}

#[tokio::test]
async fn each_dpop_defect_is_its_own_bug() {
    // No DPoP defect shows another DPoP defect's symptom.
    for d in Defect::DPOP {
        let own = |x: Defect| x == d;
        assert_eq!(
            dpop_refresh_without_proof(Some(d)).await,
            own(Defect::DpopRefreshWithoutProof),
            "{d}"
        );
        assert_eq!(
            dpop_refresh_other_key(Some(d)).await,
            own(Defect::DpopRefreshOtherKey),
            "{d}"
        );
        assert_eq!(
            dpop_nonce_consumes_token(Some(d)).await,
            own(Defect::DpopNonceConsumesToken),
            "{d}"
        );
        assert_eq!(
            dpop_jti_replay(Some(d)).await,
            own(Defect::DpopJtiReplay),
            "{d}"
        );
        assert_eq!(
            dpop_ath_unchecked(Some(d)).await,
            own(Defect::DpopAthUnchecked),
            "{d}"
        );
    }
}
