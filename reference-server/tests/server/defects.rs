//! Each injectable defect shows its symptom of `shared/defects.md` over HTTP, and the
//! correct server does not.

use axum::http::StatusCode;
use tokenlife_server::{Defect, Defects};

use crate::common::*;
#[allow(unused_imports)] // Each is called by name in `defect_tests!` below.
use crate::dpop_defects::*;

async fn srv(p: &str, d: Option<Defect>) -> Srv {
    let defects = d.map(Defects::from).unwrap_or_default();
    Srv::with(profile(p), defects, "sqlite::memory:").await
}

/// A server under one of the deep defects' policy files (`reference-server/policies/`).
async fn srv_policy(toml: &str, d: Option<Defect>) -> Srv {
    let defects = d.map(Defects::from).unwrap_or_default();
    Srv::with(policy(toml), defects, "sqlite::memory:").await
}

async fn replay_accepted(d: Option<Defect>) -> bool {
    let s = srv("bcp", d).await;
    let t0 = s.login(&A, FULL).await;
    tokens(&s.refresh(&A, t0.rt(), None).await);
    s.refreshes(&A, t0.rt()).await
}

async fn no_family_revocation(d: Option<Defect>) -> bool {
    let s = srv("bcp", d).await;
    let t0 = s.login(&A, FULL).await;
    let t1 = tokens(&s.refresh(&A, t0.rt(), None).await);
    assert_invalid_grant(&s.refresh(&A, t0.rt(), None).await);
    s.refreshes(&A, t1.rt()).await
}

async fn revoke_keeps_access(d: Option<Defect>) -> bool {
    let s = srv("bcp", d).await;
    let t = s.login(&A, FULL).await;
    assert_eq!(s.revoke(&A, t.rt(), None).await.status, StatusCode::OK);
    assert_invalid_grant(&s.refresh(&A, t.rt(), None).await);
    s.works(&t.access).await
}

async fn revoke_too_much(d: Option<Defect>) -> bool {
    let s = srv("bcp", d).await;
    let a = s.login(&A, FULL).await;
    let b = s.login(&B, FULL).await;
    assert_eq!(s.revoke(&A, a.rt(), None).await.status, StatusCode::OK);
    !s.works(&b.access).await
}

async fn replay_answer(d: Option<Defect>) -> Resp {
    let s = srv("bcp", d).await;
    let t0 = s.login(&A, FULL).await;
    tokens(&s.refresh(&A, t0.rt(), None).await);
    s.refresh(&A, t0.rt(), None).await
}

async fn wrong_error_code(d: Option<Defect>) -> bool {
    replay_answer(d).await.error().as_deref() != Some("invalid_grant")
}

async fn wrong_status(d: Option<Defect>) -> bool {
    replay_answer(d).await.status != StatusCode::BAD_REQUEST
}

async fn cross_client(d: Option<Defect>) -> bool {
    let s = srv("bcp", d).await;
    let a = s.login(&A, FULL).await;
    s.refreshes(&B, a.rt()).await
}

async fn scope_widening(d: Option<Defect>) -> bool {
    let s = srv("bcp", d).await;
    let t = s.login(&A, "offline_access read").await;
    s.refresh(&A, t.rt(), Some("offline_access read write"))
        .await
        .status
        == StatusCode::OK
}

async fn omitted_scope_shrinks(d: Option<Defect>) -> bool {
    let s = srv("bcp", d).await;
    let t = s.login(&A, FULL).await;
    tokens(&s.refresh(&A, t.rt(), None).await).scope != FULL
}

async fn narrowing_shrinks_rt(d: Option<Defect>) -> bool {
    let s = srv("bcp", d).await;
    let t0 = s.login(&A, FULL).await;
    let t1 = tokens(&s.refresh(&A, t0.rt(), Some("offline_access read")).await);
    let r = s.refresh(&A, t1.rt(), Some(FULL)).await;
    r.status != StatusCode::OK
}

