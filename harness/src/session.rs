//! The runner: drives a target through scenarios and judges every response with the model.
//!
//! [`Harness::connect`] discovers the endpoints; [`Harness::run`] runs a scenario set and
//! returns a [`Report`]. Each scenario starts from the model's initial state and keeps the
//! set of states consistent with every response (see `oracle`); the first divergence stops
//! it. Besides the model, every response gets the protocol checks: `Cache-Control:
//! no-store`, `token_type`, `expires_in` (RFC 6749 §5.1), `scope` when it differs (§3.3),
//! the resource's challenge (RFC 6750 §3.1), `{"active": false}` and nothing else
//! (RFC 7662 §2.2), no error body on a 200 revocation (RFC 7009 §2.2). With an endpoint
//! clock a `Tick` is one POST; with a real clock the runner waits past the deadline plus
//! the skew, and before every request brings each model state to the current second, keeping
//! both readings of any deadline within the skew (so a real clock never makes a run flaky).

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokenlife_model::explore::fingerprint;
use tokenlife_model::spec::{expiry_reason, Hint, TokenRef};
use tokenlife_model::state::{AtId, GrantId, RtId};
use tokenlife_model::{Action, Actor, ClientType, Outcome, Policy};

use crate::authorize;
use crate::checks::{self, Check, Verdict};
use crate::discovery::{discover, DiscoveryError, Endpoints};
use crate::generate::{Generated, Transition};
use crate::http::{Http, HttpConfig, HttpError, Request, Response};
use crate::oracle::{
    classify, classify_divergence, owner_of, Bindings, History, Judgement, Observed, StateSet,
};
use crate::report::{Evaluation, Report, ScenarioResult, ScenarioStatus};
use crate::scenario::{By, Scenario, ScenarioSet, StepKind};
use crate::secret::{Redactor, Secret};
use crate::target::{ClientConfig, ClockConfig, Target};
use crate::wire::{self, Credentials, TokenExtras};

/// A boxed future, for the object-safe [`Control`] trait.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What the harness may do to a target besides HTTP: restart it on its store.
pub trait Control: Send + Sync {
    /// Restarts the target; returns its new base URL when it changed (old base → new base).
    fn restart(&self) -> BoxFuture<'_, Result<Option<(String, String)>, String>>;
}

/// Run options.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// The HTTP adapter's settings (`ca_file` and `max_rps` come from the target).
    pub http: HttpConfig,
    /// Promote SHOULD warnings to failures.
    pub fail_on_should: bool,
    /// Run only these scenarios / checks (ids or scenario names); empty: all.
    pub only: Vec<String>,
    /// Skip these scenarios / checks.
    pub skip: Vec<String>,
    /// Revoke the tokens a scenario minted when it ends.
    pub cleanup: bool,
    /// The seed printed in reports.
    pub seed: u64,
    /// Exhaustive generation: sequences covering every model transition within this many
    /// actions; 0: none.
    pub depth: u16,
    /// Run every distinct sequence to `depth` instead of a transition cover.
    pub all_sequences: bool,
    /// Random sequences from `seed` (0: none).
    pub cases: u32,
    /// Actions per random sequence at most.
    pub random_len: u16,
    /// Where progress goes (none: nowhere).
    pub progress: Option<crate::progress::ProgressSink>,
    /// Stop at the first failed check (what `tokenlife mutants` needs: killed or not).
    pub stop_at_first_failure: bool,
}

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The HTTP adapter could not be built.
    #[error(transparent)]
    Http(#[from] HttpError),
    /// Discovery failed.
    #[error(transparent)]
    Discovery(#[from] DiscoveryError),
}

impl ConnectError {
    /// Whether the target was unreachable (exit code 4) rather than unusable (3).
    pub fn is_unreachable(&self) -> bool {
        match self {
            ConnectError::Http(e) | ConnectError::Discovery(DiscoveryError::Http(e)) => {
                e.is_unreachable() || matches!(e, HttpError::Dropped { .. })
            }
            _ => false,
        }
    }
}

/// A connected target.
pub struct Harness {
    http: Arc<Http>,
    target: Target,
    endpoints: Endpoints,
    clock_url: Option<String>,
    control: Option<Arc<dyn Control>>,
    options: RunOptions,
}

impl std::fmt::Debug for Harness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Harness")
            .field("target", &self.target.name())
            .field("endpoints", &self.endpoints)
            .finish_non_exhaustive()
    }
}

/// Why a scenario stopped early.
enum Stop {
    /// A check failed; the set of states is empty or the exchange failed.
    Failed(String),
    /// The scenario cannot run here.
    Skipped(String),
    /// The scenario is wrong for this policy.
    Error(String),
}

/// A name's model id.
#[derive(Clone, Copy, Debug)]
enum Named {
    Grant(GrantId),
    Rt(RtId),
    At(AtId),
}

/// What the harness keeps of a grant to replay its code.
struct GrantWire {
    client: ClientType,
    code: Secret,
    verifier: Secret,
    /// Every scope name of the first token response (openid, offline_access included).
    scope_names: Option<std::collections::BTreeSet<String>>,
    /// The §12.2 claims of the first token response's ID token, if it had one.
    id_claims: Option<wire::IdClaims>,
}

impl Harness {
    /// Discovers the target's endpoints.
    pub async fn connect(
        target: Target,
        options: RunOptions,
        control: Option<Arc<dyn Control>>,
    ) -> Result<Harness, ConnectError> {
        let mut http_config = options.http.clone();
        http_config.ca_file = target.ca_file.clone();
        http_config.max_rps = target.max_rps;
        let http = Arc::new(Http::new(http_config)?);
        let endpoints = discover(&http, &target).await?;
        let clock_url = match &target.clock {
            ClockConfig::Endpoint { url, .. } => Some(url.clone()),
            ClockConfig::Real { .. } => None,
        };
        Ok(Harness {
            http,
            target,
            endpoints,
            clock_url,
            control,
            options,
        })
    }

    /// The endpoints in use.
    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    /// The target.
    pub fn target(&self) -> &Target {
        &self.target
    }

    fn selected(&self, name: &str) -> bool {
        (self.options.only.is_empty() || self.options.only.iter().any(|o| o == name))
            && !self.options.skip.iter().any(|s| s == name)
    }

    fn check_selected(&self, id: &str) -> bool {
        let only_checks: Vec<_> = self
            .options
            .only
            .iter()
            .filter(|o| checks::by_id(o).is_some())
            .collect();
        (only_checks.is_empty() || only_checks.iter().any(|o| *o == id))
            && !self.options.skip.iter().any(|s| s == id)
    }

