//! `tokenlife load`: many token families at once under concurrent clients, an attacker
//! replaying stolen refresh tokens, revocations, resource calls and (optionally) server
//! crashes; every family's history is then checked against the declared policy.
//!
//! - [`history`]: what was sent and answered, per family, with times.
//! - [`check`]: the linear-time checker (no false alarm: unknown outcomes and overlapping
//!   requests are accepted both ways).
//! - [`sim`]: histories of a correct server made by the model, for the checker's tests and
//!   its benchmark.
//!
//! Clauses: RFC 6749 §5.2, §6; RFC 7009 §2.1; RFC 7662 §2.2; RFC 9700 §4.14.2.

pub mod check;
pub mod history;
pub mod sim;
