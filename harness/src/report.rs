//! Reports: what a run found, as data (JSON) and for people (terminal text).
//!
//! Every report names the tool version, the target, the resolved policy, the seed and a
//! hash of the scenarios. Tokens never appear: transcripts use model ids (`RT0`, `AT1`)
//! and messages went through the run's redactor. A check is counted once per scenario with
//! its worst verdict; each failure carries its scenario's trace up to the divergence.
//! Clauses: the check catalogue's (see `checks`).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::checks::{Check, Level, Verdict};

/// How many infrastructure problems the human report lists (an overloaded target can stop
/// hundreds of sequences; report.json has them all).
const SHOWN_INTERRUPTIONS: usize = 10;

/// One evaluation of a check.
#[derive(Clone, Debug, Serialize)]
pub struct Evaluation {
    /// The check id.
    pub id: &'static str,
    /// Its clause.
    pub clause: &'static str,
    /// Its level.
    pub level: Level,
    /// The verdict.
    pub verdict: Verdict,
    /// The step (1-based) it was made at.
    pub step: usize,
    /// What was seen, for a warning or a failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The transcript up to here, for a warning or a failure.
    #[serde(skip)]
    pub trace: Option<Vec<String>>,
}

impl Evaluation {
    /// An evaluation of `check`.
    pub fn new(check: Check, verdict: Verdict, step: usize, message: Option<String>) -> Evaluation {
        Evaluation {
            id: check.id,
            clause: check.clause,
            level: check.level,
            verdict,
            step,
            message,
            trace: None,
        }
    }
}

/// How a scenario ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScenarioStatus {
    /// Every check held (warnings allowed).
    Passed,
    /// Some check failed.
    Failed,
    /// Not run: a requirement is unmet (policy, endpoints, clients, restart).
    Skipped,
    /// The scenario itself is wrong for this policy (a pinned expectation the model contradicts).
    Error,
    /// Stopped by an infrastructure problem (a request got no answer): what it had not
    /// reached is not tested, and nothing is judged about the server.
    Interrupted,
    /// Not run: it needs a capability the target lacks (narrowing, for a client registered
    /// for one resource scope); the report's `could not test:` line for that capability
    /// names it.
    Untestable,
}

/// One scenario's result.
#[derive(Clone, Debug, Serialize)]
pub struct ScenarioResult {
    /// The scenario's name.
    pub name: String,
    /// Its file.
    pub file: String,
    /// How it ended.
    pub status: ScenarioStatus,
    /// Why it was skipped, stopped or is an error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Steps run.
    pub steps_run: usize,
    /// The transcript, redacted.
    pub transcript: Vec<String>,
    /// Every check evaluation.
    pub evaluations: Vec<Evaluation>,
    /// What stopped it without a verdict (the report lists them all at its top level).
    #[serde(skip)]
    pub infrastructure: Vec<Interruption>,
}

/// A request the target did not answer (no answer within the timeout, a connection refused
/// or broken mid-run, 429 after every retry): it stopped its scenario or sequence, and is an
/// infrastructure problem of the run, not a verdict on the server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Interruption {
    /// The scenario, or the generated sequence (`exhaustive-depth-4, sequence 17`).
    pub scenario: String,
    /// The step (1-based) whose request got no answer.
    pub step: usize,
    /// The requests of that step that got no answer (a race sends several).
    pub requests: usize,
    /// What happened, redacted.
    pub message: String,
    /// The transcript up to that step.
    pub trace: Vec<String>,
}

impl ScenarioResult {
    /// A result that has run nothing yet (it passes until a check fails).
    pub fn new(name: impl Into<String>, file: impl Into<String>) -> ScenarioResult {
        ScenarioResult {
            name: name.into(),
            file: file.into(),
            status: ScenarioStatus::Passed,
            reason: None,
            steps_run: 0,
            transcript: Vec::new(),
            evaluations: Vec::new(),
            infrastructure: Vec::new(),
        }
    }

    /// The result of one request judged by one check (a probe, discovery): it fails when
    /// the check failed, and passes otherwise (a warning included).
    pub fn single(
        name: impl Into<String>,
        file: impl Into<String>,
        line: String,
        evaluation: Evaluation,
    ) -> ScenarioResult {
        let mut r = ScenarioResult::new(name, file);
        if evaluation.verdict == Verdict::Failed {
            r.status = ScenarioStatus::Failed;
        }
        r.steps_run = 1;
        r.transcript.push(line);
        r.evaluations.push(evaluation);
        r
    }
}

