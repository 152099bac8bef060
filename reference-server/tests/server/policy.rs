//! Every knob of the policy, over HTTP: rotation per client type, reuse detection, check
//! order, grace windows (same / new successor, max reuse), successor lifetime, absolute
//! cap, idle timeout, narrowing, and refresh-token binding, with reuse detected whoever
//! presents (RFC 6749 §6, §10.4; RFC 9700 §4.14.2).

use axum::http::StatusCode;

use crate::common::*;

#[tokio::test]
async fn bcp_rotates_and_a_replay_revokes_the_family() {
    let s = Srv::new(profile("bcp")).await;
    let t0 = s.login(&A, FULL).await;
    let t1 = tokens(&s.refresh(&A, t0.rt(), None).await);
    assert_ne!(t1.rt(), t0.rt());
    assert_eq!(t1.scope, FULL);
    assert!(s.works(&t1.access).await);
    assert_invalid_grant(&s.refresh(&A, t0.rt(), None).await);
    // The successor and every access token of the grant are dead.
    assert_invalid_grant(&s.refresh(&A, t1.rt(), None).await);
    assert!(!s.works(&t1.access).await);
    assert!(!s.works(&t0.access).await);
}

#[tokio::test]
async fn rotation_never_keeps_the_token() {
    let s = Srv::new(policy("profile = \"rfc6749\"\nrotation = \"never\"")).await;
    let t0 = s.login(&A, FULL).await;
    for _ in 0..3 {
        let t = tokens(&s.refresh(&A, t0.rt(), None).await);
        assert!(t.refresh.is_none());
        assert!(s.works(&t.access).await);
    }
}

#[tokio::test]
async fn rotation_is_per_client_type_and_any_rotates() {
    let s = Srv::new(policy(
        "profile = \"bcp\"\nrotation_public = \"always\"\nrotation_confidential = \"never\"",
    ))
    .await;
    let c = s.login(&A, FULL).await;
    assert!(tokens(&s.refresh(&A, c.rt(), None).await).refresh.is_none());
    let p = s.login(&SPA, FULL).await;
    assert!(tokens(&s.refresh(&SPA, p.rt(), None).await)
        .refresh
        .is_some());
    // `any` (oauth21's confidential clients): this server always rotates.
    let s = Srv::new(profile("oauth21")).await;
    let c = s.login(&A, FULL).await;
    let next = tokens(&s.refresh(&A, c.rt(), None).await);
    assert!(next.refresh.is_some_and(|r| r != c.rt()));
}

#[tokio::test]
async fn without_reuse_detection_a_replay_is_refused_but_the_successor_lives() {
    let s = Srv::new(policy("profile = \"bcp\"\nreuse_detection = false")).await;
    let t0 = s.login(&A, FULL).await;
    let t1 = tokens(&s.refresh(&A, t0.rt(), None).await);
    assert_invalid_grant(&s.refresh(&A, t0.rt(), None).await);
    assert!(s.works(&t1.access).await);
    assert!(s.refreshes(&A, t1.rt()).await);
}

/// A consumed token that has also expired: which check wins decides whether the replay
/// still revokes the family.
async fn consumed_and_expired_replay_revokes(order: &str) -> bool {
    let s = Srv::new(policy(&format!(
        "profile = \"bcp\"\nrefresh_ttl = \"100s\"\naccess_ttl = \"500s\"\ncheck_order = \"{order}\""
    )))
    .await;
    let t0 = s.login(&A, FULL).await;
    s.advance(50).await;
    let t1 = tokens(&s.refresh(&A, t0.rt(), None).await);
    s.advance(50).await; // t0 expired at 100; t1 lives until 150
    assert_invalid_grant(&s.refresh(&A, t0.rt(), None).await);
    !s.works(&t1.access).await
}

#[tokio::test]
async fn check_order_decides_reuse_detection_of_expired_tokens() {
    assert!(consumed_and_expired_replay_revokes("reuse-before-expiry").await);
    assert!(!consumed_and_expired_replay_revokes("expiry-before-reuse").await);
}

#[tokio::test]
async fn grace_same_returns_the_same_successor_inside_the_window() {
    let s = Srv::new(profile("grace-same")).await;
    let t0 = s.login(&A, FULL).await;
    let t1 = tokens(&s.refresh(&A, t0.rt(), None).await);
    s.advance(29).await;
    let again = tokens(&s.refresh(&A, t0.rt(), None).await);
    assert_eq!(again.refresh, t1.refresh);
    assert_ne!(again.access, t1.access);
    assert!(s.works(&again.access).await && s.works(&t1.access).await);
    // At the end of the window the replay is a reuse: the family is revoked.
    s.advance(1).await;
    assert_invalid_grant(&s.refresh(&A, t0.rt(), None).await);
    assert_invalid_grant(&s.refresh(&A, t1.rt(), None).await);
}

