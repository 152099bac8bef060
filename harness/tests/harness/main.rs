//! The harness's integration tests: one binary, one module per concern.
#![allow(clippy::unwrap_used)]

mod adapter;
mod common;
mod deep;
mod defects;
mod dpop;
mod files;
mod hostile;
mod infer;
mod knobs;
mod misbehaving;
mod oidc;
mod proxy;
mod reference;
mod registration;
mod shrinking;
mod tls;
mod transcripts;
mod unanswered;
