//! `tokenlife bench infer`: does `infer` recover the policy a server implements? Random knob
//! combinations (seeded: the seed is printed, and `--only N` replays one) are each served by
//! the embedded reference server on its endpoint clock and inferred over HTTP, exactly as
//! `tokenlife infer` does it. Each inferred knob is then judged against the served policy,
//! with what is decidable settled *independently* of the inference: by the model alone
//! (`infer::decidable` on the served policy, a fresh search cache per combination), a knob
//! being decidable when a distinguishing sequence within the bounds tells the served value
//! apart from each other value.
//!
//! A decidable knob must come out exactly; no answer may contradict every candidate (the
//! served policy is one of them, so a contradiction is a bug of the server, the harness's
//! reading or the model); and the policy written, knobs and measured lifetimes together,
//! must give the served policy's answers ([`policy_recovered`]). An undecidable knob is
//! counted as keeping the served value or not; one that did not is a finding only through
//! that last check, because twins are not errors (an absolute cap written as a lifetime a
//! rotation inherits sets `successor_lifetime`, which the served cap leaves meaningless).
//! Anything else is listed as a finding with its combination, never averaged away.
//! Exit codes: 0 every combination recovered, 1 a decidable knob missed, a contradiction,
//! a policy written that the model tells apart from the served one, or a combination that
//! could not be served, 2 usage, 4 no runtime.

use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng as _, RngCore as _, SeedableRng as _};
use serde::Serialize;
use tokenlife_harness::RunOptions;
use tokenlife_model::infer::{self, Bounds, Cache, Finding, Inference, Verdict, KNOBS};
use tokenlife_model::policy::{Policy, Seconds, PROFILES};
use tokenlife_server::Defects;

use crate::embedded::Embedded;
use crate::infer::infer_target;
use crate::outcome::{exit_code, outln, runtime, Failure, Format, EXIT_FINDINGS, EXIT_OK};

/// Arguments of `tokenlife bench infer`.
#[derive(Debug, clap::Args)]
pub struct BenchInferArgs {
    /// Random knob combinations to serve and infer.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub combos: u32,
    /// The seed of the draw (random when omitted; printed either way, so a run replays).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Serve and infer only the combination numbered N (from 1) of the seed's draw: the
    /// replay of one finding.
    #[arg(long, value_name = "N")]
    pub only: Option<u32>,
    /// The most steps in one experiment, for the inference and the decidability check alike.
    #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(u16).range(1..=12))]
    pub depth: u16,
    /// The most nodes one search visits, for both alike.
    #[arg(long, default_value_t = 60_000)]
    pub nodes: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// A knob whose inference is wrong: the served value and the candidates `infer` kept.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Miss {
    /// The knob.
    pub knob: &'static str,
    /// The served value.
    pub served: &'static str,
    /// The candidates the answers left (one: decided, wrongly; several: undecided).
    pub candidates: Vec<&'static str>,
    /// Experiments run for the knob.
    pub experiments: usize,
    /// Why experiments for the knob could not run, if any could not.
    pub not_run: Vec<String>,
    /// What the search says about the served value and the other candidates under the
    /// context the loop designed its last experiments in, and where that context differs
    /// from the served policy: why the loop found no experiment the served policy has.
    pub why: Vec<String>,
}

impl std::fmt::Display for Miss {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: served `{}`, ", self.knob, self.served)?;
        match self.candidates.as_slice() {
            [one] => write!(f, "inferred `{one}`")?,
            [] => f.write_str("no candidate left")?,
            many => write!(f, "consistent with `{}`", many.join("`, `"))?,
        }
        write!(f, " ({} experiments", self.experiments)?;
        for why in &self.not_run {
            write!(f, "; one not run: {why}")?;
        }
        f.write_str(")")?;
        for why in &self.why {
            write!(f, "\n      {why}")?;
        }
        Ok(())
    }
}

