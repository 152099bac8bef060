//! Our own breadth-first search over the model: the shortest counterexample for every
//! violated property and the shortest witness for every discovered `sometimes`.
//!
//! Stateright 0.31's BFS keeps the last violating path it found, not the shortest, so the
//! paths shown to users come from here. It explores exactly the states stateright does
//! (same `steps`, same `next`), which a test checks by comparing unique-state counts.

use std::collections::VecDeque;
use std::time::Instant;

use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::model::{Kind, LifecycleModel, PropertyInfo, Step};
use crate::spec::{Action, Outcome};
use crate::state::State;

/// One step of a path: what was done and what the server answered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TraceStep {
    /// The action.
    pub action: Action,
    /// The outcome.
    pub outcome: Outcome,
}

/// What the search found.
#[derive(Debug)]
pub struct Search {
    /// Unique states reached (all of them unless the search stopped early).
    pub unique_states: usize,
    /// The deepest path length, in actions.
    pub max_depth: u16,
    /// Whether every reachable state within the bounds was visited.
    pub complete: bool,
    /// Wall time.
    pub seconds: f64,
    /// For each property searched for (same order as asked): the shortest path to a state
    /// that violates it (`always`) or witnesses it (`sometimes`).
    pub found: Vec<Option<Vec<TraceStep>>>,
}

/// A stable 64-bit fingerprint of a state.
pub fn fingerprint(s: &State) -> u64 {
    ahash::RandomState::with_seeds(
        0x7465_6b6f_6e6c_6966,
        0x6573_7461_7465_7321,
        0x0123_4567_89ab_cdef,
        0xfedc_ba98_7654_3210,
    )
    .hash_one(s)
}

fn fires(p: &PropertyInfo, m: &LifecycleModel, s: &State) -> bool {
    match p.kind {
        Kind::Always => !(p.condition)(m, s),
        Kind::Sometimes => (p.condition)(m, s),
        // Not used by this model; a terminal-state check would go here.
        Kind::Eventually => false,
    }
}

/// Breadth-first search for `props`. With `stop_early`, the search ends as soon as every
/// property has a path; otherwise it visits every state within the bounds.
pub fn search(m: &LifecycleModel, props: &[&PropertyInfo], stop_early: bool) -> Search {
    let start = Instant::now();
    let init = State::default();
    let init_fp = fingerprint(&init);
    // fingerprint -> (parent fingerprint, index of the step in the parent's step list)
    let mut parents: FxHashMap<u64, (u64, u32)> = FxHashMap::default();
    parents.insert(init_fp, (init_fp, u32::MAX));
    let mut queue = VecDeque::new();
    queue.push_back((init, init_fp, 0u16));
    let mut found_at: Vec<Option<u64>> = vec![None; props.len()];
    let mut missing = props.len();
    let mut steps = Vec::new();
    let mut max_depth = 0;
    let mut complete = true;
    while let Some((s, fp, depth)) = queue.pop_front() {
        max_depth = max_depth.max(depth);
        if missing > 0 {
            for (i, p) in props.iter().enumerate() {
                if found_at[i].is_none() && fires(p, m, &s) {
                    found_at[i] = Some(fp);
                    missing -= 1;
                }
            }
        }
        if stop_early && missing == 0 {
            complete = false;
            break;
        }
        if m.bounds.depth.is_some_and(|d| depth >= d) {
            continue;
        }
        steps.clear();
        m.steps(&s, &mut steps);
        for (i, step) in steps.iter().enumerate() {
            if let Some((_, n)) = m.next(&s, step) {
                let nfp = fingerprint(&n);
                if let std::collections::hash_map::Entry::Vacant(e) = parents.entry(nfp) {
                    e.insert((fp, i as u32));
                    queue.push_back((n, nfp, depth + 1));
                }
            }
        }
    }
    Search {
        unique_states: parents.len(),
        max_depth,
        complete,
        seconds: start.elapsed().as_secs_f64(),
        found: paths(m, &parents, &found_at, init_fp),
    }
}