/// A failing random case or search walk, as a scenario file that replays it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Replay {
    /// The scenario's name.
    pub name: String,
    /// The seed.
    pub seed: u64,
    /// The case (or walk) number.
    pub case: u32,
    /// The scenario file's text.
    pub scenario: String,
}

/// Transition coverage of a generated run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Coverage {
    /// The depth.
    pub depth: u16,
    /// Sequences run.
    pub sequences: usize,
    /// Transitions within the depth the target can reach: the model's, less those that
    /// need a capability the target lacks (an endpoint, a strict subset of a scope).
    pub transitions: usize,
    /// Every transition the model reaches within the depth, whatever the target can do.
    pub model_transitions: usize,
    /// Those the run took.
    pub covered: usize,
    /// Distinct (state, action) pairs within the depth: where the server may choose (rotation
    /// `any`, introspection of a live refresh token, a refused cross-client revocation), one
    /// server covers one transition of a pair.
    pub pairs: usize,
    /// The pairs the run took (with any outcome).
    pub pairs_covered: usize,
}

impl Coverage {
    /// "N sequences, C of M transitions the target can reach covered (P%) …": the line the
    /// human report, the generated result's transcript and `report.md` share.
    pub fn summary(&self) -> String {
        let of_model = if self.model_transitions > self.transitions {
            format!(
                "; the model has {} within the depth, the rest need what the target lacks",
                self.model_transitions
            )
        } else {
            String::new()
        };
        format!(
            "{} sequences, {} of {} transitions the target can reach covered ({:.0}%{of_model}), {} of {} (state, action) pairs",
            self.sequences,
            self.covered,
            self.transitions,
            100.0 * self.covered as f64 / (self.transitions.max(1)) as f64,
            self.pairs_covered,
            self.pairs
        )
    }
}

/// What every generated walk of a run (the transition cover, the aimed search, random
/// cases) covered against what the aimed search's alphabet reaches at its bounds (one
/// grant, walks of `len` actions): the same measure whichever phases ran.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SearchCoverage {
    /// The budget, in requests.
    pub budget: u64,
    /// The requests the planned walks cost (at most the budget; less when planning found
    /// nothing new to reach).
    pub requests: u64,
    /// Walks run.
    pub walks: usize,
    /// Of them, deadline probes.
    pub probes: usize,
    /// Actions per walk at most.
    pub len: u16,
    /// (state, action) pairs reached, by the cover and the search.
    pub pairs_covered: usize,
    /// Pairs the search's alphabet reaches within `len` actions (`None`: not measured).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pairs: Option<usize>,
    /// Situations (the rule the spec applied × the order of the pending deadlines) reached.
    pub situations_covered: usize,
    /// Situations reachable within `len` actions (`None`: not measured).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub situations: Option<usize>,
    /// Whether reachability was measured to the end (else it stopped at a cap of states,
    /// and `pairs` / `situations` are lower bounds).
    pub complete: bool,
    /// The situations reachable and not reached, by name (at most 20).
    pub missed: Vec<String>,
}

impl SearchCoverage {
    /// "N walks, R of B requests: P of Q (state, action) pairs, S of T situations".
    pub fn summary(&self) -> String {
        let of = |n: usize, total: Option<usize>| match total {
            Some(t) if self.complete => {
                format!("{n} of {t} ({:.0}%)", 100.0 * n as f64 / t.max(1) as f64)
            }
            Some(t) => format!("{n} of at least {t}"),
            None => n.to_string(),
        };
        let search = if self.budget == 0 {
            "no aimed search".to_string()
        } else {
            format!(
                "{} walks of up to {} actions ({} deadline probes), {} of {} requests",
                self.walks, self.len, self.probes, self.requests, self.budget
            )
        };
        format!(
            "{search}; every generated walk together: {} (state, action) pairs, {} situations (rule × pending deadlines) within {} actions",
            of(self.pairs_covered, self.pairs),
            of(self.situations_covered, self.situations),
            self.len
        )
    }
}

/// A failed or warned check, with the trace that shows it.
#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    /// The check id.
    pub id: String,
    /// Its clause.
    pub clause: String,
    /// Its level.
    pub level: Level,
    /// What the check asks, as a sentence.
    pub check: String,
    /// What was seen.
    pub message: String,
    /// The scenario.
    pub scenario: String,
    /// The transcript up to the divergence.
    pub trace: Vec<String>,
}