/// One combination's inference judged against the served policy.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Judged {
    /// Knobs the model says are decidable for the served policy.
    pub decidable: usize,
    /// Of those, the ones `infer` decided to the served value.
    pub recovered: usize,
    /// Decidable knobs written through a twin: another value, which the policy written
    /// makes meaningless (another knob says the same), the whole giving the served answers.
    pub twins: Vec<Miss>,
    /// Decidable knobs decided wrongly or left undecided.
    pub missed: Vec<Miss>,
    /// Knobs the model says are not decidable within the bounds.
    pub undecidable: usize,
    /// Of those, the ones whose candidates still hold the served value (must be all).
    pub kept: usize,
    /// Undecidable knobs whose candidates lost the served value: no finding by itself
    /// (see [`policy_recovered`]), shown for the reader.
    pub lost: Vec<Miss>,
    /// Answers that contradicted every candidate of a knob: the knob, steps and answers.
    pub contradictions: Vec<String>,
    /// How the policy written (knobs and lifetimes) gives answers the served one does not.
    pub differs: Vec<String>,
}

impl Judged {
    /// Whether the inference is right on every count.
    pub fn clean(&self) -> bool {
        self.missed.is_empty() && self.contradictions.is_empty() && self.differs.is_empty()
    }
}

/// One combination: what was served and how its inference went.
#[derive(Clone, Debug, Serialize)]
pub struct Combo {
    /// Its number in the seed's draw, from 1.
    pub number: u32,
    /// The built-in profile it was drawn from.
    pub base: String,
    /// The served policy as a policy file (`tokenlife infer --policy` takes it).
    pub policy: String,
    /// Why it could not be served or inferred, if it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed: Option<String>,
    /// The judgement (empty when it failed).
    pub judged: Judged,
    /// Experiments `infer` ran.
    pub experiments: usize,
    /// HTTP requests `infer` sent.
    pub requests: usize,
    /// Wall seconds of the inference: connection, searches and requests.
    pub seconds: f64,
    /// Wall seconds of the independent decidability check (the model alone).
    pub decidability_seconds: f64,
    /// Why experiments stopped before their last step, if some did.
    pub stopped_early: Vec<String>,
}

/// The whole benchmark.
#[derive(Clone, Debug, Serialize)]
pub struct Figures {
    /// The seed of the draw.
    pub seed: u64,
    /// The bounds of every search: steps.
    pub depth: usize,
    /// The bounds of every search: nodes.
    pub nodes: usize,
    /// Every combination run, in order.
    pub combos: Vec<Combo>,
    /// Decidable knobs over all combinations.
    pub decidable: usize,
    /// Of those, recovered exactly.
    pub recovered: usize,
    /// Of those, written through a twin (see [`Judged::twins`]).
    pub twins: usize,
    /// `(recovered + twins) / decidable`.
    pub recovery_rate: f64,
    /// Undecidable knobs over all combinations.
    pub undecidable: usize,
    /// Of those, with the served value among the candidates.
    pub kept: usize,
    /// Contradictions over all combinations.
    pub contradictions: usize,
    /// Combinations that could not be served or inferred.
    pub failed: usize,
    /// Median and max requests per target.
    pub requests_median: f64,
    /// Max requests per target.
    pub requests_max: usize,
    /// Median seconds per target.
    pub seconds_median: f64,
    /// Max seconds per target.
    pub seconds_max: f64,
    /// Wall seconds of the whole benchmark.
    pub total_seconds: f64,
}

impl Figures {
    /// Whether every combination was served and recovered.
    pub fn clean(&self) -> bool {
        self.combos
            .iter()
            .all(|c| c.failed.is_none() && c.judged.clean())
    }
}

/// The lifetimes to draw among: a little variety around the profiles' own.
const ACCESS_TTLS: [u32; 3] = [60, 120, 300];
const REFRESH_TTLS: [u32; 4] = [300, 600, 900, 1200];
const CAPS: [u32; 3] = [900, 1500, 2400];
const IDLE_TIMEOUTS: [u32; 2] = [400, 700];
const GRACE_WINDOWS: [u32; 3] = [20, 30, 45];
/// Draws before giving up on a valid combination (a valid one comes within a few).
const MAX_DRAWS: usize = 1_000;

fn pick(rng: &mut StdRng, from: &[u32]) -> Seconds {
    Seconds(from[rng.random_range(0..from.len())])
}

