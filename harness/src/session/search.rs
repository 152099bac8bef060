//! The aimed search's phase of a run: the walks `crate::search` plans within the budget,
//! run and shrunk as random cases are, and the coverage the report shows: the (state,
//! action) pairs and situations the cover and the search reached, against what the
//! search's alphabet reaches at its bounds (measured on a blocking thread while the walks
//! run).

use std::collections::HashSet;

use tokenlife_model::Action;

use super::harness::Harness;
use super::sequence::Reached;
use crate::report::{Replay, ScenarioResult, SearchCoverage};
use crate::search::{self, Pair, Reachable};

/// The most missed situations a report names.
const MISSED_SHOWN: usize = 20;

impl Harness {
    /// Plans and runs the aimed search after the cover (whose walks reached `cover`, and
    /// planned `planned`): its result, actions, the replay of a failure, its coverage.
    pub(super) async fn run_search(
        &mut self,
        planned: &HashSet<Pair>,
        cover: Reached,
    ) -> (ScenarioResult, usize, Option<Replay>, SearchCoverage) {
        let seed = self.options.seed;
        let len = match self.options.random_len {
            0 => 8,
            n => n,
        };
        let budget = self.options.budget;
        let policy = self.target.policy.clone();
        let reach = self.reach();
        let plan = search::plan(&policy, reach, seed, budget, len, planned);
        let measuring = self.options.reachability.then(|| {
            let policy = policy.clone();
            tokio::task::spawn_blocking(move || search::reachable(&policy, reach, len))
        });
        let name = format!("search-seed-{seed}");
        let mut w = self.run_walks(&name, seed, "walk", &plan.walks, None).await;
        let reachable: Option<Reachable> = match measuring {
            Some(task) => task.await.ok(),
            None => None,
        };
        let mut reached = cover;
        reached.transitions.extend(w.reached.transitions.drain());
        reached.situations.extend(w.reached.situations.drain());
        let pairs: HashSet<(u64, Action)> = reached
            .transitions
            .iter()
            .map(|(f, a, _)| (*f, *a))
            .collect();
        let pairs_covered = match &reachable {
            Some(r) => pairs.iter().filter(|p| r.pairs.contains(p)).count(),
            None => pairs.len(),
        };
        let situations_covered = match &reachable {
            Some(r) => reached
                .situations
                .iter()
                .filter(|s| r.situations.contains(s))
                .count(),
            None => reached.situations.len(),
        };
        let mut missed: Vec<String> = reachable
            .iter()
            .flat_map(|r| r.situations.iter())
            .filter(|s| !reached.situations.contains(s))
            .map(ToString::to_string)
            .collect();
        missed.sort();
        missed.truncate(MISSED_SHOWN);
        let coverage = SearchCoverage {
            budget,
            requests: plan.requests,
            walks: plan.walks.len(),
            len,
            pairs_covered,
            pairs: reachable.as_ref().map(|r| r.pairs.len()),
            situations_covered,
            situations: reachable.as_ref().map(|r| r.situations.len()),
            complete: reachable.as_ref().is_some_and(|r| r.complete),
            missed,
        };
        if w.replay.is_none() {
            w.result.transcript.push(coverage.summary());
        }
        (w.result, w.actions, w.replay, coverage)
    }
}
