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
    /// The property.
    pub name: &'static str,
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
    /// Seconds our BFS took to find the shortest paths.
    pub witness_seconds: f64,
    /// Every property, in table order.
    pub properties: Vec<PropertyReport>,
}

impl CheckReport {
    /// Whether the check passes (exit 0).
    pub fn passed(&self) -> bool {
        !self.properties.iter().any(PropertyReport::is_failure)
    }
}

/// Checks `policy` at `bounds` with `threads` checker threads.
pub fn check(policy: &Policy, bounds: Bounds, threads: usize) -> CheckReport {
    let model = LifecycleModel::new(policy.clone(), bounds);
    check_model(model, threads)
}

/// Checks a model (a correct or, in tests, a mutated spec).
pub fn check_model(model: LifecycleModel, threads: usize) -> CheckReport {
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
        .filter(|p| checker.discovery(p.name).is_some())
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
            let idx = discovered.iter().position(|d| d.name == p.name);
            let status = if !(p.applies)(&policy) {
                Status::NotApplicable
            } else {
                match (p.kind, idx.is_some()) {
                    (Kind::Sometimes, true) => Status::Discovered,
                    (Kind::Sometimes, false) => Status::Undiscovered,
                    (_, true) => Status::Violated,
                    (_, false) => Status::Holds,
                }
            };
            PropertyReport {
                name: p.name,
                kind: p.kind,
                group: p.group,
                clause: p.clause,
                status,
                counterexample: idx.and_then(|i| shortest.get(i).cloned().flatten()),
            }
        })
        .collect();
    CheckReport {
        profile: policy.profile.clone(),
        bounds,
        unique_states,
        seconds,
        states_per_second: if seconds > 0.0 {
            unique_states as f64 / seconds
        } else {
            0.0
        },
        witness_seconds,
        properties,
    }
}