    /// Runs every selected scenario, one after another (the endpoint clock is global).
    pub async fn run(&mut self, set: &ScenarioSet) -> Report {
        let mut results = Vec::new();
        let mut actions = 0;
        let mut notes = Vec::new();
        for (name, present) in [
            ("revocation", self.endpoints.revocation.is_some()),
            ("introspection", self.endpoints.introspection.is_some()),
            ("resource", self.endpoints.resource.is_some()),
        ] {
            if !present {
                notes.push(format!(
                    "the target has no {name} endpoint: scenarios that need it are skipped"
                ));
            }
        }
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
            results.push(ScenarioResult {
                name: "discovery".into(),
                file: self.endpoints.source.clone(),
                status: if verdict == Verdict::Failed {
                    ScenarioStatus::Failed
                } else {
                    ScenarioStatus::Passed
                },
                reason: None,
                steps_run: 1,
                transcript: vec![format!("1. metadata from {}", self.endpoints.source)],
                evaluations: vec![Evaluation::new(c, verdict, 1, message)],
            });
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
        for sc in chosen {
            if failed {
                break;
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
        let mut coverage = None;
        if self.options.depth > 0 && !failed {
            let generate = if self.options.all_sequences {
                crate::generate::all_sequences
            } else {
                crate::generate::exhaustive
            };
            let g = generate(
                &self.target.policy,
                self.options.depth,
                self.control.is_some(),
            );
            let (r, n, cov) = self.run_generated(&g).await;
            actions += n;
            failed = stop_early && r.status == ScenarioStatus::Failed;
            results.push(r);
            coverage = Some(cov);
        }
        let mut replays = Vec::new();
        if self.options.cases > 0 && !failed {
            let len = if self.options.random_len == 0 {
                8
            } else {
                self.options.random_len
            };
            let (r, n, replay) = self
                .run_random(self.options.seed, self.options.cases, len)
                .await;
            actions += n;
            results.push(r);
            replays.extend(replay);
        }
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
        report.replays = replays;
        report
    }

    /// Runs generated sequences, each from a fresh model state, as one result: the first
    /// evaluation of each check and verdict is kept (with its trace), and the coverage.
    pub async fn run_generated(&mut self, g: &Generated) -> (ScenarioResult, usize, Coverage) {
        let kind = if self.options.all_sequences {
            "all-sequences"
        } else {
            "exhaustive"
        };
        let name = format!("{kind}-depth-{}", g.depth);
        let mut agg = ScenarioResult {
            name: name.clone(),
            file: "(generated from the model)".into(),
            status: ScenarioStatus::Passed,
            reason: None,
            steps_run: 0,
            transcript: Vec::new(),
            evaluations: Vec::new(),
        };
        let mut covered: HashSet<Transition> = HashSet::new();
        let (mut actions, mut failed, mut errors) = (0usize, 0usize, 0usize);
        let mut kept: HashSet<(&'static str, Verdict)> = HashSet::new();
        for run in self.run_sequences(&name, &g.sequences).await {
            actions += run.actions;
            covered.extend(run.covered);
            match run.stop {
                Some(Stop::Failed(_)) => failed += 1,
                Some(Stop::Error(_)) | Some(Stop::Skipped(_)) => errors += 1,
                None => {}
            }
            let r = run.result;
            for e in r.evaluations {
                if kept.insert((e.id, e.verdict)) {
                    agg.evaluations.push(e);
                }
            }
        }
        let reached = covered.intersection(&g.transitions).count();
        let pairs: HashSet<(u64, Action)> =
            g.transitions.iter().map(|(f, a, _)| (*f, *a)).collect();
        let pairs_covered = covered
            .iter()
            .filter(|t| g.transitions.contains(*t))
            .map(|(f, a, _)| (*f, *a))
            .collect::<HashSet<_>>()
            .len();
        agg.steps_run = actions;
        if failed > 0 {
            agg.status = ScenarioStatus::Failed;
            agg.reason = Some(format!(
                "{failed} of {} sequences diverged",
                g.sequences.len()
            ));
        } else if errors > 0 {
            agg.reason = Some(format!("{errors} sequences could not run"));
        }
        let cov = Coverage {
            depth: g.depth,
            sequences: g.sequences.len(),
            transitions: g.transitions.len(),
            covered: reached,
            pairs: pairs.len(),
            pairs_covered,
        };
        agg.transcript.push(format!(
            "{} sequences, {} actions: {reached} of {} model transitions covered",
            g.sequences.len(),
            actions,
            g.transitions.len()
        ));
        (agg, actions, cov)
    }

    /// Runs one sequence of model actions from a fresh model state.
    async fn run_sequence(&mut self, name: &str, seq: &[Action]) -> SequenceRun {
        let mut r = sequence_result(name);
        let mut s = self.session(&mut r);
        let mut stop = None;
        for (i, a) in seq.iter().enumerate() {
            let n = i + 1;
            s.result.steps_run = n;
            let res = match a {
                Action::Tick => self.tick(&mut s, n, None).await,
                Action::Restart => self.restart(&mut s, n).await,
                Action::Steal { .. } => {
                    steal(&mut s, n, a);
                    Ok(())
                }
                _ => self.run_action(&mut s, n, *a, None, None, None).await,
            };
            if let Err(e) = res {
                stop = Some(e);
                break;
            }
        }
        if self.options.cleanup {
            self.cleanup(&s).await;
        }
        let (actions, covered, outcomes) = (
            s.actions,
            std::mem::take(&mut s.covered),
            std::mem::take(&mut s.outcomes),
        );
        drop(s);
        sequence_run(r, actions, covered, outcomes, stop)
    }

    /// `run_sequence` without restarts, on a shared harness, so that sequences can run at
    /// once (a real clock: each sequence waits on its own timers).
    async fn run_sequence_shared(&self, name: &str, seq: &[Action]) -> SequenceRun {
        let mut r = sequence_result(name);
        let mut s = self.session(&mut r);
        let mut stop = None;
        for (i, a) in seq.iter().enumerate() {
            let n = i + 1;
            s.result.steps_run = n;
            let res = match a {
                Action::Tick => self.tick(&mut s, n, None).await,
                Action::Restart => Err(Stop::Skipped("restarts run one sequence at a time".into())),
                Action::Steal { .. } => {
                    steal(&mut s, n, a);
                    Ok(())
                }
                _ => self.run_action(&mut s, n, *a, None, None, None).await,
            };
            if let Err(e) = res {
                stop = Some(e);
                break;
            }
        }
        if self.options.cleanup {
            self.cleanup(&s).await;
        }
        let (actions, covered, outcomes) = (
            s.actions,
            std::mem::take(&mut s.covered),
            std::mem::take(&mut s.outcomes),
        );
        drop(s);
        sequence_run(r, actions, covered, outcomes, stop)
    }

    /// Runs many sequences: one at a time with an endpoint clock (it is global) or when the
    /// target can restart; at once, [`CONCURRENCY`] at a time, with a real clock.
    async fn run_sequences(&mut self, name: &str, seqs: &[Vec<Action>]) -> Vec<SequenceRun> {
        let concurrent =
            matches!(self.target.clock, ClockConfig::Real { .. }) && self.control.is_none();
        let mut out = Vec::with_capacity(seqs.len());
        let progress = self.options.progress.clone();
        crate::progress::phase(&progress, name, seqs.len() as u64);
        if !concurrent {
            for seq in seqs {
                let run = self.run_sequence(name, seq).await;
                let failed = matches!(run.stop, Some(Stop::Failed(_)));
                out.push(run);
                crate::progress::advance(&progress, 1);
                if failed && self.options.stop_at_first_failure {
                    break;
                }
            }
            crate::progress::finish(&progress);
            return out;
        }
        let this: &Self = self;
        for chunk in seqs.chunks(CONCURRENCY) {
            let futs: Vec<_> = chunk
                .iter()
                .map(|seq| async {
                    let r = this.run_sequence_shared(name, seq).await;
                    crate::progress::advance(&progress, 1);
                    r
                })
                .collect();
            out.extend(join_all(futs).await);
        }
        crate::progress::finish(&progress);
        out
    }

    /// Random sequences from `seed`: stops at the first failing case, shrinks it, and
    /// returns the result with a scenario file that replays it.
    pub async fn run_random(
        &mut self,
        seed: u64,
        cases: u32,
        len: u16,
    ) -> (ScenarioResult, usize, Option<Replay>) {
        let name = format!("random-seed-{seed}");
        let restarts = self.control.is_some();
        let policy = self.target.policy.clone();
        let mut trees = crate::random::cases(seed, cases, len);
        let seqs: Vec<Vec<Action>> = trees
            .iter()
            .map(|c| crate::random::decode(&policy, &c.current(), restarts))
            .collect();
        let mut actions = 0;
        let mut agg = ScenarioResult {
            name: name.clone(),
            file: "(generated from the model)".into(),
            status: ScenarioStatus::Passed,
            reason: None,
            steps_run: 0,
            transcript: Vec::new(),
            evaluations: Vec::new(),
        };
        let mut kept: HashSet<(&'static str, Verdict)> = HashSet::new();
        let runs = self.run_sequences(&name, &seqs).await;
        for ((case, seq), run) in seqs.iter().enumerate().zip(runs) {
            actions += run.actions;
            let failing = |r: &SequenceRun| {
                matches!(r.stop, Some(Stop::Failed(_)))
                    .then(|| {
                        r.result
                            .evaluations
                            .iter()
                            .find(|e| e.verdict == Verdict::Failed)
                            .map(|e| e.id)
                    })
                    .flatten()
            };
            let Some(id) = failing(&run) else {
                for e in run.result.evaluations {
                    if kept.insert((e.id, e.verdict)) {
                        agg.evaluations.push(e);
                    }
                }
                continue;
            };
            // Shrink with proptest's value tree: simpler choices while the same check
            // still fails, back off when it passes.
            let progress = self.options.progress.clone();
            crate::progress::phase(&progress, "shrinking", SHRINK_RUNS as u64);
            let mut best = (seq.clone(), run);
            let mut budget = SHRINK_RUNS;
            let tree = &mut trees[case];
            let mut more = tree.simplify();
            while more && budget > 0 {
                let candidate = crate::random::decode(&policy, &tree.current(), restarts);
                let fails = if candidate == best.0 {
                    true
                } else {
                    budget -= 1;
                    crate::progress::advance(&progress, 1);
                    let again = self.run_sequence(&name, &candidate).await;
                    actions += again.actions;
                    let same = failing(&again) == Some(id);
                    if same {
                        best = (candidate, again);
                    }
                    same
                };
                more = if fails {
                    tree.simplify()
                } else {
                    tree.complicate()
                };
            }
            crate::progress::finish(&progress);
            // Then drop steps that mint nothing while the same check still fails.
            let mut i = best.0.len().saturating_sub(1);
            let mut budget = 32;
            while i > 0 && budget > 0 {
                i -= 1;
                if !crate::random::droppable(&best.0[i]) {
                    continue;
                }
                budget -= 1;
                let mut shorter = best.0.clone();
                shorter.remove(i);
                let again = self.run_sequence(&name, &shorter).await;
                actions += again.actions;
                if failing(&again) == Some(id) {
                    best = (shorter, again);
                }
            }
            let (seq, run) = best;
            let seq = &seq[..run.result.steps_run.min(seq.len())];
            let outcomes: Vec<Option<Outcome>> = (1..=seq.len())
                .map(|n| run.outcomes.get(&n).copied())
                .collect();
            let owner = seq.iter().find_map(|a| match a {
                Action::Authorize { client, .. } => Some(*client),
                _ => None,
            });
            let scenario_name = format!("random-seed-{seed}-case-{case}");
            let text = crate::random::to_scenario(
                &scenario_name,
                &format!("{id} failed in case {case} of seed {seed} (shrunk); replays the failure"),
                seq,
                &outcomes,
                |_| owner,
            );
            agg.status = ScenarioStatus::Failed;
            agg.reason = Some(format!(
                "case {case} of seed {seed} failed {id}; {} steps after shrinking",
                seq.len()
            ));
            for e in run.result.evaluations {
                if kept.insert((e.id, e.verdict)) || e.verdict == Verdict::Failed {
                    agg.evaluations.push(e);
                }
            }
            return (
                agg,
                actions,
                Some(Replay {
                    name: scenario_name,
                    seed,
                    case: case as u32,
                    scenario: text,
                }),
            );
        }
        agg.transcript.push(format!(
            "{cases} random sequences of up to {len} actions from seed {seed}"
        ));
        (agg, actions, None)
    }

    fn session<'r>(&self, result: &'r mut ScenarioResult) -> Session<'r> {
        let mut s = Session {
            set: StateSet::new(self.target.policy.clone()),
            bindings: Bindings::default(),
            history: History::default(),
            names: BTreeMap::new(),
            grants: Vec::new(),
            redactor: Redactor::default(),
            result,
            actions: 0,
            fail_on_should: self.options.fail_on_should,
            covered: HashSet::new(),
            started: tokio::time::Instant::now(),
            outcomes: BTreeMap::new(),
        };
        for c in &self.target.clients {
            if let Some(secret) = &c.secret {
                s.redactor.add(secret, format!("<secret of {}>", c.id));
            }
        }
        s
    }

    fn unmet(&self, sc: &Scenario) -> Option<String> {
        if let Some(r) = sc.requires.unmet(&self.target.policy) {
            return Some(r);
        }
        let mut types = Vec::new();
        for step in &sc.steps {
            match &step.kind {
                StepKind::Authorize { client, .. } => types.push(*client),
                StepKind::Refresh { by: By::Other, .. }
                | StepKind::Revoke { by: By::Other, .. } => {
                    types.extend([ClientType::Confidential, ClientType::Public])
                }
                StepKind::Refresh {
                    by: By::Client(t), ..
                }
                | StepKind::Revoke {
                    by: By::Client(t), ..
                } => types.push(*t),
                StepKind::Revoke { .. } if self.endpoints.revocation.is_none() => {
                    return Some("the target has no revocation endpoint".into())
                }
                StepKind::Introspect { .. } if self.endpoints.introspection.is_none() => {
                    return Some("the target has no introspection endpoint".into())
                }
                StepKind::UseAccess { .. } if self.endpoints.resource.is_none() => {
                    return Some("the target has no resource_url".into())
                }
                StepKind::RevokeUnknown if self.endpoints.revocation.is_none() => {
                    return Some("the target has no revocation endpoint".into())
                }
                StepKind::IntrospectUnknown if self.endpoints.introspection.is_none() => {
                    return Some("the target has no introspection endpoint".into())
                }
                StepKind::Race { revoke: true, .. } if self.endpoints.revocation.is_none() => {
                    return Some("the target has no revocation endpoint".into())
                }
                StepKind::Restart if self.control.is_none() => {
                    return Some(
                        "restarts need a target the harness can restart (the embedded server)"
                            .into(),
                    )
                }
                _ => {}
            }
        }
        types
            .into_iter()
            .find(|t| self.target.client_of(*t).is_none())
            .map(|t| {
                format!(
                    "the target has no {} client",
                    match t {
                        ClientType::Confidential => "confidential",
                        ClientType::Public => "public",
                    }
                )
            })
    }

    async fn run_scenario(&mut self, sc: &Scenario) -> (ScenarioResult, usize, bool) {
        let mut result = ScenarioResult {
            name: sc.name.clone(),
            file: sc.file.clone(),
            status: ScenarioStatus::Passed,
            reason: None,
            steps_run: 0,
            transcript: Vec::new(),
            evaluations: Vec::new(),
        };
        if let Some(reason) = self.unmet(sc) {
            result.status = ScenarioStatus::Skipped;
            result.reason = Some(reason);
            return (result, 0, false);
        }
        let mut s = self.session(&mut result);
        let mut stop = None;
        for (i, step) in sc.steps.iter().enumerate() {
            let n = i + 1;
            s.result.steps_run = n;
            if let Err(e) = self.run_step(&mut s, n, step).await {
                stop = Some(e);
                break;
            }
        }
        let (actions, truncated) = (s.actions, s.set.truncated);
        if self.options.cleanup {
            self.cleanup(&s).await;
        }
        match stop {
            None => {}
            Some(Stop::Failed(m)) => {
                result.status = ScenarioStatus::Failed;
                result.reason = Some(m);
            }
            Some(Stop::Skipped(m)) => {
                result.status = ScenarioStatus::Skipped;
                result.reason = Some(m);
            }
            Some(Stop::Error(m)) => {
                result.status = ScenarioStatus::Error;
                result.reason = Some(m);
            }
        }
        if result.status == ScenarioStatus::Passed
            && result
                .evaluations
                .iter()
                .any(|e| e.verdict == Verdict::Failed)
        {
            result.status = ScenarioStatus::Failed;
        }
        (result, actions, truncated)
    }

    /// Revokes every token the scenario minted (best effort, results ignored).
    async fn cleanup(&self, s: &Session<'_>) {
        let Some(url) = &self.endpoints.revocation else {
            return;
        };
        let first = s.set.states().first().cloned();
        let Some(state) = first else { return };
        let tokens =
            s.bindings
                .rt
                .iter()
                .enumerate()
                .filter_map(|(i, v)| v.as_ref().map(|v| (TokenRef::Refresh(RtId(i as u8)), v)))
                .chain(
                    s.bindings.at.iter().enumerate().filter_map(|(i, v)| {
                        v.as_ref().map(|v| (TokenRef::Access(AtId(i as u8)), v))
                    }),
                );
        for (t, value) in tokens {
            let owner = if match t {
                TokenRef::Refresh(r) => state.has_rt(r),
                TokenRef::Access(a) => state.has_at(a),
            } {
                owner_of(&state, t)
            } else {
                continue;
            };
            if let Some(c) = self.target.client_of(owner) {
                let req = wire::post(
                    url,
                    vec![("token".into(), value.expose().to_string())],
                    Credentials::Client(c),
                );
                let _ = self.http.send(&req).await;
            }
        }
    }

    fn client(&self, t: ClientType) -> Result<&ClientConfig, Stop> {
        self.target
            .client_of(t)
            .ok_or_else(|| Stop::Skipped(format!("the target has no {t:?} client")))
    }

    fn actor(&self, s: &Session<'_>, by: By, owner: ClientType) -> Actor {
        let _ = s;
        match by {
            By::Owner => Actor::Client(owner),
            By::Other => Actor::Client(match owner {
                ClientType::Confidential => ClientType::Public,
                ClientType::Public => ClientType::Confidential,
            }),
            By::NoAuth => Actor::Attacker,
            By::Client(t) => Actor::Client(t),
        }
    }

    fn credentials(&self, by: Actor, owner: ClientType) -> Result<Credentials<'_>, Stop> {
        Ok(match by {
            Actor::Client(t) => Credentials::Client(self.client(t)?),
            Actor::Attacker => Credentials::NoAuth(self.client(owner)?),
        })
    }

    async fn run_step(
        &mut self,
        s: &mut Session<'_>,
        n: usize,
        step: &crate::scenario::Step,
    ) -> Result<(), Stop> {
        let state = s.set.first().clone();
        let action = match &step.kind {
            StepKind::Authorize {
                client,
                scope,
                offline,
                ..
            } => Action::Authorize {
                client: *client,
                scope: *scope,
                offline: *offline,
            },
            StepKind::ReplayCode { grant } => Action::ReplayCode {
                grant: s.grant(grant)?,
            },
            StepKind::Refresh { rt, by, scope, .. } => {
                let rt = s.rt(rt)?;
                Action::Refresh {
                    by: self.actor(s, *by, state.rt_grant(rt).client),
                    rt,
                    scope: *scope,
                }
            }
            StepKind::RefreshLost { rt, .. } => Action::RefreshLost { rt: s.rt(rt)? },
            StepKind::UseAccess { at } => Action::UseAccess { at: s.at(at)? },
            StepKind::Revoke { token, by, hint } => {
                let t = s.token(token)?;
                Action::Revoke {
                    by: self.actor(s, *by, owner_of(&state, t)),
                    token: t,
                    hint: *hint,
                }
            }
            StepKind::Introspect { token } => Action::Introspect {
                token: s.token(token)?,
            },
            StepKind::Tick { until } => {
                return self.tick(s, n, until.as_deref()).await;
            }
            StepKind::Restart => {
                return self.restart(s, n).await;
            }
            StepKind::Race { rt, count, revoke } => {
                let rt = s.rt(rt)?;
                return self.race(s, n, rt, *count, *revoke).await;
            }
            StepKind::RevokeUnknown | StepKind::IntrospectUnknown => {
                return self.unknown_token(s, n, &step.kind).await;
            }
        };
        self.run_action(
            s,
            n,
            action,
            Some(&step.kind),
            step.expect,
            step.note.as_deref(),
        )
        .await
    }

    /// Runs one model action (not `Tick` or `Restart`) and judges its response.
    async fn run_action(
        &self,
        s: &mut Session<'_>,
        n: usize,
        action: Action,
        kind: Option<&StepKind>,
        expect: Option<crate::scenario::Expect>,
        note: Option<&str>,
    ) -> Result<(), Stop> {
        if let ClockConfig::Real { skew } = &self.target.clock {
            s.set.sync(s.elapsed(), skew.get());
        }
        let state = s.set.first().clone();
        s.actions += 1;
        let expected = s
            .set
            .expected(&action)
            .map_err(|e| Stop::Error(format!("step {n}: {e}")))?;
        if let Some(x) = expect {
            if !expected.iter().any(|o| x.allows(o)) {
                let allowed: Vec<String> = expected.iter().map(ToString::to_string).collect();
                return Err(Stop::Error(format!(
                    "step {n} pins `{x}`, but under policy {} the model allows only: {}",
                    s.set.policy().profile,
                    allowed.join(" | ")
                )));
            }
        }
        let check = classify(s.set.policy(), &state, &action, &s.history);
        let sent = tokio::time::Instant::now();
        let exchanged = self.exchange(s, &state, &action).await;
        s.set.widen(whole_seconds(sent.elapsed()));
        let (observed, presented, protocol) = match exchanged {
            Ok(x) => x,
            Err(Exchange::Stop(stop)) => return Err(stop),
            Err(Exchange::Broken(well_formed, msg)) => {
                let msg = s.redactor.apply(&msg);
                s.line(format!("{n}. {action} → {msg}"));
                s.eval(well_formed, Verdict::Failed, n, Some(msg.clone()));
                return Err(Stop::Failed(format!("step {n}: {msg}")));
            }
        };
        let judgement = s
            .set
            .judge(&action, &observed, &s.bindings, presented.as_ref())
            .map_err(|e| Stop::Error(format!("step {n}: {e}")))?;
        match judgement {
            Judgement::Allowed { outcome, bindings } => {
                if let Some((id, v)) = &bindings.at {
                    s.redactor.add(v, id.to_string());
                    s.bindings.bind_at(*id, v.clone());
                }
                if let Some((id, v)) = &bindings.rt {
                    s.redactor.add(v, id.to_string());
                    s.bindings.bind_rt(*id, v.clone());
                }
                let note = note.map(|t| format!("  ({t})")).unwrap_or_default();
                s.line(format!("{n}. {action} → {outcome}{note}"));
                s.eval(check, Verdict::Passed, n, None);
                s.covered.insert((fingerprint(&state), action, outcome));
                s.outcomes.insert(n, outcome);
                self.after(s, n, kind, &action, &outcome, &state, protocol)?;
                Ok(())
            }
            Judgement::Diverged { expected } => {
                let c = classify_divergence(
                    s.set.policy(),
                    &state,
                    &action,
                    &s.history,
                    &expected,
                    &observed,
                );
                let got = s.describe(&observed);
                let allowed: Vec<String> = expected.iter().map(ToString::to_string).collect();
                let msg = format!(
                    "{action}: got {got}; the policy ({}) allows only {}",
                    s.set.policy().profile,
                    allowed.join(" | ")
                );
                s.line(format!("{n}. {action} → {got}  ✗ {}", c.id));
                s.eval(c, Verdict::Failed, n, Some(msg.clone()));
                Err(Stop::Failed(format!("step {n}: {msg}")))
            }
        }
    }

    /// Bookkeeping and protocol checks once a response was allowed.
    #[allow(clippy::too_many_arguments)]
    fn after(
        &self,
        s: &mut Session<'_>,
        n: usize,
        kind: Option<&StepKind>,
        action: &Action,
        outcome: &Outcome,
        pre: &tokenlife_model::State,
        protocol: Protocol,
    ) -> Result<(), Stop> {
        // Names.
        match (kind, outcome) {
            (
                Some(StepKind::Authorize {
                    grant,
                    access,
                    refresh,
                    ..
                }),
                Outcome::Tokens {
                    access: a,
                    refresh: r,
                    ..
                },
            ) => {
                let g = GrantId(s.set.first().n_grants - 1);
                s.name(grant, Named::Grant(g));
                s.name(access, Named::At(*a));
                if let Some(r) = r {
                    s.name(refresh, Named::Rt(*r));
                }
            }
            (
                Some(
                    StepKind::Refresh {
                        access,
                        refresh,
                        rt,
                        ..
                    }
                    | StepKind::RefreshLost {
                        access,
                        refresh,
                        rt,
                    },
                ),
                Outcome::Tokens {
                    access: a,
                    refresh: r,
                    ..
                },
            ) => {
                s.name(access, Named::At(*a));
                let held = match r {
                    Some(r) => *r,
                    None => s.rt(rt)?,
                };
                s.name(refresh, Named::Rt(held));
            }
            _ => {}
        }
        if let Action::Revoke { by, token, hint } = action {
            let owner = owner_of(pre, *token);
            let own = matches!(by, Actor::Client(c) if *c == owner)
                || (*by == Actor::Attacker && owner == ClientType::Public);
            if own {
                s.history.revoked.insert(*token, *hint);
            } else {
                s.history.others_revoked.insert(*token);
            }
        }
        // Protocol checks.
        match protocol {
            Protocol::Token(x, requested) => {
                self.whole_scope(s, n, action, outcome, pre, &x);
                if let Outcome::Tokens { scope, .. } = outcome {
                    s.eval(
                        checks::TOKEN_CACHE_CONTROL,
                        if x.no_store {
                            Verdict::Passed
                        } else {
                            checks::TOKEN_CACHE_CONTROL.verdict_on_divergence(s.fail_on_should)
                        },
                        n,
                        (!x.no_store).then(|| {
                            format!(
                                "{action}: the 200 token response has no `Cache-Control: no-store`"
                            )
                        }),
                    );
                    let bearer = x
                        .token_type
                        .as_deref()
                        .is_some_and(|t| t.eq_ignore_ascii_case("bearer"));
                    s.eval(
                        checks::TOKEN_TYPE,
                        if bearer {
                            Verdict::Passed
                        } else {
                            checks::TOKEN_TYPE.verdict_on_divergence(s.fail_on_should)
                        },
                        n,
                        (!bearer).then(|| {
                            format!("{action}: token_type is {:?}, not Bearer", x.token_type)
                        }),
                    );
                    match x.expires_in {
                        None => s.eval(
                            checks::TOKEN_EXPIRES_IN,
                            checks::TOKEN_EXPIRES_IN.verdict_on_divergence(s.fail_on_should),
                            n,
                            Some(format!("{action}: the token response has no expires_in")),
                        ),
                        Some(e) => {
                            s.eval(checks::TOKEN_EXPIRES_IN, Verdict::Passed, n, None);
                            let ttl = i64::from(s.set.policy().access_ttl.get());
                            let skew = i64::from(self.skew());
                            let ok = (e - ttl).abs() <= skew;
                            s.eval(
                                checks::TOKEN_EXPIRES_IN_POLICY,
                                if ok { Verdict::Passed } else { Verdict::Failed },
                                n,
                                (!ok).then(|| format!("{action}: expires_in is {e}, the declared access_ttl is {ttl}")),
                            );
                        }
                    }
                    if let Some(req) = requested {
                        let differs = *scope != req;
                        let ok = !differs || x.scope_present;
                        s.eval(
                            checks::TOKEN_SCOPE_PARAM,
                            if ok { Verdict::Passed } else { Verdict::Failed },
                            n,
                            (!ok).then(|| format!("{action}: granted \"{scope}\" instead of the requested \"{req}\" without a `scope` member")),
                        );
                    }
                }
            }
            Protocol::Resource(challenge_ok) => {
                if matches!(outcome, Outcome::Resource { ok: false }) {
                    s.eval(
                        checks::RESOURCE_CHALLENGE,
                        if challenge_ok { Verdict::Passed } else { checks::RESOURCE_CHALLENGE.verdict_on_divergence(s.fail_on_should) },
                        n,
                        (!challenge_ok).then(|| format!("{action}: the refusal is not 401 with `WWW-Authenticate: Bearer error=\"invalid_token\"`")),
                    );
                }
            }
            Protocol::Introspection(extra) => {
                if matches!(outcome, Outcome::Introspection { active: false }) {
                    let ok = extra.is_empty();
                    s.eval(
                        checks::INTROSPECT_ONLY_ACTIVE,
                        if ok { Verdict::Passed } else { Verdict::Failed },
                        n,
                        (!ok).then(|| {
                            format!(
                                "{action}: an inactive token's response also has {}",
                                extra.join(", ")
                            )
                        }),
                    );
                }
            }
            Protocol::Revocation(error_body) => {
                if matches!(outcome, Outcome::Revocation { ok: true }) && error_body {
                    s.eval(
                        checks::REVOKE_OK,
                        Verdict::Failed,
                        n,
                        Some(format!("{action}: 200 with an `error` member")),
                    );
                }
            }
            Protocol::None => {}
        }
        Ok(())
    }

    /// OpenID Connect Core §12.2: an ID token in a refresh response keeps the original
    /// one's `iss`, `sub`, `aud`, `azp` and `auth_time` (present or absent alike). Only
    /// when the server sends ID tokens; the first one of a grant is the reference.
    fn id_token_claims(
        &self,
        s: &mut Session<'_>,
        n: usize,
        action: &Action,
        pre: &tokenlife_model::State,
        x: &TokenExtras,
    ) {
        let Some(claims) = &x.id_claims else {
            return;
        };
        let c = checks::REFRESH_ID_TOKEN;
        let fam = match action {
            Action::Authorize { .. } => {
                if let (Some(g), Ok(claims)) = (s.grants.last_mut(), claims) {
                    g.id_claims = Some(claims.clone());
                }
                return;
            }
            Action::Refresh { rt, .. } | Action::RefreshLost { rt } => {
                pre.rts[rt.0 as usize].family as usize
            }
            _ => return,
        };
        let claims = match claims {
            Ok(c) => c,
            Err(e) => {
                s.eval(c, Verdict::Failed, n, Some(format!("{action}: {e}")));
                return;
            }
        };
        let Some(original) = s.grants.get(fam).and_then(|g| g.id_claims.clone()) else {
            return;
        };
        let changed: Vec<String> = wire::ID_CLAIMS
            .iter()
            .filter(|k| original.get(**k) != claims.get(**k))
            .map(|k| match (original.get(*k), claims.get(*k)) {
                (Some(a), Some(b)) => format!("{k} {a} became {b}"),
                (Some(a), None) => format!("{k} {a} is missing"),
                (None, Some(b)) => format!("{k} {b} appeared"),
                (None, None) => String::new(),
            })
            .collect();
        let ok = changed.is_empty();
        s.eval(
            c,
            if ok {
                Verdict::Passed
            } else {
                c.verdict_on_divergence(s.fail_on_should)
            },
            n,
            (!ok).then(|| {
                format!(
                    "{action}: the refreshed ID token changed {}",
                    changed.join(", ")
                )
            }),
        );
    }

    /// The model sees two resource scopes; this compares every scope name (`openid`,
    /// `offline_access` too): omitting `scope` on refresh must give the original set
    /// (RFC 6749 §6).
    fn whole_scope(
        &self,
        s: &mut Session<'_>,
        n: usize,
        action: &Action,
        outcome: &Outcome,
        pre: &tokenlife_model::State,
        x: &TokenExtras,
    ) {
        let Outcome::Tokens { .. } = outcome else {
            return;
        };
        let names = |t: &str| {
            t.split_whitespace()
                .map(String::from)
                .collect::<std::collections::BTreeSet<_>>()
        };
        self.id_token_claims(s, n, action, pre, x);
        match action {
            Action::Authorize { .. } => {
                if let (Some(g), Some(t)) = (s.grants.last_mut(), &x.scope_text) {
                    g.scope_names = Some(names(t));
                }
            }
            Action::Refresh {
                rt, scope: None, ..
            }
            | Action::RefreshLost { rt } => {
                let fam = pre.rts[rt.0 as usize].family as usize;
                let original = s.grants.get(fam).and_then(|g| g.scope_names.clone());
                if let (Some(orig), Some(t)) = (original, &x.scope_text) {
                    let got = names(t);
                    let ok = got == orig;
                    let list = |v: &std::collections::BTreeSet<String>| {
                        v.iter().cloned().collect::<Vec<_>>().join(" ")
                    };
                    s.eval(
                        checks::REFRESH_OMITTED_SCOPE,
                        if ok { Verdict::Passed } else { Verdict::Failed },
                        n,
                        (!ok).then(|| format!("{action}: scope omitted, granted \"{}\" instead of the original \"{}\"", list(&got), list(&orig))),
                    );
                }
            }
            _ => {}
        }
    }

    fn skew(&self) -> u32 {
        match &self.target.clock {
            ClockConfig::Endpoint { skew, .. } | ClockConfig::Real { skew } => skew.get(),
        }
    }

    async fn send(&self, req: &Request, well_formed: Check) -> Result<Response, Exchange> {
        self.http
            .send(req)
            .await
            .map_err(|e| Exchange::Broken(well_formed, e.to_string()))
    }

    /// Performs the HTTP exchange(s) of an action.
    async fn exchange(
        &self,
        s: &mut Session<'_>,
        state: &tokenlife_model::State,
        action: &Action,
    ) -> Result<(Observed, Option<Secret>, Protocol), Exchange> {
        let ep = &self.endpoints;
        match *action {
            Action::Authorize {
                client,
                scope,
                offline,
            } => {
                let c = self.client(client).map_err(Exchange::Stop)?;
                let mut names =
                    wire::scope_names(c, scope).map_err(|e| Exchange::Stop(Stop::Skipped(e)))?;
                if offline {
                    names.insert(0, "offline_access".into());
                }
                if c.scope.iter().any(|s| s == "openid") {
                    names.insert(0, "openid".into());
                }
                let code = authorize::authorize(
                    &self.http,
                    &ep.authorization,
                    &self.target.authorize,
                    c,
                    &names.join(" "),
                )
                .await
                .map_err(|e| {
                    Exchange::Broken(
                        checks::AUTHORIZE_TOKENS,
                        format!("authorization failed: {e}"),
                    )
                })?;
                let g = s.grants.len();
                s.redactor.add(&code.code, format!("CODE(G{g})"));
                s.redactor.add(&code.verifier, format!("VERIFIER(G{g})"));
                s.grants.push(GrantWire {
                    client,
                    code: code.code.clone(),
                    verifier: code.verifier.clone(),
                    scope_names: None,
                    id_claims: None,
                });
                let (o, x) = self.exchange_code(c, &code.code, &code.verifier).await?;
                Ok((o, None, Protocol::Token(x, Some(scope))))
            }
            Action::ReplayCode { grant } => {
                let (client, code, verifier) = {
                    let g = s.grants.get(grant.0 as usize).ok_or_else(|| {
                        Exchange::Stop(Stop::Error(format!("{grant} has no code")))
                    })?;
                    (g.client, g.code.clone(), g.verifier.clone())
                };
                let c = self.client(client).map_err(Exchange::Stop)?;
                let (o, x) = self.exchange_code(c, &code, &verifier).await?;
                Ok((o, None, Protocol::Token(x, None)))
            }
            Action::Refresh { by, rt, scope } => {
                let owner = state.rt_grant(rt).client;
                self.refresh(s, state, by, owner, rt, scope).await
            }
            Action::RefreshLost { rt } => {
                let owner = state.rt_grant(rt).client;
                self.refresh(s, state, Actor::Client(owner), owner, rt, None)
                    .await
            }
            Action::UseAccess { at } => {
                let url = ep
                    .resource
                    .as_ref()
                    .ok_or_else(|| Exchange::Stop(Stop::Skipped("no resource_url".into())))?;
                let v =
                    s.bindings.at(at).cloned().ok_or_else(|| {
                        Exchange::Stop(Stop::Error(format!("{at} was never issued")))
                    })?;
                let r = self
                    .send(&wire::resource_request(url, &v), checks::RESOURCE_RESPONSE)
                    .await?;
                let (o, challenge) = wire::read_resource(&r)
                    .map_err(|m| Exchange::Broken(checks::RESOURCE_RESPONSE, m))?;
                Ok((o, None, Protocol::Resource(challenge)))
            }
            Action::Revoke { by, token, hint } => {
                let url = ep.revocation.as_ref().ok_or_else(|| {
                    Exchange::Stop(Stop::Skipped("no revocation endpoint".into()))
                })?;
                let owner = owner_of(state, token);
                let creds = self.credentials(by, owner).map_err(Exchange::Stop)?;
                let (value, right) = s.token_value(token)?;
                let mut form = vec![("token".to_string(), value.expose().to_string())];
                let wrong = if right == "refresh_token" {
                    "access_token"
                } else {
                    "refresh_token"
                };
                match hint {
                    Hint::None => {}
                    Hint::Right => form.push(("token_type_hint".into(), right.into())),
                    Hint::Wrong => form.push(("token_type_hint".into(), wrong.into())),
                }
                let r = self
                    .send(&wire::post(url, form, creds), checks::REVOKE_RESPONSE)
                    .await?;
                let (o, error_body) = wire::read_revocation(&r)
                    .map_err(|m| Exchange::Broken(checks::REVOKE_RESPONSE, m))?;
                Ok((o, None, Protocol::Revocation(error_body)))
            }
            Action::Introspect { token } => {
                let url = ep.introspection.as_ref().ok_or_else(|| {
                    Exchange::Stop(Stop::Skipped("no introspection endpoint".into()))
                })?;
                let owner = owner_of(state, token);
                let creds = match &self.target.introspection {
                    Some(i) => Credentials::Basic(&i.client_id, i.client_secret.as_ref()),
                    None => Credentials::Client(self.client(owner).map_err(Exchange::Stop)?),
                };
                let (value, kind) = s.token_value(token)?;
                let form = vec![
                    ("token".to_string(), value.expose().to_string()),
                    ("token_type_hint".to_string(), kind.to_string()),
                ];
                let r = self
                    .send(&wire::post(url, form, creds), checks::INTROSPECT_RESPONSE)
                    .await?;
                let (o, extra) = wire::read_introspection(&r)
                    .map_err(|m| Exchange::Broken(checks::INTROSPECT_RESPONSE, m))?;
                Ok((o, None, Protocol::Introspection(extra)))
            }
            Action::Tick | Action::Restart | Action::Steal { .. } => {
                Ok((Observed::Nothing, None, Protocol::None))
            }
        }
    }

    async fn exchange_code(
        &self,
        c: &ClientConfig,
        code: &Secret,
        verifier: &Secret,
    ) -> Result<(Observed, TokenExtras), Exchange> {
        let form = vec![
            ("grant_type".to_string(), "authorization_code".to_string()),
            ("code".to_string(), code.expose().to_string()),
            ("redirect_uri".to_string(), c.redirect_uri.clone()),
            ("code_verifier".to_string(), verifier.expose().to_string()),
        ];
        let r = self
            .send(
                &wire::post(&self.endpoints.token, form, Credentials::Client(c)),
                checks::TOKEN_RESPONSE,
            )
            .await?;
        wire::read_token(&r, c).map_err(|m| Exchange::Broken(checks::TOKEN_RESPONSE, m))
    }

    async fn refresh(
        &self,
        s: &mut Session<'_>,
        state: &tokenlife_model::State,
        by: Actor,
        owner: ClientType,
        rt: RtId,
        scope: Option<tokenlife_model::state::Scope>,
    ) -> Result<(Observed, Option<Secret>, Protocol), Exchange> {
        let creds = self.credentials(by, owner).map_err(Exchange::Stop)?;
        let owner_client = self.client(owner).map_err(Exchange::Stop)?;
        let value = s
            .bindings
            .rt(rt)
            .cloned()
            .ok_or_else(|| Exchange::Stop(Stop::Error(format!("{rt} was never issued"))))?;
        let mut form = vec![
            ("grant_type".to_string(), "refresh_token".to_string()),
            ("refresh_token".to_string(), value.expose().to_string()),
        ];
        if let Some(sc) = scope {
            let names = wire::scope_names(owner_client, sc)
                .map_err(|e| Exchange::Stop(Stop::Skipped(e)))?;
            form.push(("scope".into(), names.join(" ")));
        }
        let r = self
            .send(
                &wire::post(&self.endpoints.token, form, creds),
                checks::TOKEN_RESPONSE,
            )
            .await?;
        let (o, x) = wire::read_token(&r, owner_client)
            .map_err(|m| Exchange::Broken(checks::TOKEN_RESPONSE, m))?;
        let requested = Some(scope.unwrap_or(state.rts[rt.0 as usize].scope));
        Ok((o, Some(value), Protocol::Token(x, requested)))
    }

    async fn tick(&self, s: &mut Session<'_>, n: usize, until: Option<&str>) -> Result<(), Stop> {
        let target = match until {
            None => None,
            Some(name) => Some(s.token(name)?),
        };
        let dead = |s: &Session<'_>| match target {
            None => false,
            Some(TokenRef::Access(a)) => s
                .set
                .states()
                .iter()
                .all(|st| st.ats[a.0 as usize].exp == 0),
            Some(TokenRef::Refresh(r)) => s
                .set
                .states()
                .iter()
                .all(|st| expiry_reason(st, r).is_some()),
        };
        let mut total = 0u32;
        for _ in 0..32 {
            let Some(d) = s.set.next_deadline() else {
                if total == 0 {
                    return Err(Stop::Error(format!(
                        "step {n}: no deadline is left to tick to"
                    )));
                }
                break;
            };
            s.actions += 1;
            let fp = fingerprint(s.set.first());
            if let ClockConfig::Real { skew } = &self.target.clock {
                // Wait until the deadline has passed by more than the skew, then read the clock.
                let at = s.set.next_deadline_at().unwrap_or(d);
                let wake = s.started
                    + Duration::from_secs(u64::from(at + skew.get() + s.set.slack()))
                    + Duration::from_millis(200);
                tokio::time::sleep_until(wake).await;
                s.set.sync(s.elapsed(), skew.get());
                total += d;
            } else {
                self.advance(d).await.map_err(|m| {
                    s.eval(checks::CLOCK, Verdict::Failed, n, Some(m.clone()));
                    Stop::Failed(format!("step {n}: {m}"))
                })?;
                s.set.advance(d);
                total += d;
            }
            s.covered.insert((fp, Action::Tick, Outcome::Nothing));
            if target.is_none() || dead(s) {
                break;
            }
        }
        if target.is_some() && !dead(s) {
            return Err(Stop::Error(format!(
                "step {n}: {} never dies under this policy",
                until.unwrap_or_default()
            )));
        }
        s.line(format!("{n}. time passes: {total} s"));
        Ok(())
    }

