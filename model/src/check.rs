//! Checks a policy: stateright's BFS decides every property over the whole bounded space,
//! our own BFS supplies the shortest path for each discovery.

use std::time::Instant;

use serde::Serialize;
use stateright::{Checker, Model};

use crate::explore::{search, TraceStep};
use crate::model::{Bounds, Group, Kind, LifecycleModel, PropertyInfo, PROPERTIES};
use crate::policy::Policy;

/// The verdict on one property.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// An `always` property holds in every reachable state.
    Holds,
    /// An `always` property fails in some reachable state.
    Violated,
    /// A `sometimes` property is reachable.
    Discovered,
    /// A `sometimes` property is not reachable within the bounds.
    Undiscovered,
    /// The policy makes the property impossible or meaningless.
    NotApplicable,
}

impl Status {
    /// The word used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Holds => "holds",
            Status::Violated => "violated",
            Status::Discovered => "discovered",
            Status::Undiscovered => "undiscovered",
            Status::NotApplicable => "not-applicable",
        }
    }
}

/// One property's verdict.
#[derive(Clone, Debug, Serialize)]
pub struct PropertyReport {
    /// The property, as a sentence.
    pub name: &'static str,
    /// Its short, stable id.
    pub id: &'static str,
    /// always / sometimes.
    pub kind: Kind,
    /// invariant / characteristic.
    pub group: Group,
    /// The clause.
    pub clause: &'static str,
    /// The verdict.
    pub status: Status,
    /// The shortest counterexample (violated) or witness (discovered).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counterexample: Option<Vec<TraceStep>>,
}

impl PropertyReport {
    /// Whether this verdict fails the check: a violated invariant or an applicable
    /// `sometimes` that was not discovered. A violated characteristic is a finding.
    pub fn is_failure(&self) -> bool {
        match self.status {
            Status::Violated => self.group == Group::Invariant,
            Status::Undiscovered => true,
            _ => false,
        }
    }
}

/// The result of checking one policy.
#[derive(Clone, Debug, Serialize)]
pub struct CheckReport {
    /// The policy's profile name.
    pub profile: String,
    /// The bounds, for "at bound k".
    pub bounds: Bounds,
    /// Unique states (stateright's count).
    pub unique_states: usize,
    /// Seconds stateright took.
    pub seconds: f64,
    /// Unique states per second.
    pub states_per_second: f64,
    /// Seconds our BFS took to find the shortest paths (stateright engine only).
    pub witness_seconds: f64,
    /// The engine that decided the verdicts.
    pub engine: Engine,
    /// Every property, in table order.
    pub properties: Vec<PropertyReport>,
}

impl CheckReport {
    /// Whether the check passes (exit 0).
    pub fn passed(&self) -> bool {
        !self.properties.iter().any(PropertyReport::is_failure)
    }
}

/// Which search decides the verdicts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    /// Our own BFS (`explore`): verdicts and shortest paths in one pass, its levels
    /// expanded on every thread. The default: stateright's BFS spends most of its time on
    /// per-state bookkeeping for our 27 properties (a hash-map lookup per property per state,
    /// a path vector per state), and it cannot give shortest paths.
    #[default]
    Own,
    /// stateright's BFS decides, our BFS then finds the shortest paths. Slower; the tests
    /// check that both engines agree on every verdict.
    Stateright,
}

/// Checks `policy` at `bounds` with `threads` checker threads.
pub fn check(policy: &Policy, bounds: Bounds, threads: usize) -> CheckReport {
    let model = LifecycleModel::new(policy.clone(), bounds);
    check_model(model, threads)
}

/// Checks a model (a correct or, in tests, a mutated spec) with our own BFS.
pub fn check_model(model: LifecycleModel, threads: usize) -> CheckReport {
    check_with(model, threads, Engine::Own)
}

/// Checks a model with the chosen engine.
pub fn check_with(model: LifecycleModel, threads: usize, engine: Engine) -> CheckReport {
    if engine == Engine::Own {
        let policy = model.policy().clone();
        let applicable: Vec<&'static PropertyInfo> = model.applicable().collect();
        let found = crate::explore::search_threads(&model, &applicable, false, threads);
        let mut paths = applicable.iter().zip(found.found);
        let properties = PROPERTIES
            .iter()
            .map(|p| {
                let path = if (p.applies)(&policy) {
                    paths.next().map(|(_, f)| f)
                } else {
                    None
                };
                report_of(p, &policy, path)
            })
            .collect();
        return CheckReport {
            profile: policy.profile.clone(),
            bounds: model.bounds,
            unique_states: found.unique_states,
            seconds: found.seconds,
            states_per_second: rate(found.unique_states, found.seconds),
            witness_seconds: 0.0,
            engine,
            properties,
        };
    }
    let policy = model.policy().clone();
    let bounds = model.bounds;
    let applicable: Vec<&'static PropertyInfo> = model.applicable().collect();
    let start = Instant::now();
    let mut builder = model.clone().checker().threads(threads.max(1));
    if let Some(d) = bounds.depth {
        // stateright's target_max_depth(d) checks paths of d - 2 actions.
        builder = builder.target_max_depth(d as usize + 2);
    }
    let checker = builder.spawn_bfs().join();
    let seconds = start.elapsed().as_secs_f64();
    let unique_states = checker.unique_state_count();
    let discovered: Vec<&'static PropertyInfo> = applicable
        .iter()
        .copied()
        .filter(|p| checker.discovery(p.id).is_some())
        .collect();
    let witness_start = Instant::now();
    let shortest = if discovered.is_empty() {
        Vec::new()
    } else {
        search(&model, &discovered, true).found
    };
    let witness_seconds = witness_start.elapsed().as_secs_f64();
    let properties = PROPERTIES
        .iter()
        .map(|p| {
            let path = if (p.applies)(&policy) {
                // Discovered by stateright: the shortest path from our search (which finds
                // every discovery stateright made, since both explore the same space).
                Some(
                    discovered
                        .iter()
                        .position(|d| d.name == p.name)
                        .and_then(|i| shortest.get(i).cloned().flatten()),
                )
            } else {
                None
            };
            report_of(p, &policy, path)
        })
        .collect();
    CheckReport {
        profile: policy.profile.clone(),
        bounds,
        unique_states,
        seconds,
        states_per_second: rate(unique_states, seconds),
        witness_seconds,
        engine,
        properties,
    }
}

fn rate(states: usize, seconds: f64) -> f64 {
    if seconds > 0.0 {
        states as f64 / seconds
    } else {
        0.0
    }
}

/// The verdict on `p`: `path` is `None` when the property does not apply, `Some(None)` when
/// it applies and nothing was found, `Some(Some(path))` when a state fires it.
fn report_of(
    p: &'static PropertyInfo,
    policy: &Policy,
    path: Option<Option<Vec<TraceStep>>>,
) -> PropertyReport {
    let status = match (&path, p.kind) {
        _ if !(p.applies)(policy) => Status::NotApplicable,
        (None, _) => Status::NotApplicable,
        (Some(Some(_)), Kind::Sometimes) => Status::Discovered,
        (Some(None), Kind::Sometimes) => Status::Undiscovered,
        (Some(Some(_)), _) => Status::Violated,
        (Some(None), _) => Status::Holds,
    };
    PropertyReport {
        name: p.name,
        id: p.id,
        kind: p.kind,
        group: p.group,
        clause: p.clause,
        status,
        counterexample: path.flatten(),
    }
}
