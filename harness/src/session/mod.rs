//! The runner: drives a target through scenarios and judges every response with the model.
//!
//! [`Harness::connect`] discovers the endpoints; [`Harness::run`] runs a scenario set and
//! returns a [`Report`]. Each scenario starts from the model's initial state and keeps the
//! set of states consistent with every response (see `oracle`); the first divergence stops
//! it. Besides the model, every response gets the protocol checks (see `protocol`). With an
//! endpoint clock a `Tick` is one POST; with a real clock the runner waits past the deadline
//! plus the skew, and before every request brings each model state to the current second,
//! keeping both readings of any deadline within the skew (so a real clock never makes a run
//! flaky).
//!
//! The rooms, from the ground up:
//! - `state`: one scenario's state (the set of model states, named tokens, evaluations);
//! - `protocol`: the protocol checks on each answer, pure functions with their tests;
//! - `harness`: the connected target, its options and [`Control`];
//! - `exchange`, `race`, `time`: the HTTP exchanges of a step, a race, time passing;
//! - `step`: a scenario file's steps (and [`Harness::replay`], one scenario with the outcome
//!   each answer was read as); `sequence`: generated and random sequences;
//! - `experiment`: one inference experiment, its answers read under candidate policies;
//! - here: [`Harness::run`], which runs them all into one [`Report`]: marked partial when
//!   the run's [`Guard`](crate::guard::Guard) stopped it (nothing more is started), naming
//!   every origin that received credentials, and redacted as a whole last.

mod exchange;
mod experiment;
mod harness;
mod lifetimes;
mod proof;
mod protocol;
mod race;
mod search;
mod sequence;
mod state;
mod step;
mod time;

use std::collections::HashSet;
use std::sync::Arc;

use tokenlife_model::{ClientType, Policy};

pub use experiment::ExperimentRun;
pub(crate) use harness::actor;
pub use harness::{BoxFuture, ConnectError, Control, Harness, RunOptions};
pub use lifetimes::{LifetimesRun, ProbeRun};
pub use sequence::{CONCURRENCY, SHRINK_RUNS};
pub use step::Replayed;

use crate::checks::{self, Verdict};
use crate::generate::Scopes;
use crate::report::{Evaluation, Report, ScenarioResult, ScenarioStatus};
use crate::scenario::{Scenario, ScenarioSet};
use crate::target::Target;
use crate::wire::{no_resource_scope, one_resource_scope, scopes_of};

