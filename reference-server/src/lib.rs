//! tokenlife-server: a real, small OAuth 2.0 authorization server and protected resource,
//! the reference target of the tokenlife suite, with injectable defects.
//!
//! It implements every knob of [`tokenlife_model::Policy`] on its own (it uses the model's
//! `Policy` and `ErrorCode` only, never its transition logic), over HTTP:
//! RFC 8414 discovery, RFC 6749 §4.1 authorization code + RFC 7636 PKCE, RFC 6749 §6
//! refresh with RFC 9700 §4.14.2 rotation and reuse detection, RFC 7009 revocation,
//! RFC 7662 introspection and an RFC 6750 protected resource. Tokens are opaque, stored as
//! SHA-256 digests in SQLite or PostgreSQL; rotation is a compare-and-set in one transaction.
//!
//! - [`config`]: clients, users, policy; the config file.
//! - [`server`]: [`start`] a server, [`RunningServer::shutdown`] it.
//! - [`conn`]: the accept loop: connection deadlines, the connection cap, half-close.
//! - [`bind`]: where a server may listen (loopback, or elsewhere only when asked).
//! - [`embedded`]: the server in process on a temporary SQLite file with the test clock,
//!   restartable: the suite's own target.
//! - [`http`]: [`app`], the router (for `tower::ServiceExt::oneshot` in tests).
//! - [`decide`]: the token lifecycle's decisions, pure functions of rows, request and time.
//! - [`flow`]: the token lifecycle's I/O: read, decide, write.
//! - [`store`]: the database and its compare-and-sets.
//! - [`defects`]: the injectable real-world bugs.
//! - [`dpop`]: DPoP proofs (RFC 9449 §4.3), key thumbprints, the `jti` cache and the server
//!   nonces, for sender-constrained tokens (wired in [`http`], bound in [`decide`]).
//! - [`cli`]: `tokenlife serve`.

pub mod bind;
pub mod cli;
pub mod client_auth;
pub mod clock;
pub mod config;
pub mod conn;
pub mod decide;
pub mod defects;
pub mod dpop;
pub mod embedded;
pub mod error;
pub mod flow;
pub mod form;
pub mod http;
pub mod scope;
pub mod secret;
pub mod server;
pub mod state;
pub mod store;

pub use clock::{Clock, SystemClock, TestClock};
pub use config::{AuthMethod, Client, ServerConfig};
pub use conn::Limits;
pub use defects::{Defect, Defects};
pub use embedded::{Embedded, EmbeddedError};
pub use error::AppError;
pub use http::app;
pub use secret::Secret;
pub use server::{start, RunningServer, ServerError};
pub use state::AppState;