async fn expired_rt_accepted(d: Option<Defect>) -> bool {
    let s = srv("bcp", d).await;
    let t = s.login(&A, FULL).await;
    s.advance(600).await;
    s.refreshes(&A, t.rt()).await
}

async fn cap_extended(d: Option<Defect>) -> bool {
    let s = srv("strict", d).await;
    let t0 = s.login(&A, FULL).await;
    s.advance(500).await;
    let t1 = tokens(&s.refresh(&A, t0.rt(), None).await);
    s.advance(399).await;
    let t2 = tokens(&s.refresh(&A, t1.rt(), None).await);
    s.advance(1).await;
    s.refreshes(&A, t2.rt()).await
}

async fn grace_too_wide(d: Option<Defect>) -> bool {
    let s = srv("grace-same", d).await;
    let t0 = s.login(&A, FULL).await;
    let t1 = tokens(&s.refresh(&A, t0.rt(), None).await);
    tokens(&s.refresh(&A, t1.rt(), None).await);
    s.refreshes(&A, t0.rt()).await
}

async fn grace_keeps_sliding(d: Option<Defect>) -> bool {
    let s = srv("grace-new", d).await;
    let t0 = s.login(&A, FULL).await;
    tokens(&s.refresh(&A, t0.rt(), None).await);
    s.advance(20).await;
    tokens(&s.refresh(&A, t0.rt(), None).await);
    s.advance(20).await; // 40s after the rotation, 20s after the last reuse
    s.refreshes(&A, t0.rt()).await
}

/// Authorize, refresh, 20 s, reuse (inside the window), 10 s (the window closes 30 s after
/// the rotation), reuse again.
async fn grace_slides(d: Option<Defect>) -> bool {
    let s = srv("grace-same", d).await;
    let t0 = s.login(&A, FULL).await;
    tokens(&s.refresh(&A, t0.rt(), None).await);
    s.advance(20).await;
    tokens(&s.refresh(&A, t0.rt(), None).await);
    s.advance(10).await;
    s.refreshes(&A, t0.rt()).await
}

/// Authorize, refresh, reuse (the one reuse allowed, a new successor), rotate that
/// successor, reuse again.
async fn reuse_count_reset(d: Option<Defect>) -> bool {
    let s = srv_policy(include_str!("../../policies/grace-new-reuse-once.toml"), d).await;
    let t0 = s.login(&A, FULL).await;
    tokens(&s.refresh(&A, t0.rt(), None).await);
    let t2 = tokens(&s.refresh(&A, t0.rt(), None).await);
    tokens(&s.refresh(&A, t2.rt(), None).await);
    s.refreshes(&A, t0.rt()).await
}

/// Authorize, 300 s, a refresh asking a wider scope (refused), 150 s (the idle timeout of
/// 450 s since the authorization), refresh.
async fn idle_refreshed_by_refused(d: Option<Defect>) -> bool {
    let s = srv_policy(include_str!("../../policies/bcp-idle.toml"), d).await;
    let t = s.login(&A, "offline_access read").await;
    s.advance(300).await;
    assert_invalid_scope(
        &s.refresh(&A, t.rt(), Some("offline_access read write"))
            .await,
    );
    s.advance(150).await;
    s.refreshes(&A, t.rt()).await
}

/// Authorize, 20 s, refresh (the window runs to 50 s), 24 s, reuse (honoured), 1 s (the
/// presented token's lifetime of 45 s ends; its successor lives to 65 s), reuse again.
async fn expiry_only_at_rotation(d: Option<Defect>) -> bool {
    let s = srv_policy(include_str!("../../policies/grace-same-short.toml"), d).await;
    let t0 = s.login(&A, FULL).await;
    s.advance(20).await;
    tokens(&s.refresh(&A, t0.rt(), None).await);
    s.advance(24).await;
    tokens(&s.refresh(&A, t0.rt(), None).await);
    s.advance(1).await;
    s.refreshes(&A, t0.rt()).await
}