#[tokio::test]
async fn grace_new_mints_a_new_successor_per_reuse() {
    let s = Srv::new(profile("grace-new")).await;
    let t0 = s.login(&SPA, FULL).await;
    let t1 = tokens(&s.refresh(&SPA, t0.rt(), None).await);
    let t2 = tokens(&s.refresh(&SPA, t0.rt(), None).await);
    assert_ne!(t2.rt(), t1.rt());
    assert_ne!(t2.rt(), t0.rt());
    assert!(s.refreshes(&SPA, t2.rt()).await);
}

#[tokio::test]
async fn grace_max_reuse_counts_reuses() {
    let s = Srv::new(policy(
        "profile = \"bcp\"\ngrace_window = \"30s\"\ngrace_successor = \"new\"\ngrace_max_reuse = 1",
    ))
    .await;
    let t0 = s.login(&A, FULL).await;
    tokens(&s.refresh(&A, t0.rt(), None).await);
    tokens(&s.refresh(&A, t0.rt(), None).await);
    assert_invalid_grant(&s.refresh(&A, t0.rt(), None).await);
}

#[tokio::test]
async fn grace_covers_only_the_latest_generation() {
    let s = Srv::new(profile("grace-same")).await;
    let t0 = s.login(&A, FULL).await;
    let t1 = tokens(&s.refresh(&A, t0.rt(), None).await);
    let t2 = tokens(&s.refresh(&A, t1.rt(), None).await);
    // t0's successor t1 is consumed: t0 is no longer in grace.
    assert_invalid_grant(&s.refresh(&A, t0.rt(), None).await);
    assert!(!s.works(&t2.access).await);
}

async fn successor_alive_after_original_ttl(lifetime: &str) -> bool {
    let s = Srv::new(policy(&format!(
        "profile = \"bcp\"\nrefresh_ttl = \"100s\"\nsuccessor_lifetime = \"{lifetime}\""
    )))
    .await;
    let t0 = s.login(&A, FULL).await;
    s.advance(60).await;
    let t1 = tokens(&s.refresh(&A, t0.rt(), None).await);
    s.advance(40).await; // t = 100: t0's deadline
    s.refreshes(&A, t1.rt()).await
}

#[tokio::test]
async fn successor_lifetime_fresh_or_inherited() {
    assert!(successor_alive_after_original_ttl("fresh").await);
    assert!(!successor_alive_after_original_ttl("inherited").await);
}

#[tokio::test]
async fn refresh_tokens_die_at_their_ttl_exactly() {
    let s = Srv::new(policy("profile = \"bcp\"\nrefresh_ttl = \"100s\"")).await;
    let a = s.login(&A, FULL).await;
    let b = s.login(&A, FULL).await;
    s.advance(99).await;
    assert!(s.refreshes(&A, a.rt()).await);
    s.advance(1).await;
    assert_invalid_grant(&s.refresh(&A, b.rt(), None).await);
}

#[tokio::test]
async fn the_absolute_cap_ends_the_family() {
    // strict: refresh_ttl 600s, absolute cap 900s.
    let s = Srv::new(profile("strict")).await;
    let t0 = s.login(&A, FULL).await;
    s.advance(500).await;
    let t1 = tokens(&s.refresh(&A, t0.rt(), None).await);
    s.advance(399).await;
    let t2 = tokens(&s.refresh(&A, t1.rt(), None).await);
    s.advance(1).await; // t = 900
    assert_invalid_grant(&s.refresh(&A, t2.rt(), None).await);
}

#[tokio::test]
async fn the_idle_timeout_kills_unused_tokens_and_use_resets_it() {
    let s = Srv::new(policy("profile = \"bcp\"\nidle_timeout = \"50s\"")).await;
    let idle = s.login(&A, FULL).await;
    let used = s.login(&A, FULL).await;
    s.advance(40).await;
    let next = tokens(&s.refresh(&A, used.rt(), None).await);
    s.advance(10).await; // t = 50
    assert_invalid_grant(&s.refresh(&A, idle.rt(), None).await);
    s.advance(39).await; // t = 89: the successor was issued at 40
    assert!(s.refreshes(&A, next.rt()).await);
    // Without rotation, a refresh moves the idle deadline of the same token.
    let s = Srv::new(policy(
        "profile = \"rfc6749\"\nrotation = \"never\"\nidle_timeout = \"50s\"",
    ))
    .await;
    let t = s.login(&A, FULL).await;
    s.advance(40).await;
    assert!(s.refreshes(&A, t.rt()).await);
    s.advance(40).await;
    assert!(s.refreshes(&A, t.rt()).await);
    s.advance(50).await;
    assert_invalid_grant(&s.refresh(&A, t.rt(), None).await);
}

