//! tokenlife-harness: the conformance runner. It drives a live OAuth 2.0 server over HTTP
//! and judges every response with the model (`tokenlife_model::Spec`) as its oracle.
//!
//! - [`target`]: the target file (server, clients, authorize mode, clock, policy).
//! - [`discovery`]: RFC 8414 / OpenID Connect discovery of the endpoints.
//! - [`http`]: the HTTP adapter (timeouts, capped bodies, no redirects, rate limit, 429).
//! - [`guard`]: what stops a run that cannot finish (`--max-time`, signals, the circuit
//!   breaker), so it still ends with a report.
//! - [`authorize`]: authorization codes with PKCE S256, modes `redirect` and `command`.
//! - [`request`]: one builder per OAuth request (code exchange, refresh, revocation,
//!   introspection, resource call), for the runner, the probes and the load driver.
//! - [`wire`]: reading token, revocation, introspection and resource responses.
//! - [`linearize`]: concurrent requests judged with stateright's linearizability tester.
//! - [`oracle`]: the set of model states consistent with the responses; divergences.
//! - [`classify`]: the one table from the spec's rule to the check an action exercises.
//! - [`checks`]: the check catalogue (stable ids, clause tags, levels).
//! - [`scenario`]: scenario files; [`builtin`]: the shipped ones; [`counterexample`]: a
//!   model checker's counterexample as a scenario file, and where a replay left it.
//! - [`generate`]: exhaustive sequences from the model, to a depth.
//! - [`search`]: the aimed search: walks planned on the model for new (state, action)
//!   pairs and situations, within a budget of requests.
//! - [`session`]: the runner; [`report`]: what a run found; [`export`]: report files
//!   (JSON, JUnit, Markdown + mermaid) and expected divergences.
//! - [`probes`]: single requests an RFC fixes whatever the policy (client authentication).
//! - [`progress`]: phase-by-phase progress for a display.
//! - [`secret`]: tokens and secrets that never reach a log or a report.
//!
//! Clauses: RFC 6749 §3.3, §4.1, §5.1, §5.2, §6, §10.4; RFC 6750 §3.1; RFC 7009 §2;
//! RFC 7636 §4; RFC 7662 §2.2; RFC 8414 §3; RFC 9700 §4.14.2; OIDC Core §11.

pub mod authorize;
pub mod builtin;
pub mod checks;
pub mod classify;
pub mod counterexample;
pub mod deadline;
pub mod discovery;
pub mod dpop;
pub mod export;
pub mod generate;
pub mod guard;
pub mod http;
pub mod linearize;
pub mod load;
pub mod oracle;
pub mod pins;
pub mod probes;
pub mod progress;
pub mod random;
pub mod report;
pub mod request;
pub mod scenario;
pub mod search;
pub mod secret;
pub mod session;
pub mod target;
pub mod wire;

pub use checks::{Check, Level, Verdict};
pub use report::Report;
pub use scenario::{Scenario, ScenarioError, ScenarioSet};
pub use secret::Secret;
pub use session::{run, Control, Harness, RunOptions};
pub use target::{Target, TargetError};
