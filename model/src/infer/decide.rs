//! The decision loop: narrow each knob's candidate values by running distinguishing
//! experiments against an answerer (a live server through the harness, or a spec in tests).
//!
//! Knobs are taken in table order. For a knob, every other knob is fixed at its current
//! *context* value (the base policy's, then the sharpest candidate left, see
//! [`super::table`]); for the first pair of candidates the search tells apart, the
//! experiment is run and every candidate whose spec forbids the answers is dropped. When no
//! pair of the candidates left is distinguishable within the bounds, the knob is decided (one
//! left) or "consistent with" the ones left. Passes repeat while a pass changed some knob:
//! a knob undecidable under a context that was still wrong may be decidable under the sharper
//! one. An answer that no candidate allows is a [`Contradiction`]: a finding about the
//! server, not a failure of the loop.

use std::collections::{HashMap, HashSet};

use crate::action::Outcome;
use crate::policy::Policy;
use crate::spec::Spec;

use super::product::{allows, distinguish, Bounds, Step, Verdict};
use super::table::{Knob, KNOBS};

/// What runs an experiment: its steps and the candidate policies to read the answers under
/// in, the answers out (fewer than the steps when it stopped; see [`allows`]), or why it
/// could not run at all (no answer from the target, a capability it lacks): then the
/// experiment tells nothing and no candidate is dropped.
pub type Answerer<'a> = dyn FnMut(&[Step], &[Policy]) -> Result<Answers, String> + 'a;

/// What an answerer gives back: the outcomes, and the steps they answer when those are not
/// the ones asked for. A real clock cannot wait the model's seconds exactly: it lands each
/// wait clear of the deadlines and requests take time, so the sequence it ran has waits of
/// its own. Reading the answers against the designed waits would judge them at moments the
/// server never saw (a replay designed at a token's deadline, run seconds before it, would
/// "show" an order of checks the server never applied).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Answers {
    /// The steps as run, aligned with `outcomes` (`None`: exactly the steps asked for).
    pub steps: Option<Vec<Step>>,
    /// One outcome per step, up to where it stopped.
    pub outcomes: Vec<Outcome>,
}

impl From<Vec<Outcome>> for Answers {
    fn from(outcomes: Vec<Outcome>) -> Answers {
        Answers {
            steps: None,
            outcomes,
        }
    }
}

/// The most passes over the table in one round.
const MAX_PASSES: usize = 3;
/// The most rounds (starts from a better context).
pub const MAX_ROUNDS: usize = 3;

/// One experiment that was run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Experiment {
    /// The two values (indices into the knob's values) it was designed to tell apart.
    pub between: [usize; 2],
    /// Its steps.
    pub steps: Vec<Step>,
    /// What the answerer answered (a prefix of the steps when it stopped early).
    pub answers: Vec<Outcome>,
    /// The candidates its answers left.
    pub kept: Vec<usize>,
    /// Why it could not run, if it could not (then `answers` is empty and nothing is kept
    /// out).
    pub not_run: Option<String>,
}

/// Answers that no candidate value of a knob allows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Contradiction {
    /// The knob.
    pub knob: &'static str,
    /// The candidates the answers were judged against.
    pub candidates: Vec<usize>,
    /// The experiment's steps.
    pub steps: Vec<Step>,
    /// The answers.
    pub answers: Vec<Outcome>,
}

/// What the loop learned about one knob.
#[derive(Clone, Debug)]
pub struct Finding {
    /// The knob.
    pub knob: &'static Knob,
    /// The values consistent with every answer, in the table's order.
    pub candidates: Vec<usize>,
    /// The experiments run for it, in order.
    pub experiments: Vec<Experiment>,
    /// Answers no candidate allowed, if any (the candidates are those before it).
    pub contradiction: Option<Contradiction>,
}

impl Finding {
    /// The value, when exactly one is left.
    pub fn decided(&self) -> Option<usize> {
        match self.candidates.as_slice() {
            [v] => Some(*v),
            _ => None,
        }
    }

    /// The value a policy file carries: the most permissive candidate.
    pub fn chosen(&self) -> Option<usize> {
        self.candidates.first().copied()
    }
}

/// The result of the loop.
#[derive(Clone, Debug)]
pub struct Inference {
    /// One finding per knob, in table order.
    pub findings: Vec<Finding>,
    /// The base policy with every knob at its chosen value (the most permissive candidate).
    pub policy: Policy,
    /// The base policy with every knob at its sharpest candidate: the context of the last
    /// experiments.
    pub context: Policy,
    /// How many rounds ran (more than one when the final context forbade an earlier
    /// answer and the loop started again from it).
    pub rounds: usize,
}

