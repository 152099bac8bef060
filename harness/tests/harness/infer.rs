//! Inference against a real clock: an experiment that waits sleeps clear of every
//! candidate's deadline and is read as on the endpoint clock; one whose wait cannot land
//! clear of a deadline decides nothing.

use tokenlife_harness::{Harness, RunOptions};
use tokenlife_model::infer::Step;
use tokenlife_model::policy::Seconds;
use tokenlife_model::state::{AtId, Scope};
use tokenlife_model::{Action, ClientType, Outcome, Policy};

async fn real_clock_server(access: &str) -> (tokenlife_server::RunningServer, Harness) {
    let policy =
        Policy::from_toml(&format!("profile = \"bcp\"\naccess_ttl = \"{access}\"")).unwrap();
    let (server, target) = crate::common::wall_clock_server(policy).await;
    let harness = Harness::connect(target, RunOptions::default(), None)
        .await
        .unwrap();
    (server, harness)
}

fn with_access(ttl: u32) -> Policy {
    let mut p = Policy::profile("bcp").unwrap();
    p.access_ttl = Seconds(ttl);
    p
}

fn experiment(wait: u32) -> Vec<Step> {
    vec![
        Step::Act {
            action: Action::Authorize {
                client: ClientType::Confidential,
                scope: Scope::ALL,
                offline: true,
            },
        },
        Step::Wait { seconds: wait },
        Step::Act {
            action: Action::UseAccess { at: AtId(0) },
        },
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_on_a_real_clock_lands_clear_of_the_deadlines_and_is_read() {
    let (server, harness) = real_clock_server("3s").await;
    // Access lifetimes of 3 s and 10 s: waiting the 3 s of the shorter tells them apart.
    let readers = [with_access(3), with_access(10)];
    let started = std::time::Instant::now();
    let run = harness.run_experiment(&experiment(3), &readers).await;
    server.shutdown().await;
    assert_eq!(run.not_run, None, "{:?}", run.transcript);
    assert_eq!(
        run.answers.last(),
        Some(&Outcome::Resource { ok: false }),
        "{:?}",
        run.transcript
    );
    // Past the 3 s deadline by the skew and a second for rounding, short of the 10 s one.
    let took = started.elapsed().as_secs_f64();
    assert!((5.0..9.0).contains(&took), "{took}");
    // The answers are aligned with the steps as run: the wait is the seconds that passed
    // (more than the 3 designed), not the designed one.
    let ran = run.as_run.expect("a real clock says what it ran");
    assert_eq!(ran.len(), run.answers.len(), "{ran:?}");
    assert!(
        matches!(ran[1], Step::Wait { seconds } if seconds > 3),
        "{ran:?}"
    );
    assert!(matches!(ran.last(), Some(Step::Act { .. })), "{ran:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_that_cannot_land_clear_of_a_deadline_decides_nothing() {
    let (server, harness) = real_clock_server("2s").await;
    // Lifetimes of 2 s and 3 s lie within the skew of each other.
    let readers = [with_access(2), with_access(3)];
    let run = harness.run_experiment(&experiment(2), &readers).await;
    server.shutdown().await;
    let why = run.not_run.expect("not decisive");
    assert!(why.contains("within the real clock's skew"), "{why}");
}
