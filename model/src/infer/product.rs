//! The search for a distinguishing experiment: the shortest sequence of steps after which
//! every answer one spec allows is one the other forbids.
//!
//! Both specs get the same steps. A client cannot see a server's state, only its answers, so
//! each side is a *set* of states, as the harness's oracle keeps it: the states consistent
//! with the answers so far. Where both specs allow several answers (rotation `any`, a refused
//! cross-client revocation) the answers split the run into *branches*, one per answer both
//! allow; an answer only one side allows has already told them apart. A node of the search is
//! the set of branches still open; a sequence distinguishes when no branch is left: whatever
//! the server answers, one of the two specs forbids it. With one branch this is the plain
//! condition "after the last step the outcome sets the two allow are disjoint".
//!
//! Outcomes are compared as the spec writes them, ids included. That is what a client sees:
//! every token minted is reported in an answer (the search never loses a response), so two
//! states with the same history of answers have minted the same ids, and equal outcomes are
//! equal observations.
//!
//! **Time.** A `Tick` jumps to the *next deadline of the state it is applied to*, which is a
//! different number of seconds under two policies with different lifetimes: it cannot be
//! applied to both sides of a product. The search uses [`Step::Wait`] with concrete seconds
//! instead: from a node it may wait until any pending deadline of any state of either side,
//! or one second less ("just before"), so every moment at which some answer of either spec
//! changes is reachable, and no others (between two deadlines nothing changes). The harness
//! moves a server's clock by exactly those seconds.

use std::collections::VecDeque;

use rustc_hash::FxHashSet;
use serde::Serialize;

use crate::action::{Action, Actor, Hint, Outcome, TokenRef};
use crate::explore::fingerprint;
use crate::policy::ClientType;
use crate::spec::{self, Spec};
use crate::state::{AtId, GrantId, RtId, RtStatus, Scope, State, NEVER};

/// One step of an experiment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case", tag = "step")]
pub enum Step {
    /// A request (never `Tick`: time is a [`Step::Wait`]).
    Act {
        /// The action.
        action: Action,
    },
    /// The clock moves this many seconds.
    Wait {
        /// Seconds.
        seconds: u32,
    },
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Step::Act { action } => action.fmt(f),
            Step::Wait { seconds } => write!(f, "{seconds}s pass"),
        }
    }
}

/// How far the search goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bounds {
    /// The most steps in a sequence.
    pub depth: usize,
    /// The most nodes (sets of branches) visited.
    pub nodes: usize,
    /// The most grants (authorizations) in a sequence.
    pub grants: u8,
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds {
            depth: 7,
            nodes: 60_000,
            grants: 2,
        }
    }
}

/// What the search found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The shortest sequence after which no answer is allowed by both.
    Distinguishing(Vec<Step>),
    /// No such sequence within the bounds.
    Indistinguishable {
        /// Whether every node within the depth was visited (`false`: the node bound cut it).
        complete: bool,
    },
}

/// One run of both specs that no answer has told apart yet.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Branch {
    a: Vec<State>,
    b: Vec<State>,
}

/// Every (outcome, state after) `spec` allows for `step` from any of `states`, or `None`
/// when the step cannot be taken (an id that does not exist, no room for a token).
pub fn step_all(spec: &Spec, states: &[State], step: &Step) -> Option<Vec<(Outcome, State)>> {
    let mut out = Vec::new();
    for s in states {
        match step {
            Step::Wait { seconds } => {
                let mut n = s.clone();
                spec::advance(&mut n, *seconds);
                out.push((Outcome::Nothing, n));
            }
            Step::Act { action } => out.extend(spec.step(s, action).ok()?),
        }
    }
    Some(out)
}

/// The states among `pairs` that answered `o`, each once, in a canonical order.
fn answered(pairs: &[(Outcome, State)], o: &Outcome) -> Vec<State> {
    let mut v: Vec<(u64, State)> = pairs
        .iter()
        .filter(|(x, _)| x == o)
        .map(|(_, s)| (fingerprint(s), s.clone()))
        .collect();
    v.sort_by_key(|(f, _)| *f);
    v.dedup_by(|x, y| x.0 == y.0 && x.1 == y.1);
    v.into_iter().map(|(_, s)| s).collect()
}

