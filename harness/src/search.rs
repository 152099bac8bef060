//! The aimed search: walks of the model chosen for what they reach, spent from a budget of
//! requests.
//!
//! The transition cover finds every defect that shows within its depth, and grows about
//! ×3.6 per action; a uniform random walk almost never lines up "time passes" and "reuse"
//! twice, which is what a grace-window, idle-timeout or reuse-count defect needs. This
//! search plans walks on the model alone (no request is sent while planning, so a seed and
//! a budget give the same walks every run):
//!
//! - **Deadline probes first** ([`probes`]): for every token a grant's first step or two
//!   leave and every deadline of it pending, "just before the deadline, present the token
//!   (each way there is); on the deadline, its owner presents it". Cheap (tens of walks)
//!   and aimed at exactly what windows and timeouts get wrong.
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
//!   live one, a revocation, an introspection, a resource call); an action whose pair is new
//!   twice over, whose situation is new sixteen times; an action on the token the walk last
//!   touched (its focus) four times more, so "present it, move to the edge of its window,
//!   present it again" is a likely walk rather than a rare one.
//! - **Swarm variety**: each walk leaves out some kinds of action entirely (a third each,
//!   at random), so some walks spend all their steps on time and reuse.
//! - **Best first**: of a batch of candidate walks the one with the most new coverage per
//!   request is kept, cut after its last step that reached anything new; planning ends when
//!   the budget is spent or [`STALE`] batches in a row add nothing.
//!
//! The budget counts requests as [`requests`] does, which is what the harness sends for
//! each action on an endpoint clock. Reachability at the search's bounds (one grant, the
//! walk length) is a depth-first walk of the same alphabet ([`reachable`]), cut at
//! [`MAX_STATES`] states, which the report says.
//!
//! Clauses: every clause the spec encodes.

use std::collections::{HashMap, HashSet};

use tokenlife_model::explore::fingerprint;
use tokenlife_model::observe::observe;
use tokenlife_model::spec::{rt_usable, TokenRef};
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

/// Candidate walks per batch (planning is on the model alone: cheap beside a request).
const BATCH: usize = 32;

/// A (state, action) pair: the fingerprint of the state before, the action.
pub type Pair = (u64, Action);

/// Which situation an action met: the rule the spec applied to it, the order of the kinds
/// of deadline then pending, whether the next one is a second away (the edge of a window),
/// and how many grace reuses the refresh token it presents already had. Two states that
/// differ only in a count of seconds or in which token is which meet the same situation;
/// a reuse at a window's edge, or after an earlier reuse, meets another.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Situation {
    /// The rule.
    pub rule: Rule,
    /// The next deadline is one second away.
    pub edge: bool,
    /// Grace reuses the presented refresh token had (0, 1, 2 for two or more).
    pub reuses: u8,
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
        // The rule's variant with its fields: two situations never print alike.
        write!(f, "{:?} ({}", self.rule, self.deadlines())?;
        if self.edge {
            f.write_str(", the next 1 s away")?;
        }
        match self.reuses {
            0 => f.write_str(")"),
            1 => f.write_str(", after 1 reuse)"),
            _ => f.write_str(", after 2+ reuses)"),
        }
    }
}

