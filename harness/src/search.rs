//! The aimed search: walks of the model chosen for what they reach, spent from a budget of
//! requests.
//!
//! The transition cover finds every defect that shows within its depth, and grows about
//! ×3.6 per action; a uniform random walk almost never lines up "time passes" and "reuse"
//! twice, which is what a grace-window, idle-timeout or reuse-count defect needs. This
//! search plans walks on the model alone (no request is sent while planning, so a seed and
//! a budget give the same walks every run):
//!
//! - **Coverage of (state, action) pairs**, not of sequences: a walk is worth the pairs it
//!   reaches that no earlier walk (nor the transition cover before it) reached, and the
//!   [`Situation`]s among them (which rule of the spec applies, with which deadlines
//!   pending in which order), the latter weighted more: two states that differ in an
//!   unimportant count are two pairs but one situation.
//! - **Time is part of the search**: a walk moves time to any pending deadline of a live
//!   token, or to one second before it ([`crate::generate::advances`]), not only to the
//!   next one, so it lands inside a window as well as past it.
//! - **Aimed steps**: each step draws an enabled action with weights: time moves first,
//!   then the actions that test what time did (a refresh with a token that is no longer the
//!   live one, a revocation, an introspection, a resource call), and any action whose pair is
//!   new four times over.
//! - **Swarm variety**: each walk leaves out some kinds of action entirely (a third each,
//!   at random), so some walks spend all their steps on time and reuse.
//! - **Best first**: of a batch of candidate walks the one with the most new coverage per
//!   request is kept, cut after its last step that reached anything new; planning ends when
//!   the budget is spent or [`STALE`] batches in a row add nothing.
//!
//! The budget counts requests as [`requests`] does, which is what the harness sends for
//! each action on an endpoint clock. Reachability at the search's bounds (one grant, the
//! walk length) is a breadth-first walk of the same alphabet ([`reachable`]), cut at
//! [`MAX_STATES`] states, which the report says.
//!
//! Clauses: every clause the spec encodes.

use std::collections::{HashSet, VecDeque};

use tokenlife_model::explore::fingerprint;
use tokenlife_model::observe::observe;
use tokenlife_model::spec::rt_usable;
use tokenlife_model::state::RtStatus;
use tokenlife_model::{Action, Actor, Policy, Rule, State};

use crate::generate::{Reach, Walker};

/// The default budget of `tokenlife run`, in requests: about a minute against the embedded
/// server on a two-core machine with the scenarios and the transition cover (README,
/// "Finding deep defects").
pub const DEFAULT_BUDGET: u64 = 3_000;

/// The most model states the reachability walk visits.
pub const MAX_STATES: usize = 400_000;

/// Batches in a row that add no coverage before planning stops.
pub const STALE: u32 = 40;

/// Candidate walks per batch.
const BATCH: usize = 8;

/// A (state, action) pair: the fingerprint of the state before, the action.
pub type Pair = (u64, Action);

/// Which situation an action met: the rule the spec applied to it, and the order of the
/// kinds of deadline then pending.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Situation {
    /// The rule.
    pub rule: Rule,
    /// The pending kinds of deadline, soonest first: each entry a kind (index into
    /// [`DEADLINE_KINDS`], plus one) times two, plus one when it comes at the same moment as
    /// the one before; 0 ends the list.
    order: [u8; 5],
}

/// The kinds of deadline a [`Situation`] orders.
pub const DEADLINE_KINDS: [&str; 5] = ["access", "grace", "refresh", "idle", "cap"];

impl Situation {
    /// The pending deadlines, soonest first (`<` between, `=` for the same moment; `none`).
    pub fn deadlines(&self) -> String {
        let mut out = String::new();
        for (i, e) in self.order.iter().take_while(|e| **e != 0).enumerate() {
            if i > 0 {
                out.push(if e % 2 == 1 { '=' } else { '<' });
            }
            out.push_str(DEADLINE_KINDS[(e / 2 - 1) as usize]);
        }
        if out.is_empty() {
            out.push_str("none");
        }
        out
    }
}

impl std::fmt::Display for Situation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.rule, self.deadlines())
    }
}

/// The situation `a` meets in `s` under `policy`.
pub fn situation(policy: &Policy, s: &State, a: &Action) -> Situation {
    Situation {
        rule: tokenlife_model::spec::rule(policy, s, a),
        order: deadline_order(s),
    }
}