/// The branches after `step`, or `None` when some state cannot take it.
fn advance_node(a: &Spec, b: &Spec, node: &[Branch], step: &Step) -> Option<Vec<Branch>> {
    let mut out = Vec::new();
    for br in node {
        let oa = step_all(a, &br.a, step)?;
        let ob = step_all(b, &br.b, step)?;
        let mut common: Vec<Outcome> = Vec::new();
        for (o, _) in &oa {
            if !common.contains(o) && ob.iter().any(|(x, _)| x == o) {
                common.push(*o);
            }
        }
        for o in common {
            out.push(Branch {
                a: answered(&oa, &o),
                b: answered(&ob, &o),
            });
        }
    }
    Some(out)
}

fn node_key(node: &[Branch]) -> u64 {
    let mut words: Vec<u64> = Vec::new();
    for br in node {
        words.push(u64::MAX);
        words.extend(br.a.iter().map(fingerprint));
        words.push(u64::MAX - 1);
        words.extend(br.b.iter().map(fingerprint));
    }
    ahash::RandomState::with_seeds(1, 2, 3, 4).hash_one(words)
}

/// The steps worth trying from a node: requests on every token and grant that exists in
/// every state (a refresh token presented by its own client and by the other one), new
/// authorizations within the bounds, and waits to every pending deadline of any state (and
/// to one second before it).
pub fn alphabet(node: &[(&[State], &[State])], grants: u8) -> Vec<Step> {
    let all = || node.iter().flat_map(|(a, b)| a.iter().chain(b.iter()));
    let Some(first) = all().next() else {
        return Vec::new();
    };
    let n_grants = all().map(|s| s.n_grants).min().unwrap_or(0);
    let n_rts = all().map(|s| s.n_rts).min().unwrap_or(0);
    let n_ats = all().map(|s| s.n_ats).min().unwrap_or(0);
    let mut steps = Vec::new();
    let mut act = |action| steps.push(Step::Act { action });
    if n_grants < grants {
        for scope in [Scope::ALL, Scope::READ] {
            for offline in [true, false] {
                for client in [ClientType::Confidential, ClientType::Public] {
                    act(Action::Authorize {
                        client,
                        scope,
                        offline,
                    });
                }
            }
        }
    }
    for rt in 0..n_rts {
        let owner = first.rt_grant(RtId(rt)).client;
        for scope in [None, Some(Scope::READ), Some(Scope::WRITE)] {
            act(Action::Refresh {
                by: Actor::Client(owner),
                rt: RtId(rt),
                scope,
            });
        }
    }
    for at in 0..n_ats {
        act(Action::UseAccess { at: AtId(at) });
    }
    for rt in 0..n_rts {
        let owner = first.rt_grant(RtId(rt)).client;
        act(Action::Revoke {
            by: Actor::Client(owner),
            token: TokenRef::Refresh(RtId(rt)),
            hint: Hint::None,
        });
    }
    for at in 0..n_ats {
        let owner = first.at_grant(AtId(at)).client;
        act(Action::Revoke {
            by: Actor::Client(owner),
            token: TokenRef::Access(AtId(at)),
            hint: Hint::None,
        });
    }
    for g in 0..n_grants {
        act(Action::ReplayCode { grant: GrantId(g) });
    }
    // Another client presenting a token: last, since it changes nothing unless reuse is
    // detected whoever presents (`reuse_presenter`), and a step that changes nothing under
    // both specs never lies on a shortest sequence.
    for rt in 0..n_rts {
        let other = match first.rt_grant(RtId(rt)).client {
            ClientType::Confidential => ClientType::Public,
            ClientType::Public => ClientType::Confidential,
        };
        act(Action::Refresh {
            by: Actor::Client(other),
            rt: RtId(rt),
            scope: None,
        });
    }
    let mut waits: Vec<u32> = Vec::new();
    for s in all() {
        for d in pending(s) {
            waits.push(d);
            if d > 1 {
                waits.push(d - 1);
            }
        }
    }
    waits.sort_unstable();
    waits.dedup();
    steps.extend(waits.into_iter().map(|seconds| Step::Wait { seconds }));
    steps
}

