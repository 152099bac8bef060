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

#[tokio::test]
async fn shipped_transcripts_under_strict() {
    let r = run_with(
        Policy::profile("strict").unwrap(),
        Defects::none(),
        &shipped(),
    )
    .await;
    for name in [
        "ten-step-flow",
        "family-revocation",
        "absolute-cap",
        "restart",
    ] {
        insta::assert_snapshot!(format!("strict-{name}"), transcript(&r, name));
    }
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