/// The kinds of deadline pending in `s`, soonest first (see [`Situation`]).
fn deadline_order(s: &State) -> [u8; 5] {
    let mut soonest = [u32::MAX; 5];
    let mut consider = |i: usize, d: u32| {
        if d > 0 && d != tokenlife_model::state::NEVER && d < soonest[i] {
            soonest[i] = d;
        }
    };
    for g in s.grants() {
        if !g.revoked {
            consider(4, g.cap);
        }
    }
    for t in s.rts() {
        if t.status != RtStatus::Revoked && !s.grants[t.family as usize].revoked {
            consider(1, t.grace);
            if t.status == RtStatus::Active {
                consider(2, t.exp);
                consider(3, t.idle);
            }
        }
    }
    for t in s.ats() {
        if !t.revoked && t.delivered {
            consider(0, t.exp);
        }
    }
    let mut pending: Vec<(u32, u8)> = (0..5u8)
        .filter(|&i| soonest[i as usize] != u32::MAX)
        .map(|i| (soonest[i as usize], i))
        .collect();
    pending.sort_unstable();
    let mut order = [0u8; 5];
    for (i, &(d, kind)) in pending.iter().enumerate() {
        let tie = i > 0 && pending[i - 1].0 == d;
        order[i] = (kind + 1) * 2 + u8::from(tie);
    }
    order
}

/// The requests the harness sends for `a` on an endpoint clock: an authorization is the
/// authorization request and the code exchange, time one call of the clock endpoint, a
/// restart one call of the control, a theft none.
pub fn requests(a: &Action) -> u64 {
    match a {
        Action::Authorize { .. } => 2,
        Action::Steal { .. } => 0,
        _ => 1,
    }
}

/// Everything the search's alphabet reaches within `len` actions from the initial state.
#[derive(Clone, Debug, Default)]
pub struct Reachable {
    /// Every (state, action) pair.
    pub pairs: HashSet<Pair>,
    /// Every situation.
    pub situations: HashSet<Situation>,
    /// Whether the walk saw every state within the bounds (else it stopped at
    /// [`MAX_STATES`]).
    pub complete: bool,
}

/// A breadth-first walk of the search's alphabet to `len` actions.
pub fn reachable(policy: &Policy, reach: Reach, len: u16) -> Reachable {
    let mut walker = Walker::new(policy, len, reach);
    let mut out = Reachable {
        complete: true,
        ..Reachable::default()
    };
    let mut seen: HashSet<u64> = HashSet::new();
    let mut queue: VecDeque<(State, u16)> = VecDeque::new();
    let init = State::default();
    seen.insert(fingerprint(&init));
    queue.push_back((init, 0));
    while let Some((s, depth)) = queue.pop_front() {
        if depth >= len {
            continue;
        }
        let fp = fingerprint(&s);
        for a in walker.enabled_timed(&s) {
            let Ok(outs) = walker.spec.step(&s, &a) else {
                continue;
            };
            if outs.is_empty() {
                continue;
            }
            out.situations.insert(situation(policy, &s, &a));
            out.pairs.insert((fp, a));
            for (o, mut post) in outs {
                observe(policy, &s, &a, &o, &mut post);
                if seen.len() >= MAX_STATES {
                    out.complete = false;
                    continue;
                }
                if seen.insert(fingerprint(&post)) {
                    queue.push_back((post, depth + 1));
                }
            }
        }
    }
    out
}

/// The walks to run, and what planning them reached.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    /// The walks, best first.
    pub walks: Vec<Vec<Action>>,
    /// Their requests ([`requests`]).
    pub requests: u64,
    /// The budget they were planned within.
    pub budget: u64,
    /// The longest walk.
    pub len: u16,
    /// New pairs the walks reach on the model, as planned (the server's own choices may
    /// take a run elsewhere).
    pub planned_pairs: usize,
}

/// A seeded generator (SplitMix64): the plan is a function of the seed, never of the clock.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
}

/// The kinds of action a swarm walk may leave out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// A refresh with the live token, by its owner: always in (nothing moves without it).
    Refresh,
    /// A refresh with a token that is not the live one (reuse, replay, expired, revoked).
    Reuse,
    /// A refresh by another client or by the attacker, or asking a scope.
    Odd,
    /// A refresh whose response is lost.
    Lost,
    /// A resource call, an introspection, a revocation.
    Query,
    /// A second exchange of the code.
    Code,
    /// Time passes: always in.
    Time,
    /// A restart, a theft, an authorization.
    Other,
}

const KINDS: usize = 8;

fn kind(s: &State, a: &Action) -> Kind {
    match *a {
        Action::Refresh {
            by: Actor::Client(c),
            rt,
            scope: None,
        } if c == s.rt_grant(rt).client => {
            if rt_usable(s, rt) {
                Kind::Refresh
            } else {
                Kind::Reuse
            }
        }
        Action::Refresh { .. } => Kind::Odd,
        Action::RefreshLost { .. } => Kind::Lost,
        Action::UseAccess { .. } | Action::Introspect { .. } | Action::Revoke { .. } => {
            Kind::Query
        }
        Action::ReplayCode { .. } => Kind::Code,
        Action::Tick | Action::Advance { .. } => Kind::Time,
        Action::Authorize { .. } | Action::Restart | Action::Steal { .. } => Kind::Other,
    }
}