/// `search` with the expansion of each BFS level spread over `threads` threads. It visits the
/// same states in the same order as `search` (successors are merged in the order the
/// sequential search would queue them), so it finds the same shortest paths.
pub fn search_threads(
    m: &LifecycleModel,
    props: &[&PropertyInfo],
    stop_early: bool,
    threads: usize,
) -> Search {
    if threads <= 1 {
        return search(m, props, stop_early);
    }
    let start = Instant::now();
    let init = State::default();
    let init_fp = fingerprint(&init);
    let mut parents: FxHashMap<u64, (u64, u32)> = FxHashMap::default();
    parents.insert(init_fp, (init_fp, u32::MAX));
    let mut frontier: Vec<(State, u64)> = vec![(init, init_fp)];
    let mut found_at: Vec<Option<u64>> = vec![None; props.len()];
    let mut missing = props.len();
    let mut depth: u16 = 0;
    let mut max_depth = 0;
    let mut complete = true;
    type Level = (Vec<Option<u64>>, Vec<(State, u64, u64, u32)>);
    while !frontier.is_empty() {
        max_depth = depth;
        let expand = m.bounds.depth.is_none_or(|d| depth < d);
        let chunk = frontier.len().div_ceil(threads);
        let results: Vec<Level> = std::thread::scope(|scope| {
            let handles: Vec<_> = frontier
                .chunks(chunk)
                .map(|part| {
                    let (parents, found_at) = (&parents, &found_at);
                    scope.spawn(move || {
                        let mut fired: Vec<Option<u64>> = vec![None; props.len()];
                        let mut out = Vec::new();
                        let mut seen = rustc_hash::FxHashSet::default();
                        let mut steps = Vec::new();
                        for (s, fp) in part {
                            for (i, p) in props.iter().enumerate() {
                                if found_at[i].is_none() && fired[i].is_none() && fires(p, m, s) {
                                    fired[i] = Some(*fp);
                                }
                            }
                            if !expand {
                                continue;
                            }
                            steps.clear();
                            m.steps(s, &mut steps);
                            for (i, step) in steps.iter().enumerate() {
                                if let Some((_, n)) = m.next(s, step) {
                                    let nfp = fingerprint(&n);
                                    if !parents.contains_key(&nfp) && seen.insert(nfp) {
                                        out.push((n, nfp, *fp, i as u32));
                                    }
                                }
                            }
                        }
                        (fired, out)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        });
        for (fired, _) in &results {
            for (i, f) in fired.iter().enumerate() {
                if found_at[i].is_none() && f.is_some() {
                    found_at[i] = *f;
                    missing -= 1;
                }
            }
        }
        if stop_early && missing == 0 {
            complete = false;
            break;
        }
        let mut next = Vec::new();
        for (_, out) in results {
            for (n, nfp, pfp, idx) in out {
                if let std::collections::hash_map::Entry::Vacant(e) = parents.entry(nfp) {
                    e.insert((pfp, idx));
                    next.push((n, nfp));
                }
            }
        }
        frontier = next;
        depth += 1;
    }
    Search {
        unique_states: parents.len(),
        max_depth,
        complete,
        seconds: start.elapsed().as_secs_f64(),
        found: paths(m, &parents, &found_at, init_fp),
    }
}

/// The path to each found state, in the order of `found_at`.
fn paths(
    m: &LifecycleModel,
    parents: &FxHashMap<u64, (u64, u32)>,
    found_at: &[Option<u64>],
    init_fp: u64,
) -> Vec<Option<Vec<TraceStep>>> {
    found_at
        .iter()
        .map(|f| f.map(|fp| path_to(m, parents, fp, init_fp)))
        .collect()
}

fn path_to(
    m: &LifecycleModel,
    parents: &FxHashMap<u64, (u64, u32)>,
    fp: u64,
    init_fp: u64,
) -> Vec<TraceStep> {
    let mut indices = Vec::new();
    let mut at = fp;
    while at != init_fp {
        let Some(&(parent, idx)) = parents.get(&at) else {
            break;
        };
        indices.push(idx);
        at = parent;
    }
    indices.reverse();
    replay(m, &indices)
}

/// Replays step indices from the initial state into actions and outcomes.
pub fn replay(m: &LifecycleModel, indices: &[u32]) -> Vec<TraceStep> {
    let mut s = State::default();
    let mut out = Vec::with_capacity(indices.len());
    let mut steps: Vec<Step> = Vec::new();
    for &i in indices {
        steps.clear();
        m.steps(&s, &mut steps);
        let Some(step) = steps.get(i as usize) else {
            break;
        };
        let Some((outcome, n)) = m.next(&s, step) else {
            break;
        };
        out.push(TraceStep {
            action: step.action,
            outcome,
        });
        s = n;
    }
    out
}

/// Unique states of the whole space within the bounds (no property bookkeeping).
pub fn count_states(m: &LifecycleModel) -> usize {
    search(m, &[], false).unique_states
}

/// `count_states` on `threads` threads.
pub fn count_states_threads(m: &LifecycleModel, threads: usize) -> usize {
    search_threads(m, &[], false, threads).unique_states
}
