//! Integration tests of the lifecycle model: policy files as data, the profiles' state
//! spaces and verdicts, the characteristic matrix, and deliberate spec bugs that the
//! properties must catch.

#![allow(clippy::unwrap_used)] // tests panic on purpose with the value in view

mod matrix;
mod mutations;
mod policy_files;
mod profiles;