/// One random combination: a built-in profile with its lifetimes varied a little and a
/// random value for every inferable knob, drawn again until the whole is a valid policy
/// (setting knob by knob with `Knob::with` would refuse a step the later ones make valid,
/// and so skew the draw toward the base's values).
pub fn draw(rng: &mut StdRng) -> Option<Policy> {
    for _ in 0..MAX_DRAWS {
        let base = PROFILES[rng.random_range(0..PROFILES.len())].name;
        let mut p = Policy::profile(base)?;
        p.access_ttl = pick(rng, &ACCESS_TTLS);
        // One in eight without a refresh lifetime, where the lifetime knobs cannot vary.
        p.refresh_ttl = (rng.random_range(0..8) != 0).then(|| pick(rng, &REFRESH_TTLS));
        if rng.random_range(0..4) == 0 {
            p.absolute_cap = Some(pick(rng, &CAPS));
        }
        if rng.random_range(0..5) == 0 {
            p.idle_timeout = Some(pick(rng, &IDLE_TIMEOUTS));
        }
        let values: Vec<usize> = KNOBS
            .iter()
            .map(|k| rng.random_range(0..k.values.len()))
            .collect();
        for (k, v) in KNOBS.iter().zip(&values) {
            (k.set)(&mut p, *v);
        }
        if let Some(g) = &mut p.grace {
            g.window = Some(pick(rng, &GRACE_WINDOWS));
        }
        let all_set = KNOBS.iter().zip(&values).all(|(k, v)| (k.get)(&p) == *v);
        if all_set && p.validate().is_ok() {
            return Some(p);
        }
    }
    None
}

/// The first `n` combinations of `seed`'s draw.
pub fn draws(seed: u64, n: u32) -> Vec<Option<Policy>> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n).map(|_| draw(&mut rng)).collect()
}

/// How the policy `inferred` writes differs from the served one, if it does.
///
/// The inferred policy as a whole (its knobs at the values the file carries and its measured
/// lifetimes: `access_ttl`, `refresh_ttl` and its anchor, `absolute_cap`, `idle_timeout`, the
/// grace window's length) must be indistinguishable from the served policy within `bounds`:
/// the search of the model, waits included, finds no sequence after which the two allow
/// disjoint answers. That is what a user needs of the file: `tokenlife run --policy` with it
/// sees no divergence the served policy would not. Field by field would be wrong: several
/// combinations give the same answers (a refresh lifetime counted from the access token's
/// expiry and the same deadline counted from the issue; an absolute cap, and a lifetime a
/// rotation inherits, where `successor_lifetime` only means something beside the second),
/// and infer writes one of them. The access token's lifetime has no twin and must be exact.
/// On the endpoint clock the resolution is one second, so "exact" is the whole-second figure.
pub fn policy_recovered(
    served: &Policy,
    inferred: &Inference,
    bounds: &Bounds,
    cache: &mut Cache,
) -> Vec<String> {
    let got = &inferred.policy;
    let mut out = Vec::new();
    if got.access_ttl != served.access_ttl {
        out.push(format!(
            "access_ttl: served {} s, inferred {} s",
            served.access_ttl.get(),
            got.access_ttl.get()
        ));
    }
    if let Verdict::Distinguishing(steps) = cache.distinguish(served, got, bounds) {
        let steps: Vec<String> = steps.iter().map(ToString::to_string).collect();
        out.push(format!(
            "served {}; inferred {}: told apart by [{}]",
            shown(served, served),
            shown(got, served),
            steps.join("; ")
        ));
    }
    out
}

/// The lifetimes of `p`, and its knobs where they differ from `served`'s.
fn shown(p: &Policy, served: &Policy) -> String {
    let secs = |s: Option<Seconds>| s.map_or("none".to_string(), |s| format!("{} s", s.get()));
    let mut s = format!(
        "refresh_ttl {} ({:?}), absolute_cap {}, idle_timeout {}, grace window {}",
        secs(p.refresh_ttl),
        p.refresh_ttl_anchor,
        secs(p.absolute_cap),
        secs(p.idle_timeout),
        secs(p.grace.and_then(|g| g.window)),
    );
    for k in KNOBS.iter().filter(|k| (k.get)(p) != (k.get)(served)) {
        s.push_str(&format!(", {} = {}", k.name, k.value((k.get)(p))));
    }
    s
}