impl Harness {
    /// Runs every selected scenario, one after another (the endpoint clock is global).
    pub async fn run(&mut self, set: &ScenarioSet) -> Report {
        let mut results = Vec::new();
        let mut actions = 0;
        let mut notes = Vec::new();
        // One line per capability the target lacks; the walks leave its actions out and
        // the scenarios that need it are skipped with the same reason.
        for (what, missing) in [
            (
                "token revocation (RFC 7009) — the target has no revocation endpoint",
                self.endpoints.revocation.is_none(),
            ),
            (
                "token introspection (RFC 7662) — the target has no introspection endpoint",
                self.endpoints.introspection.is_none(),
            ),
            (
                "access tokens at the protected resource — the target has no resource_url",
                self.endpoints.resource.is_none(),
            ),
        ] {
            if missing {
                notes.push(format!("could not test: {what}"));
            }
        }
        let registered = |scopes: Scopes| -> Vec<_> {
            [ClientType::Confidential, ClientType::Public]
                .into_iter()
                .filter_map(|t| self.target.client_of(t))
                .filter(|c| scopes_of(c) == scopes)
                .collect()
        };
        let bare = registered(Scopes::None);
        if !bare.is_empty() {
            notes.push(format!("could not test: {}", no_resource_scope(bare)));
        }
        // Completed with the scenarios it accounts for once they have run.
        let one_scope = registered(Scopes::One);
        let one_scope_note = (!one_scope.is_empty()).then(|| {
            notes.push(format!("could not test: {}", one_resource_scope(one_scope)));
            notes.len() - 1
        });
        if let Some(listed) = self.endpoints.refresh_grant_listed {
            let c = checks::DISCOVERY_REFRESH_GRANT;
            let verdict = if listed {
                Verdict::Passed
            } else {
                c.verdict_on_divergence(self.options.fail_on_should)
            };
            let message = (!listed).then(|| {
                format!(
                    "{}: grant_types_supported does not list refresh_token",
                    self.endpoints.source
                )
            });
            results.push(ScenarioResult::single(
                "discovery",
                self.endpoints.source.clone(),
                format!("1. metadata from {}", self.endpoints.source),
                Evaluation::new(c, verdict, 1, message),
            ));
        }
        if self.check_selected(checks::TOKEN_INVALID_CLIENT.id)
            && !self
                .options
                .skip
                .iter()
                .any(|s| s == "client-authentication")
        {
            results.extend(
                crate::probes::client_authentication(
                    &self.http,
                    &self.endpoints,
                    &self.target,
                    self.options.fail_on_should,
                )
                .await,
            );
        }
        let only_checks = self.options.only.iter().any(|o| checks::by_id(o).is_some());
        let chosen: Vec<&Scenario> = set
            .scenarios
            .iter()
            .filter(|sc| {
                (only_checks || self.selected(&sc.name)) && !self.options.skip.contains(&sc.name)
            })
            .collect();
        let progress = self.options.progress.clone();
        crate::progress::phase(&progress, "scenarios", chosen.len() as u64);
        let stop_early = self.options.stop_at_first_failure;
        let mut failed = false;
        let mut not_run = 0usize;
        for sc in chosen {
            if failed {
                break;
            }
            // Listed, not dropped: a partial report shows what it did not reach.
            // (Why it stopped is the report's `partial`, said once.)
            if self.stopped().is_some() {
                let mut r = ScenarioResult::new(sc.name.clone(), sc.file.clone());
                r.status = ScenarioStatus::Interrupted;
                r.reason = Some("not run: the run stopped before it".into());
                results.push(r);
                not_run += 1;
                continue;
            }
            let (mut r, n, truncated) = self.run_scenario(sc).await;
            crate::progress::advance(&progress, 1);
            failed = stop_early && r.status == ScenarioStatus::Failed;
            r.evaluations.retain(|e| self.check_selected(e.id));
            actions += n;
            if truncated {
                notes.push(format!(
                    "{}: the set of model states was cut at {} states",
                    sc.name,
                    crate::oracle::MAX_STATES
                ));
            }
            results.push(r);
        }
        crate::progress::finish(&progress);
        if not_run > 0 {
            notes.push(format!(
                "{not_run} scenario{} not run: the run stopped before them",
                if not_run == 1 { "" } else { "s" }
            ));
        }
        let untestable: Vec<&str> = results
            .iter()
            .filter(|r| r.status == ScenarioStatus::Untestable)
            .map(|r| r.name.as_str())
            .collect();
        if let (Some(i), false) = (one_scope_note, untestable.is_empty()) {
            notes[i].push_str(&format!(" (scenarios {})", untestable.join(", ")));
        }
        let mut coverage = None;
        let mut planned = HashSet::new();
        let mut reached = sequence::Reached::default();
        let generating =
            self.options.depth > 0 || self.options.budget > 0 || self.options.cases > 0;
        let measuring = search::measure(
            self.options.reachability && generating && !failed,
            &self.target.policy,
            self.reach(),
            self.walk_len(),
        );
        if self.options.depth > 0 && !failed && self.stopped().is_none() {
            let generate = if self.options.all_sequences {
                crate::generate::all_sequences
            } else {
                crate::generate::exhaustive
            };
            let g = generate(&self.target.policy, self.options.depth, self.reach());
            let (r, n, cov, got) = self.run_generated(&g).await;
            actions += n;
            failed = stop_early && r.status == ScenarioStatus::Failed;
            results.push(r);
            coverage = Some(cov);
            planned = g.transitions.iter().map(|(f, a, _)| (*f, *a)).collect();
            reached = got;
        }
        let mut replays = Vec::new();
        let mut searched = search::Planned::default();
        if self.options.budget > 0 && !failed && self.stopped().is_none() {
            let (r, n, replay, p, got) = self.run_search(&planned).await;
            actions += n;
            failed = stop_early && r.status == ScenarioStatus::Failed;
            results.push(r);
            replays.extend(replay);
            searched = p;
            reached.add(got);
        }
        if self.options.cases > 0 && !failed && self.stopped().is_none() {
            let len = self.walk_len();
            let (r, n, replay, got) = self
                .run_random(self.options.seed, self.options.cases, len)
                .await;
            actions += n;
            results.push(r);
            replays.extend(replay);
            reached.add(got);
        }
        let search = if generating && self.options.reachability {
            Some(self.walk_coverage(&reached, measuring, &searched).await)
        } else {
            None
        };
        let p = &self.target.policy;
        let mut report = Report::new(
            self.target.name(),
            p.profile.clone(),
            p.to_toml(),
            self.options.seed,
            set.hash.clone(),
            results,
            notes,
            actions,
        );
        report.coverage = coverage;
        report.search = search;
        report.replays = replays;
        report.partial = self.http.config().guard.reason();
        report.credentials_sent_to = self.http.credentials_sent_to();
        report.redact(&self.target.redactor());
        report
    }
}

/// Connects and runs a scenario set against `target`.
pub async fn run(
    target: Target,
    set: &ScenarioSet,
    options: RunOptions,
    control: Option<Arc<dyn Control>>,
) -> Result<Report, ConnectError> {
    let mut h = Harness::connect(target, options, control).await?;
    Ok(h.run(set).await)
}

/// The policy a report is judged by (re-exported for the CLI).
pub fn policy_of(h: &Harness) -> &Policy {
    &h.target.policy
}