    /// `count` concurrent refreshes of `rt` by its owner (one of them a revocation when
    /// `with_revoke`). The answers are judged together with stateright's linearizability
    /// tester: they pass when some order of the requests, consistent with when each was
    /// sent and answered, gives answers the model allows one after another, as the
    /// server's compare-and-set should guarantee.
    async fn race(
        &self,
        s: &mut Session<'_>,
        n: usize,
        rt: RtId,
        count: u8,
        with_revoke: bool,
    ) -> Result<(), Stop> {
        if let ClockConfig::Real { skew } = &self.target.clock {
            s.set.sync(s.elapsed(), skew.get());
        }
        let began = tokio::time::Instant::now();
        let state = s.set.first().clone();
        let owner = state.rt_grant(rt).client;
        let c = self.client(owner)?;
        let value = s
            .bindings
            .rt(rt)
            .cloned()
            .ok_or_else(|| Stop::Error(format!("{rt} was never issued")))?;
        let refresh = Action::Refresh {
            by: Actor::Client(owner),
            rt,
            scope: None,
        };
        let revoke = Action::Revoke {
            by: Actor::Client(owner),
            token: TokenRef::Refresh(rt),
            hint: Hint::Right,
        };
        let refresh_req = wire::post(
            &self.endpoints.token,
            vec![
                ("grant_type".to_string(), "refresh_token".to_string()),
                ("refresh_token".to_string(), value.expose().to_string()),
            ],
            Credentials::Client(c),
        );
        let revoke_req = match (&self.endpoints.revocation, with_revoke) {
            (Some(url), true) => Some(wire::post(
                url,
                vec![
                    ("token".to_string(), value.expose().to_string()),
                    ("token_type_hint".to_string(), "refresh_token".to_string()),
                ],
                Credentials::Client(c),
            )),
            (None, true) => {
                return Err(Stop::Skipped(
                    "the target has no revocation endpoint".into(),
                ))
            }
            _ => None,
        };
        let mut tasks = tokio::task::JoinSet::new();
        for k in 0..count {
            let is_revoke = k == 0 && revoke_req.is_some();
            let req = if is_revoke {
                revoke_req.clone()
            } else {
                Some(refresh_req.clone())
            };
            let http = self.http.clone();
            tasks.spawn(async move {
                let sent = std::time::Instant::now();
                let r = match req {
                    Some(req) => http.send(&req).await,
                    None => Err(HttpError::BadUrl(String::new())),
                };
                (is_revoke, sent, r, std::time::Instant::now())
            });
        }
        let mut calls: Vec<crate::linearize::Call> = Vec::with_capacity(count as usize);
        let what = if with_revoke {
            format!(
                "{} concurrent refreshes with {rt} and its revocation",
                count - 1
            )
        } else {
            format!("{count} concurrent refreshes with {rt}")
        };
        while let Some(joined) = tasks.join_next().await {
            let read = match joined {
                Ok((false, sent, Ok(r), at)) => {
                    wire::read_token(&r, c).map(|(o, _)| (refresh, sent, o, at))
                }
                Ok((true, sent, Ok(r), at)) => {
                    wire::read_revocation(&r).map(|(o, _)| (revoke, sent, o, at))
                }
                Ok((_, _, Err(e), _)) => Err(e.to_string()),
                Err(e) => Err(format!("a request task failed: {e}")),
            };
            match read {
                Ok((action, sent, o, at)) => calls.push(crate::linearize::Call {
                    action,
                    sent,
                    answered: Some((at, o)),
                }),
                Err(m) => {
                    let m = s.redactor.apply(&m);
                    s.line(format!(
                        "{n}. {what} → {m}  ✗ {}",
                        checks::TOKEN_RESPONSE.id
                    ));
                    s.eval(
                        checks::TOKEN_RESPONSE,
                        Verdict::Failed,
                        n,
                        Some(format!("{what}: {m}")),
                    );
                    return Err(Stop::Failed(format!("step {n}: {m}")));
                }
            }
        }
        s.set.widen(whole_seconds(began.elapsed()));
        s.actions += count as usize;
        if with_revoke {
            s.history.revoked.insert(TokenRef::Refresh(rt), Hint::Right);
        }
        let shown: Vec<String> = calls
            .iter()
            .filter_map(|c| c.answered.as_ref().map(|(_, o)| s.describe(o)))
            .collect();
        match crate::linearize::linearize(&s.set, &s.bindings, &value, &calls) {
            Some((set, bindings, outcomes)) => {
                s.set = set;
                for (i, v) in bindings.rt.iter().enumerate() {
                    if let (Some(v), None) = (v, s.bindings.rt.get(i).and_then(Option::as_ref)) {
                        s.redactor.add(v, format!("RT{i}"));
                    }
                }
                for (i, v) in bindings.at.iter().enumerate() {
                    if let (Some(v), None) = (v, s.bindings.at.get(i).and_then(Option::as_ref)) {
                        s.redactor.add(v, format!("AT{i}"));
                    }
                }
                s.bindings = bindings;
                let list: Vec<String> = outcomes.iter().map(ToString::to_string).collect();
                s.line(format!("{n}. {what} → in some order: {}", list.join("; ")));
                s.eval(checks::RACE, Verdict::Passed, n, None);
                Ok(())
            }
            None => {
                let msg = format!(
                    "{what}: got {}; no order of these answers is allowed by the policy ({})",
                    shown.join("; "),
                    s.set.policy().profile
                );
                s.line(format!(
                    "{n}. {what} → {}  ✗ {}",
                    shown.join("; "),
                    checks::RACE.id
                ));
                s.eval(checks::RACE, Verdict::Failed, n, Some(msg.clone()));
                Err(Stop::Failed(format!("step {n}: {msg}")))
            }
        }
    }

