//! `tokenlife infer`'s security characteristics: the human output and the JSON both carry
//! the model's verdicts for the inferred policy and the replay of each violated one against
//! the server; the policy file alone (`--format toml`) does not.

use crate::{stderr, stdout, tokenlife};

/// The embedded server never rotates: the inferred policy (rotation `any`, the most
/// permissive the answers allow) lets a stolen refresh token work after the client refreshed,
/// and the replay shows it with the server's answers.
#[test]
fn infer_shows_the_theft_of_a_never_rotated_token_live() {
    let dir = tempfile::tempdir().unwrap();
    let never = dir.path().join("never.toml");
    std::fs::write(
        &never,
        "profile = \"bcp\"\nrotation_public = \"never\"\nrotation_confidential = \"never\"\n",
    )
    .unwrap();
    let never = never.display().to_string();
    let args = |format: &'static str| {
        [
            "infer", "--policy", &never, "--depth", "3", "--nodes", "2000", "--format", format,
        ]
        .map(String::from)
    };
    let run = |format| {
        let a = args(format);
        tokenlife(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let o = run("json");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let props = v["characteristics"]["properties"].as_array().unwrap();
    let ids: Vec<&str> = props.iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [
            "theft-bound",
            "lost-response-liveness",
            "one-live-refresh-token"
        ]
    );
    let theft = &props[0];
    assert_eq!(theft["status"], "violated");
    assert_eq!(theft["shown"]["live"], true, "{theft}");
    assert!(theft["shown"]["message"].as_str().unwrap().starts_with(
        "a stolen refresh token keeps working after the client refreshes: shown live in 4 steps"
    ));
    let transcript = theft["shown"]["transcript"].as_array().unwrap();
    assert_eq!(transcript.len(), 4);
    assert!(transcript[3]
        .as_str()
        .unwrap()
        .starts_with("4. attacker refreshes with RT0 → 200"));
    assert_eq!(props[1]["status"], "holds");
    assert!(props[1].get("shown").is_none());

    let o = run("human");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.contains("#   ✗ theft-bound [RFC9700-4.14.2]: a stolen refresh token keeps working after the client refreshes: shown live in 4 steps"),
        "{text}"
    );
    assert!(
        text.contains("#       2. the attacker steals RT0 (no request)"),
        "{text}"
    );
    assert!(text.contains("#   ✓ lost-response-liveness"), "{text}");

    let o = run("toml");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(!stdout(&o).contains("theft-bound"), "{}", stdout(&o));
}