/// Judges `inference` against the `served` policy, deciding what is decidable from the model
/// alone with `cache` (which the inference must not have filled).
pub fn judge(served: &Policy, inference: &Inference, bounds: &Bounds, cache: &mut Cache) -> Judged {
    let mut j = Judged {
        differs: policy_recovered(served, inference, bounds, cache),
        ..Judged::default()
    };
    for f in &inference.findings {
        let own = (f.knob.get)(served);
        if let Some(c) = &f.contradiction {
            let steps: Vec<String> = c.steps.iter().map(ToString::to_string).collect();
            let answers: Vec<String> = c.answers.iter().map(ToString::to_string).collect();
            j.contradictions.push(format!(
                "{}: steps [{}], answers [{}]",
                c.knob,
                steps.join("; "),
                answers.join("; ")
            ));
        }
        let miss = |cache: &mut Cache| Miss {
            why: why_missed(served, inference, f, bounds, cache),
            knob: f.knob.name,
            served: f.knob.value(own),
            candidates: f.candidates.iter().map(|v| f.knob.value(*v)).collect(),
            experiments: f.experiments.len(),
            not_run: f
                .experiments
                .iter()
                .filter_map(|e| e.not_run.clone())
                .collect(),
        };
        if infer::decidable(served, f.knob, bounds, cache) {
            j.decidable += 1;
            if f.decided() == Some(own) {
                j.recovered += 1;
            } else if j.differs.is_empty()
                && !infer::decidable(&inference.policy, f.knob, bounds, cache)
            {
                // Written through its twin: the file says the same with other knobs (a cap
                // for a lifetime every successor inherits), under which this one means
                // nothing, and the whole gives the served answers.
                j.twins.push(miss(cache));
            } else {
                j.missed.push(miss(cache));
            }
        } else {
            j.undecidable += 1;
            if f.candidates.contains(&own) {
                j.kept += 1;
            } else {
                j.lost.push(miss(cache));
            }
        }
    }
    j
}

/// Why the loop missed `f`: where its last context differs from `served` in the other
/// knobs, and the search between the served value and each other candidate under it.
fn why_missed(
    served: &Policy,
    inference: &Inference,
    f: &Finding,
    bounds: &Bounds,
    cache: &mut Cache,
) -> Vec<String> {
    let ctx = &inference.context;
    let differs: Vec<String> = KNOBS
        .iter()
        .filter(|k| k.name != f.knob.name && (k.get)(ctx) != (k.get)(served))
        .map(|k| {
            format!(
                "{} = {} where the server has {}",
                k.name,
                k.value((k.get)(ctx)),
                k.value((k.get)(served))
            )
        })
        .collect();
    let mut out = vec![format!(
        "infer's last context differs from the served policy in: {}",
        if differs.is_empty() {
            "nothing".to_string()
        } else {
            differs.join(", ")
        }
    )];
    let own = (f.knob.get)(served);
    for v in f.candidates.iter().copied().filter(|v| *v != own) {
        let (a, b) = (f.knob.value(own), f.knob.value(v));
        let verdict = match (f.knob.with(ctx, own), f.knob.with(ctx, v)) {
            (Some(p), Some(q)) => match cache.distinguish(&p, &q, bounds) {
                Verdict::Distinguishing(steps) => {
                    format!(
                        "told apart in {} steps, an experiment the loop did not run",
                        steps.len()
                    )
                }
                Verdict::Indistinguishable { complete: true } => {
                    format!("not told apart within {} steps", bounds.depth)
                }
                Verdict::Indistinguishable { complete: false } => format!(
                    "not told apart: the search was cut at {} nodes",
                    bounds.nodes
                ),
            },
            _ => "not both valid there".to_string(),
        };
        out.push(format!("under it, {a} vs {b}: {verdict}"));
    }
    out
}

