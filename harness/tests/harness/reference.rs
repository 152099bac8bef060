//! The shipped scenarios against the reference server: green under every built-in profile.

use tokenlife_harness::report::ScenarioStatus;
use tokenlife_model::Policy;
use tokenlife_server::Defects;

use crate::common::{run_with, shipped};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_shipped_scenario_passes_under_every_profile() {
    for name in Policy::profile_names() {
        let r = run_with(Policy::profile(name).unwrap(), Defects::none(), &shipped()).await;
        assert!(r.conformant(), "{name}:\n{}", r.human());
        assert!(!r.has_scenario_errors(), "{name}:\n{}", r.human());
        assert!(r.checks > 0 && r.passed > 0, "{name}:\n{}", r.human());
        let ran = r
            .scenarios
            .iter()
            .filter(|s| s.status == ScenarioStatus::Passed)
            .count();
        assert!(ran > 0, "{name}: nothing ran\n{}", r.human());
    }
}