#[tokio::test]
async fn narrowing_allowed_narrows_only_the_access_token() {
    let s = Srv::new(profile("bcp")).await;
    let t0 = s.login(&A, FULL).await;
    let t1 = tokens(&s.refresh(&A, t0.rt(), Some("read")).await);
    assert_eq!(t1.scope, "read");
    assert_eq!(s.resource(&t1.access).await.json()["scope"], "read");
    // The new refresh token keeps the original scope (RFC 6749 §6).
    let t2 = tokens(&s.refresh(&A, t1.rt(), None).await);
    assert_eq!(t2.scope, FULL);
    let t3 = tokens(&s.refresh(&A, t2.rt(), Some(FULL)).await);
    assert_eq!(t3.scope, FULL);
}

#[tokio::test]
async fn narrowing_ignored_or_refused() {
    let s = Srv::new(policy("profile = \"bcp\"\nnarrowing = \"ignored\"")).await;
    let t0 = s.login(&A, FULL).await;
    let t1 = tokens(&s.refresh(&A, t0.rt(), Some("read")).await);
    assert_eq!(t1.scope, FULL);
    let s = Srv::new(policy("profile = \"bcp\"\nnarrowing = \"refused\"")).await;
    let t0 = s.login(&A, FULL).await;
    assert_invalid_scope(&s.refresh(&A, t0.rt(), Some("read")).await);
    // Refused before anything was consumed.
    assert!(s.refreshes(&A, t0.rt()).await);
}

#[tokio::test]
async fn widening_is_invalid_scope_and_leaves_the_token_alone() {
    for p in ["bcp", "rfc6749", "strict"] {
        let s = Srv::new(profile(p)).await;
        let t0 = s.login(&A, "offline_access read").await;
        assert_invalid_scope(
            &s.refresh(&A, t0.rt(), Some("offline_access read write"))
                .await,
        );
        assert!(s.refreshes(&A, t0.rt()).await, "{p}");
    }
}

#[tokio::test]
async fn refresh_tokens_are_bound_to_their_client() {
    let s = Srv::new(profile("bcp")).await;
    let a = s.login(&A, FULL).await;
    assert_invalid_grant(&s.refresh(&B, a.rt(), None).await);
    assert_invalid_grant(&s.refresh(&SPA, a.rt(), None).await);
    let p = s.login(&SPA, FULL).await;
    assert_invalid_grant(&s.refresh(&SPA2, p.rt(), None).await);
    assert_invalid_grant(&s.refresh(&A, p.rt(), None).await);
    // Unaffected: the owners still refresh.
    assert!(s.refreshes(&A, a.rt()).await);
    assert!(s.refreshes(&SPA, p.rt()).await);
}

/// A's RT0 rotated to RT1, then B presents the consumed RT0: whether A's family lived
/// through it (RT1 refreshes, AT1 works).
async fn owner_survives_another_clients_replay(presenter: &str) -> bool {
    let s = Srv::new(policy(&format!(
        "profile = \"bcp\"\nreuse_presenter = \"{presenter}\""
    )))
    .await;
    let t0 = s.login(&A, FULL).await;
    let t1 = tokens(&s.refresh(&A, t0.rt(), None).await);
    // B's own live token is no replay: presenting it changes nothing either way.
    let b = s.login(&B, FULL).await;
    assert_invalid_grant(&s.refresh(&A, b.rt(), None).await);
    assert!(s.works(&b.access).await);
    assert_invalid_grant(&s.refresh(&B, t0.rt(), None).await);
    let access = s.works(&t1.access).await;
    let refresh = s.refreshes(&A, t1.rt()).await;
    assert_eq!(
        access, refresh,
        "{presenter}: the family lives or dies whole"
    );
    access
}

#[tokio::test]
async fn another_clients_replay_revokes_the_owners_family_only_under_any_client() {
    assert!(owner_survives_another_clients_replay("owner").await);
    assert!(!owner_survives_another_clients_replay("any-client").await);
}

#[tokio::test]
async fn unknown_and_revoked_refresh_tokens_are_invalid_grant() {
    let s = Srv::new(profile("bcp")).await;
    assert_invalid_grant(&s.refresh(&A, "not-a-token", None).await);
    let t = s.login(&A, FULL).await;
    assert_eq!(s.revoke(&A, t.rt(), None).await.status, StatusCode::OK);
    assert_invalid_grant(&s.refresh(&A, t.rt(), None).await);
}

