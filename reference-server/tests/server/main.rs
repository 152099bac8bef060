//! Integration tests of the reference server: every endpoint, every RFC error path, every
//! policy knob, every injectable defect, concurrency, durability across restarts, and
//! PostgreSQL (only when `TOKENLIFE_TEST_POSTGRES` names a database).
//!
//! Most tests drive the router in process with `tower::ServiceExt::oneshot` on an
//! in-memory SQLite store; the concurrency, restart and PostgreSQL tests run real servers
//! on `127.0.0.1:0`. Time moves only through `POST /test/clock`: no test sleeps to wait
//! for the server. The hostile-client tests (`hostile`) run real connection deadlines,
//! configured short, and bound every wait so that a server that never acts fails them.

// Test fixtures panic on anything unexpected, by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

mod authorize;
mod concurrency;
mod defects;
mod discovery;
mod dpop;
mod dpop_defects;
mod durability;
mod hostile;
mod introspect;
mod policy;
mod postgres;
mod resource;
mod revoke;
mod token;
