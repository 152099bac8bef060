//! The aimed search's phase of a run (the walks `crate::search` plans within the budget,
//! run and shrunk as random cases are), and the coverage every generated phase together
//! reached (the transition cover, the search, random cases): the (state, action) pairs and
//! situations, against what the search's alphabet reaches at its bounds (measured on a
//! blocking thread while the walks run).

use std::collections::HashSet;

use tokenlife_model::{Action, Policy};

use super::harness::Harness;
use super::sequence::Reached;
use crate::generate::Reach;
use crate::report::{Replay, ScenarioResult, SearchCoverage};
use crate::search::{self, Pair, Reachable};

/// The most missed situations a report names.
const MISSED_SHOWN: usize = 20;

/// What the search phase planned.
#[derive(Debug, Default)]
pub(super) struct Planned {
    pub(super) requests: u64,
    pub(super) walks: usize,
    pub(super) probes: usize,
}

/// The reachability walk under way (see [`measure`]).
pub(super) type Measuring = Option<tokio::task::JoinHandle<Reachable>>;

/// Starts measuring what the search's alphabet reaches within `len` actions, on a blocking
/// thread, when `yes`.
pub(super) fn measure(yes: bool, policy: &Policy, reach: Reach, len: u16) -> Measuring {
    yes.then(|| {
        let policy = policy.clone();
        tokio::task::spawn_blocking(move || search::reachable(&policy, reach, len))
    })
}

impl Harness {
    /// Walks of at most this many actions (random cases and the search).
    pub(super) fn walk_len(&self) -> u16 {
        match self.options.random_len {
            0 => 8,
            n => n,
        }
    }

    /// Plans and runs the aimed search after the cover (whose walks planned `planned`): its
    /// result, actions, the replay of a failure, what it planned and reached.
    pub(super) async fn run_search(
        &mut self,
        planned: &HashSet<Pair>,
    ) -> (ScenarioResult, usize, Option<Replay>, Planned, Reached) {
        let seed = self.options.seed;
        let len = self.walk_len();
        let policy = self.target.policy.clone();
        let plan = search::plan(
            &policy,
            self.reach(),
            seed,
            self.options.budget,
            len,
            planned,
        );
        let name = format!("search-seed-{seed}");
        let mut w = self.run_walks(&name, seed, "walk", &plan.walks, None).await;
        if w.replay.is_none() {
            w.result.transcript.push(format!(
                "{} walks ({} deadline probes) of up to {len} actions, {} of {} requests",
                plan.walks.len(),
                plan.probes,
                plan.requests,
                plan.budget
            ));
        }
        let planned = Planned {
            requests: plan.requests,
            walks: plan.walks.len(),
            probes: plan.probes,
        };
        (w.result, w.actions, w.replay, planned, w.reached)
    }

    /// The coverage of every generated walk of the run (`reached`) against what the
    /// search's alphabet reaches (`measuring`, awaited here).
    pub(super) async fn walk_coverage(
        &self,
        reached: &Reached,
        measuring: Measuring,
        planned: &Planned,
    ) -> SearchCoverage {
        let reachable: Option<Reachable> = match measuring {
            Some(task) => task.await.ok(),
            None => None,
        };
        let pairs: HashSet<(u64, Action)> = reached
            .transitions
            .iter()
            .map(|(f, a, _)| (*f, *a))
            .collect();
        let pairs_covered = match &reachable {
            Some(r) => pairs.iter().filter(|p| r.has(p)).count(),
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
        SearchCoverage {
            budget: self.options.budget,
            requests: planned.requests,
            walks: planned.walks,
            probes: planned.probes,
            len: self.walk_len(),
            pairs_covered,
            pairs: reachable.as_ref().map(|r| r.pairs.len()),
            situations_covered,
            situations: reachable.as_ref().map(|r| r.situations.len()),
            complete: reachable.as_ref().is_some_and(|r| r.complete),
            missed,
        }
    }
}