/// A replay of a consumed token that asks for more than the grant: whether the server looks
/// at the scope or at the reuse first decides the answer and the family's fate.
async fn widening_replay(order: &str) -> (Resp, bool) {
    let s = Srv::new(policy(&format!("profile = \"bcp\"\ncheck_order = {order}"))).await;
    let t0 = s.login(&A, "offline_access read").await;
    let t1 = tokens(&s.refresh(&A, t0.rt(), None).await);
    let answer = s
        .refresh(&A, t0.rt(), Some("offline_access read write"))
        .await;
    (answer, s.refreshes(&A, t1.rt()).await)
}

#[tokio::test]
async fn scope_before_reuse_refuses_a_widening_replay_for_its_scope() {
    let (answer, family_lives) = widening_replay("[\"scope\", \"reuse\", \"expiry\"]").await;
    assert_invalid_scope(&answer);
    assert!(family_lives);
    for order in [
        "\"reuse-before-expiry\"",
        "[\"reuse\", \"scope\", \"expiry\"]",
    ] {
        let (answer, family_lives) = widening_replay(order).await;
        assert_invalid_grant(&answer);
        assert!(!family_lives, "{order}");
    }
}

/// Whether a refresh token with a 100 s lifetime still refreshes 120 s after its issue.
async fn alive_after_120s(anchor: &str) -> bool {
    let s = Srv::new(policy(&format!(
        "profile = \"bcp\"\naccess_ttl = \"50s\"\nrefresh_ttl = \"100s\"\nrefresh_ttl_anchor = \"{anchor}\""
    )))
    .await;
    let t0 = s.login(&A, FULL).await;
    s.advance(120).await;
    let alive = s.refreshes(&A, t0.rt()).await;
    // Anchored at the access token's expiry, it dies at 50 s + 100 s.
    let t1 = s.login(&A, FULL).await;
    s.advance(150).await;
    assert_invalid_grant(&s.refresh(&A, t1.rt(), None).await);
    alive
}

#[tokio::test]
async fn refresh_ttl_anchor_counts_the_lifetime_from_the_access_tokens_expiry() {
    assert!(!alive_after_120s("issue").await);
    assert!(alive_after_120s("access-expiry").await);
}

/// Which of three access tokens work after a second refresh: the code's (issued with RT0),
/// the first refresh's and the second's. Rotating, the second refresh presents RT1; without
/// rotation, RT0 both times.
async fn access_alive_after_two_refreshes(knobs: &str) -> [bool; 3] {
    let s = Srv::new(policy(&format!("profile = \"bcp\"\n{knobs}"))).await;
    let t0 = s.login(&A, FULL).await;
    let t1 = tokens(&s.refresh(&A, t0.rt(), None).await);
    let second = t1.refresh.clone().unwrap_or_else(|| t0.rt().to_string());
    let t2 = tokens(&s.refresh(&A, &second, None).await);
    [
        s.works(&t0.access).await,
        s.works(&t1.access).await,
        s.works(&t2.access).await,
    ]
}

#[tokio::test]
async fn refresh_ends_access_presented_ends_the_access_tokens_issued_with_the_presented_token() {
    assert_eq!(access_alive_after_two_refreshes("").await, [true; 3]);
    let ends = "refresh_ends_access = \"presented\"";
    assert_eq!(
        access_alive_after_two_refreshes(ends).await,
        [false, false, true]
    );
    // Without rotation the kept token is presented each time; each refresh ends the access
    // token of the one before.
    assert_eq!(
        access_alive_after_two_refreshes(&format!("{ends}\nrotation = \"never\"")).await,
        [false, false, true]
    );
    // A refused refresh ends nothing: another client's attempt leaves the access token alive.
    let s = Srv::new(policy(&format!("profile = \"bcp\"\n{ends}"))).await;
    let t0 = s.login(&A, FULL).await;
    assert_invalid_grant(&s.refresh(&B, t0.rt(), None).await);
    assert!(s.works(&t0.access).await);
}

#[tokio::test]
async fn refresh_ends_access_presented_spares_what_a_grace_reuse_returns() {
    // grace-same: the reuse of RT0 returns RT1 with a new access token; RT0's own access
    // token ended with the first refresh, and RT1's refresh ends both of RT1's.
    let s = Srv::new(policy(
        "profile = \"grace-same\"\nrefresh_ends_access = \"presented\"",
    ))
    .await;
    let t0 = s.login(&A, FULL).await;
    let t1 = tokens(&s.refresh(&A, t0.rt(), None).await);
    let again = tokens(&s.refresh(&A, t0.rt(), None).await);
    assert_eq!(again.rt(), t1.rt());
    assert!(!s.works(&t0.access).await);
    assert!(s.works(&t1.access).await && s.works(&again.access).await);
    let t2 = tokens(&s.refresh(&A, t1.rt(), None).await);
    assert!(!s.works(&t1.access).await && !s.works(&again.access).await);
    assert!(s.works(&t2.access).await);
}