/// Serves `policy` with the embedded server, infers it over HTTP and judges the result.
fn run_combo(
    runtime: &tokio::runtime::Runtime,
    number: u32,
    policy: Option<Policy>,
    bounds: &Bounds,
) -> Combo {
    let mut combo = Combo {
        number,
        base: String::new(),
        policy: String::new(),
        failed: None,
        judged: Judged::default(),
        experiments: 0,
        requests: 0,
        seconds: 0.0,
        decidability_seconds: 0.0,
        stopped_early: Vec::new(),
    };
    let Some(policy) = policy else {
        combo.failed = Some(format!("no valid combination in {MAX_DRAWS} draws"));
        return combo;
    };
    combo.base.clone_from(&policy.profile);
    combo.policy = policy.to_toml();
    let started = Instant::now();
    let server = match runtime.block_on(Embedded::start(policy.clone(), Defects::none())) {
        Ok(s) => s,
        Err(e) => {
            combo.failed = Some(format!("failed to start the embedded server: {e}"));
            return combo;
        }
    };
    let result = infer_target(
        runtime,
        server.target(),
        RunOptions::default(),
        bounds,
        started,
        // The endpoint clock: no wait is real, no budget needed beyond a hang guard.
        started + std::time::Duration::from_secs(3600),
    );
    runtime.block_on(server.stop());
    let (inference, cost) = match result {
        Ok(r) => r,
        Err(e) => {
            combo.failed = Some(format!("failed to infer: {e}"));
            return combo;
        }
    };
    combo.experiments = cost.experiments;
    combo.requests = cost.requests;
    combo.seconds = cost.seconds;
    combo.stopped_early = cost.stops;
    let t = Instant::now();
    combo.judged = judge(&policy, &inference, bounds, &mut Cache::default());
    combo.decidability_seconds = t.elapsed().as_secs_f64();
    combo
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Runs the benchmark: combinations 1..=`n` of `seed`'s draw (or only number `only`), each
/// passed to `each` as soon as it is judged.
pub fn measure(
    seed: u64,
    n: u32,
    only: Option<u32>,
    bounds: &Bounds,
    each: &mut dyn FnMut(&Combo),
) -> Result<Figures, Failure> {
    let runtime = runtime()?;
    let started = Instant::now();
    let draws = draws(seed, only.unwrap_or(n).max(1));
    let mut combos = Vec::new();
    for (number, policy) in (1..).zip(draws) {
        if only.is_some_and(|o| o != number) {
            continue;
        }
        let c = run_combo(&runtime, number, policy, bounds);
        each(&c);
        combos.push(c);
    }
    let ran: Vec<&Combo> = combos.iter().filter(|c| c.failed.is_none()).collect();
    let sum = |f: fn(&Judged) -> usize| ran.iter().map(|c| f(&c.judged)).sum::<usize>();
    let (decidable, recovered) = (sum(|j| j.decidable), sum(|j| j.recovered));
    let twins = sum(|j| j.twins.len());
    Ok(Figures {
        seed,
        depth: bounds.depth,
        nodes: bounds.nodes,
        decidable,
        recovered,
        twins,
        recovery_rate: (recovered + twins) as f64 / decidable.max(1) as f64,
        undecidable: sum(|j| j.undecidable),
        kept: sum(|j| j.kept),
        contradictions: sum(|j| j.contradictions.len()),
        failed: combos.len() - ran.len(),
        requests_median: median(ran.iter().map(|c| c.requests as f64).collect()),
        requests_max: ran.iter().map(|c| c.requests).max().unwrap_or(0),
        seconds_median: median(ran.iter().map(|c| c.seconds).collect()),
        seconds_max: ran.iter().map(|c| c.seconds).fold(0.0, f64::max),
        total_seconds: started.elapsed().as_secs_f64(),
        combos,
    })
}

/// Runs `tokenlife bench infer`.
pub fn run(args: BenchInferArgs) -> u8 {
    exit_code(run_checked(&args))
}

fn run_checked(args: &BenchInferArgs) -> Result<u8, Failure> {
    if let Some(o) = args.only.filter(|o| *o == 0 || *o > args.combos) {
        return Err(Failure::usage(format!(
            "--only {o}: the combinations are numbered 1 to --combos ({})",
            args.combos
        )));
    }
    let seed = args.seed.unwrap_or_else(|| rand::rng().next_u64());
    let bounds = Bounds {
        depth: usize::from(args.depth),
        nodes: args.nodes.max(1),
        ..Bounds::default()
    };
    let human = args.format == Format::Human;
    if human {
        outln!(
            "tokenlife bench infer: {} random knob combinations, seed {seed}; searches within {} steps, {} nodes; embedded reference server, endpoint clock",
            args.only.map_or(args.combos, |_| 1),
            bounds.depth,
            bounds.nodes
        );
        outln!("     #  base        decidable  recovered  undecidable kept  requests  seconds  decidability s");
    }
    let f = measure(seed, args.combos, args.only, &bounds, &mut |c| {
        if human {
            outln!("{}", row(c));
        }
    })?;
    if human {
        outln!("{}", summary(&f));
    } else {
        outln!("{}", serde_json::to_string_pretty(&f).unwrap_or_default());
    }
    Ok(if f.clean() { EXIT_OK } else { EXIT_FINDINGS })
}

/// A combination's line of the human table.
fn row(c: &Combo) -> String {
    if let Some(why) = &c.failed {
        return format!("  {:>4}  {:<11} failed: {why}", c.number, c.base);
    }
    let j = &c.judged;
    let mark = if j.clean() { ' ' } else { '!' };
    format!(
        "{mark} {:>4}  {:<11} {:>9}  {:>9}  {:>6} of {:<4}  {:>8}  {:>7.2}  {:>14.2}",
        c.number,
        c.base,
        j.decidable,
        j.recovered + j.twins.len(),
        j.kept,
        j.undecidable,
        c.requests,
        c.seconds,
        c.decidability_seconds
    )
}

/// The findings, each with its combination's policy file, and the overall figures.
fn summary(f: &Figures) -> String {
    let mut s = String::new();
    let replay = |n: u32| {
        format!(
            "tokenlife bench infer --seed {} --combos {n} --only {n} --depth {} --nodes {}",
            f.seed, f.depth, f.nodes
        )
    };
    for c in f.combos.iter().filter(|c| c.judged.clean()) {
        for m in &c.judged.twins {
            s.push_str(&format!(
                "\ncombination {}: decidable knob written through a twin (the policy written gives the served answers): {m}\n",
                c.number
            ));
        }
    }
    for c in f
        .combos
        .iter()
        .filter(|c| c.failed.is_some() || !c.judged.clean())
    {
        s.push_str(&format!(
            "\nfinding: combination {} ({})\n",
            c.number,
            replay(c.number)
        ));
        if let Some(why) = &c.failed {
            s.push_str(&format!("  not served: {why}\n"));
        }
        let j = &c.judged;
        for m in &j.missed {
            s.push_str(&format!("  decidable knob missed: {m}\n"));
        }
        for m in &j.twins {
            s.push_str(&format!(
                "  decidable knob written with another value: {m}\n"
            ));
        }
        for m in &j.lost {
            s.push_str(&format!(
                "  undecidable knob written with another value (a finding only with a difference below): {m}\n"
            ));
        }
        for x in &j.contradictions {
            s.push_str(&format!("  contradiction: {x}\n"));
        }
        for x in &j.differs {
            s.push_str(&format!("  policy written differs: {x}\n"));
        }
        for why in &c.stopped_early {
            s.push_str(&format!("  an experiment stopped early: {why}\n"));
        }
        s.push_str("  served policy:\n");
        for line in c.policy.lines() {
            s.push_str(&format!("    {line}\n"));
        }
    }
    s.push_str(&format!(
        "\ndecidable knobs recovered: {} of {} ({:.1}%; {} exactly, {} through a twin); undecidable knobs keeping the served value: {} of {}; contradictions: {}; combinations not served: {}\n",
        f.recovered + f.twins,
        f.decidable,
        f.recovery_rate * 100.0,
        f.recovered,
        f.twins,
        f.kept,
        f.undecidable,
        f.contradictions,
        f.failed
    ));
    s.push_str(&format!(
        "per target: requests median {:.0}, max {}; seconds median {:.2}, max {:.2}; total {:.1} s (seed {})",
        f.requests_median, f.requests_max, f.seconds_median, f.seconds_max, f.total_seconds, f.seed
    ));
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokenlife_model::infer::answer_with;
    use tokenlife_model::policy::Narrowing;
    use tokenlife_model::spec::Spec;

    /// The bounds of the CI slice: as deep as the pinned experiments of the model's tests,
    /// small enough that five combinations stay within seconds in a debug build.
    const SLICE: Bounds = Bounds {
        depth: 6,
        nodes: 8_000,
        grants: 2,
    };

    fn inferred(policy: Policy) -> Inference {
        Inference {
            findings: Vec::new(),
            context: policy.clone(),
            policy,
            rounds: 1,
        }
    }

    /// A refresh lifetime off by a second is a difference, named with the sequence that
    /// tells it apart; the same deadline counted from the issue instead of the access
    /// token's expiry is not, nor an absolute cap written as a lifetime rotations inherit.
    #[test]
    fn the_policy_written_is_judged_by_the_answers_it_gives() {
        let served = Policy::from_toml(
            "profile = \"bcp\"\naccess_ttl = \"60s\"\nrefresh_ttl = \"300s\"\n\
             refresh_ttl_anchor = \"access-expiry\"",
        )
        .expect("a policy");
        let mut cache = Cache::default();
        let mut same = served.clone();
        same.refresh_ttl = Some(Seconds(360));
        same.refresh_ttl_anchor = tokenlife_model::policy::RefreshTtlAnchor::Issue;
        assert_eq!(
            policy_recovered(&served, &inferred(same.clone()), &SLICE, &mut cache),
            Vec::<String>::new()
        );
        let mut off = same;
        off.refresh_ttl = Some(Seconds(361));
        let found = policy_recovered(&served, &inferred(off), &SLICE, &mut cache);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("told apart by"), "{found:?}");
        let mut access = served.clone();
        access.access_ttl = Seconds(61);
        let found = policy_recovered(&served, &inferred(access), &SLICE, &mut cache);
        assert!(
            found.iter().any(|f| f.starts_with("access_ttl")),
            "{found:?}"
        );
        // A cap, and the same deadline as a lifetime every successor inherits: twins.
        let capped = Policy::from_toml(
            "profile = \"bcp\"\naccess_ttl = \"60s\"\nrefresh_ttl = \"none\"\n\
             absolute_cap = \"300s\"",
        )
        .expect("a policy");
        let mut inherited = capped.clone();
        inherited.absolute_cap = None;
        inherited.refresh_ttl = Some(Seconds(300));
        inherited.successor_lifetime = tokenlife_model::policy::SuccessorLifetime::Inherited;
        assert_eq!(
            policy_recovered(&capped, &inferred(inherited.clone()), &SLICE, &mut cache),
            Vec::<String>::new()
        );
        // With fresh successors the same lifetime is told apart, and the knob is named.
        inherited.successor_lifetime = tokenlife_model::policy::SuccessorLifetime::Fresh;
        let found = policy_recovered(&capped, &inferred(inherited), &SLICE, &mut cache);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("absolute_cap none"), "{found:?}");
    }

    #[test]
    fn a_seed_draws_the_same_valid_combinations_and_every_knob_varies() {
        let a = draws(7, 60);
        assert_eq!(a, draws(7, 60));
        assert_eq!(draws(7, 5), a[..5].to_vec(), "a shorter run is a prefix");
        let policies: Vec<Policy> = a.into_iter().map(|p| p.expect("drawn")).collect();
        for p in &policies {
            assert!(p.validate().is_ok(), "{p:?}");
        }
        for k in KNOBS {
            let mut seen: Vec<usize> = policies.iter().map(|p| (k.get)(p)).collect();
            seen.sort_unstable();
            seen.dedup();
            assert!(seen.len() >= 2, "{} never varies: {seen:?}", k.name);
        }
        let ttls: std::collections::HashSet<u32> =
            policies.iter().map(|p| p.access_ttl.get()).collect();
        assert!(ttls.len() >= 2, "the lifetimes vary");
        assert_ne!(draws(8, 5), draws(7, 5));
    }

    /// The judge is not a rubber stamp: answers of another policy (narrowing allowed) read
    /// against the served one (narrowing refused) are a decidable knob missed.
    #[test]
    fn answers_of_another_policy_are_a_decidable_knob_missed() {
        let bounds = Bounds {
            depth: 5,
            nodes: 5_000,
            grants: 2,
        };
        let served = Policy {
            narrowing: Narrowing::Refused,
            ..Policy::default()
        };
        let answering = Spec::new(Policy::default());
        let floor = Policy::profile("rfc6749").expect("built in");
        let inference = infer::infer(&floor, &bounds, &mut Cache::default(), &mut |steps, _| {
            Ok(answer_with(&answering, steps).into())
        });
        let j = judge(&served, &inference, &bounds, &mut Cache::default());
        assert!(!j.clean());
        let narrowing = j
            .missed
            .iter()
            .find(|m| m.knob == "narrowing")
            .unwrap_or_else(|| panic!("narrowing not missed: {j:?}"));
        assert_eq!(narrowing.served, "refused");
        assert_eq!(narrowing.candidates, ["allowed"]);
        assert!(j.lost.iter().all(|m| m.knob != "narrowing"));
        // The same inference judged against the policy that answered is clean.
        assert!(judge(
            &Policy::default(),
            &inference,
            &bounds,
            &mut Cache::default()
        )
        .missed
        .is_empty());
    }

    /// A cap written for a lifetime every successor inherits: `successor_lifetime`, decidable
    /// for the served policy, comes out `fresh` (meaningless beside no refresh lifetime), and
    /// the whole gives the served answers: a twin, no finding. The same inference with the
    /// cap left out is a decidable knob missed and a policy that differs.
    #[test]
    fn a_knob_written_through_a_twin_is_no_miss_and_a_wrong_lifetime_is() {
        let served = Policy::from_toml(
            "profile = \"bcp\"\naccess_ttl = \"60s\"\nrefresh_ttl = \"300s\"\n\
             successor_lifetime = \"inherited\"",
        )
        .expect("a policy");
        let answering = Spec::new(served.clone());
        let run = |lifetimes: &Policy| {
            infer::infer(lifetimes, &SLICE, &mut Cache::default(), &mut |steps, _| {
                Ok(answer_with(&answering, steps).into())
            })
        };
        let mut capped = served.clone();
        capped.refresh_ttl = None;
        capped.successor_lifetime = tokenlife_model::policy::SuccessorLifetime::Fresh;
        capped.absolute_cap = Some(Seconds(300));
        let j = judge(&served, &run(&capped), &SLICE, &mut Cache::default());
        assert!(j.clean(), "{j:?}");
        assert_eq!(
            j.twins.iter().map(|m| m.knob).collect::<Vec<_>>(),
            ["successor_lifetime"]
        );
        let mut uncapped = capped;
        uncapped.absolute_cap = None;
        let j = judge(&served, &run(&uncapped), &SLICE, &mut Cache::default());
        assert!(!j.clean());
        assert!(j.twins.is_empty(), "{j:?}");
        assert!(
            j.missed.iter().any(|m| m.knob == "successor_lifetime"),
            "{j:?}"
        );
        assert_eq!(j.differs.len(), 1, "{j:?}");
    }

    /// The CI slice of the benchmark: five seeded combinations served by the embedded server
    /// and inferred over HTTP; every decidable knob recovered exactly, every undecidable one
    /// keeping the served value, no contradiction.
    #[test]
    fn a_seeded_slice_of_five_combinations_is_recovered_over_http() {
        let f = measure(1, 5, None, &SLICE, &mut |_| {}).expect("a runtime");
        assert_eq!(f.combos.len(), 5);
        for c in &f.combos {
            assert_eq!(c.failed, None, "combination {}", c.number);
            let j = &c.judged;
            assert!(
                j.clean(),
                "combination {} (seed 1) missed {:?}, lost {:?}, contradictions {:?}\n{}",
                c.number,
                j.missed,
                j.lost,
                j.contradictions,
                c.policy
            );
            assert_eq!(j.decidable + j.undecidable, KNOBS.len());
        }
        assert_eq!(f.recovered + f.twins, f.decidable);
        assert!(f.decidable >= 5 * 4, "only {} knobs decidable", f.decidable);
        assert_eq!(f.contradictions, 0);
        assert!(f.clean());
    }
}
