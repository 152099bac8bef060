//! Policy inference: learn which policy a server implements from its answers alone.
//!
//! The spec says, for every policy, which answers a server may give after any sequence of
//! requests. So two values of a knob can be told apart by a *distinguishing experiment*: a
//! sequence of requests after which every answer one policy allows is one the other forbids.
//! Nothing about the experiments is written by hand:
//!
//! - [`table`]: the inferable discrete knobs, one entry each (name, values, how to read and
//!   set one), in the order of the experiments.
//! - [`product`]: for two policies, a breadth-first search over the product of their specs
//!   for the shortest distinguishing sequence within bounds, with time as concrete waits both
//!   specs agree on (see its doc), or "indistinguishable within the bounds".
//! - [`decide`]: the loop that runs experiments against an answerer, keeps the values whose
//!   spec allows the answers, and reports a knob as decided, "consistent with" several
//!   values (never guessed: the file then carries the most permissive), or contradicted.
//! - [`lifetimes`]: the lifetimes, measured before the knobs (whose experiments wait for
//!   them): the search for one deadline by probes, and what the deadlines found mean as knobs.
//! - [`report`]: the inferred policy as a policy file, one comment per knob saying how.
//!
//! The loop takes the lifetimes from the base policy it is given: the measured ones.
//! Everything here is pure; the harness supplies the answers of a live server.

pub mod decide;
pub mod lifetimes;
pub mod product;
pub mod report;
pub mod table;

pub use decide::{
    decidable, infer, Answerer, Answers, Cache, Contradiction, Experiment, Finding, Inference,
};
pub use lifetimes::{Found, Lifetimes, Measured, Probe, RefreshDeadlines, Search};
pub use product::{allows, distinguish, traces, Bounds, Step, Verdict};
pub use report::{policy_file, policy_file_measured};
pub use table::{knob, Knob, KNOBS};

use crate::action::Outcome;
use crate::spec::Spec;
use crate::state::State;

/// The answers a server following `spec` gives to `steps`, taking the first outcome the spec
/// allows at each step (rotating where it may rotate), up to the first step it cannot take.
/// The answerer of tests and benchmarks.
pub fn answer_with(spec: &Spec, steps: &[Step]) -> Vec<Outcome> {
    let mut s = State::default();
    let mut out = Vec::new();
    for step in steps {
        match product::step_all(spec, std::slice::from_ref(&s), step)
            .and_then(|v| v.into_iter().next())
        {
            Some((o, n)) => {
                out.push(o);
                s = n;
            }
            None => break,
        }
    }
    out
}

#[cfg(test)]
mod tests;