/// The situation `a` meets in `s` under `policy`.
/// A move of time meets the moment it lands on: the deadlines then pending and whether the
/// next is a second away (so landing just inside a window is a situation of its own).
pub fn situation(policy: &Policy, s: &State, a: &Action) -> Situation {
    let reuses = match *a {
        Action::Refresh { rt, .. } | Action::RefreshLost { rt } => s.rts[rt.0 as usize].reuses,
        _ => 0,
    };
    let rule = tokenlife_model::spec::rule(policy, s, a);
    let by = tokenlife_model::spec::time_passing(s, a);
    let landed;
    let at = match by {
        Some(by) => {
            let mut after = s.clone();
            tokenlife_model::spec::advance(&mut after, by);
            landed = after;
            &landed
        }
        None => s,
    };
    Situation {
        rule,
        edge: tokenlife_model::spec::next_deadline(at) == Some(1),
        reuses: reuses.min(2),
        order: deadline_order(at),
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
    /// Every (state, action) pair, by [`Reachable::key`] (8 bytes each: there can be
    /// millions).
    pub pairs: HashSet<u64>,
    /// Every situation.
    pub situations: HashSet<Situation>,
    /// Whether the walk saw every state within the bounds (else it stopped at
    /// [`MAX_STATES`]).
    pub complete: bool,
}

impl Reachable {
    /// A pair's key in [`Reachable::pairs`]: a 64-bit hash of it (two pairs of millions
    /// share one with a chance of about 10⁻⁷).
    pub fn key(pair: &Pair) -> u64 {
        ahash::RandomState::with_seeds(1, 2, 3, 4).hash_one(pair)
    }

    /// Whether `pair` is reachable.
    pub fn has(&self, pair: &Pair) -> bool {
        self.pairs.contains(&Reachable::key(pair))
    }
}

/// A walk of the search's alphabet to `len` actions.
pub fn reachable(policy: &Policy, reach: Reach, len: u16) -> Reachable {
    let mut walker = Walker::new(policy, len, reach);
    let mut out = Reachable {
        complete: true,
        ..Reachable::default()
    };
    // Depth first, each state kept with the fewest actions it was reached in (a state met
    // again in fewer is walked again): the stack holds a few hundred states where a
    // breadth-first queue held a whole level of them.
    let mut best: HashMap<u64, u16> = HashMap::new();
    let init = State::default();
    best.insert(fingerprint(&init), 0);
    let mut stack: Vec<(State, u16)> = vec![(init, 0)];
    while let Some((s, depth)) = stack.pop() {
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
            out.pairs.insert(Reachable::key(&(fp, a)));
            for (o, mut post) in outs {
                observe(policy, &s, &a, &o, &mut post);
                let key = fingerprint(&post);
                match best.get(&key) {
                    Some(&d) if d <= depth + 1 => continue,
                    None if best.len() >= MAX_STATES => {
                        out.complete = false;
                        continue;
                    }
                    _ => {}
                }
                best.insert(key, depth + 1);
                stack.push((post, depth + 1));
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
    /// How many of the walks (the first ones) are deadline probes ([`probes`]).
    pub probes: usize,
    /// New pairs the walks reach on the model, as planned (the server's own choices may
    /// take a run elsewhere).
    pub planned_pairs: usize,
}

/// The deadline probes: for each token a grant's first step or two leave (a live refresh
/// token, a consumed one, an access token) and each deadline of it then pending, the walk
/// "time passes to just before the deadline; the token is presented (each way the model
/// has: by its owner, by another client, asking a scope, introspected); time passes to the
/// deadline; its owner presents it". A window that restarts at each reuse, an idle timeout
/// that a refused request renews, an expiry checked only when a token rotates: each shows
/// in one of these walks and in no shorter one. The last presentation may be of a token its
/// client no longer holds (a replay the model checker's alphabet leaves to the attacker),
/// so a probe's pairs can lie outside [`reachable`]'s. And the interleaving: the owner presents a
/// refresh token, then each other refresh token of the grant it holds, then the first
/// again (a reuse count kept per grant that another token's rotation resets shows there).
/// They are planned before the aimed walks, shortest prefix first.
pub fn probes(policy: &Policy, reach: Reach) -> Vec<Vec<Action>> {
    use tokenlife_model::action::Deadline;
    let mut walker = Walker::new(policy, 8, reach);
    let spec = tokenlife_model::Spec::new(policy.clone());
    // Step `a` from `s` with its first outcome, observed; `None` if the model cannot.
    let step = |s: &State, a: &Action| -> Option<State> {
        let mut outs = spec.step(s, a).ok()?;
        if outs.is_empty() {
            return None;
        }
        let (o, mut post) = outs.swap_remove(0);
        observe(policy, s, a, &o, &mut post);
        Some(post)
    };
    let init = State::default();
    let mut prefixes: Vec<(Vec<Action>, State)> = Vec::new();
    for a in walker.enabled(&init) {
        let Action::Authorize {
            client,
            scope,
            offline: true,
        } = a
        else {
            continue;
        };
        // One grant per client, of the narrower scope when there is one (so a scope can
        // be asked beyond it), and the same after its owner's first refresh.
        if prefixes.iter().any(|(p, _)| matches!(p[0], Action::Authorize { client: c, .. } if c == client))
            || (scope == tokenlife_model::state::Scope::ALL
                && walker.enabled(&init).iter().any(|b| matches!(b, Action::Authorize { client: c, scope: sc, offline: true } if *c == client && *sc != scope)))
        {
            continue;
        }
        let Some(s1) = step(&init, &a) else { continue };
        let refresh = Action::Refresh {
            by: Actor::Client(client),
            rt: tokenlife_model::state::RtId(0),
            scope: None,
        };
        // The owner's first refresh answered (it holds the successor), and lost (it still
        // holds the consumed token, the one a grace window is for).
        let lost = Action::RefreshLost {
            rt: tokenlife_model::state::RtId(0),
        };
        let has_rt = s1.has_rt(tokenlife_model::state::RtId(0));
        prefixes.push((vec![a], s1.clone()));
        for second in [refresh, lost] {
            if let Some(s2) = has_rt.then(|| step(&s1, &second)).flatten() {
                prefixes.push((vec![a, second], s2));
            }
        }
    }
    prefixes.sort_by_key(|(p, _)| p.len());
    let mut out = Vec::new();
    for (prefix, s) in &prefixes {
        let tokens: Vec<TokenRef> = (0..s.n_rts)
            .map(|r| TokenRef::Refresh(tokenlife_model::state::RtId(r)))
            .chain((0..s.n_ats).map(|a| TokenRef::Access(tokenlife_model::state::AtId(a))))
            .collect();
        for token in tokens {
            for to in Deadline::ALL {
                if to == Deadline::RefreshEnd || to.remaining(s, token).is_none_or(|d| d < 2) {
                    continue;
                }
                let before = canonical(
                    s,
                    Action::Advance {
                        to,
                        token,
                        before: true,
                    },
                );
                let Some(s_before) = step(s, &before) else {
                    continue;
                };
                // The owner's plain presentation ends every probe.
                let last = match token {
                    TokenRef::Refresh(rt) => Action::Refresh {
                        by: Actor::Client(s.rt_grant(rt).client),
                        rt,
                        scope: None,
                    },
                    TokenRef::Access(at) => Action::UseAccess { at },
                };
                let mut presented: Vec<Action> = Vec::new();
                for a in walker.enabled(&s_before) {
                    if token_of(&a) != Some(token)
                        || matches!(
                            a,
                            Action::Revoke { .. }
                                | Action::RefreshLost { .. }
                                | Action::Advance { .. }
                        )
                        || presented.iter().any(|p| same_way(p, &a))
                    {
                        continue;
                    }
                    presented.push(a);
                }
                for a in presented {
                    // Only walks the model can take to the end (the deadline still pending).
                    let Some(s_act) = step(&s_before, &a) else {
                        continue;
                    };
                    let on = canonical(
                        &s_act,
                        Action::Advance {
                            to,
                            token,
                            before: false,
                        },
                    );
                    let Some(s_on) = step(&s_act, &on) else {
                        continue;
                    };
                    if step(&s_on, &last).is_some() {
                        out.push(
                            prefix
                                .iter()
                                .copied()
                                .chain([before, a, on, last])
                                .collect(),
                        );
                    }
                }
            }
        }
        // Interleaving: its owner presents a refresh token, then each other refresh token of
        // the grant it holds, then the first again (a count or a mark kept per grant, that
        // another token's use resets, shows here).
        for t in 0..s.n_rts {
            let rt = tokenlife_model::state::RtId(t);
            let owner = Actor::Client(s.rt_grant(rt).client);
            let first = Action::Refresh {
                by: owner,
                rt,
                scope: None,
            };
            if !walker.enabled(s).contains(&first) {
                continue;
            }
            let Some(s_first) = step(s, &first) else {
                continue;
            };
            for other in walker.enabled(&s_first) {
                let Action::Refresh {
                    by,
                    rt: sibling,
                    scope: None,
                } = other
                else {
                    continue;
                };
                if by != owner || sibling == rt {
                    continue;
                }
                let Some(s_other) = step(&s_first, &other) else {
                    continue;
                };
                if step(&s_other, &first).is_some() {
                    out.push(
                        prefix
                            .iter()
                            .copied()
                            .chain([first, other, first])
                            .collect(),
                    );
                }
            }
        }
    }
    out
}

/// The search's own name for a move of time in `s` (one per distinct number of seconds,
/// [`crate::generate::advances`]), so every probe's pair is one the reachability walk
/// counts; `a` itself when it is not one.
fn canonical(s: &State, a: Action) -> Action {
    let Some(by) = tokenlife_model::spec::time_passing(s, &a).filter(|_| a != Action::Tick) else {
        return a;
    };
    crate::generate::advances(s)
        .into_iter()
        .find(|x| tokenlife_model::spec::time_passing(s, x) == Some(by))
        .unwrap_or(a)
}

/// Whether two presentations of a token are the same way of presenting it: by the same
/// actor, asking a scope or not (which scope is one way).
fn same_way(a: &Action, b: &Action) -> bool {
    match (a, b) {
        (
            Action::Refresh {
                by: x, scope: sx, ..
            },
            Action::Refresh {
                by: y, scope: sy, ..
            },
        ) => x == y && sx.is_some() == sy.is_some(),
        _ => std::mem::discriminant(a) == std::mem::discriminant(b),
    }
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
        Action::Refresh { .. } | Action::Unproven { .. } => Kind::Odd,
        Action::RefreshLost { .. } => Kind::Lost,
        Action::UseAccess { .. } | Action::Introspect { .. } | Action::Revoke { .. } => Kind::Query,
        Action::ReplayCode { .. } => Kind::Code,
        Action::Tick | Action::Advance { .. } => Kind::Time,
        Action::Authorize { .. } | Action::Restart | Action::Steal { .. } => Kind::Other,
    }
}

/// What the planner aims at: a [`Situation`], and whether the refresh token it presents
/// was presented less than the policy's shortest window (grace window, idle timeout) ago.
/// That is history, not state (the model keeps when a window ends, not when a token was
/// last shown), so reachability and the report count situations alone; but it is what
/// tells a reuse at the edge of a window that follows another reuse from one that follows
/// the rotation, which a window that restarts at each reuse, or an idle timeout that a
/// refused request renews, needs.
type Aim = (Situation, bool);

/// A walk's model time and when each refresh token was last presented.
struct Clock {
    now: u32,
    last: [Option<u32>; tokenlife_model::state::MAX_TOKENS],
    window: Option<u32>,
}

impl Clock {
    fn new(policy: &Policy) -> Clock {
        let grace = policy.grace.and_then(|g| g.window).map(|w| w.get());
        let idle = policy.idle_timeout.map(|w| w.get());
        Clock {
            now: 0,
            last: [None; tokenlife_model::state::MAX_TOKENS],
            window: grace.into_iter().chain(idle).min(),
        }
    }

    /// What `a` aims at in `s`, at this point of the walk.
    fn aim(&self, policy: &Policy, s: &State, a: &Action) -> Aim {
        let recent = match (*a, self.window) {
            (Action::Refresh { rt, .. } | Action::RefreshLost { rt }, Some(w)) => self
                .last
                .get(rt.0 as usize)
                .copied()
                .flatten()
                .is_some_and(|t| self.now - t < w),
            _ => false,
        };
        (situation(policy, s, a), recent)
    }

    /// `a` taken in `s` (the state before it).
    fn step(&mut self, s: &State, a: &Action) {
        self.now += tokenlife_model::spec::time_passing(s, a).unwrap_or(0);
        match *a {
            Action::Refresh { rt, .. } | Action::RefreshLost { rt } => {
                if let Some(t) = self.last.get_mut(rt.0 as usize) {
                    *t = Some(self.now);
                }
            }
            _ => {}
        }
    }
}

/// The token an action presents, names or moves time to a deadline of: the walk's focus,
/// whose deadlines and presentations the next steps favour (present a token, move to the
/// edge of one of its windows, present it again: what a window that slides or a count that
/// resets needs).
fn token_of(a: &Action) -> Option<TokenRef> {
    match *a {
        Action::Refresh { rt, .. } | Action::RefreshLost { rt } => Some(TokenRef::Refresh(rt)),
        Action::UseAccess { at } => Some(TokenRef::Access(at)),
        Action::Revoke { token, .. }
        | Action::Introspect { token }
        | Action::Advance { token, .. } => Some(token),
        _ => None,
    }
}

/// How much more likely than a plain action a walk takes an action of kind `k` whose pair
/// is `new`, and whose situation is too.
fn weight(k: Kind, new: bool, new_situation: bool) -> u64 {
    let base = match k {
        Kind::Time => 4,
        Kind::Reuse => 3,
        Kind::Query => 2,
        _ => 1,
    };
    match (new, new_situation) {
        (true, true) => base * 16,
        (true, false) => base * 2,
        _ => base,
    }
}

/// One candidate walk and what it adds.
struct Candidate {
    walk: Vec<Action>,
    pairs: Vec<Pair>,
    situations: Vec<Aim>,
    /// The length of the walk's prefix that first reached each new situation.
    firsts: Vec<usize>,
    requests: u64,
}

impl Candidate {
    /// New coverage per request, in thousandths: an aim counts twenty pairs (pairs are many
    /// and mostly new at depth; a new aim is a new kind of experiment).
    fn score(&self) -> u64 {
        let gain = self.pairs.len() as u64 + 20 * self.situations.len() as u64;
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
    let mut rng = Rng(seed ^ 0x5eed_0fa1_3ed5_ea5c);
    let mut pairs: HashSet<Pair> = already.clone();
    let mut situations: HashSet<Aim> = HashSet::new();
    let mut plan = Plan {
        budget,
        len,
        ..Plan::default()
    };
    // Prefixes of planned walks that each ended at a situation first reached there: where
    // later walks start from, to go one situation deeper.
    let mut corpus: Vec<Vec<Action>> = Vec::new();
    for walk in probes(policy, reach) {
        if walk.len() > len as usize {
            continue;
        }
        let cost: u64 = walk.iter().map(requests).sum();
        if plan.requests + cost > budget {
            break;
        }
        let mut s = State::default();
        let mut clock = Clock::new(policy);
        for a in &walk {
            pairs.insert((fingerprint(&s), *a));
            situations.insert(clock.aim(policy, &s, a));
            clock.step(&s, a);
            let Ok(mut outs) = walker.spec.step(&s, a) else {
                break;
            };
            if outs.is_empty() {
                break;
            }
            let (o, mut post) = outs.swap_remove(0);
            observe(policy, &s, a, &o, &mut post);
            s = post;
        }
        plan.requests += cost;
        plan.probes += 1;
        plan.walks.push(walk);
    }
    let mut stale = 0;
    while plan.requests < budget && stale < STALE {
        let mut best: Option<Candidate> = None;
        for _ in 0..BATCH {
            let c = candidate(
                &mut walker,
                policy,
                &mut rng,
                len,
                (&pairs, &situations),
                &corpus,
            );
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
                corpus.extend(c.firsts.iter().map(|&k| c.walk[..k].to_vec()));
                plan.walks.push(c.walk);
            }
            _ => stale += 1,
        }
    }
    plan
}

/// One swarm walk, cut after its last step that reached a new pair: from the initial
/// state, or (three times in four, once there are some) on from a prefix in the `corpus`,
/// so a walk that reached a new situation is where the next ones go deeper.
fn candidate(
    walker: &mut Walker,
    policy: &Policy,
    rng: &mut Rng,
    len: u16,
    (pairs, situations): (&HashSet<Pair>, &HashSet<Aim>),
    corpus: &[Vec<Action>],
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
    let mut new_situations: Vec<Aim> = Vec::new();
    let mut clock = Clock::new(policy);
    let mut firsts: Vec<usize> = Vec::new();
    let (mut cut, mut cut_pairs, mut cut_situations) = (0, 0, 0);
    if !corpus.is_empty() && rng.below(4) != 0 {
        let from = &corpus[rng.below(corpus.len() as u64) as usize];
        for a in from {
            let Ok(mut outs) = walker.spec.step(&s, a) else {
                break;
            };
            if outs.is_empty() {
                break;
            }
            let i = rng.below(outs.len() as u64) as usize;
            let (o, mut post) = outs.swap_remove(i);
            observe(policy, &s, a, &o, &mut post);
            clock.step(&s, a);
            walk.push(*a);
            s = post;
        }
    }
    let mut focus = walk.last().and_then(token_of);
    while walk.len() < len as usize {
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
                let sit = new.then(|| clock.aim(policy, &s, &a));
                let new_situation =
                    sit.is_some_and(|x| !situations.contains(&x) && !new_situations.contains(&x));
                let w = weight(k, new, new_situation);
                Some((
                    a,
                    if focus.is_some() && token_of(&a) == focus {
                        w * 4
                    } else {
                        w
                    },
                ))
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
        let sit = clock.aim(policy, &s, &a);
        clock.step(&s, &a);
        walk.push(a);
        focus = token_of(&a).or(focus);
        if !pairs.contains(&(fp, a)) && !new_pairs.contains(&(fp, a)) {
            new_pairs.push((fp, a));
            if !situations.contains(&sit) && !new_situations.contains(&sit) {
                new_situations.push(sit);
                firsts.push(walk.len());
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
        firsts,
        requests,
    }
}

#[cfg(test)]
mod tests;