    /// Revokes or introspects a token the server never issued (no model action).
    async fn unknown_token(
        &self,
        s: &mut Session<'_>,
        n: usize,
        kind: &StepKind,
    ) -> Result<(), Stop> {
        let c = self
            .client(ClientType::Confidential)
            .or_else(|_| self.client(ClientType::Public))?;
        let token = format!("tokenlife-unknown-{}", authorize::random_token(16));
        let form = vec![("token".to_string(), token)];
        s.actions += 1;
        let revoke = matches!(kind, StepKind::RevokeUnknown);
        let (url, well_formed) = if revoke {
            (self.endpoints.revocation.clone(), checks::REVOKE_RESPONSE)
        } else {
            (
                self.endpoints.introspection.clone(),
                checks::INTROSPECT_RESPONSE,
            )
        };
        let url = url.ok_or_else(|| Stop::Skipped("the endpoint is missing".into()))?;
        let what = if revoke {
            "an unknown token is revoked"
        } else {
            "an unknown token is introspected"
        };
        let broken = |s: &mut Session<'_>, msg: String| {
            s.line(format!("{n}. {what} → {msg}"));
            s.eval(well_formed, Verdict::Failed, n, Some(msg.clone()));
            Stop::Failed(format!("step {n}: {msg}"))
        };
        let r = match self
            .http
            .send(&wire::post(&url, form, Credentials::Client(c)))
            .await
        {
            Ok(r) => r,
            Err(e) => return Err(broken(s, e.to_string())),
        };
        if revoke {
            let (o, error_body) = match wire::read_revocation(&r) {
                Ok(x) => x,
                Err(m) => return Err(broken(s, m)),
            };
            let ok = o == Observed::Revocation { ok: true } && !error_body;
            let got = if error_body {
                "200 with an error member".to_string()
            } else {
                s.describe(&o)
            };
            s.line(format!(
                "{n}. {what} → {got}{}",
                if ok { "" } else { "  ✗ revoke.returns-200" }
            ));
            s.eval(
                checks::REVOKE_OK,
                if ok { Verdict::Passed } else { Verdict::Failed },
                n,
                (!ok).then(|| format!("{what}: got {got}; RFC 7009 §2.2 requires 200")),
            );
        } else {
            let (o, extra) = match wire::read_introspection(&r) {
                Ok(x) => x,
                Err(m) => return Err(broken(s, m)),
            };
            let inactive = o == Observed::Introspection { active: false };
            s.line(format!(
                "{n}. {what} → {}{}",
                s.describe(&o),
                if inactive {
                    ""
                } else {
                    "  ✗ introspect.dead-inactive"
                }
            ));
            s.eval(
                checks::INTROSPECT_DEAD,
                if inactive {
                    Verdict::Passed
                } else {
                    Verdict::Failed
                },
                n,
                (!inactive).then(|| format!("{what}: got active: true")),
            );
            if inactive {
                let only = extra.is_empty();
                s.eval(
                    checks::INTROSPECT_ONLY_ACTIVE,
                    if only {
                        Verdict::Passed
                    } else {
                        Verdict::Failed
                    },
                    n,
                    (!only).then(|| format!("{what}: the response also has {}", extra.join(", "))),
                );
            }
        }
        Ok(())
    }

    async fn advance(&self, seconds: u32) -> Result<(), String> {
        match &self.target.clock {
            ClockConfig::Endpoint { .. } => {
                let url = self.clock_url.clone().unwrap_or_default();
                let r = self
                    .http
                    .send(&Request::post_json(
                        &url,
                        serde_json::json!({ "advance_seconds": seconds }),
                    ))
                    .await
                    .map_err(|e| format!("the clock endpoint: {e}"))?;
                if !(200..300).contains(&r.status) {
                    return Err(format!(
                        "the clock endpoint answered {} to advance_seconds = {seconds}",
                        r.status
                    ));
                }
                Ok(())
            }
            ClockConfig::Real { skew } => {
                tokio::time::sleep(Duration::from_secs(
                    u64::from(seconds) + u64::from(skew.get()),
                ))
                .await;
                Ok(())
            }
        }
    }

    async fn restart(&mut self, s: &mut Session<'_>, n: usize) -> Result<(), Stop> {
        let control = self
            .control
            .clone()
            .ok_or_else(|| Stop::Skipped("the target cannot be restarted".into()))?;
        s.actions += 1;
        match control.restart().await {
            Ok(None) => {}
            Ok(Some((old, new))) => self.rebase(&old, &new),
            Err(m) => {
                s.eval(
                    checks::RESTART_DURABLE,
                    Verdict::Failed,
                    n,
                    Some(format!("restart failed: {m}")),
                );
                return Err(Stop::Failed(format!("step {n}: restart failed: {m}")));
            }
        }
        s.covered.insert((
            fingerprint(s.set.first()),
            Action::Restart,
            Outcome::Nothing,
        ));
        s.set.restart();
        s.history.restarted = true;
        s.line(format!("{n}. the server restarts"));
        Ok(())
    }

    fn rebase(&mut self, old: &str, new: &str) {
        let swap = |u: &mut String| {
            if let Some(rest) = u.strip_prefix(old) {
                *u = format!("{new}{rest}");
            }
        };
        let e = &mut self.endpoints;
        swap(&mut e.authorization);
        swap(&mut e.token);
        for u in [
            &mut e.revocation,
            &mut e.introspection,
            &mut e.resource,
            &mut self.clock_url,
        ]
        .into_iter()
        .flatten()
        {
            swap(u);
        }
    }
}