/// The report of a run.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// `tokenlife x.y.z`.
    pub tool: String,
    /// The target's name (issuer or URL).
    pub target: String,
    /// The declared policy's profile.
    pub profile: String,
    /// The resolved policy, as TOML.
    pub policy: String,
    /// The seed (for generated tests; scenarios do not use it).
    pub seed: u64,
    /// A hash of the scenario files.
    pub scenarios_hash: String,
    /// (scenario, check) pairs evaluated.
    pub checks: usize,
    /// Those that held.
    pub passed: usize,
    /// Those that failed.
    pub failed: usize,
    /// Those that only warned.
    pub warnings: usize,
    /// Model actions performed.
    pub actions: usize,
    /// Each failed check, with its trace.
    pub failures: Vec<Finding>,
    /// Each warning, with its trace.
    pub warning_list: Vec<Finding>,
    /// Failures an expected-divergences file accepts.
    pub expected: Vec<Finding>,
    /// Expected divergences that did not happen (they fail the run).
    pub stale: Vec<String>,
    /// Notes: skipped endpoints, truncated state sets.
    pub notes: Vec<String>,
    /// Infrastructure problems: requests that got no answer, each of which stopped its
    /// scenario or sequence (not verdicts; what they stopped is not tested).
    pub infrastructure: Vec<Interruption>,
    /// Failing random cases, each as a scenario file that replays it.
    pub replays: Vec<Replay>,
    /// Transition coverage of the exhaustive sequences, if they ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coverage: Option<Coverage>,
    /// What the aimed search covered, if it ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub search: Option<SearchCoverage>,
    /// Why the run stopped before it finished (its `--max-time`, a signal, the circuit
    /// breaker); what it had not reached is not tested. `None`: it finished.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partial: Option<String>,
    /// Why the run could not start (a bad or unreachable target): no check ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Every origin (`scheme://host:port`) the run sent a client secret or a token to.
    pub credentials_sent_to: Vec<String>,
    /// Every scenario.
    pub scenarios: Vec<ScenarioResult>,
}

