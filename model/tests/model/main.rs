//! Integration tests of the lifecycle model.
mod scratch;
