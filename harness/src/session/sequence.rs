//! Generated sequences of model actions, each run from a fresh model state: the transition
//! cover (or every sequence) to a depth with its [`Coverage`], and random sequences from a
//! seed, the first failing one shrunk with proptest's value tree and returned as a scenario
//! file that replays it ([`Replay`]). With a real clock and no restarts, sequences run at
//! once (up to `RunOptions::concurrency`), each waiting on its own timers. A sequence whose
//! request got no answer stops as an infrastructure problem, with no verdict.

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::pin::Pin;

use tokenlife_model::{Action, Outcome};

use super::harness::Harness;
use super::state::Stop;
use crate::checks::Verdict;
use crate::generate::{Generated, Transition};
use crate::report::{Coverage, Replay, ScenarioResult, ScenarioStatus};
use crate::search::Situation;
use crate::target::ClockConfig;

/// How many candidate sequences proptest's shrinking may run against the target.
pub const SHRINK_RUNS: u32 = 64;

/// How many steps the final shrinking pass may try to remove (one run each). With
/// [`SHRINK_RUNS`] and [`DROP_RUNS`], a failing case costs at most 64 + 32 + 32 runs.
pub const FINAL_PASS_RUNS: u32 = 32;

/// How many steps that mint nothing shrinking may try to remove (one run each).
pub const DROP_RUNS: u32 = 32;

/// How many sequences run at once against a real-clock target unless
/// [`RunOptions::concurrency`](super::RunOptions::concurrency) says otherwise. They mostly
/// sleep until a token expires, so many at once keep a run short; but a step that waits
/// (for a slot, or at a busy server) meets its deadlines later than the model planned, and
/// covers another transition than the one it was generated for. Measured against
/// node-oidc-provider (README, "Running the suite"): 256 covered 30–38% of the transitions
/// in 80–95 s, 128 66% in 93 s, 64 66–72% in 114–122 s, 32 and 16 72% in 170 and 282 s.
pub const CONCURRENCY: usize = 64;

/// The file a generated result names.
const GENERATED: &str = "(generated from the model)";

impl Harness {
    /// Runs generated sequences, each from a fresh model state, as one result: the first
    /// evaluation of each check and verdict is kept (with its trace), and the coverage.
    pub(super) async fn run_generated(
        &mut self,
        g: &Generated,
    ) -> (ScenarioResult, usize, Coverage, Reached) {
        let kind = if self.options.all_sequences {
            "all-sequences"
        } else {
            "exhaustive"
        };
        let name = format!("{kind}-depth-{}", g.depth);
        let mut agg = ScenarioResult::new(name.clone(), GENERATED);
        let mut reached = Reached::default();
        let (mut actions, mut failed, mut errors) = (0usize, 0usize, 0usize);
        let (mut unanswered, mut not_run) = (0usize, 0usize);
        let mut kept: HashSet<(&'static str, Verdict)> = HashSet::new();
        for (i, mut run) in self
            .run_sequences(&name, &g.sequences)
            .await
            .into_iter()
            .enumerate()
        {
            if run.halted {
                not_run += 1;
                continue;
            }
            note_interruptions(&mut agg, &mut run, &format!("{name}, sequence {i}"));
            actions += run.actions;
            reached.take(&mut run);
            match run.stop {
                Some(Stop::Failed(_)) => failed += 1,
                Some(Stop::Error(_)) | Some(Stop::Skipped(_)) => errors += 1,
                Some(Stop::Unanswered(_)) => unanswered += 1,
                None => {}
            }
            let r = run.result;
            for e in r.evaluations {
                if kept.insert((e.id, e.verdict)) {
                    agg.evaluations.push(e);
                }
            }
        }
        let covered = &reached.transitions;
        let in_depth = covered.intersection(&g.transitions).count();
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
        } else if unanswered > 0 || not_run > 0 {
            // Not passed: what the stopped sequences had not reached is not tested.
            agg.status = ScenarioStatus::Interrupted;
            agg.reason = Some(format!(
                "{unanswered} of {} sequences stopped on a request that got no answer{}",
                g.sequences.len(),
                not_run_text(not_run)
            ));
        } else if errors > 0 {
            agg.reason = Some(format!("{errors} sequences could not run"));
        }
        let cov = Coverage {
            depth: g.depth,
            sequences: g.sequences.len(),
            transitions: g.transitions.len(),
            model_transitions: g.model_transitions,
            covered: in_depth,
            pairs: pairs.len(),
            pairs_covered,
        };
        agg.transcript.push(format!(
            "{} sequences, {} actions: {in_depth} of {} transitions the target can reach covered",
            g.sequences.len(),
            actions,
            g.transitions.len()
        ));
        (agg, actions, cov, reached)
    }

