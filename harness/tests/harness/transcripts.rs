//! Snapshots of transcripts against the reference server: tokens appear as model ids
//! (`RT0`, `AT1`), times as the seconds the test clock moved, nothing else varies.

use tokenlife_model::Policy;
use tokenlife_server::{Defect, Defects};

use crate::common::{run_with, shipped};

fn transcript(r: &tokenlife_harness::Report, name: &str) -> String {
    let s = r.scenarios.iter().find(|s| s.name == name).unwrap();
    let mut out = format!("{name}: {:?}\n", s.status);
    for l in &s.transcript {
        out.push_str(l);
        out.push('\n');
    }
    out
}

/// A race's answers depend on timing (which request the server serves first, whether a
/// revocation beats the refreshes): its line keeps what was sent and that some order
/// passed; the race tests judge the answers themselves.
fn canonical(transcript: String) -> String {
    transcript
        .lines()
        .map(|l| match l.split_once(" → in some order: ") {
            Some((head, _)) => format!("{head} → answers in some order the policy allows"),
            None => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// Every shipped scenario's transcript, under the first of these profiles whose policy
/// it fits (strict covers most; the grace scenarios need a grace window, idle-timeout an
/// idle timeout, which no built-in profile sets, the DPoP ones a DPoP client type).
#[tokio::test]
async fn every_shipped_transcript() {
    let set = shipped();
    let mut done: Vec<String> = Vec::new();
    let idle = Policy::from_toml("profile = \"bcp\"\nidle_timeout = \"2m\"\n").unwrap();
    // The DPoP scenarios: public clients bound with nonces, confidential ones moving keys.
    let nonce = Policy::from_toml("profile = \"bcp-dpop\"\ndpop_nonce = true\n").unwrap();
    let policies = [
        "strict",
        "bcp",
        "grace-same",
        "grace-new",
        "rfc6749",
        "fapi2",
    ]
    .map(|p| (p, Policy::profile(p).unwrap()))
    .into_iter()
    .chain([("bcp-idle", idle), ("bcp-dpop-nonce", nonce)]);
    for (profile, policy) in policies {
        let r = run_with(policy, Defects::none(), &set).await;
        for s in &r.scenarios {
            if s.name == "discovery"
                || s.file.starts_with('(')
                || done.contains(&s.name)
                || s.status == tokenlife_harness::report::ScenarioStatus::Skipped
            {
                continue;
            }
            assert_eq!(
                s.status,
                tokenlife_harness::report::ScenarioStatus::Passed,
                "{profile} {}: {:?}",
                s.name,
                s.reason
            );
            insta::assert_snapshot!(
                format!("{profile}-{}", s.name),
                canonical(transcript(&r, &s.name))
            );
            done.push(s.name.clone());
        }
    }
    let missing: Vec<&String> = set
        .scenarios
        .iter()
        .map(|s| &s.name)
        .filter(|n| !done.contains(n))
        .collect();
    assert!(missing.is_empty(), "never ran: {missing:?}");
}

#[tokio::test]
async fn a_failing_transcript_names_the_check() {
    let r = run_with(
        Policy::profile("bcp").unwrap(),
        Defects::from(Defect::CrossClient),
        &shipped(),
    )
    .await;
    insta::assert_snapshot!(
        "bcp-cross-client-defect",
        transcript(&r, "cross-client-refusal")
    );
    let f = r
        .failures
        .iter()
        .find(|f| f.id == "refresh.client-binding")
        .unwrap();
    insta::assert_snapshot!("bcp-cross-client-defect-message", f.message.clone());
}

/// No token, code or secret reaches a report: the reference server's values are long
/// random base64url strings, so no such run may appear anywhere in the JSON or the text.
#[tokio::test]
async fn reports_carry_no_token_values() {
    let options = tokenlife_harness::RunOptions {
        depth: 2,
        cases: 4,
        seed: 3,
        ..Default::default()
    };
    for d in [Defects::none(), Defects::from(Defect::IntrospectStale)] {
        let r = crate::common::run_opts(
            Policy::profile("bcp").unwrap(),
            d,
            &shipped(),
            options.clone(),
        )
        .await;
        let json = serde_json::to_string(&r).unwrap();
        for text in [
            json,
            r.human(),
            tokenlife_harness::export::markdown(&r),
            tokenlife_harness::export::junit(&r),
        ] {
            let mut run = 0;
            for c in text.chars() {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    run += 1;
                    assert!(
                        run < 32,
                        "a token-like string in a report: …{}",
                        &text[..text.len().min(200)]
                    );
                } else {
                    run = 0;
                }
            }
            assert!(!text.contains("demo-secret"));
        }
    }
}
