//! Concurrent requests on one token: the compare-and-set gives exactly the outcomes the
//! policy allows (RFC 9700 §4.14.2 under races), over real sockets on a SQLite file.

use std::collections::BTreeSet;

use axum::http::StatusCode;
use tokenlife_server::Defects;

use crate::common::*;

async fn parallel_refreshes(policy_name: &str, n: usize) -> Vec<(StatusCode, Option<String>)> {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", dir.path().join("race.db").display());
    let server = tokenlife_server::start(config(profile(policy_name), Defects::none(), &db))
        .await
        .unwrap();
    let s = Srv::remote(&server);
    let t0 = s.login(&A, FULL).await;
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..n {
        let s = s.clone();
        let rt = t0.rt().to_string();
        set.spawn(async move {
            let r = s.refresh(&A, &rt, None).await;
            if r.status == StatusCode::OK {
                (r.status, Some(tokens(&r).rt().to_string()))
            } else {
                assert_invalid_grant(&r);
                (r.status, None)
            }
        });
    }
    let out = set.join_all().await;
    server.shutdown().await;
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_parallel_refreshes_of_one_token_give_exactly_one_success() {
    let out = parallel_refreshes("strict", 50).await;
    let ok = out.iter().filter(|(s, _)| *s == StatusCode::OK).count();
    assert_eq!(ok, 1, "{out:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_refreshes_under_grace_same_all_get_the_same_successor() {
    let out = parallel_refreshes("grace-same", 20).await;
    let successors: BTreeSet<_> = out.iter().map(|(_, rt)| rt.clone()).collect();
    assert_eq!(successors.len(), 1, "{out:?}");
    assert!(successors.iter().all(Option::is_some));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_exchanges_of_one_code_give_one_success() {
    let s = Srv::new(profile("rfc6749")).await;
    let code = s.code(&A, FULL).await;
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let s = s.clone();
        let code = code.clone();
        set.spawn(async move { s.exchange(&A, &code).await.status });
    }
    let out = set.join_all().await;
    assert_eq!(out.iter().filter(|s| **s == StatusCode::OK).count(), 1);
    assert!(out
        .iter()
        .all(|s| *s == StatusCode::OK || *s == StatusCode::BAD_REQUEST));
}

/// A revocation racing a rotation of the same refresh token: where the rotation won, the
/// revocation found a consumed token and must not cascade as if it had been live (here the
/// live token's cascade ends the grant's access tokens, the consumed token's nothing).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_that_lost_the_race_to_a_rotation_does_not_cascade() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", dir.path().join("race.db").display());
    let p = policy("profile = \"rfc6749\"\nrevoke_refresh_cascades = \"access-tokens\"");
    let server = tokenlife_server::start(config(p, Defects::none(), &db))
        .await
        .unwrap();
    let s = Srv::remote(&server);
    for round in 0..20 {
        let t0 = s.login(&A, FULL).await;
        let (refreshed, revoked) = tokio::join!(
            s.refresh(&A, t0.rt(), None),
            s.revoke(&A, t0.rt(), Some("refresh_token"))
        );
        assert_eq!(revoked.status, StatusCode::OK);
        if refreshed.status == StatusCode::OK {
            // The rotation came first: the revocation ended nothing.
            let t1 = tokens(&refreshed);
            assert!(s.works(&t0.access).await, "round {round}");
            assert!(s.works(&t1.access).await, "round {round}");
        } else {
            assert_invalid_grant(&refreshed);
            assert!(!s.works(&t0.access).await, "round {round}");
        }
    }
    server.shutdown().await;
}