    /// Runs many sequences: one at a time with an endpoint clock (it is global) or when the
    /// target can restart; with a real clock, up to [`RunOptions::concurrency`] at once
    /// (default [`CONCURRENCY`]), the next starting as soon as any one ends, so a slow
    /// sequence holds up no other.
    ///
    /// [`RunOptions::concurrency`]: super::RunOptions::concurrency
    async fn run_sequences(&mut self, name: &str, seqs: &[Vec<Action>]) -> Vec<SequenceRun> {
        let concurrent =
            matches!(self.target.clock, ClockConfig::Real { .. }) && self.control.is_none();
        let mut out = Vec::with_capacity(seqs.len());
        let progress = self.options.progress.clone();
        crate::progress::phase(&progress, name, seqs.len() as u64);
        if !concurrent {
            for seq in seqs {
                let run = run_sequence(Hold::Alone(self), name, seq).await;
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
        let limit = match self.options.concurrency {
            0 => CONCURRENCY,
            n => n,
        };
        // Collected first: a lazy iterator of closures held across the awaits makes the
        // future not provably `Send` for every lifetime (rustc's higher-ranked inference).
        let futs: Vec<_> = seqs
            .iter()
            .map(|seq| async {
                let r = run_sequence(Hold::Shared(this), name, seq).await;
                crate::progress::advance(&progress, 1);
                r
            })
            .collect();
        out.extend(bounded(futs, limit).await);
        crate::progress::finish(&progress);
        out
    }

    /// Random sequences from `seed`: stops at the first failing case, shrinks it, and
    /// returns the result with a scenario file that replays it. Shrinking runs the target
    /// at most [`SHRINK_RUNS`] + [`DROP_RUNS`] + [`FINAL_PASS_RUNS`] times: proptest's value
    /// tree, then steps that mint nothing, then a final greedy pass over every step.
    pub(super) async fn run_random(
        &mut self,
        seed: u64,
        cases: u32,
        len: u16,
    ) -> (ScenarioResult, usize, Option<Replay>, Reached) {
        let name = format!("random-seed-{seed}");
        let reach = self.reach();
        let policy = self.target.policy.clone();
        let mut trees = crate::random::cases(seed, cases, len);
        let seqs: Vec<Vec<Action>> = trees
            .iter()
            .map(|c| crate::random::decode(&policy, &c.current(), reach))
            .collect();
        let mut w = self
            .run_walks(&name, seed, "case", &seqs, Some(&mut trees))
            .await;
        if w.replay.is_none() {
            w.result.transcript.push(format!(
                "{cases} random sequences of up to {len} actions from seed {seed}"
            ));
        }
        (w.result, w.actions, w.replay, w.reached)
    }

    /// Runs walks of the model (random cases, the aimed search's walks), each from a fresh
    /// state: stops at the first failing one and shrinks it (with its proptest value tree
    /// first, when it has one), returning a scenario file that replays it.
    pub(super) async fn run_walks(
        &mut self,
        name: &str,
        seed: u64,
        label: &str,
        seqs: &[Vec<Action>],
        mut trees: Option<&mut Vec<crate::random::Case>>,
    ) -> Walks {
        let name = name.to_string();
        let cases = seqs.len();
        let reach = self.reach();
        let policy = self.target.policy.clone();
        let mut reached = Reached::default();
        let mut actions = 0;
        let mut agg = ScenarioResult::new(name.clone(), GENERATED);
        let mut kept: HashSet<(&'static str, Verdict)> = HashSet::new();
        let runs = self.run_sequences(&name, seqs).await;
        let (mut unanswered, mut not_run) = (0usize, 0usize);
        for ((case, seq), mut run) in seqs.iter().enumerate().zip(runs) {
            if run.halted {
                not_run += 1;
                continue;
            }
            actions += run.actions;
            reached.take(&mut run);
            if matches!(run.stop, Some(Stop::Unanswered(_))) {
                unanswered += 1;
            }
            note_interruptions(&mut agg, &mut run, &format!("{name}, {label} {case}"));
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
            let shrinking = format!("{name}, {label} {case} (shrinking)");
            let progress = self.options.progress.clone();
            crate::progress::phase(&progress, "shrinking", SHRINK_RUNS as u64);
            let mut best = (seq.clone(), run);
            let mut budget = SHRINK_RUNS;
            // A candidate that got no answer did not reproduce the failure (only a failed
            // check of the same id does); and a target that stopped answering ends shrinking,
            // rather than waiting out a timeout per candidate: the failure is shown as it is.
            let mut stalled = self.stopped().is_some();
            let mut tree = trees.as_deref_mut().and_then(|t| t.get_mut(case));
            let mut more = tree.as_mut().is_some_and(|t| t.simplify());
            while let (true, Some(tree)) = (more && budget > 0 && !stalled, tree.as_mut()) {
                let candidate = crate::random::decode(&policy, &tree.current(), reach);
                let fails = if candidate == best.0 {
                    true
                } else {
                    budget -= 1;
                    crate::progress::advance(&progress, 1);
                    let mut again = run_sequence(Hold::Alone(self), &name, &candidate).await;
                    actions += again.actions;
                    stalled |= again.halted || note_interruptions(&mut agg, &mut again, &shrinking);
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
            // Steps after the failing one never ran: they are not part of the failure.
            best.0.truncate(best.1.result.steps_run.min(best.0.len()));
            // Then drop steps that mint nothing while the same check still fails.
            let mut i = best.0.len().saturating_sub(1);
            let mut budget = DROP_RUNS;
            while i > 0 && budget > 0 && !stalled {
                i -= 1;
                if !crate::random::droppable(&best.0[i]) {
                    continue;
                }
                budget -= 1;
                let mut shorter = best.0.clone();
                shorter.remove(i);
                let mut again = run_sequence(Hold::Alone(self), &name, &shorter).await;
                actions += again.actions;
                stalled |= again.halted || note_interruptions(&mut agg, &mut again, &shrinking);
                if failing(&again) == Some(id) {
                    best = (shorter, again);
                }
            }
            // Last, any step at all, minting or not: a step is dropped when the rest still
            // fails the same check at its last step, so every step left is one the failure
            // needs. Dropping a step that minted tokens renumbers the later steps' token ids
            // (`random::without_step`), so they still name the tokens they named; a step
            // whose tokens a later step uses stays.
            best.0.truncate(best.1.result.steps_run.min(best.0.len()));
            let mut i = best.0.len().saturating_sub(1);
            let mut budget = FINAL_PASS_RUNS;
            while i > 0 && budget > 0 && !stalled {
                i -= 1;
                let outcomes: Vec<Option<Outcome>> = (1..=best.0.len())
                    .map(|n| best.1.outcomes.get(&n).copied())
                    .collect();
                let Some(shorter) = crate::random::without_step(&best.0, i, &outcomes) else {
                    continue;
                };
                budget -= 1;
                let mut again = run_sequence(Hold::Alone(self), &name, &shorter).await;
                actions += again.actions;
                stalled |= again.halted || note_interruptions(&mut agg, &mut again, &shrinking);
                let at_last = again.result.steps_run == shorter.len();
                if at_last && failing(&again) == Some(id) {
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
            let scenario_name = format!("{name}-{label}-{case}");
            let text = crate::random::to_scenario(
                &scenario_name,
                &format!(
                    "{id} failed in {label} {case} of seed {seed} (shrunk); replays the failure"
                ),
                seq,
                &outcomes,
                |_| owner,
            );
            agg.status = ScenarioStatus::Failed;
            agg.reason = Some(format!(
                "{label} {case} of seed {seed} failed {id}; {} steps after shrinking",
                seq.len()
            ));
            for e in run.result.evaluations {
                if kept.insert((e.id, e.verdict)) || e.verdict == Verdict::Failed {
                    agg.evaluations.push(e);
                }
            }
            return Walks {
                result: agg,
                actions,
                replay: Some(Replay {
                    name: scenario_name,
                    seed,
                    case: case as u32,
                    scenario: text,
                }),
                reached,
            };
        }
        if unanswered > 0 || not_run > 0 {
            agg.status = ScenarioStatus::Interrupted;
            agg.reason = Some(format!(
                "{unanswered} of {cases} {label}s stopped on a request that got no answer{}",
                not_run_text(not_run)
            ));
        }
        Walks {
            result: agg,
            actions,
            replay: None,
            reached,
        }
    }
}

/// How a sequence holds the harness: alone, when it may restart the target (which moves
/// the endpoints), or shared with the sequences that run at once (which never restart:
/// they run only on a target without [`Control`](super::Control)).
enum Hold<'h> {
    Alone(&'h mut Harness),
    Shared(&'h Harness),
}

impl Hold<'_> {
    fn harness(&self) -> &Harness {
        match self {
            Hold::Alone(h) => h,
            Hold::Shared(h) => h,
        }
    }
}

/// `; N not run: the run stopped` for a reason, or nothing.
fn not_run_text(n: usize) -> String {
    if n == 0 {
        String::new()
    } else {
        format!("; {n} not run: the run stopped before them")
    }
}

/// Runs one sequence of model actions from a fresh model state (none once the run has
/// stopped: it is `halted`, with nothing to report).
async fn run_sequence(mut hold: Hold<'_>, name: &str, seq: &[Action]) -> SequenceRun {
    let mut r = ScenarioResult::new(name, "");
    if hold.harness().stopped().is_some() {
        let mut run = sequence_run(r, 0, HashSet::new(), BTreeMap::new(), None);
        run.halted = true;
        return run;
    }
    let mut s = hold.harness().session(&mut r);
    let mut stop = None;
    for (i, a) in seq.iter().enumerate() {
        let n = i + 1;
        s.result.steps_run = n;
        let res = match (a, &mut hold) {
            (Action::Tick, h) => h.harness().tick(&mut s, n, None).await,
            (&Action::Advance { to, token, before }, h) => {
                h.harness().advance_to(&mut s, n, to, token, before).await
            }
            (Action::Restart, Hold::Alone(h)) => h.restart(&mut s, n).await,
            (Action::Restart, Hold::Shared(_)) => {
                Err(Stop::Skipped("restarts run one sequence at a time".into()))
            }
            (Action::Steal { .. }, _) => {
                s.steal(n, a);
                Ok(())
            }
            (_, h) => {
                h.harness()
                    .run_action(&mut s, n, *a, None, None, None)
                    .await
            }
        };
        if let Err(e) = res {
            stop = Some(e);
            break;
        }
    }
    let h = hold.harness();
    if h.options.cleanup {
        h.cleanup(&s).await;
    }
    let (actions, covered, outcomes) = (
        s.actions,
        std::mem::take(&mut s.covered),
        std::mem::take(&mut s.outcomes),
    );
    let situations = std::mem::take(&mut s.situations);
    drop(s);
    let mut run = sequence_run(r, actions, covered, outcomes, stop);
    run.situations = situations;
    run
}

/// Runs the futures on the current task (they borrow the harness, so they cannot be
/// spawned), at most `limit` at once, starting the next as soon as one ends; the outputs
/// come back in the order of `futs`.
async fn bounded<F: Future>(futs: Vec<F>, limit: usize) -> Vec<F::Output> {
    let mut pending = futs.into_iter().enumerate();
    let mut running: Vec<(usize, Pin<Box<F>>)> = Vec::new();
    let mut out: Vec<Option<F::Output>> = Vec::new();
    std::future::poll_fn(|cx| loop {
        while running.len() < limit.max(1) {
            let Some((i, f)) = pending.next() else { break };
            out.push(None);
            running.push((i, Box::pin(f)));
        }
        let before = running.len();
        running.retain_mut(|(i, f)| match f.as_mut().poll(cx) {
            std::task::Poll::Ready(v) => {
                out[*i] = Some(v);
                false
            }
            std::task::Poll::Pending => true,
        });
        if running.is_empty() {
            return std::task::Poll::Ready(());
        }
        // Some ended: start the next ones now (polling them registers their wakers).
        if running.len() == before {
            return std::task::Poll::Pending;
        }
    })
    .await;
    out.into_iter().flatten().collect()
}

/// Moves `run`'s infrastructure problems into `agg`, each named `as_name` (which sequence);
/// whether it had any.
fn note_interruptions(agg: &mut ScenarioResult, run: &mut SequenceRun, as_name: &str) -> bool {
    let any = !run.result.infrastructure.is_empty();
    agg.infrastructure.extend(
        std::mem::take(&mut run.result.infrastructure)
            .into_iter()
            .map(|mut p| {
                p.scenario = as_name.to_string();
                p
            }),
    );
    any
}

/// A finished sequence: its result marked by how it stopped.
fn sequence_run(
    mut r: ScenarioResult,
    actions: usize,
    covered: HashSet<Transition>,
    outcomes: BTreeMap<usize, Outcome>,
    stop: Option<Stop>,
) -> SequenceRun {
    if let Some(Stop::Failed(m) | Stop::Error(m) | Stop::Skipped(m) | Stop::Unanswered(m)) = &stop {
        r.reason = Some(m.clone());
        r.status = match stop {
            Some(Stop::Failed(_)) => ScenarioStatus::Failed,
            Some(Stop::Unanswered(_)) => ScenarioStatus::Interrupted,
            _ => ScenarioStatus::Error,
        };
    }
    SequenceRun {
        result: r,
        actions,
        covered,
        situations: HashSet::new(),
        outcomes,
        stop,
        halted: false,
    }
}

/// What a batch of walks left: the result (the first failing walk shrunk, with its replay),
/// the actions run, and what they reached.
pub(super) struct Walks {
    pub(super) result: ScenarioResult,
    pub(super) actions: usize,
    pub(super) replay: Option<Replay>,
    pub(super) reached: Reached,
}

/// What generated walks reached: transitions, and situations (`crate::search`).
#[derive(Debug, Default)]
pub(super) struct Reached {
    pub(super) transitions: HashSet<Transition>,
    pub(super) situations: HashSet<Situation>,
}

impl Reached {
    /// Adds what other walks reached.
    pub(super) fn add(&mut self, other: Reached) {
        self.transitions.extend(other.transitions);
        self.situations.extend(other.situations);
    }

    fn take(&mut self, run: &mut SequenceRun) {
        self.transitions.extend(std::mem::take(&mut run.covered));
        self.situations.extend(std::mem::take(&mut run.situations));
    }
}

/// What one sequence run left.
struct SequenceRun {
    result: ScenarioResult,
    actions: usize,
    covered: HashSet<Transition>,
    situations: HashSet<Situation>,
    outcomes: BTreeMap<usize, Outcome>,
    stop: Option<Stop>,
    /// Not run: the run had stopped before it began.
    halted: bool,
}