/// Every deadline of `s` still to come that changes some answer.
pub fn pending(s: &State) -> Vec<u32> {
    let mut v = Vec::new();
    let mut add = |d: u32| {
        if d > 0 && d != NEVER {
            v.push(d);
        }
    };
    for g in s.grants().iter().filter(|g| !g.revoked) {
        add(g.cap);
    }
    for t in s.rts().iter().filter(|t| t.status != RtStatus::Revoked) {
        add(t.exp);
        add(t.idle);
        add(t.grace);
    }
    for t in s.ats().iter().filter(|t| !t.revoked) {
        add(t.exp);
    }
    v
}

/// The shortest sequence of steps after which no answer is allowed by both `a` and `b`,
/// searched breadth-first within `bounds`; among sequences of one length, the first in
/// [`alphabet`] order.
pub fn distinguish(a: &Spec, b: &Spec, bounds: &Bounds) -> Verdict {
    let root = vec![Branch {
        a: vec![State::default()],
        b: vec![State::default()],
    }];
    let mut seen: FxHashSet<u64> = FxHashSet::default();
    seen.insert(node_key(&root));
    let mut queue: VecDeque<(Vec<Branch>, Vec<Step>)> = VecDeque::new();
    queue.push_back((root, Vec::new()));
    while let Some((node, path)) = queue.pop_front() {
        if path.len() >= bounds.depth {
            continue;
        }
        let view: Vec<(&[State], &[State])> = node
            .iter()
            .map(|br| (br.a.as_slice(), br.b.as_slice()))
            .collect();
        for step in alphabet(&view, bounds.grants) {
            let Some(next) = advance_node(a, b, &node, &step) else {
                continue;
            };
            let mut p = path.clone();
            p.push(step);
            if next.is_empty() {
                return Verdict::Distinguishing(p);
            }
            if seen.len() >= bounds.nodes {
                return Verdict::Indistinguishable { complete: false };
            }
            if seen.insert(node_key(&next)) {
                queue.push_back((next, p));
            }
        }
    }
    Verdict::Indistinguishable { complete: true }
}

/// Every sequence of answers `spec` allows for `steps` (for tests and reports: the number
/// grows with each choice the spec leaves open). A step that cannot be taken ends the
/// sequence there.
pub fn traces(spec: &Spec, steps: &[Step]) -> Vec<Vec<Outcome>> {
    let mut runs: Vec<(State, Vec<Outcome>)> = vec![(State::default(), Vec::new())];
    let mut ended: Vec<Vec<Outcome>> = Vec::new();
    for step in steps {
        let mut next = Vec::new();
        for (s, trace) in runs {
            match step_all(spec, std::slice::from_ref(&s), step) {
                Some(pairs) if !pairs.is_empty() => {
                    for (o, n) in pairs {
                        let mut t = trace.clone();
                        t.push(o);
                        next.push((n, t));
                    }
                }
                _ => ended.push(trace),
            }
        }
        runs = next;
    }
    ended.extend(runs.into_iter().map(|(_, t)| t));
    ended.sort_by_key(|t| format!("{t:?}"));
    ended.dedup();
    ended
}

/// Whether `spec` allows `answers` to `steps`. Fewer answers than steps mean the answerer
/// stopped: allowed only where `spec` cannot take the next step either (it names a token
/// the answers never minted); where it could, the answerer met an answer it could not read
/// as any outcome it was given, which `spec` forbids.
pub fn allows(spec: &Spec, steps: &[Step], answers: &[Outcome]) -> bool {
    if answers.len() > steps.len() {
        return false;
    }
    let mut states = vec![State::default()];
    for (step, o) in steps.iter().zip(answers) {
        let Some(pairs) = step_all(spec, &states, step) else {
            return false;
        };
        states = answered(&pairs, o);
        if states.is_empty() {
            return false;
        }
    }
    match steps.get(answers.len()) {
        None => true,
        Some(next) => step_all(spec, &states, next).is_none_or(|v| v.is_empty()),
    }
}