/// Verdicts already computed, by pair of policies: the loop asks for the same pair again
/// on every pass, and the decidability check of tests and benchmarks shares it.
#[derive(Debug, Default)]
pub struct Cache(HashMap<(Policy, Policy), Verdict>);

impl Cache {
    /// The verdict for `a` against `b`.
    pub fn distinguish(&mut self, a: &Policy, b: &Policy, bounds: &Bounds) -> Verdict {
        let key = (a.clone(), b.clone());
        if let Some(v) = self.0.get(&key) {
            return v.clone();
        }
        let v = distinguish(&Spec::new(a.clone()), &Spec::new(b.clone()), bounds);
        self.0.insert(key, v.clone());
        v
    }
}

/// Whether `knob` is decidable for a server following `p`: the search tells `p` apart from
/// `p` with each other value of the knob. A value `p`'s other knobs cannot hold (a grace
/// window where nothing rotates) makes it undecidable: the answers exclude it only as far as
/// they decide those other knobs, and rotation `never` is never decided (`any` may keep too).
pub fn decidable(p: &Policy, knob: &Knob, bounds: &Bounds, cache: &mut Cache) -> bool {
    let own = (knob.get)(p);
    (0..knob.values.len()).filter(|v| *v != own).all(|v| {
        knob.with(p, v)
            .is_some_and(|q| matches!(cache.distinguish(p, &q, bounds), Verdict::Distinguishing(_)))
    })
}

/// Runs the loop from `base` (whose lifetimes are taken as known), asking `answer` for the
/// answers to each experiment. `answer` gets the experiment's steps and the candidate
/// policies, under which a live answerer reads each response as an outcome (see
/// [`allows`] for what fewer answers than steps mean).
///
/// Each knob's experiments run under the context of the knobs before it as decided so far
/// and of the knobs after it as `base` has them. When a later knob turns out to differ from
/// `base` in a way an earlier experiment depended on, the final context forbids some earlier
/// answers: the loop then starts again from that context (at most [`MAX_ROUNDS`] times).
pub fn infer(
    base: &Policy,
    bounds: &Bounds,
    cache: &mut Cache,
    answer: &mut Answerer<'_>,
) -> Inference {
    let mut start = base.clone();
    let mut rounds = 0;
    loop {
        rounds += 1;
        let (findings, ctx) = round(&start, bounds, cache, answer);
        let specs = [
            Spec::new(ctx.clone()),
            Spec::new(permissive(&ctx, &findings)),
        ];
        let consistent = findings.iter().all(|f| {
            f.experiments
                .iter()
                .filter(|e| e.not_run.is_none())
                .all(|e| specs.iter().any(|spec| allows(spec, &e.steps, &e.answers)))
        });
        if consistent || rounds >= MAX_ROUNDS || ctx == start {
            let policy = permissive(&ctx, &findings);
            return Inference {
                findings,
                policy,
                context: ctx,
                rounds,
            };
        }
        start = ctx;
    }
}

/// One round of the loop from the context `start`: the findings and the final context.
fn round(
    start: &Policy,
    bounds: &Bounds,
    cache: &mut Cache,
    answer: &mut Answerer<'_>,
) -> (Vec<Finding>, Policy) {
    let mut ctx = start.clone();
    let mut findings: Vec<Finding> = KNOBS
        .iter()
        .map(|k| Finding {
            knob: k,
            candidates: (0..k.values.len()).collect(),
            experiments: Vec::new(),
            contradiction: None,
        })
        .collect();
    let mut ran: HashSet<(usize, Vec<Step>)> = HashSet::new();
    for _ in 0..MAX_PASSES {
        let mut changed = false;
        for ki in 0..findings.len() {
            let contexts = contexts(&ctx, &findings, ki);
            let f = &mut findings[ki];
            if f.contradiction.is_some() {
                continue;
            }
            changed |= narrow(&contexts, f, ki, bounds, cache, &mut ran, answer);
            if let Some(p) = sharpest(&ctx, f) {
                ctx = p;
            }
        }
        if !changed {
            break;
        }
    }
    (findings, ctx)
}

/// The contexts a value of knob `ki` is judged under: the sharp context `ctx` first, the
/// permissive one (every other knob at its most permissive candidate), and `ctx` with any one
/// other undecided knob at any other of its candidates.
fn contexts(ctx: &Policy, findings: &[Finding], ki: usize) -> Vec<Policy> {
    let mut out = vec![ctx.clone(), permissive(ctx, findings)];
    for (j, f) in findings.iter().enumerate() {
        if j == ki || f.candidates.len() < 2 {
            continue;
        }
        for p in f.candidates.iter().filter_map(|v| f.knob.with(ctx, *v)) {
            if !out.contains(&p) {
                out.push(p);
            }
        }
    }
    out
}

