//! The `tokenlife` binary.
fn main() {}
