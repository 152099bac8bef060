//! PostgreSQL: the same guarantees with several server instances sharing one database.
//! Runs only when `TOKENLIFE_TEST_POSTGRES` is a database URL; skipped otherwise.

use axum::http::StatusCode;
use tokenlife_server::Defects;

use crate::common::*;

fn database() -> Option<String> {
    match std::env::var("TOKENLIFE_TEST_POSTGRES") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            eprintln!("note: TOKENLIFE_TEST_POSTGRES is not set; skipping the PostgreSQL test");
            None
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_sharing_postgres_give_one_success_and_see_each_others_state() {
    let Some(url) = database() else {
        return;
    };
    let cfg = || config(profile("strict"), Defects::none(), &url);
    let one = tokenlife_server::start(cfg()).await.unwrap();
    let two = tokenlife_server::start(cfg()).await.unwrap();
    let (s1, s2) = (Srv::remote(&one), Srv::remote(&two));
    let t0 = s1.login(&A, FULL).await;
    // The other instance honours it.
    assert!(s2.works(&t0.access).await);
    let mut set = tokio::task::JoinSet::new();
    for i in 0..50 {
        let s = if i % 2 == 0 { s1.clone() } else { s2.clone() };
        let rt = t0.rt().to_string();
        set.spawn(async move {
            let r = s.refresh(&A, &rt, None).await;
            if r.status != StatusCode::OK {
                assert_invalid_grant(&r);
            }
            r.status
        });
    }
    let out = set.join_all().await;
    assert_eq!(
        out.iter().filter(|s| **s == StatusCode::OK).count(),
        1,
        "{out:?}"
    );
    // Revocation on one instance is seen by the other.
    let t = s2.login(&B, FULL).await;
    s2.revoke(&B, t.rt(), None).await;
    assert_invalid_grant(&s1.refresh(&B, t.rt(), None).await);
    one.shutdown().await;
    two.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lifecycle_on_postgres() {
    let Some(url) = database() else {
        return;
    };
    let s = Srv::with(profile("grace-same"), Defects::none(), &url).await;
    let t0 = s.login(&A, FULL).await;
    let t1 = tokens(&s.refresh(&A, t0.rt(), Some("read")).await);
    assert_eq!(t1.scope, "read");
    // Grace reuse with the same successor, concurrently.
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let s = s.clone();
        let rt = t0.rt().to_string();
        set.spawn(async move { tokens(&s.refresh(&A, &rt, None).await).refresh });
    }
    for rt in set.join_all().await {
        assert_eq!(rt, t1.refresh);
    }
    assert_active(&s.introspect(&B, t1.rt()).await);
    s.advance(30).await;
    assert_invalid_grant(&s.refresh(&A, t0.rt(), None).await);
    assert!(!s.works(&t1.access).await);
    assert_inactive(&s.introspect(&B, t1.rt()).await);
    let code = s.code(&SPA, FULL).await;
    let p = tokens(&s.exchange(&SPA, &code).await);
    assert_invalid_grant(&s.exchange(&SPA, &code).await);
    assert!(!s.works(&p.access).await);
    s.state.close().await;
}
