//! Restarts on the same SQLite file keep every answer; no token value reaches the store
//! or the logs (RFC 6749 §10.3, §10.4: tokens kept confidential).

use tokenlife_server::Defects;

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_keeps_consumed_tokens_consumed_and_live_ones_live() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", dir.path().join("tokens.db").display());
    let cfg = || config(profile("bcp"), Defects::none(), &db);
    let server = tokenlife_server::start(cfg()).await.unwrap();
    let s = Srv::remote(&server);
    let t0 = s.login(&A, FULL).await;
    let t1 = tokens(&s.refresh(&A, t0.rt(), None).await);
    let revoked = s.login(&B, FULL).await;
    s.revoke(&B, revoked.rt(), None).await;
    s.advance(100).await;
    let clock = s.state.now();
    server.shutdown().await;

    let server = tokenlife_server::start(cfg()).await.unwrap();
    let s = Srv::remote(&server);
    // The test clock resumes where it was, not at the wall time.
    assert!(s.state.now() >= clock);
    assert!(s.works(&t1.access).await);
    assert_invalid_grant(&s.refresh(&B, revoked.rt(), None).await);
    assert!(!s.works(&revoked.access).await);
    let t2 = tokens(&s.refresh(&A, t1.rt(), None).await);
    server.shutdown().await;

    let server = tokenlife_server::start(cfg()).await.unwrap();
    let s = Srv::remote(&server);
    // The consumed token is still consumed: a replay, which revokes the family.
    assert_invalid_grant(&s.refresh(&A, t1.rt(), None).await);
    assert_invalid_grant(&s.refresh(&A, t2.rt(), None).await);
    server.shutdown().await;
}

#[test]
fn no_token_value_reaches_the_store_or_the_logs() {
    let logs = capture_logs();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.db");
    let db = format!("sqlite:{}", path.display());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let secrets = rt.block_on(async {
        let s = Srv::with(profile("grace-same"), Defects::none(), &db).await;
        let code = s.code(&A, FULL).await;
        let t0 = tokens(&s.exchange(&A, &code).await);
        let t1 = tokens(&s.refresh(&A, t0.rt(), None).await);
        let t1b = tokens(&s.refresh(&A, t0.rt(), None).await);
        s.resource(&t1.access).await;
        s.introspect(&A, t1.rt()).await;
        s.revoke(&A, t1.rt(), None).await;
        s.refresh(&A, t1.rt(), None).await;
        s.state.close().await;
        vec![
            code,
            t0.access,
            t0.refresh.unwrap(),
            t1.access,
            t1.refresh.unwrap(),
            t1b.access,
            "secret-a".to_string(),
        ]
    });
    let logs = logs.text();
    assert!(
        logs.contains("refresh token grant"),
        "no logs captured: {logs}"
    );
    let mut stored = Vec::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        stored.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    assert!(stored.len() > 1000);
    let stored = String::from_utf8_lossy(&stored);
    for secret in secrets {
        assert!(!logs.contains(&secret), "a secret is in the logs");
        assert!(!stored.contains(&secret), "a secret is in the database");
    }
}