/// How many candidate sequences proptest's shrinking may run against the target.
pub const SHRINK_RUNS: u32 = 64;

/// A duration in whole seconds (rounded down), for [`StateSet::widen`].
fn whole_seconds(d: Duration) -> u32 {
    u32::try_from(d.as_secs()).unwrap_or(u32::MAX)
}

/// How many sequences run at once against a real-clock target.
pub const CONCURRENCY: usize = 256;

/// Polls every future until all are done (they run at once on the current task).
async fn join_all<F: Future>(futs: Vec<F>) -> Vec<F::Output> {
    let mut futs: Vec<Pin<Box<F>>> = futs.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = futs.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, slot) in futs.iter_mut().zip(out.iter_mut()) {
            if slot.is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *slot = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().flatten().collect()
}

/// A fresh result for a generated sequence.
fn sequence_result(name: &str) -> ScenarioResult {
    ScenarioResult {
        name: name.to_string(),
        file: String::new(),
        status: ScenarioStatus::Passed,
        reason: None,
        steps_run: 0,
        transcript: Vec::new(),
        evaluations: Vec::new(),
    }
}

/// The attacker copies a refresh token: no exchange, only the model changes.
fn steal(s: &mut Session<'_>, n: usize, a: &Action) {
    s.actions += 1;
    s.set.steal(a);
    s.line(format!("{n}. {a}"));
}