/// How much more likely than a plain action a walk takes `a`.
fn weight(k: Kind, new: bool) -> u64 {
    let base = match k {
        Kind::Time => 4,
        Kind::Reuse => 3,
        Kind::Query => 2,
        _ => 1,
    };
    if new {
        base * 4
    } else {
        base
    }
}

/// One candidate walk and what it adds.
struct Candidate {
    walk: Vec<Action>,
    pairs: Vec<Pair>,
    situations: Vec<Situation>,
    requests: u64,
}

impl Candidate {
    /// New coverage per request (situations count three times a pair), in thousandths.
    fn score(&self) -> u64 {
        let gain = self.pairs.len() as u64 + 3 * self.situations.len() as u64;
        gain * 1000 / self.requests.max(1)
    }
}

/// Plans walks of at most `len` actions within `budget` requests, from `seed`, for a
/// target that can `reach` what it can; pairs in `already` (the transition cover's) count
/// as covered from the start.
pub fn plan(
    policy: &Policy,
    reach: Reach,
    seed: u64,
    budget: u64,
    len: u16,
    already: &HashSet<Pair>,
) -> Plan {
    let mut walker = Walker::new(policy, len, reach);
    let mut rng = Rng(seed ^ 0x5eed_0f_a1_3ed5_ea5c);
    let mut pairs: HashSet<Pair> = already.clone();
    let mut situations: HashSet<Situation> = HashSet::new();
    let mut plan = Plan {
        budget,
        len,
        ..Plan::default()
    };
    let mut stale = 0;
    while plan.requests < budget && stale < STALE {
        let mut best: Option<Candidate> = None;
        for _ in 0..BATCH {
            let c = candidate(&mut walker, policy, &mut rng, len, &pairs, &situations);
            if c.requests > budget - plan.requests {
                continue;
            }
            if best.as_ref().is_none_or(|b| c.score() > b.score()) {
                best = Some(c);
            }
        }
        match best {
            Some(c) if !c.pairs.is_empty() => {
                stale = 0;
                plan.requests += c.requests;
                plan.planned_pairs += c.pairs.len();
                pairs.extend(c.pairs);
                situations.extend(c.situations);
                plan.walks.push(c.walk);
            }
            _ => stale += 1,
        }
    }
    plan
}

/// One swarm walk from the initial state, cut after its last step that reached a new pair.
fn candidate(
    walker: &mut Walker,
    policy: &Policy,
    rng: &mut Rng,
    len: u16,
    pairs: &HashSet<Pair>,
    situations: &HashSet<Situation>,
) -> Candidate {
    // Swarm: each kind left out with probability 1/3, except those nothing moves without.
    let mut left_out = [false; KINDS];
    for out in left_out.iter_mut() {
        *out = rng.below(3) == 0;
    }
    let optional = |k: Kind| !matches!(k, Kind::Refresh | Kind::Time | Kind::Other);
    let mut s = State::default();
    let mut walk = Vec::new();
    let mut new_pairs: Vec<Pair> = Vec::new();
    let mut new_situations: Vec<Situation> = Vec::new();
    let (mut cut, mut cut_pairs, mut cut_situations) = (0, 0, 0);
    for _ in 0..len {
        let fp = fingerprint(&s);
        let options: Vec<(Action, u64)> = walker
            .enabled_timed(&s)
            .into_iter()
            .filter_map(|a| {
                let k = kind(&s, &a);
                if optional(k) && left_out[k as usize] {
                    return None;
                }
                let new = !pairs.contains(&(fp, a)) && !new_pairs.contains(&(fp, a));
                Some((a, weight(k, new)))
            })
            .collect();
        let total: u64 = options.iter().map(|(_, w)| w).sum();
        if total == 0 {
            break;
        }
        let mut pick = rng.below(total);
        let Some(&(a, _)) = options.iter().find(|(_, w)| {
            if pick < *w {
                true
            } else {
                pick -= w;
                false
            }
        }) else {
            break;
        };
        let Ok(mut outs) = walker.spec.step(&s, &a) else {
            break;
        };
        if outs.is_empty() {
            break;
        }
        let i = rng.below(outs.len() as u64) as usize;
        let (o, mut post) = outs.swap_remove(i);
        observe(policy, &s, &a, &o, &mut post);
        walk.push(a);
        if !pairs.contains(&(fp, a)) && !new_pairs.contains(&(fp, a)) {
            new_pairs.push((fp, a));
            let sit = situation(policy, &s, &a);
            if !situations.contains(&sit) && !new_situations.contains(&sit) {
                new_situations.push(sit);
            }
            (cut, cut_pairs, cut_situations) = (walk.len(), new_pairs.len(), new_situations.len());
        }
        s = post;
    }
    walk.truncate(cut);
    new_pairs.truncate(cut_pairs);
    new_situations.truncate(cut_situations);
    let requests = walk.iter().map(requests).sum();
    Candidate {
        walk,
        pairs: new_pairs,
        situations: new_situations,
        requests,
    }
}

#[cfg(test)]
mod tests;
