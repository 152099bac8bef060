//! `tokenlife load`: many token families at once under concurrent clients, an attacker
//! replaying stolen refresh tokens, revocations, resource calls and (optionally) server
//! crashes; every family's history is then checked against the declared policy.
//!
//! - [`history`]: what was sent and answered, per family, with times.
//! - [`check`]: the linear-time checker (no false alarm: unknown outcomes and overlapping
//!   requests are accepted both ways); a violation names a check of the shared catalogue
//!   (`crate::checks`), and the facts it reasons from are gathered in one pass (`facts`).
//! - [`driver`]: the concurrent clients, the attacker, the crash controller.
//! - [`report`]: figures and violations, with minimal timelines and mermaid diagrams.
//! - [`sim`]: histories of a correct server made by the model, for the checker's tests and
//!   its benchmark.
//!
//! Clauses: RFC 6749 §5.2, §6; RFC 7009 §2.1; RFC 7662 §2.2; RFC 9700 §4.14.2.

pub mod check;
pub mod driver;
mod facts;
pub mod history;
pub mod report;
pub mod sim;

use std::collections::BTreeSet;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use tokenlife_model::Policy;

pub use check::{check, Clock, Violation};
pub use driver::{Driven, Fleet, Options, Plan, Restart};
pub use history::History;
pub use report::{Header, LoadReport};

use crate::discovery;
use crate::http::{Http, HttpConfig};
use crate::target::Target;

/// Why a load could not run. Exit codes: [`LoadError::is_unreachable`] → 4, else 3.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    /// The HTTP adapter or a target is unusable.
    #[error("{0}")]
    Setup(String),
    /// A target could not be reached.
    #[error("{0}")]
    Unreachable(String),
}

impl LoadError {
    /// Whether the target could not be reached (exit code 4).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, LoadError::Unreachable(_))
    }
}

/// What the checker found in a set of histories.
#[derive(Debug, Default)]
pub struct Checked {
    /// Every violation, with the index of its history.
    pub violations: Vec<(usize, Violation)>,
    /// Requests checked.
    pub operations: usize,
    /// Seconds the checker took.
    pub seconds: f64,
}

/// Checks every history against `policy`.
pub fn check_all(policy: &Policy, clock: Clock, histories: &[History]) -> Checked {
    let started = Instant::now();
    let mut out = Checked::default();
    for (i, h) in histories.iter().enumerate() {
        out.operations += h.ops.len();
        out.violations
            .extend(check(policy, clock, h).into_iter().map(|v| (i, v)));
    }
    out.seconds = started.elapsed().as_secs_f64();
    out
}

/// Loads `instances` (one target per server instance, sharing one store; the first one's
/// clients, authorization and policy are used), checks every family and reports.
pub async fn run(
    instances: &[Target],
    options: &Options,
    header: Header,
    fleet: Option<Arc<dyn Fleet>>,
    stop: Arc<AtomicBool>,
) -> Result<LoadReport, LoadError> {
    let Some(first) = instances.first() else {
        return Err(LoadError::Setup("no target".into()));
    };
    if let Some(c) = first.clients.iter().find(|c| c.dpop) {
        // The load driver sends bearer requests only: against a DPoP client every request
        // would be refused, and the check would judge the refusals.
        return Err(LoadError::Setup(format!(
            "client `{}` holds a DPoP key (dpop = true): `load` does not sign DPoP proofs; \
             use `run` for DPoP targets",
            c.id
        )));
    }
    let http = Http::new(HttpConfig {
        timeout: options.timeout,
        ca_file: first.ca_file.clone(),
        max_rps: first.max_rps,
        ..HttpConfig::default()
    })
    .map_err(|e| LoadError::Setup(e.to_string()))?;
    let mut endpoints = Vec::new();
    for t in instances {
        let ep = discovery::discover(&http, t).await.map_err(|e| match &e {
            discovery::DiscoveryError::Http(h) if h.is_unreachable() => {
                LoadError::Unreachable(e.to_string())
            }
            _ => LoadError::Setup(e.to_string()),
        })?;
        endpoints.push(ep);
    }
    let clock = match first.clock {
        crate::target::ClockConfig::Endpoint { .. } => Clock::Frozen,
        // The server counts whole seconds: one more than the declared skew.
        crate::target::ClockConfig::Real { skew } => Clock::real(skew.get() + 1),
    };
    let plan = Plan {
        instances: endpoints,
        clients: first.clients.clone(),
        authorize: first.authorize.clone(),
        introspection: first.introspection.clone(),
        options: options.clone(),
    };
    let n_instances = plan.instances.len();
    let driven = driver::drive(plan, http, fleet, stop)
        .await
        .map_err(|e| match e {
            driver::DriveError::NoFamily(_) | driver::DriveError::Restart { .. } => {
                LoadError::Unreachable(e.to_string())
            }
        })?;
    let checked = check_all(&first.policy, clock, &driven.histories);
    Ok(report(header, &driven, &checked, n_instances))
}

/// The report of a load and its check.
pub fn report(header: Header, d: &Driven, c: &Checked, instances: usize) -> LoadReport {
    let mut lat = d.refresh_latencies_us.clone();
    lat.sort_unstable();
    let per_second = |n: f64| n / d.seconds.max(1e-9);
    let mut by_check = std::collections::BTreeMap::new();
    for (_, v) in &c.violations {
        *by_check.entry(v.check.id).or_insert(0) += 1;
    }
    let violating: BTreeSet<usize> = c.violations.iter().map(|(i, _)| *i).collect();
    LoadReport {
        tool: format!("tokenlife {}", env!("CARGO_PKG_VERSION")),
        header,
        seconds: d.seconds,
        requests: d.requests,
        requests_per_second: per_second(d.requests as f64),
        refreshes: d.refreshes,
        refreshes_ok: d.refreshes_ok,
        refreshes_per_second: per_second(d.refreshes_ok as f64),
        p50_ms: report::quantile_ms(&lat, 0.50),
        p99_ms: report::quantile_ms(&lat, 0.99),
        max_ms: report::quantile_ms(&lat, 1.0),
        unknown: d.unknown,
        not_sent: d.not_sent,
        setup_failures: d.setup_failures,
        setup_errors: d.setup_errors.clone(),
        families: d.histories.len(),
        operations_checked: c.operations,
        checker_seconds: c.seconds,
        histories_per_second: d.histories.len() as f64 / c.seconds.max(1e-9),
        operations_per_second: c.operations as f64 / c.seconds.max(1e-9),
        restarts: d.restarts.len(),
        max_restart_ms: d
            .restarts
            .iter()
            .map(|r| (r.back - r.killed) as f64 / 1000.0)
            .fold(0.0, f64::max),
        violations: c.violations.len(),
        violating_families: violating.len(),
        by_check,
        findings: report::findings(&d.histories, &c.violations, &d.restarts, instances),
        load_average: std::fs::read_to_string("/proc/loadavg")
            .ok()
            .and_then(|l| l.split_whitespace().next().and_then(|v| v.parse().ok())),
        load_generator_cores: None,
    }
}
