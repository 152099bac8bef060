//! Progress of a run, phase by phase, for whoever shows it (the CLI draws bars).
//!
//! The harness announces each phase (scenarios, exhaustive sequences, random cases) with
//! its size, then advances it one scenario or sequence at a time. Nothing here is judged:
//! a sink that ignores every call changes no result.

use std::sync::Arc;

/// Receives a run's progress. Calls come from the run's task; keep them cheap.
pub trait Progress: Send + Sync {
    /// A phase starts with `total` units (scenarios, sequences or cases).
    fn phase(&self, name: &str, total: u64);
    /// `n` more units of the current phase are done.
    fn advance(&self, n: u64);
    /// The current phase is over.
    fn finish(&self);
}

/// A shared progress sink in [`crate::RunOptions`].
#[derive(Clone)]
pub struct ProgressSink(pub Arc<dyn Progress>);

impl std::fmt::Debug for ProgressSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProgressSink")
    }
}

impl ProgressSink {
    /// Wraps a sink.
    pub fn new(p: impl Progress + 'static) -> ProgressSink {
        ProgressSink(Arc::new(p))
    }
}

/// Forwards to an optional sink.
pub(crate) fn phase(p: &Option<ProgressSink>, name: &str, total: u64) {
    if let Some(p) = p {
        p.0.phase(name, total);
    }
}

pub(crate) fn advance(p: &Option<ProgressSink>, n: u64) {
    if let Some(p) = p {
        p.0.advance(n);
    }
}

pub(crate) fn finish(p: &Option<ProgressSink>) {
    if let Some(p) = p {
        p.0.finish();
    }
}