async fn revoked_still_refreshes(d: Option<Defect>) -> bool {
    let s = srv("bcp", d).await;
    let t = s.login(&A, FULL).await;
    assert_eq!(s.revoke(&A, t.rt(), None).await.status, StatusCode::OK);
    s.refreshes(&A, t.rt()).await
}

async fn revoke_wrong_response(d: Option<Defect>) -> bool {
    let s = srv("bcp", d).await;
    s.revoke(&A, "no-such-token", None).await.status != StatusCode::OK
}

async fn revoke_other_client(d: Option<Defect>) -> bool {
    let s = srv("bcp", d).await;
    let a = s.login(&A, FULL).await;
    s.revoke(&B, a.rt(), None).await;
    !s.refreshes(&A, a.rt()).await
}

async fn hint_ignored_wrongly(d: Option<Defect>) -> bool {
    let s = srv("bcp", d).await;
    let t = s.login(&A, FULL).await;
    assert_eq!(
        s.revoke(&A, t.rt(), Some("access_token")).await.status,
        StatusCode::OK
    );
    s.refreshes(&A, t.rt()).await
}

async fn introspect_stale(d: Option<Defect>) -> bool {
    let s = srv("bcp", d).await;
    let t0 = s.login(&A, FULL).await;
    tokens(&s.refresh(&A, t0.rt(), None).await);
    s.introspect(&A, t0.rt()).await.json()["active"] == true
}

async fn expired_access_accepted(d: Option<Defect>) -> bool {
    let s = srv("bcp", d).await;
    let t = s.login(&A, FULL).await;
    s.advance(300).await;
    s.resource(&t.access).await.status == StatusCode::OK
}

async fn code_replay(d: Option<Defect>) -> bool {
    let s = srv("bcp", d).await;
    let code = s.code(&A, FULL).await;
    tokens(&s.exchange(&A, &code).await);
    s.exchange(&A, &code).await.status == StatusCode::OK
}

async fn restart_forgets(d: Option<Defect>) -> bool {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", dir.path().join("t.db").display());
    let defects = d.map(Defects::from).unwrap_or_default();
    let server = tokenlife_server::start(config(profile("bcp"), defects.clone(), &db))
        .await
        .unwrap();
    let s = Srv::remote(&server);
    let t0 = s.login(&A, FULL).await;
    tokens(&s.refresh(&A, t0.rt(), None).await);
    server.shutdown().await;
    let server = tokenlife_server::start(config(profile("bcp"), defects, &db))
        .await
        .unwrap();
    let s = Srv::remote(&server);
    let shown = s.refreshes(&A, t0.rt()).await;
    server.shutdown().await;
    shown
}

/// Ten concurrent refreshes of one refresh token on a SQLite file: the statuses.
async fn race(d: Option<Defect>) -> Vec<(StatusCode, Option<String>)> {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", dir.path().join("t.db").display());
    let defects = d.map(Defects::from).unwrap_or_default();
    let s = Srv::with(profile("bcp"), defects, &db).await;
    let t0 = s.login(&A, FULL).await;
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let s = s.clone();
        let rt = t0.rt().to_string();
        set.spawn(async move {
            let r = s.refresh(&A, &rt, None).await;
            let body = (r.status == StatusCode::OK).then(|| tokens(&r).rt().to_string());
            (r.status, body.or_else(|| r.error()))
        });
    }
    let out = set.join_all().await;
    s.state.close().await;
    out
}

async fn race_double_spend(d: Option<Defect>) -> bool {
    let out = race(d).await;
    let wins: std::collections::BTreeSet<_> = out
        .iter()
        .filter(|(s, _)| *s == StatusCode::OK)
        .map(|(_, rt)| rt.clone())
        .collect();
    wins.len() > 1
}

async fn race_500(d: Option<Defect>) -> bool {
    let out = race(d).await;
    out.iter().any(|(s, _)| s.is_server_error())
}

macro_rules! defect_tests {
    ($($name:ident => $defect:expr,)*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                assert!(
                    !super::$name(None).await,
                    "the correct server shows the symptom of {}",
                    $defect
                );
                assert!(super::$name(Some($defect)).await, "{} does not show its symptom", $defect);
            }
        )*

        /// Every defect of the catalogue has a test above.
        const COVERED: &[Defect] = &[$($defect),*];
    };
}

