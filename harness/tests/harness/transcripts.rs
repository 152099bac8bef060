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
