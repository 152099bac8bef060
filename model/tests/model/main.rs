//! Integration tests of the lifecycle model: policy files as data, the profiles' state
//! spaces and verdicts, the characteristic matrix, and deliberate spec bugs that the
//! properties must catch.

mod matrix;
mod mutations;
mod policy_files;
mod profiles;