mod symptom {
    use super::*;

    defect_tests! {
        replay_accepted => Defect::ReplayAccepted,
        race_double_spend => Defect::RaceDoubleSpend,
        race_500 => Defect::Race500,
        no_family_revocation => Defect::NoFamilyRevocation,
        revoke_keeps_access => Defect::RevokeKeepsAccess,
        revoke_too_much => Defect::RevokeTooMuch,
        wrong_error_code => Defect::WrongErrorCode,
        wrong_status => Defect::WrongStatus,
        cross_client => Defect::CrossClient,
        scope_widening => Defect::ScopeWidening,
        omitted_scope_shrinks => Defect::OmittedScopeShrinks,
        narrowing_shrinks_rt => Defect::NarrowingShrinksRt,
        expired_rt_accepted => Defect::ExpiredRtAccepted,
        cap_extended => Defect::CapExtended,
        grace_too_wide => Defect::GraceTooWide,
        grace_keeps_sliding => Defect::GraceTooWide,
        revoked_still_refreshes => Defect::RevokedStillRefreshes,
        revoke_wrong_response => Defect::RevokeWrongResponse,
        revoke_other_client => Defect::RevokeOtherClient,
        hint_ignored_wrongly => Defect::HintIgnoredWrongly,
        introspect_stale => Defect::IntrospectStale,
        expired_access_accepted => Defect::ExpiredAccessAccepted,
        code_replay => Defect::CodeReplay,
        restart_forgets => Defect::RestartForgets,
        grace_slides => Defect::GraceSlides,
        reuse_count_reset => Defect::ReuseCountReset,
        idle_refreshed_by_refused => Defect::IdleRefreshedByRefused,
        expiry_only_at_rotation => Defect::ExpiryOnlyAtRotation,
        dpop_refresh_without_proof => Defect::DpopRefreshWithoutProof,
        dpop_refresh_other_key => Defect::DpopRefreshOtherKey,
        dpop_nonce_consumes_token => Defect::DpopNonceConsumesToken,
        dpop_jti_replay => Defect::DpopJtiReplay,
        dpop_ath_unchecked => Defect::DpopAthUnchecked,
    }

    #[test]
    fn every_defect_has_a_symptom_test() {
        for d in Defect::ALL {
            assert!(COVERED.contains(&d), "{d} has no symptom test");
        }
    }
}

#[tokio::test]
async fn a_defect_changes_nothing_else() {
    // The happy path of a defective server is the happy path.
    for d in Defect::ALL {
        let s = srv("bcp", Some(d)).await;
        let t0 = s.login(&A, FULL).await;
        let t1 = tokens(&s.refresh(&A, t0.rt(), None).await);
        assert!(s.works(&t1.access).await, "{d}");
        if d != Defect::OmittedScopeShrinks {
            assert_eq!(t1.scope, FULL, "{d}");
        }
    }
}

#[tokio::test]
async fn each_deep_defect_is_its_own_bug() {
    // grace-slides keeps the successor check that grace-too-wide drops: an older generation
    // is refused.
    assert!(!grace_too_wide(Some(Defect::GraceSlides)).await);
    // No deep defect shows another deep defect's symptom.
    for d in Defect::DEEP {
        let own = |x: Defect| x == d;
        assert_eq!(grace_slides(Some(d)).await, own(Defect::GraceSlides), "{d}");
        assert_eq!(
            reuse_count_reset(Some(d)).await,
            own(Defect::ReuseCountReset),
            "{d}"
        );
        assert_eq!(
            idle_refreshed_by_refused(Some(d)).await,
            own(Defect::IdleRefreshedByRefused),
            "{d}"
        );
        assert_eq!(
            expiry_only_at_rotation(Some(d)).await,
            own(Defect::ExpiryOnlyAtRotation),
            "{d}"
        );
    }
}