/// A finished sequence: its result marked by how it stopped.
fn sequence_run(
    mut r: ScenarioResult,
    actions: usize,
    covered: HashSet<Transition>,
    outcomes: BTreeMap<usize, Outcome>,
    stop: Option<Stop>,
) -> SequenceRun {
    if let Some(Stop::Failed(m) | Stop::Error(m) | Stop::Skipped(m)) = &stop {
        r.reason = Some(m.clone());
        r.status = if matches!(stop, Some(Stop::Failed(_))) {
            ScenarioStatus::Failed
        } else {
            ScenarioStatus::Error
        };
    }
    SequenceRun {
        result: r,
        actions,
        covered,
        outcomes,
        stop,
    }
}

/// What one sequence run left.
struct SequenceRun {
    result: ScenarioResult,
    actions: usize,
    covered: HashSet<Transition>,
    outcomes: BTreeMap<usize, Outcome>,
    stop: Option<Stop>,
}

/// A failing random case, as a scenario file that replays it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Replay {
    /// The scenario's name.
    pub name: String,
    /// The seed.
    pub seed: u64,
    /// The case number.
    pub case: u32,
    /// The scenario file's text.
    pub scenario: String,
}

/// Transition coverage of a generated run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Coverage {
    /// The depth.
    pub depth: u16,
    /// Sequences run.
    pub sequences: usize,
    /// Transitions the model reaches within the depth.
    pub transitions: usize,
    /// Those the run took.
    pub covered: usize,
    /// Distinct (state, action) pairs within the depth: where the server may choose (rotation
    /// `any`, introspection of a live refresh token, a refused cross-client revocation), one
    /// server covers one transition of a pair.
    pub pairs: usize,
    /// The pairs the run took (with any outcome).
    pub pairs_covered: usize,
}