impl Report {
    /// Builds the tallies from the scenario results.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        target: String,
        profile: String,
        policy: String,
        seed: u64,
        scenarios_hash: String,
        scenarios: Vec<ScenarioResult>,
        notes: Vec<String>,
        actions: usize,
    ) -> Report {
        let mut worst: BTreeMap<(&str, &str), (Verdict, &Evaluation)> = BTreeMap::new();
        let mut failures = Vec::new();
        let mut warning_list = Vec::new();
        for s in &scenarios {
            for e in &s.evaluations {
                let key = (s.name.as_str(), e.id);
                match worst.get(&key) {
                    Some((v, _)) if *v >= e.verdict => {}
                    _ => {
                        worst.insert(key, (e.verdict, e));
                    }
                }
            }
        }
        let infrastructure = scenarios
            .iter()
            .flat_map(|s| s.infrastructure.iter().cloned())
            .collect();
        let (mut passed, mut failed, mut warnings) = (0, 0, 0);
        for ((scenario, _), (v, e)) in &worst {
            match v {
                Verdict::Passed => passed += 1,
                Verdict::Failed | Verdict::Warning => {
                    let trace = e.trace.clone().unwrap_or_default();
                    let f = Finding {
                        id: e.id.to_string(),
                        clause: e.clause.to_string(),
                        level: e.level,
                        check: crate::checks::by_id(e.id)
                            .map(|c| c.title.to_string())
                            .unwrap_or_default(),
                        message: e.message.clone().unwrap_or_default(),
                        scenario: scenario.to_string(),
                        trace,
                    };
                    if *v == Verdict::Failed {
                        failed += 1;
                        failures.push(f);
                    } else {
                        warnings += 1;
                        warning_list.push(f);
                    }
                }
            }
        }
        Report {
            tool: format!("tokenlife {}", env!("CARGO_PKG_VERSION")),
            target,
            profile,
            policy,
            seed,
            scenarios_hash,
            checks: worst.len(),
            passed,
            failed,
            warnings,
            actions,
            failures,
            warning_list,
            expected: Vec::new(),
            stale: Vec::new(),
            notes,
            infrastructure,
            replays: Vec::new(),
            coverage: None,
            search: None,
            partial: None,
            error: None,
            credentials_sent_to: Vec::new(),
            scenarios,
        }
    }

    /// The report of a run that could not start: no check, the error (already redacted).
    pub fn not_run(target: String, profile: String, seed: u64, error: String) -> Report {
        let mut r = Report::new(
            target,
            profile,
            String::new(),
            seed,
            String::new(),
            Vec::new(),
            Vec::new(),
            0,
        );
        r.error = Some(error);
        r
    }

    /// Every text of the report through `redactor` (each message, transcript line, note and
    /// replay): the last pass before a report is shown, so that what a session's own
    /// redactor never saw (a probe's answer, discovery) is covered too.
    pub fn redact(&mut self, redactor: &crate::secret::Redactor) {
        let r = |t: &mut String| *t = redactor.apply(t);
        let lines = |v: &mut Vec<String>| v.iter_mut().for_each(r);
        r(&mut self.target);
        for f in self
            .failures
            .iter_mut()
            .chain(self.warning_list.iter_mut())
            .chain(self.expected.iter_mut())
        {
            r(&mut f.message);
            r(&mut f.scenario);
            lines(&mut f.trace);
        }
        lines(&mut self.stale);
        lines(&mut self.notes);
        for i in &mut self.infrastructure {
            r(&mut i.message);
            lines(&mut i.trace);
        }
        for p in &mut self.replays {
            r(&mut p.scenario);
        }
        for o in [&mut self.partial, &mut self.error].into_iter().flatten() {
            r(o);
        }
        for s in &mut self.scenarios {
            s.reason.iter_mut().for_each(r);
            lines(&mut s.transcript);
            for e in &mut s.evaluations {
                e.message.iter_mut().for_each(r);
                e.trace.iter_mut().for_each(lines);
            }
            for i in &mut s.infrastructure {
                r(&mut i.message);
                lines(&mut i.trace);
            }
        }
    }

    /// Whether the run found nothing that fails.
    pub fn conformant(&self) -> bool {
        self.failed == 0 && self.stale.is_empty()
    }

    /// Whether some request got no answer, or the run stopped before it finished, or could
    /// not start (exit 4 when nothing failed: the target was not reliably reachable).
    pub fn interrupted(&self) -> bool {
        !self.infrastructure.is_empty() || self.partial.is_some() || self.error.is_some()
    }

    /// One line: how many requests in how many scenarios or sequences got no answer, and
    /// what to try; `None` when every request was answered.
    pub fn infrastructure_summary(&self) -> Option<String> {
        if self.infrastructure.is_empty() {
            return None;
        }
        let requests: usize = self.infrastructure.iter().map(|i| i.requests).sum();
        let stopped = self.infrastructure.len();
        Some(format!(
            "infrastructure problems: {requests} request{} got no answer (timeout, connection refused or broken, 429), stopping {stopped} scenario{} or sequence{}; the target was not reliably reachable, and what they stopped is not tested — try a lower --concurrency or --in-flight, or a longer --timeout",
            if requests == 1 { "" } else { "s" },
            if stopped == 1 { "" } else { "s" },
            if stopped == 1 { "" } else { "s" },
        ))
    }

    /// Whether some scenario is wrong for the policy.
    pub fn has_scenario_errors(&self) -> bool {
        self.scenarios
            .iter()
            .any(|s| s.status == ScenarioStatus::Error)
    }

    /// The report for people.
    pub fn human(&self) -> String {
        let mut out = String::new();
        out.push_str(&format!(
            "{} against {} (policy {}, seed {}, scenarios {})\n\n",
            self.tool, self.target, self.profile, self.seed, self.scenarios_hash
        ));
        if let Some(e) = &self.error {
            out.push_str(&format!("NOT RUN: {e}\n\n"));
        }
        if let Some(p) = &self.partial {
            out.push_str(&format!(
                "PARTIAL REPORT: {p}; what the run had not reached is not tested\n\n"
            ));
        }
        for s in &self.scenarios {
            let mark = match s.status {
                ScenarioStatus::Passed => "ok  ",
                ScenarioStatus::Failed => "FAIL",
                ScenarioStatus::Skipped => "skip",
                ScenarioStatus::Error => "ERR ",
                ScenarioStatus::Interrupted => "INTR",
                ScenarioStatus::Untestable => "n/a ",
            };
            out.push_str(&format!("{mark} {}", s.name));
            if let Some(r) = &s.reason {
                out.push_str(&format!(" ({r})"));
            }
            out.push('\n');
        }
        let mut by_clause: BTreeMap<&str, (usize, usize, usize)> = BTreeMap::new();
        let mut worst: BTreeMap<(&str, &str), (Verdict, &str)> = BTreeMap::new();
        for s in &self.scenarios {
            for e in &s.evaluations {
                let entry = worst
                    .entry((s.name.as_str(), e.id))
                    .or_insert((e.verdict, e.clause));
                if e.verdict > entry.0 {
                    entry.0 = e.verdict;
                }
            }
        }
        for (v, clause) in worst.values() {
            let c = by_clause.entry(clause).or_default();
            match v {
                Verdict::Passed => c.0 += 1,
                Verdict::Failed => c.1 += 1,
                Verdict::Warning => c.2 += 1,
            }
        }
        out.push_str("\nby clause                 passed  failed  warnings\n");
        for (clause, (p, f, w)) in &by_clause {
            out.push_str(&format!("  {clause:<22} {p:>7} {f:>7} {w:>9}\n"));
        }
        for (title, list) in [("FAILED", &self.failures), ("WARNING", &self.warning_list)] {
            for f in list {
                out.push_str(&format!(
                    "\n{title} {} [{} {}] in {} (seed {})\n  {}\n  {}\n",
                    f.id, f.clause, f.level, f.scenario, self.seed, f.check, f.message
                ));
                for line in &f.trace {
                    out.push_str(&format!("    {line}\n"));
                }
            }
        }
        if let Some(c) = &self.coverage {
            out.push_str(&format!(
                "\nexhaustive to depth {}: {}\n",
                c.depth,
                c.summary()
            ));
        }
        if let Some(c) = &self.search {
            out.push_str(&format!("\naimed search: {}\n", c.summary()));
        }
        for r in &self.replays {
            out.push_str(&format!(
                "\n{} fails; this scenario ({}.toml) replays it:\n{}",
                r.name, r.name, r.scenario
            ));
        }
        for f in &self.expected {
            out.push_str(&format!(
                "\nexpected divergence {} in {}: {}\n",
                f.id, f.scenario, f.message
            ));
        }
        for s in &self.stale {
            out.push_str(&format!("\nSTALE {s}\n"));
        }
        for n in &self.notes {
            out.push_str(&format!("\nnote: {n}\n"));
        }
        if !self.infrastructure.is_empty() {
            out.push_str(
                "\ninfrastructure problems (not verdicts on the server; what they stopped is not tested)\n",
            );
            for i in self.infrastructure.iter().take(SHOWN_INTERRUPTIONS) {
                out.push_str(&format!(
                    "  {}, step {}: {}\n",
                    i.scenario, i.step, i.message
                ));
            }
            if self.infrastructure.len() > SHOWN_INTERRUPTIONS {
                out.push_str(&format!(
                    "  ... and {} more (report.json lists every one)\n",
                    self.infrastructure.len() - SHOWN_INTERRUPTIONS
                ));
            }
        }
        out.push_str(&format!(
            "\n{} checks: {} passed, {} failed, {} warnings; {} actions\n",
            self.checks, self.passed, self.failed, self.warnings, self.actions
        ));
        if let Some(line) = self.infrastructure_summary() {
            out.push_str(&format!("{line}\n"));
        }
        if !self.credentials_sent_to.is_empty() {
            out.push_str(&format!(
                "credentials (client secrets, tokens) sent to: {}\n",
                self.credentials_sent_to.join(", ")
            ));
        }
        if let Some(p) = &self.partial {
            out.push_str(&format!("PARTIAL REPORT: {p}\n"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks;

    #[test]
    fn a_single_result_fails_only_on_a_failed_check() {
        let c = checks::TOKEN_INVALID_CLIENT;
        let failed = Evaluation::new(c, Verdict::Failed, 1, Some("401 expected".into()));
        let r = ScenarioResult::single("probe", "(probe)", "1. a probe".into(), failed);
        assert_eq!(r.status, ScenarioStatus::Failed);
        assert_eq!(
            (r.steps_run, r.transcript.len(), r.evaluations.len()),
            (1, 1, 1)
        );
        let warned = Evaluation::new(c, Verdict::Warning, 1, None);
        let r = ScenarioResult::single("probe", "(probe)", "1. a probe".into(), warned);
        assert_eq!(r.status, ScenarioStatus::Passed);
        assert!(ScenarioResult::new("x", "").evaluations.is_empty());
    }
}