/// Runs `f`'s experiments until no pair of its candidates is told apart by a sequence not
/// yet run; whether its candidates changed. Experiments are designed under the sharp context
/// (`contexts[0]`); a value is kept when its spec allows the answers under any of
/// `contexts`, so a server whose choices vary (rotation `any` that keeps a token only now
/// and then) is not declared a contradiction, nor loses its value, because an undecided
/// knob's sharpest candidate happened to fit the earlier answers.
fn narrow(
    contexts: &[Policy],
    f: &mut Finding,
    ki: usize,
    bounds: &Bounds,
    cache: &mut Cache,
    ran: &mut HashSet<(usize, Vec<Step>)>,
    answer: &mut Answerer<'_>,
) -> bool {
    let knob = f.knob;
    let Some(ctx) = contexts.first() else {
        return false;
    };
    let mut changed = false;
    // A value no policy of either context can hold (a grace window where nothing may
    // rotate) is no candidate, unless none is left: then the context is wrong.
    let valid: Vec<usize> = f
        .candidates
        .iter()
        .copied()
        .filter(|v| contexts.iter().any(|c| knob.with(c, *v).is_some()))
        .collect();
    if !valid.is_empty() && valid != f.candidates {
        f.candidates = valid;
        changed = true;
    }
    while let Some((between, steps)) = next_experiment(ctx, f, bounds, cache, ran, ki) {
        ran.insert((ki, steps.clone()));
        // The policies the answers are read under: every candidate in every context.
        let mut readers: Vec<Policy> = Vec::new();
        for v in &f.candidates {
            for c in contexts {
                if let Some(p) = knob.with(c, *v) {
                    if !readers.contains(&p) {
                        readers.push(p);
                    }
                }
            }
        }
        let (steps, answers) = match answer(&steps, &readers) {
            Ok(a) => (a.steps.unwrap_or(steps), a.outcomes),
            Err(why) => {
                f.experiments.push(Experiment {
                    between,
                    steps,
                    answers: Vec::new(),
                    kept: f.candidates.clone(),
                    not_run: Some(why),
                });
                continue;
            }
        };
        let kept: Vec<usize> = f
            .candidates
            .iter()
            .copied()
            .filter(|v| {
                contexts.iter().any(|c| {
                    knob.with(c, *v)
                        .is_some_and(|p| allows(&Spec::new(p), &steps, &answers))
                })
            })
            .collect();
        f.experiments.push(Experiment {
            between,
            steps: steps.clone(),
            answers: answers.clone(),
            kept: kept.clone(),
            not_run: None,
        });
        if kept.is_empty() {
            f.contradiction = Some(Contradiction {
                knob: knob.name,
                candidates: f.candidates.clone(),
                steps,
                answers,
            });
            break;
        }
        if kept != f.candidates {
            f.candidates = kept;
            changed = true;
        }
    }
    changed
}

/// The first pair of `f`'s candidates (valid under `ctx`) that the search tells apart with
/// a sequence not yet run for this knob.
fn next_experiment(
    ctx: &Policy,
    f: &Finding,
    bounds: &Bounds,
    cache: &mut Cache,
    ran: &HashSet<(usize, Vec<Step>)>,
    ki: usize,
) -> Option<([usize; 2], Vec<Step>)> {
    let valid: Vec<(usize, Policy)> = f
        .candidates
        .iter()
        .filter_map(|v| f.knob.with(ctx, *v).map(|p| (*v, p)))
        .collect();
    for (i, (va, pa)) in valid.iter().enumerate() {
        for (vb, pb) in &valid[i + 1..] {
            if let Verdict::Distinguishing(steps) = cache.distinguish(pa, pb, bounds) {
                if !ran.contains(&(ki, steps.clone())) {
                    return Some(([*va, *vb], steps));
                }
            }
        }
    }
    None
}

/// `ctx` with every knob at its most permissive candidate that makes a valid policy.
fn permissive(ctx: &Policy, findings: &[Finding]) -> Policy {
    let mut p = ctx.clone();
    for f in findings {
        if let Some(q) = f.candidates.iter().find_map(|v| f.knob.with(&p, *v)) {
            p = q;
        }
    }
    p
}

/// `ctx` with `f`'s knob at its sharpest (last) candidate that makes a valid policy.
fn sharpest(ctx: &Policy, f: &Finding) -> Option<Policy> {
    f.candidates.iter().rev().find_map(|v| f.knob.with(ctx, *v))
}
