//! tokenlife-model: the OAuth 2.0 refresh-token lifecycle as a formal model.
//!
//! - [`policy`]: what a conformant server may choose (rotation, reuse detection, grace
//!   windows, lifetimes, scope rules), TOML-loadable, with the built-in profiles.
//! - [`config`]: the configuration vocabulary the server's config file and the harness's
//!   target file share: clients, their authentication, redacted secrets.
//! - [`action`]: who acts, what they do, what a client observes of the answer.
//! - [`dpop`]: DPoP vocabulary the harness and the server share (key thumbprint, `ath`).
//! - [`rule`]: the closed list of rules the spec applies, each with its clause, and the
//!   cascades a rule sets off.
//! - [`spec`]: the abstract server, a pure function (state, action) → allowed
//!   (outcome, next state) pairs. The harness uses it as its oracle.
//! - [`observe`]: what a client learns from each response and the judgement of it.
//! - [`model`]: the stateright model over the spec, its bounds and its properties.
//! - [`explore`]: our own BFS for shortest counterexamples and witnesses.
//! - [`check`]: one call that checks a policy and reports every property.
//! - [`infer`]: distinguishing experiments between policies and the loop that learns a
//!   server's policy from its answers.
//!
//! No I/O, no async. Clauses: RFC 6749 §4.1.2, §5.2, §6, §10.4; RFC 6750 §3.1;
//! RFC 7009 §2; RFC 7662 §2.2; RFC 9700 §2.2.2, §4.14.2; OIDC Core §11.

pub mod action;
pub mod check;
pub mod config;
pub mod dpop;
pub mod error_code;
pub mod explore;
pub mod infer;
pub mod model;
pub mod observe;
pub mod policy;
pub mod rule;
pub mod spec;
pub mod state;

pub use config::{AuthMethod, Secret};
pub use error_code::ErrorCode;
pub use model::{Bounds, LifecycleModel, PROPERTIES};
pub use policy::{ClientType, Policy, PolicyError, PolicyTable};
pub use rule::Rule;
pub use spec::{Action, Actor, Outcome, Spec};
pub use state::State;