/// What an exchange gives the protocol checks.
enum Protocol {
    Token(TokenExtras, Option<tokenlife_model::state::Scope>),
    Resource(bool),
    Introspection(Vec<String>),
    Revocation(bool),
    None,
}

/// Why an exchange gave no response to judge.
enum Exchange {
    Stop(Stop),
    Broken(Check, String),
}

struct Session<'r> {
    set: StateSet,
    bindings: Bindings,
    history: History,
    names: BTreeMap<String, Named>,
    grants: Vec<GrantWire>,
    redactor: Redactor,
    result: &'r mut ScenarioResult,
    actions: usize,
    fail_on_should: bool,
    covered: HashSet<Transition>,
    /// When the session began: model time 0 of a real clock.
    started: tokio::time::Instant,
    /// The outcome each step was read as, by step number.
    outcomes: BTreeMap<usize, Outcome>,
}

impl Session<'_> {
    /// Whole seconds since the session began.
    fn elapsed(&self) -> u32 {
        u32::try_from(self.started.elapsed().as_secs()).unwrap_or(u32::MAX)
    }

    fn line(&mut self, text: String) {
        let t = self.redactor.apply(&text);
        self.result.transcript.push(t);
    }

    fn eval(&mut self, check: Check, verdict: Verdict, step: usize, message: Option<String>) {
        let message = message.map(|m| self.redactor.apply(&m));
        let mut e = Evaluation::new(check, verdict, step, message);
        if verdict != Verdict::Passed {
            e.trace = Some(self.result.transcript.clone());
        }
        self.result.evaluations.push(e);
    }

    fn name(&mut self, name: &Option<String>, id: Named) {
        if let Some(n) = name {
            self.names.insert(n.clone(), id);
        }
    }

    fn lookup(&self, name: &str) -> Result<Named, Stop> {
        self.names
            .get(name)
            .copied()
            .ok_or_else(|| Stop::Error(format!("`{name}` was never issued under this policy")))
    }

    fn grant(&self, name: &str) -> Result<GrantId, Stop> {
        match self.lookup(name)? {
            Named::Grant(g) => Ok(g),
            _ => Err(Stop::Error(format!("`{name}` is not a grant"))),
        }
    }

    fn rt(&self, name: &str) -> Result<RtId, Stop> {
        match self.lookup(name)? {
            Named::Rt(r) => Ok(r),
            _ => Err(Stop::Error(format!("`{name}` is not a refresh token"))),
        }
    }

    fn at(&self, name: &str) -> Result<AtId, Stop> {
        match self.lookup(name)? {
            Named::At(a) => Ok(a),
            _ => Err(Stop::Error(format!("`{name}` is not an access token"))),
        }
    }

    fn token(&self, name: &str) -> Result<TokenRef, Stop> {
        match self.lookup(name)? {
            Named::Rt(r) => Ok(TokenRef::Refresh(r)),
            Named::At(a) => Ok(TokenRef::Access(a)),
            Named::Grant(_) => Err(Stop::Error(format!("`{name}` is a grant, not a token"))),
        }
    }

    fn token_value(&self, t: TokenRef) -> Result<(Secret, &'static str), Exchange> {
        let v = match t {
            TokenRef::Refresh(r) => self.bindings.rt(r).cloned().map(|v| (v, "refresh_token")),
            TokenRef::Access(a) => self.bindings.at(a).cloned().map(|v| (v, "access_token")),
        };
        v.ok_or_else(|| Exchange::Stop(Stop::Error(format!("{t} was never issued"))))
    }

    /// What was observed, for a message, with tokens named when known.
    fn describe(&self, o: &Observed) -> String {
        match o {
            Observed::Tokens { refresh, scope, .. } => {
                let rt = match refresh {
                    None => "no refresh token".to_string(),
                    Some(v) => match self.bindings.rt.iter().position(|b| b.as_ref() == Some(v)) {
                        Some(i) => format!("RT{i} again"),
                        None => "a new refresh token".to_string(),
                    },
                };
                let scope =
                    scope.map_or("no scope member".to_string(), |s| format!("scope \"{s}\""));
                format!("200 with an access token, {rt}, {scope}")
            }
            Observed::Error { status, error } => format!("{status} {error}"),
            Observed::Resource { ok: true } => "200 from the resource".into(),
            Observed::Resource { ok: false } => "a refusal from the resource".into(),
            Observed::Revocation { ok: true } => "200 (revocation)".into(),
            Observed::Revocation { ok: false } => "4xx (revocation refused)".into(),
            Observed::Introspection { active } => format!("active: {active}"),
            Observed::Nothing => "-".into(),
        }
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
